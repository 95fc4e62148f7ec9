"""Reductions over ``axes`` (sorted, non-negative; None = all) with ``keepdims``, and
their user functions (``gd.sum``, ``gd.mean``, ``gd.max``, ``gd.min``, ``gd.logsumexp``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backends
from ..errors import GraphError
from ..graph import Node, describe_full
from ..op import LinearOp, Op, as_int, make_node, size_of, wrap
from ..shapes import float_dtype, known, normalize_axes, reduced_shape, ufunc_float_dtype
from ..site import creation_site, format_site
from .elementwise import (
    add,
    as_float,
    astype,
    divide,
    equal,
    greater_equal,
    logical_and,
    logical_or,
    multiply,
    not_equal,
    quiet_exp,
    reject_complex,
    sqrt,
    square,
    subtract,
    where,
)
from .shape import broadcast_like, expand_dims, reshape

ArrayLike = Any


class Reduction(Op):
    __props__ = ("axes", "keepdims")

    def __init__(self, axes, keepdims):
        self.axes = axes
        self.keepdims = keepdims

    def short_label(self, operands=()):
        """``sum``, ``mean(axis=1)``, ``max(axis=(0, 2), keepdims=True)``."""
        args = []
        if self.axes is not None:
            axes = tuple(self.axes) if isinstance(self.axes, (tuple, list)) else (self.axes,)
            args.append(f"axis={axes[0]}" if len(axes) == 1 else f"axis={axes}")
        if self.keepdims:
            args.append("keepdims=True")
        name = type(self).__name__.lower()
        return f"{name}({', '.join(args)})" if args else name

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
            # An empty reduction has an empty gradient: any scale will do (no 1 / 0).
            scaled = multiply(grad, 1.0 / count) if count not in (0, 1) else grad
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
        return x.shape, float_dtype(x.dtype)  # integer hits / their count is float64


class LogSumExp(Reduction):
    """log sum exp(x), shifted by the max; d = softmax(x) times the gradient."""

    def forward(self, x):
        x = as_float(x)  # uint8 x - max(x) would wrap around
        axes = range(np.ndim(x)) if self.axes is None else self.axes
        if 0 in [np.shape(x)[a] for a in axes]:  # (this module defines its own any)
            # log of an empty sum: -inf, as scipy.special.logsumexp (np.max would refuse)
            out = np.full(np.shape(np.sum(x, axis=self.axes, keepdims=True)), -np.inf,
                          dtype=x.dtype)
            return out if self.keepdims else (
                out.reshape(()) if self.axes is None else np.squeeze(out, self.axes))
        m = np.max(x, axis=self.axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        # exp underflows harmlessly for entries far below the max; an all -inf row sums to
        # 0 and its log is -inf, the right answer (no divide-by-zero warning).
        with np.errstate(under="ignore", divide="ignore"):
            out = np.log(np.sum(np.exp(x - m), axis=self.axes, keepdims=True)) + m
        if not self.keepdims:
            out = out.reshape(()) if self.axes is None else np.squeeze(out, self.axes)
        return out

    def out_dtype(self, dtype):
        return ufunc_float_dtype(dtype)  # as np.exp of it: int8 gives float16

    def vjp(self, i, inputs, output, grad):
        weights = quiet_exp(subtract(inputs[0], self.expand(output)))
        return multiply(self.expand(grad), weights)

    def jvp(self, inputs, tangents, output):
        weights = quiet_exp(subtract(inputs[0], self.expand(output)))
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


# ================================================================ the NumPy surface: reductions
def _axes(x: Node, axis: Any, what: str) -> tuple[int, ...] | None:
    """Normalized axes as _reduce takes them (None: all), with the user's line on errors."""
    reject_complex(what, (x,))
    try:
        axes = normalize_axes(axis, x.ndim, what)
    except GraphError as exc:
        raise GraphError(f"{exc}: {describe_full(x)} has shape {x.shape}; called at "
                         f"{format_site(creation_site())}") from None
    if axes is not None and x.ndim is not None and len(axes) == x.ndim:
        axes = None
    return axes


def _axis(x: Node, axis: Any, what: str) -> int | None:
    """One axis (NumPy's argmax, cumsum and sort take a single integer), non-negative."""
    if axis is None:
        return None
    axes = _axes(x, as_int(axis, f"{what}: axis"), what)
    return 0 if axes is None else axes[0]


def _numpy_reduce_dtype(fn: Any, dtype: np.dtype | None) -> np.dtype | None:
    return None if dtype is None else fn(np.ones(1, dtype)).dtype


