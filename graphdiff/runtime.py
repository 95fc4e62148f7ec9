"""Running graphs: a schedule of the needed nodes in creation order, feeds checked,
each intermediate released after its last use. No gradient logic lives here."""

from __future__ import annotations

import gc
import threading
from typing import Any

import numpy as np

from .anomaly import enabled as anomaly_enabled
from .errors import FeedError, GraphdiffError
from .graph import Graph, Node, describe, describe_full
from .shapes import same_shape

_PLAN_CACHE_SIZE = 256
_CODEGEN_STEPS = 50_000
_INPLACE_MIN_SIZE = 1024


def _flatten(fetches: Any) -> tuple[list[Node], Any]:
    """The fetched nodes in order, and a function that rebuilds the caller's structure."""
    if isinstance(fetches, Node):
        return [fetches], lambda vals: vals[0]
    if isinstance(fetches, dict):
        keys = list(fetches)
        return [fetches[k] for k in keys], lambda vals: dict(zip(keys, vals))
    if isinstance(fetches, (list, tuple)):
        kind = type(fetches)
        nodes = list(fetches)
        return nodes, (lambda vals: list(vals)) if kind is list else (lambda vals: tuple(vals))
    raise TypeError(f"fetches must be a Node or a list, tuple or dict of Nodes, got "
                    f"{type(fetches).__name__}")


def check_feed(node: Node, value: Any) -> Any:
    """The fed value cast to the input's dtype; FeedError if its shape or kind conflicts."""
    if node.kind != "input":
        raise FeedError(f"{describe_full(node)} is a {node.kind}, not an input; "
                        "only inputs are fed")
    arr = value
    if not (hasattr(arr, "shape") and hasattr(arr, "dtype")):
        try:
            arr = np.asarray(value)
        except Exception as exc:
            raise FeedError(f"the value fed to input {describe(node)} is not an array: {exc}") \
                from exc
    dtype = arr.dtype
    if getattr(dtype, "kind", "O") not in "biufc":
        raise FeedError(f"input {describe(node)} was fed a non-numeric array of dtype {dtype}")
    if node.dtype is not None and dtype != node.dtype:
        if not np.can_cast(dtype, node.dtype, "same_kind"):
            raise FeedError(f"input {describe(node)} is declared {node.dtype} but was fed "
                            f"{dtype}, which cannot be cast safely (same_kind)")
        arr = arr.astype(node.dtype)
    if node.shape is not None:
        shape = tuple(arr.shape)
        # s != s: a NaN size, which Dask reports for chunks of unknown length
        if len(shape) != len(node.shape) or any(
                d is not None and d != s and s == s for d, s in zip(node.shape, shape)):
            declared = "(" + ", ".join("None" if d is None else str(d) for d in node.shape) + ")"
            raise FeedError(f"input {describe(node)} expects shape {declared} but was fed an "
                            f"array of shape {shape}")
    return arr


