"""Elementwise fusion (graphdiff/compile/fuse.py): fused results equal the unfused ones.

Every check runs twice where it matters: with the JIT (when Numba, the ``fast`` extra, is
installed) and with Numba made absent, which must fall back to the NumPy kernels silently.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.compile import Plan, reusable_inputs
from graphdiff.compile import fuse as F


@pytest.fixture(autouse=True)
def fuse_small(monkeypatch):
    """Small arrays are fused here too (by default they are not: nothing to gain), so that
    the kernels' logic is checked on arrays cheap to build."""
    monkeypatch.setattr(F, "FUSE_SMALL", True)


@pytest.fixture(params=["jit", "numpy"])
def mode(request, monkeypatch):
    """'jit': the JIT asked for, Numba as installed (skipped without it); 'numpy': the JIT
    asked for but Numba made absent."""
    F.forget_jit()
    monkeypatch.setenv("GRAPHDIFF_JIT", "1")
    if request.param == "numpy":
        monkeypatch.setitem(sys.modules, "numba", None)   # import numba now fails
    elif F.jit_module() is None:
        pytest.skip("Numba (the fast extra) is not installed")
    yield request.param
    F.forget_jit()


def kernels(f):
    return [n.op for n in f.fused.nodes if isinstance(n.op, F.FusedKernel)]


def compare(outs, refs, rtol):
    for a, b in zip(outs, refs, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.dtype.kind in "iub":
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-3)


# ---------------------------------------------------------------- random elementwise chains
FLOAT_UNARY = [gd.tanh, gd.sin, gd.cos, gd.negative, gd.square, gd.abs, gd.sigmoid, gd.relu,
               gd.softplus, lambda a: gd.exp(gd.tanh(a)), lambda a: a * 0.5 + 1.0,
               lambda a: 2.0 - a]
FLOAT_BINARY = [gd.add, gd.subtract, gd.multiply, gd.maximum, gd.minimum,
                lambda a, b: a / (1.0 + gd.square(b)), lambda a, b: gd.where(a > b, a, b * 0.5)]
INT_UNARY = [gd.negative, gd.abs, gd.square, lambda a: a + 3, lambda a: a * 2]
INT_BINARY = [gd.add, gd.subtract, gd.multiply, gd.maximum, gd.minimum]


