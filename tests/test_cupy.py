"""The same graphs and gradients on CuPy arrays (GPU): CuPy results with NumPy's values.

Skipped when CuPy is not installed or no GPU is visible (CI has none).
"""

import numpy as np
import pytest
from array_graphs import elementwise, indexing, mlp, reductions

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