class Plan:
    """A flat schedule computing ``fetches``: slots for values, steps over slots.

    Step k computes node ``nodes[k]`` from slots ``ins`` into slot ``out`` and then drops
    the slots in ``free`` (values whose last use it was), so a training step holds no
    more intermediates than hand-written NumPy would.
    """

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
        op_nodes = []
        for k, n in enumerate(order):
            if n.kind == "constant":
                self.template[k] = n._value
            elif n.kind == "parameter":
                self.params.append((k, n))
            elif n.kind == "input":
                self.inputs.append((k, n))
            else:
                op_nodes.append(n)
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
        self._slot = slot if len(op_nodes) <= _CODEGEN_STEPS else None
        self._compiled: dict[bool, Any] = {}
        self._plain_constants = _plain_arrays(self.template)

    @property
    def slot(self) -> dict[int, int]:
        """id(node) -> its value slot (rebuilt on demand for very long schedules)."""
        if self._slot is None:
            return {id(n): k for k, n in enumerate(self.order)}
        return self._slot

    @property
    def last_use(self) -> dict[int, int]:
        """slot -> the last step that reads it."""
        last: dict[int, int] = {}
        for k, (_, ins, _, _) in enumerate(self.steps):
            for s in ins:
                last[s] = k
        return last

    def execute(self, values: list[Any], check_finite: bool = False,
                compiled: bool = False) -> list[Any]:
        """Run the steps over ``values`` (leaves filled in); return the fetched values."""
        step = None
        try:
            if check_finite:
                from .anomaly import checked_steps

                checked_steps(self, values)
            elif compiled:
                return self._owned_all(self.compiled(self._plain(values))(values))
            else:
                for step in self.steps:
                    fn, ins, out, free = step
                    values[out] = fn(*[values[i] for i in ins])
                    for i in free:
                        values[i] = None
        except Exception as exc:
            k = self._failed_step(exc, step)
            if k is None or getattr(exc, "_graphdiff_located", False):
                raise
            cls = type(exc) if isinstance(exc, GraphdiffError) else GraphdiffError
            raise self._located(exc, k, cls) from exc
        return self._owned_all([values[s] for s in self.fetch_slots])

    def _failed_step(self, exc: Exception, step: Any) -> int | None:
        if step is not None:
            return next(k for k, s in enumerate(self.steps) if s is step)
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == _GENERATED:
                return self._line_step.get(tb.tb_lineno)
            tb = tb.tb_next
        return None

    def _located(self, exc: Exception, k: int, cls: type) -> Exception:
        node = self.nodes[k]
        err = cls(f"{node.op.label()} failed while computing {describe_full(node)}: "
                  f"{type(exc).__name__}: {exc}")
        err._graphdiff_located = True
        return err

    def _owned_all(self, results: list[Any]) -> list[Any]:
        out = [self._owned(v, s) for v, s in zip(results, self.fetch_slots)]
        if len(out) > 1 and len({id(v) for v in out}) < len(out):
            seen: set[int] = set()
            for k, v in enumerate(out):  # a node fetched twice: two arrays, not one
                if id(v) in seen and isinstance(v, np.ndarray):
                    out[k] = v.copy()
                seen.add(id(v))
        return out

    def _owned(self, value: Any, slot: int) -> Any:
        """Results belong to the caller: 0-d arrays for scalars, never a live parameter array
        (nor a view of one)."""
        if isinstance(value, np.ndarray):
            if slot in self.copy_slots or not value.flags.writeable:
                return np.array(value)
            return value
        if isinstance(value, (np.generic, int, float, complex, bool)):
            return np.asarray(value)
        return value

    def _plain(self, values: list[Any]) -> bool:
        """Only fed inputs and parameters change between calls: constants were checked once."""
        return self._plain_constants and _plain_arrays(
            [values[k] for k, _ in self.inputs] + [values[k] for k, _ in self.params])

    def fill(self, feed_values: dict[int, Any]) -> list[Any]:
        values = list(self.template)
        for k, p in self.params:
            values[k] = p._value
        for k, _ in self.inputs:
            values[k] = feed_values[k]
        return values

    # ------------------------------------------------------------------ code generation
    def compiled(self, inplace: bool):
        """The schedule as one generated Python function of local variables.

        Straight-line code with locals costs a fraction of an interpreted loop per step
        (no list indexing, no argument-list building), and ``del`` frees each value after
        its last use. With ``inplace``, an elementwise op writes into the buffer of an
        input that dies at that step, when nothing else can see that buffer.
        """
        fn = self._compiled.get(inplace)
        if fn is None:
            fn = self._compiled[inplace] = self._generate(inplace)
        return fn

    def _generate(self, inplace: bool):
        reusable = self._reusable_inputs() if inplace else {}
        lines = ["def schedule(V):"]
        namespace: dict[str, Any] = {}
        used_leaves = sorted({i for _, ins, _, _ in self.steps for i in ins} & self.leaf_slots
                             | (set(self.fetch_slots) & self.leaf_slots))
        for s in used_leaves:
            lines.append(f"    v{s} = V[{s}]")
        self._line_step = {}
        for k, (fn, ins, out, free) in enumerate(self.steps):
            args = ", ".join(f"v{i}" for i in ins)
            target = reusable.get(k)
            if target is not None:
                namespace[f"k{k}"] = self.nodes[k].op.out_kernel
                call = f"k{k}({args}, out=v{target})"
            else:
                namespace[f"k{k}"] = fn
                call = f"k{k}({args})"
            lines.append(f"    v{out} = {call}")
            self._line_step[len(lines)] = k
            if free:
                lines.append("    del " + ", ".join(f"v{i}" for i in free))
        lines.append("    return [" + ", ".join(f"v{s}" for s in self.fetch_slots) + "]")
        exec(compile("\n".join(lines), _GENERATED, "exec"), namespace)
        return namespace["schedule"]

    def _reusable_inputs(self) -> dict[int, int]:
        """step -> input slot whose buffer that step may overwrite with its result."""
        slot = self.slot
        owner: dict[int, int] = {}      # slot -> slot owning the memory it may share
        sealed: set[int] = set(self.leaf_slots) | self.keep
        for n in self.nodes:
            s = slot[id(n)]
            view_of = n.op.view_of
            if n.op.fresh_output():
                owner[s] = s
            elif not n.inputs:
                owner[s] = s
                sealed.add(s)
            elif view_of is not None and 0 <= view_of < len(n.inputs):
                # A declared view of one input: it shares that input's owner.
                i = slot[id(n.inputs[view_of])]
                owner[s] = owner.get(i, i)
            else:
                # An undeclared op: it may share memory with any of its inputs.
                roots = {owner.get(slot[id(i)], slot[id(i)]) for i in n.inputs}
                owner[s] = min(roots)
                sealed.update(roots)
                sealed.add(s)
        group_end: dict[int, int] = {}
        last_use = self.last_use
        for s, step in last_use.items():
            root = owner.get(s, s)
            group_end[root] = max(group_end.get(root, -1), step)
        for s in self.keep:
            sealed.add(owner.get(s, s))
        reuse: dict[int, int] = {}
        for k, n in enumerate(self.nodes):
            if n.op.out_kernel is None or n.shape is None or len(n.shape) == 0:
                continue
            if None not in n.shape and int(np.prod(n.shape)) < _INPLACE_MIN_SIZE:
                continue  # on small arrays out= costs more than the allocation it saves
            in_slots = [slot[id(i)] for i in n.inputs]
            for pos, i in enumerate(n.inputs):
                s = slot[id(i)]
                if in_slots.count(s) != 1 or (len(in_slots) > 2 and any(
                        owner.get(o, o) == s for o in in_slots if o != s)):
                    continue  # an n-ary kernel would read a term it already overwrote
                if (owner.get(s) == s and s not in sealed and group_end.get(s) == k
                        and i.dtype is not None and i.dtype == n.dtype
                        and same_shape(i, n, n.inputs[:pos] + n.inputs[pos + 1:])):
                    reuse[k] = s
                    break
        return reuse


