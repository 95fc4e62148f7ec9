"""Anomaly mode: stop at the first node, in execution order, whose value is not finite.

The mode is process-wide: while any ``with detect_anomaly():`` block is open, every run
in every thread checks its values (worker threads started inside the block, thread
pools, data loaders). A counter under a lock lets blocks nest and overlap across threads;
the mode ends when the last open block exits. The runtime's step loop calls
:func:`check` on every leaf and every result.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

import numpy as np

from .errors import AnomalyError
from .graph import Node, describe, describe_full

_lock = threading.Lock()
_open_blocks = 0


def enabled() -> bool:
    """True while a ``detect_anomaly()`` block is open in any thread.

    Examples
    --------
    >>> import graphdiff as gd
    >>> from graphdiff.anomaly import enabled
    >>> with gd.detect_anomaly():
    ...     enabled()
    True
    """
    return _open_blocks > 0


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Within this block every run checks each value and stops at the first non-finite one.

    The block reaches every thread of the process while it is open (runs in worker
    threads are checked too).

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
    global _open_blocks
    with _lock:
        _open_blocks += 1
    try:
        yield
    finally:
        with _lock:
            _open_blocks -= 1


def check(node: Node, args: list, value: Any) -> AnomalyError | None:
    """The error to raise when ``value``, computed for ``node`` from ``args``, is not
    finite (None when it is). Leaves (``args == []``) are blamed themselves.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> from graphdiff.anomaly import check
    >>> g = gd.Graph(); W = g.parameter(np.array([np.inf]), name="W")
    >>> print(check(W, [], W.value))  # doctest: +ELLIPSIS
    parameter 'W' (built at ...) holds non-finite values (shape (1,), ...)
    """
    if _finite(value):
        return None
    if node.op is None:
        return AnomalyError(f"{node.kind} {describe_full(node)} holds non-finite values "
                            f"({_range(value)})")
    inputs = "; ".join(f"{describe(i)}: {_range(a)}" for i, a in zip(node.inputs, args))
    return AnomalyError(f"non-finite value produced by {node.op.label()} at "
                        f"{describe_full(node)}; inputs: {inputs}")


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
