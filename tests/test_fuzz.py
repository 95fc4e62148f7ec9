"""Issue 5, fuzzing: random graphs from random ops (broadcasting binaries, reductions with
random axes and keepdims, matmul, reshape, transpose, indexing) checked against a direct
NumPy evaluation, gd.check_grad and finite-difference Hessian-vector products; and random
malformed graphs that must raise only GraphdiffError subclasses or TypeError.

Issue 15 adds two hostile fuzzers: construction (any public builder called with values
drawn from a pool of malformed arguments: named errors only, and whatever builds has the
static shape and dtype its run returns) and files (saved graphs and parameter files with
their JSON records and bytes mutated: FileFormatError only, and whatever loads runs or
fails with a graphdiff error). ``GRAPHDIFF_FUZZ_EXAMPLES=10000`` runs each of those two
that many times (CI runs a small bounded number).

The number of random graphs run is counted and printed at the end of the module (and
asserted), so it can be quoted.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import graphdiff as gd

COUNT = {"values+grad": 0, "second order": 0, "malformed": 0, "malformed built": 0,
         "construction": 0, "construction built": 0, "files": 0, "files loaded": 0}
# The hostile fuzzers' example count: small in CI, GRAPHDIFF_FUZZ_EXAMPLES=10000 locally.
HOSTILE = int(os.environ.get("GRAPHDIFF_FUZZ_EXAMPLES", "300"))
# Without hypothesis's "explain" phase: its branch tracing keeps per-example coverage,
# which runs out of memory over 10,000 examples of the file loader.
HOSTILE_PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink]

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def report_count(request):
    yield
    line = "fuzz graphs run: " + ", ".join(f"{k} {v}" for k, v in COUNT.items())
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("\n" + line)


# ---------------------------------------------------------------- op table
# name: (arity, graphdiff builder, NumPy reference, smooth?)  Domains are kept safe by
# construction (log and sqrt of x*x + 1, division by y*y + 1).
UNARY = {
    "neg": (lambda x: -x, lambda x: -x, True),
    "exp_tanh": (lambda x: gd.exp(gd.tanh(x)), lambda x: np.exp(np.tanh(x)), True),
    "sin": (gd.sin, np.sin, True),
    "cos": (gd.cos, np.cos, True),
    "tanh": (gd.tanh, np.tanh, True),
    "sigmoid": (gd.sigmoid, lambda x: 1 / (1 + np.exp(-x)), True),
    "softplus": (gd.softplus, lambda x: np.logaddexp(0, x), True),
    "square": (gd.square, np.square, True),
    "log1sq": (lambda x: gd.log(x * x + 1.0), lambda x: np.log(x * x + 1.0), True),
    "sqrt1sq": (lambda x: gd.sqrt(x * x + 1.0), lambda x: np.sqrt(x * x + 1.0), True),
    "pow3": (lambda x: x ** 3.0, lambda x: x ** 3.0, True),
    "abs": (gd.abs, np.abs, False),
    "relu": (gd.relu, lambda x: np.maximum(x, 0), False),
    "clip": (lambda x: gd.clip(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), False),
    "softmax": (gd.softmax, lambda x: np.exp(x - _lse(x, -1, True)), True),
    "log_softmax": (gd.log_softmax, lambda x: x - _lse(x, -1, True), True),
}
BINARY = {
    "add": (gd.add, np.add, True),
    "sub": (gd.subtract, np.subtract, True),
    "mul": (gd.multiply, np.multiply, True),
    "div": (lambda a, b: a / (b * b + 1.0), lambda a, b: a / (b * b + 1.0), True),
    "max": (gd.maximum, np.maximum, False),
    "min": (gd.minimum, np.minimum, False),
    "where": (lambda a, b: gd.where(a > b, a, b * 2.0),
              lambda a, b: np.where(a > b, a, b * 2.0), False),
}
REDUCE = {
    "sum": (gd.sum, np.sum, True),
    "mean": (gd.mean, np.mean, True),
    "logsumexp": (gd.logsumexp, lambda x, axis, keepdims: _lse(x, axis, keepdims), True),
    "max": (gd.max, np.max, False),
    "min": (gd.min, np.min, False),
}


def _lse(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return out


SHAPES = [(), (3,), (1,), (2, 3), (2, 1), (1, 3), (4, 2, 3), (4, 1, 1), (3, 3)]


def _flat_ops(smooth_only):
    ops = [("unary", k) for k, v in UNARY.items() if v[-1] or not smooth_only]
    ops += [("binary", k) for k, v in BINARY.items() if v[-1] or not smooth_only]
    ops += [("reduce", k) for k, v in REDUCE.items() if v[-1] or not smooth_only]
    ops += [(k, k) for k in ("matmul", "reshape", "transpose", "index")]
    return ops


@st.composite
def programs(draw, smooth_only):
    """(input shapes, instructions over a pool that starts with the inputs, value seed).

    Hypothesis draws one integer; a NumPy generator seeded by it picks the program, so
    every op is equally likely (hypothesis' own choices lean towards the first options).
    """
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    ops = _flat_ops(smooth_only)
    shapes = [SHAPES[int(rng.integers(len(SHAPES)))] for _ in range(int(rng.integers(1, 4)))]
    steps = []
    for _ in range(int(rng.integers(2, 9))):
        kind, name = ops[int(rng.integers(len(ops)))]
        steps.append((kind, name, int(rng.integers(100)), int(rng.integers(100)),
                      int(rng.integers(2 ** 16))))
    return shapes, steps, int(rng.integers(2 ** 16))


def _apply(kind, name, a, b, r, pool_nodes, pool_vals):
    """Try one instruction; return (node, value) or None when its shapes do not fit."""
    rng = np.random.default_rng(r)
    x, xv = pool_nodes[a % len(pool_nodes)], pool_vals[a % len(pool_vals)]
    y, yv = pool_nodes[b % len(pool_nodes)], pool_vals[b % len(pool_vals)]
    if kind == "unary":
        fn, ref, _ = UNARY[name]
        if name in ("softmax", "log_softmax") and xv.ndim == 0:
            return None
        return fn(x), ref(xv)
    if kind == "binary":
        fn, ref, _ = BINARY[name]
        try:
            np.broadcast_shapes(xv.shape, yv.shape)
        except ValueError:
            return None
        return fn(x, y), ref(xv, yv)
    if kind == "reduce":
        fn, ref, _ = REDUCE[name]
        keepdims = bool(rng.integers(2))
        if xv.ndim == 0 or rng.integers(3) == 0:
            axis = None
        else:
            k = int(rng.integers(1, xv.ndim + 1))
            axis = tuple(int(v) for v in rng.choice(xv.ndim, size=k, replace=False))
            axis = tuple(v - xv.ndim if rng.integers(2) else v for v in axis)
            if len(axis) == 1 and rng.integers(2):
                axis = axis[0]
        return fn(x, axis=axis, keepdims=keepdims), ref(xv, axis=axis, keepdims=keepdims)
    if kind == "matmul":
        if xv.ndim == 0 or yv.ndim == 0:
            return None
        other = yv if yv.ndim >= 1 else None
        try:
            expected = np.matmul(xv, other)
        except ValueError:
            try:  # make it fit with a transpose of y's last two axes
                yv2 = np.swapaxes(yv, -1, -2) if yv.ndim >= 2 else yv
                expected = np.matmul(xv, yv2)
                y = gd.transpose(y, tuple(range(yv.ndim - 2)) + (yv.ndim - 1, yv.ndim - 2)) \
                    if yv.ndim >= 2 else y
            except ValueError:
                return None
        return x @ y, expected
    if kind == "reshape":
        if xv.size == 0:
            return None
        target = (-1,) if rng.integers(2) else (xv.size, 1)
        return gd.reshape(x, target), xv.reshape(target)
    if kind == "transpose":
        perm = tuple(int(v) for v in rng.permutation(xv.ndim))
        if rng.integers(2):
            return gd.transpose(x), np.transpose(xv)
        return gd.transpose(x, perm), np.transpose(xv, perm)
    if kind == "index":
        if xv.ndim == 0:
            return None
        n = xv.shape[0]
        choice = int(rng.integers(4))
        if choice == 0:
            key = np.array(rng.integers(-n, n, size=int(rng.integers(1, 5))))  # repeats
        elif choice == 1:
            key = slice(int(rng.integers(0, n)), None, int(rng.integers(1, 3)))
        elif choice == 2:
            key = (Ellipsis, int(rng.integers(0, xv.shape[-1])))
        else:
            key = (None, int(rng.integers(-n, n)))
        return x[key], xv[key]
    raise AssertionError(kind)


def _build(shapes, steps, seed):
    rng = np.random.default_rng(seed)
    g = gd.Graph()
    inputs = [g.input(f"x{k}", shape=s) for k, s in enumerate(shapes)]
    values = [rng.uniform(-1.5, 1.5, size=s) for s in shapes]
    pool_nodes, pool_vals = list(inputs), list(values)
    for kind, name, a, b, r in steps:
        out = _apply(kind, name, a, b, r, pool_nodes, pool_vals)
        if out is not None:
            pool_nodes.append(out[0])
            pool_vals.append(np.asarray(out[1], dtype=np.float64))
    # a scalar that depends on every pool entry, with random weights
    z = None
    for node, val in zip(pool_nodes, pool_vals, strict=True):
        w = rng.uniform(0.5, 1.5, size=val.shape)
        term = gd.sum(node * w)
        z = term if z is None else z + term
    feed = dict(zip(inputs, values, strict=True))
    return g, inputs, feed, pool_nodes, pool_vals, z


@settings(max_examples=400, **SETTINGS)
@given(programs(smooth_only=False))
def test_random_graph_values_match_numpy(program):
    shapes, steps, seed = program
    g, inputs, feed, nodes, refs, z = _build(shapes, steps, seed)
    got = g.run(nodes, feed=feed)
    for n, a, b in zip(nodes, got, refs, strict=True):
        assert a.shape == b.shape, (n, a.shape, b.shape)
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=repr(n))
    f = g.function(inputs, nodes)
    for a, b in zip(f(*[feed[i] for i in inputs]), got, strict=True):
        np.testing.assert_array_equal(a, b)
    COUNT["values+grad"] += 1


@settings(max_examples=300, **SETTINGS)
@given(programs(smooth_only=True))
def test_random_graph_gradients_match_finite_differences(program):
    shapes, steps, seed = program
    g, inputs, feed, nodes, refs, z = _build(shapes, steps, seed)
    worst = gd.check_grad(z, inputs, feed=feed, rtol=1e-4, atol=1e-6)
    assert worst < 1.0
    COUNT["values+grad"] += 1


@settings(max_examples=150, **SETTINGS)
@given(programs(smooth_only=True))
def test_random_graph_second_derivatives(program):
    shapes, steps, seed = program
    g, inputs, feed, nodes, refs, z = _build(shapes, steps, seed)
    x = inputs[0]
    rng = np.random.default_rng(seed + 1)
    v = rng.normal(size=feed[x].shape)
    dx = gd.grad(z, x)
    hvp = gd.grad(gd.sum(dx * v), x)
    analytic = g.run(hvp, feed=feed)
    eps = 1e-5
    plus = g.run(dx, feed={**feed, x: feed[x] + eps * v})
    minus = g.run(dx, feed={**feed, x: feed[x] - eps * v})
    numeric = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-5)
    COUNT["second order"] += 1


# ---------------------------------------------------------------- malformed graphs
BAD_AXES = st.one_of(st.integers(-6, 6), st.none(), st.tuples(st.integers(-5, 5)),
                     st.tuples(st.integers(-5, 5), st.integers(-5, 5)),
                     st.sampled_from([1.5, "x", (0, "a"), [0, 1], (None,), True]))
BAD_SHAPES = st.one_of(
    st.tuples(st.integers(-3, 7)),
    st.tuples(st.integers(-3, 5), st.integers(-3, 5)),
    st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(-1, 4)),
    st.sampled_from([(), (2.5,), (None,), ("x",), (-1, -1), (0,), (1, 0, 2)]),
)
BAD_KEYS = st.one_of(
    st.integers(-8, 8),
    st.tuples(st.integers(-5, 5), st.integers(-5, 5)),
    st.tuples(st.integers(-3, 3), st.integers(-3, 3), st.integers(-3, 3)),
    st.lists(st.integers(-6, 6), min_size=1, max_size=4).map(np.array),
    st.lists(st.booleans(), min_size=1, max_size=5).map(np.array),
    st.sampled_from([1.5, "x", None, Ellipsis, (Ellipsis, Ellipsis), (None, None, 0),
                     np.array([0.5, 1.0]), slice(None, None, 0), slice(0, 2), {}, [0, 1],
                     (slice(None), 7), np.array([[0, 1], [1, 0]])]),
)
DTYPES = st.sampled_from(["float64", "float32", "int64", "int32", "bool", "complex128",
                          "uint8"])
DECL_SHAPES = st.sampled_from([(), (3,), (2, 3), (None, 3), (None,), (4, 1, 3), None,
                               (2, None)])

MALFORMED_OPS = ["add", "matmul", "sum", "mean", "max", "logsumexp", "reshape",
                 "transpose", "broadcast_to", "index", "concatenate", "stack", "softmax",
                 "log_softmax", "where", "clip", "sce", "mse", "grad"]


def _malformed(op, a, b, axis, shape, key, keepdims):
    if op == "add":
        return a + b
    if op == "matmul":
        return a @ b
    if op in ("sum", "mean", "max", "logsumexp"):
        return getattr(gd, op)(a, axis=axis, keepdims=keepdims)
    if op == "reshape":
        return gd.reshape(a, shape)
    if op == "transpose":
        return gd.transpose(a, shape)
    if op == "broadcast_to":
        return gd.broadcast_to(a, shape)
    if op == "index":
        return a[key]
    if op == "concatenate":
        return gd.concatenate([a, b], axis=axis)
    if op == "stack":
        return gd.stack([a, b], axis=axis)
    if op in ("softmax", "log_softmax"):
        return getattr(gd, op)(a, axis=axis)
    if op == "where":
        return gd.where(a, b, a)
    if op == "clip":
        return gd.clip(a, b, 1.0)
    if op == "sce":
        return gd.losses.softmax_cross_entropy(a, b)
    if op == "mse":
        return gd.losses.mse(a, b)
    if op == "grad":
        return gd.grad(a, b)
    raise AssertionError(op)


def _concrete(shape, rng, fill=3):
    if shape is None:
        return (2, 3)
    return tuple(fill if d is None else d for d in shape)


@settings(max_examples=1500, **SETTINGS)
@given(op=st.sampled_from(MALFORMED_OPS), sa=DECL_SHAPES, sb=DECL_SHAPES, da=DTYPES,
       db=DTYPES, axis=BAD_AXES, shape=BAD_SHAPES, key=BAD_KEYS, keepdims=st.booleans(),
       seed=st.integers(0, 1000))
def test_malformed_graphs_raise_only_graphdiff_errors_or_type_error(op, sa, sb, da, db, axis,
                                                                   shape, key, keepdims, seed):
    g = gd.Graph()
    a = g.input("a", shape=sa, dtype=da)
    b = g.input("b", shape=sb, dtype=db)
    COUNT["malformed"] += 1
    try:
        out = _malformed(op, a, b, axis, shape, key, keepdims)
    except (gd.GraphdiffError, TypeError):
        return
    COUNT["malformed built"] += 1
    # Built: running it with arrays that fit the declarations (or a random mismatch) may
    # still fail, but only with a graphdiff error.
    rng = np.random.default_rng(seed)
    feed = {a: (rng.normal(size=_concrete(sa, rng)) * 3).astype(da),
            b: (rng.normal(size=_concrete(sb, rng, fill=int(rng.integers(1, 4)))) * 3)
            .astype(db)}
    fetches = out if isinstance(out, (list, tuple)) else [out]
    fetches = [f for f in fetches if f is not None]
    try:
        with np.errstate(all="ignore"):
            g.run(fetches, feed=feed)
    except (gd.GraphdiffError, TypeError):
        pass
    # and its gradient, when it has one element's worth of meaning
    try:
        total = gd.sum(fetches[0]) if fetches else None
        if total is not None:
            grads = gd.grad(total, [a, b])
            with np.errstate(all="ignore"):
                g.run([x for x in grads if x is not None], feed=feed)
    except (gd.GraphdiffError, TypeError):
        pass


@settings(max_examples=200, **SETTINGS)
@given(decl=DECL_SHAPES, dtype=DTYPES, fed_shape=BAD_SHAPES.filter(
    lambda s: all(isinstance(d, int) and d >= 0 for d in s)),
    fed_dtype=st.sampled_from(["float64", "int64", "bool", "complex128", "U3", "O", "S2"]))
def test_malformed_feeds_raise_feed_error(decl, dtype, fed_shape, fed_dtype):
    g = gd.Graph()
    a = g.input("a", shape=decl, dtype=dtype)
    y = gd.sum(a)
    COUNT["malformed"] += 1
    value = np.zeros(fed_shape, dtype=fed_dtype)
    try:
        g.run(y, feed={a: value})
    except gd.FeedError:
        pass
    try:
        g.function([a], y)(value)
    except gd.FeedError:
        pass


# ---------------------------------------------------------------- what the fuzzer found
# (each was a core bug, fixed in 2caa12d; kept as regression tests)
@pytest.mark.parametrize("build", [
    lambda x: gd.reshape(x, ("x",)),
    lambda x: gd.broadcast_to(x, ("x",)),
    lambda x: gd.transpose(x, ("x", 0)),
    lambda x: gd.concatenate([x, x], axis="x"),
    lambda x: gd.softmax(x, axis="x"),
    lambda x: gd.log_softmax(x, axis="x"),
], ids=["reshape", "broadcast_to", "transpose", "concatenate", "softmax", "log_softmax"])
def test_string_shape_or_axis_is_type_or_graph_error(build):
    g = gd.Graph()
    x = g.input("x", shape=(2, 3))
    with pytest.raises((gd.GraphdiffError, TypeError)):
        build(x)


def test_zero_slice_step_is_graph_error():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    with pytest.raises((gd.GraphdiffError, TypeError)):
        x[::0]  # noqa: B018


@pytest.mark.parametrize("sa,sb,axis", [((), None, 0), (None, (3,), 6)])
def test_concatenate_with_unknown_rank_operand_checks_axis(sa, sb, axis):
    g = gd.Graph()
    a = g.input("a", shape=sa)
    b = g.input("b", shape=sb)
    with pytest.raises(gd.GraphdiffError):
        c = gd.concatenate([a, b], axis=axis)
        gd.grad(gd.sum(c), [a, b])


# ---------------------------------------------------------------- issue 15: construction
# A pool of hostile arguments: every public builder is called with them and must raise a
# graphdiff error or a TypeError (never ValueError, IndexError, AttributeError, ...).
HOSTILE_VALUES = [
    None, "a", 1.5, -1, 0, 2, True, float("nan"), float("inf"), 10**12, 1e400, 2.7, [],
    [[]], [0, 1], [[0, 1], [2]], [True, False], (), (2.7,), (-1,), (-1, 3), (-2, 3),
    (-1, -1), (float("nan"),), ("a",), (1, 2), (3,), (2, 3), (0,), (1.7,), [True],
    np.array(True), np.array([True, False]), np.array([True, False, True]),
    np.array([0.5]), np.array([0, 2]), np.array([[0, 1], [1, 0]]), np.array([], dtype=int),
    np.zeros(3), np.ones((2, 3)), np.zeros((3, 1)), np.array(["x"]), np.array([1 + 2j]),
    complex(1, 2), {}, object(), slice(None, None, -1), slice(0, 10007), Ellipsis,
    (Ellipsis, None), 10007, 20000, -4, np.int64(1), np.float32(0.5),
]
NODE_SHAPES = [(), (3,), (2, 3), (None, 3), (None,), (0,), (0, 3), (3, 1)]
NODE_DTYPES = ["float64", "float32", "int64", "int8", "uint8", "bool"]


def _builders(g, n, m, v, w):
    """(name, thunk) pairs: builders called with nodes n, m and hostile values v, w."""
    return [
        ("input", lambda: g.input("q", shape=v)),
        ("input_dtype", lambda: g.input("q", shape=(2,), dtype=v)),
        ("constant", lambda: g.constant(v)),
        ("parameter", lambda: g.parameter(v)),
        ("broadcast_to", lambda: gd.broadcast_to(n, v)),
        ("reshape", lambda: gd.reshape(n, v)),
        ("transpose", lambda: gd.transpose(n, v)),
        ("expand_dims", lambda: gd.expand_dims(n, v)),
        ("squeeze", lambda: gd.squeeze(n, v)),
        ("concatenate", lambda: gd.concatenate(v if isinstance(v, list) else [n, v])),
        ("concatenate_axis", lambda: gd.concatenate([n, m], axis=v)),
        ("stack", lambda: gd.stack(v if isinstance(v, list) else [n, v])),
        ("index", lambda: n[v]),
        ("index2", lambda: n[v, w] if not isinstance(v, tuple) else n[v]),
        ("sum", lambda: gd.sum(n, axis=v)),
        ("mean", lambda: gd.mean(n, axis=v, keepdims=bool(w is None))),
        ("max", lambda: gd.max(n, axis=v)),
        ("logsumexp", lambda: gd.logsumexp(n, axis=v)),
        ("softmax", lambda: gd.softmax(n, axis=v)),
        ("log_softmax", lambda: gd.log_softmax(n, axis=v)),
        ("add", lambda: n + v),
        ("radd", lambda: v + n),
        ("matmul", lambda: gd.matmul(n, v)),
        ("multiply", lambda: gd.multiply(v, m)),
        ("power", lambda: gd.power(v, n)),
        ("where", lambda: gd.where(v, n, w)),
        ("clip", lambda: gd.clip(n, v, w)),
        ("maximum", lambda: gd.maximum(n, v)),
        ("mse", lambda: gd.losses.mse(n, v)),
        ("mae", lambda: gd.losses.mae(n, v)),
        ("sce", lambda: gd.losses.softmax_cross_entropy(n, v)),
        ("bce_logits", lambda: gd.losses.binary_cross_entropy_with_logits(n, v)),
        ("grad_seed", lambda: gd.grad(n, n, seed=v)),
        ("grad_targets", lambda: gd.grad(gd.sum(n), v)),
        ("jvp", lambda: gd.jvp(n, n, v)),
        ("dense", lambda: gd.nn.Dense(g, 3, 2, rng=v)),
        ("dense_sizes", lambda: gd.nn.Dense(g, v, 2)),
        ("consumers", lambda: g.consumers(v)),
        ("check_grad", lambda: gd.check_grad(gd.sum(n), v)),
        ("function", lambda: g.function(v, gd.sum(n))),
        ("function_twice", lambda: g.function([n, n] if n.kind == "input" else v, n)),
        ("astype", lambda: gd.astype(n, v)),
        ("one_hot", lambda: gd.one_hot(n, v)),
        ("take", lambda: gd.take(n, v)),
        ("bool", lambda: bool(n)),
        ("numpy_ufunc", lambda: np.exp(n)),
        ("asarray", lambda: np.asarray(n)),
    ]


BUILDER_NAMES = [name for name, _ in _builders(None, None, None, None, None)]


def _feed_value(node, rng):
    shape = tuple(int(rng.integers(0, 4)) if d is None else d for d in node.shape)
    return (rng.normal(size=shape) * 3).astype(node.dtype)


def _check_built(g, out, inputs, rng):
    """A built node: its run (if it runs) has the static shape and dtype."""
    nodes = [o for o in (out if isinstance(out, (list, tuple)) else [out])
             if isinstance(o, gd.Node)]
    if not nodes:
        return
    feed = {i: _feed_value(i, rng) for i in inputs}
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = g.run(nodes, feed=feed)
    except gd.GraphdiffError:
        return
    except MemoryError:  # a genuine request for 10**12 elements (broadcast_to)
        return
    for node, value in zip(nodes, values, strict=True):
        value = np.asarray(value)
        if node.dtype is not None:
            assert value.dtype == node.dtype, (node, value.dtype)
        if node.shape is not None:
            assert len(node.shape) == value.ndim, (node, value.shape)
            assert all(d is None or d == s for d, s in zip(node.shape, value.shape)), \
                (node, value.shape)


@settings(max_examples=HOSTILE, phases=HOSTILE_PHASES, **SETTINGS)
@given(builder=st.sampled_from(BUILDER_NAMES), sa=st.sampled_from(NODE_SHAPES),
       sb=st.sampled_from(NODE_SHAPES), da=st.sampled_from(NODE_DTYPES),
       db=st.sampled_from(NODE_DTYPES), v=st.sampled_from(HOSTILE_VALUES),
       w=st.sampled_from(HOSTILE_VALUES), seed=st.integers(0, 1000))
def test_construction_raises_only_named_errors(builder, sa, sb, da, db, v, w, seed):
    g = gd.Graph()
    n = g.input("n", shape=sa, dtype=da)
    m = g.input("m", shape=sb, dtype=db)
    thunk = dict(_builders(g, n, m, v, w))[builder]
    COUNT["construction"] += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = thunk()
    except (gd.GraphdiffError, TypeError):
        return
    except MemoryError:  # what was asked for is that large (a layer of 10**12 inputs)
        assert 10**12 in (v, w) or (isinstance(v, tuple) and 10**12 in v), (v, w)
        return
    COUNT["construction built"] += 1
    if isinstance(out, gd.Node) or (isinstance(out, (list, tuple)) and out
                                    and isinstance(out[0], gd.Node)):
        _check_built(g, out, [n, m], np.random.default_rng(seed))


# ---------------------------------------------------------------- issue 15: files
def _saved_files(folder):
    """A graph file (inputs, a parameter, array and scalar constants, several op kinds,
    a gradient) and a parameter file, as bytes."""
    g = gd.Graph()
    x = g.input("x", shape=(None, 3))
    labels = g.input("labels", shape=(None,), dtype="int64")
    W = g.parameter(np.arange(6.0).reshape(3, 2), name="W")
    h = gd.tanh(x @ W + np.array([0.5, -0.5])) * 2.0
    loss = gd.losses.softmax_cross_entropy(h, labels) + gd.sum(gd.reshape(h, (-1,))[1:])
    gd.grad(loss, [W])
    gd.clip(x, -1.0, 1.0)
    graph_path, param_path = folder / "graph.npz", folder / "params.npz"
    g.save(graph_path)
    gd.save(param_path, [W])
    return graph_path.read_bytes(), param_path.read_bytes()


_FILES: dict = {}
JSON_VALUES = [None, True, -1, 0, 3, 10**400, 1e308, -1e308, 2.5, "", "x", "<f8", "|O",
               "graphdiff:Tanh", "graphdiff:Nope", "os:system", [], [None], [-1], [1, 2],
               [[1]], {}, {"array": "a0"}, {"array": "nope"}, {"a": 1}, "nan", [0] * 40]


def _zip_members(data):
    import io

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {info.filename: z.read(info) for info in z.infolist()}


def _rezip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, blob in members.items():
            z.writestr(name, blob)


def _edit_json(record, rng, value):
    """Replace one randomly chosen field anywhere in the record with ``value``."""
    spots = []
    stack = [record]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in item:
                spots.append((item, key))
                stack.append(item[key])
        elif isinstance(item, list):
            for k in range(len(item)):
                spots.append((item, k))
                stack.append(item[k])
    container, key = spots[int(rng.integers(len(spots)))]
    container[key] = copy.deepcopy(value)  # never the pool's own list (it would grow)


@settings(max_examples=HOSTILE, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck), phases=HOSTILE_PHASES)
@given(kind=st.sampled_from(["json", "json", "json2", "bytes", "truncate", "member"]),
       which=st.sampled_from(["graph", "graph", "params"]),
       value=st.sampled_from(JSON_VALUES), value2=st.sampled_from(JSON_VALUES),
       seed=st.integers(0, 2**32 - 1))
def test_hostile_files_raise_only_file_format_error(tmp_path_factory, kind, which, value,
                                                     value2, seed):
    import io

    from graphdiff import io as gio

    if "files" not in _FILES:
        _FILES["files"] = _saved_files(tmp_path_factory.mktemp("fuzz-files"))
    graph_bytes, param_bytes = _FILES["files"]
    data = graph_bytes if which == "graph" else param_bytes
    rng = np.random.default_rng(seed)
    folder = tmp_path_factory.mktemp("f")
    path = folder / "mutated.npz"
    members = _zip_members(data)
    if kind.startswith("json") and which == "graph":
        record = json.loads(np.load(io.BytesIO(members["__graph__.npy"])).tobytes())
        _edit_json(record, rng, value)
        if kind == "json2":
            _edit_json(record, rng, value2)
        blob = io.BytesIO()
        np.save(blob, np.frombuffer(json.dumps(record).encode(), dtype=np.uint8))
        members["__graph__.npy"] = blob.getvalue()
        _rezip(path, members)
    elif kind in ("bytes", "json", "json2"):
        raw = bytearray(data)
        for _ in range(int(rng.integers(1, 9))):
            raw[int(rng.integers(len(raw)))] ^= 1 << int(rng.integers(8))
        path.write_bytes(bytes(raw))
    elif kind == "truncate":
        path.write_bytes(data[: int(rng.integers(len(data)))])
    else:  # a member replaced by another's bytes, or dropped
        names = sorted(members)
        a, b = (names[int(i)] for i in rng.integers(len(names), size=2))
        if a == b:
            del members[a]
        else:
            members[a] = members[b]
        _rezip(path, members)
    COUNT["files"] += 1
    try:
        if which == "graph":
            loaded = gio.load_graph(path, max_bytes=1 << 16)
        else:
            fresh = gd.Graph().parameter(np.zeros((3, 2)), name="W")
            gio.load(path, [fresh], max_bytes=1 << 16)
            assert fresh.value.shape == (3, 2) and fresh.value.dtype == np.float64
            loaded = None
    except gd.FileFormatError as exc:
        assert str(path) in str(exc)
        return
    COUNT["files loaded"] += 1
    if loaded is None:
        return
    # Whatever loads runs, or fails with a graphdiff error: never a raw exception.
    inputs = [n for n in loaded.nodes if n.kind == "input"]
    fetch = [n for n in loaded.nodes if n.op is not None][-3:]
    try:
        feed = {i: _feed_value(i, rng) if i.shape is not None else np.zeros(2)
                for i in inputs}
        if any(i.dtype.kind in "iu" for i in inputs):
            feed = {i: (np.abs(v) % 2).astype(i.dtype) if i.dtype.kind in "iu" else v
                    for i, v in feed.items()}
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded.run(fetch, feed=feed)
    except (gd.GraphdiffError, TypeError):
        pass


def test_fuzz_count_is_recorded():
    # Runs last in this module: every random graph above was counted.
    assert COUNT["values+grad"] >= 600, COUNT
    assert COUNT["second order"] >= 120, COUNT
    assert COUNT["malformed"] >= 1400, COUNT
    assert COUNT["construction"] >= HOSTILE and COUNT["files"] >= HOSTILE, COUNT
