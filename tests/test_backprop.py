"""The engine: prune (G'), the grad_table, fan-in sums, unconnected targets, deep chains,
wide fan-out, lean gradient graphs, and the higher-order helpers against closed forms."""

from __future__ import annotations

import sys

import networkx as nx
import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ops import elementwise as E
from graphdiff.ops import nn as N
from graphdiff.ops import reduce as R
from graphdiff.ops import shape as S


def _by_definition(z, targets):
    """G' computed independently with networkx: ancestors of z that descend from a target."""
    G = z.graph.to_networkx()
    up = nx.ancestors(G, z) | {z}
    down = set()
    for t in targets:
        down |= nx.descendants(G, t) | {t}
    return up & down


# ---------------------------------------------------------------- prune
@pytest.fixture
def diamond():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    y = g.input("y", shape=(3,))
    W = g.parameter(np.full(3, 2.0), name="W")
    a = x * W
    b = gd.exp(y)
    c = a + b
    side = gd.sin(x)          # descends from x but does not reach z
    z = gd.sum(c)
    unused = g.input("unused", shape=(3,))
    return g, dict(x=x, y=y, W=W, a=a, b=b, c=c, side=side, z=z, unused=unused)


def test_prune_exact_node_sets(diamond):
    g, n = diamond
    cases = [
        ([n["x"]], {"x", "a", "c", "z"}),
        ([n["W"], n["y"]], {"W", "y", "a", "b", "c", "z"}),
        ([n["b"]], {"b", "c", "z"}),
        ([n["z"]], {"z"}),
        ([n["side"]], set()),                  # a descendant of x that z does not use
        ([n["unused"]], set()),
        ([n["x"], n["unused"]], {"x", "a", "c", "z"}),
    ]
    for targets, names in cases:
        G = gd.prune(n["z"], targets)
        assert isinstance(G, nx.DiGraph)
        assert set(G.nodes) == {n[k] for k in names}, names
        assert set(G.nodes) == _by_definition(n["z"], targets)
        expected_edges = {(i, m) for m in G.nodes for i in m.inputs if i in G.nodes}
        assert set(G.edges) == expected_edges


def test_prune_on_a_deeper_graph_matches_networkx():
    g = gd.Graph()
    xs = [g.input(f"x{k}", shape=(2,)) for k in range(4)]
    h = xs[0]
    layers = []
    for k in range(1, 4):
        h = gd.tanh(h * xs[k]) + xs[k - 1]
        layers.append(h)
    z = gd.sum(h * layers[0])
    gd.exp(layers[1])                          # a dead branch
    for targets in ([xs[0]], [xs[3]], [layers[1]], [xs[1], xs[2]]):
        assert set(gd.prune(z, targets).nodes) == _by_definition(z, targets)


# ---------------------------------------------------------------- grad_table
def test_grad_table_contents(diamond):
    g, n = diamond
    table = gd.backprop(n["z"], [n["x"], n["W"]])
    assert set(table) == {n["x"], n["W"], n["a"], n["c"], n["z"]}
    assert len(table) == 5
    assert table.targets == (n["x"], n["W"])
    assert set(table.pruned.nodes) == set(table)
    assert n["y"] not in table and n["b"] not in table
    with pytest.raises(TypeError):
        table[n["x"]] = n["W"]
    X, Y = np.array([1.0, 2.0, 3.0]), np.zeros(3)
    vals = g.run({k: table[n[k]] for k in ("z", "c", "a", "x", "W")},
                 feed={n["x"]: X, n["y"]: Y})
    assert float(vals["z"]) == 1.0                       # the seed
    np.testing.assert_array_equal(vals["c"], np.ones(3))
    np.testing.assert_array_equal(vals["a"], np.ones(3))
    np.testing.assert_array_equal(vals["x"], np.full(3, 2.0))
    np.testing.assert_array_equal(vals["W"], X)
    for node in table.added:                             # gradients are new nodes of g
        assert node.graph is g and node in g.nodes


