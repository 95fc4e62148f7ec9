"""Function: a graph compiled once for fixed inputs and outputs."""

from __future__ import annotations

from typing import Any

from .. import anomaly
from ..errors import FeedError, GraphError
from ..graph import Graph, Node, describe
from .codegen import Schedule, Tiered
from .feeds import check_feed, flatten
from .plan import Plan, run_steps
from .rewrite import Rewrites, move_folded, rewrite
from .updates import apply_updates, check_updates, inplace_targets, targets_usable, update_lock


class Function:
    """A graph compiled once for fixed inputs and outputs: ``f(*arrays) -> outputs``.

    Each call only fills the leaves and runs the flat schedule, so it is safe to call
    from several threads at once (every call has its own value slots). With ``optimize``
    the schedule is built from the rewritten graph (``compile.rewrite``); ``rewrites``
    lists what was applied (empty without ``optimize``).

    ``updates`` ({parameter: Node}) are computed in the same schedule as the outputs, from
    the parameters' values before the call, and applied after it (in place where the
    parameter's array allows): see ``graphdiff.compile.updates``, which also says how
    calls with updates are serialised between threads.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> from graphdiff.compile import Function
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> Function(g, [x], gd.sum(x * x))(np.array([1.0, 2.0]))
    array(5.)
    """

    def __init__(self, graph: Graph, inputs: list[Node], outputs: Any, check_finite: bool = False,
                 updates: Any = None, optimize: bool = True):
        for n in inputs:
            if not isinstance(n, Node) or n.graph is not graph or n.kind != "input":
                raise FeedError(f"function inputs must be input nodes of this graph, got {n!r}")
        seen: set[int] = set()
        for n in inputs:
            if id(n) in seen:  # f(a, b) would silently feed only the last one
                raise GraphError(f"function inputs name {describe(n)} twice; each input is "
                                 "one argument")
            seen.add(id(n))
        self.graph = graph
        self.inputs = inputs
        self.check_finite = check_finite
        nodes, self._rebuild = flatten(outputs)
        # The update values are extra fetches of the one plan, after the outputs.
        self.updates = check_updates(graph, updates, "g.function")
        self._n_outputs = len(nodes)
        fetches = nodes + [node for _, node in self.updates]
        self.rewrites = Rewrites()
        if optimize:
            fetches, self.rewrites = rewrite(graph, fetches)
            # The plan computes each update through its stand-in (same name and site).
            self.updates = [(p, m) for (p, _), m in zip(self.updates, fetches[self._n_outputs:])]
        self.plan = Plan(graph, fetches)
        # Interpreted first, generated code once the calls have paid for generating it.
        self._tiered = Tiered(self.plan)
        # Updates whose last step can write straight into the parameter (no copy).
        self._into = inplace_targets(self.plan, self.updates)
        position = {id(n): k for k, n in enumerate(inputs)}
        self._feed_positions = []
        for k, n in self.plan.inputs:
            if id(n) not in position:
                raise FeedError(f"the outputs need input {describe(n)}, which is not among the "
                                "function's inputs")
            self._feed_positions.append((k, n, position[id(n)]))

    def schedule(self, inplace: bool) -> Schedule:
        """The generated code of this function's plan (with in-place reuse or without)."""
        return self._tiered.schedule(inplace)

    def __call__(self, *args: Any) -> Any:
        if self.updates:
            with update_lock(self.graph):
                return self._call(args)
        return self._call(args)

    def _call(self, args: tuple) -> Any:
        if len(args) != len(self.inputs):
            raise FeedError(f"this function takes {len(self.inputs)} inputs "
                            f"({', '.join(describe(n) for n in self.inputs)}), got {len(args)}")
        fed = {k: check_feed(n, args[p]) for k, n, p in self._feed_positions}
        plan = self.plan
        values = plan.fill(fed)
        plain = plan.plain(values)
        if not plain and plan.place_leaves(values):
            if self.rewrites.folded:     # constants folded from the leaves move with them
                move_folded(self.rewrites.folded, fed.values())
                plan.reload_constants()
            values = plan.fill(fed)
        into = None
        if self.check_finite or anomaly.enabled():
            results = run_steps(plan, values, anomaly.check)
        else:
            into = self._into if plain and self._into and targets_usable(
                plan, values, self._into) else None
            results, generated = self._tiered(values, plain, into)
            if not generated:
                into = None     # interpreted: the updates are applied after the run
        owned = plan.owned_all(results)
        if self.updates:
            written = set(into.values()) if into else ()
            apply_updates(self.updates, owned[self._n_outputs:],
                          skip=[plan.slot.get(id(p)) in written for p, _ in self.updates])
            del owned[self._n_outputs:]
        return self._rebuild(owned)
