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
from .index import TakeAlongAxis, check_real, index

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
        # dtype=: a transpose keeps its operand's dtype (np.sum would widen int8 to int64).
        out = x.sum(axis=axes, keepdims=True, dtype=x.dtype) if axes else x
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
        if ref and type(ref[0]) is not np.ndarray:
            return backends.broadcast_like(x, ref[0])  # a Dask ref: follow its chunks
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

    def short_label(self, operands=()):
        if self.shape is None:
            return "reshape(like ref)"
        return "reshape(" + ", ".join("?" if d is None else str(d) for d in self.shape) + ")"

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

    def short_label(self, operands=()):
        x = operands[0] if operands and operands[0] else "\u00b7"
        if self.axes is None:
            return f"{x}.T"
        return f"{x}.transpose{tuple(self.axes)}"

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
    target = as_ints(shape, "reshape shape")
    if any(d < -1 for d in target) or target.count(-1) > 1:
        raise GraphError(f"reshape: shape {target} must hold sizes >= 0 and at most one -1, "
                         f"at {format_site(creation_site())}")
    return make_node(Reshape(target), x)


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
    target = as_ints(shape, "broadcast_to shape")
    if any(d < 0 for d in target):
        raise GraphError(f"broadcast_to: shape {target} must hold sizes >= 0, at "
                         f"{format_site(creation_site())}")
    return make_node(BroadcastTo(target), x)


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
    if axes is not None:
        axes = as_ints(axes, "transpose axes")
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


def expand_dims(x: ArrayLike, axis: int | Sequence[int]) -> Node:
    """Insert size-1 axes at ``axis`` (an int or a tuple), as ``np.expand_dims``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 3))
    >>> gd.expand_dims(x, (0, -1)).shape
    (1, 2, 3, 1)
    """
    if type(x) is Node and type(axis) is tuple and len(axis) == 1 and type(axis[0]) is int \
            and x.shape is not None and -len(x.shape) - 1 <= axis[0] <= len(x.shape):
        return _keep_ones(make_node(ExpandDims(axis), x), x)  # the rules' case, kept cheap
    axes = axis if _plain_axes(axis) else as_ints(axis, "expand_dims axis")
    if type(x) is not Node:
        (x,) = wrap("expand_dims", x)
    if x.shape is not None:
        _check_axes("expand_dims", axes, len(x.shape) + len(axes), x)
    return _keep_ones(make_node(ExpandDims(axes), x), x)


def squeeze(x: ArrayLike, axis: int | Sequence[int] | None = None) -> Node:
    """Remove size-1 axes (``axis``: an int, a tuple, or None for every size-1 axis), as
    ``np.squeeze``. With ``axis=None`` every dimension must be known statically.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 1, 3))
    >>> gd.squeeze(x).shape
    (2, 3)
    """
    if type(x) is Node and type(axis) is tuple and len(axis) == 1 and type(axis[0]) is int \
            and x.shape is not None and -len(x.shape) <= axis[0] < len(x.shape) \
            and x.shape[axis[0]] in (1, None):
        return _keep_ones(make_node(Squeeze(axis), x), x)  # the rules' case, kept cheap
    if type(x) is not Node:
        (x,) = wrap("squeeze", x)
    if axis is None:
        if x.shape is None or not known(x.shape):
            raise GraphError(f"squeeze(axis=None) needs every dimension known statically; "
                             f"{describe(x)} has shape {x.shape}: pass axis= at "
                             f"{format_site(creation_site())}")
        axes = tuple(k for k, d in enumerate(x.shape) if d == 1)
        if not axes:
            return x
    else:
        axes = axis if _plain_axes(axis) else as_ints(axis, "squeeze axis")
        if x.shape is not None:
            _check_axes("squeeze", axes, len(x.shape), x)
            bad = [a for a in axes if x.shape[a] not in (1, None)]
            if bad:
                raise GraphError(f"squeeze: cannot select axis {bad[0]} to squeeze out, it "
                                 f"has size {x.shape[bad[0]]} in {describe(x)} of shape "
                                 f"{x.shape} at {format_site(creation_site())}")
    return _keep_ones(make_node(Squeeze(axes), x), x)


def _plain_axes(axis: Any) -> bool:
    """A tuple of Python ints (what the gradient rules pass): no conversion needed."""
    return type(axis) is tuple and all(type(a) is int for a in axis)