def test_grad_table_with_seed():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    y = gd.sin(x)
    seed = np.array([2.0, -1.0])
    table = gd.backprop(y, [x], seed=seed)
    X = np.array([0.3, 0.4])
    np.testing.assert_allclose(g.run(table[y], feed={x: X}), seed)
    np.testing.assert_allclose(g.run(gd.grad(y, x, seed=seed), feed={x: X}), seed * np.cos(X))
    with pytest.raises(gd.GradError):
        gd.grad(y, x)                                    # two elements and no seed


# ---------------------------------------------------------------- fan-in
@pytest.mark.parametrize("build, d", [
    (lambda x: x * x, lambda X: 2 * X),
    (lambda x: x + x, lambda X: np.full_like(X, 2.0)),
    (lambda x: x * x * x, lambda X: 3 * X ** 2),
    (lambda x: x / x, lambda X: np.zeros_like(X)),
    (lambda x: gd.maximum(x, x), lambda X: np.ones_like(X)),
    (lambda x: gd.concatenate([x, x]) * np.arange(6.0), lambda X: np.arange(3.0) + np.arange(3, 6)),
    (lambda x: x @ x, lambda X: 2 * X),
])
def test_fan_in_sums_every_contribution(build, d):
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    X = np.array([0.5, -1.5, 2.0])
    np.testing.assert_allclose(g.run(gd.grad(gd.sum(build(x)), x), feed={x: X}), d(X),
                               atol=1e-12)


def test_x_times_x_bprop_called_once_per_consumer():
    g = gd.Graph()
    x = g.input("x", shape=())
    y = x * x
    table = gd.backprop(y, [x])
    terms = table.terms(x)
    assert len(terms) == 1                   # one consumer, both positions summed inside it
    consumer, positions, _ = terms[0]
    assert consumer is y and positions == (0, 1)
    assert float(g.run(table[x], feed={x: np.array(3.0)})) == 6.0


def test_shared_weight_across_consumers():
    g = gd.Graph()
    W = g.parameter(np.array([[1.0, 2.0], [3.0, 4.0]]), name="W")
    x = g.input("x", shape=(2,))
    h = gd.tanh(W @ x)
    z = gd.sum(W @ h) + gd.sum(W * W)
    dW = gd.grad(z, W)
    X = np.array([0.1, -0.2])
    Wv = W.value
    hv = np.tanh(Wv @ X)
    # z = 1^T W h + sum W^2; dz/dW = 1 h^T + W^T 1 * (1 - h^2) x^T + 2W
    expected = np.outer(np.ones(2), hv) + np.outer((Wv.T @ np.ones(2)) * (1 - hv ** 2), X) + 2 * Wv
    np.testing.assert_allclose(g.run(dW, feed={x: X}), expected, rtol=1e-12)
    assert len(gd.backprop(z, [W]).terms(W)) == 3
    gd.check_grad(z, [W, x], feed={x: X})


# ---------------------------------------------------------------- unconnected and cut paths
def test_unconnected_policies():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    y = g.input("y", shape=(3, 2), dtype="float32")
    p = g.parameter(np.ones(4), name="p")
    z = gd.sum(x * 2.0)
    dx, dy, dp = gd.grad(z, [x, y, p])
    vals = g.run([dx, dy, dp], feed={x: np.ones(2)})   # zeros need no feed of y
    np.testing.assert_array_equal(vals[0], [2.0, 2.0])
    assert vals[1].shape == (3, 2) and not vals[1].any() and vals[1].dtype == np.float32
    assert vals[2].shape == (4,) and not vals[2].any()
    assert gd.grad(z, [x, y], unconnected="none")[1] is None
    assert gd.grad(z, y, unconnected="none") is None
    with pytest.raises(gd.GradError, match="'y'"):
        gd.grad(z, [x, y], unconnected="raise")
    with pytest.raises(ValueError):
        gd.grad(z, x, unconnected="ignore")


def test_unconnected_zeros_with_unknown_shape():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    u = g.input("u", shape=(None, 3))
    dz = gd.grad(gd.sum(x), u)
    np.testing.assert_array_equal(g.run(dz, feed={x: np.ones(2), u: np.ones((5, 3))}),
                                  np.zeros((5, 3)))


