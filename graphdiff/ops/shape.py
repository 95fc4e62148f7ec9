"""Shape primitives. Those whose gradient needs a run-time shape take a reference node
as an extra input (``ref``); that input gets no gradient."""

from __future__ import annotations

import weakref

import numpy as np

from .. import backends
from .. import functional as F
from ..errors import GradError, GraphError
from ..op import Op, size_of
from ..shapes import known


def _target(static, ref_values):
    return static if static is not None else ref_values[0].shape


class SumTo(Op):
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

    def vjp(self, i, inputs, output, grad):
        return F.broadcast_like(grad, inputs[0]) if i == 0 else None


class BroadcastTo(Op):
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

    def vjp(self, i, inputs, output, grad):
        return F.sum_to(grad, inputs[0]) if i == 0 else None


class Reshape(Op):
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

    def vjp(self, i, inputs, output, grad):
        return F.reshape_like(grad, inputs[0]) if i == 0 else None


class Transpose(Op):
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

    def vjp(self, i, inputs, output, grad):
        inverse = None if self.axes is None else tuple(np.argsort(self.axes).tolist())
        return F.transpose(grad, inverse)


class ExpandDims(Op):
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

    def vjp(self, i, inputs, output, grad):
        return F.squeeze(grad, self.axes)


class Squeeze(Op):
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

    def vjp(self, i, inputs, output, grad):
        return F.expand_dims(grad, self.axes)


class Concatenate(Op):
    """Join along an axis; d/dx_i = the slice of the gradient that x_i filled."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        return np.concatenate(xs, axis=self.axis)

    def infer(self, *xs):
        from ..shapes import result_dtype

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
        from ..op import make_node

        axis = self.axis
        starts = _static_offsets(output, inputs, axis)
        if starts is not None:
            # Static offsets: a plain slice of the gradient.
            start, stop = starts[i], starts[i + 1]
            key = _axis_key(axis, start, stop)
            return F.index(grad, key)
        # Run-time offsets: slice i reads only the operands before it, so n slices would
        # read n^2 operands; a chain of running offsets keeps the gradient linear in n.
        starts = _offsets(output, inputs, axis)
        return make_node(AxisSlice(axis), grad, starts[i], inputs[i])


_OFFSETS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_STATIC: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _axis_key(axis: int, start: int, stop: int) -> tuple:
    """The index of [start:stop] along one axis (a negative axis counts from the end)."""
    if axis < 0:
        return (Ellipsis, slice(start, stop)) + (slice(None),) * (-axis - 1)
    return (slice(None),) * axis + (slice(start, stop),)


def _static_offsets(output, inputs, axis):
    """Where each operand starts (and the end), computed once per concatenation: an op of n
    operands is asked for n gradients. None when a size along axis is unknown."""
    if output in _STATIC:
        return _STATIC[output]
    starts = [0]
    for x in inputs:
        size = None if x.shape is None or (output.shape is None and axis < 0) else x.shape[axis]
        if size is None:
            starts = None
            break
        starts.append(starts[-1] + size)
    _STATIC[output] = starts
    return starts


def _offsets(output, inputs, axis):
    """Nodes holding where each operand of a concatenation starts along axis (built once)."""
    starts = _OFFSETS.get(output)
    if starts is None:
        from ..op import make_node

        starts = [output.graph.constant(np.asarray(0, dtype=np.int64))]
        for x in inputs[:-1]:
            starts.append(make_node(AxisEnd(axis), starts[-1], x))
        _OFFSETS[output] = starts
    return starts


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


class AxisSlice(Op):
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

    def vjp(self, i, inputs, output, grad):
        if i != 0:
            return None
        from ..op import make_node

        # The adjoint of a slice: zeros of g's shape with grad written at the slice.
        return make_node(SliceInto(self.axis), grad, inputs[1], inputs[0])


class SliceInto(Op):
    """zeros like ref with x written at [start:start + x.shape[axis]] along axis."""

    __props__ = ("axis",)
    def __init__(self, axis):
        self.axis = axis

    def same_shape_as(self, x, start, ref):
        return ref

    def forward(self, x, start, ref):
        if type(x) is not np.ndarray or type(ref) is not np.ndarray:
            return backends.slice_into(x, ref, self.axis, int(start))
        out = np.zeros(ref.shape, dtype=x.dtype)
        start, axis = int(start), self.axis % out.ndim
        out[_axis_key(axis, start, start + x.shape[axis])] = x
        return out

    def infer(self, x, start, ref):
        return ref.shape, x.dtype

    def vjp(self, i, inputs, output, grad):
        if i != 0:
            return None
        from ..op import make_node

        return make_node(AxisSlice(self.axis), grad, inputs[1], inputs[0])


class ZerosLike(Op):
    """Zeros of ref's shape and of the dtype of ``like`` (when given); no gradient."""

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
