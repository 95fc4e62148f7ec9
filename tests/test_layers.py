"""gd.nn's Flatten, LayerNorm, Embedding and Sequential against NumPy forms of torch's layers."""

import numpy as np
import pytest

import graphdiff as gd


def torch_layer_norm(x, shape, gamma, beta, eps=1e-5):
    """torch.nn.functional.layer_norm: biased variance over the trailing dims."""
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


@pytest.mark.parametrize("shape, normalized", [((4, 5), 5), ((2, 3, 4), (3, 4)), ((6,), (6,))])
def test_layer_norm_matches_torch(shape, normalized):
    rng = np.random.default_rng(0)
    g = gd.Graph()
    x = g.input("x", shape=(None,) + shape[1:] if len(shape) > 1 else shape)
    ln = gd.nn.LayerNorm(g, normalized, eps=1e-3)
    assert ln.params == [ln.gamma, ln.beta]
    norm = (normalized,) if isinstance(normalized, int) else normalized
    np.testing.assert_array_equal(ln.gamma.value, np.ones(norm))
    np.testing.assert_array_equal(ln.beta.value, np.zeros(norm))
    ln.gamma.value = rng.standard_normal(norm)
    ln.beta.value = rng.standard_normal(norm)
    X = rng.standard_normal(shape) * 3 + 1
    np.testing.assert_allclose(g.run(ln(x), feed={x: X}),
                               torch_layer_norm(X, norm, ln.gamma.value, ln.beta.value, 1e-3),
                               rtol=1e-12, atol=1e-12)
    w = rng.standard_normal(shape)
    gd.check_grad(gd.sum(ln(x) * w), [x, ln.gamma, ln.beta], feed={x: X})


def test_layer_norm_float32_and_bad_shapes():
    g = gd.Graph()
    x = g.input("x", shape=(None, 3), dtype="float32")
    ln = gd.nn.LayerNorm(g, 3, dtype="float32")
    out = g.run(ln(x), feed={x: np.arange(6, dtype=np.float32).reshape(2, 3)})
    assert out.dtype == np.float32
    with pytest.raises(gd.GraphError, match="normalized_shape"):
        gd.nn.LayerNorm(g, 4)(x)
    with pytest.raises(ValueError, match="normalized_shape"):
        gd.nn.LayerNorm(g, ())


def test_embedding_lookup_gradient_and_init():
    g = gd.Graph()
    emb = gd.nn.Embedding(g, 1000, 50, rng=np.random.default_rng(1))
    assert emb.params == [emb.W] and emb.W.value.shape == (1000, 50)
    W = emb.W.value
    assert abs(W.mean()) < 0.01 and abs(W.std() - 1.0) < 0.01     # N(0, 1), as torch

    small = gd.nn.Embedding(g, 4, 3, rng=np.random.default_rng(2))
    idx = np.array([[1, 3], [1, 1]])
    ids = g.input("ids", shape=(None, 2), dtype="int64")
    weights = np.random.default_rng(3).standard_normal((2, 2, 3))
    for out in (small(idx), small(ids)):
        np.testing.assert_array_equal(g.run(out, feed={ids: idx}), small.W.value[idx])
        (dW,) = gd.grad(gd.sum(out * weights), [small.W])
        expected = np.zeros((4, 3))
        np.add.at(expected, idx, weights)                           # repeated rows add up
        np.testing.assert_allclose(g.run(dW, feed={ids: idx}), expected, rtol=1e-15)
    with pytest.raises(IndexError, match="4 rows"):
        small(np.array([4]))
    with pytest.raises(TypeError, match="integer"):
        small(np.array([0.5]))
    with pytest.raises(TypeError, match="integer"):
        small(g.input("f", shape=(2,)))


