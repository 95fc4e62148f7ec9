"""Shape and selection functions against NumPy over shapes, axes and dtypes; integer
Node indices (x[node], take, take_along_axis); build-time errors. Gradients of every
function are checked by the op_specs rows; here: specific gradient values."""

from __future__ import annotations

import numpy as np
import pytest

import graphdiff as gd

RNG = np.random.default_rng(11)
DTYPES = [np.float64, np.float32, np.int32]


def arr(shape, dtype=np.float64):
    if np.dtype(dtype).kind in "iu":
        return RNG.integers(-5, 6, shape).astype(dtype)
    return RNG.normal(size=shape).astype(dtype)


def check(fn, ref, *arrays, dynamic=False):
    g = gd.Graph()
    xs = [g.input(f"x{k}", shape=(None,) * a.ndim if dynamic else a.shape, dtype=a.dtype)
          for k, a in enumerate(arrays)]
    out = fn(*xs)
    outs, refs = (out, ref(*arrays)) if isinstance(out, list) else ([out], [ref(*arrays)])
    assert len(outs) == len(refs)
    values = g.run(outs, feed=dict(zip(xs, arrays)))
    for node, value, expected in zip(outs, values, refs):
        expected = np.asarray(expected)
        assert value.shape == expected.shape and value.dtype == expected.dtype == node.dtype
        assert len(node.shape) == expected.ndim
        if dynamic:
            assert all(d is None or d == e for d, e in zip(node.shape, expected.shape))
        else:
            assert node.shape == expected.shape
        np.testing.assert_array_equal(value, expected)
    return out


both = pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
dtypes = pytest.mark.parametrize("dtype", DTYPES)


@dtypes
@both
@pytest.mark.parametrize("shape, axis", [((2, 1, 3, 1), (1, 3)), ((2, 1, 3, 1), -1),
                                         ((1,), 0), ((1, 1), (0, -1))])
def test_squeeze(shape, axis, dtype, dynamic):
    check(lambda x: gd.squeeze(x, axis), lambda x: np.squeeze(x, axis), arr(shape, dtype),
          dynamic=dynamic)


@pytest.mark.parametrize("shape", [(2, 1, 3, 1), (1,), (2, 3), (1, 1, 1)])
def test_squeeze_all(shape):
    check(gd.squeeze, np.squeeze, arr(shape))


@dtypes
@both
@pytest.mark.parametrize("shape, axis", [((2, 3), 0), ((2, 3), -1), ((2, 3), (0, 3)),
                                         ((), 0), ((3,), (-1, 0))])
def test_expand_dims(shape, axis, dtype, dynamic):
    check(lambda x: gd.expand_dims(x, axis), lambda x: np.expand_dims(x, axis),
          arr(shape, dtype), dynamic=dynamic)


@dtypes
@both
@pytest.mark.parametrize("shape, a, b", [((2, 3, 4), 0, 2), ((2, 3), -1, 0), ((2, 3), 1, 1)])
def test_swapaxes(shape, a, b, dtype, dynamic):
    check(lambda x: gd.swapaxes(x, a, b), lambda x: np.swapaxes(x, a, b), arr(shape, dtype),
          dynamic=dynamic)


@both
@pytest.mark.parametrize("src, dst", [(0, -1), (-1, 0), ([0, 1], [-1, 0]), ((2, 0), (0, 1)),
                                      ([], [])])
def test_moveaxis(src, dst, dynamic):
    check(lambda x: gd.moveaxis(x, src, dst), lambda x: np.moveaxis(x, src, dst),
          arr((2, 3, 4)), dynamic=dynamic)


@dtypes
@both
@pytest.mark.parametrize("shape, axis", [((2, 3, 4), None), ((2, 3, 4), 1), ((2, 3, 4), (0, -1)),
                                         ((5,), 0), ((), None)])
def test_flip(shape, axis, dtype, dynamic):
    check(lambda x: gd.flip(x, axis), lambda x: np.flip(x, axis), arr(shape, dtype),
          dynamic=dynamic)


@dtypes
def test_fliplr_flipud(dtype):
    check(gd.fliplr, np.fliplr, arr((2, 3, 4), dtype))
    check(gd.flipud, np.flipud, arr((2, 3), dtype))
    check(gd.flipud, np.flipud, arr((4,), dtype))


@dtypes
@both
@pytest.mark.parametrize("shift, axis", [(1, None), (-7, None), (2, 0), (-1, 1), ((1, 2), (0, 1)),
                                         ((1, 2), 1), (3, (0, 1))])