def _check_axes(what: str, axes: Sequence[int], ndim: int, x: Node) -> tuple[int, ...]:
    """Axes normalised to [0, ndim); GraphError for one out of range or repeated."""
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise GraphError(f"{what}: axis {a} is out of range for rank {ndim} "
                             f"({describe(x)} of shape {x.shape}) at "
                             f"{format_site(creation_site())}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise GraphError(f"{what}: repeated axis in {tuple(axes)} at "
                         f"{format_site(creation_site())}")
    return tuple(out)


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


# ------------------------------------------------ NumPy surface: shape and selection
# Linear ops declaring their adjoint, and the NumPy functions built on them. Axes are
# normalised when the node is built, so every op below holds non-negative axes.


def _node(what: str, x: ArrayLike) -> Node:
    (x,) = wrap(what, x)
    check_real(what, x)
    return x


def _rank(what: str, x: Node) -> int:
    if x.shape is None:
        raise GraphError(f"{what} needs an operand of known rank, got {describe(x)} at "
                         f"{format_site(creation_site())}")
    return len(x.shape)


def _axis(what: str, axis: Any, x: Node) -> int:
    return _check_axes(what, (as_int(axis, f"{what} axis"),), _rank(what, x), x)[0]


def _fail(what: str, message: str) -> GraphError:
    return GraphError(f"{what}: {message} at {format_site(creation_site())}")


def swapaxes(x: ArrayLike, axis1: int, axis2: int) -> Node:
    """Interchange two axes, as ``np.swapaxes``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 3, 4))
    >>> gd.swapaxes(x, 0, -1).shape
    (4, 3, 2)
    """
    x = _node("swapaxes", x)
    a, b = _axis("swapaxes", axis1, x), _axis("swapaxes", axis2, x)
    perm = list(range(len(x.shape)))
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, perm)


def moveaxis(x: ArrayLike, source: int | Sequence[int],
             destination: int | Sequence[int]) -> Node:
    """Move axes to new positions, the others keeping their order, as ``np.moveaxis``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 3, 4))
    >>> gd.moveaxis(x, 0, -1).shape
    (3, 4, 2)
    """
    x = _node("moveaxis", x)
    n = _rank("moveaxis", x)
    src = _check_axes("moveaxis", as_ints(source, "moveaxis source"), n, x)
    dst = _check_axes("moveaxis", as_ints(destination, "moveaxis destination"), n, x)
    if len(src) != len(dst):
        raise _fail("moveaxis", "source and destination must have the same number of "
                    "elements")
    perm = [a for a in range(n) if a not in src]
    for d, s in sorted(zip(dst, src)):
        perm.insert(d, s)
    return transpose(x, perm)


class Flip(LinearOp):
    """Reverse the order of elements along axes (all when None); its own adjoint."""

    __props__ = ("axes",)
    view_of = 0

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return np.flip(x, self.axes)

    def infer(self, x):
        return x.shape, x.dtype

    def same_shape_as(self, x):
        return x

    def flops(self, input_shapes, output_shape):
        return 0  # a view: no arithmetic

    def transpose(self, ct, inputs, output):
        return make_node(self, ct)


def flip(x: ArrayLike, axis: int | Sequence[int] | None = None) -> Node:
    """Reverse the order of elements along ``axis`` (all axes by default), as ``np.flip``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> g.run(gd.flip(x), feed={x: np.array([1.0, 2.0, 3.0])})
    array([3., 2., 1.])
    """
    x = _node("flip", x)
    axes = None
    if axis is not None:
        axes = _check_axes("flip", as_ints(axis, "flip axis"), _rank("flip", x), x)
    return make_node(Flip(axes), x)


def fliplr(x: ArrayLike) -> Node:
    """Reverse the columns (axis 1) of an array of rank >= 2, as ``np.fliplr``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 3))
    >>> gd.fliplr(x).shape
    (2, 3)
    """
    x = _node("fliplr", x)
    if _rank("fliplr", x) < 2:
        raise _fail("fliplr", f"input must be >= 2-d, got shape {x.shape}")
    return make_node(Flip((1,)), x)


