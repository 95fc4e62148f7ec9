"""gd.optim: one step against hand-computed numbers, in-place updates, no allocation."""

import tracemalloc

import numpy as np
import pytest

import graphdiff as gd


def param(value, name="p"):
    g = gd.Graph()
    return g, g.parameter(np.array(value), name=name)


def test_sgd_one_step_by_hand():
    _, p = param([1.0, 2.0])
    array = p.value
    gd.optim.SGD([p], lr=0.1).step([np.array([0.5, -1.0])])
    np.testing.assert_array_equal(p.value, [0.95, 2.1])  # 1 - 0.1*0.5, 2 + 0.1*1
    assert p.value is array


def test_sgd_momentum_by_hand():
    _, p = param([1.0])
    opt = gd.optim.SGD([p], lr=0.5, momentum=0.9)
    opt.step([np.array([1.0])])       # v = 1.0,             p = 1 - 0.5      = 0.5
    np.testing.assert_allclose(p.value, [0.5], rtol=1e-15)
    opt.step([np.array([2.0])])       # v = 0.9*1 + 2 = 2.9, p = 0.5 - 1.45   = -0.95
    np.testing.assert_allclose(p.value, [-0.95], rtol=1e-15)
    opt.step([np.array([0.0])])       # v = 2.61,            p = -0.95 - 1.305 = -2.255
    np.testing.assert_allclose(p.value, [-2.255], rtol=1e-14)


def test_adam_two_steps_by_hand():
    _, p = param([1.0, -0.5])
    array = p.value
    opt = gd.optim.Adam([p], lr=0.1)
    opt.step([np.array([0.5, -2.0])])
    # step 1: m_hat = g, v_hat = g**2, so each entry moves by lr * sign(g)
    np.testing.assert_allclose(p.value, [0.9, -0.4], rtol=1e-7)
    opt.step([np.array([-1.0, 1.0])])
    # step 2, first entry: m = 0.9*0.05 - 0.1 = -0.055, v = 0.999*0.00025 + 0.001 = 0.00124975,
    # m_hat = -0.055/0.19, v_hat = 0.00124975/0.001999, p = 0.9 - 0.1*m_hat/sqrt(v_hat)
    np.testing.assert_allclose(p.value, [0.93661035, -0.3733663], rtol=1e-7)
    assert p.value is array and opt.t == 2


def test_updates_are_seen_by_the_graph():
    g, p = param([1.0, 2.0])
    opt = gd.optim.Adam([p], lr=0.5)
    opt.step([np.array([1.0, 1.0])])
    np.testing.assert_allclose(g.run(p * 1.0), [0.5, 1.5], rtol=1e-7)


@pytest.mark.parametrize("make", [lambda ps: gd.optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: gd.optim.Adam(ps, lr=0.01),
                                  lambda ps: gd.optim.AdamW(ps, lr=0.01),
                                  lambda ps: gd.optim.RMSprop(ps, momentum=0.5),
                                  lambda ps: gd.optim.Adam(ps, weight_decay=0.1)])
def test_step_allocates_nothing_large(make):
    _, p = param(np.ones(500_000))               # 4 MB
    grad = np.full(500_000, 0.5)
    opt = make([p])
    opt.step([grad])                              # warm up
    tracemalloc.start()
    try:
        opt.step([grad])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000, f"step allocated {peak} bytes"


def test_float32_parameter_stays_float32():
    _, p = param(np.ones(3, dtype=np.float32))
    for opt in (gd.optim.SGD([p], lr=0.1, momentum=0.5), gd.optim.Adam([p], lr=0.1),
                gd.optim.AdamW([p]), gd.optim.RMSprop([p], momentum=0.5, weight_decay=0.1)):
        opt.step([np.full(3, 0.5)])               # float64 gradients
        assert p.value.dtype == np.float32


def test_scalar_parameter():
    _, p = param(2.0)
    gd.optim.SGD([p], lr=0.25).step([np.array(4.0)])
    assert float(p.value) == 1.0


def test_bad_arguments():
    g, p = param([1.0, 2.0])
    opt = gd.optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="2 gradients for 1"):
        opt.step([np.zeros(2), np.zeros(2)])
    with pytest.raises(ValueError, match="shape"):
        opt.step([np.zeros(3)])
    with pytest.raises(TypeError, match="parameters"):
        gd.optim.Adam([g.input("x", shape=(2,))])


def test_optimizers_minimise_a_quadratic():
    target = np.array([3.0, -1.0])
    for make in (lambda ps: gd.optim.SGD(ps, lr=0.1, momentum=0.9),
                 lambda ps: gd.optim.Adam(ps, lr=0.1),
                 lambda ps: gd.optim.AdamW(ps, lr=0.1, weight_decay=0.0),
                 lambda ps: gd.optim.RMSprop(ps, lr=0.05)):
        g, p = param([0.0, 0.0])
        loss = gd.sum((p - target) ** 2)
        f = g.function([], [loss, gd.grad(loss, p)])
        opt = make([p])
        for _ in range(300):
            _, dp = f()
            opt.step([dp])
        np.testing.assert_allclose(p.value, target, atol=1e-3)
