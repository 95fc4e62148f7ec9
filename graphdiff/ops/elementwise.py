"""Elementwise primitives and their user functions (``gd.add``, ``gd.tanh``, ...).

Every rule returns a contribution of the output's (broadcast) shape; build_grad sums it
back to the input's shape, in that one place, for every op.
"""

from __future__ import annotations

import numbers
from typing import Any, Sequence

import numpy as np

from .. import backends
from ..graph import Node, describe
from ..op import AddN, Op, add_n, make_node, size_of, wrap  # noqa: F401  (AddN re-exported)
from ..shapes import broadcast, covers, float_dtype, result_dtype, ufunc_float_dtype
from ..site import creation_site, format_site

ArrayLike = Any


_FORWARD_DTYPES: dict = {}


def as_float(x: Any) -> Any:
    """x itself when it is float; else cast to the float NumPy's float ufuncs would give it
    (int8 -> float16), so composite kernels compute what a single ufunc would."""
    dtype = np.result_type(backends.dtype_of(x))
    if dtype.kind in "fc":
        return x
    return (x if hasattr(x, "astype") else np.asarray(x)).astype(ufunc_float_dtype(dtype))


def _dtype_key(head: Any, xs: Sequence[Node]) -> tuple | None:
    """(head, each operand's dtype, or its Python type when it is a weak scalar); None
    when a dtype is unknown."""
    key: list = [head]
    for x in xs:
        if x.weak:
            key.append(type(x.value))
        elif x.dtype is None:
            return None
        else:
            key.append(x.dtype)
    return tuple(key)


def forward_dtype(op: Op, xs: Sequence[Node]) -> np.dtype | None:
    """The dtype ``op.forward`` returns for operands of the nodes' dtypes (Python scalars
    weak): found by running it once on 0-d ones and remembered, so the static dtype is the
    run-time one by construction (exp of int8 is float16, bool ** bool is int8). NumPy
    refusing the dtypes (negative of a bool) is a TypeError naming the op and the site."""
    key = _dtype_key(op.props_key(), xs)
    if key is None:
        return None
    try:
        dtype = _FORWARD_DTYPES.get(key)
    except TypeError:  # an unhashable parameter: probe without remembering
        key, dtype = None, None
    if dtype is None:
        args = [t(1) if isinstance(t, type) else np.ones((), t) for t in
                (type(x.value) if x.weak else x.dtype for x in xs)]
        try:
            with np.errstate(all="ignore"):
                dtype = np.asarray(op.forward(*args)).dtype
        except (TypeError, OverflowError) as exc:
            # No loop for these dtypes (negative of a bool), or a parameter out of the
            # operand's range (clip of uint8 to 20000, which NumPy 2 refuses).
            dtypes = ", ".join(type(x.value).__name__ if x.weak else str(x.dtype) for x in xs)
            operands = ", ".join(describe(x) for x in xs)
            raise TypeError(f"{op.label()} of {dtypes} ({operands}) at "
                            f"{format_site(creation_site())}: {exc}") from None
        if key is not None:
            _FORWARD_DTYPES[tuple(key)] = dtype
    return dtype


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
        shape = broadcast(self, *xs)
        if not self.builtin:  # a user's subclass: promotion, without running its forward
            dtype = result_dtype(*xs)
            return shape, float_dtype(dtype) if self.floating else dtype
        return shape, forward_dtype(self, xs)

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
    infix = "+"

    def forward(self, a, b):
        return np.add(a, b)

    def vjp(self, i, inputs, output, grad):
        return grad


class Subtract(Elementwise):
    """d(a-b) = da - db."""

    kernel = out_kernel = np.subtract
    infix = "-"

    def forward(self, a, b):
        return np.subtract(a, b)

    def vjp(self, i, inputs, output, grad):
        return grad if i == 0 else negative(grad)


class Multiply(Elementwise):
    """d(ab) = b da + a db."""

    kernel = out_kernel = np.multiply
    infix = "*"

    def forward(self, a, b):
        return np.multiply(a, b)

    def vjp(self, i, inputs, output, grad):
        return multiply(grad, inputs[1 - i])


class Divide(Elementwise):
    """d(a/b) = da / b - (a/b) db / b."""

    kernel = out_kernel = np.divide
    infix = "/"

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
    infix = "**"

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
        if a.weak:
            if a.value == 0:
                return None  # 0.0 ** b: the same convention, for a Python-scalar base
            return multiply(grad, multiply(output, log(a)))
        safe = where(compare("not_equal", a, 0), a, 1)
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


