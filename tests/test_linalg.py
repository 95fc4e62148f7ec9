"""gd.linalg against numpy.linalg: values, static shapes and dtypes over batched shapes,
errors, the triangle conventions of eigh and cholesky, degenerate spectra, gauge-invariant
svd results, the 2-norm at 0, and closed-form gradients of the stable forms."""

from __future__ import annotations

import numpy as np
import pytest
from op_specs import rank_deficient, spd, svd_distinct, sym_distinct, wellcond

import graphdiff as gd


def _run(fn, *arrays, dtype=None):
    """(nodes built by fn from inputs of the arrays' shapes, their values)."""
    g = gd.Graph()
    nodes = [g.input(f"x{k}", shape=a.shape, dtype=a.dtype) for k, a in enumerate(arrays)]
    out = fn(*nodes)
    outs = list(out) if isinstance(out, tuple) else [out]
    values = g.run(outs, feed=dict(zip(nodes, arrays, strict=True)))
    return outs, values


def _same(outs, values, expected):
    expected = list(expected) if isinstance(expected, tuple) else [expected]
    assert len(outs) == len(expected)
    for node, value, ref in zip(outs, values, expected, strict=True):
        ref = np.asarray(ref)
        assert value.shape == ref.shape and node.shape == ref.shape
        assert value.dtype == ref.dtype and node.dtype == ref.dtype
        np.testing.assert_allclose(value, ref, rtol=1e-9 if ref.dtype == np.float64 else 1e-4,
                                   atol=1e-10 if ref.dtype == np.float64 else 1e-5)


RNG = np.random.default_rng(7)
SQUARE_SHAPES = [(1, 1), (3, 3), (2, 4, 4), (2, 1, 3, 3)]
RECT_SHAPES = [(3, 3), (5, 3), (3, 5), (2, 4, 2), (2, 2, 3, 4)]


@pytest.mark.parametrize("shape", SQUARE_SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["inv", "det", "slogdet"])
def test_square_functions_match_numpy(name, dtype, shape):
    a = wellcond(RNG, shape).astype(dtype)
    fn = getattr(gd.linalg, name)
    _same(*_run(fn, a), getattr(np.linalg, name)(a))


