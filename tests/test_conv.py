"""Convolution, pooling, erf, the composed activations and one_hot.

Values against the plain-loop NumPy references of tests/op_specs.py (and against a few
figures worked by hand), gradients through gd.check_grad in float64, float32 kept,
build-time shape errors, and the tie and padding rules torch follows.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from op_specs import (
    ref_conv1d,
    ref_conv2d,
    ref_conv_filter_grad,
    ref_conv_input_grad,
    ref_max_pool_gather,
    ref_max_pool_scatter,
    ref_pool,
)

import graphdiff as gd
from graphdiff.ops import conv as CV
from graphdiff.ops import special as SP


def _rng(seed=0):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- conv2d values
CONV2D = [  # keyword arguments, x shape, w shape
    ({}, (2, 3, 6, 5), (4, 3, 3, 3)),
    ({"padding": 2}, (1, 2, 4, 4), (3, 2, 3, 2)),
    ({"padding": (1, 0)}, (1, 2, 4, 5), (2, 2, 3, 3)),
    ({"padding": "valid"}, (2, 1, 5, 5), (2, 1, 2, 2)),
    ({"padding": "same"}, (1, 2, 5, 6), (3, 2, 3, 3)),
    ({"padding": "same"}, (1, 2, 5, 6), (3, 2, 2, 4)),            # even kernels: odd total
    ({"padding": "same", "dilation": (2, 3)}, (1, 1, 7, 8), (2, 1, 3, 2)),
    ({"stride": 2}, (2, 2, 7, 6), (3, 2, 3, 3)),
    ({"stride": (3, 1), "padding": 1}, (1, 2, 8, 5), (2, 2, 2, 3)),
    ({"dilation": 2, "padding": 1}, (1, 2, 7, 7), (2, 2, 3, 3)),
    ({"groups": 2}, (2, 4, 5, 5), (6, 2, 3, 3)),
    ({"groups": 4, "stride": 2, "padding": 1}, (1, 4, 6, 6), (4, 1, 3, 3)),  # depthwise
    ({"groups": 2, "stride": (2, 1), "dilation": (1, 2), "padding": (0, 2)},
     (2, 4, 7, 6), (2, 2, 2, 2)),
]


@pytest.mark.parametrize("kw, xs, ws", CONV2D, ids=[str(c[0]) for c in CONV2D])
def test_conv2d_and_both_gradients_match_the_loop_reference(kw, xs, ws):
    rng = _rng()
    X, Wv, bv = rng.normal(size=xs), rng.normal(size=ws), rng.normal(size=ws[0])
    g = gd.Graph()
    x, W, b = g.input("x", shape=xs), g.input("W", shape=ws), g.input("b", shape=(ws[0],))
    y = gd.conv2d(x, W, b, **kw)
    want = ref_conv2d(X, Wv, bv, **kw)
    assert y.shape == want.shape  # static shape inference
    G = rng.normal(size=want.shape)
    dx, dW, db = gd.grad(y, [x, W, b], seed=G)
    got = g.run([y, dx, dW, db], feed={x: X, W: Wv, b: bv})
    np.testing.assert_allclose(got[0], want, rtol=1e-12, atol=1e-12)
    stride, dilation = kw.get("stride", 1), kw.get("dilation", 1)
    args = (stride, kw.get("padding", 0), dilation, kw.get("groups", 1))
    np.testing.assert_allclose(got[1], ref_conv_input_grad(G, Wv, xs, *args), atol=1e-12)
    np.testing.assert_allclose(got[2], ref_conv_filter_grad(X, G, ws[2:], *args), atol=1e-11)
    np.testing.assert_allclose(got[3], G.sum(axis=(0, 2, 3)), rtol=1e-12)


@pytest.mark.parametrize("kw, xs, ws", CONV2D, ids=[str(c[0]) for c in CONV2D])
def test_kernels_in_batch_chunks_match_the_loop_reference(kw, xs, ws, monkeypatch):
    # Chunks of one example, of a few (the last one shorter) and the whole batch: each
    # kernel must give the same numbers however the batch is cut, and keep its dtype.
    rng = _rng(3)
    xs = (5,) + xs[1:]
    X, Wv = rng.normal(size=xs), rng.normal(size=ws)
    stride = CV._pair(kw.get("stride", 1), "stride", 1)
    dilation = CV._pair(kw.get("dilation", 1), "dilation", 1)
    padding = CV._conv_padding(kw.get("padding", 0), stride)
    args = (stride, padding, dilation, kw.get("groups", 1))
    ref_args = (kw.get("stride", 1), kw.get("padding", 0), kw.get("dilation", 1),
                kw.get("groups", 1))
    want = ref_conv2d(X, Wv, **kw)
    G = rng.normal(size=want.shape)
    per_example = X[0].size * ws[1] * ws[0] // (ws[1] * kw.get("groups", 1)) * 8
    for chunk in (1, per_example * 2, 1 << 30):
        monkeypatch.setattr(CV, "CHUNK_BYTES", chunk)
        np.testing.assert_allclose(CV.conv2d_forward(X, Wv, *args), want, atol=1e-12)
        np.testing.assert_allclose(CV.conv2d_input_grad(G, Wv, xs[2:], *args),
                                   ref_conv_input_grad(G, Wv, xs, *ref_args), atol=1e-12)
        np.testing.assert_allclose(CV.conv2d_filter_grad(X, G, ws[2:], *args),
                                   ref_conv_filter_grad(X, G, ws[2:], *ref_args), atol=1e-11)
        y32 = CV.conv2d_forward(X.astype(np.float32), Wv, *args)
        assert y32.dtype == np.float64  # as np.result_type: the wider operand wins
        dx32 = CV.conv2d_input_grad(G.astype(np.float32), Wv.astype(np.float32), xs[2:], *args)
        assert dx32.dtype == np.float32
        np.testing.assert_allclose(dx32, ref_conv_input_grad(G, Wv, xs, *ref_args),
                                   rtol=1e-4, atol=1e-4)


def test_input_gradient_with_infinite_weights_matches_the_loop_reference():
    # The stride-1 kernel's padded-width columns hold exact zeros only for finite weights;
    # an infinite weight takes the other kernel, where inf and NaN land as in the loop.
    rng = _rng(7)
    G, Wv = rng.normal(size=(2, 3, 5, 6)), rng.normal(size=(3, 2, 3, 3))
    Wv[1, 0, 0, 2] = np.inf
    args = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    got = CV.conv2d_input_grad(G, Wv, (5, 6), *args)
    want = ref_conv_input_grad(G, Wv, (2, 2, 5, 6), 1, 1, 1, 1)
    assert np.isinf(want).any()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_an_empty_batch_gives_empty_results_and_a_zero_filter_gradient():
    g = gd.Graph()
    x = g.input("x", shape=(None, 3, 5, 5))
    W = g.parameter(np.ones((4, 3, 3, 3)), name="W")
    y = gd.conv2d(x, W, padding=1)
    dx, dW = gd.grad(gd.sum(y), [x, W])
    got = g.run([y, dx, dW], feed={x: np.zeros((0, 3, 5, 5))})
    assert got[0].shape == (0, 4, 5, 5) and got[1].shape == (0, 3, 5, 5)
    np.testing.assert_array_equal(got[2], np.zeros((4, 3, 3, 3)))


def test_same_padding_puts_the_odd_zero_at_the_end():
    # torch.nn.functional.conv1d([[[1, 2, 3, 4]]], [[[1, 10]]], padding="same") pads one
    # zero on the right only: [1 + 20, 2 + 30, 3 + 40, 4 + 0].
    g = gd.Graph()
    x = g.input("x", shape=(1, 1, 4))
    y = gd.conv1d(x, np.array([[[1.0, 10.0]]]), padding="same")
    np.testing.assert_array_equal(g.run(y, feed={x: np.array([[[1.0, 2, 3, 4]]])}),
                                  [[[21.0, 32.0, 43.0, 4.0]]])


def test_conv2d_by_hand():
    g = gd.Graph()
    x = g.input("x", shape=(1, 1, 3, 3))
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    y = gd.conv2d(x, w, np.array([0.5]), stride=1, padding=0)
    X = np.arange(9.0).reshape(1, 1, 3, 3)  # x[i, j] - x[i+1, j+1] = -4 everywhere
    np.testing.assert_array_equal(g.run(y, feed={x: X}), np.full((1, 1, 2, 2), -3.5))


CONV1D = [
    ({}, (2, 3, 7), (4, 3, 3)),
    ({"padding": 2, "stride": 2}, (1, 2, 6), (3, 2, 3)),
    ({"padding": (1,), "dilation": 3}, (1, 2, 9), (2, 2, 2)),
    ({"padding": "same", "dilation": 2}, (2, 2, 6), (2, 2, 4)),
    ({"padding": "valid", "groups": 3}, (1, 6, 5), (3, 2, 2)),
]


@pytest.mark.parametrize("kw, xs, ws", CONV1D, ids=[str(c[0]) for c in CONV1D])
def test_conv1d_matches_the_loop_reference(kw, xs, ws):
    rng = _rng(1)
    X, Wv, bv = rng.normal(size=xs), rng.normal(size=ws), rng.normal(size=ws[0])
    g = gd.Graph()
    x = g.input("x", shape=(None,) + xs[1:])
    y = gd.conv1d(x, Wv, bv, **kw)
    pad = kw.get("padding", 0)
    want = ref_conv1d(X, Wv, bv, kw.get("stride", 1), pad[0] if isinstance(pad, tuple) else pad,
                      kw.get("dilation", 1), kw.get("groups", 1))
    assert y.shape == (None,) + want.shape[1:]
    np.testing.assert_allclose(g.run(y, feed={x: X}), want, rtol=1e-12, atol=1e-12)


def test_unknown_dimensions_pass_through_static_shapes():
    g = gd.Graph()
    x = g.input("x", shape=(None, 3, 10, 12))
    y = gd.conv2d(x, np.ones((8, 3, 3, 3)), stride=2, padding=1)
    assert y.shape == (None, 8, 5, 6)
    assert gd.max_pool2d(y, 2).shape == (None, 8, 2, 3)
    assert gd.avg_pool2d(y, 3, 1, 1).shape == (None, 8, 5, 6)
    unknown = g.input("u", shape=(None, None, None, None))
    assert gd.conv2d(unknown, np.ones((8, 1, 3, 3)), groups=1).shape == (None, 8, None, None)


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize("kw", [{"stride": 2, "padding": 1},
                                {"padding": "same", "dilation": 2, "groups": 2}])
def test_conv2d_gradients_first_and_second_order(kw):
    rng = _rng(2)
    g = gd.Graph()
    x = g.input("x", shape=(2, 2, 5, 4))
    W = g.parameter(rng.normal(size=(2, 2 // kw.get("groups", 1), 3, 2)), name="W")
    b = g.parameter(rng.normal(size=2), name="b")
    y = gd.conv2d(x, W, b, **kw)
    R = rng.uniform(0.5, 1.5, size=g.run(y, feed={x: np.zeros((2, 2, 5, 4))}).shape)
    z = gd.sum(gd.square(y) * R)
    feed = {x: rng.normal(size=(2, 2, 5, 4))}
    gd.check_grad(z, [x, W, b], feed=feed)
    dx, dW = gd.grad(z, [x, W])
    z2 = gd.sum(dx * rng.normal(size=(2, 2, 5, 4))) + gd.sum(dW * rng.normal(size=W.shape))
    gd.check_grad(z2, [x, W, b], feed=feed)


def test_third_order_through_a_conv_net():
    """Gradients of gradients of gradients: each conv op's vjps are the others."""
    rng = _rng(3)
    g = gd.Graph()
    x = g.input("x", shape=(1, 2, 4, 4))
    W = g.parameter(rng.normal(size=(2, 2, 2, 2)) * 0.5, name="W")
    h = gd.avg_pool2d(gd.tanh(gd.conv2d(x, W, padding=1)), 2, 1)
    z = gd.sum(gd.max_pool2d(h, 2, 1) ** 3)
    d1 = gd.grad(z, W)
    d2 = gd.grad(gd.sum(d1 * rng.normal(size=W.shape)), x)
    third = gd.sum(d2 * rng.normal(size=(1, 2, 4, 4)))
    ops = {type(n.op).__name__ for n in g.nodes if n.op is not None}
    assert {"ConvInputGrad", "ConvFilterGrad", "MaxPoolScatter", "MaxPoolGather",
            "AvgPoolGrad"} <= ops
    gd.check_grad(third, [x, W], feed={x: rng.normal(size=(1, 2, 4, 4))}, eps=1e-5, rtol=1e-4,
                  atol=1e-6)


