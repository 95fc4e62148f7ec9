"""Issue 5, anomaly mode: check_finite / detect_anomaly stop at the first non-finite node
in execution order and name it, its op, its inputs' ranges and where it was built."""

from __future__ import annotations

import os
import sys
import threading
import warnings

import numpy as np
import pytest

import graphdiff as gd

HERE = os.path.basename(__file__)


def _line() -> int:
    return sys._getframe(1).f_lineno


def _site(line: int) -> str:
    return f"{HERE}:{line}"


def _modes(g, fetches, inputs, values):
    """Run with each way of turning anomaly mode on; yield the raised AnomalyError."""
    feed = dict(zip(inputs, values, strict=True))
    ways = {
        "run": lambda: g.run(fetches, feed=feed, check_finite=True),
        "function": lambda: g.function(inputs, fetches, check_finite=True)(*values),
        "context-run": None,
        "context-function": None,
    }
    errors = {}
    for way, call in ways.items():
        with pytest.raises(gd.AnomalyError) as info:
            if way == "context-run":
                with gd.detect_anomaly():
                    g.run(fetches, feed=feed)
            elif way == "context-function":
                f = g.function(inputs, fetches)
                with gd.detect_anomaly():
                    f(*values)
            else:
                call()
        errors[way] = str(info.value)
    return errors


def test_forward_nan_names_node_op_inputs_and_site():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    line = _line() + 1
    lx = gd.log(x)
    z = gd.sum(gd.exp(lx * 0.5) + 1.0)
    for way, message in _modes(g, z, [x], [np.array([1.0, -1.0, 2.0])]).items():
        assert "Log" in message, (way, message)
        assert _site(line) in message, (way, message)
        assert "'x'" in message and "[-1, 2]" in message, (way, message)
        assert "Exp" not in message.split(";")[0], (way, message)


def test_earliest_node_in_execution_order_is_reported():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    line = _line() + 1
    first = gd.sqrt(x)  # NaN at x = -1
    second = gd.log(x)  # NaN too, but built (and run) later
    both = gd.sum(first) + gd.sum(second)
    # fetch order must not matter: creation order is execution order
    for fetches in ([second, first], [both], [second, both, first]):
        for way, message in _modes(g, fetches, [x], [np.array([4.0, -1.0])]).items():
            assert "Sqrt" in message and _site(line) in message, (way, message)


def test_backward_nan_names_gradient_node_and_forward_node():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    line = _line() + 1
    s = gd.sqrt(x)
    z = gd.sum(s)
    (dx,) = gd.grad(z, [x])
    value = np.array([0.0, 1.0, 4.0])
    # forward is finite (sqrt(0) = 0): the inf appears in the gradient
    assert np.isfinite(g.run(z, feed={x: value}, check_finite=True))
    for way, message in _modes(g, [z, dx], [x], [value]).items():
        assert "gradient of" in message and "Sqrt" in message, (way, message)
        assert _site(line) in message, (way, message)
    # provenance: the failing node knows its forward node
    bad = [n for n in g.nodes if n.grad_of is s]
    assert bad, "gradient nodes of sqrt must record grad_of"


def test_backward_inf_from_division_at_zero_in_second_order():
    g = gd.Graph()
    x = g.input("x", shape=())
    line = _line() + 1
    y = gd.sqrt(x) * 1.0 + x * x
    dy = gd.grad(y, x)
    d2y = gd.grad(dy, x)
    # at x = 1 all finite
    assert np.isfinite(g.run(d2y, feed={x: 1.0}, check_finite=True))
    with pytest.raises(gd.AnomalyError) as info:
        g.run(d2y, feed={x: np.float64(0.0)}, check_finite=True)
    message = str(info.value)
    assert "gradient of" in message and _site(line) in message, message


def test_fed_nan_and_parameter_nan_are_reported_as_such():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    W = g.parameter(np.ones(2), name="W")
    z = gd.sum(x * W)
    for way, message in _modes(g, z, [x], [np.array([np.nan, 1.0])]).items():
        assert "'x'" in message and "input" in message, (way, message)
        assert "1 non-finite" in message, (way, message)
    W.value = np.array([np.inf, 1.0])
    with pytest.raises(gd.AnomalyError, match="'W'"):
        g.run(z, feed={x: np.ones(2)}, check_finite=True)


def test_overflow_to_inf_is_an_anomaly():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    z = gd.sum(gd.exp(x))
    with pytest.raises(gd.AnomalyError, match="Exp"):
        g.run(z, feed={x: np.array([1.0, 1000.0])}, check_finite=True)


