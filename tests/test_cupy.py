"""The same graphs and gradients on CuPy arrays (GPU): CuPy results with NumPy's values.

Skipped when CuPy is not installed or no GPU is visible (CI has none).
"""

import numpy as np
import pytest

import graphdiff as gd
from graphdiff import backends

cp = pytest.importorskip("cupy")
try:
    if cp.cuda.runtime.getDeviceCount() < 1:
        pytest.skip("CuPy is installed but sees no GPU", allow_module_level=True)
except Exception as exc:  # no driver, no device
    pytest.skip(f"CuPy is installed but no GPU is usable: {exc}", allow_module_level=True)

# cuBLAS and NumPy's BLAS sum in different orders: equal to rounding, not bit for bit.
RTOL, ATOL = 1e-9, 1e-12


def elementwise(g, rng):
    x = g.input("x", shape=(None, 4))
    w = g.parameter(rng.normal(size=(4,)), name="w")
    b = g.parameter(rng.normal(size=(1, 4)), name="b")
    y = (gd.tanh(x * w + b) ** 2 + gd.sigmoid(x) - gd.softplus(-x) + gd.maximum(x, w)
         + gd.clip(x, -0.5, 0.5) + abs(x) + gd.where(x > 0, x, b) / 3.0)
    return gd.sum(y), [w, b, x], {x: rng.normal(size=(12, 4))}


def reductions(g, rng):
    x = g.input("x", shape=(None, 4))
    w = g.parameter(rng.normal(size=(4,)), name="w")
    y = x * w
    z = (gd.sum(gd.max(y, axis=1)) + gd.mean(gd.min(y, axis=0)) + gd.mean(y)
         + gd.sum(gd.logsumexp(y, axis=-1)))
    return z, [w, x], {x: rng.normal(size=(12, 4))}


def indexing(g, rng):
    x = g.input("x", shape=(None, 4))
    E = g.parameter(rng.normal(size=(5, 4)), name="E")
    z = (gd.sum(gd.square(E[np.array([0, 1, 1, 3, 0, 0])])) + gd.sum(x[:, 1:3] ** 2)
         + gd.sum(x[np.array([0, 0, 5]), np.array([1, 1, 2])] * 3.0)
         + gd.sum(gd.concatenate([x, x * 2.0], axis=1) ** 2))
    return z, [E, x], {x: rng.normal(size=(12, 4))}


def mlp(g, rng):
    x = g.input("x", shape=(None, 784))
    y = g.input("y", shape=(None,), dtype="int64")
    net = gd.nn.MLP(g, [784, 64, 10], rng=np.random.default_rng(1))
    loss = gd.losses.softmax_cross_entropy(net(x), y)
    return loss, net.params, {x: rng.normal(size=(96, 784)), y: rng.integers(0, 10, size=96)}


@pytest.mark.parametrize("build", [elementwise, reductions, indexing, mlp],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("compiled", [False, True], ids=["run", "function"])
def test_gradients_equal_numpy(build, compiled):
    g = gd.Graph()
    z, targets, feed = build(g, np.random.default_rng(0))
    fetches = [z, *gd.grad(z, targets)]
    inputs = list(feed)
    expected = g.run(fetches, feed=feed)
    backends.move_leaves(g, cp.asarray)          # parameters and constants onto the GPU
    device_feed = [cp.asarray(feed[n]) for n in inputs]
    if compiled:
        out = g.function(inputs, fetches)(*device_feed)
    else:
        out = g.run(fetches, feed=dict(zip(inputs, device_feed, strict=True)))
    assert all(isinstance(v, cp.ndarray) for v in out), [type(v) for v in out]
    for a, b in zip(out, expected, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(cp.asnumpy(a), b, rtol=RTOL, atol=ATOL)