class QuietExp(Exp):
    """exp(x) where underflow to 0 is exact for its use (softmax weights e^(x - lse),
    e^(-x^2)): computed with underflow ignored, so stable ops and their gradients run
    under ``np.seterr(all="raise")``. ``gd.exp`` itself keeps NumPy's behaviour."""

    kernel = None

    def forward(self, x):
        with np.errstate(under="ignore"):
            return np.exp(x)

    @staticmethod
    def out_kernel(x, out, casting="same_kind"):
        with np.errstate(under="ignore"):
            return np.exp(x, out=out, casting=casting)


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
        x = as_float(x)  # sigmoid of a bool is float16, as np.exp of it
        with np.errstate(under="ignore"):  # s(-1000) = 0 is exact to float precision
            return np.exp(-np.logaddexp(0, -x))

    def vjp(self, i, inputs, output, grad):
        return multiply(grad, multiply(output, sigmoid(negative(inputs[0]))))


class Softplus(Elementwise):
    """d log(1 + e^x) = sigmoid(x) dx; computed with logaddexp, finite everywhere."""

    floating = True
    flops_per_element = 3

    def forward(self, x):
        with np.errstate(under="ignore"):  # softplus(-1000) = 0 is exact to float precision
            return np.logaddexp(0, as_float(x))

    def vjp(self, i, inputs, output, grad):
        return multiply(grad, sigmoid(inputs[0]))


class Relu(Elementwise):
    """d max(x, 0) = [x > 0] dx (0 at x = 0, as PyTorch and JAX)."""

    def forward(self, x):
        return np.maximum(x, 0)

    @staticmethod
    def out_kernel(x, out, casting="same_kind"):
        return np.maximum(x, 0, out=out, casting=casting)

    def vjp(self, i, inputs, output, grad):
        return make_node(_RELU_GRAD, grad, output)


class ReluGrad(Elementwise):
    """g * [y > 0]: linear in g, piecewise constant in y."""

    foldable = False

    def forward(self, g, y):
        return np.multiply(g, y > 0)

    @staticmethod
    def out_kernel(g, y, out, casting="same_kind"):
        return np.multiply(g, y > 0, out=out, casting=casting)

    def infer(self, g, y):
        return broadcast("relu gradient", g, y), forward_dtype(self, (g, y))

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
        return broadcast(self.label(), *xs), forward_dtype(self, xs)


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
_QUIET_EXP = QuietExp()
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

    One rule for scalar and array bounds, PyTorch's: at a bound (x == a_min or x == a_max)
    the gradient goes to x in full; a bound gets the gradient where it is the result
    (x < a_min, or the clipped value > a_max). Where a_min > a_max the result is a_max,
    as NumPy's.

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
    # where, not maximum/minimum: those split ties in halves (0.5 at a bound).
    out = x
    if a_min is not None:
        out = where(compare("less", out, a_min), a_min, out)
    if a_max is not None:
        out = where(compare("greater", out, a_max), a_max, out)
    return out


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


