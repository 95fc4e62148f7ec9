"""Explaining gradients: terms of each sum, why a target got zero, provenance of gradient
nodes, the earliest NaN, NaN-hazard lint, cost and size reports, CSE, and the pictures.

Every graph here is small enough that the right answer is known by hand.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ops import elementwise as E

ROOT = Path(__file__).resolve().parents[1]
THIS = Path(__file__).name


def names_forward(message, node, formula, marker):
    """``message`` says "in the gradient of #i = formula, created at <this file>:<line>"."""
    pattern = (rf"in the gradient of #{node.index} = {re.escape(formula)}, created at "
               rf"\S*{re.escape(THIS)}:{line_of(marker)}\)")
    return re.search(pattern, message) is not None


def line_of(text):
    """The line number in this file of the first line containing ``text``."""
    for k, line in enumerate(Path(__file__).read_text().splitlines(), 1):
        if text in line:
            return k
    raise AssertionError(text)


# ---------------------------------------------------------------- terms of each sum
def test_terms_of_a_weight_shared_by_two_consumers():
    g = gd.Graph()
    x = g.input("x", shape=(4, 3))
    W = g.parameter(np.linspace(-1, 1, 9).reshape(3, 3), name="W")
    a1 = x @ W
    a2 = gd.tanh(a1) @ W
    z = gd.sum(a2)
    table = gd.backprop(z, [W])
    terms = table.terms(W)
    assert [(c, p) for c, p, _ in terms] == [(a1, (1,)), (a2, (1,))]
    # Each term is built by its consumer's bprop and has W's shape; the gradient is their sum.
    for c, _, term in terms:
        assert term.grad_of is c and term.shape == (3, 3)
    dW = table[W]
    assert isinstance(dW.op, E.AddN) and list(dW.inputs) == [t for _, _, t in terms]
    X = np.arange(12.0).reshape(4, 3) / 10
    t1, t2, total = g.run([terms[0][2], terms[1][2], dW], feed={x: X})
    np.testing.assert_allclose(t1 + t2, total)
    h = np.tanh(X @ W.value)
    np.testing.assert_allclose(t2, h.T @ np.ones((4, 3)))  # d sum(h @ W) / dW at fixed h
    # A node with one consumer has one term; z itself (the seed) has none.
    assert len(table.terms(a1)) == 1 and table.terms(z) == []


def test_terms_of_x_times_x_is_one_consumer_at_both_positions():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    y = x * x
    table = gd.backprop(gd.sum(y), [x])
    ((consumer, positions, term),) = table.terms(x)
    assert consumer is y and positions == (0, 1)
    assert table[x] is term  # one term: no sum node
    np.testing.assert_allclose(g.run(term, feed={x: np.array([1.0, -2.0, 3.0])}),
                               [2.0, -4.0, 6.0])


# ---------------------------------------------------------------- why zero
def test_why_stop_gradient_cut_names_the_cut():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    cut = gd.stop_gradient(x)  # LINE-stop
    z = gd.sum(cut * 2.0)
    table = gd.backprop(z, [x])
    text = table.why(x)
    assert text.startswith("'x' gets zero gradient: every path to z is cut")
    assert "StopGradient('x')" in text and "(stop_gradient)" in text
    assert f"{THIS}:{line_of('LINE-stop')}" in text
    np.testing.assert_array_equal(g.run(table[x], feed={x: np.ones(2)}), [0.0, 0.0])


def test_why_integer_path():
    g = gd.Graph()
    k = g.input("k", shape=(3,), dtype="int64")
    a = g.input("a", shape=(3,))
    doubled = k * 2  # int64 * int: stays integer
    z = gd.sum(doubled * a)
    table = gd.backprop(z, [k, a])
    text = table.why(k)
    assert text.startswith("'k' gets zero gradient: every path to z is cut")
    assert "integer-valued (int64)" in text
    assert table.why(a).startswith("'a' has a gradient path to")
    # An integer input consumed directly by a float op (exp casts it) is cut there.
    g2 = gd.Graph()
    n = g2.input("n", shape=(2,), dtype="int32")
    t2 = gd.backprop(gd.sum(gd.exp(n)), [n])
    assert "Exp('n')" in t2.why(n) and "integer-valued (int32)" in t2.why(n)


def test_why_non_ancestor_and_connected_target():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    u = g.input("u", shape=(2,))
    y = x * x
    z = gd.sum(y + x)
    table = gd.backprop(z, [x, u])
    assert u not in table
    assert table.why(u) == ("'u' gets zero gradient: it is not an ancestor of "
                            f"Sum(axes=None, keepdims=False) node #{z.index}, so no path "
                            "connects them")
    assert table.why(x) == ("'x' has a gradient path to Sum(axes=None, keepdims=False) "
                            f"node #{z.index} (2 terms summed)")


def test_unconnected_raise_message_says_why():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    u = g.input("u", shape=(2,))
    z = gd.sum(gd.exp(x))  # LINE-unconnected-z
    with pytest.raises(gd.GradError) as info:
        gd.grad(z, [x, u], unconnected="raise")
    message = str(info.value)
    assert "does not depend on target 'u'" in message
    assert "it is not an ancestor of" in message
    assert f"{THIS}:{line_of('LINE-unconnected-z')}" in message
    # A target inside G' always gets a node, even where every path is cut.
    cut = gd.grad(gd.sum(gd.stop_gradient(u)), u, unconnected="raise")
    np.testing.assert_array_equal(g.run(cut, feed={u: np.ones(2)}), [0.0, 0.0])


# ---------------------------------------------------------------- provenance
def mlp_loss(batch=None):
    g = gd.Graph()
    x = g.input("x", shape=(batch, 784))
    y = g.input("y", shape=(batch,), dtype="int64")
    net = gd.nn.MLP(g, [784, 512, 512, 10], rng=np.random.default_rng(0))
    loss = gd.losses.softmax_cross_entropy(net(x), y)
    return g, x, y, net, loss


def test_every_added_node_records_its_forward_node():
    g = gd.Graph()
    x = g.input("x", shape=(4, 3))
    W = g.parameter(np.ones((3, 3)), name="W")
    h = gd.tanh(x @ W)
    z = gd.sum(gd.where(h > 0.0, gd.log(gd.sigmoid(h @ W)), gd.sqrt(gd.square(h) + 1.0)))
    forward = set(g.nodes)
    table = gd.backprop(z, [W, x])
    assert table.added, "backprop added no nodes"
    seed = table[z]
    # Constants are leaves shared by forward and gradient code (one node per scalar):
    # provenance belongs to the op nodes back-propagation built.
    ops = [n for n in table.added if n.kind == "op"]
    missing = [n for n in ops if n.grad_of is None]
    assert ops and not missing, missing
    for n in ops:
        if n is not seed:
            # Provenance names a forward node of G' (the consumer whose bprop built it, or
            # the variable whose terms were summed).
            assert n.grad_of in forward and n.grad_of in table, n


def test_forward_scalar_built_after_a_gradient_has_no_provenance():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    gd.grad(gd.sum(gd.tanh(x)), x)  # Tanh's bprop builds 1 - tanh(x)**2
    y = 1 - x
    assert y.inputs[0].grad_of is None


def test_second_order_provenance_points_into_the_first_order_gradient():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    dx = gd.grad(gd.sum(gd.sin(x) * x), x)
    z2 = gd.sum(dx)
    first = set(g.nodes)
    table = gd.backprop(z2, [x])
    for n in table.added[1:]:
        assert n.grad_of in first


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NaN on purpose
def test_anomaly_in_a_gradient_node_names_the_forward_node():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    r = gd.sqrt(x)  # LINE-sqrt
    dx = gd.grad(gd.sum(r), x)
    with gd.detect_anomaly(), pytest.raises(gd.AnomalyError) as info:
        g.run(dx, feed={x: np.array([0.0, 1.0, 4.0])})
    message = str(info.value)
    assert message.startswith("non-finite value produced by")
    assert names_forward(message, r, "Sqrt('x')", "LINE-sqrt"), message
    assert "1 non-finite" not in message.split(";")[0]  # the inputs are finite, the output not
    # The same run without anomaly mode gives inf silently.
    assert np.isinf(g.run(dx, feed={x: np.array([0.0, 1.0, 4.0])})[0])


def test_error_in_a_gradient_node_is_located_in_the_forward_graph():
    """A failing kernel inside a gradient node names the user's forward node."""

    class Fragile(gd.Op):
        def forward(self, g):
            raise FloatingPointError("kernel failed")

        def bprop(self, inputs, wrt, output, grad):
            raise NotImplementedError

    class Twice(gd.Op):
        def forward(self, x):
            return 2.0 * x

        def bprop(self, inputs, wrt, output, grad):
            return gd.op(Fragile())(grad)

    g = gd.Graph()
    x = g.input("x", shape=(2,))
    t = gd.op(Twice())(x)  # LINE-twice
    dx = gd.grad(gd.sum(t), x)
    with pytest.raises(gd.GraphdiffError) as info:
        g.run(dx, feed={x: np.ones(2)})
    message = str(info.value)
    assert "Fragile" in message
    assert names_forward(message, t, "Twice('x')", "LINE-twice"), message