def test_off_by_default_nan_is_just_returned():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    z = gd.log(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            out = g.run(z, feed={x: np.array([-1.0, 1.0])})
            f_out = g.function([x], z)(np.array([-1.0, 1.0]))
    assert np.isnan(out[0]) and out[1] == 0.0
    assert np.isnan(f_out[0]) and f_out[1] == 0.0


def test_detect_anomaly_is_scoped():
    g = gd.Graph()
    x = g.input("x", shape=(1,))
    z = gd.log(x)
    f = g.function([x], z)
    bad = np.array([-1.0])
    with gd.detect_anomaly():
        with pytest.raises(gd.AnomalyError):
            g.run(z, feed={x: bad})
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(g.run(z, feed={x: bad})[0])
        assert np.isnan(f(bad)[0])
    # also restored when the block exits by an exception
    with pytest.raises(KeyError):
        with gd.detect_anomaly():
            raise KeyError("out")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(g.run(z, feed={x: bad})[0])
    # nested blocks: inner exit keeps the outer one on
    with gd.detect_anomaly():
        with gd.detect_anomaly():
            pass
        with pytest.raises(gd.AnomalyError):
            f(bad)


def test_detect_anomaly_reaches_worker_threads():
    """The mode is process-wide: a thread started inside the block is checked too, and
    no thread is checked once every block has exited."""
    g = gd.Graph()
    x = g.input("x", shape=(1,))
    f = g.function([x], gd.log(x))
    bad = np.array([-1.0])

    def call(seen):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                seen.append(f(bad)[0])
            except Exception as exc:  # noqa: BLE001
                seen.append(exc)

    inside: list = []
    with gd.detect_anomaly():
        t = threading.Thread(target=call, args=(inside,))
        t.start()
        t.join()
    assert len(inside) == 1 and isinstance(inside[0], gd.AnomalyError), inside
    assert "Log" in str(inside[0])
    after: list = []
    t = threading.Thread(target=call, args=(after,))
    t.start()
    t.join()
    assert len(after) == 1 and np.isnan(after[0]), after


def test_blocks_in_two_threads_overlap():
    """One thread's block exiting leaves the mode on while another thread's is open."""
    g = gd.Graph()
    x = g.input("x", shape=(1,))
    z = gd.log(x)
    entered, release = threading.Event(), threading.Event()

    def hold():
        with gd.detect_anomaly():
            entered.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        entered.wait(10)
        with gd.detect_anomaly():
            pass
        with pytest.raises(gd.AnomalyError):
            g.run(z, feed={x: np.array([-1.0])})
    finally:
        release.set()
        t.join()
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(g.run(z, feed={x: np.array([-1.0])})[0])


@pytest.mark.parametrize("kind", ["parameter", "constant"])
def test_inf_leaf_is_blamed_itself(kind):
    """An infinite parameter or array constant is named, not the first op reading it."""
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    value = np.array([1.0, np.inf])
    line = _line() + 1
    leaf = g.parameter(value, name="W") if kind == "parameter" else g.constant(value, name="C")
    z = gd.sum(gd.exp(-leaf) * x)
    for way, message in _modes(g, z, [x], [np.ones(2)]).items():
        assert message.startswith(f"{kind} '{leaf.name}'"), (way, message)
        assert "holds non-finite values" in message and _site(line) in message, (way, message)
        assert "Exp" not in message and "Multiply" not in message, (way, message)


def test_finite_run_under_anomaly_mode_matches_plain_run():
    g = gd.Graph()
    x = g.input("x", shape=(4,))
    W = g.parameter(np.linspace(-1, 1, 4), name="W")
    z = gd.sum(gd.tanh(x * W) ** 2) + gd.logsumexp(x)
    dW, dx = gd.grad(z, [W, x])
    value = np.array([0.5, -2.0, 3.0, 0.1])
    plain = g.run([z, dW, dx], feed={x: value})
    checked = g.run([z, dW, dx], feed={x: value}, check_finite=True)
    compiled = g.function([x], [z, dW, dx], check_finite=True)(value)
    for a, b, c in zip(plain, checked, compiled, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_integer_and_bool_values_are_not_anomalies():
    g = gd.Graph()
    i = g.input("i", shape=(3,), dtype="int64")
    x = g.input("x", shape=(3,))
    z = gd.sum(gd.where(x > 0, x, 0.0)) + gd.sum(i * 2)
    out = g.run(z, feed={i: np.arange(3), x: np.array([1.0, -1.0, 2.0])}, check_finite=True)
    assert out == 9.0


def test_anomaly_inside_where_branch_is_reported_even_if_masked():
    # where(x > 0, log(x), 0) computes log of negatives: anomaly mode must flag it
    # (the log node itself is non-finite), pointing at the log.
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    line = _line() + 1
    lx = gd.log(x)
    z = gd.sum(gd.where(x > 0, lx, 0.0))
    with pytest.raises(gd.AnomalyError) as info:
        g.run(z, feed={x: np.array([-1.0, 1.0])}, check_finite=True)
    assert "Log" in str(info.value) and _site(line) in str(info.value)