def quiet_exp(x: ArrayLike) -> Node:
    """exp(x) with underflow ignored, for the rules of stable ops (see ``QuietExp``).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> from graphdiff.ops.elementwise import quiet_exp
    >>> g = gd.Graph(); x = g.input("x", shape=(1,))
    >>> with np.errstate(all="raise"):
    ...     g.run(quiet_exp(x), feed={x: np.array([-1000.0])})
    array([0.])
    """
    return make_node(_QUIET_EXP, x)


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
    """Elementwise ``|x|``; the gradient at 0 is 0.

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
    if isinstance(x, Node) and x.weak:
        # A Python-scalar constant has no gradient to stop, and must stay weakly typed
        # (float32 data times it stays float32).
        return x
    return make_node(_STOP_GRADIENT, x)


# ================================================================ the NumPy surface: elementwise
# NumPy's elementwise functions beyond the core set above. Each is a real class (isinstance,
# save/load and pictures need one), most made by ``_define`` from a row: the NumPy
# function, a one-line math docstring and the reverse rule. The static dtype is NumPy's own
# for the operand dtypes (int16 -> float32 for arctan, int8 -> float64 for sinc).
_DTYPES: dict = {}


def numpy_dtype(fn: Any, xs: tuple) -> np.dtype | None:
    """The dtype ``fn`` returns for operands of the nodes' dtypes (Python scalars weak),
    found by evaluating it once on 0-d ones and remembered."""
    key = _dtype_key(fn, xs)
    if key is None:
        return None
    dtype = _DTYPES.get(key)
    if dtype is None:
        args = [t(1) if isinstance(t, type) else np.ones((), t) for t in key[1:]]
        with np.errstate(all="ignore"):
            dtype = _DTYPES[key] = np.asarray(fn(*args)).dtype
    return dtype


def reject_complex(what: Any, xs: Any) -> None:
    """TypeError (naming the op and the user's line) for a complex operand."""
    for x in xs:
        if x.dtype is not None and x.dtype.kind == "c":
            what = what.label() if hasattr(what, "label") else what
            raise TypeError(f"{what}: {describe(x)} is complex ({x.dtype}); complex dtypes "
                            f"are not supported yet (at {format_site(creation_site())})")


class NumpyElementwise(Elementwise):
    """An elementwise NumPy function ``fn``; the static dtype is what ``fn`` returns."""

    fn: Any = None

    def short_label(self, operands=()):
        return self.fn.__name__  # NumPy's name: arctan2, logaddexp

    def infer(self, *xs):
        reject_complex(self, xs)
        shape = broadcast(self, *xs)
        try:
            return shape, numpy_dtype(self.fn, xs)
        except TypeError as exc:  # NumPy has no loop for these dtypes (fmod of booleans)
            dtypes = ", ".join(str(x.dtype) for x in xs)
            raise TypeError(f"{self.label()} of {dtypes} at {format_site(creation_site())}: "
                            f"{exc}") from None


def _quietly(fn: Any) -> Any:
    def quiet(*xs: Any, **kw: Any) -> Any:
        with np.errstate(under="ignore"):
            return fn(*xs, **kw)
    return quiet


def _define(name: str, fn: Any, doc: str, vjp: Any = None, flops: int = 1,
            quiet: bool = False) -> type:
    """One NumpyElementwise class; without a rule it is piecewise constant (no gradient).
    ``quiet``: underflow is harmless in its results (logaddexp) and is not raised."""
    body = {"__doc__": doc, "__module__": __name__, "__qualname__": name,
            "fn": staticmethod(fn), "flops_per_element": flops,
            "forward": (lambda self, *xs: _quietly(fn)(*xs)) if quiet
            else (lambda self, *xs: fn(*xs))}
    if isinstance(fn, np.ufunc):
        body["kernel"] = body["out_kernel"] = fn
        if quiet:
            body["kernel"] = None
            body["out_kernel"] = staticmethod(_quietly(fn))
    if vjp is None:
        body["differentiable"] = False
    else:
        body["vjp"] = vjp
    return type(name, (NumpyElementwise,), body)


def _safe(x: Node, bad: Node) -> Node:
    """x with 1 where ``bad`` holds: a divisor that stays finite off the kink."""
    return where(bad, 1, x)


_LN2, _LN10 = float(np.log(2.0)), float(np.log(10.0))

# d tan x = (1 + tan^2 x) dx
Tan = _define("Tan", np.tan, "d tan x = (1 + tan(x)^2) dx.",
              lambda s, i, xs, y, g: multiply(g, add(1, square(y))))
Sinh = _define("Sinh", np.sinh, "d sinh x = cosh(x) dx.",
               lambda s, i, xs, y, g: multiply(g, cosh(xs[0])))
Cosh = _define("Cosh", np.cosh, "d cosh x = sinh(x) dx.",
               lambda s, i, xs, y, g: multiply(g, sinh(xs[0])))
# 1 - x^2 as (1 - x)(1 + x): no cancellation near |x| = 1.
Arcsin = _define("Arcsin", np.arcsin, "d arcsin x = dx / sqrt((1 - x)(1 + x)).",
                 lambda s, i, xs, y, g: divide(g, sqrt(multiply(subtract(1, xs[0]),
                                                                add(1, xs[0])))))
Arccos = _define("Arccos", np.arccos, "d arccos x = -dx / sqrt((1 - x)(1 + x)).",
                 lambda s, i, xs, y, g: negative(divide(g, sqrt(multiply(subtract(1, xs[0]),
                                                                         add(1, xs[0]))))))
Arctan = _define("Arctan", np.arctan, "d arctan x = dx / (1 + x^2).",
                 lambda s, i, xs, y, g: divide(g, add(1, square(xs[0]))))
Arcsinh = _define("Arcsinh", np.arcsinh, "d arcsinh x = dx / hypot(x, 1).",
                  lambda s, i, xs, y, g: divide(g, hypot(xs[0], 1)))
Arccosh = _define("Arccosh", np.arccosh, "d arccosh x = dx / sqrt((x - 1)(x + 1)).",
                  lambda s, i, xs, y, g: divide(g, sqrt(multiply(subtract(xs[0], 1),
                                                                 add(xs[0], 1)))))
Arctanh = _define("Arctanh", np.arctanh, "d arctanh x = dx / ((1 - x)(1 + x)).",
                  lambda s, i, xs, y, g: divide(g, multiply(subtract(1, xs[0]), add(1, xs[0]))))
Exp2 = _define("Exp2", np.exp2, "d 2^x = 2^x ln 2 dx.",
               lambda s, i, xs, y, g: multiply(g, multiply(y, _LN2)))
# exp(x), not y + 1: y + 1 loses every digit where expm1(x) is near -1.
Expm1 = _define("Expm1", np.expm1, "d (e^x - 1) = e^x dx.",
                lambda s, i, xs, y, g: multiply(g, exp(xs[0])))
Log2 = _define("Log2", np.log2, "d log2 x = dx / (x ln 2).",
               lambda s, i, xs, y, g: divide(g, multiply(xs[0], _LN2)))
Log10 = _define("Log10", np.log10, "d log10 x = dx / (x ln 10).",
                lambda s, i, xs, y, g: divide(g, multiply(xs[0], _LN10)))
Log1p = _define("Log1p", np.log1p, "d log(1 + x) = dx / (1 + x).",
                lambda s, i, xs, y, g: divide(g, add(1, xs[0])))
Reciprocal = _define("Reciprocal", np.reciprocal, "d (1/x) = -dx / x^2.",
                     lambda s, i, xs, y, g: negative(multiply(g, square(y))))
Fabs = _define("Fabs", np.fabs, "d |x| = sign(x) dx (0 at x = 0).",
               lambda s, i, xs, y, g: multiply(g, sign(xs[0])))
Deg2rad = _define("Deg2rad", np.deg2rad, "d (x pi / 180) = (pi / 180) dx.",
                  lambda s, i, xs, y, g: multiply(g, np.pi / 180))
Rad2deg = _define("Rad2deg", np.rad2deg, "d (x 180 / pi) = (180 / pi) dx.",
                  lambda s, i, xs, y, g: multiply(g, 180 / np.pi))


def _sinc_vjp(s, i, xs, y, g):
    # (cos(pi x) - sinc x) / x, with the limit 0 at x = 0 (the divisor there is 1).
    x = xs[0]
    at_zero = compare("equal", x, 0)
    slope = divide(subtract(cos(multiply(x, np.pi)), y), _safe(x, at_zero))
    return multiply(g, where(at_zero, 0, slope))


Sinc = _define("Sinc", np.sinc, "d sinc x = (cos(pi x) - sinc x) / x dx; 0 at x = 0.",
               _sinc_vjp, flops=4)

# Piecewise constant: the gradient is zero (no rule, differentiable = False).
Floor = _define("Floor", np.floor, "floor(x): piecewise constant, zero gradient.")
Ceil = _define("Ceil", np.ceil, "ceil(x): piecewise constant, zero gradient.")
Rint = _define("Rint", np.rint, "rint(x): piecewise constant, zero gradient.")
Trunc = _define("Trunc", np.trunc, "trunc(x): piecewise constant, zero gradient.")
Signum = _define("Signum", np.sign, "sign(x): piecewise constant, zero gradient.")


def _arctan2_vjp(s, i, xs, out, g):
    # d atan2(y, x) = (x dy - y dx) / (x^2 + y^2); 0 at the origin (a kink).
    y, x = xs
    r2 = add(square(x), square(y))
    at_zero = compare("equal", r2, 0)
    term = divide(multiply(g, x if i == 0 else negative(y)), _safe(r2, at_zero))
    return where(at_zero, 0, term)


def _hypot_vjp(s, i, xs, out, g):
    # d hypot(a, b) = (a da + b db) / hypot(a, b); 0 at the origin (a kink, as |x|).
    at_zero = compare("equal", out, 0)
    return multiply(g, divide(xs[i], _safe(out, at_zero)))


Arctan2 = _define("Arctan2", np.arctan2, "d atan2(y, x) = (x dy - y dx) / (x^2 + y^2).",
                  _arctan2_vjp, flops=4)
Hypot = _define("Hypot", np.hypot, "d hypot(a, b) = (a da + b db) / hypot(a, b).",
                _hypot_vjp, flops=3)
LogAddExp = _define("LogAddExp", np.logaddexp,
                    "d log(e^a + e^b) = e^(a - out) da + e^(b - out) db.",
                    lambda s, i, xs, out, g: multiply(g, quiet_exp(subtract(xs[i], out))),
                    flops=4, quiet=True)
LogAddExp2 = _define("LogAddExp2", np.logaddexp2,
                     "d log2(2^a + 2^b) = 2^(a - out) da + 2^(b - out) db.",
                     lambda s, i, xs, out, g: multiply(
                         g, quiet_exp(multiply(subtract(xs[i], out), _LN2))), flops=4, quiet=True)
Mod = _define("Mod", np.remainder, "d (a mod b) = da - floor(a / b) db (Python's modulo).",
              lambda s, i, xs, out, g: g if i == 0 else
              negative(multiply(g, floor(divide(xs[0], xs[1])))), flops=2)
Fmod = _define("Fmod", np.fmod, "d fmod(a, b) = da - trunc(a / b) db (C's remainder).",
               lambda s, i, xs, out, g: g if i == 0 else
               negative(multiply(g, trunc(divide(xs[0], xs[1])))), flops=2)


class NanAwareMask(Mask):
    """For fmax (``smaller`` False) and fmin: 1 where a is picked over b, 1/2 at ties, else
    0. A NaN operand is never picked while the other is a number."""

    __props__ = ("smaller", "dtype")
    flops_per_element = 4

    def __init__(self, smaller, dtype=None):
        super().__init__(dtype)
        self.smaller = smaller

    def forward(self, a, b):
        dtype = self.dtype or np.result_type(backends.dtype_of(a), backends.dtype_of(b))
        wins = (a < b) if self.smaller else (a > b)
        wins = wins | (np.isnan(b) & ~np.isnan(a))
        return wins.astype(dtype) + (a == b).astype(dtype) * 0.5


def _fm_vjp(smaller):
    def vjp(s, i, xs, out, g):
        a, b = xs if i == 0 else xs[::-1]
        return multiply(g, make_node(NanAwareMask(smaller, g.dtype), a, b))
    return vjp


Fmax = _define("Fmax", np.fmax, "Gradient to the larger non-NaN operand; ties split it.",
               _fm_vjp(False))
Fmin = _define("Fmin", np.fmin, "Gradient to the smaller non-NaN operand; ties split it.",
               _fm_vjp(True))


class NanToNum(NumpyElementwise):
    """d nan_to_num(x) = dx where x is finite, else 0 (the replacements are constants)."""

    __props__ = ("nan", "posinf", "neginf")

    def __init__(self, nan, posinf, neginf):
        self.nan, self.posinf, self.neginf = nan, posinf, neginf

    fn = staticmethod(np.nan_to_num)

    def forward(self, x):
        if backends.library(x) == "numpy":
            return np.nan_to_num(x, nan=self.nan, posinf=self.posinf, neginf=self.neginf)
        # Dask does not take nan=/posinf=/neginf=: the same replacements by where.
        dtype = backends.dtype_of(x)
        if dtype.kind != "f":
            return x
        big = np.finfo(dtype).max
        hi = big if self.posinf is None else self.posinf
        lo = -big if self.neginf is None else self.neginf
        out = np.where(np.isnan(x), self.nan, x)
        return np.where(x == np.inf, hi, np.where(x == -np.inf, lo, out)).astype(dtype)

    def infer(self, x):
        reject_complex(self, (x,))
        return x.shape, x.dtype

    def vjp(self, i, inputs, output, grad):
        return where(isfinite(inputs[0]), grad, 0)


# ---------------------------------------------------------------- predicates and logic
class Predicate(Elementwise):
    """logical_and/or/xor/not, isfinite, isnan, isinf: booleans, no gradient."""

    __props__ = ("kind",)
    differentiable = False
    foldable = False

    def __init__(self, kind):
        self.kind = kind

    @property
    def kernel(self):
        return getattr(np, self.kind)

    def forward(self, *xs):
        return getattr(np, self.kind)(*xs)

    def infer(self, *xs):
        reject_complex(self, xs)
        return broadcast(self, *xs), np.dtype(bool)


class Cast(Elementwise):
    """astype(x, dtype): d = the gradient cast back to x's dtype (float to float only;
    a cast to or from integers or booleans cuts the gradient)."""

    __props__ = ("dtype",)
    foldable = False

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def carries(self, x: Node) -> bool:
        """Only float -> float casts carry a gradient."""
        return self.dtype.kind == "f" and x.dtype is not None and x.dtype.kind == "f"

    def forward(self, x):
        if hasattr(x, "astype"):
            return x.astype(self.dtype)
        return np.asarray(x, dtype=self.dtype)  # a Python scalar constant

    def infer(self, x):
        reject_complex(self, (x,))
        return x.shape, self.dtype

    def vjp(self, i, inputs, output, grad):
        return astype(grad, inputs[0].dtype) if self.carries(inputs[0]) else None

    def jvp(self, inputs, tangents, output):
        t = tangents[0]
        return None if t is None or not self.carries(inputs[0]) else astype(t, self.dtype)


# ---------------------------------------------------------------- user functions
def _unary(cls: type) -> Any:
    """The user function of a one-operand class: one shared instance for every node."""
    instance = cls()
    name = cls.fn.__name__

    def fn(x: ArrayLike) -> Node:
        return make_node(instance, *wrap(name, x))

    return fn


def _binary(cls: type) -> Any:
    instance = cls()
    name = cls.fn.__name__

    def fn(a: ArrayLike, b: ArrayLike) -> Node:
        return make_node(instance, *wrap(name, a, b))

    return fn


def _document(fn: Any, name: str, doc: str, example: str, result: str) -> Any:
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"{doc}\n\n    Examples\n    --------\n"
                  f"    >>> import numpy as np, graphdiff as gd\n"
                  f"    >>> g = gd.Graph(); x = g.input(\"x\", shape=(2,))\n"
                  f"    >>> g.run(gd.{name}({example}), feed={{x: np.array([0.5, 1.0])}})\n"
                  f"    {result}\n    ")
    return fn


