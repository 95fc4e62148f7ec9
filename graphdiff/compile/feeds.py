"""What goes into a run and comes out of it: fed values checked against their inputs, and
the caller's fetch structure flattened to a list of nodes and rebuilt around the results."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import FeedError
from ..graph import Node, describe, describe_full


def flatten(fetches: Any) -> tuple[list[Node], Callable[[list], Any]]:
    """The fetched nodes in order, and a function that rebuilds the caller's structure.

    Examples
    --------
    >>> import graphdiff as gd
    >>> from graphdiff.compile import flatten
    >>> g = gd.Graph(); x = g.input("x")
    >>> nodes, rebuild = flatten({"a": x})
    >>> nodes == [x], rebuild([1.0])
    (True, {'a': 1.0})
    """
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
    """The fed value cast to the input's dtype; FeedError if its shape or kind conflicts.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> from graphdiff.compile import check_feed
    >>> g = gd.Graph(); x = g.input("x", shape=(2,), dtype="float32")
    >>> check_feed(x, [1, 2]).dtype
    dtype('float32')
    """
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
