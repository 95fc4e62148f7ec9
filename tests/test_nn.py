"""gd.nn: Dense and MLP shapes, values, initialisation scale and reproducibility."""

import numpy as np
import pytest

import graphdiff as gd


def test_dense_params_and_forward():
    g = gd.Graph()
    x = g.input("x", shape=(None, 3))
    layer = gd.nn.Dense(g, 3, 2, activation=gd.tanh, rng=np.random.default_rng(0), name="7")
    W, b = layer.params
    assert (W.name, b.name) == ("W7", "b7")
    assert W.value.shape == (3, 2) and b.value.shape == (2,)
    assert np.all(b.value == 0.0)
    b.value = np.array([0.5, -0.25])
    X = np.arange(12.0).reshape(4, 3) / 10
    out = g.run(layer(x), feed={x: X})
    np.testing.assert_allclose(out, np.tanh(X @ W.value + b.value), rtol=1e-12)


@pytest.mark.parametrize("activation, init, std", [
    (gd.relu, "he", np.sqrt(2.0 / 800)),            # He: Var W = 2 / n_in
    (gd.tanh, "glorot", np.sqrt(2.0 / (800 + 400))),  # Glorot: Var W = 2 / (n_in + n_out)
    (None, "glorot", np.sqrt(2.0 / (800 + 400))),
])
def test_initialisation_scale(activation, init, std):
    g = gd.Graph()
    W = gd.nn.Dense(g, 800, 400, activation=activation, rng=np.random.default_rng(1)).W.value
    assert abs(W.std() / std - 1.0) < 0.02           # 320,000 draws: the estimate is tight
    assert abs(W.mean()) < 0.01 * std
    if init == "glorot":                              # uniform on [-limit, limit]
        assert np.abs(W).max() <= np.sqrt(6.0 / 1200)
    else:                                             # normal: some draws beyond 3 std
        assert np.abs(W).max() > 3 * std


def test_explicit_init_and_bad_init():
    g = gd.Graph()
    W = gd.nn.Dense(g, 800, 400, rng=np.random.default_rng(1), init="he").W.value
    assert abs(W.std() / np.sqrt(2.0 / 800) - 1.0) < 0.02
    with pytest.raises(ValueError, match="init"):
        gd.nn.Dense(g, 2, 2, init="xavier")


def test_rng_reproducibility():
    g = gd.Graph()
    a = gd.nn.MLP(g, [5, 7, 3], rng=np.random.default_rng(3))
    b = gd.nn.MLP(g, [5, 7, 3], rng=np.random.default_rng(3))
    c = gd.nn.MLP(g, [5, 7, 3], rng=np.random.default_rng(4))
    for pa, pb in zip(a.params, b.params, strict=True):
        np.testing.assert_array_equal(pa.value, pb.value)
    assert not np.array_equal(a.params[0].value, c.params[0].value)
    # layers of one MLP draw different weights from the shared generator
    d = gd.nn.MLP(g, [4, 4, 4], rng=np.random.default_rng(0))
    assert not np.array_equal(d.params[0].value, d.params[2].value)


def test_mlp_structure_and_values():
    g = gd.Graph()
    x = g.input("x", shape=(None, 4))
    mlp = gd.nn.MLP(g, [4, 6, 5, 3], rng=np.random.default_rng(0))
    assert [p.name for p in mlp.params] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert [p.value.shape for p in mlp.params] == [(4, 6), (6,), (6, 5), (5,), (5, 3), (3,)]
    for p in mlp.params[1::2]:
        p.value = np.linspace(-1, 1, p.value.size)
    W1, b1, W2, b2, W3, b3 = (p.value for p in mlp.params)
    X = np.random.default_rng(1).standard_normal((8, 4))

    def relu(v):
        return np.maximum(v, 0.0)

    expected = relu(relu(X @ W1 + b1) @ W2 + b2) @ W3 + b3
    out = g.run(mlp(x), feed={x: X})
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert out.min() < 0.0  # the last layer is linear: logits can be negative


def test_mlp_hidden_layers_he_last_glorot():
    g = gd.Graph()
    mlp = gd.nn.MLP(g, [900, 600, 300], rng=np.random.default_rng(0))
    W1, W2 = mlp.params[0].value, mlp.params[2].value
    assert abs(W1.std() / np.sqrt(2.0 / 900) - 1) < 0.02
    assert abs(W2.std() / np.sqrt(2.0 / 900) - 1) < 0.02  # Glorot: 2 / (600 + 300)
    assert np.abs(W2).max() <= np.sqrt(6.0 / 900)


def test_float32_model_stays_float32():
    g = gd.Graph()
    x = g.input("x", shape=(None, 3), dtype="float32")
    mlp = gd.nn.MLP(g, [3, 4, 2], rng=np.random.default_rng(0), dtype="float32")
    assert all(p.value.dtype == np.float32 for p in mlp.params)
    loss = gd.losses.softmax_cross_entropy(mlp(x), np.array([0, 1]))
    vals = g.run([mlp(x), *gd.grad(loss, mlp.params)], feed={x: np.ones((2, 3), np.float32)})
    assert all(v.dtype == np.float32 for v in vals)


def test_mlp_gradients_check():
    g = gd.Graph()
    x = g.input("x", shape=(None, 3))
    mlp = gd.nn.MLP(g, [3, 5, 2], activation=gd.tanh, rng=np.random.default_rng(0))
    loss = gd.losses.softmax_cross_entropy(mlp(x), np.array([0, 1, 1, 0]))
    X = np.random.default_rng(2).standard_normal((4, 3))
    gd.check_grad(loss, mlp.params, feed={x: X})


def test_mlp_needs_two_sizes():
    with pytest.raises(ValueError, match="at least"):
        gd.nn.MLP(gd.Graph(), [3])
