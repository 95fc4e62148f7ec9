"""``updates=``: parameters that a run sets to new values, with Theano's semantics.

``updates`` maps parameters to Nodes. A run computes its outputs and every update's value
from the parameters as they were when the run began (one plan computes all of them), then
each parameter takes its update's value: in place (``param.value[...] = new``, so arrays
that others hold see the step, as after ``opt.step``) when the live value is a writable
NumPy array, else by assigning a new array (``param.value = new``: other libraries' arrays,
read-only arrays). The new value keeps the parameter's dtype (cast ``same_kind``).

Everything that can be checked when the function is built is checked then (keys are
parameters of the graph, each once; the update's static shape and dtype fit the
parameter), with a ``GraphError`` naming both nodes and the caller's line; a run-time size
that does not fit raises ``GraphError`` before any parameter changes.

Threads: calls with updates on one graph are serialised by one lock per graph (whole
calls: read, compute, write), so each sees the parameters the previous one left and no
step is lost. Calls without updates take no lock: one running while another applies its
updates in place may read a parameter half written. Train and evaluate from one thread,
or evaluate between steps.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np

from ..errors import GraphError
from ..graph import Graph, Node, as_node, describe_full
from ..site import creation_site, format_site

_locks: weakref.WeakKeyDictionary[Graph, threading.RLock] = weakref.WeakKeyDictionary()
_locks_lock = threading.Lock()


def update_lock(graph: Graph) -> threading.RLock:
    """The lock that serialises the runs with updates of ``graph``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> from graphdiff.compile.updates import update_lock
    >>> g = gd.Graph(); update_lock(g) is update_lock(g)
    True
    """
    lock = _locks.get(graph)
    if lock is None:
        with _locks_lock:
            lock = _locks.setdefault(graph, threading.RLock())
    return lock


def check_updates(graph: Graph, updates: Any, where: str) -> list[tuple[Node, Node]]:
    """``updates`` (a dict, or a sequence of pairs) as checked ``(parameter, node)`` pairs.

    Values that are not Nodes (arrays, numbers) become constants of ``graph``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> from graphdiff.compile.updates import check_updates
    >>> g = gd.Graph(); w = g.parameter(np.ones(2), name="w")
    >>> [(p.name, n.shape) for p, n in check_updates(g, {w: w * 0.5}, "g.function")]
    [('w', (2,))]
    """
    if updates is None:
        return []
    site = format_site(creation_site())
    items = list(updates.items()) if isinstance(updates, dict) else _pairs(updates, where, site)
    pairs: list[tuple[Node, Node]] = []
    seen: set[int] = set()
    for param, value in items:
        if not isinstance(param, Node) or param.kind != "parameter":
            what = describe_full(param) if isinstance(param, Node) else repr(param)
            raise GraphError(f"{where} at {site}: updates keys must be parameters, got {what}")
        if param.graph is not graph:
            raise GraphError(f"{where} at {site}: the updated {describe_full(param)} belongs "
                             "to another graph")
        if id(param) in seen:
            raise GraphError(f"{where} at {site}: {describe_full(param)} is updated twice")
        seen.add(id(param))
        try:
            node = as_node(value, graph)
        except (GraphError, TypeError) as exc:
            raise GraphError(f"{where} at {site}: the update of {describe_full(param)}: "
                             f"{exc}") from None
        _check_fits(param, node, where, site)
        pairs.append((param, node))
    return pairs


def _pairs(updates: Any, where: str, site: str) -> list[tuple[Any, Any]]:
    try:
        items = [tuple(item) for item in updates]
    except TypeError:
        raise GraphError(f"{where} at {site}: updates must be a dict {{parameter: node}} or "
                         f"a sequence of (parameter, node) pairs, got "
                         f"{type(updates).__name__}") from None
    if any(len(item) != 2 for item in items):
        raise GraphError(f"{where} at {site}: updates must be (parameter, node) pairs")
    return items


def _check_fits(param: Node, node: Node, where: str, site: str) -> None:
    shape = node.shape
    if shape is not None and (len(shape) != len(param.shape) or any(
            d is not None and d != p for d, p in zip(shape, param.shape))):
        raise GraphError(f"{where} at {site}: the update of {describe_full(param)}, of shape "
                         f"{param.shape}, is {describe_full(node)} of shape {shape}")
    if node.dtype is not None and not np.can_cast(node.dtype, param.dtype, "same_kind"):
        raise GraphError(f"{where} at {site}: the update of {describe_full(param)} (dtype "
                         f"{param.dtype}) is {describe_full(node)} of dtype {node.dtype}, "
                         "which cannot be cast to it (same_kind)")


def apply_updates(pairs: list[tuple[Node, Node]], values: list[Any]) -> None:
    """Give each parameter its update's value (computed before any is applied).

    ``values`` must be the caller's own arrays (``Plan.owned_all``): none is a parameter's
    live array or shares memory with an array that a later write changes.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> from graphdiff.compile.updates import apply_updates
    >>> g = gd.Graph(); w = g.parameter(np.ones(2), name="w"); live = w.value
    >>> apply_updates([(w, w)], [np.array([3.0, 4.0])])
    >>> live                          # in place: the same array holds the new value
    array([3., 4.])
    """
    for (param, node), value in zip(pairs, values, strict=True):
        if tuple(np.shape(value)) != param.shape:   # checked before anything is written
            raise GraphError(f"the update of {describe_full(param)}, of shape {param.shape}, "
                             f"computed {describe_full(node)} of shape {tuple(np.shape(value))}; "
                             "no parameter was changed")
    for (param, _), value in zip(pairs, values, strict=True):
        current = param.value
        if (type(current) is np.ndarray and current.flags.writeable
                and isinstance(value, (np.ndarray, np.generic, int, float))):
            np.copyto(current, value, casting="same_kind")
        else:
            if getattr(value, "dtype", param.dtype) != param.dtype:
                value = value.astype(param.dtype)
            param.value = value
