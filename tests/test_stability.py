"""Issue 5, numerical stability at extremes: finite values and gradients (first and second
order) wherever the mathematics is finite, with no NumPy warning (underflow to 0 is fine)."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest

import graphdiff as gd

EXTREMES = np.array([-1e3, -745.0, -100.0, -30.0, -1e-8, 0.0, 1e-8, 30.0, 100.0, 745.0, 1e3])


@contextlib.contextmanager
def strict():
    """Any NumPy warning or floating-point fault other than underflow fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            yield


def _run_all_orders(build, value, dtype=np.float64):
    """Value, gradient and a Hessian-vector product of sum(build(x)), all under strict()."""
    g = gd.Graph()
    x = g.input("x", shape=value.shape, dtype=dtype)
    y = build(x)
    z = gd.sum(y)
    dx = gd.grad(z, x)
    hv = gd.grad(gd.sum(dx * np.ones(value.shape, dtype=dtype)), x)
    with strict():
        out = g.run([y, dx, hv], feed={x: value.astype(dtype)})
        out_f = g.function([x], [y, dx, hv])(value.astype(dtype))
    for a, b in zip(out, out_f, strict=True):
        np.testing.assert_array_equal(a, b)
    for arr in out:
        assert np.all(np.isfinite(arr)), out
    return out


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _sigmoid_grad(x):
    e = np.exp(-np.abs(x))
    return e / (1 + e) ** 2


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_at_extremes(dtype):
    with np.errstate(over="ignore", under="ignore"):
        ref = _sigmoid(EXTREMES.astype(np.float64))
    y, dy, d2y = _run_all_orders(gd.sigmoid, EXTREMES, dtype)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-30)
    with np.errstate(under="ignore"):
        dref = _sigmoid_grad(EXTREMES)
    # absolute accuracy relative to the gradient's scale (max 1/4)
    np.testing.assert_allclose(dy, dref, rtol=1e-5, atol=1e-12 if dtype == np.float64 else 1e-6)
    assert y[0] >= 0 and y[-1] == 1.0 and dy[0] >= 0 and dy[-1] >= 0