def test_roll(shift, axis, dtype, dynamic):
    check(lambda x: gd.roll(x, shift, axis), lambda x: np.roll(x, shift, axis),
          arr((3, 4), dtype), dynamic=dynamic)


@dtypes
@both
@pytest.mark.parametrize("shape, reps", [((2, 3), 2), ((2, 3), (2, 1)), ((2, 3), (2, 1, 3)),
                                         ((3,), (2, 2)), ((2, 1, 3), (2,)), ((), 3),
                                         ((2, 3), (0, 1))])
def test_tile(shape, reps, dtype, dynamic):
    check(lambda x: gd.tile(x, reps), lambda x: np.tile(x, reps), arr(shape, dtype),
          dynamic=dynamic)


@dtypes
@both
@pytest.mark.parametrize("shape, repeats, axis", [
    ((2, 3), 2, None), ((2, 3), 2, 0), ((2, 3), 3, -1), ((2, 3), [1, 0, 2], 1),
    ((2, 3), [2], 1), ((3,), np.array([1, 2, 3]), 0), ((2, 3), 0, 0), ((), 3, None),
])
def test_repeat(shape, repeats, axis, dtype, dynamic):
    check(lambda x: gd.repeat(x, repeats, axis), lambda x: np.repeat(x, repeats, axis),
          arr(shape, dtype), dynamic=dynamic)


@dtypes
@both
@pytest.mark.parametrize("width", [1, (1, 2), ((1, 2), (0, 3)), ((0, 0), (2, 2))])
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric", "wrap"])
def test_pad(width, mode, dtype, dynamic):
    check(lambda x: gd.pad(x, width, mode=mode), lambda x: np.pad(x, width, mode=mode),
          arr((3, 4), dtype), dynamic=dynamic)


@pytest.mark.parametrize("value", [2.5, -1, ((1, 2), (3, 4))])
@pytest.mark.parametrize("dtype", DTYPES)
def test_pad_constant_values(value, dtype):
    check(lambda x: gd.pad(x, ((1, 2), (2, 1)), constant_values=value),
          lambda x: np.pad(x, ((1, 2), (2, 1)), constant_values=value), arr((3, 4), dtype))


def test_pad_wide_reflect_and_wrap_match_numpy():
    for mode in ("reflect", "symmetric", "wrap"):
        check(lambda x, m=mode: gd.pad(x, 7, mode=m), lambda x, m=mode: np.pad(x, 7, mode=m),
              arr((3, 2)))


def test_pad_gradient_adds_up_reflected_entries():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    dx = g.run(gd.grad(gd.sum(gd.pad(x, 2, mode="reflect")), x), feed={x: np.zeros(3)})
    # [x2 x1 | x0 x1 x2 | x1 x0]: x0 twice, x1 three times, x2 twice
    np.testing.assert_array_equal(dx, [2.0, 3.0, 2.0])
    dc = g.run(gd.grad(gd.sum(gd.pad(x, 2, constant_values=5.0)), x), feed={x: np.zeros(3)})
    np.testing.assert_array_equal(dc, [1.0, 1.0, 1.0])


@dtypes
@both
@pytest.mark.parametrize("shape, k", [((3,), 0), ((3,), 2), ((3,), -1), ((3, 4), 0),
                                      ((3, 4), 2), ((3, 4), -2), ((3, 4), 9)])
def test_diag(shape, k, dtype, dynamic):
    check(lambda x: gd.diag(x, k), lambda x: np.diag(x, k), arr(shape, dtype), dynamic=dynamic)


@dtypes
@both
@pytest.mark.parametrize("shape, args", [((3, 4), ()), ((3, 4), (1,)), ((3, 4), (-2,)),
                                         ((2, 3, 4), (0, 2, 1)), ((2, 3, 4), (-1, -1, 0)),
                                         ((3, 3), (7,))])
def test_diagonal(shape, args, dtype, dynamic):
    check(lambda x: gd.diagonal(x, *args), lambda x: np.diagonal(x, *args), arr(shape, dtype),
          dynamic=dynamic)


@dtypes
@both
@pytest.mark.parametrize("shape, k", [((3, 4), 0), ((3, 4), 1), ((3, 4), -1), ((2, 3, 3), 0),
                                      ((3, 4), 10)])
def test_tril_triu(shape, k, dtype, dynamic):
    x = arr(shape, dtype)
    check(lambda m: gd.tril(m, k), lambda m: np.tril(m, k), x, dynamic=dynamic)
    check(lambda m: gd.triu(m, k), lambda m: np.triu(m, k), x, dynamic=dynamic)


