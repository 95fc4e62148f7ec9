"""Issue 15, scale-out: data-parallel Dask gradients never gather the whole batch.

A batch of 400 rows in chunks of 50 through an MLP and softmax cross-entropy: the loss
and every parameter gradient are computed without any task whose result spans the batch
(shape (400,) or (400, 1), as the mean's broadcast gradient and the label picking of
softmax cross-entropy made before). The check runs every task of the Dask graphs and
looks at the shape of what it returns.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

BATCH, CHUNK = 400, 50


def _task_shapes(arrays) -> list[tuple]:
    """The shape of every array-valued task result of the arrays' Dask graphs."""
    shapes = []
    for arr in arrays:
        graph = dict(arr.__dask_graph__())
        keys = list(graph)
        for value in dask.get(graph, keys):
            if hasattr(value, "shape"):
                shapes.append(tuple(value.shape))
    return shapes


@pytest.mark.parametrize("declared", [None, BATCH], ids=["unknown_batch", "static_batch"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mlp_loss_and_gradient_stay_chunked(declared, reduction):
    g = gd.Graph()
    x = g.input("x", shape=(declared, 8))
    y = g.input("y", shape=(declared,), dtype="int64")
    mlp = gd.nn.MLP(g, [8, 16, 4], rng=np.random.default_rng(0))
    loss = gd.losses.softmax_cross_entropy(mlp(x), y, reduction=reduction)
    fetches = [loss, *gd.grad(loss, mlp.params)]
    rng = np.random.default_rng(1)
    xs, ys = rng.normal(size=(BATCH, 8)), rng.integers(0, 4, BATCH)
    lazy = g.run(fetches, feed={x: da.from_array(xs, chunks=(CHUNK, 8)),
                                y: da.from_array(ys, chunks=CHUNK)})
    assert all(isinstance(v, da.Array) for v in lazy)
    whole = [s for s in _task_shapes(lazy) if BATCH in s]
    assert not whole, f"tasks holding the whole batch: {sorted(set(whole))}"
    want = g.run(fetches, feed={x: xs, y: ys})
    for a, b in zip(dask.compute(*lazy), want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10)


def test_broadcast_of_a_numpy_value_follows_the_reference_chunks():
    from graphdiff import backends

    ref = da.zeros((BATCH, 3), chunks=(CHUNK, 3))
    out = backends.broadcast_like(np.ones(3), ref)
    assert out.chunks == ref.chunks
    col = backends.broadcast_like(np.ones((1, 1)), ref)
    assert col.chunks == ref.chunks
    np.testing.assert_array_equal(out.compute(), np.ones((BATCH, 3)))
