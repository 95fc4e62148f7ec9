"""The op table: one row per op, read by tests/test_ops.py.

A row says how to build the op from input Nodes, a NumPy reference, a domain per input
(where the op is smooth, away from kinks and ties by far more than check_grad's eps), the
input shapes of each case (broadcasting pairs, scalars, batch dimensions), the orders of
derivative to check, and the Op class the built node must have. Public ops (the
reference's op pages), the losses, and the internal primitives of graphdiff/ops all have rows; ops
with ``differentiable = False`` (masks, counts, seeds) are marked ``zero_grad``.
"""

from __future__ import annotations

import math
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


def make_inputs(spec: Spec, case: int, dtype: Any = np.float64, decl: str = "static"):
    """(graph, input nodes, fed arrays) for one case of a row: float domains cast to
    ``dtype``, every dimension declared None when ``decl`` is "dynamic"; the arrays are
    drawn from a generator seeded by (row name, case), so every test sees the same ones."""
    import zlib

    rng = np.random.default_rng(zlib.crc32(repr((spec.name, case)).encode()))
    g = gd.Graph()
    nodes, arrays = [], []
    for k, (dom, shape) in enumerate(zip(spec.domains, spec.shapes[case], strict=True)):
        value = np.asarray(dom(rng, shape))
        if dom not in NON_FLOAT:
            value = value.astype(dtype)
        declared = shape if decl == "static" else (None,) * len(shape)
        nodes.append(g.input(f"in{k}", shape=declared, dtype=value.dtype))
        arrays.append(value)
    return g, nodes, arrays


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
    ("QuietExp", E.quiet_exp, np.exp, real, E.QuietExp, False),
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


# ---------------------------------------------------------------- loss helpers
from graphdiff.losses import CheckLabels  # noqa: E402

row("CheckLabels_static", lambda y: make_node(CheckLabels("y", 4), y), lambda y: y, (label4,),
    [((5,),), ((2, 3),)], CheckLabels, zero_grad=True, float32=False)
row("CheckLabels_ref", lambda y, z: make_node(CheckLabels("y"), y, z), lambda y, z: y,
    (label4, real), [((5,), (5, 4))], CheckLabels, zero_grad=True, float32=False)

# ================================================================ convolution, pooling,
# special functions and activations (graphdiff/ops/conv.py, ops/special.py, activations.py).
# The references are plain loops over output positions, independent of im2col and GEMMs;
# tests/test_conv.py uses them too.
from graphdiff.ops import conv as CV  # noqa: E402
from graphdiff.ops import special as SP  # noqa: E402


