"""The op functions users call (``gd.tanh(x)``), the Node operators, and the few
simplifications that keep gradient graphs lean: ``g * 1``, a broadcast or a reduction
that would not change the shape, and a sum of one term are never built.

Names that shadow builtins (sum, max, min, abs) are NumPy's names, as API.md asks.
"""

from __future__ import annotations

import builtins
import numbers
from typing import Any, Sequence

import numpy as np

from .errors import GraphError
from .graph import Node, as_node, describe, describe_full, graph_of
from .op import Op, make_node
from .ops import elementwise as E
from .ops import index as I
from .ops import linalg as L
from .ops import nn as N
from .ops import reduce as R
from .ops import shape as S
from .shapes import covers, known, normalize_axes, result_dtype
from .site import creation_site, format_site

ArrayLike = Any

# Primitives without parameters are stateless: every node shares one instance.
_ADD, _SUBTRACT, _MULTIPLY, _DIVIDE = E.Add(), E.Subtract(), E.Multiply(), E.Divide()
_POWER, _MAXIMUM, _MINIMUM, _WHERE, _ADDN = E.Power(), E.Maximum(), E.Minimum(), E.Where(), E.AddN()


def make(op: Op, *operands: Any, dtype_of: Node | None = None) -> Node:
    """Build a node of ``op``; masks take their dtype from ``dtype_of`` (never promote)."""
    if dtype_of is not None:
        op.dtype = dtype_of.dtype
    return make_node(op, *operands)


