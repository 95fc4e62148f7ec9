"""The fast path: a plan as one generated straight-line Python function.

Straight-line code with locals costs a fraction of an interpreted loop per step (no list
indexing, no argument-list building), and ``del`` frees each value after its last use.
With in-place reuse, an elementwise op writes into the buffer of an input that dies at
that step (``reuse.reusable_inputs``). A failure inside the generated code is located
through a table from generated line to step.
"""

from __future__ import annotations

from typing import Any, Callable

from .plan import Plan, located
from .reuse import reusable_inputs

GENERATED = "<graphdiff schedule>"

# Python's compiler slows down on very long functions: beyond this many steps a
# schedule runs in the interpreted loop instead.
CODEGEN_STEPS = 50_000


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
        self.function, self.line_step = _generate(plan, inplace, into or {})

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
            if tb.tb_frame.f_code.co_filename == GENERATED:
                return self.line_step.get(tb.tb_lineno)
            tb = tb.tb_next
        return None


def _generate(plan: Plan, inplace: bool, into: dict[int, int]) -> tuple[Callable, dict[int, int]]:
    reusable = reusable_inputs(plan) if inplace else {}
    lines = ["def schedule(V):"]
    namespace: dict[str, Any] = {}
    used_leaves = sorted({i for _, ins, _, _ in plan.steps for i in ins} & plan.leaf_slots
                         | (set(plan.fetch_slots) & plan.leaf_slots))
    for s in used_leaves:
        lines.append(f"    v{s} = V[{s}]")
    line_step: dict[int, int] = {}
    for k, (fn, ins, out, free) in enumerate(plan.steps):
        args = ", ".join(f"v{i}" for i in ins)
        target = reusable.get(k)
        if k in into:
            # An update written straight into its parameter's array (updates.inplace_targets).
            namespace[f"k{k}"] = plan.nodes[k].op.out_kernel
            call = f"k{k}({args}, out=V[{into[k]}])"
        elif target is not None:
            namespace[f"k{k}"] = plan.nodes[k].op.out_kernel
            call = f"k{k}({args}, out=v{target})"
        else:
            namespace[f"k{k}"] = fn
            call = f"k{k}({args})"
        lines.append(f"    v{out} = {call}")
        line_step[len(lines)] = k
        if free:
            lines.append("    del " + ", ".join(f"v{i}" for i in free))
    lines.append("    return [" + ", ".join(f"v{s}" for s in plan.fetch_slots) + "]")
    exec(compile("\n".join(lines), GENERATED, "exec"), namespace)
    return namespace["schedule"], line_step
