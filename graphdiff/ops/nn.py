"""Neural-network primitives with fused, stable gradients, and ``gd.softmax`` /
``gd.log_softmax``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backends
from ..errors import GraphError
from ..graph import Node
from ..op import Op, add_n, as_int, make_node, size_of
from ..shapes import float_dtype
from .elementwise import multiply, negative, quiet_exp, subtract
from .reduce import sum
from .shape import expand_dims

ArrayLike = Any


def _floating(x):
    """Integer and bool logits are promoted to float64 first, as NumPy users would (a
    softmax is a mean-like float result); subtracting the max of uint8 would wrap."""
    dtype = np.result_type(backends.dtype_of(x))
    return x if dtype.kind in "fc" else x.astype(float_dtype(dtype))


def _softmax(x, axis):
    x = _floating(x)
    if x.shape[axis] == 0:
        return x.copy()  # an empty axis: nothing to normalise (and no max to subtract)
    e = x - np.max(x, axis=axis, keepdims=True)
    # exp of a very negative shifted logit underflows to 0, which is exact here.
    with np.errstate(under="ignore"):
        if type(e) is np.ndarray:
            np.exp(e, out=e)  # one temporary for the whole softmax
        else:
            e = np.exp(e)
        e /= np.sum(e, axis=axis, keepdims=True)
    return e


def _log_softmax(x, axis):
    x = _floating(x)
    if x.shape[axis] == 0:
        return x.copy()
    shifted = x - np.max(x, axis=axis, keepdims=True)
    with np.errstate(under="ignore"):
        lse = np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    if type(shifted) is np.ndarray:
        shifted -= lse
        return shifted
    return shifted - lse


def _check_axis(op, x):
    if x.shape is not None and not -len(x.shape) <= op.axis < max(len(x.shape), 1):
        raise GraphError(f"{op.label()}: axis {op.axis} is out of range for shape {x.shape}")


class Softmax(Op):
    """s = softmax(x); d = s * (g - sum(g * s))."""

    def flops(self, input_shapes, output_shape):
        return 4 * size_of(output_shape)

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def same_shape_as(self, x):
        return x

    def forward(self, x):
        return _softmax(x, self.axis)

    def infer(self, x):
        _check_axis(self, x)
        return x.shape, float_dtype(x.dtype)

    def vjp(self, i, inputs, output, grad):
        inner = sum(multiply(grad, output), axis=self.axis, keepdims=True)
        return multiply(output, subtract(grad, inner))

    def jvp(self, inputs, tangents, output):
        return self.vjp(0, inputs, output, tangents[0])  # the Jacobian is symmetric


class LogSoftmax(Op):
    """l = log softmax(x); d = g - exp(l) * sum(g)."""

    def flops(self, input_shapes, output_shape):
        return 4 * size_of(output_shape)

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def same_shape_as(self, x):
        return x

    def forward(self, x):
        return _log_softmax(x, self.axis)

    def infer(self, x):
        _check_axis(self, x)
        return x.shape, float_dtype(x.dtype)

    def vjp(self, i, inputs, output, grad):
        total = sum(grad, axis=self.axis, keepdims=True)
        return subtract(grad, multiply(quiet_exp(output), total))

    def jvp(self, inputs, tangents, output):
        t = tangents[0]  # J t = t - <softmax, t> along the axis
        return subtract(t, sum(multiply(t, quiet_exp(output)), axis=self.axis, keepdims=True))


class SoftmaxCrossEntropy(Op):
    """Per-row -sum(t * log softmax(z)) over the last axis; d/dz = (softmax(z) - t) g."""

    def flops(self, input_shapes, output_shape):
        return 5 * size_of(output_shape)

    __props__ = ("sparse",)

    def __init__(self, sparse):
        self.sparse = sparse  # True: labels are class indices

    def forward(self, z, labels):
        z = _floating(z)
        if (self.sparse and type(z) is np.ndarray and z.ndim == 2 and z.shape[-1]
                and type(labels) is np.ndarray):
            # log-sum-exp minus the picked logit: no full log-softmax matrix is formed.
            m = np.max(z, axis=-1)
            e = z - m[:, None]
            with np.errstate(under="ignore"):
                np.exp(e, out=e)
            with np.errstate(divide="ignore"):  # a row of -inf logits: -inf, quietly
                out = np.log(np.sum(e, axis=-1))
            out += m
            out -= z[np.arange(len(labels)), labels]
            return out
        logp = _log_softmax(z, -1)
        if self.sparse:
            if type(logp) is not np.ndarray or type(labels) is not np.ndarray:
                return -backends.take_labels(logp, labels)
            return -np.take_along_axis(logp, np.expand_dims(labels, -1), axis=-1)[..., 0]
        return -np.sum(labels * logp, axis=-1)

    def infer(self, z, labels):
        if z.shape is not None and len(z.shape) == 0:
            raise GraphError("softmax_cross_entropy: logits must have a class axis, got a scalar")
        if z.shape is not None and labels.shape is not None:
            want = z.shape[:-1] if self.sparse else z.shape
            if len(labels.shape) != len(want) or any(
                    a is not None and b is not None and a != b for a, b in zip(labels.shape, want)):
                kind = "class indices" if self.sparse else "class probabilities"
                raise GraphError(f"softmax_cross_entropy: logits of shape {z.shape} need "
                                 f"{kind} of shape {want}, got labels of shape {labels.shape}")
        return (None if z.shape is None else z.shape[:-1]), float_dtype(z.dtype)

    def vjp(self, i, inputs, output, grad):
        z, labels = inputs
        if i == 0:
            return make_node(SoftmaxCrossEntropyGrad(self.sparse), z, labels, grad)
        if self.sparse:
            return None
        return negative(multiply(log_softmax(z), expand_dims(grad, (-1,))))

    def jvp(self, inputs, tangents, output):
        z, labels = inputs
        tz, tl = tangents
        terms = []
        if tz is not None:   # <softmax(z) - t, tz> per row
            unit = make_node(SoftmaxCrossEntropyGrad(self.sparse), z, labels, 1.0)
            terms.append(sum(multiply(unit, tz), axis=-1))
        if tl is not None and not self.sparse:
            terms.append(negative(sum(multiply(tl, log_softmax(z)), axis=-1)))
        return add_n(terms)


class SoftmaxCrossEntropyGrad(Op):
    """(softmax(z) - t) * g[..., None], fused: one pass instead of a chain through exp and log."""

    def flops(self, input_shapes, output_shape):
        return 5 * size_of(output_shape)

    __props__ = ("sparse",)

    def __init__(self, sparse):
        self.sparse = sparse

    def same_shape_as(self, z, labels, g):
        return z

    def forward(self, z, labels, g):
        s = _softmax(z, -1)
        if s is z:
            s = s.copy()
        if self.sparse and (type(s) is not np.ndarray or type(labels) is not np.ndarray):
            # put_along_axis does not dispatch: subtract the one-hot rows instead (same values).
            if type(g) is np.ndarray and g.ndim and g.size and g.strides == (0,) * g.ndim:
                g = g.flat[0]  # a broadcast 1/N: a scalar, not a batch-sized NumPy block
            return (s - backends.onehot(s, labels)) * (g if np.ndim(g) == 0
                                                       else np.expand_dims(g, -1))
        if self.sparse and s.ndim == 2:
            s[np.arange(len(labels)), labels] -= 1  # rows of a batch: plain fancy indexing
        elif self.sparse:
            idx = np.expand_dims(labels, -1)
            np.put_along_axis(s, idx, np.take_along_axis(s, idx, axis=-1) - 1, axis=-1)
        else:
            s -= labels
        if np.ndim(g) == 0 or (type(g) is np.ndarray and g.size
                               and g.strides == (0,) * g.ndim):
            s *= g.flat[0] if type(g) is np.ndarray else g  # a broadcast 1/N: one scalar
        else:
            s *= np.expand_dims(g, -1)
        return s

    def infer(self, z, labels, g):
        return z.shape, float_dtype(z.dtype)

    def vjp(self, i, inputs, output, grad):
        z, labels, g = inputs
        weighted = multiply(grad, expand_dims(g, (-1,)))
        if i == 0:                    # softmax's Jacobian applied to grad * g
            s = softmax(z, axis=-1)
            inner = sum(multiply(weighted, s), axis=-1, keepdims=True)
            return multiply(s, subtract(weighted, inner))
        if i == 1:
            return None if self.sparse else negative(weighted)
        unit = make_node(SoftmaxCrossEntropyGrad(self.sparse), z, labels, 1.0)
        return sum(multiply(grad, unit), axis=-1)

    def jvp(self, inputs, tangents, output):
        z, labels, g = inputs
        # Symmetric in z and linear in the labels: their reverse rules are their forward
        # rules; in g the output is linear, so its tangent is the op applied to g's tangent.
        terms = [self.vjp(i, inputs, output, t) for i, t in enumerate(tangents[:2])
                 if t is not None]
        if tangents[2] is not None:
            terms.append(make_node(self, z, labels, tangents[2]))
        return add_n([t for t in terms if t is not None])


def softmax(x: ArrayLike, axis: int = -1) -> Node:
    """exp(x) / sum(exp(x)) along ``axis``, stable for large logits.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.softmax(x), feed={x: np.zeros(2)})
    array([0.5, 0.5])
    """
    return make_node(Softmax(as_int(axis, "softmax axis")), x)


def log_softmax(x: ArrayLike, axis: int = -1) -> Node:
    """x - logsumexp(x) along ``axis``, stable for large logits.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.log_softmax(x), feed={x: np.array([0.0, 0.0])})
    array([-0.69314718, -0.69314718])
    """
    return make_node(LogSoftmax(as_int(axis, "log_softmax axis")), x)
