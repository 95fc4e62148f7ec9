"""gd.optim against NumPy re-implementations of torch's documented update formulas.

Each reference below is written from torch.optim's documentation (the algorithm boxes
of SGD, Adam, AdamW and RMSprop), one parameter, plain loops, nothing shared with the
package. ``step`` (in place) and ``updates`` (graph nodes, run with ``g.run`` and assigned
by hand, as ``g.function(updates=)`` will do) must both follow them.
"""

import os

import numpy as np
import pytest

import graphdiff as gd


def torch_sgd(p, grads, lr, momentum=0.0, weight_decay=0.0):
    p, buf = p.copy(), None
    for g in grads:
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + g
            g = buf
        p = p - lr * g
    return p


def torch_adam(p, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    p, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat = m / (1 - betas[0] ** t)
        v_hat = v / (1 - betas[1] ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def torch_rmsprop(p, grads, lr, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0):
    p, sq, buf = p.copy(), np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        g = g + weight_decay * p
        sq = alpha * sq + (1 - alpha) * g * g
        if momentum:
            buf = momentum * buf + g / (np.sqrt(sq) + eps)
            p = p - lr * buf
        else:
            p = p - lr * g / (np.sqrt(sq) + eps)
    return p


RNG = np.random.default_rng(0)
P0 = RNG.standard_normal((3, 4))
GRADS = [RNG.standard_normal((3, 4)) for _ in range(6)]

CASES = [
    ("sgd", lambda ps: gd.optim.SGD(ps, lr=0.1), lambda: torch_sgd(P0, GRADS, 0.1)),
    ("sgd-momentum-decay", lambda ps: gd.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.1),
     lambda: torch_sgd(P0, GRADS, 0.05, momentum=0.9, weight_decay=0.1)),
    ("adam", lambda ps: gd.optim.Adam(ps, lr=0.01), lambda: torch_adam(P0, GRADS, 0.01)),
    ("adam-decay", lambda ps: gd.optim.Adam(ps, lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6,
                                            weight_decay=0.2),
     lambda: torch_adam(P0, GRADS, 0.01, (0.8, 0.99), 1e-6, weight_decay=0.2)),
    ("adamw", lambda ps: gd.optim.AdamW(ps, lr=0.01),
     lambda: torch_adam(P0, GRADS, 0.01, weight_decay=1e-2, decoupled=True)),
    ("adamw-strong", lambda ps: gd.optim.AdamW(ps, lr=0.1, weight_decay=0.5),
     lambda: torch_adam(P0, GRADS, 0.1, weight_decay=0.5, decoupled=True)),
    ("rmsprop", lambda ps: gd.optim.RMSprop(ps), lambda: torch_rmsprop(P0, GRADS, 1e-2)),
    ("rmsprop-momentum-decay",
     lambda ps: gd.optim.RMSprop(ps, lr=0.003, alpha=0.9, eps=1e-5, momentum=0.8,
                                 weight_decay=0.3),
     lambda: torch_rmsprop(P0, GRADS, 0.003, 0.9, 1e-5, momentum=0.8, weight_decay=0.3)),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name, make, reference", CASES, ids=IDS)
def test_step_follows_torch(name, make, reference):
    g = gd.Graph()
    p = g.parameter(P0, name="p")
    array = p.value
    opt = make([p])
    for gr in GRADS:
        opt.step([gr])
    np.testing.assert_allclose(p.value, reference(), rtol=1e-12, atol=1e-14)
    assert p.value is array and opt.t == len(GRADS)


def run_updates(g, updates, feed=None):
    """One step of an updates dict: every new value from the old ones, then assigned."""
    keys = list(updates)
    values = g.run([updates[k] for k in keys], feed=feed)
    for k, v in zip(keys, values):
        k.value = v


@pytest.mark.parametrize("name, make, reference", CASES, ids=IDS)
def test_updates_follow_step(name, make, reference):
    """updates() advances the same numbers as step() on a copy, state included."""
    g = gd.Graph()
    p = g.parameter(P0, name="p")
    gin = g.input("grad", shape=P0.shape)
    opt = make([p])
    up = opt.updates([gin])
    assert p in up and all(k.kind == "parameter" for k in up)
    assert opt.t == 0

    h = gd.Graph()
    q = h.parameter(P0, name="q")
    twin = make([q])
    for k, gr in enumerate(GRADS):
        run_updates(g, up, feed={gin: gr})
        twin.step([gr])
        np.testing.assert_allclose(p.value, q.value, rtol=1e-13, atol=1e-15)
        assert opt.t == twin.t == k + 1
    np.testing.assert_allclose(p.value, reference(), rtol=1e-12, atol=1e-14)
    sd, sd_twin = opt.state_dict(), twin.state_dict()
    assert sd.keys() == sd_twin.keys()
    for key in sd:
        np.testing.assert_allclose(sd[key], sd_twin[key], rtol=1e-13, atol=1e-15)


def test_updates_of_a_real_gradient_and_a_changed_lr():
    g = gd.Graph()
    x = g.input("x", shape=(None, 2))
    w = g.parameter(np.array([0.5, -1.0]), name="w")
    loss = gd.mean((x @ w - 1.0) ** 2)
    opt = gd.optim.Adam([w], lr=0.1)
    up = opt.updates(gd.grad(loss, [w]))
    twin_g = gd.Graph()
    v = twin_g.parameter(np.array([0.5, -1.0]), name="v")
    twin = gd.optim.Adam([v], lr=0.1)
    X = np.random.default_rng(3).standard_normal((8, 2))
    for k in range(4):
        if k == 2:
            opt.lr = twin.lr = 0.02          # the lr node follows the attribute
        grad_v = 2 * X.T @ (X @ v.value - 1.0) / len(X)
        run_updates(g, up, feed={x: X})
        twin.step([grad_v])
        np.testing.assert_allclose(w.value, v.value, rtol=1e-12)


def test_step_and_updates_share_state():
    """After updates() the buffers are graph parameters: step() advances those."""
    g = gd.Graph()
    p = g.parameter(np.array([1.0, 2.0]), name="p")
    gin = g.input("g", shape=(2,))
    opt = gd.optim.SGD([p], lr=0.1, momentum=0.5)
    opt.step([np.array([1.0, 1.0])])             # v = 1
    up = opt.updates([gin])
    opt.step([np.array([1.0, 1.0])])             # v = 1.5, t = 2
    run_updates(g, up, feed={gin: np.zeros(2)})  # v = 0.75, t = 3
    assert opt.t == 3
    np.testing.assert_allclose(opt.buffers(0)["momentum_buffer"], [0.75, 0.75])
    np.testing.assert_allclose(p.value, np.array([1.0, 2.0]) - 0.1 * (1 + 1.5 + 0.75))


def test_float32_updates_stay_float32():
    g = gd.Graph()
    p = g.parameter(np.ones(3, dtype=np.float32), name="p")
    gin = g.input("g", shape=(3,), dtype="float32")
    for opt in (gd.optim.Adam([p], lr=0.1, weight_decay=0.1), gd.optim.RMSprop([p], momentum=0.5),
                gd.optim.AdamW([p]), gd.optim.SGD([p], lr=0.1, momentum=0.9)):
        up = opt.updates([gin])
        assert all(n.dtype == np.float32 for n in up.values()), opt
        run_updates(g, up, feed={gin: np.full(3, 0.5, np.float32)})
        assert p.value.dtype == np.float32


def test_updates_skip_a_missing_gradient_and_check_arguments():
    g = gd.Graph()
    a = g.parameter(np.ones(2), name="a")
    b = g.parameter(np.ones(3), name="b")
    opt = gd.optim.SGD([a, b], lr=0.1)
    up = opt.updates([a * 2.0, None])
    assert b not in up and a in up
    with pytest.raises(ValueError, match="1 gradients for 2"):
        opt.updates([a])
    with pytest.raises(TypeError, match="Nodes"):
        opt.updates([np.ones(2), None])
    with pytest.raises(ValueError, match="shape"):
        opt.updates([b * 1.0, None])
    other = gd.Graph().parameter(np.ones(2))
    with pytest.raises(ValueError, match="one graph"):
        gd.optim.SGD([a, other], lr=0.1).updates([None, None])
    gd.optim.SGD([a, b], lr=0.1).step([np.ones(2), None])  # step skips None as torch
    np.testing.assert_allclose(b.value, np.ones(3))


# ---------------------------------------------------------------- state_dict
@pytest.mark.parametrize("name, make, reference", CASES, ids=IDS)
def test_state_dict_resumes_training(name, make, reference, tmp_path):
    """Three steps, save, a fresh optimizer loads, three more: the uninterrupted result."""
    g = gd.Graph()
    p = g.parameter(P0, name="p")
    opt = make([p])
    for gr in GRADS[:3]:
        opt.step([gr])
    sd = opt.state_dict()
    for value in sd.values():
        assert isinstance(value, (int, float, np.ndarray)), type(value)
    path = os.path.join(tmp_path, "opt.npz")
    gd.optim.save_state(path, opt)
    gd.save(os.path.join(tmp_path, "p.npz"), [p])

    h = gd.Graph()
    q = h.parameter(np.zeros_like(P0), name="q")
    gd.load(os.path.join(tmp_path, "p.npz"), [q])
    resumed = make([q])
    resumed.lr = 123.0                            # restored from the file
    gd.optim.load_state(path, resumed)
    assert resumed.t == 3 and resumed.lr == opt.lr
    for gr in GRADS[3:]:
        resumed.step([gr])
    np.testing.assert_allclose(q.value, reference(), rtol=1e-12, atol=1e-14)
    # the state_dict was a copy: stepping did not change it
    assert sd["t"] == 3


def test_state_dict_is_a_copy_and_load_checks_everything():
    g = gd.Graph()
    p = g.parameter(np.ones(2), name="p")
    opt = gd.optim.Adam([p], lr=0.1)
    opt.step([np.ones(2)])
    sd = opt.state_dict()
    sd["state.0.exp_avg"][:] = 99.0
    assert not np.any(opt.buffers(0)["exp_avg"] == 99.0)
    with pytest.raises(ValueError, match="keys"):
        opt.load_state_dict({"lr": 0.1})
    bad = opt.state_dict()
    bad["state.0.exp_avg_sq"] = np.ones(3)
    bad["lr"] = 0.5
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(bad)
    assert opt.lr == 0.1                          # nothing half-loaded
    with pytest.raises(ValueError, match="keys"):
        gd.optim.SGD([p], lr=0.1).load_state_dict(opt.state_dict())


def test_state_dict_after_updates_holds_the_graph_state():
    g = gd.Graph()
    p = g.parameter(np.ones(2), name="p")
    gin = g.input("g", shape=(2,))
    opt = gd.optim.RMSprop([p], lr=0.1, momentum=0.5)
    up = opt.updates([gin])
    run_updates(g, up, feed={gin: np.ones(2)})
    sd = opt.state_dict()
    assert sd["t"] == 1
    np.testing.assert_allclose(sd["state.0.square_avg"], [0.01, 0.01])
    sd["t"] = 7
    sd["state.0.square_avg"] = np.full(2, 4.0)
    opt.load_state_dict(sd)                       # writes into the graph's state nodes
    assert opt.t == 7
    run_updates(g, up, feed={gin: np.zeros(2)})
    np.testing.assert_allclose(opt.buffers(0)["square_avg"], [3.96, 3.96])
    assert opt.t == 8


def test_bad_hyperparameters():
    g = gd.Graph()
    p = g.parameter(np.ones(2))
    with pytest.raises(ValueError, match="lr"):
        gd.optim.SGD([p], lr=-1.0)
    with pytest.raises(TypeError, match="weight_decay"):
        gd.optim.Adam([p], weight_decay="a lot")
    opt = gd.optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        opt.lr = float("nan")


# ---------------------------------------------------------------- clipping
def torch_clip(grads, max_norm):
    total = np.sqrt(sum(np.sum(g * g) for g in grads))
    coef = max_norm / (total + 1e-6)
    return [g * min(coef, 1.0) for g in grads]


@pytest.mark.parametrize("max_norm", [0.5, 3.0, 100.0])
def test_clip_grad_norm_follows_torch(max_norm):
    g = gd.Graph()
    a, b = g.constant(GRADS[0]), g.constant(GRADS[1][0])
    clipped = gd.optim.clip_grad_norm([a, None, b], max_norm)
    assert clipped[1] is None
    got = g.run([clipped[0], clipped[2]])
    for x, y in zip(got, torch_clip([GRADS[0], GRADS[1][0]], max_norm)):
        np.testing.assert_allclose(x, y, rtol=1e-13)


def test_clip_grad_norm_is_differentiable():
    g = gd.Graph()
    w = g.parameter(np.array([1.0, -2.0, 0.5]), name="w")
    (dw,) = gd.grad(gd.sum(w ** 3), [w])
    (c,) = gd.optim.clip_grad_norm([dw], 1.0)
    gd.check_grad(gd.sum(c * np.array([1.0, 2.0, 3.0])), [w])
    np.testing.assert_allclose(np.linalg.norm(g.run(c)), 1.0, rtol=1e-5)


def test_load_state_refuses_another_optimizers_file(tmp_path):
    g = gd.Graph()
    p = g.parameter(np.ones(2), name="p")
    path = os.path.join(tmp_path, "sgd.npz")
    gd.optim.save_state(path, gd.optim.SGD([p], lr=0.1, momentum=0.9))
    adam = gd.optim.Adam([p])
    with pytest.raises(gd.FileFormatError):
        gd.optim.load_state(path, adam)
    assert adam.lr == 1e-3 and adam.t == 0