def test_anomaly_names_the_earliest_non_finite_node_in_execution_order():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    late = gd.exp(x * 1000.0)  # inf at x = 1, built first ...
    early = gd.log(x)  # NaN at x = -1
    both = gd.sum(gd.exp(early * 1000.0)) + gd.sum(late)
    order = g.function([x], both).plan.nodes
    # Whatever the schedule, the report names whichever non-finite node ran first.
    X = np.array([-1.0, 1.0, 0.5])
    bad = {id(early), id(late)} | {id(n) for n in order if n.index > early.index}
    first = next(n for n in order if id(n) in bad and n.op is not None)
    with gd.detect_anomaly(), pytest.raises(gd.AnomalyError) as info:
        g.run(both, feed={x: X})
    assert f"produced by {first.op.label()} at {first.op.label()} node #{first.index} " \
        in str(info.value)
    # A chain: log of a negative is the origin, not the exp/sum after it.
    g2 = gd.Graph()
    v = g2.input("v", shape=(2,))
    origin = gd.log(v)
    out = gd.sum(gd.exp(origin * 2.0))
    with gd.detect_anomaly(), pytest.raises(gd.AnomalyError,
                                            match=f"Log at Log node #{origin.index} "):
        g2.run(out, feed={v: np.array([-1.0, 1.0])})


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NaN on purpose
def test_anomaly_off_outside_the_block():
    g = gd.Graph()
    x = g.input("x", shape=(1,))
    with gd.detect_anomaly():
        pass
    assert np.isnan(g.run(gd.log(x), feed={x: np.array([-1.0])})[0])


