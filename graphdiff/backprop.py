"""Back-propagation as in the Deep Learning Book, section 6.5, Algorithms 6.5 and 6.6.

``prune`` builds G', the nodes that are ancestors of z and descendants of the targets.
``backprop`` sets ``grad_table[z]`` to the seed and fills the table with ``build_grad``:
the gradient of V is the sum, over each consumer C of V in G', of
``C.op.bprop(C.inputs, V, C, grad_table[C])``. Every gradient is a new node inserted
into the graph, so a gradient is a graph too.

The book's build_grad recurses into the consumers first. Visiting G' in reverse creation
order (creation order is topological) reaches every consumer before the node it
consumes, so the same memoized table is filled with a loop instead of the Python stack,
and a 100,000-op chain needs no recursion limit.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Mapping
from typing import Any, Iterator, Sequence

import networkx as nx
import numpy as np

from .errors import GradError, GraphError
from .graph import (
    Node,
    ancestor_marks,
    ancestors,
    building,
    consumers_of,
    describe,
    describe_full,
    formula,
)
from .op import add_n, make_node
from .ops.elementwise import StopGradient
from .ops.shape import OnesSeed, sum_to, zeros_like
from .shapes import is_float, known, same_shape
from .site import creation_site, format_site

_POLICIES = ("zeros", "none", "raise")


def pruned_nodes(z: Node, targets: Sequence[Node]) -> list[Node]:
    """The nodes of G' in creation order: ancestors of z that descend from a target."""
    nodes = z.graph.nodes
    marks = _pruned_marks(z, targets, nodes)
    if marks is None:
        return _pruned_by_id(z, targets)
    return list(itertools.compress(nodes, marks))


def _pruned_marks(z: Node, targets: Sequence[Node], nodes: Sequence[Node]) -> bytearray | None:
    """G' as one byte per node of the graph (by creation index): no id-keyed dicts or
    sets, which cost about a hundred bytes per node of a deep graph. None where z depends
    on nodes outside ``graph.nodes`` (stand-ins of compiled rewrites)."""
    members = ancestor_marks([z], nodes)
    if members is None:
        return None
    size = len(members)
    reached = bytearray(size)
    stack = [t for t in targets if t.index < size and members[t.index] and nodes[t.index] is t]
    for t in stack:
        reached[t.index] = 1
    while stack:
        for c in consumers_of(stack.pop()):
            i = c.index
            if i < size and members[i] and not reached[i]:
                reached[i] = 1
                stack.append(c)
    return reached


def _pruned_by_id(z: Node, targets: Sequence[Node]) -> list[Node]:
    members = {id(n) for n in ancestors([z])}
    reached: dict[int, Node] = {}
    stack = [t for t in targets if id(t) in members]
    for t in stack:
        reached[id(t)] = t
    while stack:
        for c in consumers_of(stack.pop()):
            if id(c) in members and id(c) not in reached:
                reached[id(c)] = c
                stack.append(c)
    return sorted(reached.values(), key=lambda n: n.index)


def _digraph(nodes: Sequence[Node]) -> nx.DiGraph:
    G = nx.DiGraph()
    G.add_nodes_from(nodes)
    members = {id(n) for n in nodes}
    G.add_edges_from((i, n) for n in nodes for i in n.inputs if id(i) in members)
    return G


def prune(z: Node, targets: Node | Sequence[Node]) -> nx.DiGraph:
    """G': the subgraph of ancestors of ``z`` (z included) that descend from a target.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=()); y = g.input("y", shape=())
    >>> len(gd.prune(gd.exp(x) * y, [x]).nodes)
    3
    """
    targets = _as_targets(z, targets)
    return _digraph(pruned_nodes(z, targets))


