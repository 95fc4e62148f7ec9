"""Forward mode: Jacobian-vector products as new nodes of the graph, the mirror of backprop.

Where back-propagation visits G' in reverse creation order and asks each consumer's
``bprop`` for a contribution, forward mode visits the nodes that depend on the inputs in
creation order and asks each op's ``jvp`` for its output's tangent from its inputs'
tangents. A tangent that is zero is never built: an op whose inputs all have zero tangents
is skipped, as back-propagation skips zero contributions.

Every built-in op has a tangent rule: elementwise ops reuse their (diagonal) reverse rules,
linear ops apply themselves to the tangent, the others write theirs beside their reverse
rules. A custom op without ``jvp`` still works: its tangent is built by transposing its
``bprop`` (J v is the gradient of <J^T u, v> with respect to the cotangent u).
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from typing import Any, Iterator, Sequence

import numpy as np

from .backprop import grad, zeros_for
from .errors import GradError, GraphError
from .graph import Node, ancestors, building, consumers_of, describe, describe_full
from .op import add_n
from .ops.elementwise import multiply
from .ops.reduce import sum
from .ops.shape import broadcast_like, zeros_like
from .shapes import known, same_shape
from .site import creation_site


class TangentTable(Mapping):
    """The read-only table of forward mode: every node that depends on the inputs -> its
    tangent Node (only nodes with a nonzero tangent are keys).

    ``inputs`` are the nodes the tangents were given for; ``added`` the nodes forward mode
    inserted into the graph.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,)); y = gd.exp(x)
    >>> table = gd.forward.tangent_table(y, x, np.ones(2))
    >>> x in table and y in table
    True
    """

    def __init__(self, inputs: Sequence[Node], table: dict[Node, Node], added: list[Node]):
        self.inputs = tuple(inputs)
        self._table = table
        self.added = tuple(added)

    def __getitem__(self, node: Node) -> Node:
        return self._table[node]

    def __iter__(self) -> Iterator[Node]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def __repr__(self) -> str:
        return f"<TangentTable: {len(self._table)} nodes with tangents>"


def _as_list(value: Any) -> tuple[list, bool]:
    if isinstance(value, Node):
        return [value], True
    if isinstance(value, (list, tuple)):
        return list(value), False
    raise TypeError(f"expected a Node or a list of Nodes, got {type(value).__name__}")


def _tangent_node(x: Node, v: Any) -> Node:
    """The tangent given for input x as a Node of x's graph, of x's shape and float dtype."""
    if isinstance(v, Node):
        if v.graph is not x.graph:
            raise GraphError(f"the tangent of {describe_full(x)} belongs to another graph")
        t = v
    else:
        dtype = x.dtype if x.dtype is not None and x.dtype.kind in "fc" else None
        try:
            t = x.graph.constant(np.asarray(v, dtype=dtype))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"the tangent of {describe(x)} is not a numeric array: {exc}") \
                from None
    if x.shape is not None and t.shape is not None and (
            len(t.shape) != len(x.shape) or any(
                a is not None and b is not None and a != b for a, b in zip(t.shape, x.shape))):
        raise GradError(f"the tangent has shape {t.shape} but {describe_full(x)} has shape "
                        f"{x.shape}; they must match")
    return t


def _descendants(inputs: Sequence[Node], members: set[int]) -> list[Node]:
    """The nodes among ``members`` reached from the inputs through consumers, in creation
    order (the forward-mode counterpart of G')."""
    reached: dict[int, Node] = {id(x): x for x in inputs if id(x) in members}
    stack = list(reached.values())
    while stack:
        for c in consumers_of(stack.pop()):
            if id(c) in members and id(c) not in reached:
                reached[id(c)] = c
                stack.append(c)
    return sorted(reached.values(), key=lambda n: n.index)


def tangent_table(outputs: Node | Sequence[Node], inputs: Node | Sequence[Node],
             vectors: Any) -> TangentTable:
    """Run forward mode: the tangent of every node between the inputs and the outputs.

    ``gd.jvp`` reads the outputs' entries from this table; ``vectors`` are the inputs'
    tangents.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,)); y = x * x
    >>> table = gd.forward.tangent_table(y, x, np.array([1.0, 0.0]))
    >>> g.run(table[y], feed={x: np.array([3.0, 4.0])})
    array([6., 0.])
    """
    outs, _ = _as_list(outputs)
    ins, single = _as_list(inputs)
    vecs = [vectors] if single else list(vectors) if isinstance(vectors, (list, tuple)) \
        else None
    if vecs is None or len(vecs) != len(ins):
        raise GradError(f"jvp got {len(ins)} inputs but a different number of tangents")
    for n in outs + ins:
        if not isinstance(n, Node):
            raise TypeError(f"jvp takes graph Nodes, got {type(n).__name__}")
    graph = (outs + ins)[0].graph
    for n in outs + ins:
        if n.graph is not graph:
            raise GraphError(f"{describe_full(n)} belongs to another graph")
    table: dict[Node, Node] = {}
    start = len(graph)
    state = building()
    gc_was_on = gc.isenabled()
    gc.disable()
    state.site, state.active, state.memo, state.made_by = creation_site(), True, {}, "tangent"
    try:
        for x, v in zip(ins, vecs):
            state.grad_of = x
            t = _tangent_node(x, v)
            table[x] = t if x not in table else add_n([table[x], t])
        members = {id(n) for n in ancestors(outs)}
        given = {id(x) for x in ins}
        for n in _descendants(ins, members):
            if id(n) in given or n.op is None or not n.op.differentiable:
                continue
            tans = tuple(table.get(i) for i in n.inputs)
            if all(t is None for t in tans):
                continue
            state.grad_of = n
            t = n.op.jvp(n.inputs, tans, n)
            if t is NotImplemented:
                t = _transposed_bprop(n, tans)
            if t is None:
                continue
            if not isinstance(t, Node):
                t = graph.constant(t)
            table[n] = _fit(t, n, tans)
    finally:
        state.active, state.grad_of, state.memo, state.made_by = False, None, None, None
        if gc_was_on:
            gc.enable()
    return TangentTable(ins, table, graph.nodes_since(start))


def _fit(t: Node, n: Node, tans: tuple) -> Node:
    """The tangent broadcast to the output's shape where a rule left it smaller (x + y with
    a tangent for the smaller operand only)."""
    if t.shape_rep is n.shape_rep or (known(n.shape) and t.shape == n.shape):
        return t
    if not n.op.broadcasts(n.inputs):
        return t
    contributing = [x for x, v in zip(n.inputs, tans) if v is not None]
    if all(same_shape(x, n, [i for i in n.inputs if i is not x]) for x in contributing):
        return t
    return broadcast_like(t, n)


def _transposed_bprop(n: Node, tans: tuple) -> Node | None:
    """J v for an op with only a reverse rule: the gradient of <J^T u, v> in u, for a
    cotangent u of the output's shape (bprop is linear in u, so u's value is irrelevant)."""
    u = zeros_like(n)
    inner = []
    seen: set[int] = set()
    for x, v in zip(n.inputs, tans):
        if v is None or id(x) in seen:
            continue
        seen.add(id(x))
        term = n.op.bprop(n.inputs, x, n, u)
        if term is not None:
            inner.append(sum(multiply(term, v)))
    if not inner:
        return None
    z = add_n(inner)
    state = building()
    saved = (state.active, state.grad_of, state.memo, state.made_by, state.site)
    try:
        return grad(z, u)
    finally:
        state.active, state.grad_of, state.memo, state.made_by, state.site = saved


def jvp(outputs: Node | Sequence[Node], inputs: Node | Sequence[Node],
        tangents: Any) -> Node | list[Node]:
    """Forward mode: sum_i (d y / d x_i) v_i for each output y, as Nodes of the graph.

    ``inputs`` may be inputs, parameters or any nodes; ``tangents`` has their structure
    (arrays or Nodes of each input's shape). An output that depends on no input gets zeros.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> jv = gd.jvp(gd.sin(x) * 3.0, x, np.array([1.0, 2.0]))
    >>> g.run(jv, feed={x: np.zeros(2)})
    array([3., 6.])
    """
    outs, single = _as_list(outputs)
    table = tangent_table(outs, inputs, tangents)
    result = []
    for y in outs:
        t = table.get(y)
        if t is None:
            t = zeros_for(y)
            t.grad_of = y
        result.append(t)
    return result[0] if single else result