def test_sigmoid_gradient_is_symmetric_to_full_relative_precision():
    x = np.array([30.0, 100.0, 700.0])
    g = gd.Graph()
    v = g.input("v", shape=(6,))
    d = g.run(gd.grad(gd.sum(gd.sigmoid(v)), v), feed={v: np.concatenate([x, -x])})
    np.testing.assert_allclose(d[:3], d[3:], rtol=1e-9)
    np.testing.assert_allclose(d[3:], _sigmoid_grad(-x), rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softplus_at_extremes(dtype):
    y, dy, d2y = _run_all_orders(gd.softplus, EXTREMES, dtype)
    x = EXTREMES
    with np.errstate(over="ignore", under="ignore"):
        ref = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
    np.testing.assert_allclose(y, ref.astype(dtype), rtol=1e-6, atol=1e-30)
    assert y[-1] == 1e3 and y[0] >= 0
    assert dy[-1] == 1.0 and 0 <= float(dy[0]) < 1e-300
    assert np.all((d2y >= 0) & (d2y <= 0.25))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fn", ["log_softmax", "softmax", "logsumexp_rows", "logsumexp_all"])
def test_softmax_family_at_extremes(fn, dtype):
    logits = np.array([[1e3, -1e3, 0.0], [-1e3, -1e3, -1e3], [1e3, 1e3, 999.0],
                       [0.0, 1e-8, -1e-8]])
    build = {
        "log_softmax": lambda x: gd.log_softmax(x) * np.array([1.0, 2.0, 3.0], dtype=dtype),
        "softmax": lambda x: gd.softmax(x) * np.array([1.0, 2.0, 3.0], dtype=dtype),
        "logsumexp_rows": lambda x: gd.logsumexp(x, axis=1),
        "logsumexp_all": lambda x: gd.logsumexp(x),
    }[fn]
    y, dy, d2y = _run_all_orders(build, logits, dtype)
    if fn == "logsumexp_rows":
        np.testing.assert_allclose(y, [1e3, -1e3 + np.log(3), 1e3 + np.log(2 + np.exp(-1)),
                                       np.log(3)], rtol=1e-6)
    if fn == "log_softmax":
        np.testing.assert_allclose(y[0], [0.0, -2e3 * 2, -1e3 * 3], rtol=1e-6)


def test_log_softmax_values_and_gradient_exact_at_1e3():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    ls = gd.log_softmax(x)
    dx = gd.grad(ls[1], x)
    with strict():
        v, d = g.run([ls, dx], feed={x: np.array([1e3, -1e3])})
    np.testing.assert_allclose(v, [0.0, -2e3])
    np.testing.assert_allclose(d, [-1.0, 1.0])


@pytest.mark.parametrize("x0", [1e-200, 1e-100, 1e-20, 1e-8, 1.0, 1e3])
def test_sqrt_and_log_near_zero_to_second_order(x0):
    # second derivatives -x**-1.5/4 and -1/x**2 stay representable down to 1e-200 / 1e-150
    value = np.array([x0])
    y, dy, d2y = _run_all_orders(gd.sqrt, value)
    np.testing.assert_allclose(y, np.sqrt(value))
    np.testing.assert_allclose(dy, 0.5 / np.sqrt(value))
    np.testing.assert_allclose(d2y, -0.25 * value ** -1.5, rtol=1e-12)
    if x0 >= 1e-150:
        y, dy, d2y = _run_all_orders(gd.log, value)
        np.testing.assert_allclose(y, np.log(value))
        np.testing.assert_allclose(dy, 1 / value)
        np.testing.assert_allclose(d2y, -1 / value ** 2)


def test_sqrt_gradient_near_zero_first_order():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    z = gd.sum(gd.sqrt(x))
    dx = gd.grad(z, x)
    value = np.array([1e-300, 1e-308, 1e-250])
    with strict():
        v, d = g.run([z, dx], feed={x: value})
    assert np.isfinite(v)
    np.testing.assert_allclose(d, 0.5 / np.sqrt(value))


def test_log_gradient_near_zero_first_order():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    z = gd.sum(gd.log(x))
    dx = gd.grad(z, x)
    value = np.array([1e-300, 1e-308, 1e-100])
    with strict():
        v, d = g.run([z, dx], feed={x: value})
    assert np.isfinite(v) and np.all(np.isfinite(d))
    np.testing.assert_allclose(d, 1 / value)


def test_sqrt_at_exactly_zero_forward_is_finite():
    g = gd.Graph()
    x = g.input("x", shape=(1,))
    with strict():
        assert g.run(gd.sqrt(x), feed={x: np.zeros(1)})[0] == 0.0


# ---------------------------------------------------------------- losses
LOGITS = np.array([[1e3, -1e3, 0.0], [-1e3, 1e3, 5.0], [0.0, 0.0, 0.0], [-1e3, -1e3, 1e3]])
LABELS = np.array([1, 0, 2, 0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("loss", ["sce_sparse", "sce_dense", "bce_logits", "bce", "mse", "mae"])
def test_losses_at_extremes(loss, reduction, dtype):
    onehot = np.eye(3, dtype=dtype)[LABELS]
    L = gd.losses
    build = {
        "sce_sparse": lambda x: L.softmax_cross_entropy(x, LABELS, reduction=reduction),
        "sce_dense": lambda x: L.softmax_cross_entropy(x, onehot, reduction=reduction),
        "bce_logits": lambda x: L.binary_cross_entropy_with_logits(x, onehot,
                                                                   reduction=reduction),
        "bce": lambda x: L.binary_cross_entropy(gd.sigmoid(x), onehot, reduction=reduction),
        "mse": lambda x: L.mse(x, onehot * 1e3, reduction=reduction),
        "mae": lambda x: L.mae(x, onehot, reduction=reduction),
    }[loss]
    y, dy, d2y = _run_all_orders(build, LOGITS, dtype)
    if loss == "sce_sparse" and reduction == "none":
        np.testing.assert_allclose(y, [2e3, 2e3, np.log(3), 2e3], rtol=1e-6)
    if loss == "bce_logits" and reduction == "none":
        ref = np.maximum(LOGITS, 0) - LOGITS * onehot + np.log1p(np.exp(-np.abs(LOGITS)))
        np.testing.assert_allclose(y, ref.astype(dtype), rtol=1e-6, atol=1e-6)


def test_bce_on_probabilities_exactly_zero_and_one():
    g = gd.Graph()
    p = g.input("p", shape=(4,))
    t = np.array([0.0, 1.0, 1.0, 0.0])
    loss = gd.losses.binary_cross_entropy(p, t)
    dp = gd.grad(loss, p)
    with strict():
        v, d = g.run([loss, dp], feed={p: np.array([0.0, 1.0, 0.0, 1.0])})
    assert np.isfinite(v) and np.all(np.isfinite(d))
    assert v > 10  # two confidently wrong entries: large but finite


def test_bce_with_logits_gradient_at_zero_is_sigmoid_minus_target():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    t = np.array([0.0, 1.0, 0.5])
    loss = gd.losses.binary_cross_entropy_with_logits(x, t, reduction="sum")
    with strict():
        d = g.run(gd.grad(loss, x), feed={x: np.zeros(3)})
    np.testing.assert_allclose(d, 0.5 - t)


def test_softmax_cross_entropy_gradient_saturates_exactly():
    g = gd.Graph()
    x = g.input("x", shape=(1, 3))
    loss = gd.losses.softmax_cross_entropy(x, np.array([1]), reduction="sum")
    with strict():
        d = g.run(gd.grad(loss, x), feed={x: np.array([[1e3, -1e3, 0.0]])})
    np.testing.assert_allclose(d, [[1.0, -1.0, 0.0]], atol=1e-300)
