"""Anomaly mode: stop at the first node, in execution order, whose value is not finite."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import GraphdiffError
from .graph import describe, describe_full


class AnomalyError(GraphdiffError):
    """A node produced NaN or infinity while anomaly checking was on."""


def _range(value: Any) -> str:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except Exception:
        return type(value).__name__
    if arr.size == 0:
        return "empty"
    finite = arr[np.isfinite(arr)]
    bad = arr.size - finite.size
    low, high = (finite.min(), finite.max()) if finite.size else (np.nan, np.nan)
    return f"shape {arr.shape}, finite range [{low:.4g}, {high:.4g}], {bad} non-finite"


def checked_steps(plan, values: list) -> None:
    """Run plan's steps, checking every float result; raise AnomalyError at the first bad one."""
    for k, (fn, ins, out, free) in enumerate(plan.steps):
        args = [values[i] for i in ins]
        result = fn(*args)
        arr = np.asarray(result) if not hasattr(result, "dtype") else result
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            node = plan.nodes[k]
            inputs = "; ".join(f"{describe(i)}: {_range(a)}" for i, a in zip(node.inputs, args))
            err = AnomalyError(f"non-finite value produced by {node.op.label()} at "
                               f"{describe_full(node)}; inputs: {inputs}")
            err._graphdiff_located = True
            raise err
        values[out] = result
        for i in free:
            values[i] = None
