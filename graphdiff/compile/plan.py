"""Plan: a flat schedule of the nodes needed for some fetches, and the one interpreted
loop that runs it (``run_steps``), with the anomaly check inside it when one is asked."""

from __future__ import annotations

import contextlib
import copy
import gc
import threading
from typing import Any, Callable

import numpy as np

from .. import backends
from ..errors import GraphdiffError
from ..graph import Graph, Node, describe_full

Check = Callable[[Node, list, Any], "Exception | None"]

# Moving a graph's leaves to another library happens once; two threads fed device arrays
# at once must not both move them.
_move_lock = threading.Lock()


class Plan:
    """A flat schedule computing ``fetches``: slots for values, steps over slots.

    Step k computes node ``nodes[k]`` from slots ``ins`` into slot ``out`` and then drops
    the slots in ``free`` (values whose last use it was), so a training step holds no
    more intermediates than hand-written NumPy would.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> from graphdiff.compile import Plan, run_steps
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> plan = Plan(g, [gd.sum(x * 2.0)])
    >>> [out] = run_steps(plan, plan.fill({plan.inputs[0][0]: np.ones(2)}))
    >>> len(plan.steps), float(out)
    (2, 4.0)
    """

    # (node, slot) for the nodes whose slots a rescheduled plan gave to stand-ins.
    replaced: list[tuple[Node, int]] = []

    def __init__(self, graph: Graph, fetches: list[Node]):
        gc_was_on = gc.isenabled()
        gc.disable()  # building millions of step tuples would trigger full collections
        try:
            self._build(graph, fetches)
        finally:
            if gc_was_on:
                gc.enable()

    def _build(self, graph: Graph, fetches: list[Node]) -> None:
        for f in fetches:
            if not isinstance(f, Node):
                raise TypeError(f"cannot fetch {f!r}: fetches must be graph Nodes")
            if f.graph is not graph:
                raise GraphdiffError(f"{describe_full(f)} belongs to another graph")
        self.graph = graph
        needed: dict[int, Node] = {}
        stack = list(fetches)
        for f in fetches:
            needed[id(f)] = f
        while stack:
            for i in stack.pop().inputs:
                if id(i) not in needed:
                    needed[id(i)] = i
                    stack.append(i)
        order = sorted(needed.values(), key=lambda n: n.index)
        slot = {id(n): k for k, n in enumerate(order)}
        self.size = len(order)
        self.template: list[Any] = [None] * len(order)
        self.params: list[tuple[int, Node]] = []
        self.inputs: list[tuple[int, Node]] = []
        self.constants: list[tuple[int, Node]] = []
        op_nodes = []
        for k, n in enumerate(order):
            if n.kind == "constant":
                self.constants.append((k, n))
            elif n.kind == "parameter":
                self.params.append((k, n))
            elif n.kind == "input":
                self.inputs.append((k, n))
            else:
                op_nodes.append(n)
        self.reload_constants()
        self.fetch_slots = [slot[id(f)] for f in fetches]
        self.keep = keep = set(self.fetch_slots)
        ins = [(slot[id(n.inputs[0])],) if len(n.inputs) == 1
               else tuple(slot[id(i)] for i in n.inputs) for n in op_nodes]
        # A value's last use is where a backward scan first meets it: free it there.
        # (No per-slot table of last uses: a 1,000,000-op schedule stays small.)
        seen = set(keep)
        frees: list[tuple[int, ...]] = [()] * len(op_nodes)
        for k in range(len(op_nodes) - 1, -1, -1):
            used = ins[k]
            if len(used) == 1:
                if used[0] not in seen:
                    seen.add(used[0])
                    frees[k] = used  # the same one-slot tuple: nothing new to store
                continue
            dying = tuple(dict.fromkeys(s for s in used if s not in seen))
            if dying:
                seen.update(dying)
                frees[k] = dying
        del seen
        self.nodes = op_nodes
        self.order = order
        self.steps = [(_kernel(n.op), ins[k], slot[id(n)], frees[k])
                      for k, n in enumerate(op_nodes)]
        self.leaf_slots = {slot[id(n)] for n in order if n.op is None}
        self.copy_slots = self.leaf_slots | {slot[id(f)] for f in fetches if _may_alias_leaf(f)}
        self._slot = slot if len(op_nodes) <= SLOT_TABLE_STEPS else None

    def rescheduled(self, order: list[Node], nodes: list[Node], steps: list[tuple]) -> Plan:
        """A copy of this plan running other steps (``(kernel, ins, out)`` triples, over
        ``order``'s slots) for the same fetches: how fusion swaps in its fused steps.

        ``order`` may replace the node of a slot by a stand-in and append slots; the frees
        are worked out again and the leaves, fetches and constants stay shared.
        """
        new = copy.copy(self)
        new.order, new.nodes, new.size = order, nodes, len(order)
        new.template = self.template + [None] * (len(order) - len(self.template))
        seen = set(self.keep)
        frees: list[tuple[int, ...]] = [()] * len(steps)
        for k in range(len(steps) - 1, -1, -1):
            dying = tuple(dict.fromkeys(s for s in steps[k][1] if s not in seen))
            if dying:
                seen.update(dying)
                frees[k] = dying
        new.steps = [(fn, ins, out, frees[k]) for k, (fn, ins, out) in enumerate(steps)]
        # The nodes whose slots stand-ins took keep them: other steps still read them.
        new.replaced = [(n, k) for k, n in enumerate(self.order) if order[k] is not n]
        new._slot = new._slot_table() if len(nodes) <= SLOT_TABLE_STEPS else None
        return new

    def _slot_table(self) -> dict[int, int]:
        table = {id(n): k for k, n in enumerate(self.order)}
        for n, k in self.replaced:
            table[id(n)] = k
        return table

    def reload_constants(self) -> None:
        """Read the constants' values again (after they were moved to another library)."""
        for k, n in self.constants:
            self.template[k] = n._value
        self._plain_constants = _plain_arrays(self.template)

    @property
    def slot(self) -> dict[int, int]:
        """id(node) -> its value slot (rebuilt on demand for very long schedules)."""
        if self._slot is None:
            return self._slot_table()
        return self._slot

    @property
    def last_use(self) -> dict[int, int]:
        """slot -> the last step that reads it."""
        last: dict[int, int] = {}
        for k, (_, ins, _, _) in enumerate(self.steps):
            for s in ins:
                last[s] = k
        return last

    def fill(self, feed_values: dict[int, Any]) -> list[Any]:
        """A fresh list of value slots with the leaves filled in (parameters read now)."""
        values = list(self.template)
        for k, p in self.params:
            values[k] = p._value
        for k, _ in self.inputs:
            values[k] = feed_values[k]
        return values

    def plain(self, values: list[Any]) -> bool:
        """True when every leaf is a NumPy array or scalar (in-place reuse applies).

        Only fed inputs and parameters change between calls: constants were checked once.
        """
        return self._plain_constants and _plain_arrays(
            [values[k] for k, _ in self.inputs] + [values[k] for k, _ in self.params])

    def place_leaves(self, values: list[Any]) -> bool:
        """Move the graph's NumPy parameters and constants into the library of the fed
        arrays when that library refuses NumPy operands (CuPy); True when leaves moved.

        They move once and stay there: later calls find them in place, and updates such
        as ``W.value -= lr * dW`` with device gradients keep working on the device.
        """
        backend = None
        for k, _ in self.inputs:
            b = backends.backend_of(values[k])
            if b is not backends.NUMPY:
                if backend is not None and b is not backend:
                    return False   # arrays of two libraries: nothing sensible to move to
                backend = b
        if backend is None or backend.mixes_with_numpy or not self._holds_numpy(values):
            return False
        with _move_lock:
            if self._holds_numpy(self.fill({k: None for k, _ in self.inputs})):
                backends.move_leaves(self.graph, backend.asarray)
        self.reload_constants()
        return True

    def _holds_numpy(self, values: list[Any]) -> bool:
        leaves = [values[k] for k, _ in self.params] + [values[k] for k, _ in self.constants]
        return any(isinstance(v, (np.ndarray, np.generic)) for v in leaves)

    def owned_all(self, results: list[Any]) -> list[Any]:
        """The fetched values as the caller's own arrays (see ``owned``)."""
        out = [self.owned(v, s) for v, s in zip(results, self.fetch_slots)]
        if len(out) > 1 and len({id(v) for v in out}) < len(out):
            seen: set[int] = set()
            for k, v in enumerate(out):  # a node fetched twice: two arrays, not one
                if id(v) in seen and hasattr(v, "shape"):
                    out[k] = backends.backend_of(v).owned_copy(v)
                seen.add(id(v))
        return out

    def owned(self, value: Any, slot: int) -> Any:
        """Results belong to the caller: 0-d arrays for scalars, never a live parameter array
        (nor a view of one), on every backend."""
        if isinstance(value, np.ndarray):
            if slot in self.copy_slots or not value.flags.writeable:
                return np.array(value)
            return value
        if isinstance(value, (np.generic, int, float, complex, bool)):
            return np.asarray(value)
        if slot in self.copy_slots and hasattr(value, "shape"):
            return backends.backend_of(value).owned_copy(value)
        return value