tan = _document(_unary(Tan), "tan", "Elementwise tangent, as ``np.tan``.",
                "x", "array([0.54630249, 1.55740772])")
sinh = _document(_unary(Sinh), "sinh", "Elementwise hyperbolic sine, as ``np.sinh``.",
                 "x", "array([0.52109531, 1.17520119])")
cosh = _document(_unary(Cosh), "cosh", "Elementwise hyperbolic cosine, as ``np.cosh``.",
                 "x", "array([1.12762597, 1.54308063])")
arcsin = _document(_unary(Arcsin), "arcsin", "Elementwise inverse sine, as ``np.arcsin``.",
                   "x", "array([0.52359878, 1.57079633])")
arccos = _document(_unary(Arccos), "arccos", "Elementwise inverse cosine, as ``np.arccos``.",
                   "x", "array([1.04719755, 0.        ])")
arctan = _document(_unary(Arctan), "arctan", "Elementwise inverse tangent, as ``np.arctan``.",
                   "x", "array([0.46364761, 0.78539816])")
arcsinh = _document(_unary(Arcsinh), "arcsinh",
                    "Elementwise inverse hyperbolic sine, as ``np.arcsinh``.",
                    "x", "array([0.48121183, 0.88137359])")
arccosh = _document(_unary(Arccosh), "arccosh",
                    "Elementwise inverse hyperbolic cosine, as ``np.arccosh``.",
                    "x + 1.0", "array([0.96242365, 1.3169579 ])")