def test_flatten():
    g = gd.Graph()
    x = g.input("x", shape=(None, 2, 3, 4))
    X = np.arange(48.0).reshape(2, 2, 3, 4)
    assert gd.nn.Flatten().params == []
    np.testing.assert_array_equal(g.run(gd.nn.Flatten()(x), feed={x: X}), X.reshape(2, 24))
    np.testing.assert_array_equal(g.run(gd.nn.Flatten(2)(x), feed={x: X}), X.reshape(2, 2, 12))
    y = g.input("y", shape=(2, None))
    np.testing.assert_array_equal(g.run(gd.nn.Flatten(0)(y), feed={y: np.ones((2, 5))}),
                                  np.ones(10))
    with pytest.raises(gd.GraphError, match="unknown"):
        gd.nn.Flatten()(g.input("z", shape=(None, None)))


class Recorder:
    """A layer that records the training flag it was called with."""

    def __init__(self, g):
        self.params = [g.parameter(np.ones(1), name="r")]
        self.updates = {self.params[0]: self.params[0] * 0.5}
        self.seen = []

    def __call__(self, x, training=False):
        self.seen.append(training)
        return x * self.params[0]


def test_sequential_forwards_training_and_merges():
    g = gd.Graph()
    x = g.input("x", shape=(None, 3))
    rng = np.random.default_rng(0)
    d1, rec, d2 = gd.nn.Dense(g, 3, 4, rng=rng), Recorder(g), gd.nn.Dense(g, 4, 2, rng=rng)
    net = gd.nn.Sequential(d1, gd.tanh, rec, d2)
    assert net.params == d1.params + rec.params + d2.params
    assert net.updates == rec.updates
    train, evaluate = net(x, training=True), net(x)
    assert rec.seen == [True, False]
    X = rng.standard_normal((5, 3))
    ref = np.tanh(X @ d1.W.value + d1.b.value) @ d2.W.value + d2.b.value
    for out in g.run([train, evaluate], feed={x: X}):   # one set of parameters, two branches
        np.testing.assert_allclose(out, ref, rtol=1e-12)
    assert len(net) == 4 and net[0] is d1
    with pytest.raises(TypeError, match="layers"):
        gd.nn.Sequential(3)


def test_dense_and_mlp_take_training_and_check_rng():
    g = gd.Graph()
    x = g.input("x", shape=(None, 2))
    mlp = gd.nn.MLP(g, [2, 3, 1], rng=np.random.default_rng(0))
    X = np.ones((2, 2))
    np.testing.assert_array_equal(g.run(mlp(x, training=True), feed={x: X}),
                                  g.run(mlp(x), feed={x: X}))
    for make in (lambda: gd.nn.Dense(g, 2, 2, rng=5), lambda: gd.nn.MLP(g, [2, 2], rng=5),
                 lambda: gd.nn.Embedding(g, 2, 2, rng="seed")):
        with pytest.raises(TypeError, match="numpy.random.Generator or None"):
            make()


# ---------------------------------------------------------------- BatchNorm, Dropout
class TorchBatchNorm:
    """torch.nn.BatchNorm1d/2d's documented forward, in NumPy (training and eval)."""

    def __init__(self, c, axis=1, momentum=0.1, eps=1e-5):
        self.axis, self.momentum, self.eps = axis, momentum, eps
        self.weight, self.bias = np.ones(c), np.zeros(c)
        self.running_mean, self.running_var = np.zeros(c), np.ones(c)

    def __call__(self, x, training):
        axis = self.axis % x.ndim
        axes = tuple(i for i in range(x.ndim) if i != axis)
        shape = [1] * x.ndim
        shape[axis] = -1
        if training:
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)                                   # biased: normalise
            n = x.size // x.shape[axis]
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = ((1 - self.momentum) * self.running_var
                                + self.momentum * var * n / (n - 1))  # unbiased: running
        else:
            mean, var = self.running_mean, self.running_var
        return ((x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + self.eps)
                * self.weight.reshape(shape) + self.bias.reshape(shape))


