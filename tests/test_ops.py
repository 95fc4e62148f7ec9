"""Every row of tests/op_specs.py through the one checker, gd.check_grad.

For each row and shape case, built twice (static shapes, and every dimension declared
None so the run-time-shape paths of the gradients run): the value against the NumPy
reference, the static shape against the value's shape, the first-order gradient of
sum(R * op) and the second-order gradient of sum(grad * V) against central differences.
Plus float32 preservation per row, and a coverage test over every Op subclass.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from op_specs import SPECS, Spec, make_inputs

import graphdiff as gd

# Core bugs this table found, by case id (spec-case-decl); each is reported to the lead.
# (matmul (2,3,4) @ (4,) and boolean masks on None dims were found here, fixed in 2b87aff.)
KNOWN_BUGS: dict[str, str] = {}


def _marks(case_id):
    for key, reason in KNOWN_BUGS.items():
        if case_id == key or case_id.startswith(key + "-"):
            return [pytest.mark.xfail(strict=True, reason=reason)]
    return []


def _params(cases):
    return [pytest.param(s, k, decl, id=f"{s.name}-{k}-{decl}",
                         marks=_marks(f"{s.name}-{k}-{decl}")) for s, k, decl in cases]


CASES = [(s, k, decl) for s in SPECS for k in range(len(s.shapes))
         for decl in (("static", "dynamic") if s.dynamic else ("static",))]


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def build(spec: Spec, case: int, decl: str, dtype=np.float64):
    """(graph, input nodes, fed arrays, output node) for one case."""
    g, nodes, arrays = make_inputs(spec, case, dtype, decl)
    return g, nodes, arrays, spec.build(*nodes)


def targets_of(spec, nodes):
    return [nodes[k] for k in spec.float_positions()]


def weights(rng, shape, dtype=np.float64):
    return rng.uniform(0.5, 1.5, shape).astype(dtype)


def base_loss(spec, out, shape, rng):
    w = weights(rng, shape)
    return gd.sum((gd.square(out) if spec.square_base else out) * w)


@pytest.mark.parametrize("spec, case, decl", _params(CASES))
def test_value_and_first_order(spec, case, decl):
    g, nodes, arrays, out = build(spec, case, decl)
    if decl == "static" and spec.op is not None:
        assert type(out.op) is spec.op, f"{spec.name} built {out.op!r}, not {spec.op.__name__}"
    feed = dict(zip(nodes, arrays, strict=True))
    value = g.run(out, feed=feed)
    expected = np.asarray(spec.ref(*arrays))
    assert np.shape(value) == expected.shape
    np.testing.assert_allclose(value, expected, rtol=1e-10, atol=1e-12)
    if out.shape is not None:              # static shape inference agrees with the value
        assert len(out.shape) == np.ndim(value)
        assert all(d is None or d == v for d, v in zip(out.shape, np.shape(value), strict=True))
        if decl == "static":
            assert out.shape == np.shape(value)
    targets = targets_of(spec, nodes)
    rng = _rng(spec.name, case, "R")
    if spec.zero_grad:
        z = gd.sum(out * weights(rng, expected.shape))
        for dv in g.run(gd.grad(z, targets), feed=feed):
            assert not np.any(dv)
        return
    # Piecewise-linear rows check order 1 on the plain sum too (their square is order 2).
    z = gd.sum(out * weights(rng, expected.shape))
    gd.check_grad(z, targets, feed=feed)


SECOND = [c for c in CASES if 2 in c[0].orders and not c[0].zero_grad]


@pytest.mark.parametrize("spec, case, decl", _params(SECOND))
def test_second_order(spec, case, decl):
    g, nodes, arrays, out = build(spec, case, decl)
    feed = dict(zip(nodes, arrays, strict=True))
    expected_shape = np.shape(spec.ref(*arrays))
    rng = _rng(spec.name, case, "V")
    targets = targets_of(spec, nodes)
    grads = gd.grad(base_loss(spec, out, expected_shape, rng), targets)
    z2 = None
    for a, dv in zip([arrays[k] for k in spec.float_positions()], grads, strict=True):
        term = gd.sum(dv * weights(rng, a.shape))
        z2 = term if z2 is None else z2 + term
    gd.check_grad(z2, targets, feed=feed)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.float32], ids=lambda s: s.name)
def test_float32_preserved(spec):
    g, nodes, arrays, out = build(spec, 0, "static", dtype=np.float32)
    feed = dict(zip(nodes, arrays, strict=True))
    value = g.run(out, feed=feed)
    assert out.dtype == np.float32, f"static dtype {out.dtype}"
    assert value.dtype == np.float32
    targets = targets_of(spec, nodes)
    grads = gd.grad(gd.sum(out), targets)
    for dv, val in zip(grads, g.run(grads, feed=feed), strict=True):
        assert val.dtype == np.float32, f"gradient {dv!r} is {val.dtype}"
    if not spec.zero_grad and 2 in spec.orders:
        z2 = gd.sum(gd.square(grads[0])) if spec.square_base else gd.sum(grads[0] * 1.5)
        h = gd.grad(gd.sum(gd.square(out)) + z2, targets[0])
        assert g.run(h, feed=feed).dtype == np.float32


def _concrete_op_classes():
    found, stack = [], list(gd.Op.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        # Stateful ops (random draws) cannot equal a NumPy reference: tests/test_random.py
        # checks their distribution, reproducibility and zero gradient instead.
        if cls.builtin and cls.forward is not gd.Op.forward and not cls.stateful:
            found.append(cls)
    return found


def test_every_op_has_a_row():
    covered = {s.op for s in SPECS}
    classes = _concrete_op_classes()
    assert len(classes) >= 40   # the walk really found the primitives
    missing = sorted(c.__qualname__ for c in classes if c not in covered)
    assert not missing, f"Op subclasses with no row in tests/op_specs.py: {missing}"


def test_every_public_op_is_exercised():
    names = ("add subtract multiply divide negative power exp log sqrt square abs sin cos tanh "
             "sigmoid relu softplus maximum minimum where clip matmul transpose reshape "
             "broadcast_to concatenate stack sum mean max min logsumexp softmax log_softmax "
             "stop_gradient").split()
    rows = {s.name.split("_axis")[0] for s in SPECS}
    assert not [n for n in names if n not in rows]


def test_row_non_differentiable_ops_are_marked():
    for s in SPECS:
        if s.op is not None:
            assert s.zero_grad == (not s.op.differentiable), s.name


# ---------------------------------------------------------------- specific gradient values
def test_max_ties_share_the_gradient():
    g = gd.Graph()
    x = g.input("x", shape=(2, 3))
    X = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    dx, dm = g.run(gd.grad(gd.sum(gd.max(x, axis=1)), [x]) + [gd.grad(gd.max(x), x)],
                   feed={x: X})
    np.testing.assert_allclose(dx, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(dm, [[0, 0.5, 0.5], [0, 0, 0]])


def test_maximum_tie_splits_in_halves():
    g = gd.Graph()
    a, b = g.input("a", shape=(2,)), g.input("b", shape=(2,))
    da, db = g.run(gd.grad(gd.sum(gd.maximum(a, b)), [a, b]),
                   feed={a: np.array([1.0, 2.0]), b: np.array([1.0, 0.0])})
    np.testing.assert_allclose(da, [0.5, 1.0])
    np.testing.assert_allclose(db, [0.5, 0.0])


def test_relu_and_abs_gradient_at_zero_is_zero():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    dr, da = g.run(gd.grad(gd.sum(gd.relu(x) + gd.abs(x)), [x])
                   + [gd.grad(gd.sum(gd.abs(x)), x)], feed={x: np.array([0.0, -1.0, 2.0])})
    np.testing.assert_allclose(dr, [0.0, -1.0, 2.0])
    np.testing.assert_allclose(da, [0.0, -1.0, 1.0])


def test_integer_index_repeats_accumulate():
    g = gd.Graph()
    x = g.input("x", shape=(4,))
    dx = g.run(gd.grad(gd.sum(x[[0, 2, 2, 2, 3]] * np.array([1.0, 2.0, 3.0, 4.0, 5.0])), x),
               feed={x: np.zeros(4)})
    np.testing.assert_allclose(dx, [1.0, 0.0, 9.0, 5.0])


def test_where_with_masked_input_has_finite_gradient():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    # The safe form: mask the input before the log, so the unused branch stays finite.
    safe = gd.where(np.array([False, True, True]), gd.log(gd.maximum(x, 1e-3)), 0.0)
    dx = g.run(gd.grad(gd.sum(safe), x), feed={x: np.array([-1.0, 1.0, 2.0])})
    np.testing.assert_allclose(dx, [0.0, 1.0, 0.5])


def test_nested_grad_of_one_element_x():
    g = gd.Graph()
    x = g.input("x", shape=())
    d3 = gd.grad(gd.grad(gd.grad(gd.sin(x) * x, x), x), x)
    v = 0.7
    # d3/dx3 (x sin x) = -3 sin x - x cos x
    np.testing.assert_allclose(g.run(d3, feed={x: np.array(v)}),
                               -3 * np.sin(v) - v * np.cos(v), rtol=1e-12)


def test_power_exponent_gradient_at_zero_base_is_zero():
    g = gd.Graph()
    a, b = g.input("a", shape=(2,)), g.input("b", shape=(2,))
    with np.errstate(divide="ignore", invalid="ignore"):
        db = g.run(gd.grad(gd.sum(a ** b), b), feed={a: np.array([0.0, 2.0]),
                                                     b: np.array([2.0, 3.0])})
    np.testing.assert_allclose(db, [0.0, 8.0 * np.log(2.0)], rtol=1e-12)


def test_power_base_gradient_at_zero_base():
    g = gd.Graph()
    a, b = g.input("a", shape=(3,)), g.input("b", shape=(3,))
    da = g.run(gd.grad(gd.sum(a ** b), a), feed={a: np.array([0.0, 0.0, -2.0]),
                                                 b: np.array([2.0, 3.0, 3.0])})
    np.testing.assert_allclose(da, [0.0, 0.0, 12.0])