arctanh = _document(_unary(Arctanh), "arctanh",
                    "Elementwise inverse hyperbolic tangent, as ``np.arctanh``.",
                    "x / 2.0", "array([0.25541281, 0.54930614])")
exp2 = _document(_unary(Exp2), "exp2", "Elementwise 2**x, as ``np.exp2``.",
                 "x", "array([1.41421356, 2.        ])")
expm1 = _document(_unary(Expm1), "expm1",
                  "Elementwise e**x - 1, accurate for small x, as ``np.expm1``.",
                  "x", "array([0.64872127, 1.71828183])")
log2 = _document(_unary(Log2), "log2", "Elementwise base-2 logarithm, as ``np.log2``.",
                 "x", "array([-1.,  0.])")
log10 = _document(_unary(Log10), "log10", "Elementwise base-10 logarithm, as ``np.log10``.",
                  "x", "array([-0.30103,  0.     ])")
log1p = _document(_unary(Log1p), "log1p",
                  "Elementwise log(1 + x), accurate for small x, as ``np.log1p``.",
                  "x", "array([0.40546511, 0.69314718])")
reciprocal = _document(_unary(Reciprocal), "reciprocal",
                       "Elementwise 1/x, as ``np.reciprocal`` (integer for integers).",
                       "x", "array([2., 1.])")
