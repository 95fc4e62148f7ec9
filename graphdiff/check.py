"""check_grad and check_jvp: symbolic derivatives against central finite differences."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .backprop import grad
from .errors import GradError
from .forward import jvp
from .graph import Node, ancestors, describe, describe_full


def check_grad(z: Node, targets: Node | Sequence[Node], feed: dict | None = None,
               eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-8) -> float:
    """Compare grad(z, targets) with central differences; return the worst scaled error.

    An entry fails where ``|a - n| > atol + rtol * |n|``. Targets are fed inputs or
    parameters (their values are restored afterwards).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> gd.check_grad(gd.sum(gd.sin(x)), x, feed={x: np.ones(3)}) < 1e-6
    True
    """
    if not isinstance(z, Node):
        raise TypeError(f"check_grad: z must be a graph Node (a one-element loss), got "
                        f"{type(z).__name__} {z!r:.60}")
    if isinstance(targets, Node):
        targets = [targets]
    elif isinstance(targets, (str, bytes)) or not hasattr(targets, "__iter__"):
        raise TypeError(f"check_grad: targets must be a graph Node or a sequence of Nodes "
                        f"(inputs or parameters), got {type(targets).__name__} {targets!r:.60}")
    targets = list(targets)
    for t in targets:
        if not isinstance(t, Node):
            raise TypeError(f"check_grad: each target must be a graph Node (an input or a "
                            f"parameter), got {type(t).__name__} {t!r:.60}")
    if feed is not None and not isinstance(feed, Mapping):
        raise TypeError(f"check_grad: feed must be a dict from input Nodes to arrays, got "
                        f"{type(feed).__name__}")
    feed = dict(feed or {})
    for t in targets:
        if t.kind == "input" and t not in feed:
            raise GradError(f"check_grad: target {describe(t)} is an input but is not in feed")
        if t.kind not in ("input", "parameter"):
            raise GradError(f"check_grad: target {describe(t)} must be an input or a parameter")
    for t in targets:
        if t.kind == "input":
            feed[t] = np.array(feed[t], dtype=t.dtype if t.dtype is not None else None)
    _fixed_values(z, "check_grad")
    graph = z.graph
    symbolic = graph.run(grad(z, targets), feed=feed)
    worst = 0.0
    for t, analytic in zip(targets, symbolic):
        numeric = _numeric(graph, z, t, feed, eps)
        analytic = np.broadcast_to(np.asarray(analytic, dtype=np.float64), numeric.shape)
        diff = np.abs(analytic - numeric)
        bound = atol + rtol * np.abs(numeric)
        scaled = diff / np.maximum(np.abs(numeric), atol / rtol)
        if scaled.size:
            worst = max(worst, float(scaled.max()))
        if np.any(~(diff <= bound)):
            flat = int(np.argmax(np.where(np.isnan(diff), np.inf, diff - bound)))
            where = np.unravel_index(flat, numeric.shape)
            raise GradError(
                f"check_grad: the gradient of target {describe(t)} is wrong at entry "
                f"{tuple(int(i) for i in where)}: symbolic {analytic[where]!r}, numeric "
                f"{numeric[where]!r} (|diff| {diff[where]:.3g} > atol + rtol*|n| "
                f"{bound[where]:.3g})")
    return worst


def _numeric(graph, z, t, feed, eps):
    if t.kind == "parameter" and not t.value.flags.c_contiguous:
        t.value = np.ascontiguousarray(t.value)  # perturb through a flat view below
    value = feed[t] if t.kind == "input" else t.value
    original = value.copy()
    out = np.zeros(value.shape, dtype=np.float64)
    flat = value.reshape(-1)
    fn = graph.function([n for n in feed], z) if feed else None
    args = list(feed.values())

    def f() -> float:
        result = fn(*args) if fn is not None else graph.run(z)
        if np.size(result) != 1:
            raise GradError(f"check_grad needs a one-element z, got shape {np.shape(result)}")
        return float(np.asarray(result).reshape(()))

    try:
        for k in range(flat.size):
            base = flat[k]
            flat[k] = base + eps
            up = f()
            flat[k] = base - eps
            down = f()
            flat[k] = base
            out.reshape(-1)[k] = (up - down) / (2 * eps)
    finally:
        value[...] = original
    return out


def check_jvp(y: Node, inputs: Node | Sequence[Node], feed: dict | None = None,
              tangents: Sequence | None = None, eps: float = 1e-6, rtol: float = 1e-5,
              atol: float = 1e-8, seed: int = 0) -> float:
    """Compare jvp(y, inputs, tangents) with central differences along the tangents.

    ``y`` may have any shape. Without ``tangents``, a random direction (standard normal,
    from ``seed``) is drawn for each input. Inputs are fed inputs or parameters (restored
    afterwards). An entry fails where ``|a - n| > atol + rtol * |n|``; returns the worst scaled
    error, raises GradError naming the worst entry otherwise.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> gd.check_jvp(gd.sin(x) * x, x, feed={x: np.ones(3)}) < 1e-6
    True
    """
    inputs = [inputs] if isinstance(inputs, Node) else list(inputs)
    feed = dict(feed or {})
    for t in inputs:
        if t.kind == "input" and t not in feed:
            raise GradError(f"check_jvp: input {describe(t)} is not in feed")
        if t.kind not in ("input", "parameter"):
            raise GradError(f"check_jvp: {describe(t)} must be an input or a parameter")
    for t in inputs:
        if t.kind == "input":
            feed[t] = np.array(feed[t], dtype=t.dtype if t.dtype is not None else None)
    rng = np.random.default_rng(seed)
    if tangents is None:
        tangents = [rng.standard_normal(np.shape(feed[t] if t.kind == "input" else t.value))
                    for t in inputs]
    tangents = [np.asarray(v, dtype=np.float64) for v in tangents]
    _fixed_values(y, "check_jvp")
    graph = y.graph
    analytic = np.asarray(graph.run(jvp(y, inputs, [v.copy() for v in tangents]), feed=feed),
                          dtype=np.float64)
    values = [feed[t] if t.kind == "input" else t.value for t in inputs]
    originals = [v.copy() for v in values]
    fn = graph.function(list(feed), y) if feed else None
    args = list(feed.values())

    def f() -> np.ndarray:
        out = fn(*args) if fn is not None else graph.run(y)
        return np.asarray(out, dtype=np.float64)

    try:
        for v, o, d in zip(values, originals, tangents):
            v[...] = o + eps * d
        up = f()
        for v, o, d in zip(values, originals, tangents):
            v[...] = o - eps * d
        down = f()
    finally:
        for v, o in zip(values, originals):
            v[...] = o
    numeric = (up - down) / (2 * eps)
    analytic = np.broadcast_to(analytic, numeric.shape)
    diff = np.abs(analytic - numeric)
    bound = atol + rtol * np.abs(numeric)
    scaled = diff / np.maximum(np.abs(numeric), atol / rtol)
    if np.any(~(diff <= bound)):
        flat = int(np.argmax(np.where(np.isnan(diff), np.inf, diff - bound)))
        where = np.unravel_index(flat, numeric.shape) if numeric.shape else ()
        raise GradError(
            f"check_jvp: the JVP of {describe(y)} is wrong at entry "
            f"{tuple(int(i) for i in where)}: symbolic {analytic[where]!r}, numeric "
            f"{numeric[where]!r} (|diff| {diff[where]:.3g} > atol + rtol*|n| "
            f"{bound[where]:.3g})")
    return float(scaled.max()) if scaled.size else 0.0


def _fixed_values(z: Node, what: str) -> None:
    """Central differences compare runs: a random draw (a stateful node) would differ
    between them and the check would report noise as a wrong gradient."""
    for n in ancestors([z]):
        if n.op is not None and n.op.stateful:
            raise GradError(f"{what}: {describe_full(n)} draws fresh values at every run, so "
                            "finite differences cannot compare runs; feed the draw as an "
                            "input instead (gd.dropout(..., noise=) fixes a dropout mask)")
