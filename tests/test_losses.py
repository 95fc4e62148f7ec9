"""gd.losses against closed forms, their gradients, reductions, and stability at
|logits| = 1e3 with NumPy overflow, division and invalid-value warnings as errors."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import graphdiff as gd

HERE = os.path.basename(__file__)

P = np.array([[0.2, -1.0, 0.5], [1.5, 0.0, -0.3]])
T = np.array([[0.0, -0.5, 1.0], [1.0, 0.5, 0.0]])


def _run_loss(fn, pred, target, reduction="mean", target_as_input=False):
    g = gd.Graph()
    p = g.input("p", shape=pred.shape)
    t = g.input("t", shape=target.shape, dtype=target.dtype) if target_as_input else target
    loss = fn(p, t, reduction=reduction)
    feed = {p: pred}
    if target_as_input:
        feed[t] = target
    value, dp = g.run([loss, gd.grad(gd.sum(loss), p)], feed=feed)
    return value, dp


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


@pytest.mark.parametrize("reduction, scale", [("mean", 1 / 6), ("sum", 1.0)])
def test_mse_mae_closed_forms(reduction, scale):
    v, d = _run_loss(gd.losses.mse, P, T, reduction)
    np.testing.assert_allclose(v, ((P - T) ** 2).sum() * scale, rtol=1e-12)
    np.testing.assert_allclose(d, 2 * (P - T) * scale, rtol=1e-12)
    v, d = _run_loss(gd.losses.mae, P, T, reduction)
    np.testing.assert_allclose(v, np.abs(P - T).sum() * scale, rtol=1e-12)
    np.testing.assert_allclose(d, np.sign(P - T) * scale, rtol=1e-12)


def test_reduction_none_is_elementwise():
    v, d = _run_loss(gd.losses.mse, P, T, "none")
    assert v.shape == P.shape
    np.testing.assert_allclose(v, (P - T) ** 2)
    prob = _sigmoid(P)
    v, _ = _run_loss(gd.losses.binary_cross_entropy, prob, np.clip(T, 0, 1), "none")
    assert v.shape == P.shape


def test_binary_cross_entropy_closed_form():
    prob, t = _sigmoid(P), np.clip(T, 0, 1)
    v, d = _run_loss(gd.losses.binary_cross_entropy, prob, t)
    np.testing.assert_allclose(v, np.mean(-(t * np.log(prob) + (1 - t) * np.log(1 - prob))),
                               rtol=1e-12)
    np.testing.assert_allclose(d, (prob - t) / (prob * (1 - prob)) / prob.size, rtol=1e-10)


def test_binary_cross_entropy_at_exact_zero_and_one_is_finite():
    prob = np.array([0.0, 1.0, 0.0, 1.0])
    t = np.array([0.0, 1.0, 1.0, 0.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        v, d = _run_loss(gd.losses.binary_cross_entropy, prob, t, "none")
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(d))
    assert v[0] < 1e-12 and v[1] < 1e-12 and v[2] > 30 and v[3] > 30


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_with_logits_closed_form(reduction):
    t = np.clip(T, 0, 1)
    v, d = _run_loss(gd.losses.binary_cross_entropy_with_logits, P, t, reduction,
                     target_as_input=True)
    elem = np.log1p(np.exp(P)) - P * t
    scale = 1 / P.size if reduction == "mean" else 1.0
    expected = elem if reduction == "none" else elem.sum() * scale
    np.testing.assert_allclose(v, expected, rtol=1e-12)
    np.testing.assert_allclose(d, (_sigmoid(P) - t) * scale, rtol=1e-12)


def test_bce_with_logits_gradient_at_zero_logit():
    # the pitfall of relu(l) - l t + softplus(-|l|): at l = 0 the gradient must be 1/2 - t
    t = np.array([0.0, 1.0, 0.3])
    _, d = _run_loss(gd.losses.binary_cross_entropy_with_logits, np.zeros(3), t, "sum")
    np.testing.assert_allclose(d, 0.5 - t, rtol=1e-14)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_softmax_cross_entropy_int_and_dense_labels(reduction):
    Z = np.array([[1.0, 2.0, 0.5, -1.0], [0.0, 0.3, -0.2, 2.0], [3.0, 1.0, 1.0, 1.0]])
    y = np.array([1, 3, 0])
    onehot = np.eye(4)[y]
    s = np.exp(Z) / np.exp(Z).sum(1, keepdims=True)
    rows = -np.log(s[np.arange(3), y])
    scale = 1 / 3 if reduction == "mean" else 1.0
    expected = rows if reduction == "none" else rows.sum() * scale
    for labels in (y, onehot):
        v, d = _run_loss(gd.losses.softmax_cross_entropy, Z, labels, reduction)
        assert np.shape(v) == np.shape(expected)
        np.testing.assert_allclose(v, expected, rtol=1e-12)
        np.testing.assert_allclose(d, (s - onehot) * scale, rtol=1e-12, atol=1e-15)


def test_softmax_cross_entropy_soft_labels_gradient_wrt_labels():
    g = gd.Graph()
    z = g.input("z", shape=(2, 3))
    t = g.input("t", shape=(2, 3))
    Z = np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 2.0]])
    Tv = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    loss = gd.losses.softmax_cross_entropy(z, t, reduction="sum")
    dt = g.run(gd.grad(loss, t), feed={z: Z, t: Tv})
    logp = Z - np.log(np.exp(Z).sum(1, keepdims=True))
    np.testing.assert_allclose(dt, -logp, rtol=1e-12)
    gd.check_grad(loss, [z, t], feed={z: Z, t: Tv})
    dz = gd.grad(loss, z)
    gd.check_grad(gd.sum(dz * np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]])), [z, t],
                  feed={z: Z, t: Tv})


def test_l2_penalty_and_bad_arguments():
    g = gd.Graph()
    a = g.parameter(np.array([1.0, -2.0]))
    b = g.parameter(np.array([[3.0]]))
    pen = gd.losses.l2_penalty([a, b])
    assert float(g.run(pen)) == 14.0
    da, db = g.run(gd.grad(pen, [a, b]))
    np.testing.assert_array_equal(da, [2.0, -4.0])
    np.testing.assert_array_equal(db, [[6.0]])
    with pytest.raises(ValueError):
        gd.losses.l2_penalty([])
    with pytest.raises(ValueError):
        gd.losses.mse(a, np.zeros(2), reduction="avg")


def test_losses_keep_float32():
    g = gd.Graph()
    z = g.input("z", shape=(None, 3), dtype="float32")
    y = np.array([0, 2])
    terms = [gd.losses.softmax_cross_entropy(z, y), gd.losses.mse(z, np.zeros((2, 3))),
             gd.losses.mae(z, np.zeros((2, 3))),
             gd.losses.binary_cross_entropy(gd.sigmoid(z), np.ones((2, 3))),
             gd.losses.binary_cross_entropy_with_logits(z, np.ones((2, 3))),
             gd.losses.softmax_cross_entropy(z, np.eye(3)[y])]
    for loss in terms:
        value, dz = g.run([loss, gd.grad(loss, z)], feed={z: np.ones((2, 3), np.float32)})
        assert value.dtype == np.float32 and dz.dtype == np.float32


# ---------------------------------------------------------------- stability
@pytest.fixture
def strict_numpy():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Underflow of exp(-2000) to 0 is exact enough and NumPy ignores it by default;
        # overflow, division by zero and invalid operations must not happen.
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            yield


def test_softmax_cross_entropy_at_large_logits(strict_numpy):
    g = gd.Graph()
    z = g.input("z", shape=(3, 3))
    Z = np.array([[1e3, -1e3, 0.0], [-1e3, -1e3, -1e3], [1e3, 1e3, -1e3]])
    y = np.array([1, 0, 2])
    loss = gd.losses.softmax_cross_entropy(z, y, reduction="none")
    dz = gd.grad(gd.sum(loss), z)
    hv = gd.grad(gd.sum(dz * np.ones((3, 3))), z)
    v, d, h = g.run([loss, dz, hv], feed={z: Z})
    np.testing.assert_allclose(v, [2e3, np.log(3), 2e3 + np.log(2)], rtol=1e-12)
    expected = np.array([[1, -1, 0], [1 / 3 - 1, 1 / 3, 1 / 3], [0.5, 0.5, -1.0]])
    np.testing.assert_allclose(d, expected, atol=1e-12)
    assert np.all(np.isfinite(h))


def test_bce_with_logits_at_large_logits(strict_numpy):
    g = gd.Graph()
    z = g.input("z", shape=(4,))
    Z = np.array([1e3, -1e3, 1e3, -1e3])
    t = np.array([1.0, 0.0, 0.0, 1.0])
    loss = gd.losses.binary_cross_entropy_with_logits(z, t, reduction="none")
    dz = gd.grad(gd.sum(loss), z)
    d2 = gd.grad(gd.sum(dz), z)
    v, d, h = g.run([loss, dz, d2], feed={z: Z})
    np.testing.assert_allclose(v, [0.0, 0.0, 1e3, 1e3], atol=1e-12)
    np.testing.assert_allclose(d, [0.0, 0.0, 1.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(h, np.zeros(4), atol=1e-12)


@pytest.mark.parametrize("build, value", [
    (lambda z: gd.logsumexp(z), 1e3 + np.log(2)),
    (lambda z: gd.sum(gd.softmax(z) * np.array([1.0, 2.0, 3.0, 4.0])), 2.5),
    (lambda z: gd.sum(gd.log_softmax(z) * np.array([0.0, 1.0, 0.0, 0.0])), -2e3 - np.log(2)),
    (lambda z: gd.sum(gd.sigmoid(z)), 2.0),
    (lambda z: gd.sum(gd.softplus(z)), 2e3),
])
def test_stable_ops_at_large_inputs(strict_numpy, build, value):
    g = gd.Graph()
    z = g.input("z", shape=(4,))
    Z = np.array([1e3, -1e3, -1e3, 1e3])
    out = build(z)
    dz = gd.grad(out, z)
    d2 = gd.grad(gd.sum(dz * np.array([1.0, -1.0, 2.0, 0.5])), z)
    v, d, h = g.run([out, dz, d2], feed={z: Z})
    np.testing.assert_allclose(v, value, rtol=1e-12)
    assert np.all(np.isfinite(d)) and np.all(np.isfinite(h))


# ---------------------------------------------------------------- malformed operands and labels
@pytest.mark.parametrize("loss", ["mse", "mae", "binary_cross_entropy",
                                  "binary_cross_entropy_with_logits"])
@pytest.mark.parametrize("bad", [None, "a", b"a", {"a": 1}, object()])
def test_losses_reject_non_numeric_operands(loss, bad):
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    fn = getattr(gd.losses, loss)
    with pytest.raises(TypeError) as info:
        fn(x, bad)
    text = str(info.value)
    assert loss in text and "target" in text and HERE in text, text
    with pytest.raises(TypeError) as info:
        fn(bad, x)
    assert loss in str(info.value) and HERE in str(info.value)


def test_losses_still_take_numbers_lists_and_arrays():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    feed = {x: np.array([1.0, 3.0])}
    assert float(g.run(gd.losses.mse(x, [0, 0]), feed=feed)) == 5.0
    assert float(g.run(gd.losses.mae(x, 1), feed=feed)) == 1.0
    assert float(g.run(gd.losses.mse(x, np.zeros(2, dtype=np.float32)), feed=feed)) == 5.0


def test_softmax_cross_entropy_rejects_non_numeric_labels():
    g = gd.Graph()
    z = g.input("z", shape=(None, 4))
    with pytest.raises(TypeError, match=f"softmax_cross_entropy.*labels.*{HERE}"):
        gd.losses.softmax_cross_entropy(z, None)


@pytest.mark.parametrize("labels, bad", [([0, -1, 2], "-1"), ([0, 7, 3], "7")])
def test_softmax_cross_entropy_labels_out_of_range_are_feed_errors(labels, bad):
    g = gd.Graph()
    z = g.input("z", shape=(None, 4))
    y = g.input("y", shape=(None,), dtype="int64")
    loss = gd.losses.softmax_cross_entropy(z, y)
    dz = gd.grad(loss, z)
    feed = {z: np.zeros((3, 4)), y: np.array(labels)}
    for fetch in (loss, dz):
        with pytest.raises(gd.FeedError) as info:
            g.run(fetch, feed=feed)
        text = str(info.value)
        assert "'y'" in text and bad in text and "4 classes" in text, text
    with pytest.raises(gd.FeedError):
        g.function([z, y], loss)(np.zeros((3, 4)), np.array(labels))
    # constant labels are checked the same way
    with pytest.raises(gd.FeedError):
        g.run(gd.losses.softmax_cross_entropy(z, np.array(labels)), feed={z: np.zeros((3, 4))})


def test_softmax_cross_entropy_valid_labels_unchanged():
    g = gd.Graph()
    z = g.input("z", shape=(None, 4))
    y = g.input("y", shape=(None,), dtype="int64")
    loss = gd.losses.softmax_cross_entropy(z, y, reduction="none")
    logits = np.random.default_rng(0).normal(size=(5, 4))
    labels = np.array([0, 3, 1, 2, 3])
    shifted = logits - logits.max(axis=1, keepdims=True)
    want = -(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))[np.arange(5), labels]
    np.testing.assert_allclose(g.run(loss, feed={z: logits, y: labels}), want, rtol=1e-12)
    empty = g.run(loss, feed={z: np.zeros((0, 4)), y: np.zeros(0, dtype=np.int64)})
    assert empty.shape == (0,)
    assert gd.check_grad(gd.losses.softmax_cross_entropy(z, y), z,
                         feed={z: logits, y: labels}) < 1e-5
