"""Shape primitives and their user functions (``gd.reshape``, ``gd.concatenate``, ...).

They are linear: each declares its adjoint once (``transpose``). Those whose adjoint
needs a run-time shape take a reference node as an extra input (``ref``); that input
gets no gradient.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import backends
from ..errors import GradError, GraphError
from ..graph import Node, building, describe
from ..op import LinearOp, Op, as_int, as_ints, make_node, size_of, wrap
from ..shapes import known, result_dtype
from ..site import creation_site, format_site
from .index import index

ArrayLike = Any


def _target(static, ref_values):
    return static if static is not None else ref_values[0].shape


class SumTo(LinearOp):
    """Sum x down to a broadcast-compatible shape (undoes broadcasting); d/dx = broadcast."""

    view_of = 0  # x itself when nothing is summed

    def flops(self, input_shapes, output_shape):
        return size_of(input_shapes[0]) if input_shapes[0] != output_shape else 0

    __props__ = ("shape",)

    def __init__(self, shape=None):
        self.shape = shape

    def same_shape_as(self, x, *ref):
        return ref[0] if ref else None

    def forward(self, x, *ref):
        shape = _target(self.shape, ref)
        if x.shape == shape:
            return x
        lead = x.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            lead + k for k, d in enumerate(shape) if d == 1 and x.shape[lead + k] != 1)
        out = x.sum(axis=axes, keepdims=True) if axes else x
        return out.reshape(shape) if type(out) is np.ndarray else backends.reshape(out, shape)

    def infer(self, x, *ref):
        return (self.shape if self.shape is not None else ref[0].shape), x.dtype

    def transpose(self, ct, inputs, output):
        return broadcast_like(ct, inputs[0])


class BroadcastTo(LinearOp):
    """Broadcast x to a shape; d/dx = sum back to x's shape."""

    view_of = 0

    def flops(self, input_shapes, output_shape):
        return 0  # a view: no arithmetic

    __props__ = ("shape",)

    def __init__(self, shape=None):
        self.shape = shape

    def same_shape_as(self, x, *ref):
        return ref[0] if ref else None

    def forward(self, x, *ref):
        return np.broadcast_to(x, _target(self.shape, ref))

    def infer(self, x, *ref):
        shape = self.shape if self.shape is not None else ref[0].shape
        if x.shape is not None and shape is not None:
            if len(x.shape) > len(shape) or any(
                    a not in (1, None) and b is not None and a != b
                    for a, b in zip(x.shape[::-1], shape[::-1])):
                raise GraphError(f"broadcast_to: shape {x.shape} cannot broadcast to {shape}")
        return shape, x.dtype

    def transpose(self, ct, inputs, output):
        return sum_to(ct, inputs[0])


