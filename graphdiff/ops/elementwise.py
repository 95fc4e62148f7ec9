"""Elementwise primitives. Every rule's gradient has the output's (broadcast) shape;
``Elementwise.vjp`` undoes broadcasting for all of them, in this one place."""

from __future__ import annotations

import numpy as np

from .. import backends
from .. import functional as F
from ..op import Op, make_node, size_of
from ..shapes import broadcast, covers, float_dtype, result_dtype, same_shape


class Elementwise(Op):
    """Base of elementwise ops: NumPy broadcasting, dtype promotion, one unbroadcast.

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

    def vjp(self, i, inputs, output, grad):
        term = self.local(i, inputs, output, grad)
        if term is None:
            return None
        x = inputs[i]
        others = inputs[:i] + inputs[i + 1:]
        if same_shape(x, output, others):
            return term
        return F.sum_to(term, x)

    def local(self, i, inputs, output, grad):
        """The gradient contribution for input i, of the output's shape."""
        raise NotImplementedError


# ---------------------------------------------------------------- arithmetic
class Add(Elementwise):
    """d(a+b) = da + db."""

    kernel = out_kernel = np.add

    def forward(self, a, b):
        return np.add(a, b)

    def local(self, i, inputs, output, grad):
        return grad


class AddN(Elementwise):
    """Sum of n same-shaped terms (build_grad's sum of contributions)."""

    foldable = False

    def flops(self, input_shapes, output_shape):
        return (len(input_shapes) - 1) * size_of(output_shape)

    def forward(self, *xs):
        out = np.add(xs[0], xs[1])
        for x in xs[2:]:
            if (type(out) is np.ndarray and out.shape == np.shape(x)
                    and out.dtype == getattr(x, "dtype", None)):
                np.add(out, x, out=out)  # accumulate into the fresh sum: no array per term
            else:
                out = np.add(out, x)
        return out

    @staticmethod
    def out_kernel(*xs, out):
        # out is one of the terms (the runtime reuses a dying input that occurs once and
        # has no view among the other terms): add the others into it.
        for x in xs:
            if x is not out:
                np.add(out, x, out=out)
        return out

    def local(self, i, inputs, output, grad):
        return grad


class Subtract(Elementwise):
    """d(a-b) = da - db."""

    kernel = out_kernel = np.subtract

    def forward(self, a, b):
        return np.subtract(a, b)

    def local(self, i, inputs, output, grad):
        return grad if i == 0 else F.negative(grad)


class Multiply(Elementwise):
    """d(ab) = b da + a db."""

    kernel = out_kernel = np.multiply

    def forward(self, a, b):
        return np.multiply(a, b)

    def local(self, i, inputs, output, grad):
        return F.multiply(grad, inputs[1 - i])


class Divide(Elementwise):
    """d(a/b) = da / b - (a/b) db / b."""

    kernel = out_kernel = np.divide

    floating = True

    def forward(self, a, b):
        return np.divide(a, b)

    def local(self, i, inputs, output, grad):
        if i == 0:
            return F.divide(grad, inputs[1])
        return F.negative(F.divide(F.multiply(grad, output), inputs[1]))


class Power(Elementwise):
    """d(a**b) = b a**(b-1) da + a**b log(a) db."""

    kernel = out_kernel = np.power

    def forward(self, a, b):
        return np.power(a, b)

    def local(self, i, inputs, output, grad):
        a, b = inputs
        if i == 0:
            if b.weak:
                if b._value == 0:
                    return None  # d/da a**0 = 0, also at a = 0 (not 0 * inf)
                return F.multiply(grad, F.multiply(b, F.power(a, F.subtract(b, 1))))
            # b a**(b-1) is 0 * inf at a = 0, b = 0: take 0 there, as JAX and PyTorch do.
            slope = F.multiply(b, F.power(a, F.subtract(b, 1)))
            scale = F.where(F.compare("not_equal", b, 0), slope, 0)
            return F.multiply(grad, scale)
        # d/db a**b = a**b log(a), taken as 0 where a == 0 (as JAX and PyTorch), not 0 * -inf.
        safe = a if a.weak else F.where(F.compare("not_equal", a, 0), a, 1)
        return F.multiply(grad, F.multiply(output, F.log(safe)))


