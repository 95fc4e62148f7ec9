"""The NumPy reductions, running reductions and sort: values, static shapes and dtypes
against NumPy over axes, keepdims and dtypes; build-time errors; gradients at zeros, at
zero variance and at ties."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphdiff as gd

AXES = [None, 0, 1, -1, (0, 2), (-1, 0), ()]
DTYPES = ["float64", "float32", "int8", "int32", "uint8", "bool"]


def _sample(dtype, shape, rng):
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) > 0.5
    if dtype.kind in "iu":
        return rng.integers(0 if dtype.kind == "u" else -2, 3, shape).astype(dtype)
    return rng.uniform(-2, 2, shape).astype(dtype)


def _run(fn, X, declared=None):
    g = gd.Graph()
    x = g.input("x", shape=X.shape if declared is None else declared, dtype=X.dtype)
    out = fn(x)
    with np.errstate(all="ignore"):
        return out, g.run(out, feed={x: X})


def _check(fn, ref, X, rtol=1e-6):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's "degrees of freedom <= 0"
        expected = np.asarray(ref(X))
    out, value = _run(fn, X)
    assert out.dtype == value.dtype == expected.dtype, (out.dtype, value.dtype, expected.dtype)
    assert out.shape == np.shape(value) == expected.shape
    np.testing.assert_allclose(value, expected, rtol=rtol, equal_nan=True)
    dyn, value = _run(fn, X, declared=(None,) * X.ndim)
    assert dyn.ndim is None or dyn.ndim == expected.ndim
    np.testing.assert_allclose(value, expected, rtol=rtol, equal_nan=True)


@pytest.mark.parametrize("name", ["prod", "var", "std", "any", "all"])
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_reductions_match_numpy(name, axis, keepdims, dtype):
    X = _sample(dtype, (2, 3, 4), np.random.default_rng(3))
    fn, ref = getattr(gd, name), getattr(np, name)
    _check(lambda x: fn(x, axis=axis, keepdims=keepdims),
           lambda a: ref(a, axis=axis, keepdims=keepdims), X)


@pytest.mark.parametrize("ddof", [0, 1, 2])
@pytest.mark.parametrize("name", ["var", "std"])
def test_ddof_and_dtype_arguments(name, ddof):
    X = _sample("float64", (3, 4), np.random.default_rng(ddof))
    fn, ref = getattr(gd, name), getattr(np, name)
    _check(lambda x: fn(x, axis=1, ddof=ddof), lambda a: ref(a, axis=1, ddof=ddof), X)
    _check(lambda x: fn(x, dtype="float32"), lambda a: ref(a, dtype="float32"), X)
    # n == ddof: NumPy's 0 / 0 = nan (with a warning), not an error at build time.
    _check(lambda x: fn(x, axis=0, ddof=3), lambda a: ref(a, axis=0, ddof=3), X)


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, -3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_running_reductions_match_numpy(name, axis, dtype):
    X = _sample(dtype, (2, 3, 4), np.random.default_rng(5))
    fn, ref = getattr(gd, name), getattr(np, name)
    _check(lambda x: fn(x, axis=axis), lambda a: ref(a, axis=axis), X)
    _check(lambda x: fn(x, axis=axis, dtype="float32"),
           lambda a: ref(a, axis=axis, dtype="float32"), X)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_arg_reductions_match_numpy(name, axis, keepdims, dtype):
    X = _sample(dtype, (2, 3, 4), np.random.default_rng(7))  # ties: the first index wins
    fn, ref = getattr(gd, name), getattr(np, name)
    _check(lambda x: fn(x, axis=axis, keepdims=keepdims),
           lambda a: ref(a, axis=axis, keepdims=keepdims), X)


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", [None, "stable", "mergesort", "heapsort"])
def test_sort_and_argsort_match_numpy(axis, dtype, kind):
    X = _sample(dtype, (3, 2, 5), np.random.default_rng(9))
    if kind in (None, "stable", "mergesort"):  # deterministic orders for argsort's ties
        _check(lambda x: gd.argsort(x, axis=axis, kind=kind),
               lambda a: np.argsort(a, axis=axis, kind=kind), X)
    _check(lambda x: gd.sort(x, axis=axis, kind=kind), lambda a: np.sort(a, axis=axis, kind=kind),
           X)
    _check(lambda x: gd.argsort(x, axis=axis, stable=True),
           lambda a: np.argsort(a, axis=axis, stable=True), X)


def test_zero_dimensional_inputs():
    X = np.array(2.5)
    for name in ("prod", "var", "std", "any", "all", "argmax", "argmin", "cumsum", "cumprod"):
        _check(getattr(gd, name), getattr(np, name), X)


# ---------------------------------------------------------------- errors at build time
def test_axis_errors_name_the_function_and_the_line():
    g = gd.Graph()
    x = g.input("x", shape=(2, 3))
    for make in (lambda: gd.prod(x, axis=2), lambda: gd.var(x, axis=(0, 0)),
                 lambda: gd.cumsum(x, axis=-3), lambda: gd.argmax(x, axis=5),
                 lambda: gd.any(x, axis=3), lambda: gd.sort(x, axis=2)):
        with pytest.raises(gd.GraphError, match=r"test_numpy_reduce\.py"):
            make()


def test_bad_argument_types_raise_type_error():
    g = gd.Graph()
    x = g.input("x", shape=(2, 3))
    for make in (lambda: gd.argmax(x, axis=(0, 1)), lambda: gd.cumsum(x, axis=(0,)),
                 lambda: gd.sort(x, axis=1.0), lambda: gd.sort(x, order="f")):
        with pytest.raises(TypeError):
            make()
    with pytest.raises(ValueError, match="sort"):
        gd.sort(x, kind="bogus")
    with pytest.raises(ValueError, match="argsort"):
        gd.argsort(x, kind="stable", stable=True)  # NumPy refuses both at once


@pytest.mark.parametrize("name", ["prod", "var", "std", "cumsum", "cumprod", "argmax", "argmin",
                                  "sort", "argsort"])
def test_complex_operands_raise_type_error(name):
    g = gd.Graph()
    z = g.constant(np.array([1j, 2.0]))
    with pytest.raises(TypeError, match="complex dtypes are not supported yet"):
        getattr(gd, name)(z)


# ---------------------------------------------------------------- gradient conventions
def _grad(y_of_x, X, weights=None):
    g = gd.Graph()
    x = g.input("x", shape=X.shape)
    y = y_of_x(x)
    z = gd.sum(y if weights is None else y * weights)
    return g, x, z, g.run(gd.grad(z, x), feed={x: X})


def _others(X, axis):
    """Brute force: the product of the other entries along axis, for each entry."""
    out = np.empty_like(X)
    for idx in np.ndindex(X.shape):
        sel = list(idx)
        sel[axis] = slice(None)
        line = X[tuple(sel)].copy()
        line[idx[axis]] = 1.0
        out[idx] = np.prod(line)
    return out


def test_prod_gradient_with_zeros_is_exact():
    X = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [0.0, 0.0, 0.0], [1.5, -2.0, 0.5]])
    g, x, z, dx = _grad(lambda x: gd.prod(x, axis=1), X)
    np.testing.assert_array_equal(dx, _others(X, 1))
    assert np.isfinite(dx).all()
    gd.check_grad(z, x, feed={x: X})
    d2 = gd.grad(z, x)
    gd.check_grad(gd.sum(d2 * np.arange(12.0).reshape(4, 3)), x, feed={x: X})
    gd.check_jvp(gd.prod(x, axis=1), x, feed={x: X})


def test_cumprod_gradient_with_zeros_is_exact_and_finite():
    X = np.array([[2.0, 0.0, 3.0, 0.0, 5.0], [1.5, 2.0, -1.0, 0.5, 2.0],
                  [0.0, 0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0, 0.0]])
    W = np.arange(1.0, 21.0).reshape(4, 5)
    g, x, z, dx = _grad(lambda x: gd.cumprod(x, axis=1), X, W)
    # Brute force: d/dx_i sum_k w_k prod_{j<=k} x_j = sum_{k>=i} w_k prod_{j<=k, j!=i} x_j.
    expected = np.zeros_like(X)
    for r in range(4):
        for i in range(5):
            for k in range(i, 5):
                line = X[r, :k + 1].copy()
                line[i] = 1.0
                expected[r, i] += W[r, k] * np.prod(line)
    np.testing.assert_allclose(dx, expected, rtol=1e-12)
    gd.check_grad(z, x, feed={x: X})
    gd.check_grad(gd.sum(gd.grad(z, x) * W[::-1]), x, feed={x: X})  # second order at zeros
    gd.check_jvp(gd.cumprod(x, axis=1), x, feed={x: X})


def test_std_gradient_at_zero_variance_is_zero():
    X = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]])
    g, x, z, dx = _grad(lambda x: gd.std(x, axis=1), X)
    assert np.isfinite(dx).all()
    np.testing.assert_array_equal(dx[0], 0.0)
    gd.check_grad(gd.sum(gd.std(x[1:], axis=1)), x, feed={x: X})
    np.testing.assert_allclose(g.run(gd.std(x, axis=1), feed={x: X}), np.std(X, axis=1))


def test_var_is_two_pass_accurate_far_from_zero():
    X = 1e8 + np.array([0.0, 1.0, 2.0, 3.0])
    _, value = _run(gd.var, X)
    np.testing.assert_allclose(value, 1.25, rtol=1e-9)  # E[x^2] - E[x]^2 would lose it all


def test_sort_gradient_follows_the_permutation():
    X = np.array([[3.0, 1.0, 2.0], [0.5, 0.25, 1.0]])
    W = np.array([[10.0, 20.0, 30.0], [1.0, 2.0, 3.0]])
    _, _, _, dx = _grad(lambda x: gd.sort(x, axis=1), X, W)
    # the smallest entry gets the first weight, and so on
    np.testing.assert_array_equal(dx, [[30.0, 10.0, 20.0], [2.0, 1.0, 3.0]])
    _, _, _, dx0 = _grad(lambda x: gd.sort(x, axis=0), X, W)
    np.testing.assert_array_equal(dx0, [[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
    _, _, _, dflat = _grad(lambda x: gd.sort(x, axis=None), X, np.arange(6.0))
    np.testing.assert_array_equal(dflat, np.argsort(np.argsort(X, axis=None)).reshape(2, 3))


def test_sort_ties_send_the_gradient_in_stable_order():
    X = np.array([1.0, 1.0, 0.0])
    _, _, _, dx = _grad(lambda x: gd.sort(x, stable=True), X, np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(dx, [2.0, 3.0, 1.0])


def test_sort_float32_and_its_gradient_stay_float32():
    g = gd.Graph()
    x = g.input("x", shape=(4,), dtype="float32")
    y = gd.sort(x)
    dx = gd.grad(gd.sum(y * np.arange(4, dtype=np.float32)), x)
    value = g.run(dx, feed={x: np.array([3, 1, 2, 0], np.float32)})
    assert y.dtype == dx.dtype == value.dtype == np.float32
    np.testing.assert_array_equal(value, [3, 1, 2, 0])


def test_integer_results_carry_no_gradient():
    g = gd.Graph()
    x = g.input("x", shape=(3, 4))
    X = np.random.default_rng(0).standard_normal((3, 4))
    idx = gd.argmax(x, axis=1)
    order = gd.argsort(x)
    for node in (idx, order, gd.any(x > 0), gd.all(x > 0, axis=0)):
        assert not node.op.differentiable
    z = gd.sum(x) + gd.sum(gd.astype(idx, "float64")) + gd.sum(gd.astype(order, "float64"))
    np.testing.assert_array_equal(g.run(gd.grad(z, x), feed={x: X}), np.ones((3, 4)))


def test_new_ops_save_load_and_compile():
    from graphdiff.io import load_graph, save_graph

    g = gd.Graph()
    x = g.input("x", shape=(3, 4))
    y = (gd.sum(gd.sort(gd.tan(x) * gd.astype(x, "float32"), axis=0))
         + gd.sum(gd.cumprod(x, axis=1)) + gd.std(x, ddof=1) + gd.sum(gd.prod(x, axis=0))
         + gd.sum(gd.nan_to_num(gd.fmax(x, 0.1), posinf=3.0))
         + gd.sum(gd.where(gd.logical_and(gd.any(x > 0, axis=0), True), 1.0, 0.0))
         + gd.sum(gd.astype(gd.argmax(x, axis=1), "float64")))
    d = gd.grad(y, x)
    X = np.random.default_rng(0).standard_normal((3, 4))
    expected = g.run([y, d], feed={x: X})
    with __import__("tempfile").TemporaryDirectory() as tmp:
        path = f"{tmp}/g.json"
        save_graph(g, path)
        g2 = load_graph(path)
    nodes = g2.nodes
    again = g2.run([nodes[y.index], nodes[d.index]], feed={g2.find("x"): X})
    compiled = g.function([x], [y, d])(X)
    for a, b, c in zip(expected, again, compiled):
        np.testing.assert_allclose(a, b, rtol=1e-12)
        np.testing.assert_allclose(a, c, rtol=1e-12)
