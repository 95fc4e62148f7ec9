"""Indexing ``x[key]`` (basic and integer-array), its scatter-add adjoint, and ``index``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backends
from ..errors import GraphError
from ..graph import Node
from ..op import LinearOp, make_node, size_of

# Two different stand-in sizes for unknown dimensions: a result dimension that comes out
# equal under both is known statically, one that differs depends on the unknown size.
_PROBES = (10007, 10009)


def normalize_key(key) -> tuple:
    if not isinstance(key, tuple):
        key = (key,)
    out = []
    for k in key:
        if isinstance(k, (list, np.ndarray)) or hasattr(k, "__array_function__"):
            k = np.asarray(k)
            if k.dtype.kind not in "biu":
                raise TypeError(f"index arrays must hold integers or booleans, got {k.dtype}")
            if k.dtype.kind == "b":
                # A mask is its nonzero() integer arrays: one rule for shapes and gradients.
                out.extend(np.nonzero(k))
                continue
        elif isinstance(k, slice) and k.step == 0:
            raise GraphError(f"index {key!r}: a slice step cannot be zero")
        elif not (k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer))):
            raise TypeError(f"unsupported index {k!r}: use ints, slices, None, ... or "
                            "integer arrays")
        out.append(int(k) if isinstance(k, np.integer) else k)
    return tuple(out)


def is_basic(key: tuple) -> bool:
    return not any(isinstance(k, np.ndarray) for k in key)


def _sliced_dims(ndim: int, key: tuple) -> set[int]:
    """The input axes that a slice (explicit, or implied by ... and trailing axes) keeps."""
    consumed = [k for k in key if k is not None and k is not Ellipsis]
    sliced, axis = set(), 0
    for k in key:
        if k is None:
            continue
        if k is Ellipsis:
            span = ndim - len(consumed)
            sliced.update(range(axis, axis + span))
            axis += span
            continue
        if isinstance(k, slice):
            sliced.add(axis)
        axis += 1
    sliced.update(range(axis, ndim))
    return sliced


def static_index_shape(shape, key):
    """The result shape, probing unknown dimensions with stand-in sizes: two large ones,
    and one where the sliced unknown axes are tiny (x[:3] of an unknown size is unknown)."""
    if shape is None:
        return None
    sliced = _sliced_dims(len(shape), key)
    probes = [tuple(p if d is None else d for d in shape) for p in _PROBES]
    if None in shape:
        probes.append(tuple(d if d is not None else (1 if k in sliced else _PROBES[0])
                            for k, d in enumerate(shape)))
    results = []
    for dims in probes:
        dummy = np.lib.stride_tricks.as_strided(np.zeros(1), dims, (0,) * len(dims))
        try:
            results.append(dummy[key].shape)
        except (IndexError, ValueError, TypeError) as exc:
            raise GraphError(f"index {key!r} does not fit shape {shape}: {exc}") from exc
    return tuple(x if all(r[k] == x for r in results) else None
                 for k, x in enumerate(results[0]))


class Index(LinearOp):
    """x[key]; its adjoint scatters the cotangent back, adding up repeated indices."""

    __props__ = ("key",)
    view_of = 0  # basic indices return views

    def __init__(self, key):
        self.key = key
        self.basic = is_basic(key)

    def forward(self, x):
        if type(x) is np.ndarray:
            return x[self.key]
        return backends.index(x, self.key)

    def infer(self, x):
        return static_index_shape(x.shape, self.key), x.dtype

    def flops(self, input_shapes, output_shape):
        return 0 if self.basic else size_of(output_shape)

    def transpose(self, ct, inputs, output):
        return make_node(IndexGrad(self.key), ct, inputs[0])


class IndexGrad(LinearOp):
    """zeros like ref, with g added at ref[key] (np.add.at, so repeats accumulate)."""

    __props__ = ("key",)

    def __init__(self, key):
        self.key = key
        self.basic = is_basic(key)

    def same_shape_as(self, g, ref):
        return ref

    def forward(self, g, ref):
        return backends.scatter_add(g, ref, self.key, self.basic)

    def infer(self, g, ref):
        return ref.shape, g.dtype

    def transpose(self, ct, inputs, output):
        return index(ct, self.key)


def index(x: Node, key: Any) -> Node:
    """``x[key]`` for basic indices and integer arrays; repeated indices add up in the
    gradient. ``node[key]`` calls it.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> g.run(x[[0, 0, 2]], feed={x: np.array([1.0, 2.0, 3.0])})
    array([1., 1., 3.])
    """
    return make_node(Index(normalize_key(key)), x)