class Maximum(Elementwise):
    """Gradient to the larger operand; ties split it in halves (as JAX and PyTorch)."""

    kernel = out_kernel = np.maximum

    def forward(self, a, b):
        return np.maximum(a, b)

    def local(self, i, inputs, output, grad):
        a, b = inputs if i == 0 else inputs[::-1]
        return F.multiply(grad, F.make(GreaterMask(), a, b, dtype_of=grad))


class Minimum(Elementwise):
    """Gradient to the smaller operand; ties split it in halves."""

    kernel = out_kernel = np.minimum

    def forward(self, a, b):
        return np.minimum(a, b)

    def local(self, i, inputs, output, grad):
        a, b = inputs if i == 0 else inputs[::-1]
        return F.multiply(grad, F.make(GreaterMask(), b, a, dtype_of=grad))


class Where(Elementwise):
    """where(c, x, y): the gradient goes to x where c holds, to y elsewhere."""

    def forward(self, c, x, y):
        return np.where(c, x, y)

    def infer(self, c, x, y):
        return broadcast(self, c, x, y), result_dtype(x, y)

    def local(self, i, inputs, output, grad):
        if i == 0:
            return None
        zero = 0
        return F.where(inputs[0], grad, zero) if i == 1 else F.where(inputs[0], zero, grad)


# ---------------------------------------------------------------- unary
class Negative(Elementwise):
    """d(-x) = -dx."""

    kernel = out_kernel = np.negative

    def forward(self, x):
        return np.negative(x)

    def local(self, i, inputs, output, grad):
        return F.negative(grad)


class Exp(Elementwise):
    """d exp(x) = exp(x) dx."""

    kernel = out_kernel = np.exp

    floating = True

    def forward(self, x):
        return np.exp(x)

    def local(self, i, inputs, output, grad):
        return F.multiply(grad, output)


class Log(Elementwise):
    """d log(x) = dx / x."""

    kernel = out_kernel = np.log

    floating = True

    def forward(self, x):
        return np.log(x)

    def local(self, i, inputs, output, grad):
        return F.divide(grad, inputs[0])


class Sqrt(Elementwise):
    """d sqrt(x) = dx / (2 sqrt(x))."""

    kernel = out_kernel = np.sqrt

    floating = True

    def forward(self, x):
        return np.sqrt(x)

    def local(self, i, inputs, output, grad):
        return F.divide(F.multiply(grad, 0.5), output)


class Square(Elementwise):
    """d x^2 = 2x dx."""

    kernel = out_kernel = np.square

    def forward(self, x):
        return np.square(x)

    def local(self, i, inputs, output, grad):
        return F.multiply(grad, F.multiply(inputs[0], 2))


class Abs(Elementwise):
    """d|x| = sign(x) dx (0 at x = 0)."""

    kernel = out_kernel = np.abs

    def forward(self, x):
        return np.abs(x)

    def local(self, i, inputs, output, grad):
        return F.multiply(grad, F.make(Sign(), inputs[0], dtype_of=grad))


class Sin(Elementwise):
    """d sin(x) = cos(x) dx."""

    kernel = out_kernel = np.sin

    floating = True

    def forward(self, x):
        return np.sin(x)

    def local(self, i, inputs, output, grad):
        if grad.ones and covers(inputs[0], grad):
            return F.cos(inputs[0])  # the seed 1 is not multiplied in
        return make_node(_SIN_GRAD, grad, inputs[0])


