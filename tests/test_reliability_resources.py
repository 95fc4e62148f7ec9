"""Issue 15, resources: stable ops under ``np.seterr(all="raise")``, -inf and empty axes.

Each test failed before its fix: FloatingPointError (underflow) at |x| = 1e3, a
divide-by-zero warning for an all -inf row, ValueError for a reduction over a size-0 axis.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphdiff as gd

X = np.array([[-1e3, 0.0, 1e3], [1e3, -1e3, -1e3]])

STABLE = {
    "sigmoid": gd.sigmoid, "softplus": gd.softplus, "tanh": gd.tanh, "erf": gd.erf,
    "logsumexp": lambda x: gd.logsumexp(x, axis=-1), "logsumexp_all": gd.logsumexp,
    "softmax": gd.softmax, "log_softmax": gd.log_softmax, "softmax_axis0":
        lambda x: gd.softmax(x, axis=0),
    "silu": gd.silu, "gelu": gd.gelu, "elu": gd.elu,
    "logaddexp": lambda x: gd.logaddexp(x, -x), "logaddexp2": lambda x: gd.logaddexp2(x, -x),
    "sce_sparse": lambda x: gd.losses.softmax_cross_entropy(x, np.array([0, 1])),
    "sce_dense": lambda x: gd.losses.softmax_cross_entropy(x, np.full((2, 3), 1 / 3)),
    "bce_with_logits": lambda x: gd.losses.binary_cross_entropy_with_logits(
        x, np.full((2, 3), 0.5)),
}


@pytest.mark.parametrize("name", STABLE)
def test_stable_ops_and_their_gradients_run_under_seterr_raise(name):
    g = gd.Graph()
    x = g.input("x", shape=(2, 3))
    y = STABLE[name](x)
    dx = gd.grad(gd.sum(y), x)
    hv = gd.grad(gd.sum(dx * dx), x)
    tangent = gd.jvp(y, x, np.ones((2, 3)))
    with np.errstate(all="raise"):
        values = g.run([y, dx, hv, tangent], feed={x: X})
        compiled = g.function([x], [y, dx, hv, tangent])(X)
    for v, c in zip(values, compiled, strict=True):
        assert np.all(np.isfinite(v))
        np.testing.assert_array_equal(v, c)


def test_plain_exp_keeps_numpys_behaviour_under_seterr_raise():
    # Only the stable kernels ignore underflow; gd.exp is np.exp.
    g = gd.Graph()
    x = g.input("x", shape=(1,))
    with np.errstate(all="raise"), pytest.raises(gd.GraphdiffError, match="underflow"):
        g.run(gd.exp(x), feed={x: np.array([-1e3])})


def test_logsumexp_of_an_all_minus_inf_row_is_minus_inf_without_warnings():
    g = gd.Graph()
    x = g.input("x", shape=(2, 3))
    xs = np.array([[-np.inf] * 3, [0.0, 1.0, 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = g.run(gd.logsumexp(x, axis=1), feed={x: xs})
        sce = g.run(gd.losses.softmax_cross_entropy(x, np.array([0, 1]), reduction="none"),
                    feed={x: np.array([[-np.inf, 0.0, 0.0], [0.0, 1.0, 2.0]])})
    assert got[0] == -np.inf
    np.testing.assert_allclose(got[1], np.log(np.exp([0.0, 1.0, 2.0]).sum()))
    assert sce[0] == np.inf


@pytest.mark.parametrize("axis", [0, 1, None])
def test_logsumexp_over_a_size_zero_axis_is_minus_inf(axis):
    g = gd.Graph()
    x = g.input("x", shape=(0, 3) if axis != 1 else (3, 0))
    xs = np.zeros(x.shape)
    for keepdims in (False, True):
        y = gd.logsumexp(x, axis=axis, keepdims=keepdims)
        got = g.run(y, feed={x: xs})
        want_shape = np.sum(xs, axis=axis, keepdims=keepdims).shape
        assert got.shape == want_shape == y.shape
        assert np.all(got == -np.inf)


@pytest.mark.parametrize("fn", [gd.softmax, gd.log_softmax])
def test_softmax_over_a_size_zero_axis_is_empty(fn):
    g = gd.Graph()
    x = g.input("x", shape=(2, 0))
    y = fn(x)
    got = g.run(y, feed={x: np.zeros((2, 0))})
    assert got.shape == (2, 0) and got.dtype == np.float64
    dx = g.run(gd.grad(gd.sum(y), x), feed={x: np.zeros((2, 0))})
    assert dx.shape == (2, 0)
    # An empty batch (size-0 axis off the softmax axis) works too.
    e = g.input("e", shape=(0, 3))
    assert g.run(fn(e), feed={e: np.zeros((0, 3))}).shape == (0, 3)
