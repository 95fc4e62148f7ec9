"""gd.fit's schedule=, validation=, feeds= and early_stopping= options."""

import numpy as np
import pytest

import graphdiff as gd
from graphdiff.train import EarlyStopping


def regression():
    g = gd.Graph()
    x = g.input("x", shape=(None,))
    w = g.parameter(np.array(0.0), name="w")
    loss = gd.mean((x * w - 3.0 * x) ** 2)
    return g, x, w, loss, g.function([x], [loss, gd.grad(loss, w)])


def test_schedule_sets_lr_before_each_step():
    _, _, w, _, step = regression()
    opt = gd.optim.SGD([w], lr=1.0)
    seen = []

    def traced(xb):
        seen.append(opt.lr)
        return step(xb)

    sched = gd.optim.schedules.step(0.2, step_size=3, gamma=0.5)
    hist = gd.fit(traced, np.linspace(-1, 1, 8), epochs=2, batch_size=2, optimizer=opt,
                  schedule=sched, progress=False, shuffle=False)
    expected = [sched(t) for t in range(8)]
    assert seen == expected and hist.lr == expected
    # a second fit continues the schedule from the optimizer's step count
    gd.fit(traced, np.linspace(-1, 1, 2), epochs=1, batch_size=2, optimizer=opt,
           schedule=sched, progress=False)
    assert seen[-1] == sched(8) and opt.t == 9
    with pytest.raises(ValueError, match="optimizer"):
        gd.fit(step, np.ones(2), schedule=sched, progress=False)


def test_validation_loss_per_epoch():
    g, x, w, loss, step = regression()
    X_val = np.array([1.0, 2.0, -1.0])
    hist = gd.fit(step, np.linspace(-1, 1, 16), epochs=3, batch_size=4,
                  optimizer=gd.optim.SGD([w], lr=0.1), validation=X_val, progress=False)
    assert len(hist.val_loss) == 3
    # the last entry is the validation loss of the final parameters
    assert hist.val_loss[-1] == pytest.approx(np.mean((X_val * w.value - 3 * X_val) ** 2))
    assert hist.val_loss[0] > hist.val_loss[-1]
    evaluate_loss = g.function([x], loss)
    hist2 = gd.fit(step, np.linspace(-1, 1, 16), epochs=1, batch_size=4,
                   optimizer=gd.optim.SGD([w], lr=0.1), validation=X_val,
                   validation_step=evaluate_loss, progress=False)
    assert hist2.val_loss == [pytest.approx(float(evaluate_loss(X_val)))]


def test_validation_refuses_a_step_that_trains():
    g, x, w, loss, _ = regression()
    opt = gd.optim.SGD([w], lr=0.1)
    up = opt.updates(gd.grad(loss, [w]))

    def self_updating(xb):              # what g.function(updates=up) will do
        keys = list(up)
        values = g.run([loss] + [up[k] for k in keys], feed={x: xb})
        for k, v in zip(keys, values[1:]):
            k.value = v
        return values[0]

    with pytest.raises(ValueError, match="validation_step"):
        gd.fit(self_updating, np.ones(4), validation=np.ones(2), progress=False)
    with pytest.raises(ValueError, match="validation_step"):
        gd.fit(self_updating, np.ones(4), optimizer=opt, validation=np.ones(2), progress=False)
    # with the optimizer: fit sets its lr (a graph parameter) and the step applies it
    w.value = np.array(0.0)
    t0 = opt.t                          # 1: the refused call above took its first step
    sched = gd.optim.schedules.cosine(0.5, T_max=20)
    hist = gd.fit(self_updating, np.linspace(-1, 1, 8), epochs=5, batch_size=2,
                  optimizer=opt, schedule=sched, progress=False,
                  validation=np.ones(2), validation_step=g.function([x], loss))
    assert t0 == 1 and opt.t == t0 + 20    # the step count lives in the graph's t node
    assert hist.lr == [sched(t) for t in range(t0, t0 + 20)]
    assert abs(float(w.value) - 3.0) < 0.1


