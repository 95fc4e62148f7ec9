"""gd.to_dot and render: labels, G' and gradient colouring, deep graphs, picture files."""

import re
import shutil
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import graphdiff as gd
from graphdiff import viz


def small():
    """A tiny forward graph with one parameter the loss ignores."""
    g = gd.Graph()
    x = g.input("x", shape=(None, 3))
    W = g.parameter(np.ones((3, 2)), name="W")
    unused = g.parameter(np.ones(2), name="unused")
    z = gd.sum(gd.tanh(x @ W))
    return SimpleNamespace(g=g, x=x, W=W, unused=unused, z=z)


def roles(text):
    return re.findall(r'class="(\w+)"', text)


def test_labels_show_names_ops_and_shapes():
    s = small()
    text = gd.to_dot(s.g)
    assert text.startswith("digraph") and text.rstrip().endswith("}")
    assert "x [input]\\n(?, 3)" in text
    assert "W [parameter]\\n(3, 2)" in text
    assert text.count(" -> ") == 4  # x -> matmul <- W, matmul -> tanh -> sum
    assert "legend" not in text


def test_nodes_mean_their_ancestors_only():
    s = small()
    text = gd.to_dot(s.z)
    assert "W [parameter]" in text and "x [input]" in text
    assert "unused" not in text
    assert gd.to_dot([s.x]).count("label=") == 1


def test_grad_table_highlight():
    s = small()
    n_forward = len(s.g.nodes)
    table = gd.backprop(s.z, [s.W])
    text = gd.to_dot(s.g, highlight=table)
    r = roles(text)
    assert r.count("pruned") == table.pruned.number_of_nodes() == 4  # W, matmul, tanh, sum
    added = getattr(table, "added", None) or s.g.nodes[n_forward:]
    assert r.count("grad") == len(added) > 0
    assert r.count("forward") == len(s.g.nodes) - 4 - len(added) == 2  # x, unused
    assert r.count("legend") == 3
    for colour in ("lightskyblue", "orange"):
        assert colour in text
    assert "cluster_legend" in text
    # drawing only the loss still shows the gradient nodes
    assert roles(gd.to_dot(s.z, highlight=table)).count("grad") == len(added)


def test_prune_and_node_set_highlight():
    s = small()
    assert roles(gd.to_dot(s.z, highlight=gd.prune(s.z, [s.W]))).count("pruned") == 4
    assert roles(gd.to_dot(s.g, highlight=[s.x])).count("highlight") == 1


def test_quotes_are_escaped():
    g = gd.Graph()
    g.input('say "hi"\\', shape=(2,))
    text = gd.to_dot(g)
    scene = viz.read_dot(str(text))  # read back from the text alone
    assert scene.nodes[0].label.startswith('say "hi"\\ [input]')
    assert scene.nodes[0].label == text.scene.nodes[0].label


def test_deep_graph_does_not_recurse():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    y = x
    for _ in range(100_000):
        y = gd.tanh(y)
    limit = sys.getrecursionlimit()
    text = gd.to_dot(y)
    assert sys.getrecursionlimit() == limit
    assert text.count(" -> ") == 100_000


def is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    s = small()
    table = gd.backprop(s.z, [s.W])
    path = gd.render(gd.to_dot(s.g, highlight=table), tmp_path / "g.png", backend="matplotlib")
    assert is_png(path) and path.stat().st_size > 5000
    svg = gd.render(s.z, tmp_path / "sub" / "z.svg", backend="matplotlib")
    assert "<svg" in svg.read_text()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_graphviz(tmp_path):
    s = small()
    table = gd.backprop(s.z, [s.W])
    assert is_png(gd.render(s.g, tmp_path / "g.png", highlight=table, backend="dot"))


def test_render_errors(tmp_path, monkeypatch):
    g = small().g
    with pytest.raises(ValueError, match="png"):
        gd.render(g, tmp_path / "g.jpg")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(RuntimeError, match="matplotlib"):
        gd.render(g, tmp_path / "g.png")
    with pytest.raises(RuntimeError, match="dot"):
        gd.render(g, tmp_path / "g.png", backend="dot")