# ---------------------------------------------------------------- lint
def hazards():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    c = x > 0.0
    return g, x, c


@pytest.mark.parametrize("kind, build", [
    ("log", lambda x, c: gd.where(c, gd.log(x), 0.0)),
    ("sqrt", lambda x, c: gd.where(c, gd.sqrt(x), 0.0)),
    ("divide", lambda x, c: gd.where(c, 1.0 / x, 0.0)),
    ("divide", lambda x, c: gd.where(c, 0.0, x / (x - 1.0))),  # the other branch
    ("power with a fractional exponent", lambda x, c: gd.where(c, x ** 0.5, 0.0)),
    ("power with a fractional exponent", lambda x, c: gd.where(c, x ** -1.0, 0.0)),
])
def test_lint_where_hazards(kind, build):
    g, x, c = hazards()
    node = build(x, c)
    findings = gd.lint(node)
    assert len(findings) == 1
    (f,) = findings
    assert f.node is node and isinstance(node.op, E.Where)
    assert f"where() selects from a {kind} branch" in f.problem
    assert "mask the input first" in f.suggestion
    assert str(f).startswith(f"#{node.index} = Where(") and f"{THIS}:" in str(f)
    # Linting the whole graph finds the same, and the where's gradient really is NaN.
    assert [h.node for h in gd.lint(g)] == [node]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NaN on purpose
def test_where_log_hazard_really_makes_nan():
    g, x, c = hazards()
    dx = gd.grad(gd.sum(gd.where(c, gd.log(x), 0.0)), x)
    assert np.isnan(g.run(dx, feed={x: np.array([-1.0, 2.0, 0.0])})).any()


def test_lint_log_softmax_by_hand():
    g, x, _ = hazards()
    node = gd.log(gd.softmax(x))
    (f,) = gd.lint(node)
    assert f.node is node and "log(softmax(...))" in f.problem
    assert "log_softmax" in f.suggestion


@pytest.mark.parametrize("square", [lambda x: x ** 2, lambda x: x * x, gd.square])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NaN on purpose
def test_lint_norm_at_zero(square):
    g, x, _ = hazards()
    node = gd.sqrt(gd.sum(square(x)))
    (f,) = gd.lint(node)
    assert f.node is node and "sqrt(sum(x**2))" in f.problem and "eps" in f.suggestion
    dx = gd.grad(node, x)
    assert np.isnan(g.run(dx, feed={x: np.zeros(3)})).all()


