"""Reductions over ``axes`` (sorted, non-negative; None = all) with ``keepdims``, and
their user functions (``gd.sum``, ``gd.mean``, ``gd.max``, ``gd.min``, ``gd.logsumexp``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backends
from ..errors import GraphError
from ..graph import Node, describe_full
from ..op import Op, make_node, size_of, wrap
from ..shapes import float_dtype, known, normalize_axes, reduced_shape
from ..site import creation_site, format_site
from .elementwise import divide, exp, multiply, subtract
from .shape import broadcast_like, expand_dims

ArrayLike = Any


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
        return expand_dims(grad, self.axes)


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
        return broadcast_like(self.expand(grad), inputs[0])

    def jvp(self, inputs, tangents, output):
        return make_node(self, tangents[0])  # linear


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
            scaled = multiply(grad, 1.0 / count) if count != 1 else grad
        else:
            scaled = divide(grad, make_node(Count(self.axes), x))
        return broadcast_like(self.expand(scaled), x)

    def jvp(self, inputs, tangents, output):
        return make_node(self, tangents[0])  # linear


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
        mask = make_node(TieSplit(self.axes), x, self.expand(output))
        return multiply(self.expand(grad), mask)

    def jvp(self, inputs, tangents, output):
        x = inputs[0]
        mask = make_node(TieSplit(self.axes), x, self.expand(output))
        return make_node(Sum(self.axes, self.keepdims), multiply(tangents[0], mask))


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
        weights = exp(subtract(inputs[0], self.expand(output)))
        return multiply(self.expand(grad), weights)

    def jvp(self, inputs, tangents, output):
        weights = exp(subtract(inputs[0], self.expand(output)))
        return make_node(Sum(self.axes, self.keepdims), multiply(tangents[0], weights))


# ---------------------------------------------------------------- user functions
def _reduce(op_type: type, x: ArrayLike, axis: Any, keepdims: bool, what: str) -> Node:
    (x,) = wrap(what, x)
    try:
        axes = normalize_axes(axis, x.ndim, what)
    except GraphError as exc:
        raise GraphError(f"{exc}: {describe_full(x)} has shape {x.shape}; called at "
                         f"{format_site(creation_site())}") from None
    if axes == () or (x.ndim == 0 and op_type is not LogSumExp):
        return x  # a reduction over no axes reduces nothing
    if axes is not None and x.ndim is not None and len(axes) == x.ndim and not keepdims:
        axes = None
    return make_node(op_type(axes, bool(keepdims)), x)


def sum(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Node:  # noqa: A001
    """Sum over ``axis`` (None: all), as ``np.sum``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 3))
    >>> g.run(gd.sum(x, axis=1), feed={x: np.ones((2, 3))})
    array([3., 3.])
    """
    return _reduce(Sum, x, axis, keepdims, "sum")


def mean(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Node:
    """Mean over ``axis`` (None: all), as ``np.mean``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.mean(x), feed={x: np.array([1.0, 2.0])})
    array(1.5)
    """
    return _reduce(Mean, x, axis, keepdims, "mean")


def max(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Node:  # noqa: A001
    """Maximum over ``axis``; tied maxima share the gradient evenly.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.max(x), feed={x: np.array([1.0, 2.0])})
    array(2.)
    """
    return _reduce(Max, x, axis, keepdims, "max")


def min(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Node:  # noqa: A001
    """Minimum over ``axis``; tied minima share the gradient evenly.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.min(x), feed={x: np.array([1.0, 2.0])})
    array(1.)
    """
    return _reduce(Min, x, axis, keepdims, "min")


def logsumexp(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Node:
    """log(sum(exp(x))) over ``axis``, shifted by the maximum so it never overflows.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.logsumexp(x), feed={x: np.array([0.0, 0.0])})
    array(0.69314718)
    """
    return _reduce(LogSumExp, x, axis, keepdims, "logsumexp")
