"""Issue 15, silent wrong answers and malformed construction: each case a regression test.

Every test here failed before its fix: a wrong value, an accepted malformed argument, or
an internal exception (ValueError, IndexError, AttributeError, ZeroDivisionError) where a
named graphdiff error (or a TypeError naming the op and the user's line) belongs.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd

HERE = __file__.rsplit("/", 1)[-1]


@pytest.fixture
def g():
    return gd.Graph()


# ---------------------------------------------------------------- parameters keep their dtype
def test_assigning_another_float_dtype_casts_to_the_declared_dtype(g):
    W = g.parameter(np.ones(3), name="W")
    x = g.input("x", shape=(3,))
    y = gd.sum(x * W)
    W.value = np.full(3, 2.0, dtype=np.float32)
    assert W.value.dtype == np.float64 == W.dtype
    f = g.function([x], y)
    xs = np.full(3, 1.0 / 3.0)
    run, compiled = g.run(y, feed={x: xs}), f(xs)
    assert run.dtype == compiled.dtype == np.float64
    assert run == compiled == pytest.approx(2.0, rel=1e-15)


def test_assigning_integers_to_a_float_parameter_casts(g):
    W = g.parameter(np.ones(2, dtype=np.float32), name="W")
    W.value = np.array([3, 4])
    assert W.value.dtype == np.float32
    np.testing.assert_array_equal(W.value, [3.0, 4.0])


def test_assigning_a_lossy_kind_raises(g):
    W = g.parameter(np.ones(2, dtype=np.int64), name="W")
    with pytest.raises(gd.GraphError, match="float64.*'W'.*int64"):
        W.value = np.array([0.5, 1.5])
    V = g.parameter(np.ones(2), name="V")
    with pytest.raises(gd.GraphError, match="complex128"):
        V.value = np.ones(2, dtype=complex)


# ---------------------------------------------------------------- custom bprop shapes
def test_custom_bprop_of_the_wrong_static_shape_is_a_grad_error(g):
    from graphdiff.op import Op

    class Twice(Op):
        def forward(self, x):
            return 2 * x

        def infer(self, x):
            return x.shape, x.dtype

        def vjp(self, i, inputs, output, grad):
            return gd.sum(grad, axis=0)  # (3,) for a (4, 3) input: a bug in the rule

    x = g.input("x", shape=(4, 3))
    from graphdiff.op import make_node

    y = make_node(Twice(), x)
    with pytest.raises(gd.GradError, match=r"Twice.*\(3,\).*\(4, 3\)"):
        gd.grad(gd.sum(y), x)


def test_custom_bprop_of_a_broadcastable_shape_still_sums(g):
    from graphdiff.op import Op, make_node

    class Scale(Op):
        def forward(self, x, w):
            return x * w

        def infer(self, x, w):
            return x.shape, x.dtype

        def vjp(self, i, inputs, output, grad):
            x, w = inputs
            return grad * w if i == 0 else grad * x   # (4, 3) for w of shape (3,): summed

    x = g.input("x", shape=(4, 3))
    w = g.parameter(np.ones(3), name="w")
    (dw,) = gd.grad(gd.sum(make_node(Scale(), x, w)), [w])
    assert dw.shape == (3,)


# ---------------------------------------------------------------- arguments that lied
def test_mse_of_none_is_a_type_error(g):
    x = g.input("x", shape=(3,))
    with pytest.raises(TypeError, match="mse.*None"):
        gd.losses.mse(x, None)
    with pytest.raises(TypeError, match="mae.*'a'"):
        gd.losses.mae(x, "a")


@pytest.mark.parametrize("axis", [(1.7,), [True], 1.0, True, "1", (0, None)])
@pytest.mark.parametrize("fn", [gd.sum, gd.mean, gd.max, gd.logsumexp])
def test_non_integer_axes_are_refused(g, fn, axis):
    x = g.input("x", shape=(3, 4))
    with pytest.raises(TypeError, match=f"axis.*{HERE}"):
        fn(x, axis=axis)


def test_boolean_mask_of_the_wrong_length_is_refused(g):
    x = g.input("x", shape=(3, 4))
    with pytest.raises(gd.GraphError, match=r"mask of shape \(2,\).*\(3,\)"):
        x[np.array([True, False])]
    with pytest.raises(gd.GraphError, match=r"mask of shape \(3,\).*\(4,\)"):
        x[:, np.array([True, False, True])]
    ok = x[np.array([True, False, True])]
    assert ok.shape == (2, 4)


def test_constants_and_index_arrays_do_not_alias_the_callers_arrays(g):
    x = g.input("x", shape=(3,))
    a = np.array([1.0, 2.0, 3.0])
    c = g.constant(a)
    idx = np.array([0, 1])
    mask = np.array([True, False, True])
    y, picked, masked = x * c, x[idx], x[mask]
    a[:] = 100.0
    idx[0] = 2
    mask[1] = True
    xs = np.array([10.0, 20.0, 30.0])
    got = g.run([y, picked, masked], feed={x: xs})
    np.testing.assert_array_equal(got[0], [10.0, 40.0, 90.0])
    np.testing.assert_array_equal(got[1], [10.0, 20.0])
    np.testing.assert_array_equal(got[2], [10.0, 30.0])


@pytest.mark.parametrize("bounds", ["scalar", "array", "mixed"])
def test_clip_gradient_at_a_bound_is_one_rule(g, bounds):
    # PyTorch's rule: at x == a_min or x == a_max the gradient goes to x in full.
    x = g.input("x", shape=(4,))
    lo, hi = {"scalar": (-1.0, 1.0), "array": (np.full(4, -1.0), np.full(4, 1.0)),
              "mixed": (-1.0, np.full(4, 1.0))}[bounds]
    xs = np.array([-1.0, 0.5, 1.0, 3.0])
    y = gd.clip(x, lo, hi)
    np.testing.assert_array_equal(g.run(y, feed={x: xs}), np.clip(xs, lo, hi))
    np.testing.assert_array_equal(g.run(gd.grad(gd.sum(y), x), feed={x: xs}),
                                  [1.0, 1.0, 1.0, 0.0])


def test_clip_array_bounds_get_the_gradient_where_they_are_the_result(g):
    x = g.input("x", shape=(4,))
    lo = g.parameter(np.full(4, -1.0), name="lo")
    hi = g.parameter(np.full(4, 1.0), name="hi")
    xs = np.array([-2.0, -1.0, 1.0, 3.0])
    dlo, dhi = g.run(gd.grad(gd.sum(gd.clip(x, lo, hi)), [lo, hi]), feed={x: xs})
    np.testing.assert_array_equal(dlo, [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(dhi, [0.0, 0.0, 0.0, 1.0])
    # a_min > a_max gives a_max, as np.clip
    np.testing.assert_array_equal(g.run(gd.clip(x, 2.0 * np.ones(4), np.zeros(4)),
                                        feed={x: xs}), np.zeros(4))


def test_power_of_a_scalar_zero_base_has_zero_gradient_in_the_exponent(g):
    y = g.input("y", shape=(3,))
    ys = np.array([1.0, 2.0, 0.5])
    dy = g.run(gd.grad(gd.sum(gd.power(0.0, y)), y), feed={y: ys})
    np.testing.assert_array_equal(dy, np.zeros(3))
    dy2 = g.run(gd.grad(gd.sum(gd.power(2.0, y)), y), feed={y: ys})
    np.testing.assert_allclose(dy2, 2.0 ** ys * np.log(2.0))


def test_truth_value_of_a_node_is_a_type_error_suggesting_where(g):
    x = g.input("x", shape=())
    with pytest.raises(TypeError, match="gd.where"):
        if x > 0:
            pass
    with pytest.raises(TypeError, match="gd.where"):
        bool(x)


def test_numpy_functions_on_nodes_say_what_to_call(g):
    x = g.input("x", shape=(2,))
    with pytest.raises(TypeError, match=r"gd\.exp"):
        np.exp(x)
    with pytest.raises(TypeError, match=r"gd\.exp|g\.run"):
        np.asarray(x)
    with pytest.raises(TypeError, match=r"g\.run"):
        np.array([x, x])


def test_function_with_a_repeated_input_is_a_graph_error(g):
    x = g.input("x", shape=(2,))
    with pytest.raises(gd.GraphError, match="'x' twice"):
        g.function([x, x], gd.sum(x))


# ---------------------------------------------------------------- unknown batch dimensions
def test_slice_of_an_unknown_batch_has_an_unknown_size(g):
    u = g.input("u", shape=(None, 3))
    for s in (u[:1], u[:3], u[1:], u[::2]):
        assert s.shape == (None, 3)
        assert g.run(s, feed={u: np.zeros((0, 3))}).shape == (0, 3)
    assert u[5].shape == (3,) and u[-1].shape == (3,)


def test_large_integer_index_into_an_unknown_dimension(g):
    u = g.input("u", shape=(None, 2))
    big = g.input("b", shape=(None,))
    row, picked = u[20_000], big[np.array([0, 15_000])]
    assert row.shape == (2,) and picked.shape == (2,)
    us = np.arange(40_002.0).reshape(20_001, 2)
    np.testing.assert_array_equal(g.run(row, feed={u: us}), us[20_000])
    bs = np.arange(15_001.0)
    np.testing.assert_array_equal(g.run(picked, feed={big: bs}), [0.0, 15_000.0])
    with pytest.raises(gd.GraphdiffError):
        g.run(row, feed={u: np.zeros((3, 2))})


# ---------------------------------------------------------------- malformed construction
@pytest.mark.parametrize("shape", [(-1,), (2.7,), (float("nan"),), ("a",), (True,), 3,
                                   (2, -3)])
def test_malformed_input_shapes_are_graph_errors(g, shape):
    with pytest.raises(gd.GraphError, match=f"input 'q'.*{HERE}"):
        g.input("q", shape=shape)


def test_valid_input_shapes(g):
    assert g.input("a", shape=(0, None, np.int64(3))).shape == (0, None, 3)
    assert g.input("b", shape=[]).shape == ()


@pytest.mark.parametrize("build", [
    lambda v, x: gd.broadcast_to(v, (-1, 3)),
    lambda v, x: gd.reshape(x, (-2, 6)),
    lambda v, x: gd.reshape(x, (-1, -1)),
], ids=["broadcast_to_negative", "reshape_minus_two", "reshape_two_minus_ones"])
def test_negative_target_shapes_are_graph_errors(g, build):
    v, x = g.input("v", shape=(3,)), g.input("x", shape=(3, 4))
    with pytest.raises(gd.GraphError, match=HERE):
        build(v, x)


@pytest.mark.parametrize("fn", [gd.concatenate, gd.stack])
def test_empty_sequences_to_join_are_named_errors(fn):
    with pytest.raises((gd.GraphdiffError, TypeError), match=f"{fn.__name__}.*{HERE}"):
        fn([])


def test_grad_seed_of_a_string_is_a_type_error(g):
    x = g.input("x", shape=(2,))
    with pytest.raises(TypeError, match="seed.*'a'"):
        gd.grad(gd.sum(x), x, seed="a")
    with pytest.raises(TypeError, match="seed"):
        gd.grad(x, x, seed=[[1.0], [1.0, 2.0]])


def test_ragged_and_zero_d_boolean_indices_are_named_errors(g):
    x = g.input("x", shape=(3, 4))
    with pytest.raises(TypeError, match=f"rectangular.*{HERE}"):
        x[[[0, 1], [2]]]
    with pytest.raises(gd.GraphError, match=f"0-d boolean.*{HERE}"):
        x[np.array(True)]


def test_empty_index_list_is_empty_as_in_numpy(g):
    x = g.input("x", shape=(3, 4))
    y = x[[]]
    xs = np.ones((3, 4))
    assert y.shape == xs[[]].shape == (0, 4)
    assert g.run(y, feed={x: xs}).shape == (0, 4)
    assert g.run(gd.grad(gd.sum(y), x), feed={x: xs}).shape == (3, 4)


def test_dense_rng_must_be_a_generator(g):
    with pytest.raises(TypeError, match="default_rng"):
        gd.nn.Dense(g, 3, 2, rng=5)


def test_consumers_of_a_non_node_is_a_type_error(g):
    with pytest.raises(TypeError, match="consumers.*str"):
        g.consumers("a")
    other = gd.Graph().input("o", shape=())
    with pytest.raises(TypeError, match="consumers"):
        g.consumers(other)


def test_check_grad_with_a_name_instead_of_a_node(g):
    x = g.input("x", shape=(2,))
    with pytest.raises(TypeError, match="targets.*str"):
        gd.check_grad(gd.sum(x * x), "x", feed={x: np.ones(2)})


@pytest.mark.parametrize("build, op", [
    (lambda x: gd.matmul(x, None), "matmul"),
    (lambda x: x + "a", "add"),
    (lambda x: gd.multiply(x, object()), "multiply"),
])
def test_bad_operand_type_error_names_op_operands_and_site(g, build, op):
    x = g.input("x", shape=(3, 4))
    with pytest.raises(TypeError) as info:
        build(x)
    text = str(info.value)
    assert text.startswith(op) and HERE in text
    assert "'x' of shape (3, 4)" in text          # the valid operand, by its name


def test_gradient_of_the_mean_of_a_statically_empty_array(g):
    x = g.input("x", shape=(0,))
    dx = gd.grad(gd.mean(x), x)
    assert g.run(dx, feed={x: np.zeros(0)}).shape == (0,)
    y = g.input("y", shape=(0, 3))
    dy = gd.grad(gd.sum(gd.mean(y, axis=0)), y)
    assert g.run(dy, feed={y: np.zeros((0, 3))}).shape == (0, 3)
