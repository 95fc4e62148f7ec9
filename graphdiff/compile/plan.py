"""Plan: a flat schedule of the nodes needed for some fetches, and the one interpreted
loop that runs it (``run_steps``), with the anomaly check inside it when one is asked."""

from __future__ import annotations

import contextlib
import copy
import gc
import heapq
import itertools
import operator
import threading
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from .. import backends
from ..errors import GraphdiffError
from ..graph import Graph, Node, describe_full

_INDEX = operator.attrgetter("index")

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
        # Marks and slots indexed by creation index, not dicts keyed by id(node): a
        # 1,000,000-node graph needs a 1 MB bytearray and one list instead of two dicts
        # of a hundred bytes per entry, and no sort (creation order is topological).
        nodes = graph.nodes
        size = len(nodes)
        mark = bytearray(size)
        extra: dict[int, Node] = {}     # stand-ins outside graph.nodes (compiled rewrites)
        stack = []
        for f in fetches:
            if f.index < size and nodes[f.index] is f:
                if not mark[f.index]:
                    mark[f.index] = 1
                    stack.append(f)
            elif id(f) not in extra:
                extra[id(f)] = f
                stack.append(f)
        while stack:
            for i in stack.pop().inputs:
                j = i.index
                if j < size and nodes[j] is i:
                    if not mark[j]:
                        mark[j] = 1
                        stack.append(i)
                elif id(i) not in extra:
                    extra[id(i)] = i
                    stack.append(i)
        order: list[Node] = list(itertools.compress(nodes, mark))
        del mark
        slot_of: list[int] = [-1] * size
        slot: Callable[[Node], int]
        standins = bool(extra)
        if not standins:
            for k, n in enumerate(order):
                i = n.index
                # Where a slot equals the creation index (a plan of a whole graph), steps
                # share the node's int object instead of a new one: 28 bytes per slot.
                slot_of[i] = i if i == k else k
            slot = lambda n: slot_of[n.index]  # noqa: E731
        else:
            # A stand-in has the index of the node it stands for and depends on nodes of
            # lower indices or on originals, never the reverse: after the originals of
            # its index is a topological place for it.
            order = list(heapq.merge(order, sorted(extra.values(), key=_INDEX), key=_INDEX))
            extra_slot: dict[int, int] = {}
            for k, n in enumerate(order):
                i = n.index
                if i < size and nodes[i] is n:
                    slot_of[i] = k
                else:
                    extra_slot[id(n)] = k

            def slot(n: Node) -> int:
                i = n.index
                return slot_of[i] if i < size and nodes[i] is n else extra_slot[id(n)]
        del extra
        self.size = len(order)
        self.template: list[Any] = [None] * len(order)
        self.params: list[tuple[int, Node]] = []
        self.inputs: list[tuple[int, Node]] = []
        self.constants: list[tuple[int, Node]] = []
        op_nodes = []
        for k, n in enumerate(order):
            if n.op is not None:
                op_nodes.append(n)
            elif n.kind == "constant":
                self.constants.append((k, n))
            elif n.kind == "parameter":
                self.params.append((k, n))
            else:
                self.inputs.append((k, n))
        self.reload_constants()
        self.fetch_slots = [slot(f) for f in fetches]
        self.keep = keep = set(self.fetch_slots)
        if standins:
            ins = [(slot(n.inputs[0]),) if len(n.inputs) == 1
                   else tuple([slot(i) for i in n.inputs]) for n in op_nodes]
        else:  # the same, inline: no call per input
            ins = [(slot_of[n.inputs[0].index],) if len(n.inputs) == 1
                   else tuple([slot_of[i.index] for i in n.inputs]) for n in op_nodes]
        # A value's last use is where a backward scan first meets it: free it there.
        # (No per-slot table of last uses: a 1,000,000-op schedule stays small.)
        seen = bytearray(len(order))
        for s in keep:
            seen[s] = 1
        frees: list[tuple[int, ...]] = [()] * len(op_nodes)
        for k in range(len(op_nodes) - 1, -1, -1):
            used = ins[k]
            if len(used) == 1:
                if not seen[used[0]]:
                    seen[used[0]] = 1
                    frees[k] = used  # the same one-slot tuple: nothing new to store
                continue
            if len(used) == 2:
                a, b = used
                dies_a, dies_b = not seen[a], not seen[b] and b != a
                if dies_a and dies_b:
                    seen[a] = seen[b] = 1
                    frees[k] = used  # both die: the input tuple is the free tuple
                elif dies_a or dies_b:
                    c = a if dies_a else b
                    seen[c] = 1
                    frees[k] = (c,)
                continue
            dying = tuple(dict.fromkeys(s for s in used if not seen[s]))
            if dying:
                for s in dying:
                    seen[s] = 1
                frees[k] = dying
        del seen
        self.nodes = op_nodes
        self.order = order
        # One kernel object per op: a bound method per step would cost 64 bytes each.
        kernels: dict[int, Any] = {}
        fns = []
        for n in op_nodes:
            fn = kernels.get(id(n.op))
            if fn is None:
                fn = kernels[id(n.op)] = _kernel(n.op)
            fns.append(fn)
        outs = ([slot(n) for n in op_nodes] if standins
                else [slot_of[n.index] for n in op_nodes])
        self.steps = Steps(fns, ins, outs, frees)
        del kernels, fns, ins, outs, frees
        self.leaf_slots = {k for k, n in itertools.chain(self.params, self.inputs,
                                                         self.constants)}
        self.copy_slots = self.leaf_slots | {slot(f) for f in fetches
                                             if _may_alias_leaf(f)}
        self._slot: dict[int, int] | None = None

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
            self.template[k] = n.stored
        self._plain_constants = _plain_arrays(self.template)

    @property
    def slot(self) -> dict[int, int]:
        """id(node) -> its value slot (rebuilt on demand for very long schedules)."""
        table = self._slot
        if table is None:
            table = self._slot_table()
            if len(self.steps) <= SLOT_TABLE_STEPS:
                self._slot = table
        return table

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
            values[k] = p.stored
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