BN_CASES = [((8, 3), 1, (None, 3)), ((4, 3, 5, 5), 1, (None, 3, None, None)),
            ((4, 5, 5, 3), -1, (4, 5, 5, 3)), ((6, 2), 1, (6, 2))]


@pytest.mark.parametrize("shape, axis, declared", BN_CASES)
def test_batch_norm_matches_torch_in_training_and_evaluation(shape, axis, declared):
    rng = np.random.default_rng(0)
    c = shape[axis]
    g = gd.Graph()
    x = g.input("x", shape=declared)
    bn = gd.nn.BatchNorm(g, c, axis=axis, momentum=0.3, eps=1e-3)
    ref = TorchBatchNorm(c, axis=axis, momentum=0.3, eps=1e-3)
    assert bn.params == [bn.gamma, bn.beta]
    assert bn.running_mean not in bn.params and bn.running_var not in bn.params
    assert bn.updates == {}
    np.testing.assert_array_equal(bn.running_var.value, np.ones(c))
    bn.gamma.value = ref.weight = rng.standard_normal(c)
    bn.beta.value = ref.bias = rng.standard_normal(c)
    train = g.function([x], bn(x, training=True), updates=bn.updates)
    assert set(bn.updates) == {bn.running_mean, bn.running_var}
    evaluate = g.function([x], bn(x, training=False))
    for _ in range(3):
        X = rng.standard_normal(shape) * 2.0 + 0.5
        np.testing.assert_allclose(train(X), ref(X, True), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(bn.running_mean.value, ref.running_mean, rtol=1e-12)
        np.testing.assert_allclose(bn.running_var.value, ref.running_var, rtol=1e-12)
        np.testing.assert_allclose(evaluate(X), ref(X, False), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape, declared", [((5, 3), (None, 3)), ((3, 2, 3, 2), (3, 2, 3, 2))])
def test_batch_norm_gradients(training, shape, declared):
    rng = np.random.default_rng(1)
    g = gd.Graph()
    x = g.input("x", shape=declared)
    bn = gd.nn.BatchNorm(g, shape[1])
    bn.gamma.value = rng.uniform(0.5, 1.5, shape[1])
    bn.beta.value = rng.standard_normal(shape[1])
    bn.running_mean.value = rng.standard_normal(shape[1])
    bn.running_var.value = rng.uniform(0.5, 2.0, shape[1])
    w = rng.standard_normal(shape)
    z = gd.sum(bn(x, training=training) * w)
    feed = {x: rng.standard_normal(shape)}
    gd.check_grad(z, [x, bn.gamma, bn.beta], feed=feed)
    dx = gd.grad(z, x)
    gd.check_grad(gd.sum(dx * w), [x, bn.gamma], feed=feed)      # second order


def test_batch_norm_float32_errors_and_sequential():
    g = gd.Graph()
    x = g.input("x", shape=(None, 4), dtype="float32")
    bn = gd.nn.BatchNorm(g, 4, dtype="float32")
    net = gd.nn.Sequential(gd.nn.Dense(g, 4, 4, rng=np.random.default_rng(0), dtype="float32"),
                           bn, gd.nn.Dropout(0.2))
    out = net(x, training=True)
    assert net.updates == bn.updates and len(net.params) == 4
    step = g.function([x], out, updates=net.updates)
    value = step(np.ones((3, 4), np.float32))
    assert value.dtype == np.float32 and bn.running_var.value.dtype == np.float32
    with pytest.raises(gd.GraphError, match="has 5 features on axis 1"):
        bn(g.input("y", shape=(2, 5), dtype="float32"))
    with pytest.raises(gd.GraphError, match="no unbiased variance"):
        bn(g.input("one", shape=(1, 4), dtype="float32"), training=True)
    with pytest.raises(gd.GraphError, match="known rank"):
        bn(g.input("r", shape=None), training=True)
    with pytest.raises(ValueError, match="num_features"):
        gd.nn.BatchNorm(g, 0)
    with pytest.raises(TypeError, match="Python bool"):
        bn(x, training="yes")
    with pytest.raises(gd.GraphError, match="boolean scalar Node"):
        bn(x, training=g.input("f", shape=(), dtype="float32"))


def test_batch_norm_with_a_fed_training_flag():
    rng = np.random.default_rng(5)
    g = gd.Graph()
    x = g.input("x", shape=(None, 3, 2, 2))
    flag = g.input("training", shape=(), dtype="bool")
    bn = gd.nn.BatchNorm(g, 3, momentum=0.2)
    ref = TorchBatchNorm(3, momentum=0.2)
    bn.gamma.value = ref.weight = rng.uniform(0.5, 1.5, 3)
    step = g.function([x, flag], bn(x, training=flag), updates=bn.updates)
    for training in (True, False, True, False):
        X = rng.standard_normal((4, 3, 2, 2))
        np.testing.assert_allclose(step(X, training), ref(X, training), rtol=1e-10,
                                   atol=1e-12)
        np.testing.assert_allclose(bn.running_mean.value, ref.running_mean, rtol=1e-12)
        np.testing.assert_allclose(bn.running_var.value, ref.running_var, rtol=1e-12)
    w = rng.standard_normal((4, 3, 2, 2))
    z = gd.sum(bn(x, training=flag) * w)
    for training in (True, False):
        gd.check_grad(z, [x, bn.gamma, bn.beta],
                      feed={x: rng.standard_normal((4, 3, 2, 2)), flag: training})


def test_batch_norm_running_averages_are_saved_with_the_graph(tmp_path):
    g = gd.Graph()
    x = g.input("x", shape=(None, 2))
    bn = gd.nn.BatchNorm(g, 2)
    g.run(bn(x, training=True), feed={x: np.array([[1.0, 2.0], [3.0, 6.0]])},
          updates=bn.updates)
    path = str(tmp_path / "bn.npz")
    gd.save(path, bn.params + bn.state)
    fresh = gd.nn.BatchNorm(gd.Graph(), 2)
    gd.load(path, fresh.params + fresh.state)
    np.testing.assert_allclose(fresh.running_mean.value, [0.2, 0.4])
    np.testing.assert_allclose(fresh.running_var.value, [0.9 + 0.2, 0.9 + 0.8])


def test_a_dropout_batchnorm_model_trains_in_one_compiled_step_with_fit():
    """Training branch (dropout, batch statistics, Adam and the running averages all in one
    call through updates=) and an evaluation branch on the same parameters."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 6))
    Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    g = gd.Graph(seed=0)
    x = g.input("x", shape=(None, 6))
    y = g.input("y", shape=(None,), dtype="int64")
    net = gd.nn.Sequential(gd.nn.Dense(g, 6, 32, rng=rng), gd.nn.BatchNorm(g, 32), gd.relu,
                           gd.nn.Dropout(0.2), gd.nn.Dense(g, 32, 2, rng=rng))
    loss = gd.losses.softmax_cross_entropy(net(x, training=True), y)
    opt = gd.optim.Adam(net.params, lr=0.02)
    step = g.function([x, y], loss,
                      updates={**opt.updates(gd.grad(loss, net.params)), **net.updates})
    logits = net(x, training=False)
    evaluate = g.function([x, y], gd.losses.softmax_cross_entropy(logits, y))
    hist = gd.fit(step, (X, Y), epochs=15, batch_size=32, optimizer=opt, progress=False,
                  rng=np.random.default_rng(1), validation=(X, Y), validation_step=evaluate)
    assert opt.t == 15 * 8 and hist.val_loss[-1] < min(0.3, hist.val_loss[0])
    bn = net[1]
    assert not np.allclose(bn.running_mean.value, 0.0)
    predict = g.function([x], logits)
    assert np.mean(np.argmax(predict(X), axis=1) == Y) > 0.9