fabs = _document(_unary(Fabs), "fabs",
                 "Elementwise ``|x|`` as a float, as ``np.fabs``; the gradient at 0 is 0.",
                 "-x", "array([0.5, 1. ])")
sinc = _document(_unary(Sinc), "sinc",
                 "sin(pi x) / (pi x), 1 at 0, as ``np.sinc``; its gradient at 0 is 0.",
                 "x", "array([6.36619772e-01, 3.89817183e-17])")
deg2rad = _document(_unary(Deg2rad), "deg2rad", "Degrees to radians, as ``np.deg2rad``.",
                    "x * 180.0", "array([1.57079633, 3.14159265])")
rad2deg = _document(_unary(Rad2deg), "rad2deg", "Radians to degrees, as ``np.rad2deg``.",
                    "x * np.pi", "array([ 90., 180.])")
radians = _document(_unary(Deg2rad), "radians", "Degrees to radians, as ``np.radians``.",
                    "x * 180.0", "array([1.57079633, 3.14159265])")
degrees = _document(_unary(Rad2deg), "degrees", "Radians to degrees, as ``np.degrees``.",
                    "x * np.pi", "array([ 90., 180.])")
floor = _document(_unary(Floor), "floor", "Elementwise floor, as ``np.floor``; zero gradient.",
                  "x * 3.0", "array([1., 3.])")