class Steps(Sequence):
    """The steps of a plan, ``(kernel, input slots, output slot, freed slots)`` each.

    Kept as four parallel lists, not a list of 4-tuples: 32 bytes per step instead of 80
    (a 1,000,000-op chain has 1,750,000 steps); iterating zips them back.

    Examples
    --------
    >>> import numpy as np
    >>> from graphdiff.compile.plan import Steps
    >>> steps = Steps([np.sin], [(0,)], [1], [()])
    >>> len(steps), steps[0][1:], [out for _, _, out, _ in steps]
    (1, ((0,), 1, ()), [1])
    """

    __slots__ = ("kernels", "ins", "outs", "frees")

    def __init__(self, kernels: list, ins: list, outs: list, frees: list):
        self.kernels, self.ins, self.outs, self.frees = kernels, ins, outs, frees

    def __len__(self) -> int:
        return len(self.kernels)

    def __getitem__(self, k):  # type: ignore[override]
        if isinstance(k, slice):
            return list(zip(self.kernels[k], self.ins[k], self.outs[k], self.frees[k]))
        return self.kernels[k], self.ins[k], self.outs[k], self.frees[k]

    def __iter__(self):
        return zip(self.kernels, self.ins, self.outs, self.frees)


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
    if check is None:
        return _run_plain(plan, values)
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


def _run_plain(plan: Plan, values: list[Any]) -> list[Any]:
    """run_steps without a check: one- and two-input steps without an argument list
    (the first calls of every compiled function run here, see ``codegen.Tiered``)."""
    k = 0
    try:
        for fn, ins, out, free in plan.steps:
            if len(ins) == 2:
                values[out] = fn(values[ins[0]], values[ins[1]])
            elif len(ins) == 1:
                values[out] = fn(values[ins[0]])
            else:
                values[out] = fn(*[values[i] for i in ins])
            for i in free:
                values[i] = None
            k += 1
    except Exception as exc:
        raise located(plan, k, exc) from exc
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