def _two(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def ref_pads(padding, kernel, dilation):
    """((top, bottom), (left, right)) as torch pads: "same" puts the odd zero at the end."""
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    if isinstance(padding, tuple) and isinstance(padding[0], tuple):
        return padding  # already ((top, bottom), (left, right))
    return tuple((p, p) for p in _two(padding))


def ref_pad(x, pads, fill=0.0):
    (t, b), (left, r) = pads
    out = np.full(x.shape[:-2] + (x.shape[-2] + t + b, x.shape[-1] + left + r), fill)
    out[..., t:t + x.shape[-2], left:left + x.shape[-1]] = x
    return out


def _window(arr, h, v, kernel, stride, dilation):
    """The (..., kH, kW) entries that output position (h, v) reads."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    return arr[..., h * sh:h * sh + dh * (kh - 1) + 1:dh, v * sw:v * sw + dw * (kw - 1) + 1:dw]


def _out_hw(padded_hw, kernel, stride, dilation):
    return tuple((p - d * (k - 1) - 1) // s + 1
                 for p, k, s, d in zip(padded_hw, kernel, stride, dilation))


def ref_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv2d, one output entry at a time."""
    stride, dilation = _two(stride), _two(dilation)
    n_, c_, _, _ = x.shape
    o_, cg, kh, kw = w.shape
    xp = ref_pad(x, ref_pads(padding, (kh, kw), dilation))
    oh, ow = _out_hw(xp.shape[-2:], (kh, kw), stride, dilation)
    out = np.zeros((n_, o_, oh, ow))
    og = o_ // groups
    for n in range(n_):
        for o in range(o_):
            chans = slice(o // og * cg, o // og * cg + cg)
            for h in range(oh):
                for v in range(ow):
                    win = _window(xp[n, chans], h, v, (kh, kw), stride, dilation)
                    out[n, o, h, v] = np.sum(win * w[o]) + (0.0 if b is None else b[o])
    return out


def ref_conv1d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    pad = padding if isinstance(padding, str) else (0, padding)
    return ref_conv2d(x[:, :, None], w[:, :, None], b, (1, stride), pad, (1, dilation),
                      groups)[:, :, 0]


def ref_conv_input_grad(g, w, ref_shape, stride, padding, dilation, groups):
    """The adjoint of ref_conv2d in x: each output entry adds g * w back onto its window."""
    stride, dilation = _two(stride), _two(dilation)
    o_, cg, kh, kw = w.shape
    pads = ref_pads(padding, (kh, kw), dilation)
    n_, c_, hh, ww = ref_shape
    dxp = np.zeros((n_, c_, hh + sum(pads[0]), ww + sum(pads[1])))
    og = o_ // groups
    for n in range(n_):
        for o in range(o_):
            chans = slice(o // og * cg, o // og * cg + cg)
            for h in range(g.shape[2]):
                for v in range(g.shape[3]):
                    _window(dxp[n, chans], h, v, (kh, kw), stride, dilation)[...] += \
                        g[n, o, h, v] * w[o]
    return dxp[:, :, pads[0][0]:pads[0][0] + hh, pads[1][0]:pads[1][0] + ww]


def ref_conv_filter_grad(x, g, kernel, stride, padding, dilation, groups):
    """The adjoint of ref_conv2d in w: g times the window each output entry reads."""
    stride, dilation = _two(stride), _two(dilation)
    xp = ref_pad(x, ref_pads(padding, kernel, dilation))
    n_, o_ = g.shape[:2]
    cg = x.shape[1] // groups
    og = o_ // groups
    dw = np.zeros((o_, cg) + tuple(kernel))
    for n in range(n_):
        for o in range(o_):
            chans = slice(o // og * cg, o // og * cg + cg)
            for h in range(g.shape[2]):
                for v in range(g.shape[3]):
                    dw[o] += g[n, o, h, v] * _window(xp[n, chans], h, v, kernel, stride, dilation)
    return dw


def ref_pool(x, kernel, stride=None, padding=0, kind="max"):
    """Max (-inf padding) or average (zeros counted) of every window."""
    kernel = _two(kernel)
    stride = kernel if stride is None else _two(stride)
    xp = ref_pad(x, ref_pads(padding, kernel, (1, 1)), -np.inf if kind == "max" else 0.0)
    oh, ow = _out_hw(xp.shape[-2:], kernel, stride, (1, 1))
    out = np.zeros(x.shape[:-2] + (oh, ow))
    for h in range(oh):
        for v in range(ow):
            win = _window(xp, h, v, kernel, stride, (1, 1))
            out[..., h, v] = win.max(axis=(-2, -1)) if kind == "max" else win.mean(axis=(-2, -1))
    return out


def ref_max_pool_scatter(x, g, kernel, stride=None, padding=0):
    """g of each window added at the window's first maximum (row-major), as torch."""
    kernel = _two(kernel)
    stride = kernel if stride is None else _two(stride)
    pads = ref_pads(padding, kernel, (1, 1))
    xp = ref_pad(x, pads, -np.inf)
    dxp = np.zeros(xp.shape)
    lead = x.shape[:-2]
    for idx in np.ndindex(*lead):
        for h in range(g.shape[-2]):
            for v in range(g.shape[-1]):
                win = _window(xp[idx], h, v, kernel, stride, (1, 1))
                i, j = np.unravel_index(np.argmax(win), win.shape)  # argmax: the first max
                dxp[idx + (h * stride[0] + i, v * stride[1] + j)] += g[idx + (h, v)]
    return dxp[..., pads[0][0]:pads[0][0] + x.shape[-2], pads[1][0]:pads[1][0] + x.shape[-1]]


def ref_max_pool_gather(x, hh, kernel, stride=None, padding=0):
    """hh read at each window's first maximum of x."""
    kernel = _two(kernel)
    stride = kernel if stride is None else _two(stride)
    pads = ref_pads(padding, kernel, (1, 1))
    xp, hp = ref_pad(x, pads, -np.inf), ref_pad(hh, pads)
    out = ref_pool(x, kernel, stride, padding)
    for idx in np.ndindex(*x.shape[:-2]):
        for h in range(out.shape[-2]):
            for v in range(out.shape[-1]):
                win = _window(xp[idx], h, v, kernel, stride, (1, 1))
                i, j = np.unravel_index(np.argmax(win), win.shape)
                out[idx + (h, v)] = hp[idx + (h * stride[0] + i, v * stride[1] + j)]
    return out


def ref_avg_pool_grad(g, ref_shape, kernel, stride=None, padding=0):
    kernel = _two(kernel)
    stride = kernel if stride is None else _two(stride)
    pads = ref_pads(padding, kernel, (1, 1))
    dxp = np.zeros(ref_shape[:-2] + (ref_shape[-2] + 2 * pads[0][0],
                                     ref_shape[-1] + 2 * pads[1][0]))
    for h in range(g.shape[-2]):
        for v in range(g.shape[-1]):
            _window(dxp, h, v, kernel, stride, (1, 1))[...] += \
                g[..., h, v, None, None] / (kernel[0] * kernel[1])
    return dxp[..., pads[0][0]:pads[0][0] + ref_shape[-2], pads[1][0]:pads[1][0] + ref_shape[-1]]


# Convolutions: every padding mode, stride, dilation, groups, with and without a bias.
CONV2D_CASES = [  # name, keyword arguments, (x shape, w shape)
    ("conv2d", {}, ((2, 3, 5, 4), (4, 3, 3, 2))),
    ("conv2d_stride_pad", {"stride": 2, "padding": 1}, ((2, 2, 5, 6), (3, 2, 3, 3))),
    ("conv2d_tuple_args", {"stride": (1, 2), "padding": (2, 0), "dilation": (2, 1)},
     ((1, 2, 4, 7), (2, 2, 2, 3))),
    ("conv2d_same_even_kernel", {"padding": "same"}, ((1, 2, 4, 5), (3, 2, 2, 4))),
    ("conv2d_same_dilation", {"padding": "same", "dilation": 2}, ((2, 1, 5, 5), (2, 1, 3, 2))),
    ("conv2d_valid", {"padding": "valid"}, ((1, 2, 4, 4), (2, 2, 3, 3))),
    ("conv2d_groups", {"groups": 2, "stride": 2, "padding": 1, "dilation": (1, 2)},
     ((2, 4, 5, 6), (4, 2, 2, 2))),
    ("conv2d_depthwise", {"groups": 3, "padding": 1}, ((1, 3, 4, 4), (3, 1, 3, 3))),
]
for _name, _kw, (_xs, _ws) in CONV2D_CASES:
    row(_name, (lambda k: lambda x, w: gd.conv2d(x, w, **k))(_kw),
        (lambda k: lambda x, w: ref_conv2d(x, w, **k))(_kw), (real, real), [(_xs, _ws)],
        CV.Conv2d)
row("conv2d_bias", lambda x, w, b: gd.conv2d(x, w, b, stride=(2, 1), padding=1),
    lambda x, w, b: ref_conv2d(x, w, b, stride=(2, 1), padding=1), (real, real, real),
    [((2, 2, 5, 4), (3, 2, 3, 2), (3,))], E.Add)

CONV1D_CASES = [
    ("conv1d", {}, ((2, 3, 6), (4, 3, 3))),
    ("conv1d_stride_pad_dilation", {"stride": 2, "padding": 2, "dilation": 2},
     ((2, 2, 7), (3, 2, 2))),
    ("conv1d_same", {"padding": "same"}, ((1, 2, 5), (2, 2, 4))),
    ("conv1d_valid_groups", {"padding": "valid", "groups": 2}, ((2, 4, 5), (2, 2, 3))),
]
for _name, _kw, (_xs, _ws) in CONV1D_CASES:
    row(_name, (lambda k: lambda x, w: gd.conv1d(x, w, **k))(_kw),
        (lambda k: lambda x, w: ref_conv1d(x, w, **k))(_kw), (real, real), [(_xs, _ws)], None)
row("conv1d_bias_tuple_padding", lambda x, w, b: gd.conv1d(x, w, b, padding=(1,)),
    lambda x, w, b: ref_conv1d(x, w, b, padding=1), (real, real, real),
    [((2, 2, 5), (3, 2, 3), (3,))], None)

# The gradient ops themselves (their own rules are each other's).
_GRAD_ARGS = ((2, 1), ((1, 1), (0, 0)), (1, 2), 2)  # stride, pads, dilation, groups
row("ConvInputGrad", lambda g, w, r: make_node(CV.ConvInputGrad(*_GRAD_ARGS), g, w, r),
    lambda g, w, r: ref_conv_input_grad(g, w, r.shape, (2, 1), ((1, 1), (0, 0)), (1, 2), 2),
    (real, real, real), [((2, 4, 3, 3), (4, 1, 3, 2), (2, 2, 6, 5))], CV.ConvInputGrad)
row("ConvInputGrad_same", lambda g, w, r: make_node(
        CV.ConvInputGrad((1, 1), "same", (1, 1), 1), g, w, r),
    lambda g, w, r: ref_conv_input_grad(g, w, r.shape, 1, "same", 1, 1), (real, real, real),
    [((1, 2, 4, 3), (2, 3, 2, 3), (1, 3, 4, 3))], CV.ConvInputGrad)
row("ConvFilterGrad", lambda x, g, r: make_node(CV.ConvFilterGrad(*_GRAD_ARGS), x, g, r),
    lambda x, g, r: ref_conv_filter_grad(x, g, r.shape[2:], (2, 1), ((1, 1), (0, 0)), (1, 2),
                                         2),
    (real, real, real), [((2, 2, 6, 5), (2, 4, 3, 3), (4, 1, 3, 2))], CV.ConvFilterGrad)

# Pools: inputs pairwise distinct by 0.3, so max has no ties (torch's first-max rule for
# ties is checked in tests/test_conv.py); both are piecewise linear.
POOL_CASES = [  # name suffix, (kernel, stride, padding), x shape
    ("", (2, None, 0), (2, 3, 4, 4)),
    ("_stride_pad", (3, 2, 1), (1, 2, 5, 6)),
    ("_overlap_tuple", ((2, 3), (1, 2), (1, 0)), (2, 1, 4, 5)),
    ("_unbatched", (2, 1, 0), (2, 3, 3)),
]
for _suffix, _args, _xs in POOL_CASES:
    row("max_pool2d" + _suffix, (lambda a: lambda x: gd.max_pool2d(x, *a))(_args),
        (lambda a: lambda x: ref_pool(x, *a, kind="max"))(_args), (distinct,), [(_xs,)],
        CV.MaxPool2d, square_base=True)
    row("avg_pool2d" + _suffix, (lambda a: lambda x: gd.avg_pool2d(x, *a))(_args),
        (lambda a: lambda x: ref_pool(x, *a, kind="avg"))(_args), (real,), [(_xs,)],
        CV.AvgPool2d, square_base=True)
_POOL = ((3, 3), (2, 2), (1, 1))  # kernel, stride, padding
row("MaxPoolScatter", lambda x, g: make_node(CV.MaxPoolScatter(*_POOL), x, g),
    lambda x, g: ref_max_pool_scatter(x, g, 3, 2, 1), (distinct, real),
    [((1, 2, 5, 4), (1, 2, 3, 2))], CV.MaxPoolScatter, square_base=True)
row("MaxPoolGather", lambda x, h: make_node(CV.MaxPoolGather(*_POOL), x, h),
    lambda x, h: ref_max_pool_gather(x, h, 3, 2, 1), (distinct, real),
    [((1, 2, 5, 4), (1, 2, 5, 4))], CV.MaxPoolGather, square_base=True)
row("AvgPoolGrad", lambda g, r: make_node(CV.AvgPoolGrad(*_POOL), g, r),
    lambda g, r: ref_avg_pool_grad(g, r.shape, 3, 2, 1), (real, real),
    [((1, 2, 3, 2), (1, 2, 5, 4))], CV.AvgPoolGrad, square_base=True)

# Special functions and activations.
row("erf", SP.erf, lambda x: np.vectorize(math.erf)(x), (real,), UNARY_SHAPES, SP.Erf)
row("erf_wide", SP.erf, lambda x: np.vectorize(math.erf)(x),
    (lambda rng, shape: rng.uniform(-6.0, 6.0, shape),), [((12,),)], SP.Erf)
row("leaky_relu", lambda x: gd.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x),
    (away,), UNARY_SHAPES, E.Where, square_base=True)
row("elu", lambda x: gd.elu(x, 1.5), lambda x: np.where(x > 0, x, 1.5 * np.expm1(x)),
    (away,), UNARY_SHAPES, E.Where)
row("gelu", gd.gelu, lambda x: x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))) / 2,
    (real,), UNARY_SHAPES, E.Multiply)
