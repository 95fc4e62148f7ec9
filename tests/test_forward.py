"""Forward mode (gd.jvp) on every row of tests/op_specs.py, through the one checker
gd.check_jvp, first and second order; plus forward against reverse (<J v, u> = <v, J^T u>),
forward-over-reverse Hessian-vector products, Jacobians both ways, custom ops without a
jvp, provenance and the engine's guarantees (zero tangents are never built).
"""

from __future__ import annotations

import numpy as np
import pytest
from op_specs import SPECS
from test_ops import CASES, _params, _rng, build, targets_of, weights

import graphdiff as gd


def _directions(rng, targets, arrays, spec):
    return [rng.standard_normal(np.shape(arrays[k])) for k in spec.float_positions()]


@pytest.mark.parametrize("spec, case, decl", _params(CASES))
def test_jvp_first_order(spec, case, decl):
    g, nodes, arrays, out = build(spec, case, decl)
    feed = dict(zip(nodes, arrays, strict=True))
    targets = targets_of(spec, nodes)
    if not targets:
        return
    rng = _rng(spec.name, case, "T")
    vs = _directions(rng, targets, arrays, spec)
    if spec.zero_grad:
        for t in g.run([gd.jvp(out, targets, vs)], feed=feed):
            assert not np.any(t)
        return
    gd.check_jvp(out, targets, feed=feed, tangents=vs)


SECOND = [c for c in CASES if 2 in c[0].orders and not c[0].zero_grad and c[0].float_positions()]


@pytest.mark.parametrize("spec, case, decl", _params(SECOND))
def test_jvp_second_order(spec, case, decl):
    """jvp of jvp, grad of jvp and jvp of grad, each against central differences."""
    g, nodes, arrays, out = build(spec, case, decl)
    feed = dict(zip(nodes, arrays, strict=True))
    targets = targets_of(spec, nodes)
    rng = _rng(spec.name, case, "T2")
    vs = _directions(rng, targets, arrays, spec)
    base = gd.square(out) if spec.square_base else out
    jv = gd.jvp(base, targets, vs)
    # jvp of a jvp
    gd.check_jvp(jv, targets, feed=feed, tangents=_directions(rng, targets, arrays, spec))
    # grad of a jvp
    expected = np.shape(g.run(out, feed=feed))
    gd.check_grad(gd.sum(jv * weights(rng, expected)), targets, feed=feed)
    # jvp of a gradient
    grads = gd.grad(gd.sum(base * weights(rng, expected)), targets)
    gd.check_jvp(grads[0], targets, feed=feed, tangents=vs)


def test_forward_and_reverse_agree_on_a_network():
    """<J v, u> = <v, J^T u> for an MLP-like map with broadcasting and a softmax."""
    rng = np.random.default_rng(0)
    g = gd.Graph()
    x = g.input("x", shape=(None, 4))
    W1 = g.parameter(rng.normal(size=(4, 5)), name="W1")
    b1 = g.parameter(rng.normal(size=(5,)), name="b1")
    W2 = g.parameter(rng.normal(size=(5, 3)), name="W2")
    y = gd.softmax(gd.tanh(x @ W1 + b1) @ W2) * gd.sigmoid(x[:, :3])
    X = rng.normal(size=(6, 4))
    params = [W1, b1, W2]
    vs = [rng.normal(size=p.shape) for p in params]
    u = rng.normal(size=(6, 3))
    jv = g.run(gd.jvp(y, params, vs), feed={x: X})
    jtu = g.run(gd.grad(y, params, seed=u), feed={x: X})
    lhs = float(np.sum(jv * u))
    rhs = float(sum(np.sum(v * t) for v, t in zip(vs, jtu)))
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))


def test_hvp_forward_equals_reverse():
    rng = np.random.default_rng(1)
    g = gd.Graph()
    x = g.input("x", shape=(8, 4))
    labels = g.input("labels", shape=(8,), dtype="int64")
    W = g.parameter(rng.normal(size=(4, 3)), name="W")
    b = g.parameter(rng.normal(size=(3,)), name="b")
    loss = gd.losses.softmax_cross_entropy(gd.tanh(x @ W + b), labels)
    V = [rng.normal(size=(4, 3)), rng.normal(size=(3,))]
    fwd = gd.hessian_vector_product(loss, [W, b], V)
    rev = gd.hessian_vector_product(loss, [W, b], V, mode="reverse")
    feed = {x: rng.normal(size=(8, 4)), labels: rng.integers(0, 3, 8)}
    for a, c in zip(g.run(fwd, feed=feed), g.run(rev, feed=feed)):
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError):
        gd.hessian_vector_product(loss, W, V[0], mode="sideways")


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_jacobian_modes_agree(mode):
    rng = np.random.default_rng(2)
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    A = g.constant(rng.normal(size=(5, 3)))
    y = gd.tanh(A @ x) * gd.sum(x)
    X = rng.normal(size=3)
    J = g.run(gd.jacobian(y, x, mode=mode), feed={x: X})
    eps = 1e-6
    numeric = np.stack([(g.run(y, feed={x: X + eps * e}) - g.run(y, feed={x: X - eps * e}))
                        / (2 * eps) for e in np.eye(3)], axis=-1)
    assert J.shape == (5, 3)
    np.testing.assert_allclose(J, numeric, rtol=1e-6, atol=1e-8)


