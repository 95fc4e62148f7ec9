"""Regressions found by an adversarial review of the core: each was a silent wrong result
or a crash on valid input."""

import numpy as np

import graphdiff as gd
from graphdiff.functional import add_n


def test_add_n_reusing_a_later_term_sums_every_term():
    g = gd.Graph()
    x = g.input("x", shape=(2048,))
    W = g.parameter(np.zeros(2048), name="W")
    z = gd.sum(W) + gd.sum(W.reshape((2, 1024))) + gd.sum(W * gd.exp(x))
    dW = gd.grad(z, W)
    X = np.zeros(2048)
    np.testing.assert_array_equal(g.function([x], dW)(X), g.run(dW, feed={x: X}))
    s = add_n([x, x, gd.exp(x)])
    np.testing.assert_allclose(g.function([x], s)(np.ones(2048)), 2.0 + np.e)


def test_fetched_views_of_leaves_are_copies():
    g = gd.Graph()
    c = g.constant(np.arange(4.0))
    r = g.run(gd.stop_gradient(c))
    r[0] = 100.0
    np.testing.assert_array_equal(g.run(c), np.arange(4.0))
    W = g.parameter(np.ones((2, 2)), name="W")
    wt = g.run(W.T)
    gd.optim.SGD([W], lr=1.0).step([np.ones((2, 2))])
    np.testing.assert_array_equal(wt, np.ones((2, 2)))
    a, b = g.run([W * 2.0, W * 2.0][:1] * 2)
    a[0, 0] = 7.0
    assert b[0, 0] != 7.0


def test_slices_of_unknown_sizes_have_unknown_static_sizes():
    g = gd.Graph()
    x = g.input("x", shape=(None,))
    assert x[:3].shape == (None,) and x[1].shape == ()
    y = g.input("y", shape=(None, 4))
    assert y[:, 1].shape == (None,) and y[0].shape == (4,) and y[..., :2].shape == (None, 2)
    np.testing.assert_allclose(g.run(gd.grad(gd.mean(x[:3]), x), feed={x: np.array([1.0, 5.0])}),
                               [0.5, 0.5])


def test_transpose_with_negative_axes_of_unknown_rank():
    g = gd.Graph()
    x = g.input("x", shape=None)
    R = np.random.default_rng(0).random((4, 2, 3))
    X = np.random.default_rng(1).random((2, 3, 4))
    dx = g.run(gd.grad(gd.sum(gd.transpose(x, (-1, 0, 1)) * R), x), feed={x: X})
    np.testing.assert_allclose(dx, np.transpose(R, (1, 2, 0)))


def test_integer_power_of_a_float_exponent_is_float():
    g = gd.Graph()
    y = g.input("y", shape=(3,), dtype="int8")
    out = g.run(y ** 2.0, feed={y: np.array([100, 20, 3], np.int8)})
    np.testing.assert_array_equal(out, [1e4, 400.0, 9.0])
    assert out.dtype == np.float64


def test_power_gradients_at_zero_base_and_zero_exponent_are_zero():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    np.testing.assert_array_equal(g.run(gd.grad(gd.sum(x ** 0.0), x), feed={x: np.zeros(3)}),
                                  np.zeros(3))
    p, q = g.input("p", shape=(3,)), g.input("q", shape=(3,))
    with np.errstate(divide="ignore", invalid="ignore"):
        dp = g.run(gd.grad(gd.sum(p ** q), p), feed={p: np.zeros(3), q: np.array([0.0, 2.0, 1.0])})
    np.testing.assert_array_equal(dp, [0.0, 0.0, 1.0])


# ---------------------------------------------------------------- review of issues 13 and 14
def test_cse_keeps_ops_whose_props_are_equal_only_by_python_equality_apart():
    # True == 1 and 0 == 0.0 == -0.0, yet x[True] adds an axis where x[1] removes one,
    # clip(int x, 0.0, 1.0) is float, clip(x, -0.0, 1.0) keeps a negative zero.
    g = gd.Graph()
    x = g.input("x", shape=(3, 3))
    X = np.arange(9.0).reshape(3, 3)
    for opt in (False, True):
        a, b = g.function([x], [x[True], x[1]], optimize=opt)(X)
        assert a.shape == (1, 3, 3) and b.shape == (3,)
    i = g.input("i", shape=(3,), dtype="int64")
    a, b = g.function([i], [gd.clip(i, 0, 1), gd.clip(i, 0.0, 1.0)])(np.array([-1, 1, 3]))
    assert a.dtype == np.int64 and b.dtype == np.float64
    y = g.input("y", shape=(2,))
    a, b = g.function([y], [gd.clip(y, -0.0, 1.0), gd.clip(y, 0.0, 1.0)])(np.array([-0.5, 2.0]))
    assert np.signbit(a[0]) and not np.signbit(b[0])
    # Equal parameters still merge.
    assert g.function([y], [gd.clip(y, 0.0, 1.0), gd.clip(y, 0.0, 1.0)]).rewrites.count_of(
        "cse") == 1


def test_rewrites_drop_no_random_draw_so_one_seed_gives_one_sequence():
    # x + zeros_like(u) is x, but dropping the add left u dead: its draw went, and every
    # later draw of the run came from another point of the generator's stream.
    from graphdiff.ops.shape import zeros_like

    def draws(kind):
        g = gd.Graph(seed=3)
        x = g.input("x", shape=(4,))
        u = g.random_uniform((4,))
        v = g.random_normal((4,))
        outs = [x + zeros_like(u), gd.sum(x.reshape((2, 2)).reshape((4,)) + zeros_like(u)), v]
        if kind == "run":
            return [g.run(outs, feed={x: np.ones(4)})[2] for _ in range(2)]
        f = g.function([x], outs, optimize=kind == "optimized")
        return [f(np.ones(4))[2] for _ in range(2)]

    expected = draws("run")
    for kind in ("plain", "optimized"):
        for a, b in zip(draws(kind), expected):
            np.testing.assert_array_equal(a, b)


def test_reshape_of_a_python_scalar_constant_runs():
    # found by the adversarial review: Reshape.forward called .reshape on a Python float
    g = gd.Graph()
    r = gd.reshape(g.constant(1.5), (1,))
    np.testing.assert_array_equal(g.run(r), [1.5])
    assert g.function([], [r])()[0].shape == (1,)


def test_stop_gradient_of_a_python_scalar_constant_stays_weak():
    # found by the adversarial review: typed float64 at build, float32 at run time
    g = gd.Graph()
    f = g.input("f", shape=(3,), dtype="float32")
    s = gd.stop_gradient(g.constant(1.5)) * f
    assert s.dtype == np.float32
    assert g.run(s, feed={f: np.ones(3, dtype=np.float32)}).dtype == np.float32