class GradTable(Mapping):
    """The read-only grad_table: every node of G' -> the Node of its gradient.

    ``table[z]`` is the seed; ``targets`` the targets; ``pruned`` is G' (a networkx
    DiGraph); ``added`` the nodes back-propagation inserted into the graph; ``terms(v)``
    the contributions that build_grad summed into v's gradient.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,)); z = gd.sum(gd.exp(x))
    >>> table = gd.backprop(z, [x])
    >>> table.targets == (x,) and x in table and len(table.pruned) == 3
    True
    """

    def __init__(self, z, targets, nodes, table, terms, added):
        self.z = z
        self.targets = tuple(targets)
        self._nodes = nodes
        self._table = table
        self._terms = terms
        self._added = added
        self._pruned = None

    @property
    def pruned(self) -> nx.DiGraph:
        if self._pruned is None:
            self._pruned = _digraph(self._nodes)
        return self._pruned

    @property
    def added(self) -> tuple[Node, ...]:
        return tuple(self._added)

    def __getitem__(self, node: Node) -> Node:
        return self._table[node]

    def __iter__(self) -> Iterator[Node]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, node: object) -> bool:
        return node in self._table

    def has_path(self, node: Node) -> bool:
        """True when some contribution reached ``node`` (its entry is not the zeros that
        back-propagation put where every path is cut)."""
        return node is self.z or node in self._terms

    def why(self, target: Node) -> str:
        """Why ``target``'s gradient is zero: not an ancestor of z, or where every path is cut.

        Examples
        --------
        >>> import numpy as np, graphdiff as gd
        >>> g = gd.Graph(); x = g.input("x", shape=(2,))
        >>> table = gd.backprop(gd.sum(gd.stop_gradient(x) * 2.0), [x])
        >>> print(table.why(x))  # doctest: +ELLIPSIS
        'x' gets zero gradient: every path to z is cut: at #1 = StopGradient('x') at ...
        """
        z = self.z
        if target not in self._table:
            return (f"{describe(target)} gets zero gradient: it is not an ancestor of "
                    f"{describe(z)}, so no path connects them")
        if self.has_path(target):
            n = len(self.terms(target))
            return (f"{describe(target)} has a gradient path to {describe(z)} "
                    f"({n} term{'s' if n != 1 else ''} summed)")
        members = {id(n) for n in self._nodes}
        cuts: dict[int, str] = {}
        seen = {id(target)}
        stack = [target]
        while stack:
            V = stack.pop()
            for C in consumers_of(V):
                if id(C) not in members:
                    continue
                if self.has_path(C):
                    cuts[id(C)] = f"{formula(C)} at {format_site(C.site)} ({_cut_reason(V, C)})"
                elif id(C) not in seen:
                    seen.add(id(C))
                    stack.append(C)
        listed = "; ".join(cuts.values()) or "no consumer passes a gradient back"
        return f"{describe(target)} gets zero gradient: every path to z is cut: at {listed}"

    def terms(self, node: Node) -> list[tuple[Node, tuple[int, ...], Node]]:
        """(consumer, input positions, term) for each contribution summed into node's gradient."""
        found = self._terms.get(node, [])
        if type(found) is tuple:   # one contribution, stored without a list around it
            found = [found]
        return [(C, tuple(k for k, i in enumerate(C.inputs) if i is node), term)
                for C, term in found]

    def __repr__(self) -> str:
        return f"<GradTable of {describe(self.z)}: {len(self._table)} nodes in G'>"


def zeros_for(node: Node) -> Node:
    """Zeros shaped like ``node``: a constant when its shape is static, else zeros_like."""
    if node.kind == "input" and known(node.shape):
        return node.graph.constant(np.zeros(node.shape, dtype=node.dtype))
    return zeros_like(node)


def _as_targets(z: Node, targets: Any) -> list[Node]:
    if not isinstance(z, Node):
        raise TypeError(f"z must be a graph Node, got {type(z).__name__}")
    targets = [targets] if isinstance(targets, Node) else list(targets)
    for t in targets:
        if not isinstance(t, Node):
            raise TypeError(f"targets must be graph Nodes, got {type(t).__name__}")
        if t.graph is not z.graph:
            raise GraphError(f"target {describe_full(t)} belongs to another graph than z")
    return targets


