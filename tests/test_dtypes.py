"""Static dtypes are NumPy's run-time dtypes: for every op_specs row and every input dtype.

A node's ``dtype`` decides buffer reuse, promotion of what it meets and the dtype of its
gradient seeds, so it must be exactly what ``g.run`` and a compiled function return. Every
row is built from inputs of each dtype below (the row's float inputs cast to it; label and
mask inputs keep theirs). The build may refuse the dtypes with a named error (NumPy has no
loop for them, linalg has no float16); otherwise ``g.run`` and ``g.function`` both run, and
their results have ``node.dtype``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from op_specs import SPECS, make_inputs

import graphdiff as gd

DTYPES = ["int8", "uint8", "int32", "int64", "bool", "float16", "float32", "float64"]


def _inputs(spec, case, dtype, decl="static"):
    return make_inputs(spec, case, dtype, decl)


def _check(spec, case, dtype, decl="static"):
    g, nodes, arrays = _inputs(spec, case, dtype, decl)
    try:
        out = spec.build(*nodes)
    except (gd.GraphdiffError, TypeError):   # a named refusal at build time
        return "refused"
    feed = dict(zip(nodes, arrays, strict=True))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            value = g.run(out, feed=feed)
        except gd.GraphdiffError as exc:
            # Only a value-dependent failure (a singular boolean matrix, an integer to a
            # negative integer power) may stop the run;
            # a dtype NumPy refuses must have been refused at build time.
            assert isinstance(exc.__cause__, (np.linalg.LinAlgError, ValueError)), exc
            return "singular"
        compiled = g.function(nodes, out)(*arrays)
    for what, v in (("g.run", value), ("g.function", compiled)):
        assert np.asarray(v).dtype == out.dtype, (
            f"{spec.name} of {dtype}: static dtype {out.dtype}, {what} gives "
            f"{np.asarray(v).dtype}")
    return "ok"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_static_dtype_is_the_run_time_dtype(spec):
    outcomes = {(case, dtype): _check(spec, case, dtype)
                for case in range(len(spec.shapes)) for dtype in DTYPES}
    # Every row runs in float64 and float32 (nothing refuses the common dtypes).
    assert outcomes[(0, "float64")] == "ok"


@pytest.mark.parametrize("spec", [s for s in SPECS if s.dynamic], ids=lambda s: s.name)
def test_static_dtype_with_unknown_dimensions(spec):
    for dtype in ("int8", "bool", "float32"):
        _check(spec, 0, dtype, decl="dynamic")


# ---------------------------------------------------------------- the cases the issue names
@pytest.mark.parametrize("fn", [gd.sin, gd.exp, gd.log, gd.sqrt, gd.tanh, gd.sigmoid,
                                gd.softplus, gd.logsumexp],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", ["int8", "uint8", "bool"])
def test_float_functions_of_small_integers_are_float16(fn, dtype):
    g = gd.Graph()
    x = g.input("x", shape=(3,), dtype=dtype)
    y = fn(x)
    assert y.dtype == np.float16
    value = np.array([1, 0, 1], dtype=dtype)
    with np.errstate(all="ignore"):
        assert g.run(y, feed={x: value}).dtype == np.float16
        assert g.function([x], y)(value).dtype == np.float16


def test_logsumexp_of_uint8_does_not_wrap():
    g = gd.Graph()
    x = g.input("x", shape=(3,), dtype="uint8")
    got = g.run(gd.logsumexp(x), feed={x: np.array([1, 2, 3], dtype=np.uint8)})
    want = np.log(np.exp(np.float16([1, 2, 3])).sum())
    assert np.isfinite(got) and abs(float(got) - float(want)) < 1e-2


@pytest.mark.parametrize("build", [
    lambda z: gd.softmax(z), lambda z: gd.log_softmax(z), lambda z: gd.softmax(z, axis=0),
    lambda z: gd.losses.softmax_cross_entropy(z, np.array([0, 2])),
    lambda z: gd.losses.softmax_cross_entropy(z, np.full((2, 3), 1 / 3)),
], ids=["softmax", "log_softmax", "softmax_axis0", "sce_sparse", "sce_dense"])
@pytest.mark.parametrize("dtype", ["int8", "uint8", "int64", "bool"])
def test_integer_logits_promote_to_float64(build, dtype):
    g = gd.Graph()
    z = g.input("z", shape=(2, 3), dtype=dtype)
    out = build(z)
    assert out.dtype == np.float64
    logits = np.array([[0, 1, 1], [1, 0, 1]], dtype=dtype)
    got = g.run(out, feed={z: logits})
    zf = gd.Graph()
    zz = zf.input("z", shape=(2, 3))
    want = zf.run(build(zz), feed={zz: logits.astype(np.float64)})
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(g.function([z], out)(logits), want, rtol=1e-12)


# ---------------------------------------------------------------- in-place reuse
@pytest.mark.parametrize("dtype", DTYPES)
def test_in_place_reuse_matches_run_for_every_dtype(dtype):
    # Arrays above the reuse threshold, so compiled steps write into dying buffers.
    n = 4096
    g = gd.Graph()
    x = g.input("x", shape=(n,), dtype=dtype)
    w = g.input("w", shape=(n,), dtype="float32")
    built = []
    for fn in (lambda: gd.exp(x) + 1, lambda: gd.square(x) * x, lambda: gd.relu(x) + x,
               lambda: gd.sin(x) * 2 + w, lambda: gd.tanh(x + 1) - 1):
        try:
            built.append(fn())
        except TypeError:
            pass  # NumPy has no loop for these dtypes (bool - 1)
    rng = np.random.default_rng(0)
    xs = (rng.integers(0, 3, n) if dtype != "bool" else rng.random(n) > 0.5).astype(dtype)
    ws = rng.random(n).astype(np.float32)
    with np.errstate(all="ignore"):
        want = g.run(built, feed={x: xs, w: ws})
        got = g.function([x, w], built)(xs, ws)
    for node, a, b in zip(built, want, got, strict=True):
        assert a.dtype == b.dtype == node.dtype
        np.testing.assert_array_equal(a, b)


def test_in_place_reuse_does_not_trust_a_wrong_static_dtype():
    from graphdiff.op import make_node
    from graphdiff.ops.elementwise import Elementwise

    class LyingAdd(Elementwise):
        """x + y, but declared float32 whatever it computes (a custom op's mistake)."""

        out_kernel = staticmethod(np.add)

        def fresh_output(self):
            return True

        def forward(self, a, b):
            return np.add(a, b)

        def infer(self, a, b):
            return a.shape, np.dtype(np.float32)

    n = 4096
    g = gd.Graph()
    x = g.input("x", shape=(n,), dtype="float32")
    y = g.input("y", shape=(n,), dtype="float64")
    fresh = gd.exp(x)                          # a float32 buffer that dies at the next step
    out = make_node(LyingAdd(), fresh, y + 1e-9)
    xs = np.zeros(n, np.float32)
    ys = np.full(n, 1e-9)
    want = g.run(out, feed={x: xs, y: ys})
    got = g.function([x, y], out)(xs, ys)
    assert got.dtype == want.dtype == np.float64
    np.testing.assert_array_equal(got, want)   # not rounded through the float32 buffer
