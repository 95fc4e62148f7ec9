"""Anomaly mode: stop at the first node, in execution order, whose value is not finite."""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Iterator

import numpy as np

from .errors import AnomalyError
from .graph import describe, describe_full

_ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("graphdiff_anomaly",
                                                                default=False)


def enabled() -> bool:
    return _ENABLED.get()


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Within this block every run checks each value and stops at the first non-finite one.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(1,))
    >>> with gd.detect_anomaly():
    ...     g.run(gd.log(x), feed={x: np.array([-1.0])})
    Traceback (most recent call last):
    ...
    graphdiff.errors.AnomalyError: non-finite value produced by Log ...
    """
    token = _ENABLED.set(True)
    try:
        yield
    finally:
        _ENABLED.reset(token)


def _finite(value: Any) -> bool:
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        value = np.asarray(value)
        dtype = value.dtype
    return dtype.kind not in "fc" or bool(np.all(np.isfinite(value)))


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
    for k, n in plan.inputs + plan.params:
        if not _finite(values[k]):
            err = AnomalyError(f"{n.kind} {describe_full(n)} holds non-finite values "
                               f"({_range(values[k])})")
            err._graphdiff_located = True
            raise err
    for k, (fn, ins, out, free) in enumerate(plan.steps):
        args = [values[i] for i in ins]
        with np.errstate(all="ignore"):
            result = fn(*args)
        if not _finite(result):
            node = plan.nodes[k]
            inputs = "; ".join(f"{describe(i)}: {_range(a)}" for i, a in zip(node.inputs, args))
            err = AnomalyError(f"non-finite value produced by {node.op.label()} at "
                               f"{describe_full(node)}; inputs: {inputs}")
            err._graphdiff_located = True
            raise err
        values[out] = result
        for i in free:
            values[i] = None