def test_float32_stays_float32_through_every_order():
    rng = _rng(4)
    g = gd.Graph()
    x = g.input("x", shape=(None, 2, 6, 6), dtype="float32")
    W = g.parameter(rng.normal(size=(3, 2, 3, 3)).astype(np.float32), name="W")
    b = g.parameter(np.zeros(3, np.float32), name="b")
    h = gd.gelu(gd.conv2d(x, W, b, padding=1))
    h = gd.elu(gd.avg_pool2d(gd.max_pool2d(h, 2), 1)) + gd.silu(h)[:, :, :3, :3]
    z = gd.sum(gd.leaky_relu(h) * 1.5)
    dW, dx = gd.grad(z, [W, x])
    hvp = gd.grad(gd.sum(dW * dW) + gd.sum(dx * 2.0), [W, x, b])
    nodes = [z, dW, dx] + hvp
    assert all(n.dtype == np.float32 for n in nodes)
    values = g.run(nodes, feed={x: rng.normal(size=(2, 2, 6, 6)).astype(np.float32)})
    assert all(v.dtype == np.float32 for v in values)


# ---------------------------------------------------------------- build-time errors
@pytest.mark.parametrize("xs, ws, kw, words", [
    ((2, 3, 5, 5), (4, 2, 3, 3), {}, "channels"),
    ((2, 4, 5, 5), (3, 2, 3, 3), {"groups": 2}, "divisible"),
    ((2, 3, 2, 2), (4, 3, 3, 3), {}, "larger"),
    ((2, 3, 5, 5), (4, 3, 3, 3), {"dilation": 3}, "larger"),
    ((3, 5, 5), (4, 3, 3, 3), {}, "dimensions"),
    ((2, 3, 5, 5), (4, 3, 3), {}, "dimensions"),
])
def test_conv2d_shape_errors_name_both_shapes(xs, ws, kw, words):
    g = gd.Graph()
    x, w = g.input("x", shape=xs), g.input("w", shape=ws)
    with pytest.raises(gd.GraphError, match=words) as info:
        gd.conv2d(x, w, **kw)
    assert str(xs) in str(info.value) and str(ws) in str(info.value)


