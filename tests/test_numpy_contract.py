"""Contractions against NumPy: einsum (explicit, implicit, ellipsis, repeated letters,
broadcasting), dot/inner/outer/tensordot/kron/cross/trace over shapes and dtypes, and the
build-time errors. Gradients of every function are checked by the op_specs rows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphdiff as gd

RNG = np.random.default_rng(7)


def arr(shape, dtype=np.float64):
    if np.dtype(dtype).kind in "iu":
        return RNG.integers(-3, 4, shape).astype(dtype)
    return RNG.normal(size=shape).astype(dtype)


def check(fn, ref, *arrays, dynamic=False):
    """fn on graph inputs equals ref on the arrays: value, static shape, static dtype."""
    g = gd.Graph()
    xs = [g.input(f"x{k}", shape=(None,) * a.ndim if dynamic else a.shape, dtype=a.dtype)
          for k, a in enumerate(arrays)]
    out = fn(*xs)
    value = g.run(out, feed=dict(zip(xs, arrays)))
    expected = np.asarray(ref(*arrays))
    assert value.shape == expected.shape
    assert value.dtype == expected.dtype == out.dtype
    if not dynamic:
        assert out.shape == expected.shape
    else:
        assert len(out.shape) == expected.ndim
        assert all(d is None or d == e for d, e in zip(out.shape, expected.shape))
    np.testing.assert_allclose(value, expected, rtol=1e-6 if value.dtype == np.float32
                               else 1e-12, atol=1e-6)
    return out


EINSUMS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("ji,jk", [(3, 2), (3, 4)]),
    ("ii", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("iij->j", [(3, 3, 2)]),
    ("ij->", [(3, 4)]),
    ("ij->ji", [(3, 4)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,i", [(5,), (5,)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk", [(2, 1, 3, 4), (5, 4, 2)]),
    ("...i,...i->...", [(3,), (2, 3)]),
    ("i...->...i", [(2, 3, 4)]),
    ("ij,ij->ij", [(3, 1), (1, 4)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    (" ab , bc -> ca ", [(2, 3), (3, 4)]),
    (",i->i", [(), (3,)]),
    ("ijk,kji->", [(2, 3, 4), (4, 3, 2)]),
]


@pytest.mark.parametrize("subscripts, shapes", EINSUMS, ids=[s for s, _ in EINSUMS])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_einsum_matches_numpy(subscripts, shapes, dtype):
    arrays = [arr(s, dtype) for s in shapes]
    check(lambda *xs: gd.einsum(subscripts, *xs),
          lambda *xs: np.einsum(subscripts, *xs), *arrays)


@pytest.mark.parametrize("subscripts, shapes", EINSUMS[:11], ids=[s for s, _ in EINSUMS[:11]])
def test_einsum_unknown_sizes(subscripts, shapes):
    arrays = [arr(s) for s in shapes]
    check(lambda *xs: gd.einsum(subscripts, *xs),
          lambda *xs: np.einsum(subscripts, *xs), *arrays, dynamic=True)


def test_einsum_gradients_with_repeats_broadcast_and_ellipsis():
    for subscripts, shapes in EINSUMS:
        g = gd.Graph()
        arrays = [arr(s) for s in shapes]
        xs = [g.input(f"x{k}", shape=a.shape) for k, a in enumerate(arrays)]
        out = gd.einsum(subscripts, *xs)
        w = RNG.uniform(0.5, 1.5, np.shape(np.einsum(subscripts, *arrays)))
        z = gd.sum(gd.square(out) * w)
        assert gd.check_grad(z, xs, feed=dict(zip(xs, arrays))) < 1e-5, subscripts


def test_einsum_integer_and_mixed_dtypes_promote_as_numpy():
    a, b = arr((2, 3), np.int32), arr((3, 2), np.float32)
    check(lambda x, y: gd.einsum("ij,jk", x, y), lambda x, y: np.einsum("ij,jk", x, y), a, b)
    c = arr((2, 3), np.int64)
    check(lambda x: gd.einsum("ij->", x), lambda x: np.einsum("ij->", x), c)


@pytest.mark.parametrize("subscripts, shapes, match", [
    ("ij,jk->ik", [(2, 3), (4, 5)], "subscript 'j' has sizes"),
    ("ij,jk", [(2, 3)], "2 operand subscripts for 1 operands"),
    ("ijk", [(2, 3)], "do not match the rank"),
    ("ij->k", [(2, 3)], "appears in no operand"),
    ("ij->ii", [(2, 2)], "repeat a letter"),
    ("...ij->ij", [(2, 3, 4)], "no '...' ellipsis"),
    ("i1", [(2, 3)], "invalid subscript"),
    ("...ijk", [(2, 3)], "fewer dimensions"),
])
def test_einsum_errors_name_the_problem_and_the_call_site(subscripts, shapes, match):
    g = gd.Graph()
    xs = [g.input(f"x{k}", shape=s) for k, s in enumerate(shapes)]
    with pytest.raises(gd.GraphError, match=match) as info:
        gd.einsum(subscripts, *xs)
    assert "test_numpy_contract.py" in str(info.value)


def test_einsum_rejects_complex_and_the_sublist_form():
    g = gd.Graph()
    z = g.constant(np.ones(3, dtype=complex))
    with pytest.raises(TypeError, match="complex dtypes are not supported yet"):
        gd.einsum("i->", z)
    with pytest.raises(TypeError, match="subscripts must be a string"):
        gd.einsum(g.input("x", shape=(2,)), [0])


def test_einsum_cost_counts_the_contraction():
    g = gd.Graph()
    a, b = g.input("a", shape=(20, 30)), g.input("b", shape=(30, 40))
    out = gd.einsum("ij,jk->ik", a, b)
    assert out.op.flops([(20, 30), (30, 40)], (20, 40)) == 2 * 20 * 30 * 40   # as matmul


def test_einsum_declares_that_one_operand_may_be_viewed():
    # np.einsum('ii->i', x) returns a view of x; products of two operands are fresh.
    g = gd.Graph()
    x = g.input("x", shape=(3, 3))
    assert gd.einsum("ii->i", x).op.view_of == 0
    assert gd.einsum("ij,jk", x, x).op.fresh_output()


DOTS = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((), (2, 3)),
        ((2, 3), ()), ((2, 3, 4), (4,)), ((4,), (2, 4, 3)), ((2, 3, 4), (5, 4, 2)),
        ((2, 3, 4), (4, 2))]


@pytest.mark.parametrize("sa, sb", DOTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_dot_matches_numpy(sa, sb, dtype):
    check(gd.dot, np.dot, arr(sa, dtype), arr(sb, dtype))


@pytest.mark.parametrize("sa, sb", [((3,), (3,)), ((2, 3), (4, 3)), ((), (3,)),
                                    ((2, 3, 4), (5, 4)), ((4,), (2, 3, 4))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_inner_matches_numpy(sa, sb, dtype):
    check(gd.inner, np.inner, arr(sa, dtype), arr(sb, dtype))


@pytest.mark.parametrize("sa, sb", [((3,), (4,)), ((2, 2), (3,)), ((), (2,)), ((2, 3), (1, 2))])
def test_outer_matches_numpy(sa, sb):
    check(gd.outer, np.outer, arr(sa), arr(sb))
    check(gd.outer, np.outer, arr(sa, np.float32), arr(sb, np.int32))


@pytest.mark.parametrize("sa, sb, axes", [
    ((2, 3, 4), (3, 4, 5), 2), ((2, 3), (3, 4), 1), ((2,), (3,), 0), ((2, 3), (2, 3), 2),
    ((2, 3, 4), (4, 3, 2), ([0, 2], [2, 0])), ((2, 3, 4), (4, 5), ([-1], [0])),
    ((3, 4), (4, 3), ((0, 1), (1, 0))),
])
def test_tensordot_matches_numpy(sa, sb, axes):
    a, b = arr(sa), arr(sb)
    check(lambda x, y: gd.tensordot(x, y, axes), lambda x, y: np.tensordot(x, y, axes), a, b)


@pytest.mark.parametrize("sa, sb, axes, match", [
    ((2, 3), (4, 5), 1, "shape-mismatch"),
    ((2, 3), (3, 4), ([0, 1], [0]), "shape-mismatch"),
    ((2, 3), (3, 4), 3, "does not fit"),
    ((2, 3), (3, 4), ([2], [0]), "out of range"),
])
def test_tensordot_errors(sa, sb, axes, match):
    g = gd.Graph()
    a, b = g.input("a", shape=sa), g.input("b", shape=sb)
    with pytest.raises(gd.GraphError, match=match):
        gd.tensordot(a, b, axes)


def test_dot_and_inner_errors_name_both_shapes():
    g = gd.Graph()
    a, b = g.input("a", shape=(2, 3)), g.input("b", shape=(4, 5))
    with pytest.raises(gd.GraphError, match=r"\(2, 3\).*\(4, 5\)"):
        gd.dot(a, b)
    with pytest.raises(gd.GraphError, match="shape-mismatch"):
        gd.inner(a, b)


@pytest.mark.parametrize("sa, sb", [((2,), (3,)), ((2, 3), (3, 2)), ((2,), (3, 2)),
                                    ((2, 2, 1), (3,)), ((), (3,)), ((1, 3), (2, 1))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32])
def test_kron_matches_numpy(sa, sb, dtype):
    check(gd.kron, np.kron, arr(sa, dtype), arr(sb, dtype))


def test_kron_with_one_unknown_dimension():
    g = gd.Graph()
    a, b = g.input("a", shape=(None, 2)), g.input("b", shape=(3, 2))
    out = gd.kron(a, b)
    A, B = arr((4, 2)), arr((3, 2))
    np.testing.assert_allclose(g.run(out, feed={a: A, b: B}), np.kron(A, B))
    with pytest.raises(gd.GraphError, match="known up to one dimension"):
        gd.kron(g.input("c", shape=(None, None)), b)


@pytest.mark.parametrize("sa, sb, kw", [
    ((3,), (3,), {}), ((4, 3), (3,), {}), ((3, 1, 3), (4, 3), {}),
    ((3, 4), (4, 3), {"axisa": 0, "axisb": 1, "axisc": 0}),
    ((3, 4), (3, 4), {"axis": 0}), ((4, 2), (4, 2), {}), ((4, 2), (4, 3), {}),
    ((3,), (2,), {}),
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_cross_matches_numpy(sa, sb, kw, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # NumPy 2 deprecates 2-vectors
        check(lambda a, b: gd.cross(a, b, **kw), lambda a, b: np.cross(a, b, **kw),
              arr(sa, dtype), arr(sb, dtype))


def test_cross_errors():
    g = gd.Graph()
    with pytest.raises(gd.GraphError, match="dimension must be 2 or 3"):
        gd.cross(g.input("a", shape=(4,)), g.input("b", shape=(3,)))
    with pytest.raises(gd.GraphError, match="out of range"):
        gd.cross(g.input("c", shape=(3,)), g.input("d", shape=(3,)), axisa=2)


@pytest.mark.parametrize("shape, args", [((3, 3), ()), ((3, 4), (1,)), ((4, 3), (-2,)),
                                         ((2, 3, 4), (0, 1, 2)), ((2, 3, 4), (1, -1, 0)),
                                         ((3, 3), (5,))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_trace_matches_numpy(shape, args, dtype):
    check(lambda x: gd.trace(x, *args), lambda x: np.trace(x, *args), arr(shape, dtype))


def test_trace_errors():
    g = gd.Graph()
    with pytest.raises(gd.GraphError, match="at least 2-d"):
        gd.trace(g.input("v", shape=(3,)))
    with pytest.raises(gd.GraphError, match="cannot be the same"):
        gd.trace(g.input("m", shape=(3, 3)), 0, 1, 1)


def test_contractions_reject_complex_operands():
    g = gd.Graph()
    z = g.constant(np.ones((3, 3), dtype=complex))
    x = g.input("x", shape=(3, 3))
    for fn in (gd.dot, gd.inner, gd.outer, gd.tensordot, gd.kron, gd.cross):
        with pytest.raises(TypeError, match="complex dtypes are not supported yet"):
            fn(x, z)
    with pytest.raises(TypeError, match="complex"):
        gd.trace(z)


def test_contractions_second_order_through_the_einsum_gradient():
    g = gd.Graph()
    a, b = g.input("a", shape=(3, 4)), g.input("b", shape=(4,))
    A, B = arr((3, 4)), arr((4,))
    z = gd.sum(gd.square(gd.dot(a, b))) + gd.trace(gd.tensordot(a, a, ([1], [1])))
    da = gd.grad(z, a)
    z2 = gd.sum(da * arr((3, 4)))
    assert gd.check_grad(z2, [a, b], feed={a: A, b: B}) < 1e-5
    assert gd.check_jvp(da, [a, b], feed={a: A, b: B}) < 1e-5


# ---------------------------------------------------------------- random einsums
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def einsum_specs(draw):
    """Two or three operands over letters a-d (repeats allowed), sizes 1-3 (size-1 axes
    broadcast), an explicit output of distinct letters or the implicit one."""
    sizes = {c: draw(st.integers(2, 3)) for c in "abcd"}
    n = draw(st.integers(1, 3))
    terms = [draw(st.text("abcd", min_size=0, max_size=3)) for _ in range(n)]
    used = sorted(set("".join(terms)))
    explicit = draw(st.booleans())
    out = "".join(draw(st.permutations(used))[:draw(st.integers(0, len(used)))]) \
        if explicit else None
    shapes = [tuple(1 if draw(st.integers(0, 5)) == 0 else sizes[c] for c in t) for t in terms]
    return ",".join(terms) + ("->" + out if explicit else ""), shapes


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(einsum_specs())
def test_random_einsums_match_numpy_with_exact_gradients(spec):
    subscripts, shapes = spec
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=s) for s in shapes]
    try:
        expected = np.einsum(subscripts, *arrays)
    except ValueError:
        # NumPy refuses (a repeated letter whose sizes differ): graphdiff must refuse too.
        g = gd.Graph()
        xs = [g.input(f"x{k}", shape=s) for k, s in enumerate(shapes)]
        with pytest.raises(gd.GraphError):
            gd.einsum(subscripts, *xs)
        return
    g = gd.Graph()
    xs = [g.input(f"x{k}", shape=s) for k, s in enumerate(shapes)]
    out = gd.einsum(subscripts, *xs)
    feed = dict(zip(xs, arrays))
    np.testing.assert_allclose(g.run(out, feed=feed), expected, rtol=1e-12, atol=1e-12)
    assert out.shape == np.shape(expected)
    w = rng.uniform(0.5, 1.5, np.shape(expected))
    gd.check_grad(gd.sum(gd.square(out) * w), xs, feed=feed)
    gd.check_jvp(out, xs, feed=feed)
