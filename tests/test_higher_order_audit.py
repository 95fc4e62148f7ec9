"""Higher-order audit: every op that any gradient graph uses has a gradient rule itself.

Back-propagation builds gradients from ordinary ops, so a gradient of order n + 1 calls
the bprop of every op in the gradient of order n. If every op appearing in any gradient
graph either defines a gradient rule or is marked non-differentiable, no gradient of any
order can fail for want of one. The walk uses tests/op_specs.py's table, which has a row
for every Op subclass (tests/test_ops.py checks that).
"""

from __future__ import annotations

import numpy as np
import pytest
from op_specs import SPECS

import graphdiff as gd
from graphdiff.op import LinearOp, Op
from graphdiff.ops.elementwise import Elementwise


def all_op_classes() -> list[type]:
    """Every concrete subclass of gd.Op (one with a forward) under graphdiff.ops, walked
    iteratively; abstract bases such as Elementwise and Reduction are skipped."""
    found, seen, stack = [], set(), [gd.Op]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
                if sub.builtin and sub.forward is not Op.forward:
                    found.append(sub)
    return sorted(found, key=lambda c: c.__qualname__)


def has_gradient_rule(cls: type) -> bool:
    """A rule of its own: ``bprop``, ``vjp`` or a linear op's ``transpose`` overridden from
    the base classes."""
    if cls.bprop is not Op.bprop:
        return True
    if issubclass(cls, LinearOp):
        return cls.transpose is not LinearOp.transpose
    return cls.vjp is not Op.vjp


def audited(cls: type) -> bool:
    return cls.differentiable is False or has_gradient_rule(cls)


def build(spec, case=0):
    rng = np.random.default_rng(0)
    g = gd.Graph()
    nodes = []
    for k, (dom, shape) in enumerate(zip(spec.domains, spec.shapes[case], strict=True)):
        value = np.asarray(dom(rng, shape))
        nodes.append(g.input(f"in{k}", shape=shape, dtype=value.dtype))
    return g, nodes, spec.build(*nodes)


def gradient_ops(spec) -> tuple[set[type], int]:
    """Op classes in the first-order gradient graph of one row, and its node count."""
    g, nodes, out = build(spec)
    targets = [nodes[k] for k in spec.float_positions()]
    if not targets or out.dtype is None or out.dtype.kind not in "fc":
        return set(), 0
    before = len(g.nodes)
    seed = np.ones(out.shape, dtype=out.dtype)
    gd.grad(out, targets, seed=seed)
    added = g.nodes[before:]
    return {type(n.op) for n in added if n.op is not None}, len(added)


def test_the_walk_finds_every_primitive():
    classes = all_op_classes()
    assert len(classes) >= 40
    names = {c.__name__ for c in classes}
    assert {"Add", "MatMul", "Sum", "Where", "IndexGrad", "SumTo", "ZerosLike"} <= names


def test_every_op_has_a_rule_or_is_non_differentiable():
    missing = [c.__qualname__ for c in all_op_classes() if not audited(c)]
    assert not missing, f"ops with neither a gradient rule nor differentiable = False: {missing}"


def test_the_rule_check_can_fail():
    class NoRule(Op):
        def forward(self, x):
            return x

    class NoLocal(Elementwise):
        def forward(self, x):
            return x

    class Frozen(Op):
        differentiable = False

    assert not audited(NoRule) and not audited(NoLocal) and audited(Frozen)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.float_positions()], ids=lambda s: s.name)
def test_every_op_in_a_gradient_graph_has_a_gradient(spec):
    ops, _ = gradient_ops(spec)  # may be empty: add's gradient is the seed itself
    missing = sorted(c.__qualname__ for c in ops if not audited(c))
    assert not missing, f"{spec.name}'s gradient uses ops without a gradient: {missing}"


def test_gradient_ops_are_closed_under_differentiation():
    """Differentiating the ops that gradients use only ever needs ops in that same set."""
    by_class: dict[type, list] = {}
    for s in SPECS:
        if s.op is not None and s.float_positions():
            by_class.setdefault(s.op, []).append(s)
    reached, frontier = set(), {s.op for s in SPECS if s.op is not None}
    while frontier:
        cls = frontier.pop()
        reached.add(cls)
        for spec in by_class.get(cls, ()):
            ops, _ = gradient_ops(spec)
            frontier |= {c for c in ops if c not in reached}
    missing = sorted(c.__qualname__ for c in reached if not audited(c))
    assert not missing
    assert reached <= set(all_op_classes())
    # Gradients really use internal ops (SumTo, ReluGrad, IndexGrad, ...) beyond the rows.
    names = {c.__name__ for c in reached}
    assert {"SumTo", "ReluGrad", "IndexGrad", "AddN"} <= names