ceil = _document(_unary(Ceil), "ceil", "Elementwise ceiling, as ``np.ceil``; zero gradient.",
                 "x * 3.0", "array([2., 3.])")
rint = _document(_unary(Rint), "rint",
                 "Round to the nearest integer (ties to even), as ``np.rint``; zero gradient.",
                 "x * 3.0", "array([2., 3.])")
trunc = _document(_unary(Trunc), "trunc",
                  "Round towards zero, as ``np.trunc``; zero gradient.",
                  "x * -3.0", "array([-1., -3.])")
sign = _document(_unary(Signum), "sign", "-1, 0 or 1 by the sign, as ``np.sign``; zero gradient.",
                 "x - 0.5", "array([0., 1.])")
arctan2 = _document(_binary(Arctan2), "arctan2",
                    "Elementwise angle of the point (x2, x1), as ``np.arctan2(x1, x2)``.",
                    "x, 1.0", "array([0.46364761, 0.78539816])")
hypot = _document(_binary(Hypot), "hypot",
                  "Elementwise sqrt(x1**2 + x2**2) without overflow, as ``np.hypot``.",
                  "x, 0.0", "array([0.5, 1. ])")
logaddexp = _document(_binary(LogAddExp), "logaddexp",
                      "Elementwise log(e**x1 + e**x2) without overflow, as ``np.logaddexp``.",
                      "x, x", "array([1.19314718, 1.69314718])")
logaddexp2 = _document(_binary(LogAddExp2), "logaddexp2",
                       "Elementwise log2(2**x1 + 2**x2), as ``np.logaddexp2``.",
                       "x, x", "array([1.5, 2. ])")
mod = _document(_binary(Mod), "mod",
                "Remainder with the divisor's sign (Python's %), as ``np.mod``.",
                "x * 3.0, -1.0", "array([-0.5, -0. ])")
remainder = _document(_binary(Mod), "remainder",
                      "Remainder with the divisor's sign, as ``np.remainder`` (= ``np.mod``).",
                      "x * 3.0, -1.0", "array([-0.5, -0. ])")
fmod = _document(_binary(Fmod), "fmod",
                 "Remainder with the dividend's sign (C's fmod), as ``np.fmod``.",
                 "x * 3.0, -1.0", "array([0.5, 0. ])")
fmax = _document(_binary(Fmax), "fmax",
                 "Elementwise maximum ignoring NaNs, as ``np.fmax``; the gradient goes to "
                 "the non-NaN operand.", "x, np.nan", "array([0.5, 1. ])")
fmin = _document(_binary(Fmin), "fmin",
                 "Elementwise minimum ignoring NaNs, as ``np.fmin``; the gradient goes to "
                 "the non-NaN operand.", "x, np.nan", "array([0.5, 1. ])")