def test_stop_gradient_and_integer_paths_give_zeros_inside_g_prime():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    n = g.input("n", shape=(3,), dtype="int64")
    z = gd.sum(gd.stop_gradient(x) * 3.0 + n * 2.0)
    table = gd.backprop(z, [x, n])
    assert x in table and n in table                       # inside G'
    dx, dn = gd.grad(z, [x, n], unconnected="raise")
    vx, vn = g.run([dx, dn], feed={x: np.ones(3), n: np.arange(3)})
    np.testing.assert_array_equal(vx, np.zeros(3))
    np.testing.assert_array_equal(vn, np.zeros(3))


def test_zero_contributions_are_dropped():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    z = gd.sum(x * 2.0 + gd.stop_gradient(x))
    table = gd.backprop(z, [x])
    assert len(table.terms(x)) == 1                        # the stop_gradient term is gone
    kinds = [type(n.op) for n in table.added if n.op is not None]
    assert E.AddN not in kinds and S.ZerosLike not in kinds
    np.testing.assert_array_equal(g.run(table[x], feed={x: np.ones(3)}), np.full(3, 2.0))


# ---------------------------------------------------------------- deep and wide
def test_chain_of_100000_ops(monkeypatch):
    calls = []
    monkeypatch.setattr(sys, "setrecursionlimit", lambda n: calls.append(n))
    limit = sys.getrecursionlimit()
    g = gd.Graph()
    x = g.input("x", shape=())
    c, b, steps = 1.00001, 0.001, 50_000
    y = x
    for _ in range(steps):
        y = y * c + b                                      # two ops per step
    assert len(g.nodes) >= 100_000
    before = len(g.nodes)
    dx = gd.grad(y, x)
    added = len(g.nodes) - before
    assert added <= steps + 5                              # one Multiply per step, no more
    f = g.function([x], [y, dx])
    yv, dv = f(np.array(0.5))
    expected = 0.5
    for _ in range(steps):
        expected = expected * c + b
    np.testing.assert_allclose(yv, expected, rtol=1e-9)
    np.testing.assert_allclose(dv, c ** steps, rtol=1e-9)
    assert len(gd.prune(y, [x])) == 2 * steps + 1
    assert calls == [] and sys.getrecursionlimit() == limit


def test_node_with_10000_consumers():
    g = gd.Graph()
    x = g.input("x", shape=())
    n = 10_000
    z = x * 0.5
    for k in range(1, n):
        z = z + x * (k + 0.5)                              # no factor 1.0: it is folded away
    assert len(g.consumers(x)) == n
    table = gd.backprop(z, [x])
    assert len(table.terms(x)) == n
    dx = table[x]
    assert isinstance(dx.op, E.AddN) and len(dx.inputs) == n
    assert len(table.added) <= n + 5                        # n Multiply terms, one AddN
    assert float(g.run(dx, feed={x: np.array(1.0)})) == n * n / 2


def test_gradient_of_a_wide_stack_is_linear_in_size():
    g = gd.Graph()
    x = g.input("x", shape=())
    n = 300
    z = gd.sum(gd.stack([x * (k + 0.5) for k in range(n)]))
    table = gd.backprop(z, [x])
    edges = sum(len(node.inputs) for node in table.added)
    assert edges <= 10 * n


# ---------------------------------------------------------------- lean gradient graphs
def _assert_lean(table):
    seed = table[table.z]
    for node in table.added:
        op = node.op
        if isinstance(op, E.Multiply):
            assert seed not in node.inputs, f"{node!r} multiplies by the seed"
            assert not any(i.ones for i in node.inputs), f"{node!r} multiplies by ones"
        if isinstance(op, (S.SumTo, S.BroadcastTo)):
            src = node.inputs[0]
            assert not (src.shape is not None and src.shape == node.shape
                        and None not in src.shape), f"{node!r} does not change the shape"
            if None in (node.shape or (None,)):
                assert len(src.shape) != len(node.shape) or any(
                    a != b for a, b in zip(src.shape, node.shape, strict=True)), node
        if isinstance(op, E.AddN):
            assert len(node.inputs) >= 2