row("silu", gd.silu, lambda x: x / (1 + np.exp(-x)), (real,), UNARY_SHAPES, E.Multiply)
row("one_hot", lambda y: gd.one_hot(y, 4), lambda y: np.eye(4)[y], (label4,),
    [((5,),), ((2, 3),), ((),)], SP.OneHot, zero_grad=True, float32=False)
row("one_hot_float32", lambda y: gd.one_hot(y, 4, dtype="float32"),
    lambda y: np.eye(4, dtype=np.float32)[y], (label4,), [((3,),)], SP.OneHot, zero_grad=True)


# ================================================================ the NumPy surface (np1):
# elementwise, comparison and logic, casts, reductions, sort
from graphdiff.ops import sort as SO  # noqa: E402


def unit(rng, shape):
    """Inside (-1, 1) by 0.1: arcsin, arccos, arctanh."""
    return rng.uniform(-0.9, 0.9, shape)


def above_one(rng, shape):
    return rng.uniform(1.2, 3.0, shape)


def narrow(rng, shape):
    """Away from tan's poles at +-pi/2."""
    return rng.uniform(-1.2, 1.2, shape)


def above_minus_one(rng, shape):
    return rng.uniform(-0.6, 2.0, shape)


def off_integer(rng, shape):
    """Integers plus 0.3 to 0.7 (negative too): floor, ceil, rint and trunc are flat."""
    return rng.integers(-3, 3, shape) + rng.uniform(0.3, 0.45, shape) * rng.choice([1, 2], shape)


