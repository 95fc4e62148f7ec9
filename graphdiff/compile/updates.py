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

Compiled functions write an update straight into its parameter's array where that is
safe (``inplace_targets``: the step is elementwise, nothing later reads the old value,
the array is the parameter's own), which saves a temporary and a copy per parameter; a
call that fails part way may then leave such parameters with their new values.

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
from .reuse import INPLACE_MIN_SIZE

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


def apply_updates(pairs: list[tuple[Node, Node]], values: list[Any],
                  skip: list[bool] | None = None) -> None:
    """Give each parameter its update's value (computed before any is applied).

    ``values`` must be the caller's own arrays (``Plan.owned_all``): none is a parameter's
    live array or shares memory with an array that a later write changes, except where
    ``skip`` is True: that update was already written into its parameter.

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
    for k, ((param, _), value) in enumerate(zip(pairs, values, strict=True)):
        if skip is not None and skip[k]:
            continue
        current = param.value
        if (type(current) is np.ndarray and current.flags.writeable
                and isinstance(value, (np.ndarray, np.generic, int, float))):
            np.copyto(current, value, casting="same_kind")
        else:
            if getattr(value, "dtype", param.dtype) != param.dtype:
                value = value.astype(param.dtype)
            param.value = value


# ---------------------------------------------------------------- writing into the parameter
def inplace_targets(plan: Any, pairs: list[tuple[Node, Node]]) -> dict[int, int]:
    """step -> parameter slot: updates whose last step may write straight into the
    parameter's array (``out=``), saving a temporary and the copy of ``apply_updates``.

    The step must be an elementwise kernel taking ``out=`` that either reads the parameter
    itself (``p - lr * g``: writing into an input is what buffer reuse does for a dying
    input) or is a ufunc running after the parameter's last read (``m * b1 + g * (1 - b1)``
    for Adam's moment ``m``); after it no step may read the parameter or anything that
    may share its memory, and none of those may be fetched (outputs are copied after the
    schedule: they would see the new value); the update must be fetched only as this
    update, with the parameter's
    dtype and static shape (so ``apply_updates`` has nothing left to check), large enough
    for ``out=`` to pay (``INPLACE_MIN_SIZE``). The run-time conditions (a writable NumPy
    array owning its memory, shared with no other leaf) are ``targets_usable``'s.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> from graphdiff.compile import Plan
    >>> from graphdiff.compile.updates import inplace_targets
    >>> g = gd.Graph(); w = g.parameter(np.ones(4096)); x = g.input("x", shape=(4096,))
    >>> new = w - x * 0.1
    >>> inplace_targets(Plan(g, [new]), [(w, new)])   # step 1 (w - ...) writes into slot 0, w
    {1: 0}
    """
    if not pairs or any(n.shape is None or None in n.shape for _, n in pairs):
        return {}
    slot = plan.slot
    # A parameter that no step reads has no slot to write into: it takes the copy.
    pairs = [(p, n) for p, n in pairs if id(p) in slot]
    step_of = {slot[id(n)]: k for k, n in enumerate(plan.nodes)}
    ins = [step[1] for step in plan.steps]
    params = {slot[id(p)] for p, _ in pairs}
    # shares[s]: the updated parameters whose memory slot s's value may share.
    shares: dict[int, frozenset] = {s: frozenset((s,)) for s in params}
    for k, n in enumerate(plan.nodes):
        op = n.op
        if op.fresh_output():
            continue
        view_of = op.view_of
        if view_of is not None and 0 <= view_of < len(ins[k]):
            found = shares.get(ins[k][view_of])
        else:
            found = frozenset().union(*(shares.get(i, frozenset()) for i in ins[k]))
        if found:
            shares[slot[id(n)]] = found
    last_read: dict[int, int] = {}       # parameter slot -> last step reading its memory
    for k, used in enumerate(ins):
        for i in used:
            for ps in shares.get(i, ()):
                last_read[ps] = k
    counts: dict[int, int] = {}
    for s in plan.fetch_slots:
        counts[s] = counts.get(s, 0) + 1
    fetched_params = {ps for s in plan.fetch_slots for ps in shares.get(s, ())}
    out: dict[int, int] = {}
    for p, node in pairs:
        ps, ns = slot[id(p)], slot[id(node)]
        k = step_of.get(ns)
        kernel = None if k is None else node.op.out_kernel
        if (kernel is None or node.dtype != p.dtype or node.shape != p.shape or not p.shape
                or int(np.prod(p.shape)) < INPLACE_MIN_SIZE or counts.get(ns) != 1
                or ps in fetched_params
                or any(ps in shares.get(i, ()) for i in ins[k] if i != ps)):
            continue
        if ps in ins[k]:
            # Reading p at its own last step: as buffer reuse writes into a dying input.
            if ins[k].count(ps) != 1 or last_read.get(ps) != k:
                continue
        elif not isinstance(kernel, np.ufunc) or last_read.get(ps, -1) >= k:
            # A ufunc may write any buffer of the output's shape (AddN's kernel may not:
            # it adds into out); p must have been read for the last time before.
            continue
        out[k] = ps
    return out


def targets_usable(plan: Any, values: list[Any], targets: dict[int, int]) -> bool:
    """True when every target parameter's live array may be written by ``out=``: a
    writable NumPy array owning its memory, which no other leaf is or views."""
    leaves = [values[s] for s in plan.leaf_slots]
    seen: dict[int, int] = {}
    for v in leaves:
        seen[id(v)] = seen.get(id(v), 0) + 1
        base = getattr(v, "base", None)
        if base is not None:
            seen[id(base)] = seen.get(id(base), 0) + 1
    for s in targets.values():
        v, node = values[s], plan.order[s]
        if (type(v) is not np.ndarray or not v.flags.writeable or not v.flags.owndata
                or seen.get(id(v)) != 1 or v.dtype != node.dtype):
            return False
    return True
