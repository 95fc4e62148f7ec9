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