def _needed(table, outputs):
    """The added nodes that the gradient outputs actually use."""
    added = set(table.added)
    seen, stack = set(), list(outputs)
    while stack:
        n = stack.pop()
        if n in added and n not in seen:
            seen.add(n)
            stack.extend(n.inputs)
    return seen


@pytest.mark.parametrize("batch", [4, None])
def test_gradient_of_sum_tanh_matmul_is_lean(batch):
    g = gd.Graph()
    x = g.input("x", shape=(batch, 3))
    W = g.parameter(np.ones((3, 2)), name="W")
    z = gd.sum(gd.tanh(x @ W))
    table = gd.backprop(z, [W, x])
    _assert_lean(table)
    used = _needed(table, [table[W], table[x]])
    kinds = [type(n.op).__name__ for n in used if n.op is not None]
    # tanh -> 1 - y^2 (Square, Subtract); the seed 1 is never multiplied in;
    # matmul -> Transpose + MatMul for each operand; no reduction, no AddN.
    assert "Multiply" not in kinds
    assert sorted(k for k in kinds if k != "BroadcastTo") == sorted(
        ["Square", "Subtract", "Transpose", "MatMul", "Transpose", "MatMul"])
    X = np.arange(12.0).reshape(4, 3) / 10
    gd.check_grad(z, [W, x], feed={x: X})


def _mlp_loss(batch=None):
    g = gd.Graph()
    x = g.input("x", shape=(batch, 784))
    y = g.input("y", shape=(batch,), dtype="int64")
    rng = np.random.default_rng(0)
    params = []
    h = x
    sizes = [784, 512, 512, 10]
    for k, (m, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        W = g.parameter(rng.normal(0, 1 / np.sqrt(m), (m, n)), name=f"W{k}")
        b = g.parameter(np.zeros(n), name=f"b{k}")
        params += [W, b]
        h = h @ W + b
        if k < 2:
            h = gd.relu(h)
    loss = gd.losses.softmax_cross_entropy(h, y)
    return g, x, y, params, loss


def test_mlp_gradient_node_count():
    g, x, y, params, loss = _mlp_loss()
    forward = len(g.nodes)
    # Forward: 8 leaves (x, y, W0, b0, W1, b1, W2, b2) + 11 ops (3 MatMul, 3 Add, 2 Relu,
    # CheckLabels, SoftmaxCrossEntropy, Mean) = 19 nodes.
    assert forward == 19
    grads = gd.grad(loss, params)
    added = len(g.nodes) - forward
    # By hand: seed 1; Mean over an unknown batch: Count, Divide, BroadcastTo = 3;
    # SoftmaxCrossEntropyGrad 1; each of 3 bias Adds: SumTo 1 = 3; each of 2 Relus:
    # ReluGrad 1 = 2; MatMul W2 and W1: Transpose + MatMul for the weight and for the
    # activation = 4 + 4; MatMul W0: Transpose + MatMul for W0 only (x is not a target) = 2.
    # Total 1 + 3 + 1 + 3 + 2 + 8 + 2 = 20. Measured: 20.
    assert added <= 20
    table = gd.backprop(loss, params)
    _assert_lean(table)
    X = np.random.default_rng(1).normal(size=(5, 784))
    Y = np.array([0, 3, 9, 3, 1])
    vals = g.run(grads, feed={x: X, y: Y})
    assert [v.shape for v in vals] == [p.value.shape for p in params]


def test_softmax_cross_entropy_gradient_is_fused():
    g, x, y, params, loss = _mlp_loss(batch=None)
    table = gd.backprop(loss, params)
    kinds = [type(n.op) for n in table.added if n.op is not None]
    assert kinds.count(N.SoftmaxCrossEntropyGrad) == 1
    for bad in (E.Exp, E.Log, N.Softmax, N.LogSoftmax, R.Sum, R.LogSumExp):
        assert bad not in kinds
    # and the fused gradient is softmax - onehot
    g2 = gd.Graph()
    z = g2.input("z", shape=(2, 3))
    labels = np.array([2, 0])
    dz = gd.grad(gd.losses.softmax_cross_entropy(z, labels, reduction="sum"), z)
    Z = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]])
    s = np.exp(Z) / np.exp(Z).sum(1, keepdims=True)
    np.testing.assert_allclose(g2.run(dz, feed={z: Z}), s - np.eye(3)[labels], rtol=1e-12)