def _int(value: Any, what: str) -> int:
    """An integer shape entry or axis; anything else is a TypeError naming the argument."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    raise TypeError(f"{what} must be an integer, got {value!r} at "
                    f"{format_site(creation_site())}")


def _ints(values: Any, what: str) -> tuple[int, ...]:
    if isinstance(values, (int, np.integer)):
        return (_int(values, what),)
    try:
        items = tuple(values)
    except TypeError:
        raise TypeError(f"{what} must be a sequence of integers, got {values!r}") from None
    return tuple(_int(v, what) for v in items)


def _wrap(what: str, *values: Any) -> Sequence[Node]:
    first = values[0]
    if type(first) is Node:
        # The common cases, without the general checks: nodes of one graph, Python numbers.
        graph = first.graph
        out = []
        for v in values:
            if type(v) is Node and v.graph is graph:
                out.append(v)
            elif type(v) is float or type(v) is int:
                out.append(graph.constant(v))
            else:
                break
        else:
            return out
    graph = graph_of(values, what)
    try:
        return [as_node(v, graph) for v in values]
    except TypeError as exc:
        raise TypeError(f"{what} at {format_site(creation_site())}: {exc}") from None


def _identity_ok(x: Node, other: Node) -> bool:
    """x op other == x when other is all ones: only if it neither broadcasts nor promotes x."""
    return not x.weak and covers(x, other) and result_dtype(x, other) == x.dtype


# ---------------------------------------------------------------- elementwise
def add(a: ArrayLike, b: ArrayLike) -> Node:
    """Elementwise a + b with broadcasting."""
    return make_node(_ADD, *_wrap("add", a, b))


def subtract(a: ArrayLike, b: ArrayLike) -> Node:
    """Elementwise a - b with broadcasting."""
    return make_node(_SUBTRACT, *_wrap("subtract", a, b))


def multiply(a: ArrayLike, b: ArrayLike) -> Node:
    """Elementwise a * b with broadcasting."""
    a, b = _wrap("multiply", a, b)
    if b.ones and _identity_ok(a, b):
        return a
    if a.ones and _identity_ok(b, a):
        return b
    return make_node(_MULTIPLY, a, b)


def divide(a: ArrayLike, b: ArrayLike) -> Node:
    """Elementwise a / b (true division) with broadcasting."""
    a, b = _wrap("divide", a, b)
    if b.ones and _identity_ok(a, b) and a.dtype is not None and a.dtype.kind in "fc":
        return a
    return make_node(_DIVIDE, a, b)


def power(a: ArrayLike, b: ArrayLike) -> Node:
    """Elementwise a ** b with broadcasting."""
    a, b = _wrap("power", a, b)
    if b.weak and b._value == 2 and (type(b._value) is int or a.dtype is None
                                     or a.dtype.kind in "fc"):
        return square(a)  # the same values and dtype as a ** 2 (int ** 2.0 is float)
    return make_node(_POWER, a, b)


def maximum(a: ArrayLike, b: ArrayLike) -> Node:
    """Elementwise maximum; at ties each operand gets half the gradient."""
    return make_node(_MAXIMUM, *_wrap("maximum", a, b))


def minimum(a: ArrayLike, b: ArrayLike) -> Node:
    """Elementwise minimum; at ties each operand gets half the gradient."""
    return make_node(_MINIMUM, *_wrap("minimum", a, b))


def where(cond: ArrayLike, x: ArrayLike, y: ArrayLike) -> Node:
    """x where cond holds, else y (NumPy's ``where``); cond gets no gradient."""
    return make_node(_WHERE, *_wrap("where", cond, x, y))


def compare(kind: str, a: ArrayLike, b: ArrayLike) -> Node:
    """Elementwise comparison (``less``, ``greater``, ...) as a boolean node; no gradient."""
    return make_node(E.Compare(kind), *_wrap(kind, a, b))


def clip(x: ArrayLike, a_min: ArrayLike, a_max: ArrayLike) -> Node:
    """Clip to [a_min, a_max]; the gradient passes where a_min <= x <= a_max."""
    scalar = (type(None), numbers.Real)
    if isinstance(a_min, scalar) and isinstance(a_max, scalar):
        return make_node(E.Clip(a_min, a_max), x)
    out = x if a_min is None else maximum(x, a_min)
    return out if a_max is None else minimum(out, a_max)


def _unary(op_type: type, doc: str):
    instance = op_type()

    def fn(x: ArrayLike) -> Node:
        return make_node(instance, x)

    fn.__doc__ = doc
    return fn


negative = _unary(E.Negative, "Elementwise -x.")
exp = _unary(E.Exp, "Elementwise e**x.")
log = _unary(E.Log, "Elementwise natural logarithm.")
sqrt = _unary(E.Sqrt, "Elementwise square root.")
square = _unary(E.Square, "Elementwise x**2.")
abs = _unary(E.Abs, "Elementwise |x|; the gradient at 0 is 0.")
sin = _unary(E.Sin, "Elementwise sine.")
cos = _unary(E.Cos, "Elementwise cosine.")
tanh = _unary(E.Tanh, "Elementwise hyperbolic tangent.")
sigmoid = _unary(E.Sigmoid, "Elementwise logistic sigmoid 1 / (1 + e**-x), stable for any x.")
relu = _unary(E.Relu, "Elementwise max(x, 0); the gradient at 0 is 0.")
softplus = _unary(E.Softplus, "Elementwise log(1 + e**x), stable for any x.")
stop_gradient = _unary(E.StopGradient, "Identity forward; no gradient flows back through it.")


def add_n(terms: Sequence[Node]) -> Node | None:
    """The sum of gradient contributions; None (zero) for none, the term itself for one."""
    if not terms:
        return None
    if len(terms) == 1:
        return terms[0]
    return make_node(_ADDN, *terms)


# ---------------------------------------------------------------- linear algebra and shape
def matmul(a: ArrayLike, b: ArrayLike) -> Node:
    """Matrix product with NumPy's rules (1-D operands, broadcast batch dimensions)."""
    return make_node(L.MatMul(), *_wrap("matmul", a, b))


def transpose(x: ArrayLike, axes: Sequence[int] | None = None) -> Node:
    """Permute the axes (reverse them by default), as ``np.transpose``."""
    if isinstance(x, Node) and x.ndim == 2 and (axes is None or tuple(axes) == (1, 0)):
        swapped = _transposed_product(x)
        if swapped is not None:
            return swapped
    if axes is not None:
        axes = _ints(axes, "transpose axes")
        # axes permute every axis, so their count is the rank: negative ones can be
        # normalised even when the input's rank is unknown (the gradient inverts them).
        axes = tuple(a % len(axes) if -len(axes) <= a < 0 else a for a in axes)
        ndim = x.ndim if isinstance(x, Node) else None
        if ndim is not None:
            axes = tuple(a % ndim for a in axes) if builtins.all(-ndim <= a < ndim for a in axes) \
                else axes
    return make_node(S.Transpose(axes), x)


def _transposed_product(x: Node) -> Node | None:
    """(A @ B).T as B.T @ A.T when A @ B is a fresh gradient node nothing else uses yet: the
    product then comes out in the wanted layout instead of as a strided view that later
    elementwise ops (AddN of Hessian-vector products) read slowly."""
    if (isinstance(x.op, L.MatMul) and x.grad_of is not None and not x._consumers
            and all(i.ndim == 2 for i in x.inputs)):
        a, b = x.inputs
        return matmul(make_node(S.Transpose(None), b), make_node(S.Transpose(None), a))
    return None


def swap_last(x: Node) -> Node:
    """Swap the last two axes (the matrix transpose of a batch)."""
    n = x.ndim
    if n == 2:
        return _transposed_product(x) or make_node(S.Transpose(None), x)
    return make_node(S.Transpose(tuple(range(n - 2)) + (n - 1, n - 2)), x)


def reshape(x: ArrayLike, shape: int | Sequence[int]) -> Node:
    """Reshape to ``shape`` (one entry may be -1), as ``np.reshape``."""
    return make_node(S.Reshape(_ints(shape, "reshape shape")), x)


def reshape_like(x: Node, ref: Node) -> Node:
    if ref.shape is not None and known(ref.shape):
        if x.shape == ref.shape:
            return x
        return _keep_ones(make_node(S.Reshape(ref.shape), x), x)
    return _keep_ones(make_node(S.Reshape(None), x, ref), x)


def broadcast_to(x: ArrayLike, shape: Sequence[int]) -> Node:
    """Broadcast to ``shape``, as ``np.broadcast_to``."""
    return make_node(S.BroadcastTo(_ints(shape, "broadcast_to shape")), x)


def broadcast_like(x: Node, ref: Node) -> Node:
    """x broadcast to ref's shape (static when known, else read from ref at run time)."""
    if ref.shape is not None and known(ref.shape):
        if x.shape == ref.shape:
            return x
        return _keep_ones(make_node(S.BroadcastTo(ref.shape), x), x)
    return _keep_ones(make_node(S.BroadcastTo(None), x, ref), x)


def sum_to(x: Node, ref: Node) -> Node:
    """x summed down to ref's shape: undoes broadcasting."""
    if ref.shape is not None and known(ref.shape):
        if x.shape == ref.shape:
            return x
        return make_node(S.SumTo(ref.shape), x)
    return make_node(S.SumTo(None), x, ref)


def expand_dims(x: Node, axes: Sequence[int]) -> Node:
    return _keep_ones(make_node(S.ExpandDims(tuple(axes)), x), x)


def squeeze(x: Node, axes: Sequence[int]) -> Node:
    return _keep_ones(make_node(S.Squeeze(tuple(axes)), x), x)


def _keep_ones(node: Node, source: Node) -> Node:
    node.ones = source.ones
    return node


def zeros_like(ref: Node, like: Node | None = None) -> Node:
    """Zeros of ref's run-time shape (with like's dtype when given)."""
    return make_node(S.ZerosLike(), ref) if like is None else make_node(S.ZerosLike(), ref, like)


def concatenate(nodes: Sequence[ArrayLike], axis: int = 0) -> Node:
    """Join along an existing axis, as ``np.concatenate``."""
    return make_node(S.Concatenate(_int(axis, "concatenate axis")), *_wrap("concatenate", *nodes))


def stack(nodes: Sequence[ArrayLike], axis: int = 0) -> Node:
    """Join along a new axis, as ``np.stack`` (concatenate of expanded operands)."""
    axis = _int(axis, "stack axis")
    nodes = _wrap("stack", *nodes)
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


def index(x: Node, key: Any) -> Node:
    """x[key] for basic indices and integer arrays; repeated indices add up in the gradient."""
    return make_node(I.Index(I.normalize_key(key)), x)


# ---------------------------------------------------------------- reductions
def _reduce(op_type: type, x: ArrayLike, axis: Any, keepdims: bool, what: str) -> Node:
    (x,) = _wrap(what, x)
    try:
        axes = normalize_axes(axis, x.ndim, what)
    except GraphError as exc:
        raise GraphError(f"{exc}: {describe_full(x)} has shape {x.shape}; called at "
                         f"{format_site(creation_site())}") from None
    if axes == () or (x.ndim == 0 and op_type is not R.LogSumExp):
        return x  # a reduction over no axes reduces nothing
    if axes is not None and x.ndim is not None and len(axes) == x.ndim and not keepdims:
        axes = None
    return make_node(op_type(axes, bool(keepdims)), x)


def sum(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Node:
    """Sum over ``axis`` (None: all), as ``np.sum``."""
    return _reduce(R.Sum, x, axis, keepdims, "sum")


def mean(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Node:
    """Mean over ``axis`` (None: all), as ``np.mean``."""
    return _reduce(R.Mean, x, axis, keepdims, "mean")


def max(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Node:
    """Maximum over ``axis``; tied maxima share the gradient evenly."""
    return _reduce(R.Max, x, axis, keepdims, "max")


def min(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Node:
    """Minimum over ``axis``; tied minima share the gradient evenly."""
    return _reduce(R.Min, x, axis, keepdims, "min")


def logsumexp(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Node:
    """log(sum(exp(x))) over ``axis``, shifted by the maximum so it never overflows."""
    return _reduce(R.LogSumExp, x, axis, keepdims, "logsumexp")


def softmax(x: ArrayLike, axis: int = -1) -> Node:
    """exp(x) / sum(exp(x)) along ``axis``, stable for large logits."""
    return make_node(N.Softmax(_int(axis, "softmax axis")), x)


def log_softmax(x: ArrayLike, axis: int = -1) -> Node:
    """x - logsumexp(x) along ``axis``, stable for large logits."""
    return make_node(N.LogSoftmax(_int(axis, "log_softmax axis")), x)


# ---------------------------------------------------------------- Node operators
def _rev(fn):
    return lambda self, other: fn(other, self)


def _node_reshape(self: Node, *shape: Any) -> Node:
    return reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)


Node.__add__, Node.__radd__ = add, _rev(add)
Node.__sub__, Node.__rsub__ = subtract, _rev(subtract)
Node.__mul__, Node.__rmul__ = multiply, _rev(multiply)
Node.__truediv__, Node.__rtruediv__ = divide, _rev(divide)
Node.__pow__, Node.__rpow__ = power, _rev(power)
Node.__matmul__, Node.__rmatmul__ = matmul, _rev(matmul)
Node.__lt__ = lambda self, other: compare("less", self, other)
Node.__le__ = lambda self, other: compare("less_equal", self, other)
Node.__gt__ = lambda self, other: compare("greater", self, other)
Node.__ge__ = lambda self, other: compare("greater_equal", self, other)
Node.__neg__ = negative
Node.__abs__ = abs
Node.__getitem__ = index
Node.T = property(lambda self: transpose(self))
Node.reshape = _node_reshape
Node.sum = sum
Node.mean = mean