def test_auto_jacobian_picks_the_cheaper_side():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    y = gd.tanh(gd.concatenate([x, x, x, x]))           # (8,) from (2,): two JVPs
    before = len(g.nodes)
    gd.jacobian(y, x, mode="auto")
    auto_nodes = len(g.nodes) - before
    before = len(g.nodes)
    gd.jacobian(y, x, mode="reverse")
    reverse_nodes = len(g.nodes) - before
    assert auto_nodes < reverse_nodes


def test_custom_op_without_jvp_goes_through_its_bprop():
    class Cube(gd.Op):
        def forward(self, x):
            return x ** 3

        def bprop(self, inputs, wrt, output, grad):
            return 3.0 * gd.square(inputs[0]) * grad

    cube = gd.op(Cube())
    g = gd.Graph()
    x = g.input("x", shape=(4,))
    X = np.array([0.5, -1.0, 2.0, 1.5])
    y = cube(x) * x
    assert gd.check_jvp(y, x, feed={x: X}) < 1e-6
    jv = gd.jvp(y, x, np.ones(4))
    gd.check_grad(gd.sum(jv), x, feed={x: X})      # gradients of that JVP work too


def test_custom_op_jvp_is_used():
    calls = []

    class Twice(gd.Op):
        def forward(self, x):
            return 2 * x

        def bprop(self, inputs, wrt, output, grad):
            return 2 * grad

        def jvp(self, inputs, tangents, output):
            calls.append(1)
            return 2 * tangents[0]

    g = gd.Graph()
    x = g.input("x", shape=(2,))
    jv = gd.jvp(gd.op(Twice())(x), x, np.array([1.0, 3.0]))
    assert calls and np.allclose(g.run(jv, feed={x: np.zeros(2)}), [2.0, 6.0])


def test_zero_tangents_are_not_built():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    c = g.input("c", shape=(3,))
    y = gd.exp(c) * 2.0 + x          # exp(c) and its product depend on c only
    before = len(g.nodes)
    table = gd.forward.tangent_table(y, x, np.ones(3))
    added = g.nodes[before:]
    assert set(table) == {x, y}
    assert len(added) == 1           # the tangent constant itself; d(a + x) = dx
    assert table[y] is table[x]


def test_output_independent_of_the_inputs_gets_zeros():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    c = g.input("c", shape=(3,))
    t = gd.jvp(gd.exp(c), x, np.ones(2))
    assert np.all(g.run(t, feed={c: np.ones(3)}) == 0) and t.shape == (3,)


def test_tangent_nodes_carry_provenance():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    h = gd.tanh(x)
    h.name = "h"
    jv = gd.jvp(h * 3.0, x, np.ones(2))
    assert jv.made_by == "tangent" and jv.grad_of is not None
    table = gd.forward.tangent_table(h, x, np.ones(2))
    assert table[h].grad_of is h and table[h].made_by == "tangent"
    assert "in the tangent of h = Tanh" in gd.graph.describe_full(table[h])


def test_jvp_validates_its_arguments():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    y = gd.exp(x)
    with pytest.raises(gd.GradError):
        gd.jvp(y, x, np.ones(3))           # wrong tangent shape
    with pytest.raises(gd.GradError):
        gd.jvp(y, [x, x], [np.ones(2)])    # counts differ
    with pytest.raises(TypeError):
        gd.jvp(y, "x", np.ones(2))
    other = gd.Graph().input("z", shape=(2,))
    with pytest.raises(gd.GraphError):
        gd.jvp(y, other, np.ones(2))


def test_jvp_of_an_intermediate_node():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    h = gd.exp(x)
    y = gd.sin(h)
    X = np.array([0.1, 0.2])
    t = g.run(gd.jvp(y, h, np.array([1.0, 2.0])), feed={x: X})
    np.testing.assert_allclose(t, np.cos(np.exp(X)) * [1.0, 2.0], rtol=1e-12)


def test_float32_tangents_stay_float32():
    g = gd.Graph()
    x = g.input("x", shape=(3,), dtype="float32")
    W = g.parameter(np.ones((3, 2), dtype=np.float32))
    jv = gd.jvp(gd.tanh(x @ W) * 2.0, [x, W], [np.ones(3), np.ones((3, 2))])
    assert jv.dtype == np.float32
    assert g.run(jv, feed={x: np.ones(3, dtype=np.float32)}).dtype == np.float32


@pytest.mark.parametrize("spec", [s for s in SPECS if s.op is not None], ids=lambda s: s.name)
def test_every_op_class_has_a_forward_rule(spec):
    """Built-in ops never fall back to transposing bprop (the slow path for custom ops)."""
    op = spec.op
    if not op.differentiable:
        return
    assert op.jvp is not gd.Op.jvp, f"{op.__name__} has no jvp of its own"