def flipud(x: ArrayLike) -> Node:
    """Reverse the rows (axis 0) of an array of rank >= 1, as ``np.flipud``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 3))
    >>> gd.flipud(x).shape
    (2, 3)
    """
    x = _node("flipud", x)
    if _rank("flipud", x) < 1:
        raise _fail("flipud", f"input must be >= 1-d, got shape {x.shape}")
    return make_node(Flip((0,)), x)


class Roll(LinearOp):
    """Shift elements cyclically along axes (the flattened array when axis is None);
    the adjoint rolls back by -shift."""

    __props__ = ("shift", "axis")

    def __init__(self, shift, axis):
        self.shift, self.axis = shift, axis

    def forward(self, x):
        return np.roll(x, self.shift, self.axis)

    def infer(self, x):
        return x.shape, x.dtype

    def same_shape_as(self, x):
        return x

    def flops(self, input_shapes, output_shape):
        return 0  # a copy: no arithmetic

    def transpose(self, ct, inputs, output):
        back = -self.shift if isinstance(self.shift, int) else tuple(-s for s in self.shift)
        return make_node(Roll(back, self.axis), ct)


def roll(x: ArrayLike, shift: int | Sequence[int],
         axis: int | Sequence[int] | None = None) -> Node:
    """Roll elements along ``axis`` (the flattened array when None), as ``np.roll``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> g.run(gd.roll(x, 1), feed={x: np.array([1.0, 2.0, 3.0])})
    array([3., 1., 2.])
    """
    x = _node("roll", x)
    shifts = as_ints(shift, "roll shift")
    if axis is None:
        if len(shifts) != 1:
            raise _fail("roll", "a sequence of shifts needs a sequence of axes")
        return make_node(Roll(shifts[0], None), x)
    axes = as_ints(axis, "roll axis")
    n = _rank("roll", x)
    for a in axes:
        if not -n <= a < n:
            raise _fail("roll", f"axis {a} is out of range for shape {x.shape}")
    axes = tuple(a % n for a in axes)
    if len(shifts) == 1 and len(axes) > 1:
        shifts = shifts * len(axes)
    elif len(axes) == 1 and len(shifts) > 1:
        axes = axes * len(shifts)
    if len(shifts) != len(axes):
        raise _fail("roll", f"shift {shift!r} and axis {axis!r} do not broadcast")
    if len(axes) == 1 and isinstance(axis, (int, np.integer)) \
            and isinstance(shift, (int, np.integer)):
        return make_node(Roll(shifts[0], axes[0]), x)
    return make_node(Roll(shifts, axes), x)


class Tile(LinearOp):
    """np.tile(x, reps); the adjoint sums the tiles (TileGrad)."""

    __props__ = ("reps",)

    def __init__(self, reps):
        self.reps = reps

    def forward(self, x):
        return np.tile(x, self.reps)

    def infer(self, x):
        if x.shape is None:
            return None, x.dtype
        n = max(len(x.shape), len(self.reps))
        shape = (1,) * (n - len(x.shape)) + tuple(x.shape)
        reps = (1,) * (n - len(self.reps)) + self.reps
        return tuple(None if d is None else d * r for d, r in zip(shape, reps)), x.dtype

    def transpose(self, ct, inputs, output):
        return make_node(TileGrad(self.reps), ct, inputs[0])


class TileGrad(LinearOp):
    """The sum of the tiles of g, of ref's shape: the adjoint of Tile."""

    __props__ = ("reps",)

    def __init__(self, reps):
        self.reps = reps

    def same_shape_as(self, g, ref):
        return ref

    def forward(self, g, ref):
        n = g.ndim
        reps = (1,) * (n - len(self.reps)) + self.reps
        base = (1,) * (n - ref.ndim) + ref.shape
        split = g.reshape(tuple(v for r, d in zip(reps, base) for v in (r, d)))
        return split.sum(axis=tuple(range(0, 2 * n, 2)), dtype=g.dtype).reshape(ref.shape)

    def infer(self, g, ref):
        return ref.shape, g.dtype

    def flops(self, input_shapes, output_shape):
        return size_of(input_shapes[0])

    def transpose(self, ct, inputs, output):
        return make_node(Tile(self.reps), ct)


def tile(x: ArrayLike, reps: int | Sequence[int]) -> Node:
    """Repeat the whole array ``reps`` times along each axis, as ``np.tile``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.tile(x, 2), feed={x: np.array([1.0, 2.0])})
    array([1., 2., 1., 2.])
    """
    x = _node("tile", x)
    reps = as_ints(reps, "tile reps")
    if any(r < 0 for r in reps):
        raise _fail("tile", f"reps {reps} must not be negative")
    return make_node(Tile(reps), x)


