"""Indexing ``x[key]`` (basic and integer-array), its scatter-add adjoint, and ``index``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backends
from ..errors import GraphError
from ..graph import Node, describe_full
from ..op import LinearOp, make_node, size_of, wrap
from ..site import creation_site, format_site

# Two different stand-in sizes for unknown dimensions: a result dimension that comes out
# equal under both is known statically, one that differs depends on the unknown size.
_PROBES = (10007, 10009)


def normalize_key(key, shape: tuple | None = None) -> tuple:
    """The key as ints, slices, None, ... and integer arrays (copies: mutating the caller's
    array later changes nothing); boolean masks become their nonzero() arrays, checked
    against ``shape`` (the indexed node's) where it is known."""
    if not isinstance(key, tuple):
        key = (key,)
    arrays = {}
    for j, k in enumerate(key):
        if isinstance(k, (list, np.ndarray)) or hasattr(k, "__array_function__"):
            try:
                arrays[j] = np.array(k)  # a copy, as g.parameter copies
            except ValueError as exc:  # a ragged list
                raise TypeError(f"index {key!r}: an index list must be rectangular ({exc}) "
                                f"at {format_site(creation_site())}") from None
    consumed = sum(max(arrays[j].ndim, 1) if j in arrays and arrays[j].dtype.kind == "b"
                   else 1 for j, k in enumerate(key) if k is not None and k is not Ellipsis)
    out, axis = [], 0
    for j, k in enumerate(key):
        if j in arrays:
            k = arrays[j]
            if k.size == 0 and k.dtype.kind == "f":
                k = k.astype(np.intp)  # x[[]] is empty, as in NumPy ([] parses as float)
            if k.dtype.kind not in "biu":
                raise TypeError(f"index arrays must hold integers or booleans, got {k.dtype} "
                                f"at {format_site(creation_site())}")
            if k.dtype.kind == "b":
                if k.ndim == 0:
                    raise GraphError(f"index {key!r}: a 0-d boolean index is not supported; "
                                     f"use gd.where(cond, x, y) or gd.expand_dims, at "
                                     f"{format_site(creation_site())}")
                covered = () if shape is None else shape[axis:axis + k.ndim]
                if len(covered) == k.ndim and any(
                        d is not None and d != m for d, m in zip(covered, k.shape)):
                    raise GraphError(f"index: a boolean mask of shape {k.shape} does not "
                                     f"match the indexed axes of shape {tuple(covered)} "
                                     f"(of {shape}) at {format_site(creation_site())}")
                axis += k.ndim
                # A mask is its nonzero() integer arrays: one rule for shapes and gradients.
                out.extend(np.nonzero(k))
                continue
            axis += 1
        elif k is Ellipsis:
            axis += 0 if shape is None else max(len(shape) - consumed, 0)
        elif k is not None:
            axis += 1
        if isinstance(k, slice) and k.step == 0:
            raise GraphError(f"index {key!r}: a slice step cannot be zero")
        elif isinstance(k, np.ndarray):
            pass
        elif not (k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer))):
            raise TypeError(f"unsupported index {k!r}: use ints, slices, None, ... or "
                            "integer arrays")
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
    # Stand-ins larger than every integer in the key: x[20000] of an unknown batch is
    # valid for a batch that large, so it must not be refused at build time.
    big = 0
    for k in key:
        if isinstance(k, np.ndarray) and k.size:
            big = max(big, int(np.abs(k).max()))
        elif isinstance(k, int):
            big = max(big, abs(k))
    sizes = tuple(p + big for p in _PROBES)
    probes = [tuple(p if d is None else d for d in shape) for p in sizes]
    if None in shape:
        # Sliced unknown axes also probed empty: u[:1] is (0, ...) on an empty batch, so
        # its static size is unknown, not 1.
        probes.append(tuple(d if d is not None else (0 if k in sliced else sizes[0])
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


def format_key(key: Any) -> str:
    """An index as a reader writes it inside brackets: ``:, 0, 1:3, ...``."""
    parts = []
    for k in key if isinstance(key, tuple) else (key,):
        if isinstance(k, slice):
            text = ("" if k.start is None else str(k.start)) + ":" + \
                ("" if k.stop is None else str(k.stop))
            parts.append(text + ("" if k.step is None else f":{k.step}"))
        elif k is Ellipsis:
            parts.append("...")
        elif k is None:
            parts.append("None")
        elif isinstance(k, (np.ndarray, list)):
            a = np.asarray(k)
            if a.dtype == bool:
                parts.append("mask")
            elif a.size <= 4 and a.ndim <= 1:
                parts.append(str(a.tolist()))
            else:
                parts.append(f"array{a.shape}")
        else:
            parts.append(str(k))
    return ", ".join(parts)


class Index(LinearOp):
    """x[key]; its adjoint scatters the cotangent back, adding up repeated indices."""

    __props__ = ("key",)
    view_of = 0  # basic indices return views

    def __init__(self, key):
        self.key = key
        self.basic = is_basic(key)

    def short_label(self, operands=()):
        x = operands[0] if operands and operands[0] else "\u00b7"
        return f"{x}[{format_key(self.key)}]"

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
    if isinstance(key, Node) or (isinstance(key, tuple)
                                 and any(isinstance(k, Node) for k in key)):
        return gather(x, key)
    return make_node(Index(normalize_key(key, getattr(x, "shape", None))), x)


# ---------------------------------------------------------------- NumPy surface: Node indices
# Indices that are integer Nodes (argmax, argsort results): the index arrays are inputs of
# the op, after x. They get no gradient; x's gradient scatters back with np.add.at.


def check_real(what: str, *nodes: Node) -> None:
    """TypeError for complex operands, which the NumPy-surface functions do not support."""
    for node in nodes:
        if node.dtype is not None and node.dtype.kind == "c":
            raise TypeError(f"{what}: complex dtypes are not supported yet "
                            f"({describe_full(node)} is {node.dtype}) at "
                            f"{format_site(creation_site())}")


def _fill(template: tuple, indices: tuple) -> tuple:
    """The key with the index arrays put in their places (("@", j) marks position j)."""
    return tuple(indices[k[1]] if type(k) is tuple else k for k in template)


def _probe_shape(shape, template, index_nodes):
    """The result shape of x[key] from static shapes, probing unknown sizes twice."""
    if shape is None or any(n.shape is None for n in index_nodes):
        return None
    results = []
    for p in _PROBES:
        dims = tuple(p if d is None else d for d in shape)
        arrays = tuple(np.zeros(tuple(p if d is None else d for d in n.shape), np.intp)
                       for n in index_nodes)
        dummy = np.lib.stride_tricks.as_strided(np.zeros(1), dims, (0,) * len(dims))
        try:
            results.append(dummy[_fill(template, arrays)].shape)
        except (IndexError, ValueError, TypeError) as exc:
            raise GraphError(f"index does not fit shape {shape}: {exc}") from exc
    return tuple(d if all(r[k] == d for r in results) else None
                 for k, d in enumerate(results[0]))


class Gather(LinearOp):
    """x[key] where some index arrays of the key are inputs (integer Nodes); linear in x,
    its adjoint scatters back (GatherGrad)."""

    __props__ = ("template",)
    view_of = 0  # 0-d index arrays index as integers: the result may be a view

    def __init__(self, template):
        self.template = template

    def forward(self, x, *indices):
        return backends.index(x, _fill(self.template, indices))

    def infer(self, x, *indices):
        return _probe_shape(x.shape, self.template, indices), x.dtype

    def transpose(self, ct, inputs, output):
        return make_node(GatherGrad(self.template), ct, inputs[0], *inputs[1:])


class GatherGrad(LinearOp):
    """zeros like ref, with g added at ref[key] (np.add.at: repeated indices add up)."""

    __props__ = ("template",)

    def __init__(self, template):
        self.template = template

    def same_shape_as(self, g, ref, *indices):
        return ref

    def forward(self, g, ref, *indices):
        return backends.scatter_add(g, ref, _fill(self.template, indices), False)

    def infer(self, g, ref, *indices):
        return ref.shape, g.dtype

    def transpose(self, ct, inputs, output):
        return make_node(Gather(self.template), ct, *inputs[2:])


def _index_node(node: Node, what: str) -> Node:
    if node.dtype is not None and node.dtype.kind not in "iu":
        raise TypeError(f"{what}: an index Node must hold integers, got {node.dtype} "
                        f"({describe_full(node)}) at {format_site(creation_site())}")
    return node


def gather(x: Any, key: Any) -> Node:
    """``x[key]`` where some entries of the key are integer Nodes (fancy indexing with
    indices computed in the graph, as ``argmax`` gives them); the indices get no gradient.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> i = g.constant(np.array([2, 0]))
    >>> g.run(x[i], feed={x: np.array([1.0, 2.0, 3.0])})
    array([3., 1.])
    """
    key = key if isinstance(key, tuple) else (key,)
    template, nodes = [], []
    for k in key:
        if isinstance(k, Node):
            template.append(("@", len(nodes)))
            nodes.append(_index_node(k, "index"))
        else:
            template.extend(normalize_key(k))
    (x,) = wrap("index", x)
    check_real("index", x)
    return make_node(Gather(tuple(template)), x, *nodes)


def along_axis_key(indices: Any, axis: int) -> tuple:
    """The fancy index that ``np.take_along_axis(x, indices, axis)`` reads: indices on axis,
    aranges broadcast on every other axis."""
    ndim = indices.ndim
    key = []
    for d in range(ndim):
        if d == axis:
            key.append(indices)
        else:
            shape = [1] * ndim
            shape[d] = indices.shape[d]
            key.append(np.arange(indices.shape[d]).reshape(shape))
    return tuple(key)


class TakeAlongAxis(LinearOp):
    """np.take_along_axis(x, indices, axis); linear in x, adjoint TakeAlongAxisGrad."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x, indices):
        return np.take_along_axis(x, indices, axis=self.axis)

    def infer(self, x, indices):
        if x.shape is None or indices.shape is None:
            return None, x.dtype
        out = []
        for d, (a, b) in enumerate(zip(x.shape, indices.shape)):
            if d == self.axis or a == 1:
                out.append(b)
            elif b == 1 or a == b:
                out.append(a)
            elif a is None or b is None:
                out.append(a if b is None else b)
            else:
                raise GraphError(f"take_along_axis: indices of shape {indices.shape} do not "
                                 f"broadcast against shape {x.shape} off axis {self.axis}")
        return tuple(out), x.dtype

    def transpose(self, ct, inputs, output):
        return make_node(TakeAlongAxisGrad(self.axis), ct, inputs[1], inputs[0])


class TakeAlongAxisGrad(LinearOp):
    """zeros like ref, with g added at the places take_along_axis read (np.add.at)."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def same_shape_as(self, g, indices, ref):
        return ref

    def forward(self, g, indices, ref):
        out = np.zeros(ref.shape, dtype=g.dtype)
        key = along_axis_key(np.broadcast_to(indices, g.shape), self.axis)
        # x's size-1 axes broadcast: every read of them lands on index 0.
        key = tuple(k if d == self.axis or ref.shape[d] != 1 else np.zeros_like(k)
                    for d, k in enumerate(key))
        np.add.at(out, key, g)
        return out

    def infer(self, g, indices, ref):
        return ref.shape, g.dtype

    def transpose(self, ct, inputs, output):
        return make_node(TakeAlongAxis(self.axis), ct, inputs[1])