class Prod(Reduction):
    """d prod(x) = the product of the other entries times the gradient (no division by
    the product: zeros are counted, see ``_prod_of_others``)."""

    def forward(self, x):
        return np.prod(x, axis=self.axes, keepdims=self.keepdims)

    def out_dtype(self, dtype):
        return _numpy_reduce_dtype(np.prod, dtype)

    def vjp(self, i, inputs, output, grad):
        return multiply(self.expand(grad), _prod_of_others(inputs[0], self.axes))

    def jvp(self, inputs, tangents, output):
        others = _prod_of_others(inputs[0], self.axes)
        return make_node(Sum(self.axes, self.keepdims), multiply(tangents[0], others))


def _prod_of_others(x: Node, axes: tuple | None) -> Node:
    """prod_{j != i} x_j along axes, for each i, exact with zeros and exact to second order.

    With p the product of the nonzero entries and z the sum of the zero entries (0 in
    value, but its derivative is 1 along each zero entry): no zero, p / x_i; one zero, p
    at the zero and (p / x_i) z elsewhere; two zeros, p (z - x_i) at each zero and 0
    elsewhere; more, 0. Only nonzero entries are ever divided by.
    """
    zero = equal(x, 0)
    nonzero = where(zero, 1, x)
    p = make_node(Prod(axes, True), nonzero)
    z = make_node(Sum(axes, True), where(zero, x, 0))
    zeros = make_node(Sum(axes, True), zero)
    others = divide(p, nonzero)
    one = where(zero, p, multiply(others, z))
    two = where(zero, multiply(p, subtract(z, x)), 0)
    return where(equal(zeros, 0), others,
                 where(equal(zeros, 1), one, where(equal(zeros, 2), two, 0)))


class Cumsum(LinearOp):
    """Running sum along ``axis`` (``reverse``: from the end); its adjoint is the running
    sum the other way."""

    __props__ = ("axis", "reverse")

    def __init__(self, axis, reverse=False):
        self.axis, self.reverse = axis, reverse

    def forward(self, x):
        if not self.reverse:
            return np.cumsum(x, axis=self.axis)
        return np.flip(np.cumsum(np.flip(x, self.axis), axis=self.axis), self.axis)

    def infer(self, x):
        return x.shape, _numpy_reduce_dtype(np.cumsum, x.dtype)

    def transpose(self, ct, inputs, output):
        return make_node(Cumsum(self.axis, not self.reverse), ct)


