"""Array libraries other than NumPy: the few ops that cannot dispatch get a path per library.

Most ops call NumPy functions that dispatch through ``__array_ufunc__`` and
``__array_function__``, so Dask arrays stay lazy Dask arrays and CuPy arrays stay on the
GPU. The helpers here cover what does not dispatch: scatter-adds with repeated indices,
writing into zeros, fancy indexing that Dask lacks, ``take_along_axis``. Each one tries
``type(x) is np.ndarray`` first, so the NumPy path costs one type check.

Dask has no in-place scatter; its scatter-add is a ``bincount`` of flat positions with
the values as weights, which Dask computes per chunk and sums across chunks (a data-
parallel reduction).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import GraphdiffError


def library(x: Any) -> str:
    """``"numpy"``, ``"dask"``, ``"cupy"`` or the top-level module of another array type."""
    if type(x) is np.ndarray or isinstance(x, (np.generic, int, float, complex, bool)):
        return "numpy"
    return type(x).__module__.partition(".")[0]


def namespace(x: Any) -> Any:
    """The array module of ``x``: numpy, dask.array or cupy (numpy for anything else)."""
    lib = library(x)
    if lib == "dask":
        import dask.array as da

        return da
    if lib == "cupy":
        import cupy

        return cupy
    return np


def dtype_of(x: Any) -> Any:
    """What ``np.result_type`` should see for ``x``: a foreign array's dtype (passing the
    array itself would make NumPy convert it), Python scalars as they are (weak)."""
    return x if library(x) == "numpy" else x.dtype


def asarray_like(like: Any, value: Any, dtype: Any = None) -> Any:
    """``value`` as an array of ``like``'s library (a NumPy array when ``like`` is one)."""
    if type(like) is np.ndarray:
        return np.asarray(value, dtype=dtype)
    return namespace(like).asarray(np.asarray(value, dtype=dtype))


def _device_key(x: Any, key: tuple) -> tuple:
    """CuPy indexes with CuPy arrays: move a key's integer arrays to the device."""
    if library(x) != "cupy":
        return key
    import cupy

    return tuple(cupy.asarray(k) if isinstance(k, np.ndarray) else k for k in key)


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


def index(x: Any, key: tuple) -> Any:
    """``x[key]``; Dask's missing nd fancy indexing goes through flat positions."""
    if type(x) is np.ndarray:
        return x[key]
    key = _device_key(x, key)
    try:
        return x[key]
    except NotImplementedError:
        if library(x) != "dask":
            raise
    pos = _positions(_known_shape(x, "Index"), key)
    return x.reshape(-1)[pos.reshape(-1)].reshape(pos.shape)


def _common(x: Any, ref: Any) -> tuple[str, Any]:
    """The library of a result built from ``x`` into the shape of ``ref``: ref's when it is
    not NumPy's (a gradient of Dask data stays Dask even where it holds no data), else x's;
    ``x`` is moved into that library."""
    lib = library(ref)
    if lib == "numpy":
        return library(x), x
    if library(x) == "numpy":
        x = namespace(ref).asarray(x)
    return lib, x


def scatter_add(g: Any, ref: Any, key: tuple, basic: bool) -> Any:
    """Zeros of ``ref``'s shape and ``g``'s dtype with ``g`` added at ``ref[key]``;
    repeated indices add up (``np.add.at``)."""
    lib, g = _common(g, ref)
    if lib == "numpy":
        out = np.zeros(ref.shape, dtype=g.dtype)
        if basic:
            out[key] = g         # basic indices never repeat an element
        else:
            np.add.at(out, key, g)
        return out
    if lib == "cupy":
        import cupy
        import cupyx

        out = cupy.zeros(ref.shape, dtype=g.dtype)
        key = _device_key(g, key)
        if basic:
            out[key] = g
        else:
            cupyx.scatter_add(out, key, g)
        return out
    if lib == "dask":
        import dask.array as da

        shape = _known_shape(ref, "IndexGrad")
        if basic:
            out = da.zeros_like(ref, dtype=g.dtype) if library(ref) == "dask" \
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
    raise GraphdiffError(f"IndexGrad (the gradient of indexing) has no scatter-add for "
                         f"{type(g).__module__}.{type(g).__name__} arrays")


def slice_into(x: Any, ref: Any, axis: int, start: int) -> Any:
    """Zeros of ``ref``'s shape with ``x`` written at ``[start:start + len]`` along ``axis``."""
    ndim = len(ref.shape)
    axis = axis % ndim
    stop = start + x.shape[axis]
    lib, x = _common(x, ref)
    if lib == "numpy":
        out = np.zeros(ref.shape, dtype=x.dtype)
        out[(slice(None),) * axis + (slice(start, stop),)] = x
        return out
    # np.pad dispatches to dask.array.pad and cupy.pad.
    widths = [(0, 0)] * ndim
    widths[axis] = (start, ref.shape[axis] - stop)
    return np.pad(x, widths)


def reshape(x: Any, shape: tuple) -> Any:
    """``x.reshape(shape)``; Dask refuses reshapes that split a dimension unevenly across
    chunks, so those go through a flat 1-D array (still lazy, still chunked)."""
    try:
        return x.reshape(shape)
    except NotImplementedError:
        if library(x) != "dask":
            raise
        return x.reshape(-1).reshape(shape)


def take_labels(logp: Any, labels: Any) -> Any:
    """``logp[..., labels]`` row by row (``take_along_axis``, which Dask lacks)."""
    if type(logp) is np.ndarray:
        return np.take_along_axis(logp, np.expand_dims(labels, -1), axis=-1)[..., 0]
    hit = onehot(logp, labels)
    return np.sum(np.where(hit, logp, 0), axis=-1)


def onehot(like: Any, labels: Any) -> Any:
    """Booleans ``labels[..., None] == arange(like.shape[-1])`` in ``like``'s library."""
    xp = namespace(like) if library(like) != "numpy" else namespace(labels)
    return np.expand_dims(labels, -1) == xp.arange(like.shape[-1])


def move_leaves(graph: Any, asarray: Any) -> None:
    """Move every parameter and array constant of ``graph`` with ``asarray``
    (``cupy.asarray``: onto the GPU), so that no NumPy array meets a CuPy one.

    CuPy refuses NumPy operands, even 0-d ones such as a gradient's seed, so a graph fed
    CuPy arrays needs its leaves on the device too. Call it after building the gradients
    (they add constants) and before compiling functions; cached plans are dropped.
    Python-scalar constants stay Python scalars (weakly typed).
    """
    for node in graph.nodes:
        if node.op is not None or not isinstance(node._value, (np.ndarray, np.generic)):
            continue
        if node.kind == "parameter":
            node.value = asarray(node._value)
        elif node.kind == "constant":
            node._value = asarray(node._value)
    graph._plans.clear()
