"""Random nodes, gd.shape_of and gd.dropout.

The draws cannot be checked against a NumPy reference value by value (they are
excluded from op_specs' coverage test for that reason); here: fresh values at every
run, one seed giving one sequence of runs in g.run and compiled functions alike, the
distributions, static shapes, zero gradients in both modes, never merged by CSE, saving
and loading, and dropout's mask, scale and flags.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ops import random as RD


def _draws(how, seed, runs=3):
    g = gd.Graph(seed=seed)
    x = g.input("x", shape=(None, 3))
    u = g.random_uniform((gd.shape_of(x)[0], 2), low=-1.0, high=2.0)
    z = g.random_normal((4,))
    X = np.zeros((5, 3))
    if how == "run":
        return [g.run([u, z], feed={x: X}) for _ in range(runs)]
    f = g.function([x], [u, z])
    return [f(X) for _ in range(runs)]


def test_one_seed_gives_one_sequence_of_runs_in_run_and_function():
    a, b, c = _draws("run", 7), _draws("function", 7), _draws("run", 8)
    for (ua, za), (ub, zb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(ua, ub)
        np.testing.assert_array_equal(za, zb)
    assert not np.array_equal(a[0][0], c[0][0])
    assert not np.array_equal(a[0][0], a[1][0])          # fresh values at every run
    assert a[0][0].shape == (5, 2)


def test_the_draws_follow_the_graphs_generator():
    g = gd.Graph(seed=3)
    u = g.random_uniform((5,))
    z = g.random_normal((2, 2), dtype="float32")
    vu, vz = g.run([u, z])
    ref = np.random.default_rng(3)                        # creation order within a run
    np.testing.assert_array_equal(vu, ref.random((5,)))
    np.testing.assert_array_equal(vz, ref.standard_normal((2, 2), dtype=np.float32))
    g.rng = np.random.default_rng(3)                      # reseeding replays the runs
    np.testing.assert_array_equal(g.run(u), vu)


def test_distributions_and_dtypes():
    g = gd.Graph(seed=0)
    n = 200_000
    u = g.random_uniform((n,), low=2.0, high=5.0)
    z = g.random_normal((n,))
    u32 = g.random_uniform((n,), dtype="float32")
    vu, vz, v32 = g.run([u, z, u32])
    assert vu.min() >= 2.0 and vu.max() < 5.0
    assert abs(vu.mean() - 3.5) < 0.01 and abs(vu.var() - 9 / 12) < 0.01
    assert abs(vz.mean()) < 0.01 and abs(vz.std() - 1.0) < 0.01
    assert v32.dtype == np.float32 and u32.dtype == np.float32 and u.dtype == np.float64
    assert 0.0 <= v32.min() and v32.max() < 1.0


def test_static_shapes_as_far_as_known():
    g = gd.Graph()
    x = g.input("x", shape=(None, 3))
    s = gd.shape_of(x)
    assert s.shape == (2,) and s.dtype == np.int64
    assert g.random_uniform((s[0], 4)).shape == (None, 4)
    assert g.random_normal((2, 3)).shape == (2, 3)
    assert g.random_normal(5).shape == (5,)
    assert g.random_uniform(()).shape == () and np.shape(g.run(g.random_uniform(()))) == ()
    assert gd.uniform_like(x).shape == (None, 3)
    unknown = g.input("u", shape=None)
    assert gd.shape_of(unknown).shape == (None,) and gd.uniform_like(unknown).shape is None
    val = g.run(gd.uniform_like(unknown), feed={unknown: np.zeros((2, 1, 3))})
    assert val.shape == (2, 1, 3)
    int32 = g.input("n", shape=(), dtype="int32")
    assert g.run(g.random_uniform((int32, 2)), feed={int32: 3}).shape == (3, 2)


def test_uniform_like_takes_the_float_dtype_of_x():
    g = gd.Graph()
    assert gd.uniform_like(g.input("a", shape=(2,), dtype="float32")).dtype == np.float32
    assert gd.uniform_like(g.input("b", shape=(2,), dtype="int64")).dtype == np.float64


def test_bad_arguments_are_graph_errors_naming_the_call():
    g = gd.Graph()
    x = g.input("x", shape=(None, 3))
    with pytest.raises(gd.GraphError, match=r"sizes >= 0.*-1.*test_random.py"):
        g.random_uniform((2, -1))
    with pytest.raises(gd.GraphError, match="sizes >= 0"):
        g.random_normal((2.0, 3))
    with pytest.raises(gd.GraphError, match="integer scalar"):
        g.random_normal((gd.shape_of(x), 3))
    with pytest.raises(gd.GraphError, match="integer scalar"):
        g.random_normal((gd.sum(x), 3))
    with pytest.raises(gd.GraphError, match="another graph"):
        g.random_normal((gd.shape_of(gd.Graph().input("y", shape=(2,)))[0],))
    with pytest.raises(TypeError, match="float32 or float64"):
        g.random_uniform((2,), dtype="int64")
    with pytest.raises(gd.GraphError, match="low <= high"):
        g.random_uniform((2,), low=1.0, high=0.0)
    with pytest.raises(TypeError, match="graph Node"):
        gd.shape_of(np.zeros(3))


def test_gradients_are_zero_and_the_draw_is_shared_within_a_run():
    g = gd.Graph(seed=1)
    x = g.input("x", shape=(None, 3))
    u = gd.uniform_like(x)
    y = gd.sum(x * u)
    dx, du_only = gd.grad(y, [x]) + [gd.grad(gd.sum(u), x)]
    X = np.ones((4, 3))
    vu, vdx, vdu = g.run([u, dx, du_only], feed={x: X})
    np.testing.assert_array_equal(vdx, vu)                # one draw per run, both read it
    np.testing.assert_array_equal(vdu, 0.0)
    tangent = gd.jvp(x * u, [x], [g.constant(np.full((4, 3), 2.0))])
    vu, vt = g.run([u, tangent], feed={x: X})
    np.testing.assert_array_equal(vt, 2.0 * vu)


def test_random_ops_are_stateful_and_never_merged():
    g = gd.Graph()
    a, b = g.random_uniform((3,)), g.random_uniform((3,))
    assert a.op.stateful and not gd.exp(a).op.stateful
    assert a.op != b.op and a.op == a.op
    assert gd.cse(g.nodes)[b] is b
    va, vb = g.run([a, b])
    assert not np.array_equal(va, vb)
    assert not RD.ShapeOf.stateful and RD.ShapeOf() == RD.ShapeOf()


def test_save_and_load_a_graph_with_random_nodes(tmp_path):
    g = gd.Graph(seed=0)
    x = g.input("x", shape=(None, 2))
    y = gd.dropout(x, 0.5, training=True) + g.random_normal((gd.shape_of(x)[0], 1))
    path = os.path.join(tmp_path, "g.npz")
    g.save(path)
    h = gd.io.load_graph(path)
    out = h.nodes[y.index]
    assert type(out.op) is type(y.op) and out.shape == y.shape
    hx = h.find("x")
    h.rng = np.random.default_rng(5)
    first = h.run(out, feed={hx: np.ones((6, 2))})
    assert first.shape == (6, 2)
    h.rng = np.random.default_rng(5)                      # the loaded graph's own generator
    np.testing.assert_array_equal(h.run(out, feed={hx: np.ones((6, 2))}), first)
    g.rng = np.random.default_rng(5)
    np.testing.assert_array_equal(g.run(y, feed={x: np.ones((6, 2))}), first)


def test_a_random_walk_through_updates_is_reproducible():
    walks = []
    for how in ("run", "function"):
        g = gd.Graph(seed=11)
        w = g.parameter(np.zeros(3), name="w")
        new = w + g.random_normal((3,))
        f = g.function([], [], updates={w: new})
        for _ in range(4):
            g.run([], updates={w: new}) if how == "run" else f()
        walks.append(w.value.copy())
    np.testing.assert_array_equal(walks[0], walks[1])
    assert np.any(walks[0] != 0.0)


# ---------------------------------------------------------------- dropout
def test_dropout_mask_scale_and_fresh_masks():
    g = gd.Graph(seed=2)
    x = g.input("x", shape=(None, 1000))
    y = gd.dropout(x, 0.25, training=True)
    X = np.ones((100, 1000))
    a, b = g.run(y, feed={x: X}), g.run(y, feed={x: X})
    assert set(np.unique(a)) == {0.0, 1.0 / 0.75}
    assert abs((a == 0).mean() - 0.25) < 0.01               # rate of zeros
    assert abs(a.mean() - 1.0) < 0.01                       # inverted: the mean is kept
    assert np.mean(a != b) > 0.3                            # a fresh mask at every run


def test_dropout_gradient_is_the_runs_mask():
    g = gd.Graph(seed=4)
    x = g.input("x", shape=(None, 5))
    y = gd.dropout(x, 0.4, training=True)
    dx = gd.grad(gd.sum(y * 3.0), x)
    X = np.random.default_rng(0).uniform(1.0, 2.0, (6, 5))
    vy, vdx = g.run([y, dx], feed={x: X})
    kept = vy != 0
    np.testing.assert_allclose(vdx, np.where(kept, 3.0 / 0.6, 0.0))
    np.testing.assert_allclose(vy[kept], X[kept] / 0.6)


def test_dropout_with_a_fixed_noise_passes_check_grad():
    g = gd.Graph()
    x = g.input("x", shape=(3, 4))
    noise = g.input("noise", shape=(3, 4))
    y = gd.dropout(gd.tanh(x), 0.5, True, noise=noise)
    z = gd.sum(y * y * x)
    rng = np.random.default_rng(0)
    feed = {x: rng.standard_normal((3, 4)), noise: rng.random((3, 4))}
    gd.check_grad(z, [x], feed=feed)
    dx = gd.grad(z, x)
    gd.check_grad(gd.sum(dx * dx), [x], feed=feed)          # second order


def test_dropout_identity_cases_and_flags():
    g = gd.Graph(seed=0)
    x = g.input("x", shape=(None, 8), dtype="float32")
    assert gd.dropout(x, 0.5, training=False) is x
    assert gd.dropout(x, 0.0, training=True) is x
    assert gd.dropout(x, 0.5, training=np.bool_(False)) is x
    X = np.ones((4, 8), np.float32)
    zero = g.run(gd.dropout(x, 1.0, training=True), feed={x: X})
    assert zero.dtype == np.float32 and not zero.any()
    y = gd.dropout(x, 0.5, training=True)
    assert y.dtype == np.float32 and g.run(y, feed={x: X}).dtype == np.float32
    flag = g.input("training", shape=(), dtype="bool")
    yf = gd.dropout(x, 0.5, training=flag)
    np.testing.assert_array_equal(g.run(yf, feed={x: X, flag: False}), X)
    on = g.run(yf, feed={x: X, flag: True})
    assert set(np.unique(on)) <= {0.0, 2.0} and (on == 0).any()


def test_dropout_argument_errors():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    for rate in (-0.1, 1.5, True, "0.5"):
        with pytest.raises(gd.GraphError, match=r"rate must be a number in \[0, 1\]"):
            gd.dropout(x, rate, True)
    with pytest.raises(TypeError, match="bool or a boolean scalar Node"):
        gd.dropout(x, 0.5, training=1)
    with pytest.raises(gd.GraphError, match="boolean scalar Node"):
        gd.dropout(x, 0.5, training=g.input("t", shape=(), dtype="float64"))
    with pytest.raises(TypeError, match="graph Node"):
        gd.dropout(np.ones(2), 0.5, True)


def test_nn_dropout_layer():
    g = gd.Graph(seed=0)
    x = g.input("x", shape=(None, 10))
    layer = gd.nn.Dropout(0.5)
    assert layer.params == [] and layer(x) is x and layer(x, training=False) is x
    out = g.run(layer(x, training=True), feed={x: np.ones((3, 10))})
    assert set(np.unique(out)) <= {0.0, 2.0}
    with pytest.raises(gd.GraphError, match="rate"):
        gd.nn.Dropout(2.0)
    net = gd.nn.Sequential(gd.nn.Dense(g, 10, 4, rng=np.random.default_rng(0)), layer)
    assert len(net.params) == 2 and net(x, training=False).op is not None


def test_check_grad_refuses_random_nodes_with_a_clear_error():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    z = gd.sum(gd.dropout(x, 0.5, True))
    with pytest.raises(gd.GradError, match="draws fresh values.*noise="):
        gd.check_grad(z, [x], feed={x: np.ones(3)})
    with pytest.raises(gd.GradError, match="draws fresh values"):
        gd.check_jvp(z, [x], feed={x: np.ones(3)})


# ---------------------------------------------------------------- a library refusing NumPy
from test_runtime import Boxed, boxed_backend  # noqa: E402, F401  (the CuPy stand-in)


@pytest.mark.parametrize("compiled", [False, True], ids=["run", "function"])
def test_draws_follow_a_device_library(boxed_backend, compiled):  # noqa: F811
    """Dropout and static-shape draws on arrays that refuse NumPy operands (as CuPy's):
    the host draw moves to the input's library; the seed still fixes the sequence."""
    outs = []
    for _ in range(2):
        g = gd.Graph(seed=9)
        x = g.input("x", shape=(None, 4))
        y = gd.dropout(x, 0.5, training=True) + g.random_normal((4,))
        X = Boxed(np.ones((3, 4)))
        out = g.function([x], y)(X) if compiled else g.run(y, feed={x: X})
        assert isinstance(out, Boxed)
        outs.append(out.data)
    np.testing.assert_array_equal(outs[0], outs[1])
    ref = np.random.default_rng(9)
    u = ref.random((3, 4))
    z = ref.standard_normal((4,))
    np.testing.assert_allclose(outs[0], np.where(u >= 0.5, 2.0, 0.0) + z)


def test_threads_draw_from_one_generator_safely():
    """NumPy's Generator serialises its draws: concurrent runs get valid, distinct masks."""
    import threading

    g = gd.Graph(seed=0)
    x = g.input("x", shape=(None, 256))
    f = g.function([x], gd.dropout(x, 0.5, training=True))
    X = np.ones((64, 256))
    results, errors = [], []

    def work():
        try:
            for _ in range(10):
                results.append(f(X))
        except Exception as exc:   # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 40
    assert all(set(np.unique(r)) <= {0.0, 2.0} for r in results)
    assert len({r.tobytes() for r in results}) == 40