def _seed_node(z: Node, seed: Any) -> Node:
    g = z.graph
    if seed is None:
        if z.shape is not None and known(z.shape):
            if int(np.prod(z.shape)) != 1:
                raise GradError(f"z = {describe_full(z)} has shape {z.shape}: without a seed, z "
                                "must hold exactly one element (a scalar loss); pass seed= "
                                "to back-propagate a non-scalar z")
            node = g.constant(np.ones(z.shape, dtype=z.dtype or np.float64))
            node.ones = True
            return node
        return make_node(OnesSeed(), z)
    if isinstance(seed, Node):
        if seed.graph is not g:
            raise GraphError(f"the seed {describe_full(seed)} belongs to another graph than z")
        node = seed
    else:
        try:
            array = np.asarray(seed)
        except ValueError as exc:  # a ragged list
            raise TypeError(f"grad: seed must be a Node or a numeric array, got {seed!r} "
                            f"({exc})") from None
        if array.dtype.kind not in "biuf":
            raise TypeError(f"grad: seed must be a Node or a numeric array, got "
                            f"{type(seed).__name__} {seed!r} (z = {describe_full(z)})")
        node = g.constant(array.astype(z.dtype if z.dtype is not None else array.dtype))
    if node.shape is not None and z.shape is not None:
        if len(node.shape) != len(z.shape) or any(
                a is not None and b is not None and a != b for a, b in zip(node.shape, z.shape)):
            raise GradError(f"the seed has shape {node.shape} but z = {describe_full(z)} has "
                            f"shape {z.shape}; they must match")
    return node


def backprop(z: Node, targets: Node | Sequence[Node], seed: Any = None) -> GradTable:
    """Run Algorithm 6.5: return the grad_table of every node of G'.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> table = gd.backprop(gd.sum(x * x), [x])
    >>> g.run(table[x], feed={x: np.array([1.0, 2.0])})
    array([2., 4.])
    """
    targets = _as_targets(z, targets)
    graph = z.graph
    start = len(graph)
    all_nodes = graph.nodes
    members: bytearray | set[int] | None = _pruned_marks(z, targets, all_nodes)
    if members is None:
        nodes = _pruned_by_id(z, targets)
        members = {id(n) for n in nodes}
    else:
        nodes = list(itertools.compress(all_nodes, members))
    del all_nodes
    grad_table: dict[Node, Node | None] = {}
    terms: dict[Node, Any] = {}
    if nodes:
        grad_table[z] = _seed_node(z, seed)
        gc_was_on = gc.isenabled()
        # Millions of new nodes would trigger many full collections of a graph that
        # holds no reference cycles worth collecting here; they roughly doubled the time.
        gc.disable()
        state = building()
        state.site, state.active, state.memo = creation_site(), True, {}
        state.made_by = "gradient"
        try:
            for V in reversed(nodes[:-1]):
                grad_table[V] = build_grad(V, grad_table, members, terms)
            for V, entry in grad_table.items():
                if entry is None:
                    # Every path from V to z is cut: its gradient is zeros. Built here, so
                    # that reading the table never adds nodes to the graph.
                    state.grad_of = V
                    grad_table[V] = zeros_for(V)
        finally:
            state.active, state.grad_of, state.memo, state.made_by = False, None, None, None
            if gc_was_on:
                gc.enable()
    added = graph.nodes_since(start)
    return GradTable(z, targets, nodes, grad_table, terms, added)