def dividend(rng, shape):
    """(k + 1/2 + u) * 1.25 with |u| <= 0.2: a / divisor stays 0.25 away from integers."""
    return (rng.integers(-3, 3, shape) + 0.5 + rng.uniform(-0.2, 0.2, shape)) * 1.25


def divisor(rng, shape):
    return rng.choice([-1.25, 1.25], shape) * rng.uniform(0.99, 1.01, shape)


def with_zeros(rng, shape):
    """Away from 0, with about a third of the entries exactly 0 (prod, cumprod)."""
    x = away(rng, shape)
    return np.where(rng.random(shape) < 0.3, 0.0, x)


for _name, _fn, _ref, _dom, _op, _sq in [
    ("tan", gd.tan, np.tan, narrow, E.Tan, False),
    ("sinh", gd.sinh, np.sinh, real, E.Sinh, False),
    ("cosh", gd.cosh, np.cosh, real, E.Cosh, False),
    ("arcsin", gd.arcsin, np.arcsin, unit, E.Arcsin, False),
    ("arccos", gd.arccos, np.arccos, unit, E.Arccos, False),
    ("arctan", gd.arctan, np.arctan, real, E.Arctan, False),
    ("arcsinh", gd.arcsinh, np.arcsinh, real, E.Arcsinh, False),
    ("arccosh", gd.arccosh, np.arccosh, above_one, E.Arccosh, False),
    ("arctanh", gd.arctanh, np.arctanh, unit, E.Arctanh, False),
    ("exp2", gd.exp2, np.exp2, real, E.Exp2, False),
    ("expm1", gd.expm1, np.expm1, real, E.Expm1, False),
    ("log2", gd.log2, np.log2, pos, E.Log2, False),
    ("log10", gd.log10, np.log10, pos, E.Log10, False),
    ("log1p", gd.log1p, np.log1p, above_minus_one, E.Log1p, False),
    ("reciprocal", gd.reciprocal, np.reciprocal, away, E.Reciprocal, False),
    ("fabs", gd.fabs, np.fabs, away, E.Fabs, True),
    ("sinc", gd.sinc, np.sinc, real, E.Sinc, False),
    ("deg2rad", gd.deg2rad, np.deg2rad, real, E.Deg2rad, True),
    ("rad2deg", gd.rad2deg, np.rad2deg, real, E.Rad2deg, True),
    ("radians", gd.radians, np.radians, real, E.Deg2rad, True),
    ("degrees", gd.degrees, np.degrees, real, E.Rad2deg, True),
    ("nan_to_num", gd.nan_to_num, np.nan_to_num, real, E.NanToNum, True),
]:
    row(_name, _fn, _ref, (_dom,), UNARY_SHAPES, _op, square_base=_sq)

for _name, _fn, _ref, _op in [("floor", gd.floor, np.floor, E.Floor),
                              ("ceil", gd.ceil, np.ceil, E.Ceil),
                              ("rint", gd.rint, np.rint, E.Rint),
                              ("trunc", gd.trunc, np.trunc, E.Trunc),
                              ("sign", gd.sign, np.sign, E.Signum)]:
    row(_name, _fn, _ref, (off_integer,), UNARY_SHAPES, _op, zero_grad=True)

for _name, _fn, _ref, _doms, _op, _sq in [
    ("arctan2", gd.arctan2, np.arctan2, (away, away), E.Arctan2, False),
    ("hypot", gd.hypot, np.hypot, (away, away), E.Hypot, False),
    ("logaddexp", gd.logaddexp, np.logaddexp, (real, real), E.LogAddExp, False),
    ("logaddexp2", gd.logaddexp2, np.logaddexp2, (real, real), E.LogAddExp2, False),
    ("mod", gd.mod, np.mod, (dividend, divisor), E.Mod, True),
    ("remainder", gd.remainder, np.remainder, (dividend, divisor), E.Mod, True),
    ("fmod", gd.fmod, np.fmod, (dividend, divisor), E.Fmod, True),
    ("fmax", gd.fmax, np.fmax, (grid_a, grid_b), E.Fmax, True),
    ("fmin", gd.fmin, np.fmin, (grid_a, grid_b), E.Fmin, True),
]:
    row(_name, _fn, _ref, _doms, BINARY_SHAPES, _op, square_base=_sq)
row("mod_operator", lambda a, b: a % b, lambda a, b: a % b, (dividend, divisor),
    [((3, 1), (1, 4))], E.Mod, square_base=True)
row("NanAwareMask", lambda a, b: make_node(E.NanAwareMask(False, a.dtype), a, b),
    lambda a, b: (a > b) + 0.5 * (a == b), (grid_a, grid_b), [((3, 1), (4,))],
    E.NanAwareMask, zero_grad=True)

# Comparison and logic: booleans, no gradient.
for _kind in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal"):
    row(_kind, getattr(gd, _kind), getattr(np, _kind), (grid_a, grid_b),
        [((3, 1), (1, 4)), ((), (3,))], E.Compare, zero_grad=True, float32=False)
row("equal_ties", gd.equal, np.equal, (grid_a, grid_a), [((3, 4), (4,))], E.Compare,
    zero_grad=True, float32=False)
for _kind in ("logical_and", "logical_or", "logical_xor"):
    row(_kind, getattr(gd, _kind), getattr(np, _kind), (boolean, boolean),
        [((3, 1), (1, 4)), ((4,), (4,))], E.Predicate, zero_grad=True, float32=False)
    row(f"{_kind}_of_floats", getattr(gd, _kind), getattr(np, _kind), (grid_a, boolean),
        [((3, 4), (4,))], E.Predicate, zero_grad=True, float32=False)
row("logical_not", gd.logical_not, np.logical_not, (boolean,), [((3, 4),), ((),)], E.Predicate,
    zero_grad=True, float32=False)
