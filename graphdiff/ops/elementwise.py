"""Elementwise primitives and their user functions (``gd.add``, ``gd.tanh``, ...).

Every rule returns a contribution of the output's (broadcast) shape; build_grad sums it
back to the input's shape, in that one place, for every op.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import backends
from ..graph import Node
from ..op import AddN, Op, add_n, make_node, size_of, wrap  # noqa: F401  (AddN re-exported)
from ..shapes import broadcast, covers, float_dtype, result_dtype

ArrayLike = Any


class Elementwise(Op):
    """Base of elementwise ops: NumPy broadcasting and dtype promotion.

    ``kernel`` (when set) is the ufunc the runtime calls directly; ``out_kernel`` accepts
    ``out=`` so the runtime can write into a dead input's buffer.
    """

    __props__ = ()
    foldable = True
    out_kernel = None
    flops_per_element = 1
    floating = False  # True: the result is float even for integer inputs (exp, divide)

    def infer(self, *xs):
        dtype = result_dtype(*xs)
        return broadcast(self, *xs), float_dtype(dtype) if self.floating else dtype

    def flops(self, input_shapes, output_shape):
        return self.flops_per_element * size_of(output_shape)

    def same_shape_as(self, *xs):
        if len(xs) == 1:
            return xs[0]
        for x in xs:
            if x.shape is not None and all(covers(x, o) for o in xs if o is not x):
                return x
        return None

    def broadcasts(self, inputs):
        return len(inputs) > 1

    def jvp(self, inputs, tangents, output):
        # An elementwise Jacobian is diagonal (once broadcast), so it is its own transpose:
        # each reverse rule applied to an input's tangent is that input's forward term.
        terms = []
        for i, t in enumerate(tangents):
            if t is not None:
                term = self.vjp(i, inputs, output, t)
                if term is not None:
                    terms.append(term)
        return add_n(terms)


# ---------------------------------------------------------------- arithmetic
class Add(Elementwise):
    """d(a+b) = da + db."""

    kernel = out_kernel = np.add

    def forward(self, a, b):
        return np.add(a, b)

    def vjp(self, i, inputs, output, grad):
        return grad


class Subtract(Elementwise):
    """d(a-b) = da - db."""

    kernel = out_kernel = np.subtract

    def forward(self, a, b):
        return np.subtract(a, b)

    def vjp(self, i, inputs, output, grad):
        return grad if i == 0 else negative(grad)


class Multiply(Elementwise):
    """d(ab) = b da + a db."""

    kernel = out_kernel = np.multiply

    def forward(self, a, b):
        return np.multiply(a, b)

    def vjp(self, i, inputs, output, grad):
        return multiply(grad, inputs[1 - i])


class Divide(Elementwise):
    """d(a/b) = da / b - (a/b) db / b."""

    kernel = out_kernel = np.divide

    floating = True

    def forward(self, a, b):
        return np.divide(a, b)

    def vjp(self, i, inputs, output, grad):
        if i == 0:
            return divide(grad, inputs[1])
        return negative(divide(multiply(grad, output), inputs[1]))


class Power(Elementwise):
    """d(a**b) = b a**(b-1) da + a**b log(a) db."""

    kernel = out_kernel = np.power

    def forward(self, a, b):
        return np.power(a, b)

    def vjp(self, i, inputs, output, grad):
        a, b = inputs
        if i == 0:
            if b.weak:
                if b.value == 0:
                    return None  # d/da a**0 = 0, also at a = 0 (not 0 * inf)
                return multiply(grad, multiply(b, power(a, subtract(b, 1))))
            # b a**(b-1) is 0 * inf at a = 0, b = 0: take 0 there, as JAX and PyTorch do.
            slope = multiply(b, power(a, subtract(b, 1)))
            scale = where(compare("not_equal", b, 0), slope, 0)
            return multiply(grad, scale)
        # d/db a**b = a**b log(a), taken as 0 where a == 0 (as JAX and PyTorch), not 0 * -inf.
        safe = a if a.weak else where(compare("not_equal", a, 0), a, 1)
        return multiply(grad, multiply(output, log(safe)))


class Maximum(Elementwise):
    """Gradient to the larger operand; ties split it in halves (as JAX and PyTorch)."""

    kernel = out_kernel = np.maximum

    def forward(self, a, b):
        return np.maximum(a, b)

    def vjp(self, i, inputs, output, grad):
        a, b = inputs if i == 0 else inputs[::-1]
        return multiply(grad, make_node(GreaterMask(grad.dtype), a, b))


class Minimum(Elementwise):
    """Gradient to the smaller operand; ties split it in halves."""

    kernel = out_kernel = np.minimum

    def forward(self, a, b):
        return np.minimum(a, b)

    def vjp(self, i, inputs, output, grad):
        a, b = inputs if i == 0 else inputs[::-1]
        return multiply(grad, make_node(GreaterMask(grad.dtype), b, a))


class Where(Elementwise):
    """where(c, x, y): the gradient goes to x where c holds, to y elsewhere."""

    def forward(self, c, x, y):
        return np.where(c, x, y)

    def infer(self, c, x, y):
        return broadcast(self, c, x, y), result_dtype(x, y)

    def vjp(self, i, inputs, output, grad):
        if i == 0:
            return None
        zero = 0
        return where(inputs[0], grad, zero) if i == 1 else where(inputs[0], zero, grad)


# ---------------------------------------------------------------- unary
class Negative(Elementwise):
    """d(-x) = -dx."""

    kernel = out_kernel = np.negative

    def forward(self, x):
        return np.negative(x)

    def vjp(self, i, inputs, output, grad):
        return negative(grad)


class Exp(Elementwise):
    """d exp(x) = exp(x) dx."""

    kernel = out_kernel = np.exp

    floating = True

    def forward(self, x):
        return np.exp(x)

    def vjp(self, i, inputs, output, grad):
        return multiply(grad, output)


class Log(Elementwise):
    """d log(x) = dx / x."""

    kernel = out_kernel = np.log

    floating = True

    def forward(self, x):
        return np.log(x)

    def vjp(self, i, inputs, output, grad):
        return divide(grad, inputs[0])


class Sqrt(Elementwise):
    """d sqrt(x) = dx / (2 sqrt(x))."""

    kernel = out_kernel = np.sqrt

    floating = True

    def forward(self, x):
        return np.sqrt(x)

    def vjp(self, i, inputs, output, grad):
        return divide(multiply(grad, 0.5), output)


class Square(Elementwise):
    """d x^2 = 2x dx."""

    kernel = out_kernel = np.square

    def forward(self, x):
        return np.square(x)

    def vjp(self, i, inputs, output, grad):
        return multiply(grad, multiply(inputs[0], 2))


class Abs(Elementwise):
    """d|x| = sign(x) dx (0 at x = 0)."""

    kernel = out_kernel = np.abs

    def forward(self, x):
        return np.abs(x)

    def vjp(self, i, inputs, output, grad):
        return multiply(grad, make_node(Sign(grad.dtype), inputs[0]))


class Sin(Elementwise):
    """d sin(x) = cos(x) dx."""

    kernel = out_kernel = np.sin

    floating = True

    def forward(self, x):
        return np.sin(x)

    def vjp(self, i, inputs, output, grad):
        if grad.ones and covers(inputs[0], grad):
            return cos(inputs[0])  # the seed 1 is not multiplied in
        return make_node(_SIN_GRAD, grad, inputs[0])


class SinGrad(Elementwise):
    """g * cos(x), fused: one node per sin in a gradient, not two."""

    foldable = False

    def forward(self, g, x):
        return np.multiply(g, np.cos(x))

    def infer(self, g, x):
        return broadcast(self, g, x), result_dtype(g, x)

    def vjp(self, i, inputs, output, grad):
        g, x = inputs
        if i == 0:
            return make_node(_SIN_GRAD, grad, x)
        return negative(multiply(multiply(grad, g), sin(x)))


class Cos(Elementwise):
    """d cos(x) = -sin(x) dx."""

    kernel = out_kernel = np.cos

    floating = True

    def forward(self, x):
        return np.cos(x)

    def vjp(self, i, inputs, output, grad):
        return negative(multiply(grad, sin(inputs[0])))


class Tanh(Elementwise):
    """d tanh(x) = (1 - tanh(x)^2) dx."""

    kernel = out_kernel = np.tanh

    floating = True

    def forward(self, x):
        return np.tanh(x)

    def vjp(self, i, inputs, output, grad):
        if grad.ones and covers(output, grad):
            return subtract(1, square(output))  # the seed 1 is not multiplied in
        return make_node(_TANH_GRAD, grad, output)


class TanhGrad(Elementwise):
    """g * (1 - y^2) for y = tanh(x), fused: one node per tanh in a gradient, not three."""

    foldable = False

    def forward(self, g, y):
        return np.multiply(g, 1 - np.square(y))

    def infer(self, g, y):
        return broadcast(self, g, y), g.dtype

    def vjp(self, i, inputs, output, grad):
        g, y = inputs
        if i == 0:
            return make_node(_TANH_GRAD, grad, y)
        return multiply(multiply(grad, g), multiply(y, -2))


class Sigmoid(Elementwise):
    """d s(x) = s(x) s(-x) dx; computed as exp(-log(1 + e^-x)), finite everywhere.

    s(-x) rather than 1 - s(x): the subtraction cancels for large x (s'(100) would be 0).
    """

    floating = True
    flops_per_element = 3

    def forward(self, x):
        return np.exp(-np.logaddexp(0, -x))

    def vjp(self, i, inputs, output, grad):
        return multiply(grad, multiply(output, sigmoid(negative(inputs[0]))))


class Softplus(Elementwise):
    """d log(1 + e^x) = sigmoid(x) dx; computed with logaddexp, finite everywhere."""

    floating = True
    flops_per_element = 3

    def forward(self, x):
        return np.logaddexp(0, x)

    def vjp(self, i, inputs, output, grad):
        return multiply(grad, sigmoid(inputs[0]))


class Relu(Elementwise):
    """d max(x, 0) = [x > 0] dx (0 at x = 0, as PyTorch and JAX)."""

    def forward(self, x):
        return np.maximum(x, 0)

    @staticmethod
    def out_kernel(x, out):
        return np.maximum(x, 0, out=out)

    def vjp(self, i, inputs, output, grad):
        return make_node(_RELU_GRAD, grad, output)


class ReluGrad(Elementwise):
    """g * [y > 0]: linear in g, piecewise constant in y."""

    foldable = False

    def forward(self, g, y):
        return np.multiply(g, y > 0)

    @staticmethod
    def out_kernel(g, y, out):
        return np.multiply(g, y > 0, out=out)

    def infer(self, g, y):
        return broadcast("relu gradient", g, y), g.dtype

    def vjp(self, i, inputs, output, grad):
        return make_node(_RELU_GRAD, grad, inputs[1]) if i == 0 else None


class Clip(Elementwise):
    """d clip(x, lo, hi) = [lo <= x <= hi] dx."""

    __props__ = ("a_min", "a_max")

    def __init__(self, a_min, a_max):
        self.a_min, self.a_max = a_min, a_max

    def forward(self, x):
        return np.clip(x, self.a_min, self.a_max)

    def vjp(self, i, inputs, output, grad):
        return multiply(grad, make_node(InRange(self.a_min, self.a_max, grad.dtype), inputs[0]))


class StopGradient(Elementwise):
    """Identity forward, zero gradient."""

    differentiable = False
    foldable = False
    view_of = 0  # its output is its input

    def flops(self, input_shapes, output_shape):
        return 0

    def forward(self, x):
        return x


# ---------------------------------------------------------------- masks (no gradient)
class Mask(Elementwise):
    """A piecewise-constant function: it has zero gradient. Its dtype is given explicitly
    (the gradient's it multiplies), so a mask never promotes a float32 gradient."""

    __props__ = ("dtype",)
    differentiable = False
    foldable = False

    def __init__(self, dtype=None):
        self.dtype = None if dtype is None else np.dtype(dtype)

    def infer(self, *xs):
        return broadcast(self.label(), *xs), self.dtype


class GreaterMask(Mask):
    """1 where a > b, 1/2 where a == b, else 0."""

    flops_per_element = 3

    def forward(self, a, b):
        dtype = self.dtype or np.result_type(backends.dtype_of(a), backends.dtype_of(b))
        return (a > b).astype(dtype) + (a == b).astype(dtype) * 0.5


class Compare(Elementwise):
    """a < b, a <= b, a > b, a >= b, a != b as booleans: piecewise constant, no gradient."""

    __props__ = ("kind",)
    differentiable = False
    foldable = False
    _KERNELS = {"less": np.less, "less_equal": np.less_equal, "greater": np.greater,
                "greater_equal": np.greater_equal, "not_equal": np.not_equal,
                "equal": np.equal}

    def __init__(self, kind):
        self.kind = kind

    def forward(self, a, b):
        return self._KERNELS[self.kind](a, b)

    def infer(self, a, b):
        return broadcast(self.label(), a, b), np.dtype(bool)


class Sign(Mask):
    """-1, 0 or 1 by the sign of x."""

    def forward(self, x):
        return np.sign(x).astype(self.dtype or np.result_type(backends.dtype_of(x)), copy=False)


class InRange(Mask):
    """1 where a_min <= x <= a_max, else 0."""

    __props__ = ("a_min", "a_max", "dtype")

    def __init__(self, a_min, a_max, dtype=None):
        super().__init__(dtype)
        self.a_min, self.a_max = a_min, a_max

    def forward(self, x):
        if type(x) is not np.ndarray:
            # No in-place &= into a NumPy buffer: build the mask in x's own library.
            inside = np.ones_like(x, dtype=bool)
            if self.a_min is not None:
                inside = inside & (x >= self.a_min)
            if self.a_max is not None:
                inside = inside & (x <= self.a_max)
            return inside.astype(self.dtype or np.result_type(backends.dtype_of(x)))
        inside = np.ones(np.shape(x), dtype=bool)
        if self.a_min is not None:
            inside &= x >= self.a_min
        if self.a_max is not None:
            inside &= x <= self.a_max
        return inside.astype(self.dtype or np.result_type(x))


# Stateless gradient primitives are shared: one instance for every node that uses them.
_TANH_GRAD, _SIN_GRAD, _RELU_GRAD = TanhGrad(), SinGrad(), ReluGrad()


# ---------------------------------------------------------------- user functions
# Primitives without parameters are stateless: every node shares one instance.
_ADD, _SUBTRACT, _MULTIPLY, _DIVIDE = Add(), Subtract(), Multiply(), Divide()
_POWER, _MAXIMUM, _MINIMUM, _WHERE = Power(), Maximum(), Minimum(), Where()
_NEGATIVE, _EXP, _LOG, _SQRT, _SQUARE, _ABS = Negative(), Exp(), Log(), Sqrt(), Square(), Abs()
_SIN, _COS, _TANH, _SIGMOID, _RELU = Sin(), Cos(), Tanh(), Sigmoid(), Relu()
_SOFTPLUS, _STOP_GRADIENT = Softplus(), StopGradient()


def _identity_ok(x: Node, other: Node) -> bool:
    """x op other == x when other is all ones: only if it neither broadcasts nor promotes x."""
    return not x.weak and covers(x, other) and result_dtype(x, other) == x.dtype


def add(a: ArrayLike, b: ArrayLike) -> Node:
    """Elementwise a + b with broadcasting.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.add(x, 1.0), feed={x: np.zeros(2)})
    array([1., 1.])
    """
    return make_node(_ADD, *wrap("add", a, b))


def subtract(a: ArrayLike, b: ArrayLike) -> Node:
    """Elementwise a - b with broadcasting.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.subtract(x, 1.0), feed={x: np.array([1.0, 2.0])})
    array([0., 1.])
    """
    return make_node(_SUBTRACT, *wrap("subtract", a, b))


def multiply(a: ArrayLike, b: ArrayLike) -> Node:
    """Elementwise a * b with broadcasting (``x * 1`` is x itself: no node is built).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.multiply(x, 3.0), feed={x: np.array([1.0, 2.0])})
    array([3., 6.])
    """
    a, b = wrap("multiply", a, b)
    if b.ones and _identity_ok(a, b):
        return a
    if a.ones and _identity_ok(b, a):
        return b
    return make_node(_MULTIPLY, a, b)


def divide(a: ArrayLike, b: ArrayLike) -> Node:
    """Elementwise a / b (true division) with broadcasting.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.divide(x, 2.0), feed={x: np.array([1.0, 2.0])})
    array([0.5, 1. ])
    """
    a, b = wrap("divide", a, b)
    if b.ones and _identity_ok(a, b) and a.dtype is not None and a.dtype.kind in "fc":
        return a
    return make_node(_DIVIDE, a, b)


def power(a: ArrayLike, b: ArrayLike) -> Node:
    """Elementwise a ** b with broadcasting; d/db is 0 where a == 0 (as JAX and PyTorch).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.power(x, 3.0), feed={x: np.array([1.0, 2.0])})
    array([1., 8.])
    """
    a, b = wrap("power", a, b)
    if b.weak and b.value == 2 and (type(b.value) is int or a.dtype is None
                                     or a.dtype.kind in "fc"):
        return square(a)  # the same values and dtype as a ** 2 (int ** 2.0 is float)
    return make_node(_POWER, a, b)


def maximum(a: ArrayLike, b: ArrayLike) -> Node:
    """Elementwise maximum; at ties each operand gets half the gradient.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.maximum(x, 1.5), feed={x: np.array([1.0, 2.0])})
    array([1.5, 2. ])
    """
    return make_node(_MAXIMUM, *wrap("maximum", a, b))


def minimum(a: ArrayLike, b: ArrayLike) -> Node:
    """Elementwise minimum; at ties each operand gets half the gradient.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.minimum(x, 1.5), feed={x: np.array([1.0, 2.0])})
    array([1. , 1.5])
    """
    return make_node(_MINIMUM, *wrap("minimum", a, b))


def where(cond: ArrayLike, x: ArrayLike, y: ArrayLike) -> Node:
    """x where cond holds, else y (NumPy's ``where``); cond gets no gradient.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> g.run(gd.where(x > 0, x, 0.0), feed={x: np.array([-1.0, 0.5, 2.0])})
    array([0. , 0.5, 2. ])
    """
    return make_node(_WHERE, *wrap("where", cond, x, y))


def compare(kind: str, a: ArrayLike, b: ArrayLike) -> Node:
    """Elementwise comparison (``less``, ``greater``, ...) as a boolean node; no gradient."""
    return make_node(Compare(kind), *wrap(kind, a, b))


def clip(x: ArrayLike, a_min: ArrayLike, a_max: ArrayLike) -> Node:
    """Clip to [a_min, a_max]; the gradient passes where a_min <= x <= a_max.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.clip(x, 0.0, 1.5), feed={x: np.array([-1.0, 2.0])})
    array([0. , 1.5])
    """
    scalar = (type(None), numbers.Real)
    if isinstance(a_min, scalar) and isinstance(a_max, scalar):
        return make_node(Clip(a_min, a_max), x)
    out = x if a_min is None else maximum(x, a_min)
    return out if a_max is None else minimum(out, a_max)


def negative(x: ArrayLike) -> Node:
    """Elementwise -x.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.negative(x), feed={x: np.array([1.0, -2.0])})
    array([-1.,  2.])
    """
    return make_node(_NEGATIVE, x)


def exp(x: ArrayLike) -> Node:
    """Elementwise e**x.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(1,))
    >>> g.run(gd.exp(x), feed={x: np.zeros(1)})
    array([1.])
    """
    return make_node(_EXP, x)


def log(x: ArrayLike) -> Node:
    """Elementwise natural logarithm.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.log(x), feed={x: np.array([1.0, 1.0])})
    array([0., 0.])
    """
    return make_node(_LOG, x)


def sqrt(x: ArrayLike) -> Node:
    """Elementwise square root.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.sqrt(x), feed={x: np.array([4.0, 9.0])})
    array([2., 3.])
    """
    return make_node(_SQRT, x)


def square(x: ArrayLike) -> Node:
    """Elementwise x**2.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.square(x), feed={x: np.array([3.0, -2.0])})
    array([9., 4.])
    """
    return make_node(_SQUARE, x)


def abs(x: ArrayLike) -> Node:  # noqa: A001  (NumPy's name)
    """Elementwise |x|; the gradient at 0 is 0.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.abs(x), feed={x: np.array([-3.0, 2.0])})
    array([3., 2.])
    """
    return make_node(_ABS, x)


def sin(x: ArrayLike) -> Node:
    """Elementwise sine.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.sin(x), feed={x: np.array([0.0, 0.0])})
    array([0., 0.])
    """
    return make_node(_SIN, x)


def cos(x: ArrayLike) -> Node:
    """Elementwise cosine.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.cos(x), feed={x: np.array([0.0, 0.0])})
    array([1., 1.])
    """
    return make_node(_COS, x)


def tanh(x: ArrayLike) -> Node:
    """Elementwise hyperbolic tangent.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.tanh(x), feed={x: np.array([0.0, 0.0])})
    array([0., 0.])
    """
    return make_node(_TANH, x)


def sigmoid(x: ArrayLike) -> Node:
    """Elementwise logistic sigmoid 1 / (1 + e**-x), stable for any x.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.sigmoid(x), feed={x: np.array([0.0, 1000.0])})
    array([0.5, 1. ])
    """
    return make_node(_SIGMOID, x)


def relu(x: ArrayLike) -> Node:
    """Elementwise max(x, 0); the gradient at 0 is 0.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.relu(x), feed={x: np.array([-1.0, 2.0])})
    array([0., 2.])
    """
    return make_node(_RELU, x)


def softplus(x: ArrayLike) -> Node:
    """Elementwise log(1 + e**x), stable for any x.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.softplus(x), feed={x: np.array([0.0, 1000.0])})
    array([6.93147181e-01, 1.00000000e+03])
    """
    return make_node(_SOFTPLUS, x)


def stop_gradient(x: ArrayLike) -> Node:
    """Identity forward; no gradient flows back through it.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=())
    >>> gd.grad(gd.stop_gradient(x) * x, x) is not None
    True
    """
    return make_node(_STOP_GRADIENT, x)