# ---------------------------------------------------------------- third order for real
THIRD = [  # f, f''' in closed form, domain
    ("sin", gd.sin, lambda x: -np.cos(x), (-2.0, 2.0)),
    ("exp", gd.exp, np.exp, (-1.0, 1.0)),
    ("log", gd.log, lambda x: 2.0 / x ** 3, (0.5, 2.0)),
    ("sqrt", gd.sqrt, lambda x: 3.0 / 8.0 * x ** -2.5, (0.5, 2.0)),
    ("tanh", gd.tanh, lambda x: -2 * (1 - np.tanh(x) ** 2) * (1 - 3 * np.tanh(x) ** 2),
     (-1.5, 1.5)),
    ("sigmoid", gd.sigmoid,
     lambda x: (s := 1 / (1 + np.exp(-x))) * (1 - s) * (1 - 6 * s + 6 * s ** 2), (-2.0, 2.0)),
    ("softplus", gd.softplus,
     lambda x: (s := 1 / (1 + np.exp(-x))) * (1 - s) * (1 - 2 * s), (-2.0, 2.0)),
    ("cube", lambda x: x ** 3.0, lambda x: np.full_like(x, 6.0), (-2.0, 2.0)),
    ("reciprocal", lambda x: 1.0 / x, lambda x: -6.0 / x ** 4, (0.5, 2.0)),
    ("x_times_x_times_x", lambda x: x * x * x, lambda x: np.full_like(x, 6.0), (-2.0, 2.0)),
]


@pytest.mark.parametrize("name, f, f3, domain", THIRD, ids=[t[0] for t in THIRD])
def test_third_order_elementwise_closed_form(name, f, f3, domain):
    g = gd.Graph()
    x = g.input("x", shape=(5,))
    d1 = gd.grad(gd.sum(f(x)), x)
    d2 = gd.grad(gd.sum(d1), x)
    d3 = gd.grad(gd.sum(d2), x)
    X = np.random.default_rng(3).uniform(*domain, 5)
    np.testing.assert_allclose(g.run(d3, feed={x: X}), f3(X), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name, build", [
    ("matmul_tanh", lambda x, W: gd.sum(gd.tanh(x @ W))),
    ("logsumexp", lambda x, W: gd.logsumexp(x * W[0], axis=-1).sum()),
    ("softmax", lambda x, W: gd.sum(gd.softmax(x @ W) * W[0])),
    ("log_softmax", lambda x, W: gd.sum(gd.log_softmax(x @ W, axis=0) ** 2)),
    ("max_where", lambda x, W: gd.sum(
        gd.where(x > 0.0, gd.max(x @ W, axis=1, keepdims=True), 0.0) ** 3)),
    ("concat_index", lambda x, W: gd.sum(gd.concatenate([x, x[:, ::-1]], axis=1) ** 3)),
])
def test_third_order_against_finite_differences(name, build):
    """d/dx of sum(d2/dx2 (f) applied to v, times w): a third derivative, checked numerically."""
    rng = np.random.default_rng(7)
    g = gd.Graph()
    x = g.input("x", shape=(2, 3))
    W = g.parameter(rng.uniform(-1, 1, (3, 3)), name="W")
    v = g.constant(rng.uniform(0.5, 1.5, (2, 3)))
    w = g.constant(rng.uniform(0.5, 1.5, (2, 3)))
    z = build(x, W)
    d1 = gd.grad(z, x)
    d2 = gd.grad(gd.sum(d1 * v), x)          # Hessian-vector product
    third = gd.sum(d2 * w)
    X = rng.uniform(-1.0, 1.0, (2, 3))
    err = gd.check_grad(third, [x], feed={x: X}, eps=1e-5, rtol=1e-4, atol=1e-6)
    assert err < 1e-3
    assert gd.grad(third, x) is not None