# ---------------------------------------------------------------- short labels

def dot_line(text, label_start):
    return next(line for line in text.splitlines() if f'[label="{label_start}' in line)


def test_short_labels_a_reader_recognises():
    g = gd.Graph()
    x = g.input("x", shape=(2, 3, 4))
    W = g.parameter(np.ones((3, 4)), name="W")
    nodes = [x[:, 0, :], gd.sum(x, axis=1), gd.transpose(W), gd.reshape(W, (4, 3)),
             gd.mean(x), x * 2.0]
    h = gd.tanh(W)
    h.name = "h"
    text = gd.to_dot(g)
    for want in ("x[:, 0, :]", "sum(axis=1)", "W.T", "reshape(4, 3)", "mean\\n", "x * 2",
                 "h = tanh"):
        assert f'label="{want}' in text, want
    # The full op is in the tooltip.
    assert "Index(key=(slice(None, None, None), 0, slice(None, None, None)))" in \
        dot_line(text, "x[:, 0, :]")
    assert "Sum(axes=(1,), keepdims=False)" in dot_line(text, "sum(axis=1)")
    assert "created at " in dot_line(text, "W.T")
    assert viz.node_label(nodes[0]) == "x[:, 0, :]\n(2, 4)"
    # unnamed operands are a dot, and infix ops name what they can
    V = g.parameter(np.ones((4, 2)), name="V")
    assert viz.node_label(gd.exp(W) @ V).startswith("\u00b7 @ V\n")
    assert viz.node_label(gd.exp(W) @ gd.exp(V)).startswith("@\n")


def test_short_label_defaults_for_custom_ops():
    class MyCube(gd.Op):
        __props__ = ("power", "note")

        def __init__(self):
            self.power, self.note = 3, None

        def forward(self, x):
            return x ** 3

    class Broken(gd.Op):
        def forward(self, x):
            return x

        def short_label(self, operands=()):
            raise ValueError("oops")

    g = gd.Graph()
    x = g.input("x", shape=(2,))
    assert viz.node_label(gd.op(MyCube())(x)).startswith("my_cube(power=3)\n")
    assert viz.node_label(gd.op(Broken())(x)).startswith("Broken\n")  # falls back to label()
    long = gd.einsum("ij,jk->ik", g.input("a", shape=(2, 2)), g.input("b", shape=(2, 2)))
    assert len(viz.node_label(long).splitlines()[0]) <= 30


# ---------------------------------------------------------------- the matplotlib drawing

def mlp_table():
    g = gd.Graph()
    x = g.input("x", shape=(None, 3))
    t = g.input("t", shape=(None, 1))
    net = gd.nn.MLP(g, [3, 4, 1], activation=gd.tanh, rng=np.random.default_rng(0))
    loss = gd.losses.mse(net(x), t)
    return g, gd.backprop(loss, net.params)


def rnn_table(steps=12):
    rng = np.random.default_rng(0)
    g = gd.Graph()
    x = g.input("x", shape=(steps, 2, 3))
    W = g.parameter(rng.normal(size=(3, 4)), name="W")
    U = g.parameter(rng.normal(size=(4, 4)), name="U")
    h = g.constant(np.zeros((2, 4)), name="h0")
    for step in range(steps):
        h = gd.tanh(x[step] @ W + h @ U)
        h.name = f"step{step}/h"
    return g, gd.backprop(gd.sum(h), [W, U])