for _name, _fn, _ref in [("and_operator", lambda a, b: a & b, np.logical_and),
                         ("or_operator", lambda a, b: a | b, np.logical_or),
                         ("xor_operator", lambda a, b: a ^ b, np.logical_xor)]:
    row(_name, _fn, _ref, (boolean, boolean), [((3, 1), (4,))], E.Predicate, zero_grad=True,
        float32=False)
row("invert_operator", lambda a: ~a, np.logical_not, (boolean,), [((5,),)], E.Predicate,
    zero_grad=True, float32=False)
for _kind in ("isfinite", "isnan", "isinf"):
    row(_kind, getattr(gd, _kind), getattr(np, _kind), (real,), UNARY_SHAPES, E.Predicate,
        zero_grad=True, float32=False)

# Casts: float to float keeps the gradient (longdouble: exact, so check_grad stays float64).
row("astype_float", lambda x: gd.astype(x, np.longdouble), lambda x: x.astype(np.longdouble),
    (real,), UNARY_SHAPES, E.Cast, float32=False)
row("astype_method", lambda x: x.astype(np.longdouble), lambda x: x.astype(np.longdouble),
    (real,), [((2, 3),)], E.Cast, float32=False)
row("astype_int", lambda x: gd.astype(x, np.int64), lambda x: x.astype(np.int64), (real,),
    [((2, 3),)], None, zero_grad=True, float32=False)
row("astype_same_dtype", lambda x: gd.astype(x, x.dtype), lambda x: x, (real,), [((3,),)],
    None, square_base=True)

# Reductions.
for _axis, _keep in REDUCE_CASES:
    row(f"prod_axis{_axis}_keep{int(_keep)}",
        (lambda a, k: lambda x: gd.prod(x, axis=a, keepdims=k))(_axis, _keep),
        (lambda a, k: lambda x: np.prod(x, axis=a, keepdims=k))(_axis, _keep), (away,),
        [((2, 3, 4),)], R.Prod)
    for _ddof in (0, 1):
        for _fname, _fn, _ref in [("var", gd.var, np.var), ("std", gd.std, np.std)]:
            row(f"{_fname}_axis{_axis}_keep{int(_keep)}_ddof{_ddof}",
                (lambda f, a, k, d: lambda x: f(x, axis=a, keepdims=k, ddof=d))(
                    _fn, _axis, _keep, _ddof),
                (lambda f, a, k, d: lambda x: f(x, axis=a, keepdims=k, ddof=d))(
                    _ref, _axis, _keep, _ddof), (real,), [((2, 3, 4),)], None)
row("prod_vector", gd.prod, np.prod, (away,), [((5,),)], R.Prod)
# With exact zeros (rows of one, two and three zeros) the gradient is exact to order 2.
row("prod_with_zeros", lambda x: gd.prod(x, axis=1), lambda x: np.prod(x, axis=1),
    (with_zeros,), [((8, 3),), ((4, 5),)], R.Prod)
row("var_vector", gd.var, np.var, (real,), [((5,),)], None)
row("std_vector", gd.std, np.std, (real,), [((5,),)], None)
for _axis in (None, 0, 1, -1):
    row(f"cumsum_axis{_axis}", (lambda a: lambda x: gd.cumsum(x, axis=a))(_axis),
        (lambda a: lambda x: np.cumsum(x, axis=a))(_axis), (real,), [((2, 3, 4),)], R.Cumsum,
        square_base=True)
    row(f"cumprod_axis{_axis}", (lambda a: lambda x: gd.cumprod(x, axis=a))(_axis),
        (lambda a: lambda x: np.cumprod(x, axis=a))(_axis), (away,), [((2, 3, 4),)],
        R.Cumprod)
row("cumsum_vector", gd.cumsum, np.cumsum, (real,), [((5,),)], R.Cumsum, square_base=True)
row("cumprod_vector", gd.cumprod, np.cumprod, (away,), [((5,),)], R.Cumprod)
# cumprod with zeros (one, two or more per row): exact to order 2.
row("cumprod_with_zeros", lambda x: gd.cumprod(x, axis=1), lambda x: np.cumprod(x, axis=1),
    (with_zeros,), [((6, 5),), ((3, 7),)], R.Cumprod)
for _kind in ("argmax", "argmin"):
    for _axis, _keep in [(None, False), (0, False), (-1, True), (None, True)]:
        row(f"{_kind}_axis{_axis}_keep{int(_keep)}",
            (lambda f, a, k: lambda x: f(x, axis=a, keepdims=k))(getattr(gd, _kind), _axis,
                                                                  _keep),
            (lambda f, a, k: lambda x: f(x, axis=a, keepdims=k))(getattr(np, _kind), _axis,
                                                                  _keep),
            (distinct,), [((3, 4),)], R.ArgExtremum, zero_grad=True, float32=False)
for _kind in ("any", "all"):
    for _axis, _keep in [(None, False), (0, False), ((0, -1), True), (1, True)]:
        row(f"{_kind}_axis{_axis}_keep{int(_keep)}",
            (lambda f, a, k: lambda x: f(x > 0, axis=a, keepdims=k))(getattr(gd, _kind), _axis,
                                                                      _keep),
            (lambda f, a, k: lambda x: f(x > 0, axis=a, keepdims=k))(getattr(np, _kind), _axis,
                                                                      _keep),
            (real,), [((2, 3, 4),)], R.Truth, zero_grad=True, float32=False)

# Sorting: the gradient follows the permutation.
for _axis in (-1, 0, None):
    row(f"sort_axis{_axis}", (lambda a: lambda x: gd.sort(x, axis=a))(_axis),
        (lambda a: lambda x: np.sort(x, axis=a))(_axis), (distinct,), [((3, 4),), ((2, 3, 4),)],
        SO.Sort, square_base=True)
    row(f"argsort_axis{_axis}", (lambda a: lambda x: gd.argsort(x, axis=a))(_axis),
        (lambda a: lambda x: np.argsort(x, axis=a))(_axis), (distinct,), [((3, 4),)],
        SO.Argsort, zero_grad=True, float32=False)
