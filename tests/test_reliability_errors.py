"""Issue 5, errors: every fault class gets an error that says what and where.

Build-time faults raise gd.GraphError (or TypeError for non-numeric operands) naming the
op, the operands and their shapes and the user file:line; run-time feed faults raise
gd.FeedError naming the input and both shapes; failures inside ops name the node and its
creation site; gradient misuse raises gd.GradError.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import graphdiff as gd

HERE = os.path.basename(__file__)


def _line() -> int:
    """The line of the caller (where the faulty node is built, on one line)."""
    return sys._getframe(1).f_lineno


def _site(line: int) -> str:
    return f"{HERE}:{line}"


@pytest.fixture
def g():
    return gd.Graph()


# ---------------------------------------------------------------- shape conflicts, per family
def _shape_cases():
    """(id, builder(g) -> builds the bad node on one line, fragments the message must hold)."""

    def elementwise(fn, label):
        def build(g):
            a = g.input("a", shape=(3, 2))
            c = g.input("c", shape=(4,))
            fn(a, c)

        return (label, build, [label, "'a'", "'c'", "(3, 2)", "(4,)"])

    cases = [
        elementwise(gd.add, "add"),
        elementwise(gd.subtract, "subtract"),
        elementwise(gd.multiply, "multiply"),
        elementwise(gd.divide, "divide"),
        elementwise(gd.power, "power"),
        elementwise(gd.maximum, "maximum"),
        elementwise(gd.minimum, "minimum"),
    ]

    def matmul(g):
        a = g.input("a", shape=(3, 2))
        b = g.input("b", shape=(3, 2))
        a @ b  # noqa: B018

    def where(g):
        a = g.input("a", shape=(3, 2))
        m = g.input("m", shape=(5,), dtype=bool)
        gd.where(m, a, 0.0)

    def clip(g):
        a = g.input("a", shape=(3, 2))
        lo = g.input("lo", shape=(4,))
        gd.clip(a, lo, 1.0)

    def reshape(g):
        a = g.input("a", shape=(3, 2))
        gd.reshape(a, (5,))

    def transpose(g):
        a = g.input("a", shape=(3, 2))
        gd.transpose(a, (0, 0))

    def broadcast(g):
        a = g.input("a", shape=(3, 2))
        gd.broadcast_to(a, (4,))

    def concatenate(g):
        a = g.input("a", shape=(3, 2))
        d = g.input("d", shape=(3, 3))
        gd.concatenate([a, d], axis=0)

    def stack(g):
        a = g.input("a", shape=(3, 2))
        d = g.input("d", shape=(2,))
        gd.stack([a, d])

    def index(g):
        a = g.input("a", shape=(3, 2))
        a[5]  # noqa: B018

    def index_array(g):
        a = g.input("a", shape=(3, 2))
        a[np.array([0, 7])]  # noqa: B018

    def mse(g):
        a = g.input("a", shape=(3, 2))
        gd.losses.mse(a, np.zeros((4, 4)))

    cases += [
        ("matmul", matmul, ["matmul", "'a'", "'b'", "(3, 2)"]),
        ("where", where, ["where", "'a'", "'m'", "(3, 2)", "(5,)"]),
        ("clip", clip, ["'a'", "'lo'", "(3, 2)", "(4,)"]),
        ("reshape", reshape, ["reshape", "'a'", "(3, 2)", "(5,)"]),
        ("transpose", transpose, ["transpose", "'a'", "(3, 2)", "(0, 0)"]),
        ("broadcast_to", broadcast, ["broadcast", "'a'", "(3, 2)", "(4,)"]),
        ("concatenate", concatenate, ["concatenate", "'a'", "'d'", "(3, 2)", "(3, 3)"]),
        ("stack", stack, ["stack", "(3, 2)", "(2,)"]),
        ("index", index, ["index", "'a'", "(3, 2)", "5"]),
        ("index_array", index_array, ["index", "'a'", "(3, 2)", "7"]),
        ("mse", mse, ["subtract", "'a'", "(3, 2)", "(4, 4)"]),
    ]
    return [pytest.param(label, build, fragments, id=label) for label, build, fragments in cases]


@pytest.mark.parametrize("label,build,fragments", _shape_cases())
def test_shape_conflict_names_op_operands_and_shapes(g, label, build, fragments):
    with pytest.raises(gd.GraphError) as info:
        build(g)
    message = str(info.value)
    for fragment in fragments:
        assert fragment.lower() in message.lower(), (fragment, message)


@pytest.mark.parametrize("label,build,fragments", _shape_cases())
def test_shape_conflict_names_the_exact_user_line(label, build, fragments):
    # Run build on a graph whose failing line we learn from the traceback's last user frame.
    g = gd.Graph()
    with pytest.raises(gd.GraphError) as info:
        build(g)
    user_frames = [e for e in info.traceback if os.path.basename(str(e.path)) == HERE]
    failing_line = user_frames[-1].lineno + 1  # traceback lines are 0-based
    assert _site(failing_line) in str(info.value), str(info.value)


def test_stack_conflict_names_user_operands(g):
    a = g.input("a", shape=(3, 2))
    d = g.input("d", shape=(2,))
    with pytest.raises(gd.GraphError) as info:
        gd.stack([a, d])
    message = str(info.value)
    assert "'a'" in message and "'d'" in message and "(3, 2)" in message, message


@pytest.mark.parametrize("fn", [gd.sum, gd.mean, gd.max, gd.min, gd.logsumexp])
def test_reduction_axis_error_names_operand_shape_and_site(g, fn):
    a = g.input("a", shape=(3, 2))
    with pytest.raises(gd.GraphError) as info:
        line = _line() + 1
        fn(a, axis=3)
    message = str(info.value)
    assert "'a'" in message and "(3, 2)" in message and _site(line) in message, message


@pytest.mark.parametrize("fn", [gd.sum, gd.mean, gd.max, gd.min, gd.logsumexp])
@pytest.mark.parametrize("axis", [2, -3, (0, 0), (0, 5)])
def test_reduction_bad_axis_is_graph_error(g, fn, axis):
    a = g.input("a", shape=(3, 2))
    with pytest.raises(gd.GraphError) as info:
        fn(a, axis=axis)
    assert "axis" in str(info.value)


@pytest.mark.parametrize("fn", [gd.softmax, gd.log_softmax])
@pytest.mark.parametrize("axis", [2, -3])
def test_softmax_axis_out_of_range_is_graph_error(g, fn, axis):
    a = g.input("a", shape=(3, 2))
    with pytest.raises(gd.GraphError):
        fn(a, axis=axis)


def test_softmax_cross_entropy_label_shape_checked_at_build(g):
    z = g.input("z", shape=(3, 2))
    with pytest.raises(gd.GraphError) as info:
        gd.losses.softmax_cross_entropy(z, np.zeros(5, dtype=np.int64))
    assert "(3, 2)" in str(info.value) and "(5,)" in str(info.value)


def test_softmax_cross_entropy_bad_labels_fail_located_at_run(g):
    # Whatever the build does, the run must never leak a bare IndexError.
    z = g.input("z", shape=(3, 2))
    try:
        loss = gd.losses.softmax_cross_entropy(z, np.zeros(5, dtype=np.int64))
    except gd.GraphError:
        return
    with pytest.raises(gd.GraphdiffError):
        g.run(loss, feed={z: np.ones((3, 2))})


# ---------------------------------------------------------------- mixed graphs
@pytest.mark.parametrize("combine", [
    lambda a, b: a + b,
    lambda a, b: a @ b,
    lambda a, b: gd.concatenate([a, b]),
    lambda a, b: gd.where(a > 0, a, b),
    lambda a, b: gd.maximum(b, a),
    lambda a, b: gd.losses.mse(a, b),
], ids=["add", "matmul", "concatenate", "where", "maximum", "mse"])
def test_mixed_graphs_raise_graph_error_naming_both(combine):
    g, h = gd.Graph(), gd.Graph()
    a = g.input("a", shape=(3, 2))
    b = h.input("b", shape=(3, 2))
    with pytest.raises(gd.GraphError) as info:
        combine(a, b)
    message = str(info.value)
    assert "'b'" in message and "graph" in message and HERE in message, message


def test_mixed_graphs_in_run_grad_and_function():
    g, h = gd.Graph(), gd.Graph()
    a = g.input("a", shape=(2,))
    b = h.input("b", shape=(2,))
    with pytest.raises(gd.GraphdiffError, match="'b'"):
        g.run(b, feed={b: np.ones(2)})
    with pytest.raises(gd.FeedError, match="'b'"):
        g.run(a, feed={a: np.ones(2), b: np.ones(2)})
    with pytest.raises(gd.GraphError, match="'b'"):
        gd.grad(gd.sum(a), b)
    with pytest.raises(gd.GraphdiffError):
        g.function([b], [a])


# ---------------------------------------------------------------- non-numeric operands
BAD_OPERANDS = {
    "string": "hello",
    "bytes": b"hello",
    "string_array": np.array(["x", "y"]),
    "object_array": np.array([object(), object()], dtype=object),
    "none": None,
    "dict": {"a": 1},
    "set": {1, 2},
    "object": object(),
}


@pytest.mark.parametrize("bad", list(BAD_OPERANDS), ids=list(BAD_OPERANDS))
@pytest.mark.parametrize("fn", [gd.add, gd.multiply, gd.matmul, gd.maximum, gd.power,
                                lambda a, b: gd.where(a > 0, a, b),
                                lambda a, b: gd.concatenate([a, b])],
                         ids=["add", "multiply", "matmul", "maximum", "power", "where",
                              "concatenate"])
def test_non_numeric_operand_is_type_error_with_site(g, fn, bad):
    a = g.input("a", shape=(2,))
    value = BAD_OPERANDS[bad]
    with pytest.raises(TypeError) as info:
        line = _line() + 1
        fn(a, value)
    message = str(info.value)
    assert HERE in message, message
    if not fn.__name__.startswith("<lambda"):
        assert _site(line) in message, message


@pytest.mark.parametrize("bad", list(BAD_OPERANDS), ids=list(BAD_OPERANDS))
@pytest.mark.parametrize("fn", [gd.exp, gd.sigmoid, gd.sum, gd.softmax,
                                lambda x: gd.reshape(x, (2,)), lambda x: gd.transpose(x)],
                         ids=["exp", "sigmoid", "sum", "softmax", "reshape", "transpose"])
def test_unary_op_on_non_node_is_type_error(fn, bad):
    with pytest.raises(TypeError):
        fn(BAD_OPERANDS[bad])


def test_unary_op_on_string_names_site():
    with pytest.raises(TypeError) as info:
        line = _line() + 1
        gd.exp("hello")
    assert _site(line) in str(info.value), str(info.value)


def test_non_numeric_leaves_are_type_errors(g):
    for bad in ("abc", None, {"x": 1}, np.array([object()], dtype=object)):
        with pytest.raises(TypeError):
            g.parameter(bad, name="p")
        with pytest.raises(TypeError):
            g.constant(bad)


@pytest.mark.parametrize("key", ["x", {}, 1.5, np.array([0.5])], ids=["str", "dict", "float",
                                                                        "float_array"])
def test_bad_index_key_is_type_error(g, key):
    a = g.input("a", shape=(3, 2))
    with pytest.raises(TypeError):
        a[key]  # noqa: B018


def test_parameter_reassignment_of_wrong_shape(g):
    W = g.parameter(np.ones((2, 3)), name="W")
    with pytest.raises(gd.GraphError, match=r"'W'.*\(2, 3\)|\(2, 3\).*'W'"):
        W.value = np.ones((3, 2))
    with pytest.raises(TypeError):
        W.value = "abc"


def test_iterating_a_node_is_type_error(g):
    a = g.input("a", shape=(3,))
    with pytest.raises(TypeError, match="'a'"):
        list(a)


# ---------------------------------------------------------------- feeds
@pytest.fixture
def fed_graph(g):
    a = g.input("a", shape=(None, 2))
    i = g.input("i", shape=(2,), dtype="int64")
    W = g.parameter(np.ones(2), name="W")
    y = gd.sum(a * W)
    return g, a, i, W, y


def test_missing_feed_names_the_input(fed_graph):
    g, a, i, W, y = fed_graph
    with pytest.raises(gd.FeedError, match="'a'") as info:
        g.run(y)
    assert "not fed" in str(info.value)
    with pytest.raises(gd.FeedError, match="'a'"):
        g.run(y, feed={i: np.ones(2, dtype=np.int64)})


def test_wrong_shape_feed_names_input_and_both_shapes(fed_graph):
    g, a, i, W, y = fed_graph
    with pytest.raises(gd.FeedError) as info:
        g.run(y, feed={a: np.ones((4, 3))})
    message = str(info.value)
    assert "'a'" in message and "(None, 2)" in message and "(4, 3)" in message, message
    with pytest.raises(gd.FeedError) as info:
        g.run(y, feed={a: np.ones(2)})  # wrong rank
    assert "(None, 2)" in str(info.value) and "(2,)" in str(info.value)


def test_wrong_dtype_kind_feed(fed_graph):
    g, a, i, W, y = fed_graph
    with pytest.raises(gd.FeedError, match="'a'") as info:
        g.run(y, feed={a: np.ones((1, 2), dtype=complex)})
    assert "complex128" in str(info.value) and "float64" in str(info.value)
    with pytest.raises(gd.FeedError, match="'i'"):
        g.run(i * 2, feed={i: np.ones(2)})  # float into int
    # castable ones are cast
    out = g.run(y, feed={a: np.ones((1, 2), dtype=np.int32)})
    assert out.dtype == np.float64 and out == 2.0
    out = g.run(y, feed={a: np.ones((1, 2), dtype=np.float32)})
    assert out.dtype == np.float64


@pytest.mark.parametrize("bad", [np.array([["a", "b"]]), "ab", None, {"x": 1},
                                 np.array([[object(), object()]], dtype=object),
                                 [[1, 2], [3]], b"ab"],
                         ids=["str_array", "str", "none", "dict", "object_array", "ragged",
                              "bytes"])
def test_non_numeric_feed_is_feed_error(fed_graph, bad):
    g, a, i, W, y = fed_graph
    with pytest.raises(gd.FeedError, match="'a'"):
        g.run(y, feed={a: bad})
    f = g.function([a], y)
    with pytest.raises(gd.FeedError, match="'a'"):
        f(bad)


def test_feeding_a_non_input_is_feed_error(fed_graph):
    g, a, i, W, y = fed_graph
    with pytest.raises(gd.FeedError, match="'W'.*parameter"):
        g.run(y, feed={a: np.ones((1, 2)), W: np.zeros(2)})
    with pytest.raises(gd.FeedError, match="not an input"):
        g.run(y, feed={a: np.ones((1, 2)), y: 1.0})
    c = g.constant(np.ones(2), name="c")
    with pytest.raises(gd.FeedError, match="'c'"):
        g.run(y, feed={a: np.ones((1, 2)), c: np.ones(2)})
    with pytest.raises(gd.FeedError):
        g.run(y, feed={"a": np.ones((1, 2))})


def test_function_checks_arguments(fed_graph):
    g, a, i, W, y = fed_graph
    f = g.function([a], [y])
    with pytest.raises(gd.FeedError, match=r"\(None, 2\).*\(3, 3\)"):
        f(np.ones((3, 3)))
    with pytest.raises(gd.FeedError, match="1 inputs"):
        f()
    with pytest.raises(gd.FeedError):
        f(np.ones((1, 2), dtype=complex))
    with pytest.raises(gd.FeedError, match="'a'"):
        g.function([], [y])
    with pytest.raises(gd.FeedError):
        g.function([W], [y])
    assert f(np.ones((5, 2)))[0] == 10.0  # still works after the failures


# ---------------------------------------------------------------- errors inside ops
class Boom(gd.Op):
    def forward(self, x):
        raise ValueError("kaboom")

    def bprop(self, inputs, wrt, output, grad):
        return grad


class BoomInGrad(gd.Op):
    def forward(self, x):
        return np.asarray(x) * 1.0

    def bprop(self, inputs, wrt, output, grad):
        return gd.op(Boom())(grad)


@pytest.mark.parametrize("compiled", [False, True])
def test_exception_in_custom_op_names_node_and_site(g, compiled):
    a = g.input("a", shape=(2,))
    line = _line() + 1
    b = gd.op(Boom())(a, name="exploding")
    out = gd.sum(b)
    with pytest.raises(gd.GraphdiffError) as info:
        if compiled:
            g.function([a], out)(np.ones(2))
        else:
            g.run(out, feed={a: np.ones(2)})
    message = str(info.value)
    assert "'exploding'" in message and "Boom" in message and _site(line) in message, message
    assert "kaboom" in message
    assert isinstance(info.value.__cause__, ValueError)


def test_exception_in_gradient_op_names_forward_node(g):
    a = g.input("a", shape=(2,))
    line = _line() + 1
    b = gd.op(BoomInGrad())(a, name="fwd")
    (da,) = gd.grad(gd.sum(b), [a])
    with pytest.raises(gd.GraphdiffError) as info:
        g.run(da, feed={a: np.ones(2)})
    message = str(info.value)
    assert "Boom" in message and "fwd = BoomInGrad" in message and _site(line) in message, message


def test_numpy_failure_inside_builtin_op_is_located(g):
    # Shapes unknown at build time (None), so the conflict shows only at run time.
    a = g.input("a", shape=(None,))
    b = g.input("b", shape=(None,))
    line = _line() + 1
    c = a + b
    with pytest.raises(gd.GraphdiffError) as info:
        g.run(c, feed={a: np.ones(3), b: np.ones(4)})
    assert _site(line) in str(info.value) and "Add" in str(info.value)
    with pytest.raises(gd.GraphdiffError):
        g.function([a, b], c)(np.ones(3), np.ones(4))


# ---------------------------------------------------------------- gradient misuse
def test_non_scalar_z_without_seed_is_grad_error(g):
    a = g.input("a", shape=(3, 2))
    z = a * 2.0
    with pytest.raises(gd.GradError, match=r"\(3, 2\)") as info:
        gd.grad(z, a)
    assert "seed" in str(info.value) and HERE in str(info.value)
    with pytest.raises(gd.GradError):
        gd.backprop(z, [a])
    with pytest.raises(gd.GradError, match="seed"):
        gd.grad(z, a, seed=np.ones(3))
    # with a seed it works
    da = gd.grad(z, a, seed=np.ones((3, 2)))
    assert np.allclose(g.run(da, feed={a: np.ones((3, 2))}), 2.0)


def test_unconnected_raise_names_target(g):
    a = g.input("a", shape=(2,))
    q = g.input("q", shape=())
    z = gd.sum(a)
    with pytest.raises(gd.GradError) as info:
        gd.grad(z, [a, q], unconnected="raise")
    assert "'q'" in str(info.value) and HERE in str(info.value)
    assert gd.grad(z, q, unconnected="none") is None
    assert g.run(gd.grad(z, q), feed={q: 1.0}) == 0.0


def test_error_classes():
    for cls in (gd.GraphError, gd.GradError, gd.FeedError, gd.AnomalyError,
                gd.FileFormatError):
        assert issubclass(cls, gd.GraphdiffError)
    assert issubclass(gd.GraphdiffError, Exception)
