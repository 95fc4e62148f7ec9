"""Graph and Node: attributes, static shapes and dtypes, build-time errors, consumers,
networkx export, constants and promotion."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

import graphdiff as gd
from graphdiff.ops import elementwise as E


def test_node_attributes():
    g = gd.Graph()
    x = g.input("x", shape=(None, 3))
    W = g.parameter(np.ones((3, 2)), name="W")
    c = g.constant(np.arange(2.0), name="c")
    y = gd.tanh(x @ W) + c
    assert (x.name, x.op, x.inputs, x.graph, x.shape, x.dtype) == \
        ("x", None, (), g, (None, 3), np.dtype("float64"))
    assert W.op is None and W.shape == (3, 2) and W.dtype == np.float64
    assert c.op is None and c.name == "c"
    np.testing.assert_array_equal(c.value, [0.0, 1.0])
    assert isinstance(y.op, E.Add) and y.name is None
    assert y.inputs[1] is c and y.inputs[0].inputs[0].inputs == (x, W)
    assert y.shape == (None, 2) and y.dtype == np.float64
    assert isinstance(y, gd.Node) and {y: 1}[y] == 1
    assert (y == y) is True and (y == x) is False        # identity, not an op
    with pytest.raises(TypeError):
        iter(y)
    with pytest.raises(TypeError):
        list(x)
    with pytest.raises(gd.GraphError):
        _ = x.value
    with pytest.raises(gd.GraphError):
        c.value = np.zeros(2)                            # only parameters are assignable
    named = gd.op(_Id())(x, name="s")
    assert named.name == "s"


class _Id(gd.Op):
    def forward(self, x):
        return x

    def bprop(self, inputs, wrt, output, grad):
        return grad


def test_graph_nodes_in_creation_order_and_consumers():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    a = x * 2.0
    b = gd.exp(x)
    c = a + b
    d = x * x
    assert [n for n in g.nodes if n.op is not None] == [a, b, c, d]
    nodes = g.nodes
    assert all(nodes.index(i) < nodes.index(n) for n in nodes for i in n.inputs)
    assert set(g.consumers(x)) == {a, b, d}
    assert len(g.consumers(x)) == 3                      # x * x is one consumer
    assert g.consumers(c) == []
    g.nodes.append("junk")                               # a copy, not the graph's list
    assert "junk" not in g.nodes


def test_to_networkx():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    W = g.parameter(np.ones(2))
    y = gd.sum(x * W)
    G = g.to_networkx()
    assert isinstance(G, nx.DiGraph)
    assert set(G.nodes) == set(g.nodes)
    mul = y.inputs[0]
    assert set(G.edges) == {(x, mul), (W, mul), (mul, y)}
    assert nx.is_directed_acyclic_graph(G)
    assert list(nx.topological_sort(G))[-1] is y


@pytest.mark.parametrize("build, shape", [
    (lambda x, y: x + y, (None, 3)),
    (lambda x, y: x @ gd.transpose(y), (None, None)),
    (lambda x, y: gd.sum(x, axis=0), (3,)),
    (lambda x, y: gd.sum(x, axis=1, keepdims=True), (None, 1)),
    (lambda x, y: gd.mean(x), ()),
    (lambda x, y: x[1:], (None, 3)),
    (lambda x, y: x[:, 1:], (None, 2)),
    (lambda x, y: x[None, ..., 0], (1, None)),
    (lambda x, y: x[[0, 1, 1]], (3, 3)),
    (lambda x, y: x.T, (3, None)),
    (lambda x, y: gd.reshape(x, (-1,)), (None,)),
    (lambda x, y: gd.concatenate([x, y]), (None, 3)),
    (lambda x, y: gd.concatenate([x, y], axis=1), (None, 6)),
    (lambda x, y: gd.stack([x, y], axis=1), (None, 2, 3)),
    (lambda x, y: gd.broadcast_to(gd.sum(x, axis=0), (4, 3)), (4, 3)),
    (lambda x, y: gd.softmax(x), (None, 3)),
    (lambda x, y: gd.losses.softmax_cross_entropy(x, np.array([0])), ()),
    (lambda x, y: gd.losses.softmax_cross_entropy(x, np.array([0]), reduction="none"), (None,)),
    (lambda x, y: x * np.ones((5, 1, 1)), (5, None, 3)),
])
def test_static_shape_inference_with_unknown_dims(build, shape):
    g = gd.Graph()
    x = g.input("x", shape=(None, 3))
    y = g.input("y", shape=(None, 3))
    out = build(x, y)
    assert out.shape == shape
    X, Y = np.ones((2, 3)), np.ones((2, 3))
    value = g.run(out, feed={x: X, y: Y})
    assert len(shape) == value.ndim
    assert all(d is None or d == v for d, v in zip(shape, value.shape, strict=True))


def test_unknown_rank():
    g = gd.Graph()
    x = g.input("x", shape=None)
    y = gd.exp(x) + 1.0
    assert y.shape is None
    np.testing.assert_allclose(g.run(y, feed={x: np.zeros((2, 2))}), np.full((2, 2), 2.0))
    dx = gd.grad(gd.sum(gd.exp(x)), x)
    np.testing.assert_allclose(g.run(dx, feed={x: np.zeros(3)}), np.ones(3))


@pytest.mark.parametrize("build", [lambda a, b: a @ b, gd.matmul])
def test_matmul_mismatch_raises_naming_both_shapes(build):
    g = gd.Graph()
    a, b = g.input("a", shape=(3, 2)), g.input("b", shape=(3, 2))
    with pytest.raises(gd.GraphError) as info:
        build(a, b)
    assert str(info.value).count("(3, 2)") >= 2


@pytest.mark.parametrize("sa, sb, build", [
    ((3,), (4,), gd.add),
    ((3,), (4,), gd.multiply),
    ((2, 3), (3, 2), gd.subtract),
    ((None, 3), (2, 4), gd.maximum),
    ((5,), (4,), lambda a, b: gd.where(np.ones((5,), bool), a, b)),
])
def test_broadcast_mismatch_raises_naming_both_shapes(sa, sb, build):
    g = gd.Graph()
    a, b = g.input("a", shape=sa), g.input("b", shape=sb)
    with pytest.raises(gd.GraphError) as info:
        build(a, b)
    text = str(info.value)
    assert str(sa) in text and str(sb) in text


def test_other_impossible_shapes_raise_at_build_time():
    g = gd.Graph()
    a = g.input("a", shape=(2, 3))
    b = g.input("b", shape=(2, 4))
    with pytest.raises(gd.GraphError) as info:
        gd.concatenate([a, b], axis=0)
    assert "(2, 3)" in str(info.value) and "(2, 4)" in str(info.value)
    with pytest.raises(gd.GraphError):
        gd.concatenate([a, g.input("c", shape=(3,))])     # different ranks
    with pytest.raises(gd.GraphError) as info:
        gd.reshape(a, (4, 2))
    assert "(2, 3)" in str(info.value) and "(4, 2)" in str(info.value)
    with pytest.raises(gd.GraphError):
        gd.reshape(a, (-1, 4))
    with pytest.raises(gd.GraphError):
        gd.reshape(a, (-1, -1))
    with pytest.raises(gd.GraphError):
        a[5]
    with pytest.raises(gd.GraphError):
        a[0, 0, 0]
    with pytest.raises(gd.GraphError):
        a[:, [0, 3]]
    with pytest.raises(gd.GraphError):
        gd.broadcast_to(a, (3, 3))
    with pytest.raises(gd.GraphError):
        gd.sum(a, axis=2)
    with pytest.raises(gd.GraphError):
        gd.transpose(a, (0, 0))
    with pytest.raises(gd.GraphError):
        gd.stack([a, b])
    with pytest.raises(gd.GraphError):
        a @ g.constant(2.0)


def test_mixed_graphs_raise():
    g1, g2 = gd.Graph(), gd.Graph()
    x1 = g1.input("x", shape=(2,))
    x2 = g2.input("x", shape=(2,))
    for build in (lambda: x1 + x2, lambda: gd.concatenate([x1, x2]),
                  lambda: gd.where(x1, x1, x2), lambda: gd.grad(gd.sum(x1), x2)):
        with pytest.raises(gd.GraphError):
            build()
    with pytest.raises(gd.GraphdiffError):
        g1.run(x2 * 2.0, feed={x2: np.ones(2)})


def test_strings_and_object_arrays_raise_type_error():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    for bad in ("a", b"a", np.array(["a", "b"]), np.array([object(), object()]),
                np.array([1, "a"], dtype=object)):
        with pytest.raises(TypeError):
            x + bad
    with pytest.raises(TypeError):
        g.constant("text")
    with pytest.raises(TypeError):
        g.parameter(np.array(["a"]))
    with pytest.raises(TypeError):
        g.constant([[1.0, 2.0], [3.0]])                  # ragged


def test_scalars_and_arrays_wrap_as_constants():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    y = 1.0 + x
    const = y.inputs[0]
    assert const.op is None and const.graph is g
    z = np.array([1.0, 2.0]) + x                         # __array_ufunc__ = None
    assert isinstance(z, gd.Node) and z.shape == (2,)
    w = np.ones((3, 2)) @ gd.reshape(x, (2, 1))
    assert isinstance(w, gd.Node) and w.shape == (3, 1)
    out = g.run([y, z, w, 2.0 ** x, 1.0 / x, 3 - x], feed={x: np.array([1.0, 2.0])})
    np.testing.assert_allclose(out[0], [2.0, 3.0])
    np.testing.assert_allclose(out[1], [2.0, 4.0])
    np.testing.assert_allclose(out[2], np.full((3, 1), 3.0))
    np.testing.assert_allclose(out[3], [2.0, 4.0])
    np.testing.assert_allclose(out[4], [1.0, 0.5])
    np.testing.assert_allclose(out[5], [2.0, 1.0])


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_weak_python_scalars_vs_numpy_scalars(dtype):
    g = gd.Graph()
    x = g.input("x", shape=(2,), dtype=dtype)
    assert (x * 2.0).dtype == np.dtype(dtype)
    assert (x + 1).dtype == np.dtype(dtype)
    assert (2.5 - x).dtype == np.dtype(dtype)
    assert (x ** 2.0).dtype == np.dtype(dtype)
    assert gd.maximum(x, 0.0).dtype == np.dtype(dtype)
    assert gd.where(np.ones(2, bool), x, 0.0).dtype == np.dtype(dtype)
    assert gd.clip(x, -1.0, 1.0).dtype == np.dtype(dtype)
    assert (x * np.float64(2.0)).dtype == np.float64     # NumPy scalars are arrays
    assert (x * np.array(2.0)).dtype == np.float64
    assert (x * np.float32(2.0)).dtype == np.result_type(np.dtype(dtype), np.float32)
    vals = g.run([x * 2.0, x * np.float64(2.0)], feed={x: np.ones(2, dtype=dtype)})
    assert vals[0].dtype == np.dtype(dtype) and vals[1].dtype == np.float64


def test_integer_inputs_promote_like_numpy():
    g = gd.Graph()
    n = g.input("n", shape=(2,), dtype="int32")
    assert (n + 1).dtype == np.int32
    assert (n * 2.0).dtype == np.float64
    assert gd.exp(n).dtype == np.float64
    assert (n / 2).dtype == np.float64
    assert gd.sum(n).dtype == np.sum(np.zeros(1, np.int32)).dtype
    vals = g.run([n + 1, n * 2.0, n / 2], feed={n: np.array([1, 2], dtype=np.int32)})
    assert [v.dtype for v in vals] == [np.int32, np.float64, np.float64]


def test_python_scalar_arithmetic_folds_to_a_weak_constant():
    g = gd.Graph()
    x = g.input("x", shape=(2,), dtype="float32")
    c = g.constant(2.0)
    folded = c * 3.0
    assert folded.op is None and folded.value == 6.0
    assert (x * folded).dtype == np.float32


def test_parameter_value_assignment():
    g = gd.Graph()
    W = g.parameter([[1.0, 2.0]], name="W")
    assert W.shape == (1, 2) and W.value.dtype == np.float64
    W.value = np.zeros((1, 2))
    np.testing.assert_array_equal(W.value, [[0.0, 0.0]])
    with pytest.raises(gd.GraphError, match=r"\(2,\)"):
        W.value = np.zeros(2)
    src = np.ones(3)
    P = g.parameter(src)
    src[0] = 5.0
    assert P.value[0] == 1.0                              # the parameter owns a copy


def test_errors_hierarchy():
    for cls in (gd.GraphError, gd.GradError, gd.FeedError):
        assert issubclass(cls, gd.GraphdiffError)
    assert issubclass(gd.GraphdiffError, Exception)


def test_stored_reads_leaves_without_raising_and_replace_array_checks_its_shape():
    # Tools and backends read a leaf's array through Node.stored (no private _value reads)
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    c = g.constant(np.arange(3.0))
    assert x.stored is None and (gd.sin(x)).stored is None
    np.testing.assert_array_equal(c.stored, [0.0, 1.0, 2.0])
    c.replace_array(np.arange(3.0, dtype=np.float32))
    assert c.stored.dtype == np.float32
    with pytest.raises(gd.GraphError, match="shape"):
        c.replace_array(np.zeros(4))
    with pytest.raises(gd.GraphError, match="hold arrays"):
        x.replace_array(np.zeros(2))