def nan_to_num(x: ArrayLike, copy: bool = True, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Node:
    """NaN and infinities replaced by numbers, as ``np.nan_to_num``; the gradient is 1 where
    x is finite and 0 where it was replaced. ``copy`` is accepted for NumPy's signature
    (graph values are never changed in place).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> g.run(gd.nan_to_num(x, posinf=9.0), feed={x: np.array([np.nan, np.inf, 1.0])})
    array([0., 9., 1.])
    """
    return make_node(NanToNum(nan, posinf, neginf), *wrap("nan_to_num", x))


def _comparison(kind: str) -> Any:
    def fn(x1: ArrayLike, x2: ArrayLike) -> Node:
        a, b = wrap(kind, x1, x2)
        reject_complex(kind, (a, b))
        return make_node(Compare(kind), a, b)

    symbol = {"equal": "==", "not_equal": "!=", "less": "<", "less_equal": "<=",
              "greater": ">", "greater_equal": ">="}[kind]
    fn.__name__ = fn.__qualname__ = kind
    fn.__doc__ = f"""Elementwise x1 {symbol} x2 as booleans, as ``np.{kind}``; no gradient.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> g.run(gd.{kind}(x, 1.0), feed={{x: np.array([0.0, 1.0, 2.0])}}).tolist()
    {[bool(v) for v in Compare._KERNELS[kind](np.array([0.0, 1.0, 2.0]), 1.0)]}
    """
    return fn


equal = _comparison("equal")
not_equal = _comparison("not_equal")
less = _comparison("less")
less_equal = _comparison("less_equal")
greater = _comparison("greater")
greater_equal = _comparison("greater_equal")


def _predicate(kind: str, doc: str, arity: int, example: str, result: str) -> Any:
    if arity == 1:
        def fn(x: ArrayLike) -> Node:
            return make_node(Predicate(kind), *wrap(kind, x))
    else:
        def fn(x1: ArrayLike, x2: ArrayLike) -> Node:
            return make_node(Predicate(kind), *wrap(kind, x1, x2))
    fn.__name__ = fn.__qualname__ = kind
    fn.__doc__ = f"""{doc}, as ``np.{kind}``; a boolean result, no gradient.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> g.run(gd.{kind}({example}), feed={{x: np.array([0.0, 1.0, np.inf])}}).tolist()
    {result}
    """
    return fn


logical_and = _predicate("logical_and", "Elementwise truth of x1 and x2", 2, "x, x > 0.5",
                         "[False, True, True]")
logical_or = _predicate("logical_or", "Elementwise truth of x1 or x2", 2, "x, x > 0.5",
                        "[False, True, True]")
logical_xor = _predicate("logical_xor", "Elementwise truth of x1 xor x2", 2, "x, x > 1.5",
                         "[False, True, False]")
logical_not = _predicate("logical_not", "Elementwise truth of not x", 1, "x",
                         "[True, False, False]")
isfinite = _predicate("isfinite", "True where x is neither infinite nor NaN", 1, "x",
                      "[True, True, False]")
isnan = _predicate("isnan", "True where x is NaN", 1, "x", "[False, False, False]")
isinf = _predicate("isinf", "True where x is +inf or -inf", 1, "x", "[False, False, True]")


def astype(x: ArrayLike, dtype: Any, copy: bool = True) -> Node:
    """x cast to ``dtype``, as ``np.astype`` / ``ndarray.astype``.

    A float-to-float cast keeps the gradient (cast back to x's dtype); casts to or from
    integers and booleans cut it. Casting to x's own dtype returns x (graph values are
    never changed in place, so no copy is needed).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.astype(x, "float32"), feed={x: np.array([0.5, 1.0])})
    array([0.5, 1. ], dtype=float32)
    """
    (x,) = wrap("astype", x)
    try:
        target = np.dtype(dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"astype: {dtype!r} is not a dtype ({exc}) at "
                        f"{format_site(creation_site())}") from None
    if target.kind not in "biuf":
        raise TypeError(f"astype to {target} at {format_site(creation_site())}: only "
                        "numeric (bool, integer, float) dtypes are supported")
    if target.kind == "c":
        raise TypeError(f"astype to {target} at {format_site(creation_site())}: complex "
                        "dtypes are not supported yet")
    if x.dtype is not None and x.dtype == target and not x.weak:
        return x
    return make_node(Cast(target), x)