@pytest.mark.parametrize("build", [
    lambda x, c: gd.log_softmax(x),
    lambda x, c: gd.where(c, x ** 2, 0.0),
    lambda x, c: gd.where(c, gd.exp(x), gd.tanh(x)),
    lambda x, c: gd.sqrt(gd.sum(x ** 2) + 1e-12),
    lambda x, c: gd.log(gd.sum(gd.exp(x))),
])
def test_lint_quiet_on_safe_graphs(build):
    g, x, c = hazards()
    assert gd.lint(build(x, c)) == []


def test_lint_quiet_on_masked_where():
    g, x, c = hazards()
    safe = gd.where(c, gd.log(gd.where(c, x, 1.0)), 0.0)
    dx = gd.grad(gd.sum(safe), x)
    assert not np.isnan(g.run(dx, feed={x: np.array([-1.0, 2.0, 0.0])})).any()
    assert gd.lint(safe) == []


@pytest.mark.parametrize("build", [
    lambda x: gd.std(x), lambda x: gd.prod(x), lambda x: gd.cumprod(x, axis=1),
    lambda x: gd.var(x, axis=0), lambda x: gd.linalg.norm(x),
])
def test_lint_quiet_on_the_stable_gradients_of_reductions(build):
    # std, prod and cumprod mask their own divides (by a guarded sqrt, a nonzero constant,
    # or a denominator where(x == 0, 1, x)); lint must not send users after them, and the
    # gradient is finite at the zeros those masks exist for.
    g = gd.Graph()
    x = g.input("x", shape=(3, 4))
    dx = gd.grad(gd.sum(build(x)), x)
    assert gd.lint(dx) == []
    assert np.isfinite(g.run(dx, feed={x: np.zeros((3, 4))})).all()


@pytest.mark.parametrize("build", [
    lambda x, c: gd.where(c, 1.0 / gd.sqrt(x), 0.0),             # hazard one step deeper
    lambda x, c: gd.where(c, 1.0 / gd.where(x < 0.0, x, 1.0), 0.0),  # masked on another cond
    lambda x, c: gd.where(c, 1.0 / gd.where(gd.equal(x, 1.0), 1.0, x), 0.0),  # not x == 0
])
def test_lint_still_flags_divides_whose_mask_does_not_match(build):
    g, x, c = hazards()
    assert len(gd.lint(build(x, c))) == 1


# ---------------------------------------------------------------- cost
MLP_FORWARD_MATMUL = 2 * 128 * (784 * 512 + 512 * 512 + 512 * 10)


def test_cost_mlp_forward_matmul_flops_closed_form():
    g, x, y, net, loss = mlp_loss()
    grads = gd.grad(loss, net.params)
    report = gd.cost([loss] + grads, feed_shapes={x: (128, 784), y: (128,)})
    assert report.flops("forward", "MatMul") == MLP_FORWARD_MATMUL == 171_180_032
    # Backward: dW1 = x.T @ d1 (784x512), dW2, dW3, and the two activations' gradients
    # (x itself needs none): twice the forward except the first layer's input gradient.
    assert report.flops("gradient", "MatMul") == 2 * 128 * (
        784 * 512 + 2 * 512 * 512 + 2 * 512 * 10)
    assert 1.0 < report.cheap_gradient_ratio < 3.0
    assert report.cheap_gradient_ratio == report.gradient_flops / report.forward_flops
    assert report.forward_flops + report.gradient_flops == report.flops()
    leaves = sum(int(np.prod(n.value.shape)) * 8 for n in net.params) + 128 * 784 * 8 + 128 * 8
    all_values = sum(r.bytes for r in report.rows) + leaves
    assert leaves < report.peak_bytes < all_values
    assert {r.part for r in report.rows} == {"forward", "gradient"}
    assert "ratio" in str(report) and "peak live memory" in str(report)


