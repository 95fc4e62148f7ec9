"""The compiled runtime's planner: tiering, chunked generated code, scalar constants, and
the invariants of buffer planning (results owned by the caller, threads independent,
views never written through). Every test compares against the interpreted loop or
plain NumPy, bit for bit."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.compile import Plan, Schedule, Tiered, codegen, run_steps, scalar_arrays
from graphdiff.errors import GraphdiffError


def _model(n=16, hidden=8):
    """Elementwise chains (in-place reuse), a matmul, reductions, views and gradients."""
    g = gd.Graph()
    x = g.input("x", shape=(None, n))
    W = g.parameter(np.random.default_rng(0).normal(size=(n, hidden)) / 4, name="W")
    h = gd.tanh(x @ W)
    h2 = gd.exp(-(h * h)) + h * 3.0 - 1.0
    y = gd.sigmoid(h2) * 2.0 + gd.softplus(h)
    loss = gd.mean(gd.logsumexp(y, axis=1))
    dW, dx = gd.grad(loss, [W, x])
    return g, x, [loss, y, h2.T, dW, dx]


def _interpreted(plan, feed):
    return run_steps(plan, plan.fill(feed))


def _equal(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("chunk", [1, 3, 1000])
@pytest.mark.parametrize("inplace", [False, True])
def test_chunked_generated_code_equals_the_interpreted_loop(monkeypatch, chunk, inplace):
    monkeypatch.setattr(codegen, "CHUNK_STEPS", chunk)
    g, x, outs = _model(n=64, hidden=48)   # 64 x 48 = 3072 elements: in-place reuse applies
    plan = Plan(g, outs)
    X = np.random.default_rng(1).normal(size=(64, 64))
    feed = {plan.inputs[0][0]: X}
    want = _interpreted(plan, feed)
    schedule = Schedule(plan, inplace=inplace)
    for _ in range(2):
        _equal(schedule(plan.fill(feed)), want)


def test_a_failure_in_a_later_chunk_names_its_node(monkeypatch):
    monkeypatch.setattr(codegen, "CHUNK_STEPS", 2)
    g = gd.Graph()
    x = g.input("x", shape=(None,))
    v = x
    for _ in range(6):
        v = gd.sin(v) + 1.0
    bad = v + g.parameter(np.ones(3), name="three")   # fails at run time for a (4,) feed
    out = gd.exp(bad)
    plan = Plan(g, [out])
    schedule = Schedule(plan, inplace=True)
    with pytest.raises(GraphdiffError, match="Add") as info:
        schedule(plan.fill({plan.inputs[0][0]: np.ones(4)}))
    assert "test_planner.py" in str(info.value)
    assert schedule.failed_step(info.value.__cause__) == len(plan.steps) - 2


def test_the_same_structure_compiles_once(monkeypatch):
    monkeypatch.setattr(codegen, "CHUNK_STEPS", 4)
    schedules = []
    for _ in range(2):
        g = gd.Graph()
        x = g.input("x", shape=(3,))
        v = x
        for _ in range(10):
            v = gd.tanh(v) * 2.0
        plan = Plan(g, [v])
        schedules.append(Schedule(plan, inplace=True))
    a, b = ({code for code, _ in s._line_steps.values()} for s in schedules)
    assert len(a) == 5 and a == b


def test_tiering_interprets_until_generating_pays(monkeypatch):
    monkeypatch.setattr(codegen, "CODEGEN_S_PER_STEP", 3600.0)   # never pays
    g, x, outs = _model()
    plan = Plan(g, outs)
    X = np.random.default_rng(2).normal(size=(5, 16))
    feed = {plan.inputs[0][0]: X}
    want = _interpreted(plan, feed)
    run = Tiered(plan)
    for _ in range(3):
        _equal(run(plan.fill(feed), True)[0], want)
    assert run.schedules == {} and run.interpreted_s > 0
    run.budget_s = run.interpreted_s    # now it has paid: the next call generates
    _equal(run(plan.fill(feed), True)[0], want)
    assert set(run.schedules) == {True}
    _equal(run(plan.fill(feed), True)[0], want)


def test_a_compiled_function_gives_the_same_results_in_both_tiers(monkeypatch):
    monkeypatch.setattr(codegen, "CODEGEN_S_PER_STEP", 1e-3)
    g, x, outs = _model()
    f = g.function([x], outs)
    X = np.random.default_rng(3).normal(size=(7, 16))
    first = f(X)
    for _ in range(200):          # enough interpreted time to pay for the code
        again = f(X)
        _equal(again, first)
    assert f.schedule(True) is f.schedule(True)


# --- scalar constants as 0-d arrays --------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128"])
def test_scalar_constants_give_the_interpreted_results(dtype):
    g = gd.Graph()
    x = g.input("x", shape=(6,), dtype=dtype)
    y = (x * 1.01 + 0.1) / 3.0 - 2 ** 0.5
    z = 7.5 - x * 1e-3
    w = x ** 2 + 1e30 * x
    plan = Plan(g, [y, z, w])
    assert len(scalar_arrays(plan)) >= 6
    X = (np.linspace(-3, 3, 6) * (1 + 0.5j if dtype.startswith("complex") else 1)).astype(dtype)
    feed = {plan.inputs[0][0]: X}
    got = Schedule(plan, inplace=True)(plan.fill(feed))
    _equal(got, _interpreted(plan, feed))
    assert all(a.dtype == np.dtype(dtype) for a in got)


def test_scalar_constants_stay_python_scalars_where_an_array_could_differ():
    g = gd.Graph()
    i = g.input("i", shape=(3,), dtype="int64")
    f32 = g.input("f", shape=(3,), dtype="float32")
    plan = Plan(g, [i * 3, i * 0.5, f32 * 1e300, gd.ldexp(f32, 2) if hasattr(gd, "ldexp")
                    else f32 * 2.0])
    chosen = {k for k, _ in scalar_arrays(plan)}
    assert 0 not in chosen and 1 not in chosen   # integer inputs: NumPy's own casting rules
    assert 2 not in chosen                       # 1e300 overflows float32
    X = np.arange(3)
    F = np.array([1.0, 2.0, 3.0], "float32")
    feed = {k: (X if n is i else F) for k, n in plan.inputs}
    with np.errstate(over="ignore"):
        _equal(Schedule(plan, inplace=True)(plan.fill(feed)), _interpreted(plan, feed))


def test_scalar_arrays_are_read_only():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    for arr in scalar_arrays(Plan(g, [x * 2.0 + 1.0])).values():
        assert not arr.flags.writeable


# --- invariants of buffer planning -----------------------------------------------------


def test_results_are_never_overwritten_by_a_later_call():
    g, x, outs = _model(n=64, hidden=48)
    f = g.function([x], outs)
    rng = np.random.default_rng(4)
    first_in = rng.normal(size=(64, 64))
    first = f(first_in)
    kept = [np.array(a, copy=True) for a in first]
    for _ in range(3):
        f(rng.normal(size=(64, 64)))
    _equal(first, kept)
    _equal(first, f(first_in))


def test_fetched_views_and_their_bases_are_not_written_through():
    g = gd.Graph()
    x = g.input("x", shape=(64, 64))
    a = gd.exp(x)
    view = a.T                      # shares a's buffer
    flat = a.reshape((4096,))       # so does this
    b = flat * 2.0                  # a's buffer dies here unless a view of it is fetched
    c = gd.sin(view) + 1.0
    f = g.function([x], [b, view, c])
    X = np.random.default_rng(5).normal(size=(64, 64))
    for _ in range(2):
        got_b, got_view, got_c = f(X)
        np.testing.assert_array_equal(got_view, np.exp(X).T)
        np.testing.assert_array_equal(got_b, np.exp(X).reshape(4096) * 2.0)
        np.testing.assert_array_equal(got_c, np.sin(np.exp(X).T) + 1.0)


def test_views_inside_the_schedule_are_not_written_through():
    g = gd.Graph()
    x = g.input("x", shape=(64, 64))
    a = gd.exp(x)
    t = a.T
    u = t * 3.0           # would overwrite a's buffer, which `a + ...` still reads
    v = gd.sum(u) + gd.sum(a * 1.5)
    f = g.function([x], [v])
    X = np.random.default_rng(6).normal(size=(64, 64)) / 4
    want = np.sum(np.exp(X).T * 3.0) + np.sum(np.exp(X) * 1.5)
    np.testing.assert_allclose(f(X)[0], want, rtol=1e-12)


def test_leaves_are_never_written():
    g = gd.Graph()
    x = g.input("x", shape=(4096,))
    W = g.parameter(np.ones(4096), name="W")
    f = g.function([x], [gd.exp(x) * W, W * 2.0 + x, x + 1.0])
    X = np.random.default_rng(7).normal(size=4096)
    X0 = X.copy()
    for _ in range(2):
        f(X)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(W.value, np.ones(4096))


@pytest.mark.parametrize("chunk", [3, 1000])
def test_threads_calling_one_function_get_their_own_results(monkeypatch, chunk):
    monkeypatch.setattr(codegen, "CHUNK_STEPS", chunk)
    g, x, outs = _model(n=64, hidden=48)
    f = g.function([x], outs)
    rng = np.random.default_rng(8)
    data = [rng.normal(size=(64 + k % 3, 64)) for k in range(48)]
    want = [f(X) for X in data]
    got = [None] * len(data)
    errors = []
    barrier = threading.Barrier(6)

    def work(t):
        try:
            barrier.wait()
            for k in range(t, len(data), 6):
                got[k] = f(data[k])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not any(t.is_alive() for t in threads)
    for a, b in zip(got, want):
        _equal(a, b)


def test_a_plan_of_rewrite_stand_ins_runs_in_a_topological_order():
    g = gd.Graph()
    x = g.input("x", shape=(64,))
    v = x
    for _ in range(20):
        v = gd.tanh(gd.sin(v)) * 1.01 + 0.1
    z = gd.sum(v)             # the seed's broadcast times 1.01 folds: stand-ins follow
    dx = gd.grad(z, x)
    f = g.function([x], [z, dx])
    plain = g.function([x], [z, dx], optimize=False)
    nodes = g.nodes
    standins = [n for n in f.plan.order if nodes[n.index] is not n]
    assert standins and f.rewrites            # the rewritten plan holds stand-ins
    position = {id(n): k for k, n in enumerate(f.plan.order)}
    for n in f.plan.order:
        assert all(position[id(i)] < position[id(n)] for i in n.inputs)
    X = np.random.default_rng(9).normal(size=64)
    for a, b in zip(f(X), plain(X)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
