"""Issue 5, concurrency: a compiled function called from 8 threads at once returns what
sequential calls return, never hands two calls the same buffer, and building nodes in one
thread while another runs a compiled function is safe."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import graphdiff as gd

THREADS = 8


@pytest.fixture(autouse=True)
def fast_switching():
    """Switch threads every few microseconds so interleavings actually happen."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _run_threads(work, n=THREADS):
    barrier = threading.Barrier(n)
    errors = []

    def target(k):
        try:
            barrier.wait(10)
            work(k)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]


def _model():
    """A graph with elementwise chains (in-place buffer reuse), a matmul, a reduction and
    gradients, so the compiled schedule has many reusable buffers."""
    g = gd.Graph()
    x = g.input("x", shape=(None, 16))
    W = g.parameter(np.random.default_rng(0).normal(size=(16, 8)) / 4, name="W")
    h = gd.tanh(x @ W)
    h2 = gd.exp(-(h * h)) + h * 3.0 - 1.0
    y = gd.sigmoid(h2) * 2.0 + gd.softplus(h)
    loss = gd.mean(gd.logsumexp(y, axis=1))
    dW, dx = gd.grad(loss, [W, x])
    return g, x, W, [loss, y, h2, dW, dx]


def _inputs(count):
    rng = np.random.default_rng(1)
    return [rng.normal(size=(32 + (k % 5), 16)) for k in range(count)]


@pytest.mark.parametrize("check_finite", [False, True])
def test_compiled_function_from_eight_threads_matches_sequential(check_finite):
    g, x, W, outs = _model()
    f = g.function([x], outs, check_finite=check_finite)
    per_thread = 100
    data = _inputs(THREADS * per_thread)
    expected = [f(v) for v in data]
    results = [None] * len(data)

    def work(k):
        for j in range(per_thread):
            i = k * per_thread + j
            results[i] = f(data[i])

    _run_threads(work)
    for got, want in zip(results, expected, strict=True):
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
    # no two results share memory
    arrays = [a for r in results for a in r if isinstance(a, np.ndarray) and a.size > 1]
    bases = {}
    for a in arrays:
        base = a if a.base is None else a.base
        assert id(base) not in bases or bases[id(base)] is a, "two results share a buffer"
        bases[id(base)] = a


def test_graph_run_from_eight_threads_matches_sequential():
    g, x, W, outs = _model()
    data = _inputs(THREADS * 10)
    expected = [g.run(outs, feed={x: v}) for v in data]
    results = [None] * len(data)

    def work(k):
        for j in range(10):
            i = k * 10 + j
            results[i] = g.run(outs, feed={x: data[i]})

    _run_threads(work)
    for got, want in zip(results, expected, strict=True):
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)


def test_returned_arrays_belong_to_the_caller():
    g, x, W, outs = _model()
    f = g.function([x], outs)
    v = _inputs(1)[0]
    first = f(v)
    keep = [np.array(a) for a in first]
    for a in first:
        a[...] = 12345.0  # scribbling on a result must not affect later calls
    second = f(v)
    for a, b in zip(second, keep, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(first, second, strict=True):
        assert not np.shares_memory(a, b)
    # a fetched parameter is a copy, not the live array
    w = g.run(W)
    w[...] = 0.0
    assert np.any(W.value != 0.0)


def test_building_nodes_while_another_thread_runs():
    g, x, W, outs = _model()
    f = g.function([x], outs)
    data = _inputs(60)
    expected = [f(v) for v in data]
    stop = threading.Event()
    mismatches = []
    built = []

    def runner():
        for i, v in enumerate(data):
            got = f(v)
            for a, b in zip(got, expected[i], strict=True):
                if not np.array_equal(a, b):
                    mismatches.append(i)
        stop.set()

    def builder():
        c = x
        count = 0
        while not stop.is_set() or count < 2000:
            c = gd.tanh(c) * 0.5 + 1.0
            count += 3
            if count > 60_000:
                break
        built.append(c)

    threads = [threading.Thread(target=runner), threading.Thread(target=builder)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not mismatches
    nodes = g.nodes
    assert [n.index for n in nodes] == list(range(len(nodes)))
    # the chain built concurrently still computes the right values
    c = built[0]
    v = np.full((1, 16), 0.3)
    got = g.run(c, feed={x: v})
    ref = v
    chain = 0
    n = c
    while n is not x:
        if n.op is not None and type(n.op).__name__ == "Tanh":
            chain += 1
        n = n.inputs[0]
    for _ in range(chain):
        ref = np.tanh(ref) * 0.5 + 1.0
    np.testing.assert_allclose(got, ref)


def test_many_threads_building_on_one_graph_give_unique_ordered_indices():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    tails = [None] * THREADS
    per_thread = 1500

    def work(k):
        c = x
        for _ in range(per_thread):
            c = c + float(k + 1)
        tails[k] = c

    _run_threads(work)
    nodes = g.nodes
    assert [n.index for n in nodes] == list(range(len(nodes)))
    assert len({id(n) for n in nodes}) == len(nodes)
    # every input precedes its consumer (creation order is a topological order)
    assert all(i.index < n.index for n in nodes for i in n.inputs)
    # consumers lists are complete: x is consumed by the first node of each chain
    assert len([c for c in g.consumers(x)]) == THREADS
    for k, tail in enumerate(tails):
        np.testing.assert_allclose(g.run(tail, feed={x: np.zeros(3)}), per_thread * (k + 1.0))


def test_gradients_built_concurrently_on_one_graph():
    g = gd.Graph()
    x = g.input("x", shape=(4,))
    shared = gd.tanh(x)
    grads = [None] * THREADS

    def work(k):
        z = gd.sum(shared * float(k + 1) + gd.sin(x) * float(k))
        grads[k] = gd.grad(z, x)

    _run_threads(work)
    v = np.linspace(-1, 1, 4)
    outs = g.run(grads, feed={x: v})
    for k, d in enumerate(outs):
        np.testing.assert_allclose(d, (k + 1) * (1 - np.tanh(v) ** 2) + k * np.cos(v))


def test_parameter_update_between_calls_is_seen_by_all_threads():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    W = g.parameter(np.ones(2), name="W")
    f = g.function([x], gd.sum(x * W))
    W.value = np.full(2, 3.0)
    results = [None] * THREADS

    def work(k):
        results[k] = [float(f(np.full(2, float(k)))) for _ in range(50)]

    _run_threads(work)
    for k, r in enumerate(results):
        assert r == [6.0 * k] * 50