def random_graph(seed: int, dtype: str, n_ops: int = 30):
    """A random DAG of elementwise ops over three inputs, one of which broadcasts; a few
    values leave the chain (a sum, a fetched intermediate) to make groups with outputs."""
    rng = np.random.default_rng(seed)
    g = gd.Graph()
    shapes = [(3, 5), (5,), (1, 5)] if seed % 2 else [(4, 3, 2), (3, 2), (4, 1, 2)]
    xs = [g.input(f"x{k}", shape=s, dtype=dtype) for k, s in enumerate(shapes)]
    unary, binary = (INT_UNARY, INT_BINARY) if dtype.startswith("int") else (
        FLOAT_UNARY, FLOAT_BINARY)
    values = list(xs)
    for _ in range(n_ops):
        if rng.random() < 0.5:
            v = unary[rng.integers(len(unary))](values[-1 - rng.integers(min(3, len(values)))])
        else:
            a, b = (values[-1 - rng.integers(min(4, len(values)))] for _ in range(2))
            v = binary[rng.integers(len(binary))](a, b)
        if dtype.startswith("int"):
            v = gd.minimum(gd.maximum(v, -50), 50)    # no overflow: exact in both
        values.append(v)
    fetches = [values[-1], values[len(values) // 2], gd.sum(values[-3])]
    feeds = []
    for s in shapes:
        if dtype.startswith("int"):
            feeds.append(rng.integers(-5, 6, size=s).astype(dtype))
        else:
            feeds.append(rng.normal(size=s).astype(dtype))
    return g, xs, fetches, feeds


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_random_chains_equal_unfused(seed, dtype, mode):
    g, xs, fetches, feeds = random_graph(seed, dtype)
    f = g.function(xs, fetches)
    f0 = g.function(xs, fetches, optimize=False)
    assert f.fused is not None and kernels(f)
    rtol = 1e-12 if dtype == "float64" else 2e-5
    for _ in range(2):
        compare(f(*feeds), f0(*feeds), rtol)
    for v, node in zip(f(*feeds), fetches, strict=True):
        assert v.dtype == node.dtype    # float32 stays float32, ints stay ints


@pytest.mark.parametrize("seed", range(3))
def test_random_chains_with_gradients(seed, mode):
    g, xs, fetches, feeds = random_graph(seed, "float64", n_ops=20)
    loss = gd.sum(fetches[0] * fetches[1]) + fetches[2]
    grads = gd.grad(loss, xs)
    f = g.function(xs, [loss] + grads)
    f0 = g.function(xs, [loss] + grads, optimize=False)
    compare(f(*feeds), f0(*feeds), 1e-12)


def test_gradients_of_a_chain_fuse_into_one_step(mode):
    g = gd.Graph()
    x = g.input("x", shape=(10,))
    h = x
    for _ in range(10):
        h = gd.sin(gd.tanh(h))
    loss = gd.sum(h)
    dx = gd.grad(loss, x)
    f = g.function([x], [loss, dx])
    X = np.linspace(-1, 1, 10)
    compare(f(X), g.function([x], [loss, dx], optimize=False)(X), 1e-12)
    if mode == "jit":
        [k] = kernels(f)
        assert len(k.members) == 2 * 20             # forward 20, backward cos + 19 rules
        assert len(k.members) <= F.JIT_MAX_MEMBERS and len(k.outputs) == 2
        assert k.run is not k.numpy                 # the loop runs
    else:
        # NumPy: trees with one output each (the forward values the backward pass reads
        # are outputs, so no group may keep them alive longer than unfused).
        ks = kernels(f)
        assert ks and all(len(k.outputs) == 1 and k.run is k.numpy for k in ks)
        assert len(kernels(f)) < 20


def test_long_chains_become_several_groups(monkeypatch):
    monkeypatch.delenv("GRAPHDIFF_JIT", raising=False)
    F.forget_jit()
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    h = x
    for _ in range(3 * F.MAX_MEMBERS):
        h = gd.sin(h)
    f = g.function([x], [h])
    assert [len(k.members) for k in kernels(f)] == [F.MAX_MEMBERS] * 3
    X = np.array([0.1, 0.5, 1.0])
    compare(f(X), g.function([x], [h], optimize=False)(X), 1e-12)


# ---------------------------------------------------------------- boundaries
def test_fusion_never_drops_a_fetched_value_or_one_read_outside():
    g = gd.Graph()
    x = g.input("x", shape=(4,))
    a = gd.exp(x)
    b = gd.tanh(a)              # fetched
    c = b * 2.0
    d = gd.sum(c)               # c is read outside the group
    e = gd.sin(c) + 1.0
    plan = Plan(g, [b, d, e])
    [group] = F.find_groups(plan)
    members = [plan.nodes[m] for m in group.members]
    outputs = [plan.nodes[m] for m in group.outputs]
    assert members[:3] == [a, b, c] and members[-1] is e
    assert outputs == [b, c, e]
    f = g.function([x], [b, d, e])
    X = np.array([0.1, -0.2, 0.3, 0.0])
    compare(f(X), g.function([x], [b, d, e], optimize=False)(X), 1e-12)


def test_a_group_never_reads_what_is_computed_after_its_start():
    g = gd.Graph()
    x = g.input("x", shape=(5,))
    a = gd.exp(x)
    b = a + 1.0
    s = gd.sum(b)               # depends on the group
    c = b * s                   # may not join: it would need s inside the group
    d = gd.tanh(c) - 1.0
    plan = Plan(g, [d])
    groups = F.find_groups(plan)
    sets = [{id(plan.nodes[m]) for m in gr.members} for gr in groups]
    assert {id(a), id(b)} in sets and {id(c), id(d.inputs[0]), id(d)} in sets
    f = g.function([x], [d])
    X = np.linspace(0, 1, 5)
    compare(f(X), g.function([x], [d], optimize=False)(X), 1e-12)


def test_mixed_shapes_and_dtypes_are_separate_groups():
    g = gd.Graph()
    x = g.input("x", shape=(3, 4))
    y = g.input("y", shape=(4,), dtype="float32")
    a = gd.tanh(y) * 2.0               # float32 (4,)
    b = gd.exp(x) + a                  # float64 (3, 4): a is an input from outside
    c = gd.sin(b)
    plan = Plan(g, [c])
    groups = [{id(plan.nodes[m]) for m in gr.members} for gr in F.find_groups(plan)]
    assert {id(b), id(c), id(b.inputs[0])} in groups
    assert all(id(a) not in gr or len(gr) == 2 for gr in groups)


def test_the_graph_is_not_changed():
    g = gd.Graph()
    x = g.input("x", shape=(4,))
    y = gd.relu(x + 1.0) * 3.0
    before = list(g.nodes)
    consumers = {id(n): list(g.consumers(n)) for n in before}
    f = g.function([x], [y])
    f(np.ones(4))
    assert list(g.nodes) == before
    assert {id(n): list(g.consumers(n)) for n in before} == consumers
    assert f.plan.steps and len(f.fused.steps) < len(f.plan.steps)


def test_optimize_false_does_not_fuse():
    g = gd.Graph()
    x = g.input("x", shape=(4,))
    f = g.function([x], [gd.relu(x + 1.0)], optimize=False)
    assert f.fused is None


# ---------------------------------------------------------------- buffers, float32, threads
def test_large_chains_write_in_place_and_reuse_a_dying_input():
    rng = np.random.default_rng(0)
    g = gd.Graph()
    x = g.input("x", shape=(None, 64))
    W = g.parameter(rng.normal(size=(64, 64)))
    b = g.parameter(rng.normal(size=64))
    h = gd.relu(x @ W + b) * 2.0 - 1.0
    f = g.function([x], [h])
    [k] = kernels(f)
    assert k.inplace
    assert reusable_inputs(f.fused)            # the matmul's buffer is handed to the group
    X = rng.normal(size=(40, 64))
    compare(f(X), g.function([x], [h], optimize=False)(X), 1e-12)
    out = f(X)[0]
    assert out.flags.owndata or out.base is not None   # a real array the caller owns
    again = f(X)[0]
    assert again is not out and np.array_equal(again, out)


def test_float32_stays_float32(mode):
    g = gd.Graph()
    x = g.input("x", shape=(8,), dtype="float32")
    h = x
    for _ in range(6):
        h = gd.tanh(h * 1.5 + 0.25)
    dx = gd.grad(gd.sum(h), x)
    f = g.function([x], [h, dx])
    X = np.linspace(-1, 1, 8, dtype=np.float32)
    out = f(X)
    assert [v.dtype for v in out] == [np.float32, np.float32]
    compare(out, g.function([x], [h, dx], optimize=False)(X), 2e-6)


def test_other_dtypes_at_run_time_go_to_numpy(mode):
    g = gd.Graph()
    W = g.parameter(np.linspace(0, 1, 6))
    h = W
    for _ in range(5):
        h = gd.sin(h) * 2.0
    f = g.function([], [h])
    f0 = g.function([], [h], optimize=False)
    compare(f(), f0(), 1e-12)
    # A value of another dtype is cast to the declared one on assignment (issue 15), so
    # the fused plan's static dtypes still hold at run time
    W.value = np.linspace(0, 1, 6).astype(np.float32)
    assert W.value.dtype == np.float64
    compare(f(), f0(), 1e-12)


def test_threads_get_the_same_bits(mode):
    g = gd.Graph()
    x = g.input("x", shape=(None, 16))
    h = x
    for _ in range(10):
        h = gd.tanh(h) * 1.1 + 0.1
    dx = gd.grad(gd.sum(h * h), x)
    f = g.function([x], [h, dx])
    rng = np.random.default_rng(3)
    inputs = [rng.normal(size=(4 + k, 16)) for k in range(6)]
    results: list = [None] * 6
    barrier = threading.Barrier(6)

    def work(k):
        barrier.wait()
        results[k] = [f(inputs[k]) for _ in range(10)]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ref = g.function([x], [h, dx], optimize=False)
    for k in range(6):
        first = results[k][0]
        compare(first, ref(inputs[k]), 1e-12)
        for outs in results[k]:
            for a, b in zip(outs, first, strict=True):
                np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- fallback and errors
def test_without_numba_everything_runs_numpy(monkeypatch):
    monkeypatch.setenv("GRAPHDIFF_JIT", "1")
    monkeypatch.setitem(sys.modules, "numba", None)
    F.forget_jit()
    try:
        assert F.jit_module() is None
        g = gd.Graph()
        x = g.input("x", shape=(10,))
        h = x
        for _ in range(10):
            h = gd.tanh(h) + 0.5
        f = g.function([x], [h])
        f(np.ones(10))
        [k] = kernels(f)
        assert k.jit is None and k.run is k.numpy
    finally:
        F.forget_jit()


def test_the_jit_is_off_unless_asked_for(monkeypatch):
    F.forget_jit()
    try:
        for value in (None, "0"):
            if value is None:
                monkeypatch.delenv("GRAPHDIFF_JIT", raising=False)
            else:
                monkeypatch.setenv("GRAPHDIFF_JIT", value)
            F.forget_jit()
            assert F.jit_module() is None
    finally:
        F.forget_jit()


def test_the_numpy_path_returns_the_bits_of_run():
    """Without the JIT a fused step calls the ops' own kernels: g.function == g.run,
    bit for bit, in float32 as in float64."""
    for dtype in ("float32", "float64"):
        g, xs, fetches, feeds = random_graph(1, dtype)
        f = g.function(xs, fetches)
        assert f.fused is not None
        for a, b in zip(f(*feeds), g.run(fetches, feed=dict(zip(xs, feeds))), strict=True):
            np.testing.assert_array_equal(a, b)


def test_an_op_without_a_scalar_program_falls_back():
    g = gd.Graph()
    x = g.input("x", shape=(6,))
    h = gd.clip(gd.tanh(x) * 3.0, -1.0, 1.0) + 1.0   # clip is not a traced ufunc
    h = gd.sin(h) * 2.0
    assert F._trace(h.inputs[0].op, 1) is not None
    f = g.function([x], [h])
    X = np.linspace(-2, 2, 6)
    compare(f(X), g.function([x], [h], optimize=False)(X), 1e-12)


def test_a_failure_names_the_member_that_failed():
    g = gd.Graph()
    x = g.input("x", shape=(None,))
    y = g.input("y", shape=(None,))
    h = gd.tanh(x) * 2.0
    bad = gd.add(h, y)
    bad.name = "the_sum"
    f = g.function([x, y], [gd.sin(bad)])
    with pytest.raises(gd.GraphdiffError, match="the_sum"):
        f(np.ones(3), np.ones(4))


def test_anomaly_mode_runs_the_unfused_plan():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    lg = gd.log(x)
    lg.name = "the_log"
    h = lg * 2.0 + 1.0
    f = g.function([x], [h], check_finite=True)
    with pytest.raises(gd.GraphdiffError, match="the_log"):
        f(np.array([1.0, -1.0, 2.0]))


# ---------------------------------------------------------------- the issue's cases
def test_the_issue_cases_fuse_and_equal_unfused():
    """bias + ReLU and the ReLU mask, softmax cross-entropy forward and gradient, and
    Adam's update nodes: each compiled function has fused steps and the unfused values."""
    rng = np.random.default_rng(0)
    g = gd.Graph()
    x = g.input("x", shape=(None, 32))
    labels = g.input("labels", shape=(None,), dtype="int64")
    W1 = g.parameter(rng.normal(size=(32, 64)) * 0.2, name="W1")
    b1 = g.parameter(rng.normal(size=64), name="b1")
    W2 = g.parameter(rng.normal(size=(64, 10)) * 0.2, name="W2")
    b2 = g.parameter(np.zeros(10), name="b2")
    h = gd.relu(x @ W1 + b1)
    logits = h @ W2 + b2
    loss = gd.losses.softmax_cross_entropy(logits, labels)
    params = [W1, b1, W2, b2]
    grads = gd.grad(loss, params)
    opt = gd.optim.Adam(params, lr=1e-2)
    new = opt.updates(grads)
    outs = [loss, *grads, *new.values()]
    f = g.function([x, labels], outs)
    f0 = g.function([x, labels], outs, optimize=False)
    ops = {type(m.op).__name__ for k in kernels(f) for m in k.members}
    assert {"Add", "Relu"} <= ops                       # bias + ReLU
    adam = [k for k in kernels(f) if any(m is new[W1] for m in k.outputs)]
    assert adam and len(adam[0].members) >= 5           # W1's Adam update: one step
    X = rng.normal(size=(48, 32))
    y = rng.integers(0, 10, size=48)
    compare(f(X, y), f0(X, y), 1e-12)
    for a, b in zip(f(X, y), g.run(outs, feed={x: X, labels: y}), strict=True):
        np.testing.assert_array_equal(a, b)


def test_small_groups_stay_unfused_without_the_jit(monkeypatch):
    monkeypatch.setattr(F, "FUSE_SMALL", False)
    monkeypatch.delenv("GRAPHDIFF_JIT", raising=False)
    F.forget_jit()
    g = gd.Graph()
    small = g.input("small", shape=(8,))
    big = g.input("big", shape=(64, 64))
    batch = g.input("batch", shape=(None, 8))
    outs = [gd.relu(small + 1.0), gd.relu(big + 1.0), gd.relu(batch + 1.0)]
    f = g.function([small, big, batch], outs)
    fused = {id(k.outputs[0]) for k in kernels(f)}
    assert fused == {id(outs[1]), id(outs[2])}
    assert F.find_groups(f.plan) and len(F.find_groups(f.plan)) == 3


def test_a_training_step_with_updates_matches_unoptimized():
    """Adam inside the compiled step (updates=), optimized (rewrites and fusion) or not:
    the same parameters after a few steps, bit for bit on the NumPy path."""
    def train(optimize):
        rng = np.random.default_rng(5)
        g = gd.Graph()
        x = g.input("x", shape=(None, 40))
        W = g.parameter(rng.normal(size=(40, 40)) * 0.1, name="W")
        b = g.parameter(np.zeros(40), name="b")
        loss = gd.mean(gd.square(gd.relu(x @ W + b) - 0.5))
        opt = gd.optim.Adam([W, b], lr=1e-2)
        step = g.function([x], [loss], updates=opt.updates(gd.grad(loss, [W, b])),
                          optimize=optimize)
        X = rng.normal(size=(64, 40))
        losses = [step(X)[0] for _ in range(4)]
        return losses, W.value.copy(), b.value.copy()

    for a, b in zip(train(True), train(False), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