_GENERATED = "<graphdiff schedule>"


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


_cache_lock = threading.Lock()


def plan_for(graph: Graph, nodes: list[Node]) -> Plan:
    key = tuple(id(n) for n in nodes)
    plan = graph._plans.get(key)
    if plan is None:
        plan = Plan(graph, nodes)
        with _cache_lock:
            if len(graph._plans) >= _PLAN_CACHE_SIZE:
                graph._plans.clear()
            graph._plans[key] = plan
    return plan


def run(graph: Graph, fetches: Any, feed: dict, check_finite: bool = False) -> Any:
    nodes, rebuild = _flatten(fetches)
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
    return rebuild(plan.execute(plan.fill(fed), check_finite or anomaly_enabled()))


class Function:
    """A graph compiled once for fixed inputs and outputs: ``f(*arrays) -> outputs``.

    Each call only fills the leaves and runs the flat schedule, so it is safe to call
    from several threads at once (every call has its own value slots).
    """

    def __init__(self, graph: Graph, inputs: list[Node], outputs: Any, check_finite: bool = False):
        for n in inputs:
            if not isinstance(n, Node) or n.graph is not graph or n.kind != "input":
                raise FeedError(f"function inputs must be input nodes of this graph, got {n!r}")
        self.graph = graph
        self.inputs = inputs
        self.check_finite = check_finite
        nodes, self._rebuild = _flatten(outputs)
        self.plan = Plan(graph, nodes)
        # Generated code pays off for a function called many times; very long schedules
        # (beyond _CODEGEN_STEPS) run in the loop, as Python's compiler slows down on them.
        self.compiled = len(self.plan.steps) <= _CODEGEN_STEPS
        position = {id(n): k for k, n in enumerate(inputs)}
        self._feed_positions = []
        for k, n in self.plan.inputs:
            if id(n) not in position:
                raise FeedError(f"the outputs need input {describe(n)}, which is not among the "
                                "function's inputs")
            self._feed_positions.append((k, n, position[id(n)]))

    def __call__(self, *args: Any) -> Any:
        if len(args) != len(self.inputs):
            raise FeedError(f"this function takes {len(self.inputs)} inputs "
                            f"({', '.join(describe(n) for n in self.inputs)}), got {len(args)}")
        fed = {k: check_feed(n, args[p]) for k, n, p in self._feed_positions}
        plan = self.plan
        check = self.check_finite or anomaly_enabled()
        return self._rebuild(plan.execute(plan.fill(fed), check, self.compiled))