class SinGrad(Elementwise):
    """g * cos(x), fused: one node per sin in a gradient, not two."""

    foldable = False

    def forward(self, g, x):
        return np.multiply(g, np.cos(x))

    def infer(self, g, x):
        return broadcast(self, g, x), result_dtype(g, x)

    def local(self, i, inputs, output, grad):
        g, x = inputs
        if i == 0:
            return make_node(_SIN_GRAD, grad, x)
        return F.negative(F.multiply(F.multiply(grad, g), F.sin(x)))


class Cos(Elementwise):
    """d cos(x) = -sin(x) dx."""

    kernel = out_kernel = np.cos

    floating = True

    def forward(self, x):
        return np.cos(x)

    def local(self, i, inputs, output, grad):
        return F.negative(F.multiply(grad, F.sin(inputs[0])))


class Tanh(Elementwise):
    """d tanh(x) = (1 - tanh(x)^2) dx."""

    kernel = out_kernel = np.tanh

    floating = True

    def forward(self, x):
        return np.tanh(x)

    def local(self, i, inputs, output, grad):
        if grad.ones and covers(output, grad):
            return F.subtract(1, F.square(output))  # the seed 1 is not multiplied in
        return make_node(_TANH_GRAD, grad, output)


class TanhGrad(Elementwise):
    """g * (1 - y^2) for y = tanh(x), fused: one node per tanh in a gradient, not three."""

    foldable = False

    def forward(self, g, y):
        return np.multiply(g, 1 - np.square(y))

    def infer(self, g, y):
        return broadcast(self, g, y), g.dtype

    def local(self, i, inputs, output, grad):
        g, y = inputs
        if i == 0:
            return make_node(_TANH_GRAD, grad, y)
        return F.multiply(F.multiply(grad, g), F.multiply(y, -2))


class Sigmoid(Elementwise):
    """d s(x) = s(x) s(-x) dx; computed as exp(-log(1 + e^-x)), finite everywhere.

    s(-x) rather than 1 - s(x): the subtraction cancels for large x (s'(100) would be 0).
    """

    floating = True
    flops_per_element = 3

    def forward(self, x):
        return np.exp(-np.logaddexp(0, -x))

    def local(self, i, inputs, output, grad):
        return F.multiply(grad, F.multiply(output, F.sigmoid(F.negative(inputs[0]))))


class Softplus(Elementwise):
    """d log(1 + e^x) = sigmoid(x) dx; computed with logaddexp, finite everywhere."""

    floating = True
    flops_per_element = 3

    def forward(self, x):
        return np.logaddexp(0, x)

    def local(self, i, inputs, output, grad):
        return F.multiply(grad, F.sigmoid(inputs[0]))


class Relu(Elementwise):
    """d max(x, 0) = [x > 0] dx (0 at x = 0, as PyTorch and JAX)."""

    def forward(self, x):
        return np.maximum(x, 0)

    @staticmethod
    def out_kernel(x, out):
        return np.maximum(x, 0, out=out)

    def local(self, i, inputs, output, grad):
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

    def local(self, i, inputs, output, grad):
        return make_node(_RELU_GRAD, grad, inputs[1]) if i == 0 else None


class Clip(Elementwise):
    """d clip(x, lo, hi) = [lo <= x <= hi] dx."""

    __props__ = ("a_min", "a_max")

    def __init__(self, a_min, a_max):
        self.a_min, self.a_max = a_min, a_max

    def forward(self, x):
        return np.clip(x, self.a_min, self.a_max)

    def local(self, i, inputs, output, grad):
        return F.multiply(grad, F.make(InRange(self.a_min, self.a_max), inputs[0], dtype_of=grad))


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
    """A piecewise-constant function: it has zero gradient. Its dtype is given explicitly."""

    differentiable = False
    foldable = False

    def __init__(self):
        self.dtype = None

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
    def forward(self, x):
        return np.sign(x).astype(self.dtype or np.result_type(backends.dtype_of(x)), copy=False)


class InRange(Mask):
    __props__ = ("a_min", "a_max")

    def __init__(self, a_min, a_max):
        super().__init__()
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