def build_grad(V: Node, grad_table: dict, members: set[int] | bytearray,
               terms: dict) -> Node | None:
    """The gradient of V: the sum over its consumers C in G' of C.op.bprop(C.inputs, V, C, D).

    Every consumer already has its entry (see the module docstring); None means zero.
    ``backprop`` calls it for every node of G'; ``table.terms(V)`` shows what it summed.
    ``members`` is G': the ids of its nodes, or one byte per creation index (what
    ``backprop`` passes: a deep graph's walk then needs no id-keyed set).

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> table = gd.backprop(gd.sum(x * x + x), [x])
    >>> len(table.terms(x))   # x * x (both positions, one term) and x + ...
    2
    """
    if not is_float(V):
        return None  # integer and boolean values carry no gradient
    graph = V.graph
    state = building()
    collected = []
    if type(members) is bytearray:
        size = len(members)
        consumers = [C for C in consumers_of(V) if C.index < size and members[C.index]]
    else:
        consumers = [C for C in consumers_of(V) if id(C) in members]
    for C in consumers:
        D = grad_table[C]
        if D is None:
            continue
        state.grad_of = C  # provenance: which forward node's bprop builds these nodes
        term = C.op.bprop(C.inputs, V, C, D)
        if term is not None:
            if not isinstance(term, Node):
                term = graph.constant(term)
            collected.append((C, _unbroadcast(term, V, C)))
    if not collected:
        return None
    if len(collected) == 1:
        terms[V] = collected[0]  # one (consumer, term) pair: no list around it
        return collected[0][1]
    terms[V] = collected
    state.grad_of = V
    return add_n([t for _, t in collected])


def _unbroadcast(term: Node, V: Node, C: Node) -> Node:
    """The contribution summed back to V's shape: the one place broadcasting is undone.

    No SumTo is built where V's run-time shape provably equals the term's: the same
    representative (``shape_rep``), equal static shapes, an op whose rules never broadcast,
    or a V of the output's shape with a term of the output's shape.
    """
    if term.shape_rep is V.shape_rep:
        return term
    if V.shape is not None and term.shape is not None:
        if term.shape == V.shape and known(V.shape):
            return term
        if len(term.shape) < len(V.shape) or any(
                d is not None and t is not None and d != 1 and d != t
                for d, t in zip(V.shape[::-1], term.shape[::-1])):
            raise GradError(f"the gradient rule of {C.op.label()} returned a contribution of "
                            f"shape {term.shape} for {describe_full(V)} of shape {V.shape}; "
                            f"it cannot be summed back to that shape (in {describe_full(C)})")
    if not C.op.broadcasts(C.inputs):
        return term
    if term.shape == C.shape and same_shape(V, C, [i for i in C.inputs if i is not V]):
        return term
    return sum_to(term, V)


def _cut_reason(V: Node, C: Node) -> str:
    if isinstance(C.op, StopGradient):
        return "stop_gradient"
    if V.dtype is not None and V.dtype.kind not in "fc":
        return f"integer-valued ({V.dtype})"
    if C.dtype is not None and C.dtype.kind not in "fc":
        return f"integer-valued output ({C.dtype})"
    if not C.op.differentiable:
        return "non-differentiable op"
    return "zero gradient from bprop"


def grad(z: Node, targets: Node | Sequence[Node], seed: Any = None,
         unconnected: str = "zeros") -> Node | list[Node | None] | None:
    """Gradient nodes of ``z`` with respect to each target (a single Node for a single target).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> dx = gd.grad(gd.sum(x ** 3), x)
    >>> g.run(dx, feed={x: np.array([1.0, 2.0, 3.0])})
    array([ 3., 12., 27.])
    """
    if unconnected not in _POLICIES:
        raise ValueError(f"unconnected must be one of {_POLICIES}, got {unconnected!r}")
    single = isinstance(targets, Node)
    targets = _as_targets(z, targets)
    table = backprop(z, targets, seed)
    out: list[Node | None] = []
    for t in targets:
        if t in table:
            out.append(table[t])
        elif unconnected == "zeros":
            zero = zeros_for(t)
            zero.grad_of = t
            out.append(zero)
        elif unconnected == "none":
            out.append(None)
        else:
            raise GradError(f"z = {describe_full(z)} does not depend on target {describe_full(t)}: "
                            f"{table.why(t)}")
    return out[0] if single else out
