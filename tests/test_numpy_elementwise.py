"""The NumPy elementwise surface: values, static dtypes and shapes against NumPy over
dtypes and broadcasting shapes, build-time errors, the conventions at kinks and NaNs,
stable forms, logic operators, casts, and Nodes meeting NumPy functions."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd

UNARY = ("tan sinh cosh arcsin arccos arctan arcsinh arccosh arctanh exp2 expm1 log2 log10 "
         "log1p reciprocal sign floor ceil rint trunc fabs sinc deg2rad rad2deg degrees "
         "radians nan_to_num logical_not isfinite isnan isinf").split()
BINARY = ("arctan2 hypot logaddexp logaddexp2 mod remainder fmod fmax fmin equal not_equal "
          "less less_equal greater greater_equal logical_and logical_or logical_xor").split()
DTYPES = ("float64", "float32", "float16", "int8", "int16", "int64", "uint8", "bool")


def _sample(dtype, shape, rng):
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) > 0.5
    if dtype.kind in "iu":
        return rng.integers(1 if dtype.kind == "u" else -3, 4, shape).astype(dtype)
    return rng.uniform(-3, 3, shape).astype(dtype)


def _run(fn, arrays, declared=None):
    g = gd.Graph()
    nodes = [g.input(f"x{k}", shape=a.shape if declared is None else declared[k],
                     dtype=a.dtype) for k, a in enumerate(arrays)]
    out = fn(*nodes)
    with np.errstate(all="ignore"):
        value = g.run(out, feed=dict(zip(nodes, arrays)))
    return out, value


def _skip_numpy_errors(fn, *arrays):
    with np.errstate(all="ignore"):
        try:
            return fn(*arrays)
        except TypeError:
            return None  # NumPy has no loop for these dtypes (reciprocal of bool, ...)


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_values_and_dtypes_match_numpy(name, dtype):
    rng = np.random.default_rng(len(name))
    x = _sample(dtype, (2, 3), rng)
    expected = _skip_numpy_errors(getattr(np, name), x)
    if expected is None:
        with pytest.raises(TypeError):
            _run(getattr(gd, name), [x])
        return
    out, value = _run(getattr(gd, name), [x])
    assert out.dtype == value.dtype == expected.dtype, (out.dtype, value.dtype, expected.dtype)
    assert out.shape == value.shape == expected.shape
    np.testing.assert_allclose(value, expected, rtol=1e-6 if dtype != "float16" else 1e-3,
                               equal_nan=True)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("dtypes", [("float64", "float64"), ("float32", "float32"),
                                    ("float32", "float64"), ("int16", "int8"),
                                    ("int64", "float32"), ("bool", "bool"),
                                    ("uint8", "int8")])
@pytest.mark.parametrize("shapes", [((3, 1), (1, 4)), ((), (2, 3)), ((2, 3, 4), (4,))])
def test_binary_values_dtypes_and_broadcasting_match_numpy(name, dtypes, shapes):
    rng = np.random.default_rng(len(name) + len(dtypes[0]))
    a, b = (_sample(d, s, rng) for d, s in zip(dtypes, shapes))
    if name in ("mod", "remainder", "fmod") and b.dtype.kind in "iub":
        b = np.where(b == 0, 1, b).astype(b.dtype)
    expected = _skip_numpy_errors(getattr(np, name), a, b)
    if expected is None:
        with pytest.raises(TypeError):
            _run(getattr(gd, name), [a, b])
        return
    expected = np.asarray(expected)
    out, value = _run(getattr(gd, name), [a, b])
    assert out.dtype == value.dtype == expected.dtype
    assert out.shape == value.shape == expected.shape
    np.testing.assert_allclose(value, expected, rtol=1e-6, equal_nan=True)
    # Unknown dimensions pass through to the same run-time result.
    out, value = _run(getattr(gd, name), [a, b], declared=[(None,) * a.ndim, (None,) * b.ndim])
    assert out.shape == (None,) * expected.ndim
    np.testing.assert_allclose(value, expected, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("name", ["arctan2", "hypot", "logaddexp", "mod", "fmax", "fmin",
                                  "less", "logical_and"])
def test_python_scalars_are_weak(name):
    # A Python float never widens float32; a Python int keeps int8 as NumPy 2 does.
    g = gd.Graph()
    x32 = g.input("x", shape=(3,), dtype="float32")
    i8 = g.input("i", shape=(3,), dtype="int8")
    fn = getattr(gd, name)
    expected32 = getattr(np, name)(np.ones(3, np.float32), 2.0)
    expected8 = getattr(np, name)(np.ones(3, np.int8), 2)
    assert fn(x32, 2.0).dtype == expected32.dtype
    assert fn(i8, 2).dtype == expected8.dtype
    assert fn(2.0, x32).dtype == getattr(np, name)(2.0, np.ones(3, np.float32)).dtype


def test_broadcast_errors_name_the_op_and_the_line():
    g = gd.Graph()
    a, b = g.input("a", shape=(3,)), g.input("b", shape=(4,))
    with pytest.raises(gd.GraphError, match=r"Arctan2.*test_numpy_elementwise\.py"):
        gd.arctan2(a, b)
    with pytest.raises(gd.GraphError, match="logical_and"):
        gd.logical_and(a, b)
    flags = g.input("flags", shape=(3,), dtype=bool)
    with pytest.raises(TypeError, match=r"Signum of bool at .*test_numpy_elementwise\.py"):
        gd.sign(flags)  # NumPy has no sign loop for booleans


@pytest.mark.parametrize("fn", [gd.tan, gd.arcsinh, gd.sign, gd.isnan, gd.nan_to_num,
                                lambda z: gd.hypot(z, 1.0), lambda z: gd.less(z, 1.0),
                                lambda z: gd.astype(z, "float64"),
                                lambda z: gd.logical_or(z, True)])
def test_complex_operands_raise_type_error_at_build_time(fn):
    g = gd.Graph()
    z = g.constant(np.array([1 + 2j, 3j]))
    with pytest.raises(TypeError, match=r"complex dtypes are not supported yet.*"
                                        r"test_numpy_elementwise\.py"):
        fn(z)


def test_astype_to_complex_raises():
    g = gd.Graph()
    with pytest.raises(TypeError, match="complex"):
        gd.astype(g.input("x", shape=(2,)), np.complex128)


# ---------------------------------------------------------------- conventions and stable forms
def _grad(fn, X, *, wrt=0, others=()):
    g = gd.Graph()
    arrays = [np.asarray(X, float)] + [np.asarray(o, float) for o in others]
    nodes = [g.input(f"x{k}", shape=a.shape) for k, a in enumerate(arrays)]
    with np.errstate(all="ignore"):
        return g.run(gd.grad(gd.sum(fn(*nodes)), nodes[wrt]), feed=dict(zip(nodes, arrays)))


def test_sinc_gradient_is_zero_at_zero_and_right_nearby():
    d = _grad(gd.sinc, [0.0, 1e-4, 0.5])
    assert d[0] == 0.0
    # sinc'(x) = (cos(pi x) - sinc(x)) / x
    for x, v in zip([1e-4, 0.5], d[1:]):
        np.testing.assert_allclose(v, (np.cos(np.pi * x) - np.sinc(x)) / x, rtol=1e-6)
    assert np.isfinite(d).all()


def test_hypot_and_arctan2_gradients_at_the_origin_are_zero():
    for fn in (gd.hypot, gd.arctan2):
        for wrt in (0, 1):
            d = _grad(fn, [0.0, 3.0], wrt=wrt, others=([0.0, 4.0],))
            assert d[0] == 0.0 and np.isfinite(d).all()
    np.testing.assert_allclose(_grad(gd.hypot, [3.0], others=([4.0],)), [0.6])
    np.testing.assert_allclose(_grad(gd.arctan2, [3.0], others=([4.0],)), [4.0 / 25.0])


def test_fmax_and_fmin_route_the_gradient_to_the_non_nan_operand():
    a = [np.nan, 1.0, 2.0, 3.0, np.nan]
    b = [1.0, np.nan, 5.0, 3.0, np.nan]
    da_max = _grad(gd.fmax, a, others=(b,))
    db_max = _grad(gd.fmax, b, others=(a,))
    np.testing.assert_array_equal(da_max, [0.0, 1.0, 0.0, 0.5, 0.0])
    np.testing.assert_array_equal(db_max, [1.0, 0.0, 1.0, 0.5, 0.0])
    da_min = _grad(gd.fmin, a, others=(b,))
    np.testing.assert_array_equal(da_min, [0.0, 1.0, 1.0, 0.5, 0.0])


def test_nan_to_num_values_and_gradient():
    X = np.array([np.nan, np.inf, -np.inf, 2.0])
    out, value = _run(lambda x: gd.nan_to_num(x, nan=-1.0, posinf=7.0, neginf=-7.0), [X])
    np.testing.assert_array_equal(value, np.nan_to_num(X, nan=-1.0, posinf=7.0, neginf=-7.0))
    _, default = _run(gd.nan_to_num, [X])
    np.testing.assert_array_equal(default, np.nan_to_num(X))
    np.testing.assert_array_equal(_grad(gd.nan_to_num, X), [0.0, 0.0, 0.0, 1.0])
    _, ints = _run(gd.nan_to_num, [np.array([1, 2], np.int32)])
    assert ints.dtype == np.int32


def test_mod_and_fmod_divisor_gradients_follow_floor_and_trunc():
    a, b = np.array([5.5, -5.5, 5.5, -5.5]), np.array([2.0, 2.0, -2.0, -2.0])
    np.testing.assert_array_equal(_grad(lambda p, q: gd.mod(q, p), b, others=(a,)),
                                  -np.floor(a / b))
    np.testing.assert_array_equal(_grad(lambda p, q: gd.fmod(q, p), b, others=(a,)),
                                  -np.trunc(a / b))
    np.testing.assert_array_equal(_grad(gd.fmod, a, others=(b,)), np.ones(4))


@pytest.mark.parametrize("name", ["floor", "ceil", "rint", "trunc", "sign"])
def test_piecewise_constant_functions_have_zero_gradient(name):
    assert not np.any(_grad(getattr(gd, name), [-1.5, -0.2, 0.0, 0.7, 2.5]))


def test_stable_forms_at_small_and_large_arguments():
    tiny = np.array([1e-12, -1e-12])
    _, l1p = _run(gd.log1p, [tiny])
    np.testing.assert_allclose(l1p, tiny, rtol=1e-10)  # log(1 + x) would give 0 or 1e-12 +- ...
    _, em1 = _run(gd.expm1, [tiny])
    np.testing.assert_allclose(em1, tiny, rtol=1e-10)
    # d expm1 at -40 is exp(-40), to full relative precision (y + 1 would give 0).
    np.testing.assert_allclose(_grad(gd.expm1, [-40.0]), [np.exp(-40.0)], rtol=1e-12)
    big = np.array([1000.0, -1000.0])
    _, lae = _run(gd.logaddexp, [big, big])
    np.testing.assert_allclose(lae, big + np.log(2.0))
    np.testing.assert_allclose(_grad(gd.logaddexp, big, others=(big,)), [0.5, 0.5])
    np.testing.assert_allclose(_grad(gd.logaddexp2, big, others=(big,)), [0.5, 0.5])
    _, h = _run(gd.hypot, [np.array([1e200]), np.array([1e200])])
    assert np.isfinite(h).all()
    # arcsin near 1: (1 - x)(1 + x), not 1 - x^2.
    x = 1 - 1e-12
    np.testing.assert_allclose(_grad(gd.arcsin, [x]), [1 / np.sqrt((1 - x) * (1 + x))],
                               rtol=1e-9)


def test_second_order_of_a_chain_of_new_functions():
    g = gd.Graph()
    x = g.input("x", shape=(4,))
    y = gd.sum(gd.arctan2(gd.sinh(x), gd.cosh(x) + 1.0) * gd.log1p(gd.exp2(x)))
    X = np.array([-1.0, -0.3, 0.4, 1.2])
    dx = gd.grad(y, x)
    gd.check_grad(y, x, feed={x: X})
    gd.check_grad(gd.sum(dx * np.array([1.0, 2.0, 3.0, 4.0])), x, feed={x: X})
    gd.check_jvp(dx, x, feed={x: X})


# ---------------------------------------------------------------- logic and casts
def test_boolean_operators_and_their_numpy_twins():
    g = gd.Graph()
    x = g.input("x", shape=(4,))
    X = np.array([-1.0, 0.0, 0.5, 2.0])
    a, b = x > 0, x < 1
    A, B = X > 0, X < 1
    results = g.run([a & b, a | b, a ^ b, ~a, True & a, np.array([True, False, True, False]) | b],
                    feed={x: X})
    expected = [A & B, A | B, A ^ B, ~A, True & A, np.array([True, False, True, False]) | B]
    for r, e in zip(results, expected):
        assert r.dtype == bool
        np.testing.assert_array_equal(r, e)


def test_bitwise_operators_on_non_boolean_nodes_raise():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    i = g.input("i", shape=(3,), dtype="int32")
    for make in (lambda: x & (x > 0), lambda: ~x, lambda: i | i, lambda: np.ones(3, bool) ^ x):
        with pytest.raises(TypeError, match="boolean"):
            make()


def test_equal_is_a_function_and_double_equals_stays_identity():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    y = x + 0.0
    assert (x == x) is True and (x == y) is False
    assert (np.ones(3) == x) is False and (np.ones(3) != x) is True
    assert {x: 1, y: 2}[y] == 2
    r = g.run(gd.equal(x, gd.floor(x)), feed={x: np.array([1.0, 1.5, -2.0])})
    np.testing.assert_array_equal(r, [True, False, True])


def test_astype_gradient_takes_the_input_dtype():
    g = gd.Graph()
    x = g.input("x", shape=(3,), dtype="float32")
    y = gd.astype(x, "float64")
    assert y.dtype == np.float64 and x.astype("float64").dtype == np.float64
    dx = gd.grad(gd.sum(gd.square(y)), x)
    X = np.array([1.0, 2.0, 3.0], np.float32)
    value = g.run(dx, feed={x: X})
    assert dx.dtype == value.dtype == np.float32
    np.testing.assert_allclose(value, 2 * X)
    jv = gd.jvp(y, x, np.ones(3, np.float32))
    assert g.run(jv, feed={x: X}).dtype == np.float64


def test_integer_and_boolean_casts_cut_the_gradient():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    z = gd.sum(gd.astype(gd.astype(x, "int32"), "float64") * x)
    X = np.array([1.5, 2.5, -0.5])
    # Only the direct x factor carries a gradient: d/dx = int(x).
    np.testing.assert_array_equal(g.run(gd.grad(z, x), feed={x: X}), X.astype(np.int32))
    b = gd.astype(x, bool)
    assert g.run(b, feed={x: np.array([0.0, 2.0, 0.0])}).tolist() == [False, True, False]


def test_astype_of_a_python_scalar_and_to_the_same_dtype():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    assert gd.astype(x, "float64") is x
    c = gd.astype(g.constant(2.5), "float32")  # a weak Python scalar becomes a float32 array
    value = g.run(c)
    assert c.dtype == value.dtype == np.float32 and value == 2.5
    with pytest.raises(TypeError, match="needs at least one graph Node"):
        gd.astype(2.5, "float32")


# ---------------------------------------------------------------- Nodes meeting NumPy
def test_bool_of_a_node_raises_and_suggests_where():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    with pytest.raises(TypeError, match=r"unknown until the graph runs.*gd\.where"):
        bool(x > 0)
    with pytest.raises(TypeError):
        if x:
            pass


def test_numpy_functions_on_nodes_name_the_graphdiff_function():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    with pytest.raises(TypeError, match=r"gd\.exp\("):
        np.exp(x)
    with pytest.raises(TypeError, match=r"gd\.arctan2\("):
        np.arctan2(x, 1.0)
    with pytest.raises(TypeError, match=r"gd\.sum\("):
        np.sum(x)
    with pytest.raises(TypeError, match=r"gd\.sort\("):
        np.sort(x)
    with pytest.raises(TypeError, match="no gd.floor_divide"):
        np.ones(3) // x
    with pytest.raises(TypeError, match=r"add\.reduce.*gd\.sum"):
        np.add.reduce(x)
    with pytest.raises(TypeError):
        out = np.zeros(3)
        out += x  # in place into an array: not a graph operation


def test_array_operators_with_a_node_on_the_right_still_build_nodes():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    A, v = np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0, 3.0])
    built = {"+": v + x, "-": v - x, "*": v * x, "/": v / x, "**": v ** x, "@": A @ x,
             "%": v % x, "<": v < x, "<=": v <= x, ">": v > x, ">=": v >= x}
    for node in built.values():
        assert isinstance(node, gd.Node)
    X = np.array([0.5, 1.5, 2.5])
    values = dict(zip(built, g.run(list(built.values()), feed={x: X})))
    with np.errstate(all="ignore"):
        expected = {"+": v + X, "-": v - X, "*": v * X, "/": v / X, "**": v ** X, "@": A @ X,
                    "%": v % X, "<": v < X, "<=": v <= X, ">": v > X, ">=": v >= X}
    for key in built:
        np.testing.assert_allclose(values[key], expected[key], err_msg=key)
    # float32 arrays on the left keep float32, as the reflected operators do.
    x32 = g.input("x32", shape=(3,), dtype="float32")
    assert (np.ones(3, np.float32) * x32).dtype == np.float32



def test_nan_to_num_on_dask_arrays():
    da = pytest.importorskip("dask.array")
    X = np.array([np.nan, np.inf, -np.inf, 2.0, -1.0, np.nan])
    for kwargs in ({}, {"nan": -1.0, "posinf": 5.0, "neginf": -5.0}):
        g = gd.Graph()
        x = g.input("x", shape=(6,))
        y = gd.nan_to_num(x, **kwargs)
        value = g.run(y, feed={x: da.from_array(X, chunks=3)})
        np.testing.assert_array_equal(np.asarray(value), np.nan_to_num(X, **kwargs))


def test_erf_is_public_and_matches_math_erf():
    # erf is part of the NumPy-surface vocabulary (as scipy.special.erf), so it is a top-level
    # name beside gelu, which is built from it
    import math

    assert "erf" in gd.__all__
    g = gd.Graph()
    x = g.input("x", shape=(5,))
    v = np.linspace(-3, 3, 5)
    np.testing.assert_allclose(g.run(gd.erf(x), feed={x: v}), [math.erf(t) for t in v],
                               rtol=1e-14, atol=1e-15)