class Repeat(LinearOp):
    """np.repeat(x, repeats, axis): each element repeated; the adjoint sums the copies."""

    __props__ = ("repeats", "axis")

    def __init__(self, repeats, axis):
        self.repeats, self.axis = repeats, axis

    def forward(self, x):
        return np.repeat(x, self.repeats, self.axis)

    def infer(self, x):
        if x.shape is None:
            return None, x.dtype
        n = x.shape[self.axis]
        if isinstance(self.repeats, int):
            size = None if n is None else n * self.repeats
        elif len(self.repeats) == 1:
            size = None if n is None else n * self.repeats[0]
        else:
            if n is not None and n != len(self.repeats):
                raise GraphError(f"repeat: {len(self.repeats)} repeats for an axis of size "
                                 f"{n}")
            size = sum(self.repeats)
        shape = list(x.shape)
        shape[self.axis] = size
        return tuple(shape), x.dtype

    def transpose(self, ct, inputs, output):
        return make_node(RepeatGrad(self.repeats, self.axis), ct, inputs[0])


class RepeatGrad(LinearOp):
    """g's copies of each element summed back, to ref's shape: the adjoint of Repeat."""

    __props__ = ("repeats", "axis")

    def __init__(self, repeats, axis):
        self.repeats, self.axis = repeats, axis

    def same_shape_as(self, g, ref):
        return ref

    def forward(self, g, ref):
        axis, n = self.axis, ref.shape[self.axis]
        reps = self.repeats if isinstance(self.repeats, int) or len(self.repeats) > 1 \
            else self.repeats[0]
        if isinstance(reps, int):
            shape = g.shape[:axis] + (n, reps) + g.shape[axis + 1:]
            return g.reshape(shape).sum(axis=axis + 1, dtype=g.dtype)
        out = np.zeros(ref.shape, dtype=g.dtype)
        owner = np.repeat(np.arange(n), reps)
        np.add.at(np.moveaxis(out, axis, 0), owner, np.moveaxis(g, axis, 0))
        return out

    def infer(self, g, ref):
        return ref.shape, g.dtype

    def flops(self, input_shapes, output_shape):
        return size_of(input_shapes[0])

    def transpose(self, ct, inputs, output):
        return make_node(Repeat(self.repeats, self.axis), ct)


def repeat(x: ArrayLike, repeats: int | Sequence[int], axis: int | None = None) -> Node:
    """Repeat each element ``repeats`` times (an int, or one count per element) along
    ``axis`` (of the flattened array when None), as ``np.repeat``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.repeat(x, [1, 2]), feed={x: np.array([1.0, 2.0])})
    array([1., 2., 2.])
    """
    x = _node("repeat", x)
    if isinstance(repeats, (int, np.integer)):
        reps: Any = as_int(repeats, "repeat repeats")
        if reps < 0:
            raise _fail("repeat", f"repeats {reps} must not be negative")
    else:
        reps = as_ints(np.asarray(repeats).reshape(-1).tolist(), "repeat repeats")
        if any(r < 0 for r in reps):
            raise _fail("repeat", f"repeats {reps} must not be negative")
    if axis is None:
        x, axis = ravel(x), 0
    axis = _axis("repeat", axis, x)
    try:
        return make_node(Repeat(reps, axis), x)
    except GraphError as exc:
        raise _fail("repeat", str(exc).split("\n")[0]) from None


_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


class Pad(Op):
    """np.pad(x, width, mode): constant, edge, reflect, symmetric or wrap. Every mode
    selects elements of x (or writes the constant), so d/dx scatters back (PadGrad)."""

    __props__ = ("width", "mode", "value")

    def __init__(self, width, mode="constant", value=0):
        self.width, self.mode, self.value = width, mode, value

    def forward(self, x):
        if self.mode == "constant":
            return np.pad(x, self.width, mode="constant", constant_values=self.value)
        return np.pad(x, self.width, mode=self.mode)

    def infer(self, x):
        if x.shape is None:
            return None, x.dtype
        return tuple(None if d is None else d + a + b
                     for d, (a, b) in zip(x.shape, self.width)), x.dtype

    def flops(self, input_shapes, output_shape):
        return 0  # a copy: no arithmetic

    def vjp(self, i, inputs, output, grad):
        return make_node(PadGrad(self.width, self.mode), grad, inputs[0])

    def jvp(self, inputs, tangents, output):
        # The constant does not move: the tangent is padded with zeros.
        t = tangents[0]
        return None if t is None else make_node(Pad(self.width, self.mode, 0), t)


