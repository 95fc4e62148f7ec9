"""Explaining gradients from the graph itself: why a target got zero, NaN hazards
before anything runs, common-subexpression elimination and size reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from .backprop import GradTable, backprop, pruned_nodes
from .compile.rewrite import cse_key
from .errors import GraphError
from .graph import Graph, Node, ancestors, formula
from .ops import elementwise as E
from .ops import nn as N
from .ops import reduce as R
from .site import format_site


# ---------------------------------------------------------------- why zero
def why(table: GradTable, target: Node) -> str:
    """Why ``target``'s gradient in ``table`` is zero (or that it is not): ``table.why``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> table = gd.backprop(gd.sum(gd.stop_gradient(x) * 2.0), [x])
    >>> print(gd.explain.why(table, x))  # doctest: +ELLIPSIS
    'x' gets zero gradient: every path to z is cut: at #1 = StopGradient('x') at ... (stop_gradient)
    """
    return table.why(target)


# ---------------------------------------------------------------- lint
@dataclass(frozen=True)
class Finding:
    """One NaN hazard: the node, what can go wrong, and the stable rewrite.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> (finding,) = gd.lint(gd.log(gd.softmax(x)))
    >>> "log_softmax" in finding.suggestion
    True
    """

    node: Node
    problem: str
    suggestion: str

    def __str__(self) -> str:
        return (f"{formula(self.node)} at {format_site(self.node.site)}: {self.problem}. "
                f"Suggestion: {self.suggestion}")


def _nodes_of(graph_or_nodes: Any) -> list[Node]:
    if isinstance(graph_or_nodes, Graph):
        return graph_or_nodes.nodes
    roots = [graph_or_nodes] if isinstance(graph_or_nodes, Node) else list(graph_or_nodes)
    return ancestors(roots)


def _fractional_power(n: Node) -> bool:
    if not isinstance(n.op, E.Power):
        return False
    exponent = n.inputs[1]
    if exponent.kind != "constant":
        return True
    try:
        import numpy as np

        value = np.asarray(exponent.value)
        return bool(np.any((value < 1) & (value != 0)) or np.any(value % 1 != 0))
    except Exception:
        return True


def _hazard(n: Node) -> str | None:
    if isinstance(n.op, E.Log):
        return "log"
    if isinstance(n.op, E.Sqrt):
        return "sqrt"
    if isinstance(n.op, E.Divide):
        return "divide"
    if _fractional_power(n):
        return "power with a fractional exponent"
    return None


def _risky_operand(n: Node) -> Node:
    """The operand whose values make the hazard: a divide's denominator, a log's argument."""
    return n.inputs[1] if isinstance(n.op, E.Divide) else n.inputs[0]


def _safe_constant(n: Node, kind: str) -> bool:
    if n.kind != "constant":
        return False
    import numpy as np

    value = np.asarray(n.value)
    if value.dtype.kind not in "biuf":
        return False
    return bool(np.all(value != 0) if kind == "divide" else np.all(value > 0))


def _never_zero(w: Node) -> bool:
    """``where(x == 0, c, x)`` (or ``where(x != 0, x, c)``) with c a nonzero constant."""
    cond, a, b = w.inputs
    if not isinstance(cond.op, E.Compare) or cond.op.kind not in ("equal", "not_equal"):
        return False
    x, zero = cond.inputs
    if zero.kind != "constant":
        return False
    import numpy as np

    if not np.all(np.asarray(zero.value) == 0):
        return False
    safe, same = (a, b) if cond.op.kind == "equal" else (b, a)
    return same is x and _safe_constant(safe, "divide")


def _guarded(branch: Node, cond: Node, kind: str, depth: int = 4) -> bool:
    """Whether the hazard's operand is masked by a where on the same condition, or is safe
    by construction, within a few elementwise steps (sqrt(where(c, v, 1)) inside
    where(c, ..., 0), a denominator where(x == 0, 1, x), a nonzero constant)."""
    if any(isinstance(i.op, E.Where) and i.inputs[0] is cond for i in branch.inputs):
        return True
    n = _risky_operand(branch)
    for _ in range(depth):
        if _safe_constant(n, kind):
            return True
        if isinstance(n.op, E.Where):
            return n.inputs[0] is cond or (kind == "divide" and _never_zero(n))
        moving = [i for i in n.inputs if i.kind != "constant"] if n.op is not None else []
        if not isinstance(n.op, E.Elementwise) or len(moving) != 1:
            return False
        n = moving[0]
    return False


def lint(graph_or_nodes: Graph | Node | Iterable[Node]) -> list[Finding]:
    """Patterns whose gradient can produce 0 * inf (NaN), found before anything runs.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> [f.problem[:5] for f in gd.lint(gd.where(x > 0, gd.log(x), 0.0))]
    ['where']
    """
    findings = []
    for n in _nodes_of(graph_or_nodes):
        op = n.op
        if isinstance(op, E.Where):
            for branch in n.inputs[1:]:
                kind = _hazard(branch)
                if kind is not None and not _guarded(branch, n.inputs[0], kind):
                    findings.append(Finding(
                        n, f"where() selects from a {kind} branch ({formula(branch)}) that is "
                        "computed everywhere; where it is not finite its gradient is 0 * inf = NaN",
                        f"mask the input first: {kind}(where(cond, x, safe_value)) inside "
                        "where(cond, ..., other)"))
        elif isinstance(op, E.Log) and isinstance(n.inputs[0].op, N.Softmax):
            findings.append(Finding(
                n, "log(softmax(...)) underflows to log(0) = -inf for large logits",
                "use gd.log_softmax(...), which is stable"))
        elif isinstance(op, E.Sqrt) and isinstance(n.inputs[0].op, R.Sum):
            inner = n.inputs[0].inputs[0]
            squared = isinstance(inner.op, E.Square) or (
                isinstance(inner.op, E.Multiply) and inner.inputs[0] is inner.inputs[1]) or (
                isinstance(inner.op, E.Power) and inner.inputs[1].weak
                and inner.inputs[1].value == 2)
            if squared:
                findings.append(Finding(
                    n, "sqrt(sum(x**2)) has an infinite gradient (NaN after 0 * inf) at x = 0",
                    "use sqrt(sum(x**2) + eps), or a norm that defines its gradient at 0"))
    return findings


# ---------------------------------------------------------------- CSE and sizes
def cse(nodes: Sequence[Node]) -> dict[Node, Node]:
    """Common-subexpression elimination: map each node to the first node with an equal op
    (same type and parameters) applied to the same inputs. ``nodes`` in creation order.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> a, b = gd.exp(x), gd.exp(x)
    >>> gd.cse([x, a, b])[b] is a
    True
    """
    rep: dict[int, Node] = {}
    first: dict[Any, Node] = {}
    out: dict[Node, Node] = {}
    for n in sorted(nodes, key=lambda n: n.index):
        # The key compiled rewrites merge by (one definition): inputs by their representative.
        key = cse_key(n, [rep.get(id(i), i) for i in n.inputs])
        target = n if key is None else first.setdefault(key, n)
        rep[id(n)] = target
        out[n] = target
    return out


def size_report(z: Node, targets: Node | Sequence[Node]) -> dict[str, int]:
    """``|G|``, ``|G'|`` and how many nodes back-propagation adds, before and after CSE.

    ``|G|`` counts the ancestors of z. The gradient is built on a scratch copy of those
    ancestors, so asking for a report never grows the graph; the cost is linear in the
    size of G and of the gradient.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> gd.size_report(gd.sum(gd.tanh(x)), x)["forward"]
    3
    >>> len(g.nodes)
    3
    """
    targets = [targets] if isinstance(targets, Node) else list(targets)
    for t in targets:
        if not isinstance(t, Node) or t.graph is not z.graph:
            raise GraphError(f"size_report: target {t!r:.60} is not a node of z's graph")
    forward = _nodes_of(z)
    pruned = pruned_nodes(z, targets)
    copies = _scratch_copy(forward)
    z_copy = copies[id(z)]
    connected = [copies[id(t)] for t in targets if id(t) in copies]
    table = backprop(z_copy, connected)
    grads = [table[t] for t in connected if t in table]
    everything = _nodes_of([z_copy] + grads)
    # Everything after z in the scratch graph was added by back-propagation.
    added = [n for n in everything if n.index > z_copy.index]
    merged = cse(everything)
    distinct = {id(merged[n]) for n in added}
    return {"forward": len(forward), "pruned": len(pruned), "gradient_added": len(added),
            "gradient_added_after_cse": len(distinct)}


def _scratch_copy(nodes: list[Node]) -> dict[int, Node]:
    """Copies of ``nodes`` (creation order) in a fresh graph: id(original) -> copy, with the
    same ops, values and flags, so back-propagation builds there what it would build here."""
    scratch = Graph()
    copies: dict[int, Node] = {}
    for n in nodes:
        if n.op is not None:
            m = Node(scratch, n.op, tuple(copies[id(i)] for i in n.inputs), n.shape, n.dtype,
                     "op", name=n.name)
        elif n.kind == "constant" and n.weak and n.name is None:
            m = scratch.constant(n.value)  # the scalar cache, as the original graph has one
        else:
            value = None if n.kind == "input" else n.value
            m = Node(scratch, None, (), n.shape, n.dtype, n.kind, name=n.name, value=value,
                     weak=n.weak)
        m.ones = n.ones
        m.shape_rep = copies.get(id(n.shape_rep), m)
        copies[id(n)] = m
    return copies
