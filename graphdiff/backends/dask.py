"""Dask arrays: lazy and chunked. Dask has no in-place scatter; its scatter-add is a
``bincount`` of flat positions with the values as weights, which Dask computes per chunk
and sums across chunks (a data-parallel reduction)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import GraphdiffError
from .base import Backend


def _positions(shape: tuple, key: tuple) -> np.ndarray:
    """The flat (C-order) position in an array of ``shape`` of every element of ``a[key]``.

    Built from one broadcast view per axis, so it never allocates ``prod(shape)`` entries.
    """
    if not shape:
        return np.zeros((), dtype=np.intp)[key]
    pos = None
    stride = 1
    for d in range(len(shape) - 1, -1, -1):
        axis = np.arange(shape[d], dtype=np.intp).reshape((-1,) + (1,) * (len(shape) - d - 1))
        term = np.broadcast_to(axis, shape)[key] * stride
        pos = term if pos is None else pos + term
        stride *= shape[d]
    return pos


def _known_shape(x: Any, op: str) -> tuple:
    shape = tuple(x.shape)
    if any(not isinstance(d, (int, np.integer)) for d in shape):
        raise GraphdiffError(f"{op} needs the run-time shape of its operand, which is unknown "
                             f"here ({shape}); call compute_chunk_sizes() on the Dask array")
    return shape


class DaskBackend(Backend):
    """Dask: fancy indexing and reshapes it lacks go through flat positions.

    Dask arrays combine with NumPy operands, so a graph's NumPy leaves stay where they are.

    Examples
    --------
    >>> from graphdiff.backends.dask import DaskBackend
    >>> DaskBackend().mixes_with_numpy
    True
    """

    name = "dask"
    mixes_with_numpy = True

    @property
    def namespace(self) -> Any:
        import dask.array as da

        return da

    def index(self, x: Any, key: tuple) -> Any:
        try:
            return x[key]
        except NotImplementedError:
            pass
        pos = _positions(_known_shape(x, "Index"), key)
        return x.reshape(-1)[pos.reshape(-1)].reshape(pos.shape)

    def broadcast_like(self, x: Any, ref: Any) -> Any:
        import dask.array as da

        shape = tuple(ref.shape)
        if any(not isinstance(d, (int, np.integer)) for d in shape):
            return np.broadcast_to(x, shape)  # unknown chunk sizes: Dask's own rule
        xshape = tuple(np.shape(x))
        lead = len(shape) - len(xshape)
        # New and size-1 axes take ref's chunks; axes x already spans keep x's (a NumPy
        # x is first chunked as ref is along them), so no task holds the whole batch.
        if not hasattr(x, "chunks"):
            x = da.from_array(np.asarray(x), chunks=tuple(
                (1,) if d == 1 else ref.chunks[lead + k] for k, d in enumerate(xshape)))
        chunks = tuple(ref.chunks[k] if k < lead or xshape[k - lead] == 1
                       else x.chunks[k - lead] for k in range(len(shape)))
        return da.broadcast_to(x, shape, chunks=chunks)

    def reshape(self, x: Any, shape: tuple) -> Any:
        # Dask refuses reshapes that split a dimension unevenly across chunks.
        try:
            return x.reshape(shape)
        except NotImplementedError:
            return x.reshape(-1).reshape(shape)

    def scatter_add(self, g: Any, ref: Any, key: tuple, basic: bool) -> Any:
        import dask.array as da

        shape = _known_shape(ref, "IndexGrad")
        if basic:
            out = da.zeros_like(ref, dtype=g.dtype) if isinstance(ref, da.Array) \
                else da.zeros(shape, dtype=g.dtype)
            out[key] = g
            return out
        # bincount per chunk of g, summed over chunks: the data-parallel scatter-add.
        size = int(np.prod(shape))
        flat = g.reshape(-1)
        pos = da.from_array(_positions(shape, key).reshape(-1), chunks=flat.chunks)
        if g.dtype.kind == "c":
            total = (da.bincount(pos, weights=flat.real, minlength=size)
                     + 1j * da.bincount(pos, weights=flat.imag, minlength=size))
        else:
            total = da.bincount(pos, weights=flat, minlength=size)
        return total.astype(g.dtype).reshape(shape)