def test_conv1d_and_bias_shape_errors():
    g = gd.Graph()
    x, w = g.input("x", shape=(2, 3, 5, 5)), g.input("w", shape=(4, 3, 2))
    with pytest.raises(gd.GraphError) as info:
        gd.conv1d(x, w)
    assert "(2, 3, 5, 5)" in str(info.value) and "(4, 3, 2)" in str(info.value)
    x1 = g.input("x1", shape=(2, 3, 5))
    with pytest.raises(gd.GraphError, match=r"bias of shape \(5,\).*\(4, 3, 2\)"):
        gd.conv1d(x1, w, np.zeros(5))


def test_pool_shape_errors():
    g = gd.Graph()
    with pytest.raises(gd.GraphError, match=r"\(1, 1, 2, 2\)"):
        gd.max_pool2d(g.input("x", shape=(1, 1, 2, 2)), 3)
    with pytest.raises(gd.GraphError, match=r"\(4, 4\)"):
        gd.avg_pool2d(g.input("y", shape=(4, 4)), 2)


@pytest.mark.parametrize("call", [
    lambda x: gd.conv2d(x, np.ones((1, 1, 3, 3)), stride=2, padding="same"),
    lambda x: gd.conv2d(x, np.ones((1, 1, 3, 3)), padding="full"),
    lambda x: gd.conv2d(x, np.ones((1, 1, 3, 3)), padding=-1),
    lambda x: gd.conv2d(x, np.ones((1, 1, 3, 3)), stride=0),
    lambda x: gd.conv2d(x, np.ones((1, 1, 3, 3)), groups=0),
    lambda x: gd.max_pool2d(x, 2, padding=2),
    lambda x: gd.avg_pool2d(x, (2, 3, 4)),
])
def test_bad_arguments_raise_value_error(call):
    g = gd.Graph()
    with pytest.raises(ValueError):
        call(g.input("x", shape=(1, 1, 6, 6)))