def boxes_and_texts(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    boxes = {p.get_gid()[7:]: p.get_window_extent(renderer) for p in ax.patches
             if (p.get_gid() or "").startswith("gdnode-")}
    texts = {t.get_gid()[7:]: t.get_window_extent(renderer) for t in ax.texts
             if (t.get_gid() or "").startswith("gdtext-")}
    return boxes, texts, renderer


def assert_readable(fig):
    """No two node boxes intersect, each label lies inside its box, the legend is outside
    the axes: all in the rendered figure's pixel coordinates."""
    boxes, texts, renderer = boxes_and_texts(fig)
    assert boxes and set(boxes) == set(texts)
    ids = list(boxes)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            A, B = boxes[a], boxes[b]
            assert not (A.x0 < B.x1 and B.x0 < A.x1 and A.y0 < B.y1 and B.y0 < A.y1), (a, b)
    for k, t in texts.items():
        box = boxes[k]
        assert box.x0 - 1 <= t.x0 and t.x1 <= box.x1 + 1, k
        assert box.y0 - 1 <= t.y0 and t.y1 <= box.y1 + 1, k
    legends = fig.legends
    if legends:
        L = legends[0].get_window_extent(renderer)
        ax_box = fig.axes[0].get_window_extent(renderer)
        assert L.x0 >= ax_box.x1 - 0.5
        fig_box = fig.bbox
        assert L.x1 <= fig_box.x1 + 1 and L.y0 >= fig_box.y0 - 1
    return boxes


def test_drawing_has_no_overlaps_and_the_legend_outside():
    pytest.importorskip("matplotlib")
    g, table = mlp_table()
    fig = viz.draw(g, highlight=table)
    boxes = assert_readable(fig)
    assert len(boxes) == len(g.nodes)
    # a wide graph: many leaves feeding one sum
    g2 = gd.Graph()
    leaves = [g2.input(f"input_number_{k}", shape=(2,)) for k in range(25)]
    z = gd.sum(gd.stack([gd.tanh(v) for v in leaves]))
    assert_readable(viz.draw(z, highlight=gd.backprop(z, leaves[:3])))


def test_figures_grow_with_the_graph_and_are_capped():
    pytest.importorskip("matplotlib")

    def chain(n, width=1):
        g = gd.Graph()
        ys = [g.input(f"x{k}", shape=(2,)) for k in range(width)]
        for _ in range(n):
            ys = [gd.tanh(y) for y in ys]
        return ys

    small_w, small_h = viz.draw(chain(3)).get_size_inches()
    tall_w, tall_h = viz.draw(chain(30)).get_size_inches()
    wide_w, wide_h = viz.draw(chain(3, width=12)).get_size_inches()
    assert tall_h > 3 * small_h and wide_w > 3 * small_w
    draw_module = sys.modules["graphdiff.viz.draw"]
    fig = viz.draw(chain(1, width=80), max_nodes=None)
    w, h = fig.get_size_inches()
    assert draw_module.MAX_WIDTH_IN - 1 <= w <= draw_module.MAX_WIDTH_IN + 1  # scaled to the cap
    sizes = {t.get_fontsize() for t in fig.axes[0].texts}
    assert all(draw_module.FONT_SIZE * draw_module.MIN_SCALE <= s < draw_module.FONT_SIZE
               for s in sizes)
    assert_readable(fig)


def test_barycentre_ordering_removes_avoidable_crossings():
    g = gd.Graph()
    a, b = g.input("a", shape=(2,)), g.input("b", shape=(2,))
    fb = gd.exp(b)  # created first, but fed by the second input
    fa = gd.exp(a)
    za, zb = gd.sin(fa), gd.sin(fb)
    scene = viz.build_scene([za, zb])
    sizes = {n.id: (40.0, 20.0) for n in scene.nodes}
    lay = viz.layout(scene, sizes)
    ids = {n: f"n{i}" for i, n in enumerate(sorted([a, b, fa, fb, za, zb],
                                                      key=lambda n: n.index))}
    x = {n: lay.pos[ids[n]][0] for n in ids}
    assert (x[a] < x[b]) == (x[fa] < x[fb]) == (x[za] < x[zb])
    # leaves sit just above their consumer, and layers go down
    assert lay.pos[ids[a]][1] < lay.pos[ids[fa]][1] < lay.pos[ids[za]][1]


def test_layout_of_a_deep_graph_does_not_recurse():
    g = gd.Graph()
    y = g.input("x", shape=(2,))
    for _ in range(3000):
        y = gd.tanh(y)
    scene = viz.build_scene(y)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(150)
    try:
        lay = viz.layout(scene, {n.id: (30.0, 20.0) for n in scene.nodes}, sweeps=2)
    finally:
        sys.setrecursionlimit(limit)
    assert len(lay.pos) == 3001 and lay.height > 3000 * 20


# ---------------------------------------------------------------- groups and large graphs

def test_group_by_name_collapses_an_unrolled_rnn():
    g, table = rnn_table(12)
    text = gd.to_dot(g, highlight=table, group="name")
    scene = text.scene
    labels = [n.label for n in scene.nodes]
    assert len(scene.nodes) < 25 < len(g.nodes)
    assert any(lab.startswith("step1 \u2026 step10\n") and "\u00d710 repeated groups" in lab
               for lab in labels)
    assert any(lab.startswith("step0\n") for lab in labels)
    assert any(lab.startswith("step11\n") for lab in labels)
    assert any(lab.startswith("\u2207 step11\n") for lab in labels)  # gradient groups
    groups = [n for n in scene.nodes if n.kind == "group"]
    assert sum(n.members for n in groups) + len(scene.nodes) - len(groups) == len(g.nodes)
    assert "peripheries=2" in text and 'class="legendgroup"' in text
    # the layered drawing of the groups stays readable
    pytest.importorskip("matplotlib")
    assert_readable(viz.draw(text))
    # without repeats each step is its own box
    every = gd.to_dot(g, highlight=table, group="name").scene
    assert len(viz.build_scene(g, table, group="name", repeats=False).nodes) > len(every.nodes)


def test_group_by_function_and_dict():
    g, table = rnn_table(3)
    by_kind = viz.build_scene(g, group=lambda n: n.kind if n.op is None else None)
    leaves = [n for n in g.nodes if n.op is None]
    kinds = {"input", "parameter", "constant"}
    assert sum(n.members for n in by_kind.nodes
               if n.kind == "group" and n.label.split("\n")[0] in kinds) == len(leaves)
    # the sums of terms for W and U were built for parameters: they join "∇ parameter"
    assert any(n.label.startswith("\u2207 parameter\n2 nodes") for n in by_kind.nodes)
    some = {g.nodes[-1]: "last", g.nodes[-2]: "last"}
    scene = viz.build_scene(g, group=some)
    assert [n.members for n in scene.nodes if n.kind == "group"] == [2]
    with pytest.raises(TypeError, match="group="):
        viz.build_scene(g, group=3)


def long_chain(n=400):
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    W = g.parameter(np.ones(2), name="W")
    y = x * W
    for _ in range(n):
        y = gd.sin(y)
    z = gd.sum(y * W)
    return g, x, W, z, gd.backprop(z, [W])


def test_large_graphs_draw_g_prime_or_one_gradients_terms_and_say_so():
    g, x, W, z, table = long_chain()
    assert len(g.nodes) > 800
    # to_dot is text: everything, unless asked
    assert len(gd.to_dot(g, highlight=table).scene.nodes) == len(g.nodes)
    draw_module = sys.modules["graphdiff.viz.draw"]
    scene = draw_module.as_scene(g, table)  # what render and draw use by default
    assert len(scene.nodes) <= viz.DEFAULT_MAX_NODES
    assert "G' only" in scene.note and f"of {len(g.nodes)} nodes" in scene.note
    assert {n.role for n in scene.nodes} == {"pruned"}
    terms = draw_module.as_scene(g, table, terms_of=W)
    assert len(terms.nodes) < 20 and "terms of one gradient" in terms.note
    assert sum(1 for e in terms.edges if e.dashed) == 2
    full = draw_module.as_scene(g, table, max_nodes=None)
    assert len(full.nodes) == len(g.nodes) and full.note is None
    # the same limit applies to DOT text drawn later, and the note is in the text
    text = gd.to_dot(g, highlight=table, max_nodes=50)
    assert "labelloc=t" in text and len(viz.read_dot(str(text)).nodes) == 50
    assert viz.read_dot(str(gd.to_dot(g, highlight=table))).limited(100).note.startswith("100 of")
    pytest.importorskip("matplotlib")
    fig = viz.draw(g, highlight=table, max_nodes=60)
    assert any("G' only" in t.get_text() for t in fig.texts)


# ---------------------------------------------------------------- forward mode

def test_tangent_nodes_have_their_own_colour_and_legend():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    W = g.parameter(np.eye(3), name="W")
    y = gd.sum(gd.tanh(x @ W) * x)
    n_before = len(g.nodes)
    gd.jvp(y, x, np.array([1.0, 0.0, 0.0]))
    made = [n for n in g.nodes[n_before:] if n.made_by == "tangent"]
    text = gd.to_dot(g)  # no highlight: nodes say who made them
    assert roles(text).count("tangent") == len(made) > 0
    assert "tangent nodes added by jvp (forward mode)" in text
    line = next(ln for ln in text.splitlines() if "tangent of Tanh node" in ln)
    assert f'color="{viz.scene.TANGENT_BORDER}"' in line and 'tooltip="in the tangent of' in line
    n_mid = len(g.nodes)
    table = gd.forward.tangent_table(y, x, np.ones(3))
    text = gd.to_dot(g, highlight=table)
    assert roles(text).count("tangent") == len(made) + len(table.added)
    assert len(g.nodes) == n_mid + len(table.added)  # drawing adds nothing
    # forward-over-reverse: gradient and tangent nodes side by side
    hv = gd.hessian_vector_product(gd.sum(gd.tanh(x @ W)), W, np.ones((3, 3)))
    both = roles(gd.to_dot(hv))
    assert "grad" in both and "tangent" in both
    pytest.importorskip("matplotlib")
    assert_readable(viz.draw(g, highlight=table))


# ---------------------------------------------------------------- files and notebooks

def test_svg_boxes_carry_the_full_op_as_a_tooltip(tmp_path):
    pytest.importorskip("matplotlib")
    g = gd.Graph()
    x = g.input("x", shape=(2, 3, 4))
    gd.sum(x[:, 0, :], axis=1)
    svg = gd.render(g, tmp_path / "g.svg", backend="matplotlib").read_text()
    assert svg.count("<title>") >= 2 * 3
    assert "<title>#1 = Index(key=(slice(None, None, None), 0, slice(None, None, None)))" in svg


def test_render_falls_back_when_graphviz_hangs(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import subprocess

    draw_module = sys.modules["graphdiff.viz.draw"]

    def hang(*args, **kwargs):
        raise subprocess.TimeoutExpired(args[0], 60)

    monkeypatch.setattr(draw_module.shutil, "which", lambda name: "/usr/bin/dot")
    monkeypatch.setattr(draw_module.subprocess, "run", hang)
    s = small()
    with pytest.warns(RuntimeWarning, match="matplotlib instead"):
        path = gd.render(s.g, tmp_path / "g.png")
    assert is_png(path)
    with pytest.raises(RuntimeError, match="dot failed"):
        gd.render(s.g, tmp_path / "h.png", backend="dot")


def test_jupyter_reprs(monkeypatch):
    pytest.importorskip("matplotlib")
    s = small()
    table = gd.backprop(s.z, [s.W])
    n = len(s.g.nodes)
    graph_html = s.g._repr_html_()
    assert "<svg" in graph_html and "<title>" in graph_html
    assert "<svg" in s.z._repr_html_()
    table_html = table._repr_html_()
    assert "<table" in table_html and "'W'" in table_html and "terms summed" in table_html
    assert "MatMul" in table_html
    assert len(s.g.nodes) == n  # showing adds no nodes
    # never failing: without matplotlib the text shows, and why
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    fallback = s.g._repr_html_()
    assert fallback.startswith("<pre>") and "no picture" in fallback
    assert s.z._repr_html_().startswith("<pre>")
    assert "<table" in table._repr_html_()  # the table needs no matplotlib


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_graphviz_groups_and_tangents(tmp_path):
    g, table = rnn_table(6)
    assert is_png(gd.render(g, tmp_path / "rnn.png", highlight=table, group="name",
                            backend="dot"))
    svg = gd.render(g, tmp_path / "rnn.svg", highlight=table, group="name", backend="dot")
    assert "step1 \u2026 step4" in svg.read_text()