def test_cost_of_a_compiled_function_matches_and_static_shapes_need_no_feed_shapes():
    g, x, y, net, loss = mlp_loss(batch=128)
    grads = gd.grad(loss, net.params)
    a = gd.cost([loss] + grads)
    b = gd.cost(g.function([x, y], [loss] + grads, optimize=False))
    assert a.flops("forward", "MatMul") == b.flops("forward", "MatMul") == MLP_FORWARD_MATMUL
    assert a.gradient_flops == b.gradient_flops and a.peak_bytes == b.peak_bytes
    # The rewritten schedule does the same products and never more work.
    c = gd.cost(g.function([x, y], [loss] + grads))
    assert c.flops("forward", "MatMul") == MLP_FORWARD_MATMUL
    assert c.flops() <= a.flops() and c.gradient_flops <= a.gradient_flops
    # Forward alone: no gradient rows, a lower peak.
    fwd = gd.cost(loss)
    assert fwd.gradient_flops == 0 and fwd.forward_flops == a.forward_flops
    assert fwd.peak_bytes < a.peak_bytes


# ---------------------------------------------------------------- size report and CSE
def test_size_report_mlp():
    g, x, y, net, loss = mlp_loss()
    n_forward = len(g.nodes)
    report = gd.size_report(loss, net.params)
    assert set(report) == {"forward", "pruned", "gradient_added", "gradient_added_after_cse"}
    assert report["forward"] == n_forward  # every node built so far is an ancestor of loss
    # all but the inputs x and y and the labels' check (which depends on y alone)
    assert report["pruned"] == n_forward - 3
    assert 0 < report["gradient_added_after_cse"] <= report["gradient_added"]


def test_size_report_cse_collapses_equal_subexpressions():
    g = gd.Graph()
    x = g.input("x", shape=(3, 4))
    z = gd.sum(gd.tanh(x)) + gd.sum(gd.tanh(x))  # two equal tanh (and sum) nodes
    report = gd.size_report(z, x)
    assert report["forward"] == 6 and report["pruned"] == 6
    # Each tanh's gradient is built twice, once per copy; CSE merges the copies.
    assert report["gradient_added_after_cse"] < report["gradient_added"]


def test_cse_semantics():
    g = gd.Graph()
    x = g.input("x", shape=(3, 4))
    y = g.input("y", shape=(3, 4))
    a, b = gd.sum(x, axis=0), gd.sum(x, axis=0)       # equal params, same input
    c = gd.sum(x, axis=1)                              # other params
    d = gd.sum(y, axis=0)                              # other input
    e1, e2 = gd.exp(a), gd.exp(b)                      # equal once a and b are one
    _k1, k2 = g.constant(np.ones(3)), g.constant(np.ones(3))  # leaves stay apart

    class Noise(gd.Op):
        def forward(self, v):
            return v + np.random.standard_normal(np.shape(v))

        def bprop(self, inputs, wrt, output, grad):
            return grad

    noise = gd.op(Noise())
    n1, n2 = noise(x), noise(x)                        # same instance, same input: kept
    rep = gd.cse(g.nodes)
    assert set(rep) == set(g.nodes)
    assert rep[b] is a and rep[e2] is e1 and rep[a] is a
    assert rep[c] is c and rep[d] is d
    assert rep[k2] is k2 and rep[n2] is n2 and rep[n1] is n1
    assert rep[x] is x and rep[y] is y
    # Ops compare by their parameters, not by identity.
    assert gd.sum(x, axis=0).op == a.op and gd.sum(x, axis=0, keepdims=True).op != a.op


# ---------------------------------------------------------------- pictures
def roles(text):
    return re.findall(r'class="(\w+)"', text)


def shared_weight():
    g = gd.Graph()
    x = g.input("x", shape=(4, 3))
    W = g.parameter(np.ones((3, 3)), name="W")
    a1 = x @ W
    h = gd.tanh(a1)
    a2 = h @ W
    z = gd.sum(a2)
    return g, x, W, a1, h, a2, z


def node_lines(text):
    return {m.group(1): line for line in text.splitlines()
            if (m := re.match(r"\s*(n\d+) \[label=", line))}