class PadGrad(LinearOp):
    """The adjoint of Pad: the interior slice of g (constant mode), or g scattered back
    through the per-axis indices that np.pad read (np.add.at, for the other modes)."""

    __props__ = ("width", "mode")
    view_of = 0  # constant mode: the interior slice of g

    def __init__(self, width, mode):
        self.width, self.mode = width, mode

    def same_shape_as(self, g, ref):
        return ref

    def forward(self, g, ref):
        if self.mode == "constant":
            return g[tuple(slice(a, a + n) for (a, _), n in zip(self.width, ref.shape))]
        for axis, ((a, b), n) in enumerate(zip(self.width, ref.shape)):
            if a == 0 and b == 0:
                continue
            # The padded array is x taken along each axis at these indices (in turn).
            source = np.pad(np.arange(n), (a, b), mode=self.mode)
            shape = g.shape[:axis] + (n,) + g.shape[axis + 1:]
            out = np.zeros(shape, dtype=g.dtype)
            np.add.at(np.moveaxis(out, axis, 0), source, np.moveaxis(g, axis, 0))
            g = out
        return g

    def infer(self, g, ref):
        return ref.shape, g.dtype

    def transpose(self, ct, inputs, output):
        return make_node(Pad(self.width, self.mode, 0), ct)