class Cumprod(Op):
    """Running product along ``axis``. d out_k / d x_i = prod_{j <= k, j != i} x_j for
    i <= k; computed in O(n) without dividing by zero, exact to second order at zeros
    (see ``vjp`` and ``_first_zero``)."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        return np.cumprod(x, axis=self.axis)

    def infer(self, x):
        return x.shape, _numpy_reduce_dtype(np.cumprod, x.dtype)

    def vjp(self, i, inputs, output, grad):
        # Before the first zero z: sum_{k>=i} g_k out_k / x_i (later terms hold the zero).
        # At z: sum_{k>=z} g_k s_k, s the running product with x_z taken as 1.
        # After z every product holds x_z = 0, so the value is 0; it is written as x_z times
        # the product without x_z, so that its derivative along x_z (the second order) is
        # right: sum_{k>=i} g_k s_k / x_i, or at the second zero z2 the sum with s2 (x_z
        # and x_z2 taken as 1).
        x = inputs[0]
        before, first, x_safe, skipped = _first_zero(x, self.axis)
        back = Cumsum(self.axis, reverse=True)
        head = divide(make_node(back, multiply(grad, output)), x_safe)
        at_zero = make_node(back, multiply(grad, skipped))
        zero = equal(x, 0)
        second = logical_and(zero, equal(make_node(Cumsum(self.axis), zero), 2))
        skipped2 = make_node(Cumprod(self.axis), where(logical_or(first, second), 1, x))
        without_z = where(second, make_node(back, multiply(grad, skipped2)),
                          divide(at_zero, where(zero, 1, x)))
        x_z = make_node(Cumsum(self.axis), where(first, x, 0))  # 0, with d/dx_z = 1
        return where(before, head, where(first, at_zero, multiply(x_z, without_z)))

    def jvp(self, inputs, tangents, output):
        # The mirror: out_k sum_{i<=k} t_i / x_i before z; from z on, t_z s_k plus x_z (0,
        # with d/dx_z = 1) times the other terms without x_z: s_k sum of t_i / x_i over the
        # nonzero i <= k, or after a second zero z2, t_z2 s2_k.
        x, t = inputs[0], tangents[0]
        before, first, x_safe, skipped = _first_zero(x, self.axis)
        run = Cumsum(self.axis)
        head = multiply(output, make_node(run, divide(t, x_safe)))
        zero = equal(x, 0)
        seen = make_node(run, zero)
        second = logical_and(zero, equal(seen, 2))
        skipped2 = make_node(Cumprod(self.axis), where(logical_or(first, second), 1, x))
        after_two = multiply(make_node(run, where(second, t, 0)), skipped2)
        after_one = multiply(skipped, make_node(run, where(zero, 0, divide(t, where(zero, 1, x)))))
        others = where(greater_equal(seen, 2), after_two, after_one)
        x_z = make_node(run, where(first, x, 0))
        tail = add(multiply(make_node(run, where(first, t, 0)), skipped), multiply(x_z, others))
        return where(before, head, tail)


def _first_zero(x: Node, axis: int) -> tuple[Node, Node, Node, Node]:
    """Along axis: (entries before the first zero, the first zero, x with 1 from the first
    zero on, the running product of x with its first zero taken as 1)."""
    zero = equal(x, 0)
    seen = make_node(Cumsum(axis), zero)
    before = equal(seen, 0)
    first = logical_and(zero, equal(seen, 1))
    skipped = make_node(Cumprod(axis), where(first, 1, x))
    return before, first, where(before, x, 1), skipped


class ArgExtremum(Op):
    """argmax / argmin along one axis (None: of the flattened array): integers, no
    gradient."""

    __props__ = ("kind", "axis", "keepdims")
    differentiable = False

    def __init__(self, kind, axis, keepdims):
        self.kind, self.axis, self.keepdims = kind, axis, keepdims

    def forward(self, x):
        return getattr(np, self.kind)(x, axis=self.axis, keepdims=self.keepdims)

    def infer(self, x):
        if x.shape is None:
            return None, np.dtype(np.intp)
        if self.axis is None:
            return ((1,) * len(x.shape) if self.keepdims else ()), np.dtype(np.intp)
        return reduced_shape(x.shape, (self.axis,), self.keepdims), np.dtype(np.intp)


class Truth(Reduction):
    """any / all over axes: booleans, no gradient."""

    __props__ = ("kind", "axes", "keepdims")
    differentiable = False

    def __init__(self, kind, axes, keepdims):
        super().__init__(axes, keepdims)
        self.kind = kind

    def forward(self, x):
        return getattr(np, self.kind)(x, axis=self.axes, keepdims=self.keepdims)

    def out_dtype(self, dtype):
        return np.dtype(bool)


# ---------------------------------------------------------------- user functions
def prod(a: ArrayLike, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Node:
    """Product over ``axis`` (None: all), as ``np.prod``; the gradient is exact with zeros.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 3))
    >>> g.run(gd.prod(x, axis=1), feed={x: np.arange(1.0, 7.0).reshape(2, 3)})
    array([  6., 120.])
    """
    (a,) = wrap("prod", a)
    if dtype is not None:
        a = astype(a, dtype)
    axes = _axes(a, axis, "prod")
    if axes == ():
        return a if a.dtype is None or a.dtype.kind == "f" else astype(
            a, _numpy_reduce_dtype(np.prod, a.dtype))
    return make_node(Prod(axes, bool(keepdims)), a)


def var(a: ArrayLike, axis: Any = None, dtype: Any = None, ddof: float = 0,
        keepdims: bool = False) -> Node:
    """Variance over ``axis``, sum((a - mean)**2) / (n - ddof), as ``np.var`` (two passes:
    the deviations from the mean are squared, never the raw values).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(4,))
    >>> g.run(gd.var(x, ddof=1), feed={x: np.array([1.0, 2.0, 3.0, 4.0])})
    array(1.66666667)
    """
    (a,) = wrap("var", a)
    if dtype is not None:
        a = astype(a, dtype)
    elif a.dtype is not None and a.dtype.kind in "biu":
        a = astype(a, np.float64)  # NumPy's mean and deviations of integers are float64
    axes = _axes(a, axis, "var")
    deviation = subtract(a, mean(a, axis=axes, keepdims=True))
    total = sum(square(deviation), axis=axes, keepdims=keepdims)
    dims = range(a.ndim) if axes is None and a.ndim is not None else axes
    if a.shape is not None and dims is not None and known(tuple(a.shape[k] for k in dims)):
        n = int(np.prod([a.shape[k] for k in dims]))
        return divide(total, float(n - ddof))  # as NumPy: 0 / 0 = nan when n == ddof
    return divide(total, subtract(make_node(Count(axes), a), ddof))


def std(a: ArrayLike, axis: Any = None, dtype: Any = None, ddof: float = 0,
        keepdims: bool = False) -> Node:
    """Standard deviation, sqrt(var), as ``np.std``. Where the variance is 0 (a constant
    slice) the gradient is 0, not NaN: std is ``|x|``-like there, and 0 is its subgradient.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.std(x), feed={x: np.array([1.0, 3.0])})
    array(1.)
    """
    v = var(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)
    # not_equal, not greater: a NaN variance (n == ddof) stays NaN, as in NumPy.
    spread = not_equal(v, 0)
    return where(spread, sqrt(where(spread, v, 1)), 0)


def cumsum(a: ArrayLike, axis: int | None = None, dtype: Any = None) -> Node:
    """Running sum along ``axis`` (None: of the flattened array), as ``np.cumsum``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> g.run(gd.cumsum(x), feed={x: np.array([1.0, 2.0, 3.0])})
    array([1., 3., 6.])
    """
    return _running(Cumsum, a, axis, dtype, "cumsum")


def cumprod(a: ArrayLike, axis: int | None = None, dtype: Any = None) -> Node:
    """Running product along ``axis`` (None: of the flattened array), as ``np.cumprod``;
    the gradient is exact with zeros and costs O(n).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> g.run(gd.cumprod(x), feed={x: np.array([1.0, 2.0, 3.0])})
    array([1., 2., 6.])
    """
    return _running(Cumprod, a, axis, dtype, "cumprod")


def _running(cls: type, a: ArrayLike, axis: Any, dtype: Any, what: str) -> Node:
    (a,) = wrap(what, a)
    reject_complex(what, (a,))
    if dtype is not None:
        a = astype(a, dtype)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    else:
        axis = _axis(a, axis, what)
    return make_node(cls(axis), a)


def _arg(kind: str, a: ArrayLike, axis: Any, keepdims: bool) -> Node:
    (a,) = wrap(kind, a)
    if axis is not None:
        axis = _axis(a, axis, kind)
    else:
        reject_complex(kind, (a,))
    return make_node(ArgExtremum(kind, axis, bool(keepdims)), a)


def argmax(a: ArrayLike, axis: int | None = None, keepdims: bool = False) -> Node:
    """Index of the (first) maximum along ``axis`` (None: flattened), as ``np.argmax``;
    an integer result, no gradient.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 2))
    >>> g.run(gd.argmax(x, axis=1), feed={x: np.array([[1.0, 2.0], [4.0, 3.0]])})
    array([1, 0])
    """
    return _arg("argmax", a, axis, keepdims)


def argmin(a: ArrayLike, axis: int | None = None, keepdims: bool = False) -> Node:
    """Index of the (first) minimum along ``axis`` (None: flattened), as ``np.argmin``;
    an integer result, no gradient.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 2))
    >>> g.run(gd.argmin(x), feed={x: np.array([[1.0, 2.0], [4.0, 0.5]])})
    array(3)
    """
    return _arg("argmin", a, axis, keepdims)


def _truth(kind: str, a: ArrayLike, axis: Any, keepdims: bool) -> Node:
    (a,) = wrap(kind, a)
    return make_node(Truth(kind, _axes(a, axis, kind), bool(keepdims)), a)


def any(a: ArrayLike, axis: Any = None, keepdims: bool = False) -> Node:  # noqa: A001
    """True where some entry along ``axis`` is nonzero, as ``np.any``; no gradient.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 2))
    >>> g.run(gd.any(x > 1.0, axis=1), feed={x: np.array([[1.0, 2.0], [0.0, 1.0]])})
    array([ True, False])
    """
    return _truth("any", a, axis, keepdims)


def all(a: ArrayLike, axis: Any = None, keepdims: bool = False) -> Node:  # noqa: A001
    """True where every entry along ``axis`` is nonzero, as ``np.all``; no gradient.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 2))
    >>> g.run(gd.all(x > 0.5, axis=1), feed={x: np.array([[1.0, 2.0], [0.0, 1.0]])})
    array([ True, False])
    """
    return _truth("all", a, axis, keepdims)
