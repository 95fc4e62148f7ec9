"""Running graphs: fetch structures, only-needed work, freeing, ownership of results,
parameters read at call time, feed checks, float32, located errors, threads."""

from __future__ import annotations

import sys
import threading
import weakref

import numpy as np
import pytest

import graphdiff as gd


class Counting(gd.Op):
    """Identity-like op that counts its forward calls."""

    def __init__(self):
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x * 2.0

    def bprop(self, inputs, wrt, output, grad):
        return grad * 2.0


# ---------------------------------------------------------------- fetch structures
def test_fetch_structures():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    a, b = x + 1.0, gd.sum(x)
    X = np.array([1.0, 2.0])
    feed = {x: X}
    single = g.run(a, feed=feed)
    assert isinstance(single, np.ndarray)
    np.testing.assert_array_equal(single, [2.0, 3.0])
    as_list = g.run([a, b], feed=feed)
    assert isinstance(as_list, list) and len(as_list) == 2
    as_tuple = g.run((b, a), feed=feed)
    assert isinstance(as_tuple, tuple)
    np.testing.assert_array_equal(as_tuple[1], [2.0, 3.0])
    as_dict = g.run({"sum": b, "plus": a}, feed=feed)
    assert set(as_dict) == {"sum", "plus"}
    scalar = as_dict["sum"]
    assert isinstance(scalar, np.ndarray) and scalar.shape == () and float(scalar) == 3.0
    assert g.run([], feed=feed) == []
    same = g.run([a, a], feed=feed)
    np.testing.assert_array_equal(same[0], same[1])
    f = g.function([x], {"s": b, "pair": a})
    out = f(X)
    assert isinstance(out["s"], np.ndarray) and out["s"].shape == ()
    f2 = g.function([x], b)
    assert isinstance(f2(X), np.ndarray) and float(f2(X)) == 3.0


def test_graph_without_inputs_needs_no_feed():
    g = gd.Graph()
    W = g.parameter(np.array([1.0, 2.0]), name="W")
    c = g.constant(3.0)
    assert float(g.run(gd.sum(W * c))) == 9.0
    assert float(g.function([], gd.sum(W))()) == 3.0


# ---------------------------------------------------------------- only what is needed, once
def test_only_needed_nodes_computed_once():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    used, unused = Counting(), Counting()
    shared = gd.op(used)(x)
    gd.op(unused)(x)                                   # built but not fetched
    outs = [shared + 1.0, shared * shared, gd.sum(shared)]
    g.run(outs, feed={x: np.ones(3)})
    assert used.calls == 1 and unused.calls == 0
    f = g.function([x], outs)
    f(np.ones(3))
    f(np.ones(3))
    assert used.calls == 3 and unused.calls == 0


def test_unfed_input_not_needed_is_fine():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    y = g.input("y", shape=(2,))
    x + y
    np.testing.assert_array_equal(g.run(x * 2.0, feed={x: np.ones(2)}), [2.0, 2.0])


# ---------------------------------------------------------------- freeing intermediates
class Fresh(gd.Op):
    """Returns a new array and keeps a weak reference to its input's array."""

    def __init__(self):
        self.seen = []

    def forward(self, x):
        self.seen.append(weakref.ref(x))
        return x + 1.0

    def bprop(self, inputs, wrt, output, grad):
        return grad


class Probe(gd.Op):
    """Records, when it runs, whether the watched arrays are still alive."""

    def __init__(self, watched):
        self.watched = watched
        self.alive = None

    def forward(self, x):
        self.alive = [r() is not None for r in self.watched.seen]
        return x + 0.0

    def bprop(self, inputs, wrt, output, grad):
        return grad


def test_intermediate_is_released_after_its_last_use():
    g = gd.Graph()
    x = g.input("x", shape=(1000,))
    a = gd.exp(x)                                  # an intermediate: fresh array
    watcher = Fresh()
    b = gd.op(watcher)(a)                          # a's last use
    probe = Probe(watcher)
    c = gd.op(probe)(gd.sin(b))                    # runs after a's last use
    for runner in (lambda X: g.run(c, feed={x: X}), g.function([x], c)):
        watcher.seen.clear()
        runner(np.zeros(1000))
        assert len(watcher.seen) == 1
        assert probe.alive == [False], "exp(x) was still alive after its last use"


