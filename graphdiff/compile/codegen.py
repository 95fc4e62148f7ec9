"""The fast path: a plan as generated straight-line Python, compiled in chunks, and the
tiering that decides when generating it pays.

Straight-line code with locals costs a fraction of an interpreted loop per step (no list
indexing, no argument-list building), and ``del`` frees each value after its last use.
With in-place reuse, an elementwise op writes into the buffer of an input that dies at
that step (``reuse.reusable_inputs``). A failure inside the generated code is located
through a table from generated line to step.

Python's compiler costs about 10 us per step on chunks of a thousand steps and grows
faster than linearly beyond (24 us per step on one 17,500-step function), while an
interpreted step costs about 1.3 us. So a schedule is generated as chunks of
``CHUNK_STEPS`` steps (values living across chunks pass through the slot list), the
compiled chunks are cached by their source (a graph rebuilt with the same structure
compiles nothing), and :class:`Tiered` runs the interpreted loop until the time spent
interpreting has paid for generating the code (the ski-rental rule: never more than
twice the cost of the better choice made in hindsight).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from .plan import Plan, located, run_steps
from .reuse import reusable_inputs

GENERATED = "<graphdiff schedule>"

# Steps per generated function: where Python's compiler is still linear (see above).
CHUNK_STEPS = 1000

# What generating and compiling costs per step (source text, reuse analysis, compile),
# measured on chains of (10,) arrays; the tiering weighs it against interpreted calls.
CODEGEN_S_PER_STEP = 15e-6

# Kept for callers of the former limit; every schedule is now generated in chunks.
CODEGEN_STEPS = None

# Compiled chunks by source text, least recently used first out, bounded in characters.
CODE_CACHE_CHARS = 16_000_000
_code_cache: OrderedDict[str, Any] = OrderedDict()
_code_cache_chars = 0
_code_lock = threading.Lock()


class Schedule:
    """A generated function ``schedule(values) -> fetched values`` and its line table.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> from graphdiff.compile import Plan, Schedule
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> plan = Plan(g, [x * 3.0])
    >>> Schedule(plan, inplace=False)(plan.fill({plan.inputs[0][0]: np.ones(2)}))
    [array([3., 3.])]
    """

    def __init__(self, plan: Plan, inplace: bool, into: dict[int, int] | None = None):
        self.plan = plan
        self.function, self._line_steps = _generate(plan, inplace, into or {})

    def __call__(self, values: list[Any]) -> list[Any]:
        try:
            return self.function(values)
        except Exception as exc:
            k = self.failed_step(exc)
            if k is None:
                raise
            raise located(self.plan, k, exc) from exc

    def failed_step(self, exc: Exception) -> int | None:
        """The step whose generated line raised ``exc`` (None: not inside the schedule)."""
        tb = exc.__traceback__
        while tb is not None:
            # The outermost generated frame is this schedule's (a custom op may run
            # another graph's schedule below it).
            code = tb.tb_frame.f_code
            if code.co_filename == GENERATED:
                table = self._line_steps.get(id(code))
                return None if table is None else table[1].get(tb.tb_lineno)
            tb = tb.tb_next
        return None


class Tiered:
    """Runs a plan interpreted until generating its code has paid off, then generated.

    The first calls of a long schedule cost one interpreted pass each instead of Python's
    compiler on the whole schedule; once the interpreted calls have taken as long as
    generating would (``CODEGEN_S_PER_STEP`` per step), the code is generated (one kind
    with in-place reuse for plain NumPy values, one without, one writing updates into
    their parameters' arrays) and used from then on. A call returns the fetched values
    and whether generated code ran (only generated code writes into ``into``).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> from graphdiff.compile import Plan, Tiered
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> plan = Plan(g, [x * 3.0]); run = Tiered(plan)
    >>> [run(plan.fill({plan.inputs[0][0]: np.ones(2)}), True)[0][0] for _ in range(2)]
    [array([3., 3.]), array([3., 3.])]
    """

    def __init__(self, plan: Plan):
        self.plan = plan
        self.budget_s = len(plan.steps) * CODEGEN_S_PER_STEP
        self.interpreted_s = 0.0
        self.schedules: dict[bool | str, Schedule] = {}

    def schedule(self, inplace: bool, into: dict[int, int] | None = None) -> Schedule:
        """The generated code of the plan (with in-place reuse or without; with ``into``,
        in place and writing those steps into the given slots' arrays)."""
        key = "into" if into else inplace
        schedule = self.schedules.get(key)
        if schedule is None:
            # Two threads may both generate it the first time: the same code, either wins.
            schedule = self.schedules[key] = Schedule(self.plan, inplace or bool(into), into)
        return schedule

    def __call__(self, values: list[Any], plain: bool,
                 into: dict[int, int] | None = None) -> tuple[list[Any], bool]:
        schedule = self.schedules.get("into" if into else plain)
        if schedule is None:
            if self.interpreted_s < self.budget_s:
                start = time.perf_counter()
                results = run_steps(self.plan, values)
                # Unsynchronised on purpose: a lost update between threads only delays
                # the switch to generated code.
                self.interpreted_s += time.perf_counter() - start
                return results, False
            schedule = self.schedule(plain, into)
        return schedule(values), True


def scalar_arrays(plan: Plan) -> dict[tuple[int, int], np.ndarray]:
    """(step, input position) -> a read-only 0-d array standing for a Python scalar constant.

    A ufunc converts a Python scalar operand on every call (0.15-0.4 us, as long as the
    operation on a small array); a 0-d array of the step's dtype costs nothing to read
    and gives the same result: NumPy casts a weak scalar to the other operand's dtype.
    Only for two-operand ufuncs computing in a float or complex dtype that all their
    other operands have, with a ``dtype, dtype -> dtype`` loop, and values that stay
    finite in that dtype.

    Examples
    --------
    >>> import graphdiff as gd
    >>> from graphdiff.compile import Plan, scalar_arrays
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> scalar_arrays(Plan(g, [x * 2.0]))
    {(0, 1): array(2.)}
    """
    found: dict[tuple[int, int], np.ndarray] = {}
    arrays: dict[tuple, np.ndarray] = {}
    for k, (fn, _, _, _) in enumerate(plan.steps):
        if type(fn) is not np.ufunc or fn.nin != 2 or fn.nout != 1:
            continue
        node = plan.nodes[k]
        dtype = node.dtype
        if dtype is None or dtype.kind not in "fc" or len(node.inputs) != 2:
            continue
        weak = [p for p, i in enumerate(node.inputs) if i.weak and i.kind == "constant"]
        if len(weak) != 1 or node.inputs[1 - weak[0]].dtype != dtype:
            continue
        value = node.inputs[weak[0]].stored
        if type(value) not in (int, float, complex) or (
                type(value) is complex and dtype.kind != "c"):
            continue
        if dtype.char * 2 + "->" + dtype.char not in fn.types:
            continue
        key = (type(value), value, dtype)
        arr = arrays.get(key)
        if arr is None:
            with np.errstate(all="ignore"):
                arr = np.array(value, dtype=dtype)
            if np.isfinite(value) and not np.isfinite(arr):
                continue
            arr.flags.writeable = False
            arrays[key] = arr
        found[(k, weak[0])] = arr
    return found


def _guarded(out_kernel: Callable, fn: Callable) -> Callable:
    """``out_kernel`` writing into ``out`` only where NumPy can do it without a lossy cast.

    Reuse is planned from static dtypes; if one is wrong (a custom op's ``infer``), the
    result would be silently cast into the reused buffer (float64 into float32 is
    "same_kind"). ``casting="safe"`` refuses that before anything is written, and the
    step then computes a fresh result, exactly as ``g.run`` does. Built-in ops, whose
    static dtypes are tested against NumPy's (tests/test_dtypes.py), skip the wrapper.
    """
    def kernel(*args: Any, out: Any) -> Any:
        try:
            return out_kernel(*args, out=out, casting="safe")
        except TypeError:
            return fn(*args)
    return kernel


def _compiled(source: str) -> Any:
    """The code object of ``source``, from the cache when the same source was compiled."""
    global _code_cache_chars
    with _code_lock:
        code = _code_cache.get(source)
        if code is not None:
            _code_cache.move_to_end(source)
            return code
    code = compile(source, GENERATED, "exec")
    with _code_lock:
        if source not in _code_cache:
            _code_cache[source] = code
            _code_cache_chars += len(source)
        while len(_code_cache) > 1 and _code_cache_chars > CODE_CACHE_CHARS:
            old, _ = _code_cache.popitem(last=False)
            _code_cache_chars -= len(old)
    return code


def _generate(plan: Plan, inplace: bool,
              into: dict[int, int]) -> tuple[Callable, dict[int, tuple]]:
    """The schedule function and, per chunk's code object, (code, {line: step}).

    ``into`` (step -> slot of a parameter): updates written straight into the
    parameter's array (``updates.inplace_targets``)."""
    reusable = reusable_inputs(plan) if inplace else {}
    scalars = scalar_arrays(plan) if inplace else {}
    steps = plan.steps
    n = len(steps)
    fetch = plan.fetch_slots
    # Slots read by a later chunk or fetched: stored back into the slot list at the end
    # of the chunk that computes them. A backward scan finds each slot's last reader.
    bounds = list(range(0, n, CHUNK_STEPS)) or [0]
    last_chunk: dict[int, int] = {}
    if len(bounds) > 1:
        for k in range(n - 1, -1, -1):
            for s in steps[k][1]:
                if s not in last_chunk:
                    last_chunk[s] = k // CHUNK_STEPS
    chunks: list[Callable] = []
    line_steps: dict[int, tuple] = {}
    for c, start in enumerate(bounds):
        last = c == len(bounds) - 1
        stop = min(start + CHUNK_STEPS, n)
        namespace: dict[str, Any] = {}
        lines = ["def chunk(V):"]
        local: set[int] = set()
        defined: set[int] = set()
        table: dict[int, int] = {}
        for k in range(start, stop):
            fn, ins, out, free = steps[k]
            for s in ins:
                if s not in local:
                    lines.append(f"    v{s} = V[{s}]")
                    local.add(s)
            args = []
            for p, s in enumerate(ins):
                arr = scalars.get((k, p))
                if arr is None:
                    args.append(f"v{s}")
                else:
                    namespace[f"c{k}_{p}"] = arr
                    args.append(f"c{k}_{p}")
            target = reusable.get(k)
            if k in into:
                namespace[f"k{k}"] = plan.nodes[k].op.out_kernel
                call = f"k{k}({', '.join(args)}, out=V[{into[k]}])"
            elif target is not None:
                op = plan.nodes[k].op
                namespace[f"k{k}"] = (op.out_kernel if getattr(op, "builtin", False)
                                     else _guarded(op.out_kernel, fn))
                call = f"k{k}({', '.join(args)}, out=v{target})"
            else:
                namespace[f"k{k}"] = fn
                call = f"k{k}({', '.join(args)})"
            lines.append(f"    v{out} = {call}")
            table[len(lines)] = k
            local.add(out)
            defined.add(out)
            if free:
                lines.append("    del " + ", ".join(f"v{i}" for i in free))
                local.difference_update(free)
                # A value that reached this chunk through the slot list dies there too.
                crossed = [i for i in free if i not in defined]
                if crossed and start:
                    lines.append("    " + " = ".join(f"V[{i}]" for i in crossed) + " = None")
        if last:
            lines.append("    return [" + ", ".join(
                f"v{s}" if s in local else f"V[{s}]" for s in fetch) + "]")
        else:
            keep = set(fetch)
            stores = sorted(s for s in local & defined if last_chunk.get(s, -1) > c or s in keep)
            for s in stores:
                lines.append(f"    V[{s}] = v{s}")
        code = _compiled("\n".join(lines))
        exec(code, namespace)
        chunk = namespace["chunk"]
        chunks.append(chunk)
        line_steps[id(chunk.__code__)] = (chunk.__code__, table)
    if len(chunks) == 1:
        return chunks[0], line_steps
    *first, final = chunks

    def schedule(V: list[Any]) -> list[Any]:
        for chunk in first:
            chunk(V)
        return final(V)

    return schedule, line_steps
