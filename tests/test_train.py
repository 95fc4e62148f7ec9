"""gd.fit, History, accuracy and evaluate; a short training run reaching a stated accuracy."""

import sys

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.train import evaluate


def regression():
    g = gd.Graph()
    x = g.input("x", shape=(None,))
    w = g.parameter(np.array(0.0), name="w")
    loss = gd.mean((x * w - 3.0 * x) ** 2)
    return w, g.function([x], [loss, gd.grad(loss, w)])


def test_fit_records_history():
    w, step = regression()
    X = np.linspace(-1, 1, 10)
    hist = gd.fit(step, X, epochs=3, batch_size=4, optimizer=gd.optim.SGD([w], lr=0.1),
                  rng=np.random.default_rng(0), progress=False)
    assert isinstance(hist, gd.History)
    assert hist.epochs == 3 and len(hist.batch_loss) == 9  # batches of 4, 4, 2
    assert hist.loss[0] > hist.loss[-1] and hist.seconds > 0
    hist = gd.fit(step, X, epochs=1, batch_size=4, drop_last=True, progress=False)
    assert len(hist.batch_loss) == 2


def test_epoch_loss_is_weighted_by_batch_size():
    seen = []

    def step(xb):
        seen.append(len(xb))
        return float(len(xb))           # loss = batch size

    hist = gd.fit(step, np.arange(10.0), epochs=1, batch_size=4, shuffle=False, progress=False)
    assert seen == [4, 4, 2]
    assert hist.loss == [pytest.approx((4 * 4 + 4 * 4 + 2 * 2) / 10)]


def test_shuffling_follows_the_rng():
    batches = {}
    for run, seed in (("a", 0), ("b", 0), ("c", 1)):
        out: list = []
        gd.fit(lambda xb, yb, out=out: out.append(xb.copy()) or 0.0,
               (np.arange(8), np.arange(8)), epochs=2, batch_size=3,
               rng=np.random.default_rng(seed), progress=False)
        batches[run] = np.concatenate(out)
    np.testing.assert_array_equal(batches["a"], batches["b"])
    assert not np.array_equal(batches["a"], batches["c"])
    np.testing.assert_array_equal(np.sort(batches["a"][:8]), np.arange(8))  # a permutation

    pairs = []
    gd.fit(lambda xb, yb: pairs.append((xb, yb)) or 0.0, (np.arange(8), -np.arange(8)),
           epochs=1, batch_size=3, progress=False)
    assert all(np.array_equal(xb, -yb) for xb, yb in pairs)  # rows stay aligned


def test_metrics_and_progress_output(capsys):
    w, step = regression()
    hist = gd.fit(step, np.linspace(-1, 1, 8), epochs=2, batch_size=8,
                  optimizer=gd.optim.SGD([w], lr=0.5), metrics={"w": lambda: float(w.value)},
                  progress="plain")
    out = capsys.readouterr().out
    assert "epoch 1/2  loss" in out and "epoch 2/2" in out and "  w " in out
    assert hist.metrics["w"][-1] == float(w.value) and len(hist.metrics["w"]) == 2
    gd.fit(step, np.ones(4), epochs=2, progress=False)
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""


def test_tqdm_bar_when_installed(capsys):
    pytest.importorskip("tqdm")
    w, step = regression()
    gd.fit(step, np.ones(4), epochs=2, batch_size=2, optimizer=gd.optim.SGD([w], lr=0.1))
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "loss=" in err and "4/4" in err


def test_plain_fallback_without_tqdm(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # makes the import fail
    w, step = regression()
    gd.fit(step, np.ones(4), epochs=3, batch_size=2, optimizer=gd.optim.SGD([w], lr=0.1))
    captured = capsys.readouterr()
    assert captured.out.count("epoch ") == 3 and "epoch 3/3  loss" in captured.out
    assert captured.err == ""


def test_diverging_loss_raises():
    w, step = regression()
    with pytest.raises(FloatingPointError, match="smaller lr"), np.errstate(over="ignore"):
        gd.fit(step, np.linspace(-10, 10, 8), epochs=200, batch_size=8,
               optimizer=gd.optim.SGD([w], lr=10.0), progress=False)


def test_bad_data():
    with pytest.raises(ValueError, match="length"):
        gd.fit(lambda a, b: 0.0, (np.ones(3), np.ones(4)), progress=False)
    with pytest.raises(ValueError, match="no minibatch"):
        gd.fit(lambda a: 0.0, np.ones(3), batch_size=4, drop_last=True, progress=False)
    with pytest.raises(ValueError, match="scalar loss"):
        gd.fit(lambda a: np.ones(2), np.ones(3), progress=False)


def test_accuracy_and_evaluate():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert gd.accuracy(lambda X: X, scores, np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert gd.accuracy(lambda X: [X], scores, np.eye(2)[[1, 0, 1]], batch_size=2) == 1.0
    probs = np.array([0.2, 0.7, 0.6, 0.4])
    assert gd.accuracy(lambda X: X, probs, np.array([0, 1, 0, 0])) == 0.75
    assert gd.accuracy(lambda X: X[:, None], probs - 0.5, np.array([0, 1, 1, 0]),
                       threshold=0.0) == 1.0
    assert evaluate(lambda X: X.mean(), np.arange(5.0), batch_size=2) == pytest.approx(2.0)


def test_short_training_run_reaches_stated_accuracy():
    """Two interleaved spirals-lite: concentric rings, not linearly separable."""
    rng = np.random.default_rng(0)
    n = 600
    radius = np.where(rng.random(n) < 0.5, 1.0, 2.0)
    angle = rng.uniform(0, 2 * np.pi, n)
    X = np.c_[radius * np.cos(angle), radius * np.sin(angle)] + 0.15 * rng.standard_normal((n, 2))
    y = (radius > 1.5).astype(np.int64)
    X_train, y_train, X_test, y_test = X[:400], y[:400], X[400:], y[400:]

    g = gd.Graph()
    x = g.input("x", shape=(None, 2))
    t = g.input("t", shape=(None,), dtype="int64")
    mlp = gd.nn.MLP(g, [2, 16, 16, 2], rng=np.random.default_rng(1))
    loss = gd.losses.softmax_cross_entropy(mlp(x), t)
    step = g.function([x, t], [loss, *gd.grad(loss, mlp.params)])
    predict = g.function([x], mlp(x))
    hist = gd.fit(step, (X_train, y_train), epochs=30, batch_size=32,
                  optimizer=gd.optim.Adam(mlp.params, lr=0.02), rng=np.random.default_rng(2),
                  metrics={"test_acc": lambda: gd.accuracy(predict, X_test, y_test)},
                  progress=False)
    assert hist.loss[-1] < 0.5 * hist.loss[0]
    assert hist.metrics["test_acc"][-1] >= 0.95
    assert gd.accuracy(predict, X_test, y_test) == hist.metrics["test_acc"][-1]