def test_intermediate_kept_while_still_needed():
    g = gd.Graph()
    x = g.input("x", shape=(100,))
    a = gd.exp(x)
    watcher = Fresh()
    b = gd.op(watcher)(a)
    probe = Probe(watcher)
    c = gd.op(probe)(b) + a                        # a is used again after the probe
    g.run(c, feed={x: np.zeros(100)})
    assert probe.alive == [True]


def test_fed_array_is_not_held_after_the_run():
    g = gd.Graph()
    x = g.input("x", shape=(50,))
    f = g.function([x], gd.sum(gd.exp(x)))
    X = np.zeros(50)
    base = sys.getrefcount(X)
    for _ in range(3):
        f(X)
        g.run(gd.sum(x), feed={x: X})
    assert sys.getrefcount(X) == base


# ---------------------------------------------------------------- ownership of results
def test_returned_arrays_belong_to_the_caller():
    g = gd.Graph()
    W = g.parameter(np.array([1.0, 2.0, 3.0]), name="W")
    x = g.input("x", shape=(3,))
    dx = gd.grad(gd.sum(x), x)                    # a broadcast of the seed
    w_out, dx_out = g.run([W, dx], feed={x: np.zeros(3)})
    w_out[...] = -7.0
    dx_out[...] = -7.0
    np.testing.assert_array_equal(W.value, [1.0, 2.0, 3.0])
    w2, dx2 = g.run([W, dx], feed={x: np.zeros(3)})
    np.testing.assert_array_equal(w2, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(dx2, np.ones(3))
    f = g.function([x], [W, dx, x * W])
    first = f(np.ones(3))
    snapshot = [a.copy() for a in first]
    for a in first:
        a[...] = 99.0
    second = f(np.ones(3))
    for a, b in zip(second, snapshot, strict=True):
        np.testing.assert_array_equal(a, b)
    third = f(np.full(3, 2.0))
    np.testing.assert_array_equal(second[2], [1.0, 2.0, 3.0])   # not overwritten by call 3
    np.testing.assert_array_equal(third[2], [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(W.value, [1.0, 2.0, 3.0])


def test_fetching_an_input_does_not_alias_the_fed_array():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    X = np.array([1.0, 2.0])
    out = g.run(x, feed={x: X})
    out[0] = 5.0
    assert X[0] == 1.0


# ---------------------------------------------------------------- parameters
def test_parameters_read_at_call_time():
    g = gd.Graph()
    W = g.parameter(np.array([1.0, 1.0]), name="W")
    x = g.input("x", shape=(2,))
    z = gd.sum(x * W)
    f = g.function([x], z)
    X = np.array([1.0, 2.0])
    assert float(f(X)) == 3.0
    W.value = np.array([2.0, 0.0])
    assert float(f(X)) == 2.0 and float(g.run(z, feed={x: X})) == 2.0
    W.value[1] = 10.0                              # in-place updates too (as optimizers do)
    assert float(f(X)) == 22.0
    with pytest.raises(gd.GraphError):
        W.value = np.ones(3)


# ---------------------------------------------------------------- feed errors
def test_feed_errors():
    g = gd.Graph()
    x = g.input("xin", shape=(None, 3))
    n = g.input("nin", shape=(2,), dtype="int64")
    W = g.parameter(np.ones(3), name="W")
    z = gd.sum(x * W) + gd.sum(n)
    with pytest.raises(gd.FeedError, match="xin"):
        g.run(z, feed={n: np.ones(2, dtype=np.int64)})
    with pytest.raises(gd.FeedError, match=r"xin") as info:
        g.run(z, feed={x: np.ones((2, 4)), n: np.ones(2, dtype=np.int64)})
    assert "(2, 4)" in str(info.value) and "(None, 3)" in str(info.value)
    with pytest.raises(gd.FeedError, match="xin"):
        g.run(z, feed={x: np.ones(3), n: np.ones(2, dtype=np.int64)})    # wrong rank
    with pytest.raises(gd.FeedError):
        g.run(z, feed={x: np.array([["a", "b", "c"]]), n: np.ones(2, dtype=np.int64)})
    with pytest.raises(gd.FeedError, match="nin"):
        g.run(z, feed={x: np.ones((1, 3)), n: np.ones(2)})              # float into int
    with pytest.raises(gd.FeedError):
        g.run(z, feed={x: np.ones((1, 3)), n: np.ones(2, dtype=np.int64), W: np.ones(3)})
    c = g.constant(np.ones(2))
    with pytest.raises(gd.FeedError):
        g.run(z, feed={x: np.ones((1, 3)), n: np.ones(2, dtype=np.int64), c: np.ones(2)})
    # castable values are cast to the declared dtype
    out = g.run(x * 1.5, feed={x: np.ones((2, 3), dtype=np.int32)})
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, np.full((2, 3), 1.5))
    np.testing.assert_array_equal(g.run(x, feed={x: [[1, 2, 3]]}), [[1.0, 2.0, 3.0]])


def test_compiled_function_checks_its_arguments():
    g = gd.Graph()
    x = g.input("xin", shape=(None, 3))
    f = g.function([x], gd.sum(x))
    with pytest.raises(gd.FeedError, match="xin") as info:
        f(np.ones((2, 4)))
    assert "(2, 4)" in str(info.value)
    with pytest.raises(gd.FeedError):
        f(np.array([["a", "b", "c"]]))
    with pytest.raises(gd.FeedError):
        f()
    with pytest.raises(gd.FeedError):
        f(np.ones((1, 3)), np.ones((1, 3)))
    assert float(f(np.ones((2, 3), dtype=np.int64))) == 6.0
    y = g.input("y", shape=(3,))
    with pytest.raises(gd.FeedError, match="'y'"):
        g.function([x], x + y)                   # an output needs an input not listed
    W = g.parameter(np.ones(3))
    with pytest.raises(gd.FeedError):
        g.function([W], gd.sum(W))


# ---------------------------------------------------------------- float32
def test_float32_graph_stays_float32():
    g = gd.Graph()
    x = g.input("x", shape=(None, 4), dtype="float32")
    W = g.parameter(np.ones((4, 3), dtype=np.float32), name="W")
    h = gd.tanh(x @ W * 0.5 + 1.0) ** 2 / 3.0 - 2
    loss = gd.losses.softmax_cross_entropy(h, np.array([0, 2])) + 1e-3 * gd.mean(h)
    dW, dx = gd.grad(loss, [W, x])
    f = g.function([x], [h, loss, dW, dx])
    for v in f(np.ones((2, 4), dtype=np.float32)):
        assert v.dtype == np.float32
    for v in g.run([h, loss, dW], feed={x: np.ones((2, 4), dtype=np.float32)}):
        assert v.dtype == np.float32
    # float64 fed into a float32 input is cast (same_kind), so the graph stays float32
    assert f(np.ones((2, 4)))[1].dtype == np.float32


def test_numpy_scalar_promotes_as_numpy_does():
    g = gd.Graph()
    x = g.input("x", shape=(2,), dtype="float32")
    out = g.run([x * 2.0, x * np.float64(2.0), x * np.float32(2.0)],
                feed={x: np.ones(2, dtype=np.float32)})
    assert [o.dtype for o in out] == [np.float32, np.float64, np.float32]


# ---------------------------------------------------------------- errors inside ops
class Fails(gd.Op):
    def forward(self, x):
        raise ValueError("boom inside the op")

    def bprop(self, inputs, wrt, output, grad):
        return grad


def test_error_inside_op_names_node_and_site():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    bad = gd.op(Fails())(x, name="the_bad_node"); line = sys._getframe().f_lineno  # noqa: E702
    z = gd.sum(bad)
    for call in (lambda: g.run(z, feed={x: np.ones(2)}),
                 lambda: g.function([x], z)(np.ones(2))):
        with pytest.raises(gd.GraphdiffError) as info:
            call()
        text = str(info.value)
        assert "the_bad_node" in text
        assert f"test_runtime.py:{line}" in text
        assert isinstance(info.value.__cause__, ValueError)
        assert "boom" in text


def test_error_in_unnamed_builtin_op_names_the_op():
    g = gd.Graph()
    x = g.input("x", shape=(None,))
    y = g.input("y", shape=(None,))
    z = x + y; line = sys._getframe().f_lineno  # noqa: E702
    with pytest.raises(gd.GraphdiffError) as info:
        g.run(z, feed={x: np.ones(2), y: np.ones(3)})   # shapes only clash at run time
    assert "Add" in str(info.value) and f"test_runtime.py:{line}" in str(info.value)
    assert info.value.__cause__ is not None


# ---------------------------------------------------------------- threads
def test_compiled_function_from_eight_threads():
    g = gd.Graph()
    x = g.input("x", shape=(None, 8))
    W = g.parameter(np.random.default_rng(0).normal(size=(8, 8)), name="W")
    h = gd.tanh(x @ W)
    for _ in range(5):
        h = gd.tanh(h @ W + h)
    loss = gd.mean(gd.square(h))
    dW = gd.grad(loss, W)
    f = g.function([x], [h, loss, dW])
    rng = np.random.default_rng(1)
    inputs = [rng.normal(size=(16 + k, 8)) for k in range(8)]
    expected = [f(X) for X in inputs]
    results = [None] * 8
    errors = []
    barrier = threading.Barrier(8)

    def work(k):
        try:
            barrier.wait()
            outs = []
            for _ in range(20):
                outs.append(f(inputs[k]))
            results[k] = outs
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(8):
        for outs in results[k]:
            for got, want in zip(outs, expected[k], strict=True):
                np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- the plan cache is bounded
def test_plan_cache_is_bounded_by_total_steps(monkeypatch):
    from graphdiff import runtime

    monkeypatch.setattr(runtime, "PLAN_CACHE_STEPS", 1_000)
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    chain = [x]
    for _ in range(300):
        chain.append(gd.tanh(chain[-1]))
    feed = {x: np.ones(2)}
    # 40 fetch sets of 100 to 300 steps each: far more than 1,000 steps in all.
    for k in range(40):
        g.run(chain[100 + 5 * k], feed=feed)
        retained = sum(len(p.steps) for p in runtime.cached_plans(g))
        assert retained <= 1_000, (k, retained)
    plans = runtime.cached_plans(g)
    assert 1 <= len(plans) < 40
    assert plans[-1].order[-1] is chain[100 + 5 * 39]   # the latest plan is kept


def test_plan_cache_evicts_least_recently_used(monkeypatch):
    from graphdiff import runtime

    monkeypatch.setattr(runtime, "PLAN_CACHE_STEPS", 25)
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    a, b, c = gd.exp(x), gd.sin(x), gd.cos(x)
    outs = [[n] + [n * float(k) for k in range(2, 11)] for n in (a, b, c)]  # 10 steps each
    feed = {x: np.ones(2)}
    g.run(outs[0], feed=feed)
    g.run(outs[1], feed=feed)
    g.run(outs[0], feed=feed)     # a used again: b is now the oldest
    g.run(outs[2], feed=feed)     # 25 steps retained at most: b goes
    first = {p.order[1] for p in runtime.cached_plans(g)}
    assert a in first and c in first and b not in first
    assert sum(len(p.steps) for p in runtime.cached_plans(g)) == 20


def test_a_plan_larger_than_the_bound_still_runs_and_is_the_one_kept(monkeypatch):
    from graphdiff import runtime

    monkeypatch.setattr(runtime, "PLAN_CACHE_STEPS", 5)
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    y = x
    for _ in range(20):
        y = y + 1.0
    np.testing.assert_array_equal(g.run(y, feed={x: np.zeros(2)}), [20.0, 20.0])
    assert [len(p.steps) for p in runtime.cached_plans(g)] == [20]


# ---------------------------------------------------------------- a backend that is not NumPy
def _unbox(v):
    if isinstance(v, Boxed):
        return v.data
    if isinstance(v, (list, tuple)):
        return type(v)(_unbox(u) for u in v)
    if isinstance(v, dict):
        return {k: _unbox(u) for k, u in v.items()}
    return v


def _box(v):
    if isinstance(v, (np.ndarray, np.generic)):   # 0-d results stay Boxed, as CuPy's do
        return Boxed(v)
    if isinstance(v, (list, tuple)):
        return type(v)(_box(u) for u in v)
    return v


class Boxed(np.lib.mixins.NDArrayOperatorsMixin):
    """A stand-in for a device array (CuPy's): NumPy functions dispatch to it, results stay
    Boxed, and implicit conversion to NumPy is refused, as CuPy refuses it."""

    def __init__(self, data):
        self.data = np.asarray(data)

    def __array__(self, *args, **kwargs):
        raise TypeError("implicit conversion of a Boxed array to NumPy is refused")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = _unbox(out)
        result = getattr(ufunc, method)(*_unbox(inputs), **_unbox(kwargs))
        return out[0] if out is not None and len(out) == 1 else _box(result)

    def __array_function__(self, func, types, args, kwargs):
        return _box(func(*_unbox(args), **_unbox(kwargs)))

    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    T = property(lambda self: Boxed(self.data.T))

    def copy(self):
        return Boxed(self.data.copy())

    def __getitem__(self, key):
        return _box(self.data[_unbox(key)])

    def __setitem__(self, key, value):
        self.data[_unbox(key)] = _unbox(value)

    def __getattr__(self, name):
        if name.startswith("__"):        # never hand out __array_interface__ and the like
            raise AttributeError(name)
        attr = getattr(self.data, name)
        if not callable(attr):
            return _box(attr)
        return lambda *a, **k: _box(attr(*_unbox(a), **_unbox(k)))


@pytest.fixture
def boxed_backend():
    from graphdiff import backends

    class Backend(backends.Backend):
        name = "boxed"
        mixes_with_numpy = False

        def asarray(self, value):
            return value if isinstance(value, Boxed) else Boxed(np.array(value))

    module = Boxed.__module__.partition(".")[0]
    backends.register(module, Backend())
    yield Backend
    backends.unregister(module)


def _boxed_mlp():
    g = gd.Graph()
    x = g.input("x", shape=(None, 4))
    y = g.input("y", shape=(None,), dtype="int64")
    net = gd.nn.MLP(g, [4, 8, 3], rng=np.random.default_rng(0))
    loss = gd.losses.softmax_cross_entropy(net(x), y)
    W0 = net.params[0]
    # Fetched aliases of a parameter: the parameter itself, a view of it, a reshape.
    fetches = [loss, *gd.grad(loss, net.params), W0, gd.transpose(W0), gd.reshape(W0, (32,))]
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(5, 4)), rng.integers(0, 3, size=5)
    return g, x, y, net.params, fetches, X, Y


@pytest.mark.parametrize("compiled", [False, True], ids=["run", "function"])
def test_foreign_backend_runs_moves_leaves_and_owns_results(boxed_backend, compiled):
    g, x, y, params, fetches, X, Y = _boxed_mlp()
    expected = g.run(fetches, feed={x: X, y: Y})
    with pytest.raises(TypeError):
        np.asarray(Boxed(X))                        # the stand-in refuses conversion
    if compiled:
        f = g.function([x, y], fetches)
        out = f(Boxed(X), Boxed(Y))
    else:
        out = g.run(fetches, feed={x: Boxed(X), y: Boxed(Y)})
    # The NumPy parameters and constants moved into the fed library on the first call.
    assert all(isinstance(p.value, Boxed) for p in params)
    assert all(isinstance(n.value, Boxed) for n in g.nodes
               if n.kind == "constant" and not n.weak)
    assert all(isinstance(v, Boxed) for v in out), [type(v) for v in out]
    for a, b in zip(out, expected, strict=True):
        np.testing.assert_allclose(a.data, b, rtol=1e-12, atol=1e-14)
    # Results never alias a parameter (nor a view of one): the caller owns them.
    for v in out:
        for p in params:
            assert not np.shares_memory(v.data, p.value.data)
    # A second call finds the leaves in place and gives the same values.
    again = f(Boxed(X), Boxed(Y)) if compiled else g.run(fetches, feed={x: Boxed(X),
                                                                        y: Boxed(Y)})
    for a, b in zip(again, out, strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_foreign_backend_training_step_updates_moved_parameters(boxed_backend):
    g, x, y, params, fetches, X, Y = _boxed_mlp()
    f = g.function([x, y], fetches[:1 + len(params)])
    first, *grads = f(Boxed(X), Boxed(Y))
    for p, dp in zip(params, grads, strict=True):
        p.value = p.value - 0.5 * dp
    second = f(Boxed(X), Boxed(Y))[0]
    assert isinstance(second, Boxed) and float(second.data) < float(first.data)


def test_a_backend_mixing_with_numpy_keeps_numpy_leaves(boxed_backend):
    """Dask-like libraries accept NumPy operands: the graph's leaves are left alone."""
    g, x, y, params, fetches, X, Y = _boxed_mlp()
    expected = g.run(fetches, feed={x: X, y: Y})
    boxed_backend.mixes_with_numpy = True
    try:
        out = g.run(fetches, feed={x: Boxed(X), y: Boxed(Y)})
    finally:
        boxed_backend.mixes_with_numpy = False
    assert all(type(p.value) is np.ndarray for p in params)
    assert isinstance(out[1], Boxed)
    for a, b in zip(out, expected, strict=True):
        np.testing.assert_allclose(a.data if isinstance(a, Boxed) else a, b, rtol=1e-12)
        if isinstance(a, Boxed):
            assert not any(np.shares_memory(a.data, p.value) for p in params)