def _pad_pairs(value: Any, ndim: int, what: str) -> tuple:
    """NumPy's ((before, after),) * ndim from an int, a pair or one pair per axis."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu" and arr.size:
        raise TypeError(f"{what} must hold integers, got {value!r}")
    try:
        pairs = np.broadcast_to(arr.astype(np.int64), (ndim, 2))
    except ValueError:
        raise _fail("pad", f"{what} {value!r} does not fit an array of rank {ndim}") from None
    if (pairs < 0).any():
        raise _fail("pad", f"{what} {value!r} must not be negative")
    return tuple((int(a), int(b)) for a, b in pairs)


def pad(x: ArrayLike, pad_width: Any, mode: str = "constant", constant_values: Any = 0) -> Node:
    """Pad with ``constant_values`` (mode ``"constant"``) or with the array's own values
    (``"edge"``, ``"reflect"``, ``"symmetric"``, ``"wrap"``), as ``np.pad``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.pad(x, 1, constant_values=9.0), feed={x: np.array([1.0, 2.0])})
    array([9., 1., 2., 9.])
    """
    x = _node("pad", x)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode {mode!r} is not supported; use one of {_PAD_MODES}")
    width = _pad_pairs(pad_width, _rank("pad", x), "pad_width")
    value: Any = 0
    if mode == "constant":
        values = np.asarray(constant_values)
        if values.dtype.kind == "c":
            raise TypeError("pad: complex dtypes are not supported yet")
        if values.dtype.kind not in "biuf":
            raise TypeError(f"pad: constant_values must be numbers, got {constant_values!r}")
        if values.ndim == 0:
            value = values.item()
        else:
            value = tuple(tuple(p) for p in np.broadcast_to(values, (len(width), 2)).tolist())
    if mode in ("reflect", "symmetric", "wrap", "edge") and x.shape is not None:
        empty = [k for k, (d, w) in enumerate(zip(x.shape, width)) if d == 0 and w != (0, 0)]
        if empty:
            raise _fail("pad", f"can't extend empty axis {empty[0]} using mode {mode!r}")
    return make_node(Pad(width, mode, value), x)


class Diagonal(LinearOp):
    """np.diagonal(x, offset, axis1, axis2): the diagonal moves to the last axis; the
    adjoint embeds it back (DiagonalEmbed)."""

    __props__ = ("offset", "axis1", "axis2")
    view_of = 0

    def __init__(self, offset, axis1, axis2):
        self.offset, self.axis1, self.axis2 = offset, axis1, axis2

    def forward(self, x):
        return np.diagonal(x, self.offset, self.axis1, self.axis2)

    def infer(self, x):
        if x.shape is None:
            return None, x.dtype
        n1, n2 = x.shape[self.axis1], x.shape[self.axis2]
        k = self.offset
        length = None
        if n1 is not None and n2 is not None:
            length = max(0, min(n1, n2 - k) if k >= 0 else min(n1 + k, n2))
        rest = tuple(d for a, d in enumerate(x.shape) if a not in (self.axis1, self.axis2))
        return rest + (length,), x.dtype

    def flops(self, input_shapes, output_shape):
        return 0  # a view: no arithmetic

    def transpose(self, ct, inputs, output):
        return make_node(DiagonalEmbed(self.offset, self.axis1, self.axis2), ct, inputs[0])


class DiagonalEmbed(LinearOp):
    """Zeros like ref with g written on the diagonal that Diagonal reads."""

    __props__ = ("offset", "axis1", "axis2")

    def __init__(self, offset, axis1, axis2):
        self.offset, self.axis1, self.axis2 = offset, axis1, axis2

    def same_shape_as(self, g, ref):
        return ref

    def forward(self, g, ref):
        out = np.zeros(ref.shape, dtype=g.dtype)
        view = np.moveaxis(out, (self.axis1, self.axis2), (-2, -1))
        steps = np.arange(g.shape[-1])
        view[..., steps + max(-self.offset, 0), steps + max(self.offset, 0)] = g
        return out

    def infer(self, g, ref):
        return ref.shape, g.dtype

    def transpose(self, ct, inputs, output):
        return make_node(Diagonal(self.offset, self.axis1, self.axis2), ct)


def diagonal(x: ArrayLike, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Node:
    """The diagonal at ``offset`` of the planes (axis1, axis2), on a new last axis, as
    ``np.diagonal``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 2))
    >>> g.run(gd.diagonal(x), feed={x: np.array([[1.0, 2.0], [3.0, 4.0]])})
    array([1., 4.])
    """
    x = _node("diagonal", x)
    offset = as_int(offset, "diagonal offset")
    if _rank("diagonal", x) < 2:
        raise _fail("diagonal", f"the input must be at least 2-d, got shape {x.shape}")
    a1, a2 = _axis("diagonal", axis1, x), _axis("diagonal", axis2, x)
    if a1 == a2:
        raise _fail("diagonal", "axis1 and axis2 cannot be the same")
    return make_node(Diagonal(offset, a1, a2), x)


class Diag(LinearOp):
    """np.diag of a vector: a square matrix with x on diagonal k; the adjoint reads that
    diagonal back."""

    __props__ = ("k",)

    def __init__(self, k):
        self.k = k

    def forward(self, x):
        return np.diag(x, self.k)

    def infer(self, x):
        n = x.shape[0] if x.shape is not None else None
        size = None if n is None else n + abs(self.k)
        return (size, size), x.dtype

    def transpose(self, ct, inputs, output):
        return make_node(Diagonal(self.k, 0, 1), ct)


def diag(v: ArrayLike, k: int = 0) -> Node:
    """The diagonal k of a 2-D array, or a 2-D array with the 1-D ``v`` on diagonal k, as
    ``np.diag``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); v = g.input("v", shape=(2,))
    >>> g.run(gd.diag(v), feed={v: np.array([1.0, 2.0])})
    array([[1., 0.],
           [0., 2.]])
    """
    v = _node("diag", v)
    k = as_int(k, "diag k")
    n = _rank("diag", v)
    if n == 1:
        return make_node(Diag(k), v)
    if n == 2:
        return make_node(Diagonal(k, 0, 1), v)
    raise _fail("diag", f"input must be 1- or 2-d, got shape {v.shape}")


class Tri(LinearOp):
    """np.tril (lower) or np.triu of the last two axes at diagonal k: a product with a
    constant 0/1 mask, so it is its own adjoint."""

    __props__ = ("k", "lower")

    def __init__(self, k, lower):
        self.k, self.lower = k, lower

    def forward(self, x):
        return np.tril(x, self.k) if self.lower else np.triu(x, self.k)

    def infer(self, x):
        return x.shape, x.dtype

    def same_shape_as(self, x):
        return x

    def transpose(self, ct, inputs, output):
        return make_node(self, ct)


def _tri(what: str, x: ArrayLike, k: int, lower: bool) -> Node:
    x = _node(what, x)
    k = as_int(k, f"{what} k")
    n = _rank(what, x)
    if n == 0:
        raise _fail(what, "input must be at least 1-d")
    if n == 1:
        # NumPy treats a vector as the rows of a square matrix.
        if x.shape[0] is None:
            raise _fail(what, "a 1-d input needs a known size")
        x = broadcast_to(x, (x.shape[0], x.shape[0]))
    return make_node(Tri(k, lower), x)


def tril(m: ArrayLike, k: int = 0) -> Node:
    """The lower triangle of the last two axes (zeros above diagonal k), as ``np.tril``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 2))
    >>> g.run(gd.tril(x), feed={x: np.ones((2, 2))})
    array([[1., 0.],
           [1., 1.]])
    """
    return _tri("tril", m, k, True)


def triu(m: ArrayLike, k: int = 0) -> Node:
    """The upper triangle of the last two axes (zeros below diagonal k), as ``np.triu``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 2))
    >>> g.run(gd.triu(x), feed={x: np.ones((2, 2))})
    array([[1., 1.],
           [0., 1.]])
    """
    return _tri("triu", m, k, False)


class Section(LinearOp):
    """Part k of np.array_split(x, sections, axis), for an axis whose size is only known
    at run time; the adjoint writes it back into zeros (SliceInto)."""

    __props__ = ("sections", "k", "axis", "equal")
    view_of = 0

    def __init__(self, sections, k, axis, equal):
        self.sections, self.k, self.axis, self.equal = sections, k, axis, equal

    def forward(self, x):
        if self.equal and x.shape[self.axis] % self.sections:
            raise ValueError("array split does not result in an equal division")
        return np.array_split(x, self.sections, self.axis)[self.k]

    def infer(self, x):
        if x.shape is None:
            return None, x.dtype
        shape = list(x.shape)
        n = shape[self.axis]
        shape[self.axis] = None if n is None else \
            n // self.sections + (1 if self.k < n % self.sections else 0)
        return tuple(shape), x.dtype

    def flops(self, input_shapes, output_shape):
        return 0  # a view: no arithmetic

    def transpose(self, ct, inputs, output):
        return make_node(SectionInto(self.sections, self.k, self.axis), ct, inputs[0])


class SectionInto(LinearOp):
    """Zeros like ref with g written where part k of array_split(ref) lies."""

    __props__ = ("sections", "k", "axis")

    def __init__(self, sections, k, axis):
        self.sections, self.k, self.axis = sections, k, axis

    def same_shape_as(self, g, ref):
        return ref

    def forward(self, g, ref):
        size, extra = divmod(ref.shape[self.axis], self.sections)
        start = self.k * size + min(self.k, extra)
        return backends.slice_into(g, ref, self.axis, start)

    def infer(self, g, ref):
        return ref.shape, g.dtype

    def transpose(self, ct, inputs, output):
        return make_node(Section(self.sections, self.k, self.axis, False), ct)


def _split(what: str, x: ArrayLike, indices_or_sections: Any, axis: int, equal: bool):
    x = _node(what, x)
    axis = _axis(what, axis, x)
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = as_int(indices_or_sections, f"{what} sections")
        if sections <= 0:
            raise _fail(what, "number sections must be larger than 0")
        n = x.shape[axis]
        if n is None:
            return [make_node(Section(sections, k, axis, equal), x) for k in range(sections)]
        if equal and n % sections:
            raise _fail(what, f"array split does not result in an equal division: {n} into "
                        f"{sections}")
        size, extra = divmod(n, sections)
        bounds = [0]
        for k in range(sections):
            bounds.append(bounds[-1] + size + (1 if k < extra else 0))
        cuts = list(zip(bounds[:-1], bounds[1:]))
    else:
        points = as_ints(indices_or_sections, f"{what} indices")
        starts = (0,) + points
        cuts = list(zip(starts, points + (None,)))
    return [index(x, (slice(None),) * axis + (slice(a, b),)) for a, b in cuts]


def split(ary: ArrayLike, indices_or_sections: Any, axis: int = 0) -> list[Node]:
    """Split into equal sections (an int) or at indices (a sequence), as ``np.split``;
    returns a list of Nodes.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(4, 3))
    >>> [p.shape for p in gd.split(x, 2)]
    [(2, 3), (2, 3)]
    """
    return _split("split", ary, indices_or_sections, axis, True)


def array_split(ary: ArrayLike, indices_or_sections: Any, axis: int = 0) -> list[Node]:
    """Split into sections that may differ in size by one, as ``np.array_split``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(5,))
    >>> [p.shape for p in gd.array_split(x, 2)]
    [(3,), (2,)]
    """
    return _split("array_split", ary, indices_or_sections, axis, False)


def ravel(a: ArrayLike) -> Node:
    """The flattened array (C order), as ``np.ravel``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 3))
    >>> gd.ravel(x).shape
    (6,)
    """
    a = _node("ravel", a)
    if a.shape is not None and len(a.shape) == 1:
        return a
    return reshape(a, (-1,))


def _at_least(what: str, nodes: Sequence[ArrayLike], ndim: int) -> list[Node]:
    out = []
    for x in wrap(what, *nodes):
        check_real(what, x)
        n = _rank(what, x)
        if n == 0:
            x = reshape(x, (1,) * ndim)
        elif n < ndim:
            x = expand_dims(x, (0,))
        out.append(x)
    return out


def hstack(tup: Sequence[ArrayLike]) -> Node:
    """Join along the second axis (the first for 1-D arrays), as ``np.hstack``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 3))
    >>> gd.hstack([x, x]).shape
    (2, 6)
    """
    nodes = _at_least("hstack", list(tup), 1)
    return concatenate(nodes, axis=0 if len(nodes[0].shape) == 1 else 1)


def vstack(tup: Sequence[ArrayLike]) -> Node:
    """Join along the first axis, 1-D arrays as rows, as ``np.vstack``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> gd.vstack([x, x]).shape
    (2, 3)
    """
    return concatenate(_at_least("vstack", list(tup), 2), axis=0)


def take(a: ArrayLike, indices: Any, axis: int | None = None) -> Node:
    """Elements at ``indices`` (an integer array or integer Node) along ``axis`` (of the
    flattened array when None), as ``np.take``; repeated indices add up in the gradient.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 3))
    >>> g.run(gd.take(x, [2, 0], axis=1), feed={x: np.arange(6.0).reshape(2, 3)})
    array([[2., 0.],
           [5., 3.]])
    """
    a = _node("take", a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = _axis("take", axis, a)
    if not isinstance(indices, Node):
        try:
            arr = np.array(indices)  # a copy: the caller's array may change later
        except ValueError as exc:
            raise TypeError(f"take: indices must be a rectangular integer array ({exc}) at "
                            f"{format_site(creation_site())}") from None
        if arr.size == 0:
            arr = arr.astype(np.intp)  # [] holds no index: NumPy reads it as integers
        if arr.dtype.kind not in "iu":
            raise TypeError(f"take: indices must be integers, got {arr.dtype} at "
                            f"{format_site(creation_site())}")
        indices = arr if arr.ndim else int(arr)
    return index(a, (slice(None),) * axis + (indices,))


def take_along_axis(arr: ArrayLike, indices: Any, axis: int | None = -1) -> Node:
    """Values at ``indices`` along ``axis``, the other axes matched (``np.take_along_axis``:
    pairs with argsort/argmax results); the indices may be an integer Node.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 2))
    >>> g.run(gd.take_along_axis(x, np.array([[1], [0]]), axis=1),
    ...       feed={x: np.array([[1.0, 2.0], [3.0, 4.0]])})
    array([[2.],
           [3.]])
    """
    arr, idx = wrap("take_along_axis", arr, indices)
    check_real("take_along_axis", arr)
    if idx.dtype is not None and idx.dtype.kind not in "iu":
        raise TypeError(f"take_along_axis: indices must be integers, got {idx.dtype} at "
                        f"{format_site(creation_site())}")
    if axis is None:
        if idx.shape is not None and len(idx.shape) != 1:
            raise _fail("take_along_axis", "when axis=None, indices must be 1-d")
        arr, axis = ravel(arr), 0
    axis = _axis("take_along_axis", axis, arr)
    if idx.shape is not None and len(idx.shape) != len(arr.shape):
        raise _fail("take_along_axis", f"indices of shape {idx.shape} and arr of shape "
                    f"{arr.shape} must have the same number of dimensions")
    try:
        return make_node(TakeAlongAxis(axis), arr, idx)
    except GraphError as exc:
        raise _fail("take_along_axis", str(exc).split("\n")[0]) from None