row("sort_stable", lambda x: gd.sort(x, stable=True), lambda x: np.sort(x, stable=True),
    (distinct,), [((5,),)], SO.Sort, square_base=True)
row("Permute", lambda g, x: make_node(SO.Permute(1), g, gd.argsort(x, axis=1)),
    lambda g, x: np.take_along_axis(g, np.argsort(x, axis=1), axis=1), (real, distinct),
    [((3, 4), (3, 4))], SO.Permute, square_base=True)
row("Unpermute", lambda g, x: make_node(SO.Unpermute(1), g, gd.argsort(x, axis=1)),
    lambda g, x: _unpermute(g, np.argsort(x, axis=1)), (real, distinct), [((3, 4), (3, 4))],
    SO.Unpermute, square_base=True)


def _unpermute(g, idx):
    out = np.empty_like(g)
    np.put_along_axis(out, idx, g, axis=1)
    return out


assert len({s.name for s in SPECS}) == len(SPECS), "row names must be unique"

# ================================================================ NumPy surface (np2):
# contractions, shape and selection functions, and their primitives.
from graphdiff.ops import contract as C  # noqa: E402

_IDX = np.array([[0, 2], [2, 1]])         # constant indices for take / take_along_axis


def _node_index(x, i):
    return x[i]                           # x[node]: fancy index with an integer Node


def _ref_einsum(sub):
    return lambda *xs: np.einsum(sub, *xs)


row("einsum", lambda a, b: gd.einsum("ij,jk->ik", a, b), _ref_einsum("ij,jk->ik"),
    (real, real), [((2, 3), (3, 4))], C.Einsum)
row("einsum_broadcast", lambda a, b: gd.einsum("ij,ij->ij", a, b), _ref_einsum("ij,ij->ij"),
    (real, real), [((3, 1), (1, 4)), ((3, 4), (3, 4))], C.Einsum, dynamic=False)
