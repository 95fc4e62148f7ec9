"""Cost report: floating-point operations and bytes per node, and the peak of live
memory under a compiled schedule, with the forward and gradient parts apart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .compile import Function, Plan, flatten, reusable_inputs
from .graph import Node, describe
from .op import size_of


class _Abstract:
    """A stand-in node carrying a concrete shape, for re-running shape inference."""

    op = None
    grad_of = None
    site = None
    kind = "abstract"

    def __init__(self, node: Node, shape: Any):
        self.shape = shape
        self.dtype = node.dtype
        self.weak = node.weak
        self.value = node.stored
        self.name = node.name
        self.index = node.index
        self.shape_rep = self


@dataclass
class NodeCost:
    node: Node
    part: str             # "forward" or "gradient"
    shape: tuple | None   # concrete shape, None where it could not be resolved
    flops: int
    bytes: int            # size of the value
    allocated: int        # bytes newly allocated by the step (0 for views and in-place)


def _flops(node: Node, ins: list, out: tuple | None) -> int:
    """What the op declares one evaluation costs (0 where a shape is unresolved)."""
    if out is None or any(s is None for s in ins):
        return 0
    return int(node.op.flops(ins, out))


@dataclass
class CostReport:
    """Per-node costs plus totals; ``str(report)`` is a readable table.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(4,))
    >>> report = gd.cost([gd.sum(x * x), gd.grad(gd.sum(x * x), x)])
    >>> report.forward_flops, report.gradient_flops > 0
    (8, True)
    """

    rows: list[NodeCost]
    peak_bytes: int

    def flops(self, part: str | None = None, op: str | None = None) -> int:
        """Total FLOPs, optionally of one part ("forward"/"gradient") and one op type name."""
        return sum(r.flops for r in self.rows if (part is None or r.part == part)
                   and (op is None or type(r.node.op).__name__ == op))

    @property
    def forward_flops(self) -> int:
        return self.flops("forward")

    @property
    def gradient_flops(self) -> int:
        return self.flops("gradient")

    @property
    def cheap_gradient_ratio(self) -> float:
        """Gradient FLOPs over forward FLOPs (the book's 'cheap gradient' is about 2)."""
        return self.gradient_flops / max(self.forward_flops, 1)

    def __str__(self) -> str:
        lines = [f"{'node':<44} {'part':<8} {'shape':<16} {'flops':>12} {'bytes':>12}"]
        for r in sorted(self.rows, key=lambda r: -r.flops)[:25]:
            label = f"{describe(r.node)}"[:44]
            lines.append(f"{label:<44} {r.part:<8} {str(r.shape):<16} {r.flops:>12,} "
                         f"{r.bytes:>12,}")
        lines.append(f"forward {self.forward_flops:,} FLOPs, gradient {self.gradient_flops:,} "
                     f"FLOPs (ratio {self.cheap_gradient_ratio:.2f}); peak live memory "
                     f"{self.peak_bytes:,} bytes")
        return "\n".join(lines)


def cost(nodes_or_function: Any, feed_shapes: dict | None = None) -> CostReport:
    """Estimate FLOPs and bytes per node and the peak live memory of the compiled schedule.

    ``feed_shapes`` gives concrete shapes for inputs declared with unknown (None) sizes.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(None, 4))
    >>> W = g.parameter(np.ones((4, 3)), name="W")
    >>> report = gd.cost(gd.sum(x @ W), feed_shapes={x: (8, 4)})
    >>> report.flops(op="MatMul")
    192
    """
    feed_shapes = dict(feed_shapes or {})
    if isinstance(nodes_or_function, Function):
        plan = nodes_or_function.plan
    else:
        nodes, _ = flatten(nodes_or_function)
        plan = Plan(nodes[0].graph, nodes)
    shapes: dict[int, Any] = {}
    resident = 0
    for n in plan.order:
        if n.op is not None:
            continue
        if n in feed_shapes:
            shape = tuple(feed_shapes[n])
        elif n.kind in ("parameter", "constant"):
            shape = tuple(np.shape(n.value))
        else:
            shape = n.shape if n.shape is not None and None not in n.shape else None
        shapes[id(n)] = shape
        resident += size_of(shape) * (n.dtype.itemsize if n.dtype is not None else 8)
    reuse = reusable_inputs(plan)
    slots = plan.slot
    allocated_by_slot: dict[int, int] = {}
    rows = []
    live = peak = resident
    for k, n in enumerate(plan.nodes):
        ins = [shapes.get(id(i)) for i in n.inputs]
        out = None
        if all(s is not None for s in ins):
            try:
                out, _ = n.op.infer(*(_Abstract(i, s) for i, s in zip(n.inputs, ins)))
            except Exception:
                out = None
            if out is not None and None in out:
                out = None
        shapes[id(n)] = out
        itemsize = n.dtype.itemsize if n.dtype is not None else 8
        nbytes = size_of(out) * itemsize
        fresh = n.op.fresh_output() and k not in reuse
        allocated = nbytes if fresh else 0
        slot = slots[id(n)]
        allocated_by_slot[slot] = allocated
        if k in reuse:
            allocated_by_slot[slot] = allocated_by_slot.pop(reuse[k], 0)
        live += allocated
        peak = max(peak, live)
        for s in plan.steps[k][3]:
            live -= allocated_by_slot.pop(s, 0)
        part = "forward" if n.grad_of is None else "gradient"
        rows.append(NodeCost(n, part, out, _flops(n, ins, out), nbytes, allocated))
    return CostReport(rows, peak)
