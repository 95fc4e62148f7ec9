"""Running graphs: ``run`` (``g.run``) and the per-graph cache of plans it keeps.

The plans themselves, the step loop, generated code and buffer reuse live in
``graphdiff.compile``; ``Function``, ``Plan`` and ``check_feed`` are re-exported here.
No gradient logic lives here.

The cache keeps the plans of recent fetch sets of each graph, bounded by their total
number of steps (and by their count), least recently used first out: a plan holds a
few hundred bytes per step, so 256 fetch sets of a 20,000-op chain would retain more
than a gigabyte.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any

from . import anomaly, backends
from .compile import Function, Plan, check_feed, flatten, run_steps
from .compile.updates import apply_updates, check_updates, update_lock
from .errors import FeedError
from .graph import Graph, Node, describe_full

__all__ = ["run", "Function", "Plan", "check_feed", "plan_for", "clear_plans",
           "cached_plans", "PLAN_CACHE_STEPS", "PLAN_CACHE_SIZE"]

PLAN_CACHE_STEPS = 2_000_000   # steps retained in all, per graph
PLAN_CACHE_SIZE = 256          # plans retained, per graph


class _PlanCache:
    """The plans of one graph by fetch set, in least-recently-used order."""

    def __init__(self) -> None:
        self.plans: OrderedDict[tuple, Plan] = OrderedDict()
        self.steps = 0


_caches: weakref.WeakKeyDictionary[Graph, _PlanCache] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def _cache(graph: Graph) -> _PlanCache:
    cache = _caches.get(graph)
    if cache is None:
        with _cache_lock:
            cache = _caches.setdefault(graph, _PlanCache())
    return cache


def plan_for(graph: Graph, nodes: list[Node]) -> Plan:
    """The (cached) plan computing ``nodes`` of ``graph``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> from graphdiff.runtime import plan_for
    >>> g = gd.Graph(); x = g.input("x"); y = x + 1.0
    >>> plan_for(g, [y]) is plan_for(g, [y])
    True
    """
    cache = _cache(graph)
    key = tuple(id(n) for n in nodes)
    with _cache_lock:
        plan = cache.plans.get(key)
        if plan is not None:
            cache.plans.move_to_end(key)
            return plan
    plan = Plan(graph, nodes)   # outside the lock: building may take seconds
    with _cache_lock:
        if key not in cache.plans:
            cache.plans[key] = plan
            cache.steps += len(plan.steps)
        # Evict the least recently used plans, but never the one just built.
        while len(cache.plans) > 1 and (cache.steps > PLAN_CACHE_STEPS
                                        or len(cache.plans) > PLAN_CACHE_SIZE):
            _, old = cache.plans.popitem(last=False)
            cache.steps -= len(old.steps)
    return plan


def cached_plans(graph: Graph) -> list[Plan]:
    """The plans cached for ``graph``, least recently used first.

    Examples
    --------
    >>> import graphdiff as gd
    >>> from graphdiff.runtime import cached_plans
    >>> g = gd.Graph(); W = g.parameter(1.0)
    >>> _ = g.run(W * 2.0)
    >>> [len(p.steps) for p in cached_plans(g)]
    [1]
    """
    cache = _caches.get(graph)
    if cache is None:
        return []
    with _cache_lock:
        return list(cache.plans.values())


def clear_plans(graph: Graph) -> None:
    """Drop the plans cached for ``graph`` (they hold its constants' arrays).

    Examples
    --------
    >>> import graphdiff as gd
    >>> from graphdiff.runtime import cached_plans, clear_plans
    >>> g = gd.Graph(); W = g.parameter(1.0); _ = g.run(W * 2.0)
    >>> clear_plans(g); cached_plans(g)
    []
    """
    with _cache_lock:
        _caches.pop(graph, None)


# Moving a graph's leaves (backends.move_leaves) makes its cached plans stale.
backends.on_leaves_moved(clear_plans)


def run(graph: Graph, fetches: Any, feed: dict, check_finite: bool = False,
        updates: Any = None) -> Any:
    """Compute ``fetches`` of ``graph`` from ``feed`` (what ``Graph.run`` does).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> from graphdiff.runtime import run
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> run(g, {"s": gd.sum(x)}, {x: np.ones(2)})
    {'s': array(2.)}
    """
    nodes, rebuild = flatten(fetches)
    pairs = check_updates(graph, updates, "g.run")
    if pairs:
        with update_lock(graph):
            owned = _run(graph, nodes + [node for _, node in pairs], feed, check_finite)
            apply_updates(pairs, owned[len(nodes):])
        return rebuild(owned[:len(nodes)])
    return rebuild(_run(graph, nodes, feed, check_finite))


def _run(graph: Graph, nodes: list[Node], feed: dict, check_finite: bool) -> list[Any]:
    plan = plan_for(graph, nodes)
    for node in feed:
        if not isinstance(node, Node):
            raise FeedError(f"feed keys must be input Nodes, got {node!r}")
        if node.graph is not graph:
            raise FeedError(f"the fed {describe_full(node)} belongs to another graph")
        if node.kind != "input":
            check_feed(node, feed[node])
    fed = {}
    for k, n in plan.inputs:
        if n not in feed:
            raise FeedError(f"input {describe_full(n)} is needed but was not fed")
        fed[k] = check_feed(n, feed[n])
    values = plan.fill(fed)
    if not plan.plain(values) and plan.place_leaves(values):
        values = plan.fill(fed)
    check = anomaly.check if check_finite or anomaly.enabled() else None
    return plan.owned_all(run_steps(plan, values, check))
