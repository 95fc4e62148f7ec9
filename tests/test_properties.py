"""Property-based: random expression graphs of random smooth unary and binary ops over
random broadcastable shapes, checked against direct NumPy evaluation, and their
gradients (first and second order) against central differences through gd.check_grad."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphdiff as gd

UNARY = {
    "sin": (gd.sin, np.sin),
    "cos": (gd.cos, np.cos),
    "tanh": (gd.tanh, np.tanh),
    "sigmoid": (gd.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "softplus": (gd.softplus, lambda x: np.log1p(np.exp(x))),
    "neg": (gd.negative, np.negative),
    "half_square": (lambda x: 0.5 * gd.square(x), lambda x: 0.5 * x ** 2),
    "exp_tanh": (lambda x: gd.exp(gd.tanh(x)), lambda x: np.exp(np.tanh(x))),
    "log1p_sq": (lambda x: gd.log(1.0 + x * x), lambda x: np.log(1.0 + x * x)),
    "sqrt_pos": (lambda x: gd.sqrt(1.0 + x ** 2), lambda x: np.sqrt(1.0 + x ** 2)),
    "scale": (lambda x: x * 0.7 - 0.2, lambda x: x * 0.7 - 0.2),
    "sum_keep0": (lambda x: gd.sum(x, axis=0, keepdims=True) if x.ndim else x,
                  lambda x: np.sum(x, axis=0, keepdims=True) if x.ndim else x),
    "mean_keep_last": (lambda x: gd.mean(x, axis=-1, keepdims=True) if x.ndim else x,
                       lambda x: np.mean(x, axis=-1, keepdims=True) if x.ndim else x),
    "lse_keep_last": (lambda x: gd.logsumexp(x, axis=-1, keepdims=True) if x.ndim else x,
                      lambda x: np.log(np.sum(np.exp(x), axis=-1, keepdims=True))
                      if x.ndim else x),
    "softmax": (lambda x: gd.softmax(x) if x.ndim else x,
                lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True) if x.ndim else x),
}
BINARY = {
    "add": (gd.add, np.add),
    "sub": (gd.subtract, np.subtract),
    "mul": (gd.multiply, np.multiply),
    "div": (lambda a, b: a / (1.5 + b * b), lambda a, b: a / (1.5 + b * b)),
    "pow": (lambda a, b: (1.0 + a * a) ** gd.tanh(b),
            lambda a, b: (1.0 + a * a) ** np.tanh(b)),
}


@st.composite
def programs(draw):
    ndim = draw(st.integers(0, 2))
    full = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    n_inputs = draw(st.integers(1, 3))
    shapes = []
    for _ in range(n_inputs):
        # a broadcastable version of the full shape: drop leading axes, set some to 1
        drop = draw(st.integers(0, ndim))
        shapes.append(tuple(1 if draw(st.booleans()) else d for d in full[drop:]))
    steps = []
    for k in range(draw(st.integers(1, 6))):
        pool = n_inputs + k
        if draw(st.booleans()):
            steps.append(("u", draw(st.sampled_from(sorted(UNARY))),
                          draw(st.integers(0, pool - 1))))
        else:
            steps.append(("b", draw(st.sampled_from(sorted(BINARY))),
                          draw(st.integers(0, pool - 1)), draw(st.integers(0, pool - 1))))
    return shapes, steps, draw(st.integers(0, 2 ** 32 - 1))


def _evaluate(shapes, steps, seed, declare_none):
    rng = np.random.default_rng(seed)
    g = gd.Graph()
    arrays = [rng.uniform(-1.0, 1.0, s) for s in shapes]
    inputs = [g.input(f"x{k}", shape=(None,) * len(s) if declare_none else s)
              for k, s in enumerate(shapes)]
    nodes, values = list(inputs), list(arrays)
    for step in steps:
        if step[0] == "u":
            fn, ref = UNARY[step[1]]
            nodes.append(fn(nodes[step[2]]))
            values.append(ref(values[step[2]]))
        else:
            fn, ref = BINARY[step[1]]
            nodes.append(fn(nodes[step[2]], nodes[step[3]]))
            values.append(ref(values[step[2]], values[step[3]]))
    return g, inputs, arrays, nodes[-1], np.asarray(values[-1]), rng


@settings(max_examples=35, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.booleans())
def test_random_graphs_match_numpy_and_finite_differences(program, declare_none):
    shapes, steps, seed = program
    g, inputs, arrays, out, expected, rng = _evaluate(shapes, steps, seed, declare_none)
    feed = dict(zip(inputs, arrays, strict=True))
    value = g.run(out, feed=feed)
    np.testing.assert_allclose(value, expected, rtol=1e-10, atol=1e-12)
    if out.shape is not None:
        assert len(out.shape) == expected.ndim
        assert all(d is None or d == e for d, e in zip(out.shape, expected.shape, strict=True))
    weights = rng.uniform(0.5, 1.5, expected.shape)
    z = gd.sum(out * weights)
    gd.check_grad(z, inputs, feed=feed)


@settings(max_examples=15, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_graphs_second_order(program):
    shapes, steps, seed = program
    g, inputs, arrays, out, expected, rng = _evaluate(shapes, steps, seed, False)
    feed = dict(zip(inputs, arrays, strict=True))
    z = gd.sum(out * rng.uniform(0.5, 1.5, expected.shape))
    grads = gd.grad(z, inputs)
    z2 = gd.sum(grads[0] * rng.uniform(0.5, 1.5, shapes[0]))
    for dv, s in zip(grads[1:], shapes[1:], strict=True):
        z2 = z2 + gd.sum(dv * rng.uniform(0.5, 1.5, s))
    gd.check_grad(z2, inputs, feed=feed)


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.booleans())
def test_random_graphs_forward_matches_reverse(program, declare_none):
    """<J v, u> = <v, J^T u>: forward mode and back-propagation are each other's transpose,
    and the JVP agrees with central differences along v."""
    shapes, steps, seed = program
    g, inputs, arrays, out, expected, rng = _evaluate(shapes, steps, seed, declare_none)
    feed = dict(zip(inputs, arrays, strict=True))
    vs = [rng.standard_normal(s) for s in shapes]
    u = rng.standard_normal(expected.shape)
    jv = np.asarray(g.run(gd.jvp(out, inputs, vs), feed=feed))
    jtu = g.run(gd.grad(out, inputs, seed=u), feed=feed)
    lhs = float(np.sum(np.broadcast_to(jv, expected.shape) * u))
    rhs = float(sum(np.sum(v * t) for v, t in zip(vs, jtu, strict=True)))
    assert abs(lhs - rhs) <= 1e-9 * max(1.0, abs(lhs), abs(rhs))
    gd.check_jvp(out, inputs, feed=feed, tangents=vs)