def test_feeds_constant_and_per_step():
    g = gd.Graph()
    x = g.input("x", shape=(None,))
    scale = g.input("scale", shape=())
    noise = g.input("noise", shape=())
    w = g.parameter(np.array(1.0), name="w")
    loss = gd.mean(x * w) * scale + noise
    step = g.function([scale, x, noise], [loss, gd.grad(loss, w)])
    ts = []

    def noise_of(t):
        ts.append(t)
        return np.array(float(t))

    hist = gd.fit(step, np.ones(6), epochs=1, batch_size=2, shuffle=False, progress=False,
                  optimizer=gd.optim.SGD([w], lr=0.0),
                  feeds={scale: np.array(10.0), noise: noise_of})
    assert ts == [0, 1, 2]
    assert hist.batch_loss == [10.0, 11.0, 12.0]
    other = g.input("other", shape=())
    with pytest.raises(ValueError, match="does not take"):
        gd.fit(step, np.ones(2), feeds={other: 1.0, scale: 1.0, noise: 1.0}, progress=False)
    with pytest.raises(ValueError, match="inputs besides the feeds"):
        gd.fit(step, (np.ones(2), np.ones(2)), feeds={scale: 1.0, noise: 1.0}, progress=False)
    with pytest.raises(TypeError, match="compiled"):
        gd.fit(lambda xb: 0.0, np.ones(2), feeds={scale: 1.0}, progress=False)


def fake_metric(values):
    it = iter(values)
    return lambda: next(it)


def test_early_stopping_patience_and_restore():
    _, _, w, _, step = regression()
    opt = gd.optim.SGD([w], lr=0.1)
    weights = []
    score = fake_metric([5.0, 3.0, 4.0, 3.5, 1.0, 0.5])

    def metric():
        weights.append(float(w.value))
        return score()

    hist = gd.fit(step, np.linspace(-1, 1, 8), epochs=6, batch_size=4, optimizer=opt,
                  metrics={"m": metric}, early_stopping={"monitor": "m", "patience": 2},
                  progress=False, shuffle=False)
    # best at epoch 1; epochs 2 and 3 do not improve: stop after epoch 3
    assert hist.metrics["m"] == [5.0, 3.0, 4.0, 3.5]
    assert hist.best_epoch == 1 and hist.stopped_epoch == 3 and hist.epochs == 4
    assert float(w.value) == weights[1]              # the best epoch's parameters


def test_early_stopping_max_mode_min_delta_and_no_restore():
    _, _, w, _, step = regression()
    hist = gd.fit(step, np.linspace(-1, 1, 8), epochs=5, batch_size=4,
                  optimizer=gd.optim.SGD([w], lr=0.1),
                  metrics={"acc": fake_metric([0.5, 0.55, 0.56, 0.9, 0.2])},
                  early_stopping=EarlyStopping(monitor="acc", mode="max", patience=2,
                                               min_delta=0.1, restore_best=False),
                  progress=False)
    # 0.55 and 0.56 are within min_delta of 0.5: stop after epoch 2
    assert hist.best_epoch == 0 and hist.stopped_epoch == 2
    last = float(w.value)
    assert last != 0.0


def test_early_stopping_on_validation_loss_runs_to_the_end_when_improving():
    _, _, w, _, step = regression()
    hist = gd.fit(step, np.linspace(-1, 1, 8), epochs=4, batch_size=4,
                  optimizer=gd.optim.SGD([w], lr=0.1), validation=np.array([1.0, 2.0]),
                  early_stopping=EarlyStopping(patience=1), progress=False)
    assert hist.stopped_epoch is None and hist.best_epoch == 3 and hist.epochs == 4


def test_early_stopping_bad_settings():
    _, _, w, _, step = regression()
    with pytest.raises(ValueError, match="records only"):
        gd.fit(step, np.ones(2), optimizer=gd.optim.SGD([w], lr=0.1),
               early_stopping=EarlyStopping(), progress=False)     # no validation data
    with pytest.raises(ValueError, match="parameters"):
        gd.fit(step, np.ones(2), early_stopping={"monitor": "loss"}, progress=False)
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="up")
    with pytest.raises(TypeError, match="EarlyStopping"):
        gd.fit(step, np.ones(2), early_stopping=3, progress=False)