# ---------------------------------------------------------------- pools
def test_max_pool_ties_go_to_the_first_maximum():
    # The figures torch.nn.functional.max_pool2d gives (worked out: windows read row-major).
    X = np.zeros((1, 1, 4, 4))
    X[0, 0, 0, 1] = X[0, 0, 1, 0] = 1.0
    g = gd.Graph()
    x = g.input("x", shape=(1, 1, 4, 4))
    d2, d1 = g.run([gd.grad(gd.sum(gd.max_pool2d(x, 2)), x),
                    gd.grad(gd.sum(gd.max_pool2d(x, 2, 1)), x)], feed={x: X})
    np.testing.assert_array_equal(d2[0, 0], [[0, 1, 1, 0], [0, 0, 0, 0],
                                             [1, 0, 1, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(d1[0, 0], [[0, 2, 1, 0], [1, 1, 1, 0],
                                             [1, 1, 1, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(d1, ref_max_pool_scatter(X, np.ones((1, 1, 3, 3)), 2, 1))


@pytest.mark.parametrize("args, xs", [
    ((2, None, 0), (3, 4, 6, 6)),        # windows tile the input (the CNN case)
    ((2, None, 0), (2, 3, 7, 5)),        # tiles that leave a last row and column out
    ((3, 3, 1), (2, 2, 7, 8)),           # disjoint windows with padding
    ((3, 2, 1), (2, 2, 7, 6)),           # overlapping windows
    (((2, 3), (1, 2), (1, 0)), (1, 3, 5, 7)),
])
def test_max_pool_gradient_kernels_on_relu_ties_match_the_loop_reference(args, xs):
    # ReLU outputs: many windows all zero, so the first-maximum rule decides most of them.
    rng = _rng(11)
    X = np.maximum(rng.normal(size=xs), 0.0).round(1)
    kernel, stride, padding = args
    y = ref_pool(X, kernel, stride, padding, kind="max")
    G, H = rng.normal(size=y.shape), rng.normal(size=xs)
    pool = CV._pool_args(kernel, stride, padding, "test")
    for values in ("finite", "infinite"):
        if values == "infinite":
            # Infinities outside a window's maximum must not leak in as inf * 0 = NaN.
            G[..., 0, 0], H[..., 0, 0] = np.inf, -np.inf
        dx = CV.MaxPoolScatter(*pool).forward(X, G)
        tangent = CV.MaxPoolGather(*pool).forward(X, H)
        assert not np.isnan(dx).any() and not np.isnan(tangent).any()
        # Overlapping windows add in another order than the loop: rounding only.
        np.testing.assert_allclose(dx, ref_max_pool_scatter(X, G, kernel, stride, padding),
                                   rtol=1e-14, atol=1e-15)
        np.testing.assert_array_equal(tangent,
                                      ref_max_pool_gather(X, H, kernel, stride, padding))


def test_max_pool_pads_with_minus_infinity_and_avg_pool_counts_padding():
    g = gd.Graph()
    x = g.input("x", shape=(1, 1, 3, 3))
    X = -np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # all negative: a zero pad would win
    mx, av = g.run([gd.max_pool2d(x, 3, 1, 1), gd.avg_pool2d(x, 3, 1, 1)], feed={x: X})
    np.testing.assert_array_equal(mx, ref_pool(X, 3, 1, 1, kind="max"))
    assert mx[0, 0, 0, 0] == -1.0
    np.testing.assert_allclose(av[0, 0, 0, 0], (-1 - 2 - 4 - 5) / 9, rtol=1e-15)
    np.testing.assert_allclose(av, ref_pool(X, 3, 1, 1, kind="avg"), rtol=1e-14)


def test_max_pool_gradient_second_order_with_overlap():
    rng = _rng(5)
    g = gd.Graph()
    x = g.input("x", shape=(2, 2, 5, 5))
    X = (rng.permutation(100) * 0.3).reshape(2, 2, 5, 5)  # no ties, spaced beyond eps
    z = gd.sum(gd.max_pool2d(x, 3, 1, 1) ** 2 * rng.uniform(0.5, 1.5, (2, 2, 5, 5)))
    gd.check_grad(z, x, feed={x: X})
    gd.check_grad(gd.sum(gd.grad(z, x) * rng.normal(size=X.shape)), x, feed={x: X})


# ---------------------------------------------------------------- erf
def test_cody_erf_matches_math_erf_to_1e_14():
    grid = np.concatenate([np.linspace(-7.0, 7.0, 28001), np.geomspace(1e-12, 30.0, 4001),
                           [0.5, np.nextafter(0.5, 1.0), 4.0, np.nextafter(4.0, 5.0), 27.0]])
    grid = np.concatenate([grid, -grid])
    want = np.array([math.erf(v) for v in grid])
    got = SP.cody_erf(grid)
    rel = np.abs(got - want) / np.maximum(np.abs(want), np.finfo(float).tiny)
    assert rel.max() < 1e-14
    np.testing.assert_array_equal(SP.cody_erf(np.array([np.inf, -np.inf, 0.0])), [1, -1, 0])
    assert np.isnan(SP.cody_erf(np.nan))


def test_erf_op_values_dtype_and_gradient():
    g = gd.Graph()
    x = g.input("x", shape=(5,))
    X = np.array([-3.0, -0.4, 0.0, 0.7, 5.0])
    y, dy = g.run([SP.erf(x), gd.grad(gd.sum(SP.erf(x)), x)], feed={x: X})
    np.testing.assert_allclose(y, [math.erf(v) for v in X], rtol=1e-15)
    np.testing.assert_allclose(dy, 2 / np.sqrt(np.pi) * np.exp(-X ** 2), rtol=1e-15)
    x32 = g.input("x32", shape=(2,), dtype="float32")
    assert g.run(SP.erf(x32), feed={x32: np.ones(2, np.float32)}).dtype == np.float32
    xi = g.input("xi", shape=(2,), dtype="int64")
    assert g.run(SP.erf(xi), feed={xi: np.array([0, 1])}).dtype == np.float64


# ---------------------------------------------------------------- activations
def test_activation_values():
    X = np.array([-30.0, -1.5, -1e-3, 0.0, 1e-3, 0.8, 40.0])
    g = gd.Graph()
    x = g.input("x", shape=(7,))
    erf = np.array([math.erf(v / math.sqrt(2)) for v in X])
    got = g.run([gd.leaky_relu(x), gd.leaky_relu(x, 0.3), gd.elu(x), gd.elu(x, 2.0),
                 gd.gelu(x), gd.silu(x)], feed={x: X})
    want = [np.where(X > 0, X, 0.01 * X), np.where(X > 0, X, 0.3 * X),
            np.where(X > 0, X, np.expm1(X)), np.where(X > 0, X, 2.0 * np.expm1(X)),
            X * (1 + erf) / 2, X / (1 + np.exp(-X))]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_activation_gradients_at_zero_and_far_out():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    X = np.array([0.0, 1000.0, -1000.0])
    dl, de, dg, ds = g.run([gd.grad(gd.sum(f(x)), x) for f in (
        lambda v: gd.leaky_relu(v, 0.2), lambda v: gd.elu(v, 1.5), gd.gelu, gd.silu)],
        feed={x: X})
    np.testing.assert_array_equal(dl, [0.2, 1.0, 0.2])   # slope at 0 as torch
    np.testing.assert_array_equal(de, [1.5, 1.0, 0.0])   # finite: exp(1000) is never formed
    np.testing.assert_array_equal(dg, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(ds, [0.5, 1.0, 0.0])


# ---------------------------------------------------------------- one_hot
def test_one_hot_arrays_nodes_dtypes_and_range():
    np.testing.assert_array_equal(gd.one_hot([1, 0, 2], 3), np.eye(3)[[1, 0, 2]])
    assert gd.one_hot(np.array([[1]]), 2, dtype="float32").dtype == np.float32
    g = gd.Graph()
    y = g.input("y", shape=(None, 2), dtype="int64")
    node = gd.one_hot(y, 4)
    assert node.shape == (None, 2, 4) and node.dtype == np.float64
    Y = np.array([[3, 0], [1, 1]])
    np.testing.assert_array_equal(g.run(node, feed={y: Y}), np.eye(4)[Y])
    with pytest.raises(gd.GraphdiffError, match="one_hot"):
        g.run(node, feed={y: np.array([[4, 0]])})
    with pytest.raises(ValueError):
        gd.one_hot(np.array([-1]), 3)
    with pytest.raises(gd.GraphError, match="integers"):
        gd.one_hot(g.input("f", shape=(2,)), 3)
    with pytest.raises(TypeError):
        gd.one_hot(np.array([0.5]), 3)


def test_one_hot_gives_no_gradient_and_mixes_with_losses():
    g = gd.Graph()
    y = g.input("y", shape=(3,), dtype="int64")
    z = g.input("z", shape=(3, 4))
    loss = gd.losses.softmax_cross_entropy(z, gd.one_hot(y, 4))
    sparse = gd.losses.softmax_cross_entropy(z, y)
    feed = {y: np.array([0, 3, 1]), z: _rng(6).normal(size=(3, 4))}
    a, b = g.run([loss, sparse], feed=feed)
    np.testing.assert_allclose(a, b, rtol=1e-14)
    gd.check_grad(loss, z, feed=feed)


# ---------------------------------------------------------------- declarations
def test_flops_and_fresh_outputs_are_declared():
    g = gd.Graph()
    x = g.input("x", shape=(4, 3, 8, 8))
    W = g.parameter(np.ones((5, 3, 3, 3)), name="W")
    y = gd.conv2d(x, W, padding=1)
    dx, dW = gd.grad(gd.sum(gd.max_pool2d(y, 2)), [x, W])
    report = gd.cost([y, dx, dW])
    conv = 2 * 4 * 5 * 8 * 8 * 3 * 3 * 3
    assert report.flops(op="Conv2d") == conv
    assert report.flops(op="ConvInputGrad") == conv
    assert report.flops(op="ConvFilterGrad") == conv
    for node in (y, dx, dW):
        assert node.op.fresh_output() and node.op.builtin
    assert CV.Conv2d((1, 1), "same", (1, 1), 1) == CV.Conv2d((1, 1), "same", (1, 1), 1)


def test_compiled_function_returns_arrays_the_caller_owns():
    rng = _rng(7)
    g = gd.Graph()
    x = g.input("x", shape=(None, 2, 4, 4))
    W = g.parameter(rng.normal(size=(3, 2, 1, 1)), name="W")
    y = gd.conv2d(x, W)
    f = g.function([x], [y, gd.grad(gd.sum(gd.avg_pool2d(y, 2) ** 2), W)])
    X1, X2 = rng.normal(size=(2, 2, 4, 4)), rng.normal(size=(3, 2, 4, 4))
    first = [a.copy() for a in f(X1)]
    kept = f(X1)
    f(X2)
    for a, b in zip(first, kept, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(first[0], ref_conv2d(X1, W.value), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- layers
def test_conv2d_layer_params_init_and_forward():
    g = gd.Graph()
    layer = gd.nn.Conv2d(g, 4, 6, 3, stride=2, padding=1, activation=gd.relu,
                         rng=_rng(8), name="1")
    W, b = layer.params
    assert (W.name, b.name) == ("W1", "b1")
    assert W.value.shape == (6, 4, 3, 3) and b.value.shape == (6,)
    bound = 1 / np.sqrt(4 * 3 * 3)  # torch's kaiming_uniform(a=sqrt(5)): 1 / sqrt(fan_in)
    assert np.abs(W.value).max() <= bound and np.abs(b.value).max() <= bound
    x = g.input("x", shape=(None, 4, 7, 7))
    X = _rng(9).normal(size=(2, 4, 7, 7))
    y = layer(x)
    assert y.shape == (None, 6, 4, 4)
    want = np.maximum(ref_conv2d(X, W.value, b.value, stride=2, padding=1), 0)
    np.testing.assert_allclose(g.run(y, feed={x: X}), want, rtol=1e-12, atol=1e-14)
    # One set of parameters serves both branches.
    np.testing.assert_array_equal(*g.run([layer(x, training=True), y], feed={x: X}))


def test_conv2d_layer_init_is_uniform_on_the_bound_and_reproducible():
    g = gd.Graph()
    W = gd.nn.Conv2d(g, 16, 64, (3, 5), rng=_rng(10)).W.value
    bound = 1 / np.sqrt(16 * 3 * 5)
    assert W.shape == (64, 16, 3, 5)
    assert np.abs(W).max() <= bound and np.abs(W).max() > 0.99 * bound  # 15,360 draws
    assert abs(W.std() / (bound / np.sqrt(3)) - 1) < 0.03            # uniform: bound/sqrt(3)
    again = gd.nn.Conv2d(gd.Graph(), 16, 64, (3, 5), rng=_rng(10)).W.value
    np.testing.assert_array_equal(W, again)
    g32 = gd.nn.Conv2d(g, 2, 3, 2, dtype="float32", groups=1)
    assert g32.W.value.dtype == np.float32 and g32.b.value.dtype == np.float32
    with pytest.raises(ValueError):
        gd.nn.Conv2d(g, 3, 4, 3, groups=2)


def test_pool_layers_have_no_params_and_match_the_functions():
    g = gd.Graph()
    x = g.input("x", shape=(1, 2, 6, 6))
    X = _rng(11).normal(size=(1, 2, 6, 6))
    mp, ap = gd.nn.MaxPool2d(3, stride=2, padding=1), gd.nn.AvgPool2d(2)
    assert mp.params == [] and ap.params == []
    got = g.run([mp(x), ap(x, training=True)], feed={x: X})
    np.testing.assert_array_equal(got[0], ref_pool(X, 3, 2, 1, kind="max"))
    np.testing.assert_allclose(got[1], ref_pool(X, 2, kind="avg"), rtol=1e-14)
    assert "MaxPool2d(3" in repr(mp) and "Conv2d(1, 2" in repr(gd.nn.Conv2d(g, 1, 2, 3))


def test_small_cnn_trains_and_its_gradients_check():
    rng = _rng(12)
    g = gd.Graph()
    x = g.input("x", shape=(None, 1, 6, 6))
    labels = g.input("y", shape=(None,), dtype="int64")
    conv = gd.nn.Conv2d(g, 1, 3, 3, padding="same", activation=gd.gelu, rng=rng)
    pool = gd.nn.MaxPool2d(2)
    dense = gd.nn.Dense(g, 3 * 3 * 3, 2, rng=rng)
    logits = dense(gd.reshape(pool(conv(x)), (-1, 27)))
    loss = gd.losses.softmax_cross_entropy(logits, labels)
    params = conv.params + dense.params
    X = rng.normal(size=(8, 1, 6, 6))
    Y = (X[:, 0, :3].sum(axis=(1, 2)) > X[:, 0, 3:].sum(axis=(1, 2))).astype(np.int64)
    gd.check_grad(loss, params, feed={x: X, labels: Y})
    step = g.function([x, labels], [loss] + gd.grad(loss, params))
    opt = gd.optim.SGD(params, lr=0.2)
    first = None
    for _ in range(60):
        value, *grads = step(X, Y)
        first = value if first is None else first
        opt.step(grads)
    assert value < 0.5 * first


def test_conv_benchmark_runs_at_tiny_sizes():
    """benchmarks/bench_conv.py cannot rot: it runs and prints its figures (no timing asserts)."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_conv", "--quick"], cwd=repo,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "graphdiff" in proc.stdout and "ms" in proc.stdout


def test_cnn_benchmark_runs_at_tiny_sizes():
    """benchmarks/bench_cnn.py cannot rot either (no timing asserts)."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_cnn", "--quick"], cwd=repo,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "graphdiff" in proc.stdout and "ms" in proc.stdout


def test_save_load_pictures_and_lint_read_the_new_ops(tmp_path):
    rng = _rng(13)
    g = gd.Graph()
    x = g.input("x", shape=(None, 2, 6, 6))
    labels = g.input("labels", shape=(2,), dtype="int64")
    W = g.parameter(rng.normal(size=(3, 2, 3, 3)), name="W")
    y = gd.max_pool2d(gd.gelu(gd.conv2d(x, W, padding="same", groups=1)), 2)
    z = gd.sum(gd.avg_pool2d(y, 2, 1, 1)) + gd.sum(gd.one_hot(labels, 3))
    dx, dW = gd.grad(z, [x, W])
    hvp = gd.grad(gd.sum(dx * dx), W)
    for node, name in ((z, "z"), (dx, "dx"), (dW, "dW"), (hvp, "hvp")):
        node.name = name
    g.save(tmp_path / "g.npz")
    h = gd.Graph.load(tmp_path / "g.npz")
    named = {n.name: n for n in h.nodes if n.name}
    X, L = rng.normal(size=(2, 2, 6, 6)), np.array([0, 2])
    want = g.run([z, dx, dW, hvp], feed={x: X, labels: L})
    got = h.run([named[k] for k in ("z", "dx", "dW", "hvp")],
                feed={named["x"]: X, named["labels"]: L})
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    dot = gd.to_dot(g)
    assert "Conv2d" in dot and "MaxPoolScatter" in dot
    assert isinstance(gd.lint([z, dx, dW]), list)


def test_integer_convolution_is_refused_at_build_time_and_1_tuples_work():
    g = gd.Graph()
    xi = g.input("xi", shape=(1, 1, 4, 4), dtype="int64")
    with pytest.raises(gd.GraphError, match="floating point"):
        gd.conv2d(xi, np.ones((1, 1, 2, 2)))
    x = g.input("x", shape=(1, 1, 7))
    X = np.arange(7.0).reshape(1, 1, 7)
    y = gd.conv1d(x, np.ones((1, 1, 2)), stride=(2,), dilation=(2,), padding=(1,))
    np.testing.assert_array_equal(g.run(y, feed={x: X}),
                                  ref_conv1d(X, np.ones((1, 1, 2)), None, 2, 1, 2))