def test_tril_keeps_nan_and_inf_off_the_triangle_out():
    x = np.array([[1.0, np.inf], [np.nan, 2.0]])
    check(gd.tril, np.tril, x)
    check(gd.triu, np.triu, x)
    check(gd.tril, np.tril, arr((3,)))      # a vector: the rows of a square matrix


@both
@pytest.mark.parametrize("sections, axis", [(2, 0), (3, 1), ([1, 3], 1), ([0, 5], 0), ([], 0),
                                            ([2, 1], 1)])
def test_split(sections, axis, dynamic):
    check(lambda x: gd.split(x, sections, axis), lambda x: np.split(x, sections, axis),
          arr((4, 6)), dynamic=dynamic)


@both
@pytest.mark.parametrize("sections, axis", [(3, 0), (4, 1), (7, 0), ([1, 3], 1)])
def test_array_split(sections, axis, dynamic):
    check(lambda x: gd.array_split(x, sections, axis),
          lambda x: np.array_split(x, sections, axis), arr((5, 3)), dynamic=dynamic)


def test_split_of_unknown_size_checks_the_division_when_it_runs():
    g = gd.Graph()
    x = g.input("x", shape=(None, 2))
    parts = gd.split(x, 2)
    np.testing.assert_array_equal(g.run(parts[1], feed={x: np.arange(8.0).reshape(4, 2)}),
                                  [[4.0, 5.0], [6.0, 7.0]])
    with pytest.raises(gd.GraphdiffError, match="equal division"):
        g.run(parts[0], feed={x: np.zeros((3, 2))})


def test_split_gradients_cover_every_part():
    g = gd.Graph()
    x = g.input("x", shape=(5, 2))
    parts = gd.array_split(x, 3)
    z = gd.sum(parts[0] * 1.0) + gd.sum(parts[1] * 2.0) + gd.sum(parts[2] * 3.0)
    dx = g.run(gd.grad(z, x), feed={x: np.zeros((5, 2))})
    np.testing.assert_array_equal(dx[:, 0], [1, 1, 2, 2, 3])


@pytest.mark.parametrize("shapes", [[(3,), (2,)], [(2, 3), (2, 1)], [(), ()],
                                    [(2, 2, 1), (2, 1, 1)]])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_hstack(shapes, dtype):
    arrays = [arr(s, dtype) for s in shapes]
    check(lambda *xs: gd.hstack(list(xs)), lambda *xs: np.hstack(list(xs)), *arrays)


@pytest.mark.parametrize("shapes", [[(3,), (3,)], [(2, 3), (3,)], [(), ()],
                                    [(1, 2, 2), (3, 2, 2)]])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_vstack(shapes, dtype):
    arrays = [arr(s, dtype) for s in shapes]
    check(lambda *xs: gd.vstack(list(xs)), lambda *xs: np.vstack(list(xs)), *arrays)


@dtypes
@both
@pytest.mark.parametrize("shape", [(2, 3), (4,), (), (2, 1, 3)])
def test_ravel(shape, dtype, dynamic):
    check(gd.ravel, np.ravel, arr(shape, dtype), dynamic=dynamic)


@dtypes
@both
@pytest.mark.parametrize("indices, axis", [([0, 2, 2], 1), (1, 0), (-1, 1),
                                           ([[5, 0], [1, 5]], None),
                                           (np.array([[1], [0]]), 0), ([], 1)])
def test_take(indices, axis, dtype, dynamic):
    check(lambda x: gd.take(x, indices, axis), lambda x: np.take(x, indices, axis),
          arr((2, 3), dtype), dynamic=dynamic)


@dtypes
@both
@pytest.mark.parametrize("xshape, ishape, axis", [((3, 4), (2, 4), 0), ((3, 4), (3, 5), 1),
                                                  ((3, 4), (1, 2), -1), ((1, 4), (3, 2), 1),
                                                  ((2, 3, 4), (2, 3, 1), 2), ((6,), (4,), None)])
def test_take_along_axis(xshape, ishape, axis, dtype, dynamic):
    size = xshape[axis] if axis is not None else int(np.prod(xshape))
    idx = RNG.integers(0, size, ishape)
    if axis is None:
        idx = idx.reshape(-1)
    check(lambda x: gd.take_along_axis(x, idx, axis),
          lambda x: np.take_along_axis(x, idx, axis), arr(xshape, dtype), dynamic=dynamic)