@pytest.mark.parametrize("shape", SQUARE_SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_decompositions_of_symmetric_matrices_match_numpy(dtype, shape):
    a = spd(RNG, shape).astype(dtype)
    _same(*_run(gd.linalg.cholesky, a), np.linalg.cholesky(a))
    _same(*_run(lambda x: gd.linalg.cholesky(x, upper=True), a), np.linalg.cholesky(a, upper=True))
    for uplo in "LU":
        _same(*_run(lambda x, u=uplo: gd.linalg.eigh(x, UPLO=u), a), np.linalg.eigh(a, UPLO=uplo))


@pytest.mark.parametrize("shape", RECT_SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_svd_qr_pinv_match_numpy(dtype, shape):
    a = RNG.standard_normal(shape).astype(dtype)
    _same(*_run(gd.linalg.svd, a), np.linalg.svd(a))
    _same(*_run(lambda x: gd.linalg.svd(x, full_matrices=False), a),
          np.linalg.svd(a, full_matrices=False))
    _same(*_run(lambda x: gd.linalg.svd(x, compute_uv=False), a),
          np.linalg.svd(a, compute_uv=False))
    _same(*_run(gd.linalg.qr, a), tuple(np.linalg.qr(a)))
    _same(*_run(lambda x: gd.linalg.qr(x, mode="r"), a), np.linalg.qr(a, mode="r"))
    _same(*_run(gd.linalg.pinv, a), np.linalg.pinv(a))
    _same(*_run(lambda x: gd.linalg.pinv(x, rtol=None), a), np.linalg.pinv(a, rtol=None))


@pytest.mark.parametrize("a_shape, b_shape", [((3, 3), (3,)), ((3, 3), (3, 2)),
                                              ((2, 3, 3), (3,)), ((2, 3, 3), (2, 3, 1)),
                                              ((2, 1, 3, 3), (4, 3, 2)), ((3, 3), (2, 3, 4))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_solve_matches_numpy_with_numpy2_b_rules(a_shape, b_shape, dtype):
    a = wellcond(RNG, a_shape).astype(dtype)
    b = RNG.standard_normal(b_shape).astype(dtype)
    _same(*_run(gd.linalg.solve, a, b), np.linalg.solve(a, b))


def test_solve_treats_a_2d_b_as_a_matrix_even_when_a_is_batched():
    g = gd.Graph()
    a, b = g.input("a", shape=(2, 3, 3)), g.input("b", shape=(2, 3))
    with pytest.raises(gd.GraphError, match="solve"):
        gd.linalg.solve(a, b)   # (2, 3) is one 2x3 matrix, as in NumPy 2: 3 != 2
    with pytest.raises(ValueError):
        np.linalg.solve(np.ones((2, 3, 3)), np.ones((2, 3)))


def test_integer_inputs_promote_to_float64():
    a = np.array([[2, 1], [1, 3]])
    for name in ["inv", "det", "pinv"]:
        _same(*_run(getattr(gd.linalg, name), a), getattr(np.linalg, name)(a))
    _same(*_run(gd.linalg.eigh, a), np.linalg.eigh(a))
    _same(*_run(gd.linalg.norm, a), np.linalg.norm(a))
    _same(*_run(lambda x: gd.linalg.norm(x, 1), a), np.linalg.norm(a, 1))


NORM_CASES = ([(None, None), (2, 0), (1, -1), (np.inf, 1), (-np.inf, 0), (0, 1), (3, -1),
               (0.5, 0), (-2.5, 1)]
              + [(o, ax) for o in (None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf)
                 for ax in ((0, 1), (1, 0), (-1, -3), (2, 0))])


@pytest.mark.parametrize("ord_, axis", NORM_CASES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_norm_matches_numpy(ord_, axis, keepdims, dtype):
    x = RNG.standard_normal((3, 4, 2)).astype(dtype)
    _same(*_run(lambda v: gd.linalg.norm(v, ord_, axis, keepdims), x),
          np.linalg.norm(x, ord_, axis, keepdims))


@pytest.mark.parametrize("ord_", [None, 1, 2, -1, -2, np.inf, -np.inf, "fro", "nuc", 3, 0])
def test_norm_without_axis_matches_numpy(ord_):
    for shape in ([(3, 4)] if isinstance(ord_, str) or ord_ in (-2, -1) else [(5,), (3, 4)]):
        if shape == (3, 4) and ord_ in (3, 0):
            continue
        x = RNG.standard_normal(shape)
        for keep in (False, True):
            _same(*_run(lambda v, k=keep: gd.linalg.norm(v, ord_, keepdims=k), x),
                  np.linalg.norm(x, ord_, keepdims=keep))
    x = RNG.standard_normal((2, 3, 4))
    _same(*_run(gd.linalg.norm, x), np.linalg.norm(x))


# ---------------------------------------------------------------- errors
def _graph_input(shape, dtype=np.float64):
    return gd.Graph().input("x", shape=shape, dtype=dtype)


@pytest.mark.parametrize("name", ["inv", "det", "slogdet", "eigh", "cholesky"])
def test_non_square_and_vector_inputs_raise_at_build_time(name):
    fn = getattr(gd.linalg, name)
    with pytest.raises(gd.GraphError, match="square") as info:
        fn(_graph_input((2, 3)))
    assert "test_linalg.py" in str(info.value)      # the user's file:line
    with pytest.raises(gd.GraphError, match="two-dimensional"):
        fn(_graph_input((3,)))


@pytest.mark.parametrize("name", ["inv", "det", "slogdet", "eigh", "cholesky", "svd", "qr",
                                  "pinv", "norm"])
def test_complex_and_float16_raise_type_error(name):
    fn = getattr(gd.linalg, name)
    with pytest.raises(TypeError, match="complex dtypes are not supported yet"):
        fn(_graph_input((2, 2), np.complex128))
    with pytest.raises(TypeError, match="float16"):
        fn(_graph_input((2, 2), np.float16))


def test_norm_argument_errors():
    x = _graph_input((3, 4, 2))
    with pytest.raises(gd.GraphError, match="invalid norm order 'fro' for vectors"):
        gd.linalg.norm(x, "fro", axis=0)
    with pytest.raises(gd.GraphError, match="invalid norm order 3 for matrices"):
        gd.linalg.norm(x, 3, axis=(0, 1))
    with pytest.raises(gd.GraphError, match="duplicate axes"):
        gd.linalg.norm(x, axis=(1, -2))
    with pytest.raises(gd.GraphError, match="improper number of dimensions"):
        gd.linalg.norm(x, axis=(0, 1, 2))
    with pytest.raises(gd.GraphError, match="improper number of dimensions"):
        gd.linalg.norm(x, 2)
    with pytest.raises(gd.GraphError, match="out of bounds"):
        gd.linalg.norm(x, axis=3)
    with pytest.raises(TypeError, match="axis"):
        gd.linalg.norm(x, axis=1.5)


def test_other_argument_errors():
    x = _graph_input((3, 3))
    with pytest.raises(gd.GraphError, match="UPLO"):
        gd.linalg.eigh(x, UPLO="X")
    with pytest.raises(gd.GraphError, match="mode"):
        gd.linalg.qr(x, mode="complete")
    with pytest.raises(gd.GraphError, match="rtol"):
        gd.linalg.pinv(x, rcond=1e-3, rtol=1e-3)
    with pytest.raises(gd.GraphError, match="align"):
        gd.linalg.solve(x, x.graph.input("b", shape=(4,)))


def test_qr_gradient_of_wide_inputs_matches_differences():
    a = RNG.standard_normal((2, 3))
    g = gd.Graph()
    x = g.input("a", shape=(2, 3))
    q, r = gd.linalg.qr(x)
    z = gd.sum(q * RNG.standard_normal((2, 2))) + gd.sum(r * RNG.standard_normal((2, 3)))
    assert gd.check_grad(z, x, feed={x: a}) < 1e-6
    assert gd.check_jvp(z, x, feed={x: a}) < 1e-6


def test_qr_gradient_needs_a_known_core_shape():
    g = gd.Graph()
    a = g.input("a", shape=(None, 3))
    with pytest.raises(gd.GradError, match="shape to be known"):
        gd.grad(gd.sum(gd.linalg.qr(a)[1]), a)


# ---------------------------------------------------------------- gradients
def _grad(fn, a):
    g = gd.Graph()
    x = g.input("a", shape=a.shape)
    return g.run(gd.grad(fn(x), x), feed={x: a})


@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_gradient_lives_on_the_read_triangle(uplo):
    a = sym_distinct(RNG, (4, 4)) + np.triu(RNG.standard_normal((4, 4)), 1)  # upper is noise
    if uplo == "U":
        a = a.T.copy()
    c = RNG.standard_normal(4)
    da = _grad(lambda x: gd.sum(gd.linalg.eigh(x, UPLO=uplo)[0] * c), a)
    unread = np.triu(da, 1) if uplo == "L" else np.tril(da, -1)
    assert not np.any(unread)
    # dw = V^T dA V on the symmetric matrix: tril(G + G^T) - diag(G) with G = V diag(c) V^T.
    w, v = np.linalg.eigh(a, UPLO=uplo)
    gs = (v * c) @ v.T
    expected = np.tril(gs + gs.T) - np.diag(np.diag(gs))
    np.testing.assert_allclose(da, expected if uplo == "L" else expected.T, atol=1e-12)


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_gradient_lives_on_the_read_triangle(upper):
    a = spd(RNG, (4, 4))
    w = RNG.standard_normal((4, 4))
    da = _grad(lambda x: gd.sum(gd.linalg.cholesky(x, upper=upper) * w), a)
    assert not np.any(np.tril(da, -1) if upper else np.triu(da, 1))


def test_eigh_degenerate_spectrum_gauge_invariant_losses():
    """Repeated eigenvalues: F's infinite entries are masked to 0, so functions of the
    eigenvalues get their exact, finite gradient (d sum f(w) = f'(A))."""
    a = np.diag([1.0, 1.0, 2.0, 2.0])
    q = np.linalg.qr(RNG.standard_normal((4, 4)))[0]
    for mat in (a, np.eye(3)):
        da = _grad(lambda x: gd.sum(gd.exp(gd.linalg.eigh(x)[0])), mat)
        assert np.all(np.isfinite(da))
        w, v = np.linalg.eigh(mat)
        gs = (v * np.exp(w)) @ v.T                      # f'(A) for f = exp
        np.testing.assert_allclose(da, np.tril(2 * gs) - np.diag(np.diag(gs)), atol=1e-12)
    # Rotated: q diag(1,1,2,2) q^T keeps the repeated pairs; the sum of eigenvalues is the
    # trace, whose gradient on the lower triangle is the identity.
    rotated = q @ a @ q.T
    da = _grad(lambda x: gd.sum(gd.linalg.eigh(x)[0]), rotated)
    np.testing.assert_allclose(da, np.eye(4), atol=1e-12)
    # Eigenvector-dependent but gauge-invariant, on the distinct spectrum: v diag(w) v^T = A.
    b = sym_distinct(RNG, (3, 3))
    wts = RNG.standard_normal((3, 3))

    def rebuild(x):
        w_, v_ = gd.linalg.eigh(x)
        return gd.sum(gd.matmul(v_ * gd.functional.expand_dims(w_, (-2,)), v_.T) * wts)

    da = _grad(rebuild, b)
    np.testing.assert_allclose(da, np.tril(wts + wts.T) - np.diag(np.diag(wts)), atol=1e-10)


def test_svd_gauge_invariant_gradients():
    a = svd_distinct(RNG, (4, 3))
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    # d sum(S) = U Vh (the nuclear norm's gradient)
    np.testing.assert_allclose(_grad(lambda x: gd.sum(gd.linalg.svd(x, compute_uv=False)), a),
                               u @ vh, atol=1e-12)
    np.testing.assert_allclose(_grad(lambda x: gd.linalg.norm(x, "nuc"), a), u @ vh, atol=1e-12)
    # U diag(S) Vh from the full svd is A itself: its gradient is the weights.
    wts = RNG.standard_normal((4, 3))

    def rebuild(x):
        uu, ss, vvh = gd.linalg.svd(x)
        return gd.sum(gd.matmul(uu[:, :3] * ss, vvh) * wts)

    np.testing.assert_allclose(_grad(rebuild, a), wts, atol=1e-10)
    # |U| is invariant to the sign of each singular pair.
    g = gd.Graph()
    x = g.input("a", shape=(4, 3))
    z = gd.sum(gd.abs(gd.linalg.svd(x, full_matrices=False)[0]) * wts)
    assert gd.check_grad(z, x, feed={x: a}) < 1e-5


def test_svd_repeated_singular_values_give_finite_value_gradients():
    a = np.diag([2.0, 2.0, 1.0])
    da = _grad(lambda x: gd.sum(gd.square(gd.linalg.svd(x, compute_uv=False))), a)
    np.testing.assert_allclose(da, 2 * a, atol=1e-12)      # d ||A||_F^2 = 2 A


def test_norm_gradient_at_zero_is_zero():
    for shape, kw in [((3,), {}), ((2, 3), {"ord": "fro"}), ((2, 3), {"axis": 1})]:
        z = np.zeros(shape)
        da = _grad(lambda x, k=kw: gd.sum(gd.linalg.norm(x, **k)), z)
        assert np.all(da == 0)
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(_grad(lambda v: gd.sum(gd.linalg.norm(v, axis=1)), x),
                               [[0, 0], [0.6, 0.8]])


def test_closed_form_gradients_of_the_stable_forms():
    a = wellcond(RNG, (3, 3))
    ainv = np.linalg.inv(a)
    gw = RNG.standard_normal((3, 3))
    np.testing.assert_allclose(_grad(gd.linalg.det, a), np.linalg.det(a) * ainv.T, rtol=1e-12)
    np.testing.assert_allclose(_grad(lambda x: gd.linalg.slogdet(x)[1], a), ainv.T,
                               rtol=1e-12)
    np.testing.assert_allclose(_grad(lambda x: gd.sum(gd.linalg.inv(x) * gw), a),
                               -ainv.T @ gw @ ainv.T, rtol=1e-10)
    b = RNG.standard_normal((3, 2))
    g = gd.Graph()
    x, y = g.input("a", shape=(3, 3)), g.input("b", shape=(3, 2))
    wts = RNG.standard_normal((3, 2))
    da, db = g.run(gd.grad(gd.sum(gd.linalg.solve(x, y) * wts), [x, y]), feed={x: a, y: b})
    np.testing.assert_allclose(db, np.linalg.solve(a.T, wts), rtol=1e-10)
    np.testing.assert_allclose(da, -db @ np.linalg.solve(a, b).T, rtol=1e-10)


def test_slogdet_handles_determinants_that_overflow():
    a = 1e3 * np.eye(120)
    g = gd.Graph()
    x = g.input("a", shape=a.shape)
    sign, logdet = gd.linalg.slogdet(x)
    s, ld, da = g.run([sign, logdet, gd.grad(logdet, x)], feed={x: a})
    assert s == 1.0 and np.isclose(ld, 120 * np.log(1e3))
    np.testing.assert_allclose(da, 1e-3 * np.eye(120))


def test_pinv_rank_deficient_gradient_matches_differences():
    a = rank_deficient(RNG, (4, 3))
    g = gd.Graph()
    x = g.input("a", shape=a.shape)
    p = gd.linalg.pinv(x, rcond=1e-3)
    np.testing.assert_allclose(g.run(p, feed={x: a}), np.linalg.pinv(a), atol=1e-12)
    z = gd.sum(p * RNG.standard_normal((3, 4)))
    assert gd.check_grad(z, x, feed={x: a}) < 1e-5


def test_second_order_and_forward_mode_on_batches():
    a = spd(RNG, (2, 3, 3))
    g = gd.Graph()
    x = g.input("a", shape=a.shape)
    l_ = gd.linalg.cholesky(x)
    w, v = gd.linalg.eigh(x)
    z = gd.sum(gd.square(l_)) + gd.sum(gd.sin(w)) + gd.linalg.slogdet(x)[1].sum()
    dx = gd.grad(z, x)
    assert gd.check_grad(gd.sum(dx * RNG.standard_normal(a.shape)), x, feed={x: a}) < 1e-5
    assert gd.check_jvp(z, x, feed={x: a}) < 1e-5
    assert gd.check_jvp(dx, x, feed={x: a}) < 1e-5
