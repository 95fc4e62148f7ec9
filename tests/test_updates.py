"""g.function(..., updates=) and g.run(..., updates=): Theano's semantics.

Every update is computed from the values before the call (in the outputs' plan), then
applied: in place where the parameter's array allows, else assigned. Checked when the
function is built. With ``opt.updates(grads)`` a whole training step is one call and
reaches the same parameters as ``opt.step``.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import graphdiff as gd


def test_outputs_see_the_old_values_and_updates_apply_after():
    g = gd.Graph()
    w = g.parameter(np.array([1.0, 2.0]), name="w")
    f = g.function([], [w, gd.sum(w)], updates={w: w * 3.0})
    first, total = f()
    np.testing.assert_array_equal(first, [1.0, 2.0])
    assert float(total) == 3.0
    np.testing.assert_array_equal(w.value, [3.0, 6.0])
    np.testing.assert_array_equal(first, [1.0, 2.0])   # the returned array is the caller's
    second, _ = f()
    np.testing.assert_array_equal(second, [3.0, 6.0])


def test_every_update_reads_the_values_before_the_call():
    g = gd.Graph()
    a = g.parameter(np.array([1.0, 2.0]), name="a")
    b = g.parameter(np.array([10.0, 20.0]), name="b")
    f = g.function([], [], updates={a: b, b: a})          # a swap needs both old values
    f()
    np.testing.assert_array_equal(a.value, [10.0, 20.0])
    np.testing.assert_array_equal(b.value, [1.0, 2.0])
    g.run([], updates={a: a + b, b: a * b})
    np.testing.assert_array_equal(a.value, [11.0, 22.0])
    np.testing.assert_array_equal(b.value, [10.0, 40.0])


def test_updates_are_in_place_when_the_array_allows():
    g = gd.Graph()
    w = g.parameter(np.zeros((64, 64)), name="w")
    live = w.value
    x = g.input("x", shape=(64, 64))
    f = g.function([x], gd.sum(w), updates={w: w + x})
    f(np.ones((64, 64)))
    f(np.ones((64, 64)))
    assert w.value is live
    np.testing.assert_array_equal(live, 2.0)


def test_read_only_parameter_arrays_are_replaced():
    g = gd.Graph()
    w = g.parameter(np.zeros(3), name="w")
    frozen = np.ones(3)
    frozen.flags.writeable = False
    w.value = frozen
    g.run([], updates={w: w * 2.0})
    assert w.value is not frozen
    np.testing.assert_array_equal(frozen, 1.0)
    np.testing.assert_array_equal(w.value, 2.0)


def test_the_parameter_keeps_its_dtype():
    g = gd.Graph()
    w = g.parameter(np.ones(3, dtype=np.float32), name="w")
    live = w.value
    big = g.constant(np.full(3, 0.5))                     # float64: promotes the update
    new = w + big
    assert new.dtype == np.float64
    g.function([], [], updates={w: new})()
    assert w.value is live and w.value.dtype == np.float32
    np.testing.assert_array_equal(w.value, 1.5)


def test_an_output_that_is_also_an_update_is_a_separate_array():
    g = gd.Graph()
    w = g.parameter(np.ones(2048), name="w")
    new = gd.exp(w) + 1.0
    f = g.function([], [new], updates={w: new})
    (out,) = f()
    np.testing.assert_allclose(out, np.e + 1.0)
    assert not np.shares_memory(out, w.value)
    out[:] = -1.0                                           # the caller's to change
    np.testing.assert_allclose(w.value, np.e + 1.0)


def test_updates_may_be_pairs_constants_and_optimizer_state():
    g = gd.Graph()
    w = g.parameter(np.ones(2), name="w")
    c = g.parameter(np.array(5.0), name="c")
    g.run([], updates=[(w, np.array([7.0, 8.0])), (c, 0.0)])
    np.testing.assert_array_equal(w.value, [7.0, 8.0])
    assert float(c.value) == 0.0


def test_run_and_function_agree():
    results = []
    for how in ("run", "function"):
        g = gd.Graph()
        w = g.parameter(np.array([1.0, -1.0]), name="w")
        x = g.input("x", shape=(2,))
        loss = gd.sum(gd.square(w - x))
        new = w - 0.1 * gd.grad(loss, w)
        f = g.function([x], loss, updates={w: new})
        losses = []
        for _ in range(5):
            X = np.array([0.5, 2.0])
            losses.append(float(g.run(loss, feed={x: X}, updates={w: new}) if how == "run"
                                else f(X)))
        results.append((losses, w.value.copy()))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])


# ---------------------------------------------------------------- checked when built
@pytest.fixture
def model():
    g = gd.Graph()
    w = g.parameter(np.ones(3), name="w")
    x = g.input("x", shape=(None,))
    return g, w, x


def test_keys_must_be_parameters_of_the_graph(model):
    g, w, x = model
    with pytest.raises(gd.GraphError, match="keys must be parameters.*'x'") as err:
        g.function([x], [], updates={x: x * 2.0})
    assert "test_updates.py" in str(err.value)           # the caller's line
    with pytest.raises(gd.GraphError, match="keys must be parameters"):
        g.function([], [], updates={w * 2.0: w})
    with pytest.raises(gd.GraphError, match="keys must be parameters"):
        g.run([], updates={"w": w})
    other = gd.Graph().parameter(np.ones(3), name="v")
    with pytest.raises(gd.GraphError, match="another graph"):
        g.function([], [], updates={other: other})
    with pytest.raises(gd.GraphError, match="update of 'w'.*another graph"):
        g.function([], [], updates={w: other})


def test_a_parameter_updated_twice_is_refused(model):
    g, w, _ = model
    with pytest.raises(gd.GraphError, match="'w'.*updated twice"):
        g.function([], [], updates=[(w, w + 1.0), (w, w * 2.0)])
    with pytest.raises(gd.GraphError, match="dict .* or a sequence"):
        g.function([], [], updates=w)


def test_update_shape_and_dtype_must_fit(model):
    g, w, x = model
    with pytest.raises(gd.GraphError, match=r"of shape \(3,\).*of shape \(\)"):
        g.function([], [], updates={w: gd.sum(w)})
    with pytest.raises(gd.GraphError, match=r"of shape \(3,\).*of shape \(3, 1\)"):
        g.function([], [], updates={w: w[:, None]})
    n = g.parameter(np.array([1, 2, 3]), name="n")
    with pytest.raises(gd.GraphError, match="dtype int64.*float64.*same_kind"):
        g.function([], [], updates={n: n * 0.5})
    g.function([x], [], updates={w: x})      # (None,) may fit: checked when it runs


def test_a_run_time_shape_that_does_not_fit_changes_nothing(model):
    g, w, x = model
    v = g.parameter(np.zeros(3), name="v")
    f = g.function([x], [], updates={v: v + 1.0, w: x})
    with pytest.raises(gd.GraphError, match=r"'w'.*of shape \(4,\).*no parameter was changed"):
        f(np.ones(4))
    np.testing.assert_array_equal(v.value, 0.0)
    np.testing.assert_array_equal(w.value, 1.0)
    f(np.full(3, 2.0))
    np.testing.assert_array_equal(w.value, 2.0)
    np.testing.assert_array_equal(v.value, 1.0)


# ---------------------------------------------------------------- the training step
def _mlp(dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    g = gd.Graph()
    x = g.input("x", shape=(None, 6), dtype=dtype)
    y = g.input("y", shape=(None,), dtype="int64")
    net = gd.nn.MLP(g, [6, 8, 3], rng=rng, dtype=dtype)
    loss = gd.losses.softmax_cross_entropy(net(x), y)
    return g, x, y, net.params, loss


OPTIMIZERS = [
    ("sgd", lambda ps: gd.optim.SGD(ps, lr=0.1)),
    ("sgd_momentum_wd", lambda ps: gd.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-2)),
    ("adam", lambda ps: gd.optim.Adam(ps, lr=1e-2)),
    ("adamw", lambda ps: gd.optim.AdamW(ps, lr=1e-2, weight_decay=0.1)),
    ("rmsprop_momentum", lambda ps: gd.optim.RMSprop(ps, lr=1e-2, momentum=0.5)),
]


@pytest.mark.parametrize("name, make", OPTIMIZERS, ids=[n for n, _ in OPTIMIZERS])
def test_one_compiled_training_step_equals_opt_step(name, make):
    """Loss, gradients and the optimizer (moments and step count too) in one call."""
    rng = np.random.default_rng(1)
    batches = [(rng.standard_normal((5, 6)), rng.integers(0, 3, 5)) for _ in range(7)]
    g1, x1, y1, ps1, loss1 = _mlp()
    opt1 = make(ps1)
    f1 = g1.function([x1, y1], [loss1] + gd.grad(loss1, ps1))
    g2, x2, y2, ps2, loss2 = _mlp()
    opt2 = make(ps2)
    step = g2.function([x2, y2], loss2, updates=opt2.updates(gd.grad(loss2, ps2)))
    for X, Y in batches:
        out = f1(X, Y)
        opt1.step(out[1:])
        assert float(step(X, Y)) == pytest.approx(float(out[0]), rel=1e-12)
    assert opt2.t == opt1.t == len(batches)
    for a, b in zip(ps1, ps2, strict=True):
        np.testing.assert_allclose(b.value, a.value, rtol=1e-12, atol=1e-14)
    for key, value in opt1.state_dict().items():
        np.testing.assert_allclose(opt2.state_dict()[key], value, rtol=1e-12, atol=1e-14)


def test_float32_training_step_stays_float32():
    g, x, y, ps, loss = _mlp("float32")
    opt = gd.optim.Adam(ps, lr=1e-2)
    live = [p.value for p in ps]
    step = g.function([x, y], loss, updates=opt.updates(gd.grad(loss, ps)))
    rng = np.random.default_rng(2)
    for _ in range(3):
        out = step(rng.standard_normal((4, 6)).astype(np.float32), rng.integers(0, 3, 4))
    assert out.dtype == np.float32
    assert all(p.value is a and a.dtype == np.float32 for p, a in zip(ps, live, strict=True))


def test_fit_drives_a_step_that_applies_its_optimizer():
    g = gd.Graph()
    x = g.input("x", shape=(None,))
    w = g.parameter(np.array(0.0), name="w")
    loss = gd.mean((x * w - 3.0 * x) ** 2)
    opt = gd.optim.SGD([w], lr=0.3)
    step = g.function([x], loss, updates=opt.updates(gd.grad(loss, [w])))
    hist = gd.fit(step, np.linspace(-1, 1, 32), epochs=30, batch_size=8, optimizer=opt,
                  progress=False, schedule=gd.optim.schedules.warmup(0.3, 5))
    assert abs(float(w.value) - 3.0) < 1e-6 and hist.lr[0] == pytest.approx(0.06)
    assert opt.t == 30 * 4


# ---------------------------------------------------------------- threads
def test_concurrent_calls_with_updates_lose_no_step():
    g = gd.Graph()
    count = g.parameter(np.zeros(4096), name="count")
    x = g.input("x", shape=(4096,))
    f = g.function([x], gd.sum(count), updates={count: count + x})
    ones = np.ones(4096)

    def work():
        for _ in range(25):
            f(ones)
            g.run([], updates={count: count + 1.0})

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(count.value, 200.0)


# ---------------------------------------------------------------- writing into the parameter
from graphdiff.compile.updates import inplace_targets  # noqa: E402


def _big(g, name="w", value=1.0, n=4096):
    return g.parameter(np.full(n, value), name=name)


def test_the_last_step_of_an_update_writes_into_the_parameter():
    g = gd.Graph()
    w = _big(g)
    live = w.value
    x = g.input("x", shape=(4096,))
    loss = gd.sum(w * x)
    new = w - 0.5 * gd.grad(loss, w)
    f = g.function([x], loss, updates={w: new})
    assert inplace_targets(f.plan, f.updates)                 # used here
    X = np.arange(4096.0)
    assert float(f(X)) == X.sum()
    assert w.value is live
    np.testing.assert_array_equal(live, 1.0 - 0.5 * X)
    assert float(f(X)) == pytest.approx(float(((1.0 - 0.5 * X) * X).sum()))


def test_no_direct_write_when_something_reads_the_old_value_later():
    g = gd.Graph()
    w = _big(g)
    new = w * 2.0
    later = gd.sum(w)                      # created after the update: its step comes later
    f = g.function([], [later, w, w[:3]], updates={w: new})
    assert not inplace_targets(f.plan, f.updates)
    total, old, head = f()
    assert float(total) == 4096.0 and np.all(old == 1.0) and np.all(head == 1.0)
    np.testing.assert_array_equal(w.value, 2.0)
    v = _big(g, "v")
    as_output = v + 1.0
    f = g.function([], [as_output], updates={v: as_output})   # fetched twice: no direct write
    assert not inplace_targets(f.plan, f.updates)
    (out,) = f()
    assert not np.shares_memory(out, v.value) and np.all(v.value == 2.0)


def test_a_large_update_that_does_not_read_its_parameter():
    g = gd.Graph()
    w, v = _big(g, "w", 0.0), _big(g, "v", 1.0)
    x = g.input("x", shape=(4096,))
    f = g.function([x], [], updates={w: x * 2.0, v: x + 1.0})
    f(np.ones(4096))
    np.testing.assert_array_equal(w.value, 2.0)
    np.testing.assert_array_equal(v.value, 2.0)


def test_a_swap_of_large_parameters_reads_both_old_values():
    g = gd.Graph()
    a, b = _big(g, "a", 1.0), _big(g, "b", 2.0)
    f = g.function([], [], updates={a: b + 0.0, b: a + 0.0})
    f()
    np.testing.assert_array_equal(a.value, 2.0)
    np.testing.assert_array_equal(b.value, 1.0)


def test_run_time_aliases_fall_back_to_the_copy():
    g = gd.Graph()
    a, b = _big(g, "a", 1.0), _big(g, "b", 2.0)
    f = g.function([], [], updates={a: a + b, b: b * 3.0})
    assert inplace_targets(f.plan, f.updates)
    c = _big(g, "c", 5.0)
    total = gd.sum(c)                              # computed after a's update
    f = g.function([], total, updates={a: a + 1.0})
    assert inplace_targets(f.plan, f.updates)
    c.value = a.value                              # at run time, c is a's array
    assert float(f()) == 4096.0                    # the value before the call
    np.testing.assert_array_equal(a.value, 2.0)
    big = np.zeros(8192)
    a.value = big[:4096]                           # a view: not owning its memory
    c.value = big[4096:]
    assert float(f()) == 0.0
    np.testing.assert_array_equal(big, np.r_[np.ones(4096), np.zeros(4096)])


@pytest.mark.parametrize("name, make", OPTIMIZERS, ids=[n for n, _ in OPTIMIZERS])
def test_large_compiled_training_step_equals_opt_step(name, make):
    """Layers of 64 x 64 (4096 values): the updates write into the parameters directly."""
    rng = np.random.default_rng(3)
    batches = [(rng.standard_normal((16, 64)), rng.integers(0, 3, 16)) for _ in range(4)]
    results = []
    for compiled in (False, True):
        g = gd.Graph()
        x = g.input("x", shape=(None, 64))
        y = g.input("y", shape=(None,), dtype="int64")
        net = gd.nn.MLP(g, [64, 64, 64, 3], rng=np.random.default_rng(0))
        loss = gd.losses.softmax_cross_entropy(net(x), y)
        opt = make(net.params)
        grads = gd.grad(loss, net.params)
        if compiled:
            f = g.function([x, y], loss, updates=opt.updates(grads))
            # each of W1, W2 and (Adam, RMSprop, momentum) their large buffers
            assert len(inplace_targets(f.plan, f.updates)) >= 2
            for X, Y in batches:
                f(X, Y)
        else:
            f = g.function([x, y], grads)
            for X, Y in batches:
                opt.step(f(X, Y))
        results.append([p.value.copy() for p in net.params])
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


def _random_case(rng):
    """Parameters of (64, 64), random update expressions (views, shared reads, reads after
    the update, fetched parameters and views), in a random creation order."""
    g = gd.Graph()
    ps = [g.parameter(rng.standard_normal((64, 64)), name=f"p{i}") for i in range(3)]
    x = g.input("x", shape=(64, 64))
    menu = [
        lambda a, b: a - 0.1 * b,
        lambda a, b: a * 0.5 + b.T,
        lambda a, b: b * 2.0,
        lambda a, b: gd.exp(a * 0.1) + x,
        lambda a, b: (a + b) * (a - x),
        lambda a, b: b[::-1] + a,
    ]
    updates, outputs = {}, []
    for p in ps:
        if rng.random() < 0.2:
            continue
        other = ps[rng.integers(3)]
        if rng.random() < 0.3:       # something read after the update is built
            outputs.append(gd.sum(other * x))
        updates[p] = menu[rng.integers(len(menu))](p, other)
        if rng.random() < 0.3:
            outputs.append(rng.choice([lambda n: n, lambda n: n.T, lambda n: n[:2]])(
                ps[rng.integers(3)]))
    return g, ps, x, updates, outputs


def test_direct_writes_agree_with_the_copying_path_on_random_cases():
    rng = np.random.default_rng(42)
    used = 0
    for _ in range(40):
        g, ps, x, updates, outputs = _random_case(rng)
        f = g.function([x], outputs, updates=updates)
        used += bool(inplace_targets(f.plan, f.updates))
        start = [p.value.copy() for p in ps]
        X = rng.standard_normal((64, 64))
        got = f(X)
        after = [p.value.copy() for p in ps]
        for p, s in zip(ps, start, strict=True):
            p.value = s.copy()
        want = g.run(outputs, feed={x: X}, updates=updates)   # g.run always copies
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
        for p, a in zip(ps, after, strict=True):
            np.testing.assert_array_equal(a, p.value)
    assert used >= 10                                  # the direct path really ran