# ---------------------------------------------------------------- integer Node indices
def test_index_with_argmax_like_nodes_and_scatter_gradient():
    g = gd.Graph()
    x = g.input("x", shape=(4, 3))
    i = g.input("i", shape=(None,), dtype="int64")
    X, I = arr((4, 3)), np.array([3, 0, 3, 3])
    out = x[i]
    assert out.shape == (None, 3)
    np.testing.assert_array_equal(g.run(out, feed={x: X, i: I}), X[I])
    dx = g.run(gd.grad(gd.sum(out), x), feed={x: X, i: I})
    np.testing.assert_array_equal(dx[:, 0], [1, 0, 0, 3])   # repeats add up
    assert gd.grad(gd.sum(out), i, unconnected="none") is None or \
        not np.any(g.run(gd.grad(gd.sum(out), i), feed={x: X, i: I}))


def test_index_mixing_node_indices_slices_and_constants():
    g = gd.Graph()
    x = g.input("x", shape=(4, 5, 6))
    i, j = g.constant(np.array([1, 3])), g.constant(np.array([[0], [4]]))
    X = arr((4, 5, 6))
    for key, ref in [((i, slice(1, 3)), X[[1, 3], 1:3]),
                     ((slice(None), i, j), X[:, [1, 3], [[0], [4]]]),
                     ((i, 2, j), X[[1, 3], 2, [[0], [4]]]), ((Ellipsis, i), X[..., [1, 3]]),
                     ((i, None), X[[1, 3], None])]:
        out = x[key]
        np.testing.assert_array_equal(g.run(out, feed={x: X}), ref)
        assert out.shape == ref.shape
        assert gd.check_grad(gd.sum(gd.square(out)), x, feed={x: X}) < 1e-6


def test_take_and_take_along_axis_with_node_indices():
    g = gd.Graph()
    x = g.input("x", shape=(3, 4))
    X = arr((3, 4))
    order = g.constant(np.argsort(X, axis=1))
    srt = gd.take_along_axis(x, order, axis=1)
    np.testing.assert_array_equal(g.run(srt, feed={x: X}), np.sort(X, axis=1))
    assert gd.check_grad(gd.sum(srt * arr((3, 4))), x, feed={x: X}) < 1e-6
    assert gd.check_jvp(srt, x, feed={x: X}) < 1e-6
    col = gd.take(x, g.constant(np.array(2)), axis=1)
    np.testing.assert_array_equal(g.run(col, feed={x: X}), X[:, 2])


def test_node_indices_must_be_integers():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    f = g.input("f", shape=(2,))
    with pytest.raises(TypeError, match="must hold integers"):
        x[f]
    with pytest.raises(TypeError, match="integers"):
        gd.take_along_axis(x, f, 0)
    with pytest.raises(TypeError, match="integers"):
        gd.take(x, [0.5])


def test_node_index_gradient_second_order():
    g = gd.Graph()
    x = g.input("x", shape=(4,))
    i = g.constant(np.array([0, 2, 2]))
    X = arr((4,))
    dx = gd.grad(gd.sum(gd.square(x[i]) * x[i]), x)
    assert gd.check_grad(gd.sum(dx * arr((4,))), x, feed={x: X}) < 1e-6


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("build, match", [
    (lambda x: gd.squeeze(x, 0), "cannot select axis 0"),
    (lambda x: gd.squeeze(x, 5), "out of range"),
    (lambda x: gd.expand_dims(x, 4), "out of range"),
    (lambda x: gd.expand_dims(x, (0, 0)), "repeated axis"),
    (lambda x: gd.swapaxes(x, 0, 3), "out of range"),
    (lambda x: gd.moveaxis(x, [0, 1], [0]), "same number"),
    (lambda x: gd.flip(x, 3), "out of range"),
    (lambda x: gd.roll(x, (1, 2, 3), (0, 1)), "do not broadcast"),
    (lambda x: gd.tile(x, -1), "must not be negative"),
    (lambda x: gd.repeat(x, [1, 2, 1], axis=0), "3 repeats for an axis of size 2"),
    (lambda x: gd.repeat(x, [1, 2], axis=-1), "2 repeats for an axis of size 3"),
    (lambda x: gd.repeat(x, -1), "must not be negative"),
    (lambda x: gd.pad(x, ((1, 2, 3),)), "does not fit"),
    (lambda x: gd.pad(x, -1), "must not be negative"),
    (lambda x: gd.diagonal(x, 0, 0, 0), "cannot be the same"),
    (lambda x: gd.diag(x[None]), "1- or 2-d"),
    (lambda x: gd.split(x, 4, axis=1), "equal division"),
    (lambda x: gd.split(x, 0), "larger than 0"),
    (lambda x: gd.take(x, [0], axis=2), "out of range"),
    (lambda x: gd.take_along_axis(x, np.zeros((2,), int), 0), "same number of dimensions"),
    (lambda x: gd.take_along_axis(x, np.zeros((3, 5), int), 0), "do not broadcast"),
    (lambda x: gd.fliplr(x[0]), ">= 2-d"),
])
def test_shape_errors_name_the_problem_and_the_call_site(build, match):
    g = gd.Graph()
    x = g.input("x", shape=(2, 3))
    with pytest.raises(gd.GraphError, match=match) as info:
        build(x)
    assert "test_numpy_shape.py" in str(info.value)