# ---------------------------------------------------------------- higher order
def test_gradient_of_a_gradient():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    A = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, -1.0], [1.0, 0.0, 3.0]])
    v = np.array([1.0, -2.0, 0.5])
    z = 0.5 * gd.sum(x * (A @ x)) + gd.sum(gd.sin(x))
    hv = gd.grad(gd.sum(gd.grad(z, x) * v), x)
    X = np.array([0.1, 0.2, -0.3])
    expected = 0.5 * (A + A.T) @ v - np.sin(X) * v
    np.testing.assert_allclose(g.run(hv, feed={x: X}), expected, rtol=1e-12)
    hvp = gd.hessian_vector_product(z, x, v)
    np.testing.assert_allclose(g.run(hvp, feed={x: X}), expected, rtol=1e-12)
    vn = g.input("v", shape=(3,))
    h2 = gd.hessian_vector_product(z, [x], [vn])
    assert isinstance(h2, list)
    np.testing.assert_allclose(g.run(h2[0], feed={x: X, vn: v}), expected, rtol=1e-12)


def test_hvp_with_two_targets():
    g = gd.Graph()
    a, b = g.input("a", shape=()), g.input("b", shape=())
    z = a * a * b                                     # H = [[2b, 2a], [2a, 0]]
    ha, hb = gd.hessian_vector_product(z, [a, b], [np.array(1.0), np.array(2.0)])
    va, vb = g.run([ha, hb], feed={a: np.array(3.0), b: np.array(5.0)})
    assert float(va) == 2 * 5 * 1 + 2 * 3 * 2 and float(vb) == 2 * 3 * 1


def test_jacobian_closed_forms():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    A = np.arange(6.0).reshape(2, 3)
    X = np.array([0.5, -1.0, 2.0])
    J = gd.jacobian(A @ x + gd.sum(x ** 2), x)
    assert J.shape == (2, 3)
    np.testing.assert_allclose(g.run(J, feed={x: X}), A + 2 * X, rtol=1e-12)
    outer = gd.reshape(x, (3, 1)) * gd.reshape(x, (1, 3))
    J2 = g.run(gd.jacobian(outer, x), feed={x: X})
    eye = np.eye(3)
    expected = np.einsum("ik,j->ijk", eye, X) + np.einsum("i,jk->ijk", X, eye)
    assert J2.shape == (3, 3, 3)
    np.testing.assert_allclose(J2, expected, rtol=1e-12)


def test_hessian_closed_form():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    B = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 0.0], [4.0, 0.0, 1.0]])
    X = np.array([0.5, -1.0, 2.0])
    z = gd.sum(x ** 4) + gd.sum(x * (B @ x)) + gd.sum(gd.exp(x[0] * x[1]))
    H = gd.hessian(z, x)
    assert H.shape == (3, 3)
    e = np.exp(X[0] * X[1])
    cross = np.zeros((3, 3))
    cross[0, 0] = X[1] ** 2 * e
    cross[1, 1] = X[0] ** 2 * e
    cross[0, 1] = cross[1, 0] = e + X[0] * X[1] * e
    expected = np.diag(12 * X ** 2) + B + B.T + cross
    np.testing.assert_allclose(g.run(H, feed={x: X}), expected, rtol=1e-12)


def test_third_order_through_every_helper():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    z = gd.sum(gd.tanh(x) * x)
    H = gd.hessian(z, x)                         # diagonal: 2 sech^2 x - 2 x sech^2 x tanh x
    X = np.array([0.3, -0.7])
    s2 = 1 / np.cosh(X) ** 2
    np.testing.assert_allclose(g.run(H, feed={x: X}), np.diag(2 * s2 - 2 * X * s2 * np.tanh(X)),
                               rtol=1e-12)
    gd.check_grad(gd.sum(H * np.array([[1.0, 2.0], [3.0, 4.0]])), x, feed={x: X})
