"""Reductions over ``axes`` (sorted, non-negative; None = all) with ``keepdims``."""

from __future__ import annotations

import numpy as np

from .. import backends
from .. import functional as F
from ..op import Op, size_of
from ..shapes import float_dtype, known, reduced_shape


class Reduction(Op):
    __props__ = ("axes", "keepdims")

    def __init__(self, axes, keepdims):
        self.axes = axes
        self.keepdims = keepdims

    def infer(self, x):
        return reduced_shape(x.shape, self.axes, self.keepdims), self.out_dtype(x.dtype)

    def flops(self, input_shapes, output_shape):
        return size_of(input_shapes[0]) if input_shapes[0] != output_shape else 0

    def out_dtype(self, dtype):
        return dtype

    def expand(self, grad):
        """The reduced gradient with the reduced axes put back as size-1 axes."""
        if self.keepdims or self.axes is None or grad.shape == ():
            return grad
        return F.expand_dims(grad, self.axes)


class Sum(Reduction):
    """d sum(x) = broadcast of the gradient over the summed axes."""

    def forward(self, x):
        return np.sum(x, axis=self.axes, keepdims=self.keepdims)

    def out_dtype(self, dtype):
        # Summing bools or small ints gives the platform integer, as NumPy does.
        if dtype is not None and dtype.kind in "biu":
            return np.sum(np.zeros(1, dtype)).dtype
        return dtype

    def vjp(self, i, inputs, output, grad):
        return F.broadcast_like(self.expand(grad), inputs[0])


class Mean(Reduction):
    """d mean(x) = broadcast of the gradient / count."""

    def forward(self, x):
        return np.mean(x, axis=self.axes, keepdims=self.keepdims)

    def out_dtype(self, dtype):
        return float_dtype(dtype)

    def vjp(self, i, inputs, output, grad):
        x = inputs[0]
        axes = range(len(x.shape)) if self.axes is None and x.shape is not None else self.axes
        if x.shape is not None and axes is not None and known(tuple(x.shape[a] for a in axes)):
            count = int(np.prod([x.shape[a] for a in axes]))
            scaled = F.multiply(grad, 1.0 / count) if count != 1 else grad
        else:
            scaled = F.divide(grad, F.make(Count(self.axes), x))
        return F.broadcast_like(self.expand(scaled), x)


class Count(Op):
    """How many elements a reduction over ``axes`` combines, as a scalar of x's dtype."""

    __props__ = ("axes",)
    differentiable = False

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        shape = np.shape(x)
        axes = range(len(shape)) if self.axes is None else self.axes
        count = int(np.prod([shape[a] for a in axes]))
        if type(x) is np.ndarray:
            return np.asarray(count, dtype=float_dtype(x.dtype))
        return backends.asarray_like(x, count, float_dtype(x.dtype))

    def infer(self, x):
        return (), float_dtype(x.dtype)


class Max(Reduction):
    """The gradient goes to the maximal entries, split evenly among ties."""

    pick = staticmethod(np.max)

    def forward(self, x):
        return self.pick(x, axis=self.axes, keepdims=self.keepdims)

    def vjp(self, i, inputs, output, grad):
        x = inputs[0]
        mask = F.make(TieSplit(self.axes), x, self.expand(output))
        return F.multiply(self.expand(grad), mask)


class Min(Max):
    """The gradient goes to the minimal entries, split evenly among ties."""

    pick = staticmethod(np.min)


class TieSplit(Op):
    """Weights 1/k on the k entries equal to the extremum m along axes, else 0."""

    __props__ = ("axes",)
    differentiable = False

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x, m):
        hit = (x == m).astype(x.dtype)
        return hit / hit.sum(axis=self.axes, keepdims=True)

    def infer(self, x, m):
        return x.shape, x.dtype


class LogSumExp(Reduction):
    """log sum exp(x), shifted by the max; d = softmax(x) times the gradient."""

    def forward(self, x):
        m = np.max(x, axis=self.axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        out = np.log(np.sum(np.exp(x - m), axis=self.axes, keepdims=True)) + m
        if not self.keepdims:
            out = out.reshape(()) if self.axes is None else np.squeeze(out, self.axes)
        return out

    def out_dtype(self, dtype):
        return float_dtype(dtype)

    def vjp(self, i, inputs, output, grad):
        weights = F.exp(F.subtract(inputs[0], self.expand(output)))
        return F.multiply(self.expand(grad), weights)