def test_bad_argument_types_raise_type_error():
    g = gd.Graph()
    x = g.input("x", shape=(2, 3))
    for build in (lambda: gd.squeeze(x, 0.5), lambda: gd.expand_dims(x, "a"),
                  lambda: gd.roll(x, 1.5), lambda: gd.tile(x, [1.0]),
                  lambda: gd.pad(x, 1.5), lambda: gd.pad(x, 1, constant_values="a")):
        with pytest.raises(TypeError):
            build()
    with pytest.raises(ValueError, match="not supported"):
        gd.pad(x, 1, mode="median")


def test_squeeze_axis_none_needs_known_dimensions():
    g = gd.Graph()
    with pytest.raises(gd.GraphError, match="pass axis="):
        gd.squeeze(g.input("x", shape=(None, 1)))
    assert gd.squeeze(g.input("y", shape=(None, 1)), 1).shape == (None,)


def test_shape_functions_reject_complex():
    g = gd.Graph()
    z = g.constant(np.ones((2, 2), dtype=complex))
    for fn in (gd.flip, gd.ravel, gd.tril, gd.diag, lambda a: gd.roll(a, 1),
               lambda a: gd.tile(a, 2), lambda a: gd.pad(a, 1), lambda a: gd.take(a, [0]),
               lambda a: gd.repeat(a, 2), lambda a: gd.split(a, 2), lambda a: a[g.constant(
                   np.array([0]))]):
        with pytest.raises(TypeError, match="complex dtypes are not supported yet"):
            fn(z)


def test_linear_ops_use_their_declared_transpose():
    # flip's transpose is flip, roll's is roll by -shift, tril's is tril, diagonal's embeds.
    g = gd.Graph()
    x = g.input("x", shape=(3, 3))
    for out, kind in [(gd.flip(x, 0), "Flip"), (gd.roll(x, 1, 0), "Roll"),
                      (gd.tril(x), "Tri"), (gd.diagonal(x), "DiagonalEmbed"),
                      (gd.pad(x, 1), "PadGrad"), (gd.repeat(x, 2, 0), "RepeatGrad"),
                      (gd.tile(x, 2), "TileGrad")]:
        dx = gd.grad(out, x, seed=np.ones(out.shape))
        assert type(dx.op).__name__ == kind
    back = gd.grad(gd.roll(x, 1, 0), x, seed=np.ones((3, 3)))
    assert back.op.shift == -1


def test_new_ops_survive_save_and_load_and_the_tools_read_them(tmp_path):
    from graphdiff import io

    g = gd.Graph()
    x = g.input("x", shape=(3, 4))
    i = g.constant(np.array([2, 0]))
    outs = [gd.einsum("ij,kj->ik", x, x), gd.pad(x, ((1, 0), (2, 1)), constant_values=1.5),
            gd.pad(x, 1, mode="reflect"), x[i], gd.take(x, i, axis=1),
            gd.take_along_axis(x, np.zeros((3, 1), int), 1), gd.roll(x, (1, 2), (0, 1)),
            gd.tile(x, 2), gd.repeat(x, [1, 2, 0, 1], axis=1), gd.tril(x), gd.diag(x),
            gd.flip(x), gd.split(x, [1])[1], gd.kron(x, x), gd.cross(x[:, :3], x[:, 1:])]
    z = gd.sum(outs[0])
    for o in outs[1:]:
        z = z + gd.sum(gd.square(o))
    dx = gd.grad(z, x)
    X = arr((3, 4))
    expected = g.run([z, dx], feed={x: X})
    io.save_graph(g, tmp_path / "g.json")
    g2 = io.load_graph(tmp_path / "g.json")
    position = {id(n): k for k, n in enumerate(g.nodes)}
    z2, dx2, x2 = (g2.nodes[position[id(n)]] for n in (z, dx, x))
    for got, want in zip(g2.run([z2, dx2], feed={x2: X}), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    kinds = {type(r.node.op).__name__: r.flops for r in gd.cost([z, dx]).rows if r.node.op}
    assert kinds["Einsum"] == 2 * 3 * 3 * 4 and "PadGrad" in kinds and "GatherGrad" in kinds
    assert "Gather" in gd.to_dot(g)