# Beyond this many steps the id -> slot table is rebuilt when asked instead of kept.
SLOT_TABLE_STEPS = 50_000


def run_steps(plan: Plan, values: list[Any], check: Check | None = None) -> list[Any]:
    """Run ``plan``'s steps over ``values`` (leaves filled in); return the fetched values.

    ``check(node, args, result)`` (anomaly mode) sees every result and returns an
    exception to raise there, or None. A failure inside an op is raised as
    :class:`GraphdiffError` naming the node and where it was built (see ``located``).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> from graphdiff.compile import Plan, run_steps
    >>> g = gd.Graph(); W = g.parameter(np.ones(3), name="W")
    >>> plan = Plan(g, [gd.sum(W)])
    >>> [float(v) for v in run_steps(plan, plan.fill({}))]
    [3.0]
    """
    nodes = plan.nodes
    quiet = np.errstate(all="ignore") if check is not None else contextlib.nullcontext()
    with quiet:
        if check is not None:
            # Leaves first: an infinite parameter or constant is blamed itself, not the
            # first op that reads it.
            for s, n in enumerate(plan.order):     # slots are positions in plan.order
                if n.op is None:
                    problem = check(n, [], values[s])
                    if problem is not None:
                        raise problem
        for k, (fn, ins, out, free) in enumerate(plan.steps):
            args = [values[i] for i in ins]
            try:
                result = fn(*args)
            except Exception as exc:
                raise located(plan, k, exc) from exc
            if check is not None:
                problem = check(nodes[k], args, result)
                if problem is not None:
                    raise problem
            values[out] = result
            for i in free:
                values[i] = None
    return [values[s] for s in plan.fetch_slots]


def located(plan: Plan, step: int, exc: Exception) -> Exception:
    """``exc`` (raised by step ``step``) re-raised naming the node and its creation site;
    graphdiff's own errors keep their class."""
    node = plan.nodes[step]
    cls = type(exc) if isinstance(exc, GraphdiffError) else GraphdiffError
    return cls(f"{node.op.label()} failed while computing {describe_full(node)}: "
               f"{type(exc).__name__}: {exc}")


def _may_alias_leaf(node: Node) -> bool:
    """True when node's value may share memory with a parameter, constant or fed input:
    it is reached from one through views or custom ops only."""
    stack, seen = [node], set()
    while stack:
        n = stack.pop()
        if n.op is None:
            return True
        if n.op.fresh_output() or id(n) in seen:
            continue
        seen.add(id(n))
        stack.extend(n.inputs)
    return False


def _kernel(op: Any) -> Any:
    kernel = getattr(op, "kernel", None)
    return kernel if kernel is not None else op.forward


def _plain_arrays(values: list[Any]) -> bool:
    """In-place reuse is only for NumPy arrays (other libraries may not honour out=)."""
    return all(v is None or type(v) is np.ndarray or isinstance(v, (int, float, np.generic))
               for v in values)