def test_to_dot_colours_gradient_nodes_by_their_forward_op():
    g, x, W, a1, h, a2, z = shared_weight()
    table = gd.backprop(z, [W])
    n_before = len(g.nodes)
    text = gd.to_dot(g, highlight=table)
    assert len(g.nodes) == n_before  # drawing adds no nodes
    lines = node_lines(text)
    ids = {n: f"n{i}" for i, n in enumerate(g.nodes)}
    fill = {n: re.search(r'fillcolor="([^"]*)"', lines[ids[n]]).group(1) for n in g.nodes}
    tanh_grads = [n for n in table.added if n.grad_of is h]
    matmul_grads = [n for n in table.added if n.grad_of in (a1, a2)]
    assert tanh_grads and matmul_grads
    assert len({fill[n] for n in tanh_grads}) == 1 and len({fill[n] for n in matmul_grads}) == 1
    assert fill[tanh_grads[0]] != fill[matmul_grads[0]]
    assert fill[tanh_grads[0]] not in ("white", "lightskyblue")
    # Label and tooltip name the forward node and where the user built it.
    line = lines[ids[tanh_grads[0]]]
    assert f"bprop of Tanh node #{h.index}" in line
    assert f'tooltip="in the gradient of #{h.index} = Tanh(#{a1.index}), created at ' in line
    assert "sum of terms for 'W'" in lines[ids[table[W]]]
    legend = [line for line in text.splitlines() if 'class="legendop"' in line]
    assert any("gradient built by Tanh.bprop" in line for line in legend)
    assert any("gradient built by MatMul.bprop" in line for line in legend)
    assert any("sum of the terms (build_grad)" in line for line in legend)
    # Roles are unchanged: every added node is still class "grad".
    assert roles(text).count("grad") == len(table.added)


def test_to_dot_terms_of_a_shared_weight():
    g, x, W, a1, h, a2, z = shared_weight()
    table = gd.backprop(z, [W])
    text = gd.to_dot(z, highlight=table, terms_of=W)
    lines = node_lines(text)
    term_lines = [line for line in lines.values() if "of d/d'W'" in line]
    assert len(term_lines) == 2
    assert all('color="crimson"' in line for line in term_lines)
    edges = re.findall(r'(n\d+) -> (n\d+) \[style=dashed[^\]]*label="([^"]*)"', text)
    assert [lab for *_, lab in edges] == ["term 1: 'W' at input 1", "term 2: 'W' at input 1"]
    for src, dst, _ in edges:  # consumer (a MatMul, crimson) -> term
        # The label is short ("x @ W"); the tooltip names the full op.
        assert "= MatMul(" in lines[src] and 'color="crimson"' in lines[src]
        assert "of d/d'W'" in lines[dst]
    assert "legend_terms" in text


def test_to_dot_terms_of_x_times_x_has_both_positions():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    table = gd.backprop(gd.sum(x * x), [x])
    text = gd.to_dot(g, highlight=table, terms_of=x)
    assert 'label="term 1: \'x\' at inputs 0, 1"' in text
    with pytest.raises(ValueError, match="GradTable"):
        gd.to_dot(g, terms_of=x)


def test_render_with_terms_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    g, x, W, a1, h, a2, z = shared_weight()
    table = gd.backprop(z, [W])
    path = gd.render(gd.to_dot(g, highlight=table, terms_of=W), tmp_path / "t.png",
                     backend="matplotlib")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_to_dot_with_terms_does_not_recurse_on_deep_graphs():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    y = x
    for _ in range(3000):
        y = gd.sin(y)
    table = gd.backprop(gd.sum(y * x), [x])
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        text = gd.to_dot(g, highlight=table, terms_of=x)
    finally:
        sys.setrecursionlimit(limit)
    assert text.count("[style=dashed") == 2


# ---------------------------------------------------------------- the example
def test_example_explain_gradient(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "explain_gradient.py"),
                           "--out", str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "terms of dz/dW: 2" in out
    assert re.search(r"term 1: consumer .*MatMul.* at input 1", out)
    assert "'b' gets zero gradient: every path to z is cut" in out and "stop_gradient" in out
    assert "'k' gets zero gradient" in out and "integer-valued (int64)" in out
    assert "'unused' gets zero gradient: it is not an ancestor" in out
    assert "where() selects from a log branch" in out
    ratio = float(re.search(r"cheap-gradient ratio ([\d.]+)", out).group(1))
    assert 1.0 < ratio < 3.0
    before, after = map(int, re.search(r"gradient added (\d+) nodes, (\d+) after CSE",
                                       out).groups())
    assert after <= before
    assert "AnomalyError" in out and "in the gradient of" in out and "explain_gradient.py:" in out
    assert (tmp_path / "explain.dot").read_text().startswith("digraph")
    assert "style=dashed" in (tmp_path / "explain.dot").read_text()
