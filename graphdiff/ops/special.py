"""Special functions and encodings: ``Erf`` (an elementwise primitive) and ``OneHot``.

erf uses ``scipy.special.erf`` when SciPy imports (it is not a dependency) and otherwise
W. J. Cody's rational Chebyshev approximations (Math. Comp. 23, 1969; the CALERF routine
of SPECFUN): within 5e-16 relative of ``math.erf`` in float64 (tests/test_conv.py checks
1e-14 on a grid).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import GraphError
from ..graph import Node
from ..op import Op, make_node, size_of
from ..shapes import float_dtype
from ..site import creation_site, format_site
from .elementwise import Elementwise, multiply, negative, quiet_exp, square

try:  # SciPy is optional: Cody's approximation below agrees with it to 5e-16.
    from scipy.special import erf as _scipy_erf
except ImportError:  # pragma: no cover - exercised where SciPy is absent
    _scipy_erf = None

# ---------------------------------------------------------------- Cody's erf
# |x| <= 0.5: erf(x) = x P(x^2) / Q(x^2).
_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
      3.20937758913846947e03, 1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)
# 0.5 < |x| <= 4: erfc(x) = exp(-x^2) P(x) / Q(x).
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
      2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
      2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)
# |x| > 4: erfc(x) = exp(-x^2) / x (1/sqrt(pi) + P(1/x^2) / (x^2 Q(1/x^2))).
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)
_INV_SQRT_PI = 5.6418958354775628695e-1


def _exp_minus_square(y: np.ndarray) -> np.ndarray:
    """exp(-y^2) without the rounding error of squaring: y = a + b with a = y to 1/16."""
    a = np.trunc(y * 16.0) / 16.0
    return np.exp(-a * a) * np.exp(-(y - a) * (y + a))


def cody_erf(x: Any) -> np.ndarray:
    """erf(x) by Cody's three rational approximations, in float64.

    Examples
    --------
    >>> import math
    >>> from graphdiff.ops.special import cody_erf
    >>> abs(float(cody_erf(0.3)) - math.erf(0.3)) < 1e-16
    True
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.abs(x)
    out = np.empty_like(y)
    small = y <= 0.5
    if small.any():
        t = y[small]
        z = t * t
        num, den = _A[4] * z, z
        for k in range(3):
            num = (num + _A[k]) * z
            den = (den + _B[k]) * z
        out[small] = t * (num + _A[3]) / (den + _B[3])
    mid = ~small & (y <= 4.0)
    if mid.any():
        t = y[mid]
        num, den = _C[8] * t, t
        for k in range(7):
            num = (num + _C[k]) * t
            den = (den + _D[k]) * t
        erfc = _exp_minus_square(t) * (num + _C[7]) / (den + _D[7])
        out[mid] = (0.5 - erfc) + 0.5
    big = y > 4.0
    if big.any():
        t = np.minimum(y[big], 27.0)  # erfc underflows to 0 beyond 26.5; avoids inf / inf
        z = 1.0 / (t * t)
        num, den = _P[5] * z, z
        for k in range(4):
            num = (num + _P[k]) * z
            den = (den + _Q[k]) * z
        erfc = _exp_minus_square(t) * (_INV_SQRT_PI - z * (num + _P[4]) / (den + _Q[4])) / t
        out[big] = (0.5 - erfc) + 0.5
    out = np.where(np.isnan(x), np.nan, out)
    return np.copysign(out, x)


class Erf(Elementwise):
    """erf(x) = 2/sqrt(pi) ∫_0^x exp(-t^2) dt; d erf(x) = 2/sqrt(pi) exp(-x^2) dx."""

    floating = True
    flops_per_element = 20

    def forward(self, x):
        dtype = float_dtype(np.result_type(x))  # float32 stays float32; integers give float64
        if _scipy_erf is not None:
            return np.asarray(_scipy_erf(x), dtype=dtype)
        return cody_erf(x).astype(dtype, copy=False)

    def vjp(self, i, inputs, output, grad):
        x = inputs[0]
        slope = multiply(quiet_exp(negative(square(x))), 2.0 / math.sqrt(math.pi))
        return multiply(grad, slope)


_ERF = Erf()


def erf(x: Any) -> Node:
    """The error function, elementwise, as ``scipy.special.erf``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> from graphdiff.ops.special import erf
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(erf(x), feed={x: np.array([0.0, 1.0])}).round(6)
    array([0.      , 0.842701])
    """
    return make_node(_ERF, x)


# ---------------------------------------------------------------- one-hot
class OneHot(Op):
    """e[..., k] = 1 if labels[...] == k else 0, of dtype ``dtype``: no gradient."""

    __props__ = ("num_classes", "dtype")
    differentiable = False

    def __init__(self, num_classes: int, dtype: np.dtype):
        self.num_classes, self.dtype = num_classes, dtype

    def forward(self, labels):
        labels = np.asarray(labels)
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"one_hot: labels must lie in [0, {self.num_classes}), got values "
                             f"from {labels.min()} to {labels.max()}")
        return (labels[..., None] == np.arange(self.num_classes)).astype(self.dtype)

    def infer(self, labels):
        if labels.dtype is not None and labels.dtype.kind not in "iu":
            raise GraphError(f"one_hot: labels must be integers, got dtype {labels.dtype}")
        shape = None if labels.shape is None else labels.shape + (self.num_classes,)
        return shape, self.dtype

    def flops(self, input_shapes, output_shape):
        return size_of(output_shape)


def one_hot(labels: Any, num_classes: int, dtype: Any = "float64") -> Any:
    """Rows of the identity picked by integer ``labels``: shape ``labels.shape + (num_classes,)``.

    A Node gives a Node (with no gradient); an array gives an array. Labels outside
    ``[0, num_classes)`` raise an error when the graph runs (ValueError for an array).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> gd.one_hot(np.array([2, 0]), 3)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    >>> g = gd.Graph(); y = g.input("y", shape=(None,), dtype="int64")
    >>> g.run(gd.one_hot(y, 2, dtype="float32"), feed={y: np.array([1])})
    array([[0., 1.]], dtype=float32)
    """
    if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) \
            or num_classes < 1:
        raise TypeError(f"one_hot: num_classes must be a positive int, got {num_classes!r} "
                        f"at {format_site(creation_site())}")
    op = OneHot(int(num_classes), np.dtype(dtype))
    if isinstance(labels, Node):
        return make_node(op, labels)
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers, got dtype {labels.dtype}")
    return op.forward(labels)