class Reshape(LinearOp):
    """Reshape x (to a static shape, or to ref's run-time shape); d/dx = reshape back."""

    view_of = 0

    def flops(self, input_shapes, output_shape):
        return 0  # a view: no arithmetic

    __props__ = ("shape",)

    def __init__(self, shape=None):
        self.shape = shape

    def same_shape_as(self, x, *ref):
        return ref[0] if ref else None

    def forward(self, x, *ref):
        if type(x) is np.ndarray:
            return x.reshape(_target(self.shape, ref))
        return backends.reshape(x, _target(self.shape, ref))

    def infer(self, x, *ref):
        if self.shape is None:
            return ref[0].shape, x.dtype
        shape = self.shape
        if known(x.shape):
            size = int(np.prod(x.shape))
            free = [k for k, d in enumerate(shape) if d == -1]
            rest = int(np.prod([d for d in shape if d != -1]))
            bad_free = free and (rest == 0 or size % rest)
            if len(free) > 1 or bad_free or (not free and rest != size):
                raise GraphError(f"reshape: cannot reshape shape {x.shape} into {shape}")
            if free:
                shape = tuple(size // rest if d == -1 else d for d in shape)
        else:
            shape = tuple(None if d == -1 else d for d in shape)
        return shape, x.dtype

    def transpose(self, ct, inputs, output):
        return reshape_like(ct, inputs[0])


class Transpose(LinearOp):
    """Permute axes (reverse them when axes is None); d/dx = the inverse permutation."""

    view_of = 0

    def flops(self, input_shapes, output_shape):
        return 0  # a view: no arithmetic

    __props__ = ("axes",)

    def __init__(self, axes=None):
        self.axes = axes

    def forward(self, x):
        return np.transpose(x, self.axes)

    def infer(self, x):
        if x.shape is None:
            return None, x.dtype
        if self.axes is None:
            return x.shape[::-1], x.dtype
        if sorted(self.axes) != list(range(len(x.shape))):
            raise GraphError(f"transpose: axes {self.axes} do not permute shape {x.shape}")
        return tuple(x.shape[a] for a in self.axes), x.dtype

    def transpose(self, ct, inputs, output):
        inverse = None if self.axes is None else tuple(np.argsort(self.axes).tolist())
        return transpose(ct, inverse)


class ExpandDims(LinearOp):
    """Insert axes of size 1; d/dx = squeeze them."""

    view_of = 0

    def flops(self, input_shapes, output_shape):
        return 0  # a view: no arithmetic

    __props__ = ("axes",)

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return np.expand_dims(x, self.axes)

    def infer(self, x):
        if x.shape is None:
            return None, x.dtype
        shape = list(x.shape)
        for a in sorted(a % (len(x.shape) + len(self.axes)) for a in self.axes):
            shape.insert(a, 1)
        return tuple(shape), x.dtype

    def transpose(self, ct, inputs, output):
        return squeeze(ct, self.axes)


class Squeeze(LinearOp):
    """Remove axes of size 1; d/dx = expand them again."""

    view_of = 0

    def flops(self, input_shapes, output_shape):
        return 0  # a view: no arithmetic

    __props__ = ("axes",)

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return np.squeeze(x, self.axes)

    def infer(self, x):
        if x.shape is None:
            return None, x.dtype
        axes = {a % len(x.shape) for a in self.axes}
        return tuple(d for k, d in enumerate(x.shape) if k not in axes), x.dtype

    def transpose(self, ct, inputs, output):
        return expand_dims(ct, self.axes)


class Concatenate(Op):
    """Join along an axis; d/dx_i = the slice of the gradient that x_i filled."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        return np.concatenate(xs, axis=self.axis)

    def infer(self, *xs):
        dtype = result_dtype(*xs)
        known_shapes = [x.shape for x in xs if x.shape is not None]
        if len({len(s) for s in known_shapes}) > 1 or any(
                not -len(s) <= self.axis < len(s) for s in known_shapes):
            raise GraphError("concatenate: operands of shapes "
                             f"{[x.shape for x in xs]} cannot be joined on axis {self.axis}")
        if len(known_shapes) < len(xs):
            return None, dtype
        ndim = len(xs[0].shape)
        if any(len(x.shape) != ndim for x in xs) or not -ndim <= self.axis < ndim:
            raise GraphError("concatenate: operands of shapes "
                             f"{[x.shape for x in xs]} cannot be joined on axis {self.axis}")
        axis = self.axis % ndim
        out = []
        for k in range(ndim):
            dims = [x.shape[k] for x in xs]
            if k == axis:
                out.append(None if None in dims else sum(dims))
                continue
            sizes = {d for d in dims if d is not None}
            if len(sizes) > 1:
                raise GraphError("concatenate: operands of shapes "
                                 f"{[x.shape for x in xs]} differ off axis {self.axis}")
            out.append(sizes.pop() if sizes else None)
        return tuple(out), dtype

    def vjp(self, i, inputs, output, grad):
        axis = self.axis
        starts = _static_offsets(output, inputs, axis)
        if starts is not None:
            # Static offsets: a plain slice of the gradient.
            return index(grad, _axis_key(axis, starts[i], starts[i + 1]))
        # Run-time offsets: slice i reads only the operands before it, so n slices would
        # read n^2 operands; a chain of running offsets keeps the gradient linear in n.
        starts = _offsets(output, inputs, axis)
        return make_node(AxisSlice(axis), grad, starts[i], inputs[i])

    def jvp(self, inputs, tangents, output):
        parts = [zeros_like(x) if t is None else t for x, t in zip(inputs, tangents)]
        return make_node(self, *parts)


def _axis_key(axis: int, start: int, stop: int) -> tuple:
    """The index of [start:stop] along one axis (a negative axis counts from the end)."""
    if axis < 0:
        return (Ellipsis, slice(start, stop)) + (slice(None),) * (-axis - 1)
    return (slice(None),) * axis + (slice(start, stop),)


def _memoized(key: tuple, build):
    """``build()``, once per back-propagation: an op of n operands is asked for n
    gradients, so what they share is kept in the running back-propagation's memo."""
    memo = building().memo
    if memo is None:
        return build()
    if key not in memo:
        memo[key] = build()
    return memo[key]


def _static_offsets(output, inputs, axis):
    """Where each operand starts (and the end); None when a size along axis is unknown."""
    def build():
        starts = [0]
        for x in inputs:
            size = None if x.shape is None or (output.shape is None and axis < 0) \
                else x.shape[axis]
            if size is None:
                return None
            starts.append(starts[-1] + size)
        return starts

    return _memoized(("static offsets", id(output)), build)


def _offsets(output, inputs, axis):
    """Nodes holding where each operand of a concatenation starts along axis (built once)."""
    def build():
        starts = [output.graph.constant(np.asarray(0, dtype=np.int64))]
        for x in inputs[:-1]:
            starts.append(make_node(AxisEnd(axis), starts[-1], x))
        return starts

    return _memoized(("offsets", id(output)), build)


class AxisEnd(Op):
    """start + x.shape[axis]: the running offset of a concatenation; no gradient."""

    __props__ = ("axis",)
    differentiable = False

    def __init__(self, axis):
        self.axis = axis

    def forward(self, start, x):
        return np.asarray(int(start) + x.shape[self.axis], dtype=np.int64)

    def infer(self, start, x):
        return (), np.dtype(np.int64)


class AxisSlice(LinearOp):
    """g[..., start:start + ref.shape[axis], ...]: the part of a concatenation's gradient
    that operand ``ref`` filled."""

    view_of = 0

    def flops(self, input_shapes, output_shape):
        return 0  # a view: no arithmetic

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def same_shape_as(self, g, start, ref):
        return ref

    def forward(self, g, start, ref):
        start, axis = int(start), self.axis % g.ndim
        return g[_axis_key(axis, start, start + ref.shape[axis])]

    def infer(self, g, start, ref):
        return ref.shape, g.dtype

    def transpose(self, ct, inputs, output):
        # The adjoint of a slice: zeros of g's shape with ct written at the slice.
        return make_node(SliceInto(self.axis), ct, inputs[1], inputs[0])


class SliceInto(LinearOp):
    """zeros like ref with x written at [start:start + x.shape[axis]] along axis."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def same_shape_as(self, x, start, ref):
        return ref

    def forward(self, x, start, ref):
        return backends.slice_into(x, ref, self.axis, int(start))

    def infer(self, x, start, ref):
        return ref.shape, x.dtype

    def transpose(self, ct, inputs, output):
        return make_node(AxisSlice(self.axis), ct, inputs[1], inputs[0])


class ZerosLike(Op):
    """Zeros of ref's shape and of the dtype of ``like`` (when given); no gradient."""

    __props__ = ()
    always_zero = True
    differentiable = False

    def same_shape_as(self, ref, *like):
        return ref

    def forward(self, ref, *like):
        return np.zeros_like(ref, dtype=(like[0] if like else ref).dtype)

    def infer(self, ref, *like):
        return ref.shape, (like[0] if like else ref).dtype


class OnesSeed(Op):
    """The seed 1 for a z whose size is only known at run time; it checks z has one element."""

    __props__ = ()
    differentiable = False

    def same_shape_as(self, z):
        return z

    def forward(self, z):
        if np.size(z) != 1:
            raise GradError(f"z has shape {np.shape(z)}: gradients without a seed need a z "
                            "that holds exactly one element")
        return np.ones_like(z)

    def infer(self, z):
        return z.shape, z.dtype


# ---------------------------------------------------------------- user functions
def _keep_ones(node: Node, source: Node) -> Node:
    node.ones = source.ones
    return node


def reshape(x: ArrayLike, shape: int | Sequence[int]) -> Node:
    """Reshape to ``shape`` (one entry may be -1), as ``np.reshape``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 3))
    >>> gd.reshape(x, (3, -1)).shape
    (3, 2)
    """
    return make_node(Reshape(as_ints(shape, "reshape shape")), x)


def reshape_like(x: Node, ref: Node) -> Node:
    """x reshaped to ref's shape (static when known, else read from ref at run time)."""
    if ref.shape is not None and known(ref.shape):
        if x.shape == ref.shape:
            return x
        return _keep_ones(make_node(Reshape(ref.shape), x), x)
    return _keep_ones(make_node(Reshape(None), x, ref), x)


def broadcast_to(x: ArrayLike, shape: Sequence[int]) -> Node:
    """Broadcast to ``shape``, as ``np.broadcast_to``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> gd.broadcast_to(x, (2, 3)).shape
    (2, 3)
    """
    return make_node(BroadcastTo(as_ints(shape, "broadcast_to shape")), x)


def broadcast_like(x: Node, ref: Node) -> Node:
    """x broadcast to ref's shape (static when known, else read from ref at run time)."""
    if ref.shape is not None and known(ref.shape):
        if x.shape == ref.shape:
            return x
        return _keep_ones(make_node(BroadcastTo(ref.shape), x), x)
    return _keep_ones(make_node(BroadcastTo(None), x, ref), x)


def sum_to(x: Node, ref: Node) -> Node:
    """x summed down to ref's shape: undoes broadcasting."""
    if ref.shape is not None and known(ref.shape):
        if x.shape == ref.shape:
            return x
        return make_node(SumTo(ref.shape), x)
    return make_node(SumTo(None), x, ref)


def transpose(x: ArrayLike, axes: Sequence[int] | None = None) -> Node:
    """Permute the axes (reverse them by default), as ``np.transpose``.

    An op may offer a cheaper form of its own transpose (``Op.transposed``): the transpose
    of a fresh gradient product ``A @ B`` is built as ``B.T @ A.T``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 3, 4))
    >>> gd.transpose(x, (2, 0, 1)).shape
    (4, 2, 3)
    """
    if isinstance(x, Node) and x.ndim == 2 and (axes is None or tuple(axes) == (1, 0)) \
            and x.op is not None:
        swapped = x.op.transposed(x)
        if swapped is not None:
            return swapped
    if axes is not None:
        axes = as_ints(axes, "transpose axes")
        # axes permute every axis, so their count is the rank: negative ones can be
        # normalised even when the input's rank is unknown (the gradient inverts them).
        axes = tuple(a % len(axes) if -len(axes) <= a < 0 else a for a in axes)
        ndim = x.ndim if isinstance(x, Node) else None
        if ndim is not None and all(-ndim <= a < ndim for a in axes):
            axes = tuple(a % ndim for a in axes)
    return make_node(Transpose(axes), x)


def swap_last(x: Node) -> Node:
    """Swap the last two axes (the matrix transpose of a batch)."""
    n = x.ndim
    if n == 2:
        return transpose(x)
    return make_node(Transpose(tuple(range(n - 2)) + (n - 1, n - 2)), x)


def expand_dims(x: Node, axes: Sequence[int]) -> Node:
    """Insert size-1 axes at ``axes``, as ``np.expand_dims``."""
    return _keep_ones(make_node(ExpandDims(tuple(axes)), x), x)


def squeeze(x: Node, axes: Sequence[int]) -> Node:
    """Remove the size-1 axes ``axes``, as ``np.squeeze``."""
    return _keep_ones(make_node(Squeeze(tuple(axes)), x), x)


def zeros_like(ref: Node, like: Node | None = None) -> Node:
    """Zeros of ref's run-time shape (with like's dtype when given)."""
    return make_node(ZerosLike(), ref) if like is None else make_node(ZerosLike(), ref, like)


def concatenate(nodes: Sequence[ArrayLike], axis: int = 0) -> Node:
    """Join along an existing axis, as ``np.concatenate``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 3))
    >>> gd.concatenate([x, x], axis=1).shape
    (2, 6)
    """
    return make_node(Concatenate(as_int(axis, "concatenate axis")), *wrap("concatenate", *nodes))


def stack(nodes: Sequence[ArrayLike], axis: int = 0) -> Node:
    """Join along a new axis, as ``np.stack`` (concatenate of expanded operands).

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 3))
    >>> gd.stack([x, x, x], axis=1).shape
    (2, 3, 3)
    """
    axis = as_int(axis, "stack axis")
    nodes = wrap("stack", *nodes)
    shapes = [n.shape for n in nodes]
    if None not in shapes and (len({len(s) for s in shapes}) > 1 or any(
            len({d for d in dims if d is not None}) > 1 for dims in zip(*shapes))):
        listed = ", ".join(f"{describe(n)} of shape {n.shape}" for n in nodes)
        raise GraphError(f"stack: operands must all have the same shape, got {listed} at "
                         f"{format_site(creation_site())}")
    ndim = nodes[0].ndim
    if ndim is not None and axis < 0:
        axis = axis % (ndim + 1)
    return concatenate([expand_dims(n, (axis,)) for n in nodes], axis=axis)