row("einsum_ellipsis", lambda a, b: gd.einsum("...ij,...jk", a, b),
    _ref_einsum("...ij,...jk"), (real, real), [((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (4, 2))],
    C.Einsum, dynamic=False)
row("einsum_three", lambda a, b, c: gd.einsum("ij,jk,kl->il", a, b, c),
    _ref_einsum("ij,jk,kl->il"), (real, real, real), [((2, 3), (3, 4), (4, 2))], C.Einsum)
row("einsum_trace", lambda a: gd.einsum("ii", a), _ref_einsum("ii"), (real,), [((3, 3),)],
    C.Einsum, square_base=True)
row("einsum_diagonal", lambda a: gd.einsum("iij->ji", a), _ref_einsum("iij->ji"), (real,),
    [((3, 3, 2),)], C.Einsum, square_base=True)
row("einsum_sum_out", lambda a, b: gd.einsum("ij,j->", a, b), _ref_einsum("ij,j->"),
    (real, real), [((3, 4), (4,))], C.Einsum)
row("einsum_self", lambda a: gd.einsum("i,i->", a, a), lambda a: np.einsum("i,i->", a, a),
    (real,),
    [((4,),)], C.Einsum)
row("dot", gd.dot, np.dot, (real, real),
    [((2, 3), (3, 4)), ((3,), (3,)), ((2, 3, 4), (5, 4, 2)), ((), (2, 3)), ((2, 3), (3,))],
    None)
row("inner", gd.inner, np.inner, (real, real), [((2, 3), (4, 3)), ((3,), (3,)), ((), (2,))],
    None)
row("outer", gd.outer, np.outer, (real, real), [((2, 2), (3,)), ((3,), (1,))], None)
row("tensordot", gd.tensordot, np.tensordot, (real, real), [((2, 3, 4), (3, 4, 5))], None)
row("tensordot_axes", lambda a, b: gd.tensordot(a, b, ([0, 2], [2, 0])),
    lambda a, b: np.tensordot(a, b, ([0, 2], [2, 0])), (real, real),
    [((2, 3, 4), (4, 3, 2))], None)
row("kron", gd.kron, np.kron, (real, real), [((2, 3), (3, 2)), ((2,), (3, 2))], None,
    dynamic=False)
# cross needs the vector size statically (2 or 3): no dynamic declaration.
row("cross", gd.cross, np.cross, (real, real), [((4, 3), (3,)), ((3, 1, 3), (4, 3))], None,
    dynamic=False)
row("cross_axes", lambda a, b: gd.cross(a, b, axisa=0, axisb=1, axisc=0),
    lambda a, b: np.cross(a, b, axisa=0, axisb=1, axisc=0), (real, real),
    [((3, 4), (4, 3))], None, dynamic=False)
row("trace", gd.trace, np.trace, (real,), [((3, 3),), ((3, 4, 2),)], None, square_base=True)
row("trace_offset", lambda a: gd.trace(a, 1, 1, 2), lambda a: np.trace(a, 1, 1, 2), (real,),
    [((2, 3, 4),)], None, square_base=True)
row("squeeze", lambda x: gd.squeeze(x, (1, -1)), lambda x: np.squeeze(x, (1, -1)), (real,),
    [((2, 1, 3, 1),)], S.Squeeze, square_base=True)
row("squeeze_all", gd.squeeze, np.squeeze, (real,), [((2, 1, 3, 1),), ((1,),)], S.Squeeze,
    square_base=True, dynamic=False)
row("expand_dims", lambda x: gd.expand_dims(x, 1), lambda x: np.expand_dims(x, 1), (real,),
    [((2, 3),)], S.ExpandDims, square_base=True)
row("swapaxes", lambda x: gd.swapaxes(x, 0, -1), lambda x: np.swapaxes(x, 0, -1), (real,),
    [((2, 3, 4),)], S.Transpose, square_base=True)
row("moveaxis", lambda x: gd.moveaxis(x, [0, 1], [-1, 0]),
    lambda x: np.moveaxis(x, [0, 1], [-1, 0]), (real,), [((2, 3, 4),)], S.Transpose,
    square_base=True)
row("flip", lambda x: gd.flip(x, (0, -1)), lambda x: np.flip(x, (0, -1)), (real,),
    [((2, 3, 4),), ((3, 1, 2),)], S.Flip, square_base=True)
row("flip_all", gd.flip, np.flip, (real,), [((2, 3),)], S.Flip, square_base=True)
row("fliplr", gd.fliplr, np.fliplr, (real,), [((2, 3),)], S.Flip, square_base=True)
row("flipud", gd.flipud, np.flipud, (real,), [((2, 3),)], S.Flip, square_base=True)
row("roll", lambda x: gd.roll(x, (1, -2), (0, 1)), lambda x: np.roll(x, (1, -2), (0, 1)),
    (real,), [((3, 4),)], S.Roll, square_base=True)
row("roll_flat", lambda x: gd.roll(x, 5), lambda x: np.roll(x, 5), (real,), [((3, 4),)],
    S.Roll, square_base=True)
row("tile", lambda x: gd.tile(x, (2, 1, 3)), lambda x: np.tile(x, (2, 1, 3)), (real,),
    [((2, 3),), ((4,),)], S.Tile, square_base=True)
row("repeat", lambda x: gd.repeat(x, 2, axis=1), lambda x: np.repeat(x, 2, axis=1), (real,),
    [((2, 3),)], S.Repeat, square_base=True)
row("repeat_each", lambda x: gd.repeat(x, [1, 0, 3], axis=-1),
    lambda x: np.repeat(x, [1, 0, 3], axis=-1), (real,), [((2, 3),)], S.Repeat,
    square_base=True)
row("repeat_flat", lambda x: gd.repeat(x, 2), lambda x: np.repeat(x, 2), (real,),
    [((2, 3),)], S.Repeat, square_base=True)
row("pad", lambda x: gd.pad(x, ((1, 2), (0, 1)), constant_values=1.5),
    lambda x: np.pad(x, ((1, 2), (0, 1)), constant_values=1.5), (real,), [((3, 4),)], S.Pad,
    square_base=True)
for _mode in ("edge", "reflect", "symmetric", "wrap"):
    row(f"pad_{_mode}", lambda x, m=_mode: gd.pad(x, ((1, 4), (2, 0)), mode=m),
        lambda x, m=_mode: np.pad(x, ((1, 4), (2, 0)), mode=m), (real,), [((3, 4),)], S.Pad,
        square_base=True)
row("diag", lambda v: gd.diag(v, -1), lambda v: np.diag(v, -1), (real,), [((3,),)], S.Diag,
    square_base=True)
row("diag_of_matrix", lambda x: gd.diag(x, 1), lambda x: np.diag(x, 1), (real,),
    [((3, 4),)], S.Diagonal, square_base=True)
row("diagonal", lambda x: gd.diagonal(x, -1, 2, 0), lambda x: np.diagonal(x, -1, 2, 0),
    (real,), [((3, 2, 4),), ((3, 3, 2),)], S.Diagonal, square_base=True)
row("tril", lambda x: gd.tril(x, -1), lambda x: np.tril(x, -1), (real,),
    [((2, 3, 4),), ((3, 3),)], S.Tri, square_base=True)
row("triu", lambda x: gd.triu(x, 1), lambda x: np.triu(x, 1), (real,), [((3, 4),)], S.Tri,
    square_base=True)
row("split", lambda x: gd.concatenate(gd.split(x, 2, axis=1)[::-1], axis=1),
    lambda x: np.concatenate(np.split(x, 2, axis=1)[::-1], axis=1), (real,), [((3, 4),)], None,
    square_base=True)
row("split_indices", lambda x: gd.split(x, [1, 3])[1], lambda x: np.split(x, [1, 3])[1],
    (real,), [((5, 2),)], None, square_base=True)
row("array_split", lambda x: gd.array_split(x, 3)[0] * gd.array_split(x, 3)[1][:1],
    lambda x: np.array_split(x, 3)[0] * np.array_split(x, 3)[1][:1], (real,), [((5, 2),)],
    None, dynamic=False)
row("hstack", lambda a, b: gd.hstack([a, b]), lambda a, b: np.hstack([a, b]), (real, real),
    [((2, 3), (2, 1)), ((2,), (3,))], None, square_base=True)
row("vstack", lambda a, b: gd.vstack([a, b]), lambda a, b: np.vstack([a, b]), (real, real),
    [((3,), (2, 3)), ((), ())], None, square_base=True)
row("ravel", gd.ravel, np.ravel, (real,), [((2, 3),)], S.Reshape, square_base=True)
row("take", lambda x: gd.take(x, _IDX, axis=1), lambda x: np.take(x, _IDX, axis=1), (real,),
    [((2, 3),)], I.Index, square_base=True)
row("take_flat", lambda x: gd.take(x, [5, 0, 5]), lambda x: np.take(x, [5, 0, 5]), (real,),
    [((2, 3),)], I.Index, square_base=True)
row("take_node", lambda x, i: gd.take(x, i, axis=-1), lambda x, i: np.take(x, i, axis=-1),
    (real, label4), [((2, 4), (3,)), ((4,), (2, 2))], I.Gather, square_base=True)
row("index_node", _node_index, lambda x, i: x[i], (real, label4), [((4, 2), (5,))], I.Gather,
    square_base=True)
row("take_along_axis", lambda x: gd.take_along_axis(x, _IDX, 1),
    lambda x: np.take_along_axis(x, _IDX, 1), (real,), [((2, 3),), ((1, 3),)], I.TakeAlongAxis,
    square_base=True)
row("take_along_axis_node", lambda x, i: gd.take_along_axis(x, i, axis=0),
    lambda x, i: np.take_along_axis(x, i, axis=0), (real, label4), [((4, 3), (2, 3))],
    I.TakeAlongAxis, square_base=True)


# The adjoints and helpers these build, as their own rows.
def _zeros_with(write):
    def ref(g, r):
        out = np.zeros(r.shape)
        write(out, g)
        return out
    return ref


def _write_diagonal(out, g):
    out[[1, 2], [0, 1]] = g


row("DiagonalEmbed", lambda g, r: make_node(S.DiagonalEmbed(-1, 0, 1), g, r),
    _zeros_with(_write_diagonal), (real, real), [((2,), (3, 3))], S.DiagonalEmbed,
    square_base=True)
row("GatherGrad", lambda g, r, i: make_node(I.GatherGrad((("@", 0),)), g, r, i),
    lambda g, r, i: _scatter_rows(g, r, i), (real, real, label4), [((3, 2), (4, 2), (3,))],
    I.GatherGrad, square_base=True)


def _scatter_rows(g, r, i):
    out = np.zeros(r.shape)
    np.add.at(out, i, g)
    return out


def _ref_tag(g, i, r):
    out = np.zeros(r.shape)
    rows_ = np.arange(i.shape[1])[None, :]
    np.add.at(out, (i, rows_), g)
    return out


row("TakeAlongAxisGrad", lambda g, i, r: make_node(I.TakeAlongAxisGrad(0), g, i, r), _ref_tag,
    (real, label4, real), [((2, 3), (2, 3), (4, 3))], I.TakeAlongAxisGrad, square_base=True)
row("PadGrad", lambda g, r: make_node(S.PadGrad(((1, 0), (2, 1)), "constant"), g, r),
    lambda g, r: g[1:, 2:-1], (real, real), [((4, 5), (3, 2))], S.PadGrad, square_base=True)
row("PadGrad_reflect", lambda g, r: make_node(S.PadGrad(((2, 1),), "reflect"), g, r),
    lambda g, r: _pad_adjoint(g, r), (real, real), [((6,), (3,))], S.PadGrad, square_base=True)


def _pad_adjoint(g, r):
    source = np.pad(np.arange(r.shape[0]), (2, 1), mode="reflect")
    out = np.zeros(r.shape)
    np.add.at(out, source, g)
    return out


row("RepeatGrad", lambda g, r: make_node(S.RepeatGrad(2, 1), g, r),
    lambda g, r: g.reshape(2, 3, 2).sum(-1), (real, real), [((2, 6), (2, 3))], S.RepeatGrad,
    square_base=True)
row("RepeatGrad_each", lambda g, r: make_node(S.RepeatGrad((2, 0, 1), 0), g, r),
    lambda g, r: np.stack([g[0] + g[1], np.zeros(g.shape[1:]), g[2]]), (real, real),
    [((3, 2), (3, 2))], S.RepeatGrad, square_base=True)
row("TileGrad", lambda g, r: make_node(S.TileGrad((2, 3)), g, r),
    lambda g, r: g.reshape(2, 2, 3, 3).sum(axis=(0, 2)), (real, real), [((4, 9), (2, 3))],
    S.TileGrad, square_base=True)
row("Section", lambda x: make_node(S.Section(3, 1, 0, False), x),
    lambda x: np.array_split(x, 3)[1], (real,), [((7, 2),)], S.Section, square_base=True)
row("split_unknown_size", lambda x: gd.split(x, 2)[1], lambda x: np.split(x, 2)[1], (real,),
    [((4, 3),)], None, square_base=True)
row("SectionInto", lambda g, r: make_node(S.SectionInto(3, 1, 0), g, r),
    lambda g, r: np.concatenate([np.zeros((3, 2)), g, np.zeros((2, 2))]), (real, real),
    [((2, 2), (7, 2))], S.SectionInto, square_base=True)
row("Eye", lambda r, like: make_node(C.Eye(1), r, like), lambda r, like: np.eye(r.shape[1]),
    (real, real), [((2, 3), ())], C.Eye, zero_grad=True)
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
# Wide inputs (m < n): the square rule on the first m columns plus gY = Q gV.
row("linalg_qr_wide_Q", lambda a: gd.linalg.qr(a)[0], lambda a: np.linalg.qr(a)[0],
    (svd_distinct,), [((3, 5),), ((2, 2, 4),)], D.Unpack, dynamic=False)
row("linalg_qr_wide_R", lambda a: gd.linalg.qr(a)[1], lambda a: np.linalg.qr(a)[1],
    (svd_distinct,), [((3, 5),), ((2, 2, 4),)], D.Unpack, dynamic=False)
row("linalg_pinv", gd.linalg.pinv, np.linalg.pinv, (svd_distinct,), RECT, D.Pinv)
# rcond=1e-3 keeps the zero singular value below the cutoff under check_grad's steps.
row("linalg_pinv_rank_deficient", lambda a: gd.linalg.pinv(a, rcond=1e-3),
    lambda a: np.linalg.pinv(a, rcond=1e-3), (rank_deficient,), [((3, 3),), ((2, 3, 3),)],
    D.Pinv)
# Rectangular rank-deficient inputs: the SVD's null-space vectors are not unique there, so
# second order holds only because Pinv's rule is written in the pseudo-inverse itself.
row("linalg_pinv_rank_deficient_rect", lambda a: gd.linalg.pinv(a, rcond=1e-3),
    lambda a: np.linalg.pinv(a, rcond=1e-3), (rank_deficient,),
    [((4, 3),), ((3, 4),), ((2, 5, 3),)], D.Pinv)
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

# ---------------------------------------------------------------- random nodes, shapes
# The draws themselves (RandomUniform, RandomNormal) are stateful: no NumPy reference can
# equal a fresh draw, so they are excluded from the coverage test and checked in
# tests/test_random.py. shape_of, and dropout with a fixed noise, are ordinary rows.
from graphdiff.ops import random as RD  # noqa: E402

row("shape_of", gd.shape_of, lambda x: np.array(np.shape(x)), (real,),
    [((2, 3),), ((),), ((4, 1, 2),)], RD.ShapeOf, zero_grad=True, float32=False)
_NOISE = np.random.default_rng(13).random((3, 4))
for _rate in (0.0, 0.3, 1.0):
    row(f"dropout_fixed_noise_rate{_rate}",
        (lambda r: lambda x: gd.dropout(x, r, True, noise=_NOISE))(_rate),
        (lambda r: lambda x: x * (_NOISE >= r) / (1.0 - r) if r < 1 else 0.0 * x)(_rate),
        (real,), [((3, 4),)], None, square_base=True)
row("dropout_fixed_noise_broadcast", lambda x: gd.dropout(x, 0.5, True, noise=_NOISE[:1]),
    lambda x: x * (_NOISE[:1] >= 0.5) * 2.0, (real,), [((3, 4),), ((4,),)], None,
    square_base=True)

assert len({s.name for s in SPECS}) == len(SPECS), "row names must be unique"
