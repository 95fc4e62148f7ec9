"""Static shape and dtype rules, with ``None`` for a dimension known only at run time."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .errors import GraphError
from .graph import Node, describe_full
from .site import creation_site, format_site


def broadcast(what: Any, *nodes: Node) -> tuple | None:
    """The broadcast shape of the nodes' static shapes; GraphError naming both if impossible."""
    if len(nodes) == 1:
        return nodes[0].shape
    shapes = [n.shape for n in nodes]
    if None in shapes:
        return None
    if len(shapes) == 2:  # the common cases, without the general loop
        a, b = shapes
        if a == b or not b:
            return a
        if not a:
            return b
    ndim = max(len(s) for s in shapes)
    out = []
    for axis in range(-ndim, 0):
        dim: Any = 1
        for s in shapes:
            d = s[axis] if -axis <= len(s) else 1
            if d == 1:
                continue
            if dim == 1:
                dim = d
            elif d is None or dim is None:
                # One side may still be 1 at run time: the result is the known size if any.
                dim = dim if d is None else d
            elif d != dim:
                a, b = (getattr(n, "node", n) for n in _pair(nodes, axis))
                what = what.label() if hasattr(what, "label") else what
                raise GraphError(f"{what}: shapes {a.shape} and {b.shape} cannot broadcast "
                                 f"({describe_full(a)} and {describe_full(b)})")
        out.append(dim)
    return tuple(out)


def _pair(nodes: Sequence[Node], axis: int) -> tuple[Node, Node]:
    sized = [n for n in nodes if -axis <= len(n.shape) and n.shape[axis] not in (1, None)]
    return sized[0], sized[-1]


def same_as_output(node: Node, others: Sequence[Node], out_shape: tuple | None) -> bool:
    """True when ``node`` surely has the output's run-time shape, so its gradient needs
    no reduction: equal known dims, or an unknown dim that no other operand can widen."""
    if node.shape is None or out_shape is None or len(node.shape) != len(out_shape):
        return False
    for axis, (d, o) in enumerate(zip(node.shape, out_shape)):
        if d is not None and d == o:
            continue
        if d is None and o is None:
            k = axis - len(out_shape)
            for other in others:
                if other.shape is None:
                    return False
                if -k <= len(other.shape) and other.shape[k] != 1:
                    return False
            continue
        return False
    return True


def covers(x: Node, other: Node) -> bool:
    """True when broadcasting ``other`` against ``x`` surely leaves x's run-time shape as is."""
    if other.shape_rep is x.shape_rep or other.shape == ():
        return True
    if x.shape is None or other.shape is None or len(other.shape) > len(x.shape):
        return False
    return all(o == 1 or (o is not None and o == d)
               for o, d in zip(other.shape[::-1], x.shape[::-1]))


def same_shape(x: Node, out: Node, others: Sequence[Node]) -> bool:
    """x surely has the run-time shape of ``out``, an elementwise result of x and others."""
    return x.shape_rep is out.shape_rep or same_as_output(x, others, out.shape)


def result_dtype(*nodes: Node) -> np.dtype | None:
    """NumPy 2 promotion, with Python-scalar constants weak (they never widen float32)."""
    if len(nodes) == 1 and not nodes[0].weak:
        return nodes[0].dtype
    if len(nodes) == 2:
        a, b = nodes
        if a.dtype is not None and not a.weak:
            if not b.weak and a.dtype == b.dtype:
                return a.dtype
            if b.weak and a.dtype.kind in "fc" and type(b.value) in (float, int):
                return a.dtype  # NumPy 2: a Python scalar never widens a float array
    args = []
    for n in nodes:
        if n.weak:
            args.append(n.value)
        elif n.dtype is None:
            return None
        else:
            args.append(n.dtype)
    return np.result_type(*args)


def float_dtype(dtype: np.dtype | None) -> np.dtype | None:
    """The dtype of a mean-like function of ``dtype``: integers and bools give float64, as
    ``np.mean`` (and softmax, which NumPy users compute through a mean-like float64 path)."""
    if dtype is None or dtype.kind in "fc":
        return dtype
    return np.dtype(np.float64)


def ufunc_float_dtype(dtype: np.dtype | None) -> np.dtype | None:
    """The dtype a float ufunc (``np.exp``, ``np.log``) returns for ``dtype``: the smallest
    float that holds every value, so int8, uint8 and bool give float16, int16 float32.

    Examples
    --------
    >>> import numpy as np
    >>> from graphdiff.shapes import ufunc_float_dtype
    >>> ufunc_float_dtype(np.dtype("int8")), ufunc_float_dtype(np.dtype("int64"))
    (dtype('float16'), dtype('float64'))
    """
    if dtype is None or dtype.kind in "fc":
        return dtype
    return np.result_type(dtype, np.float16)


def sum_dtype(dtype: np.dtype | None) -> np.dtype | None:
    """The dtype ``np.sum`` returns for ``dtype``: bools and small integers widen to the
    platform integer (uint8 to the platform unsigned integer), floats stay.

    Examples
    --------
    >>> import numpy as np
    >>> from graphdiff.shapes import sum_dtype
    >>> sum_dtype(np.dtype("int8")), sum_dtype(np.dtype("float32"))
    (dtype('int64'), dtype('float32'))
    """
    if dtype is None or dtype.kind not in "biu":
        return dtype
    return np.sum(np.zeros(1, dtype)).dtype


def is_float(node: Node) -> bool:
    """Only float (and complex) values carry gradients; integer and bool paths are cut."""
    return node.dtype is None or node.dtype.kind in "fc"


def normalize_axes(axis: Any, ndim: int | None, what: str) -> tuple[int, ...] | None:
    """Non-negative sorted axes; ``None`` means all axes (and stays None when ndim is unknown)."""
    if axis is None:
        return None if ndim is None else tuple(range(ndim))
    if isinstance(axis, (bool, np.bool_)):
        raise TypeError(f"{what}: axis must be an integer or a tuple of integers, got {axis!r} at "
                        f"{format_site(creation_site())}")
    if isinstance(axis, (int, np.integer)):
        axes: tuple = (axis,)
    else:
        try:
            axes = tuple(axis)
        except TypeError:
            raise TypeError(f"{what}: axis must be an integer or a tuple of integers, got "
                            f"{type(axis).__name__} {axis!r} at "
                            f"{format_site(creation_site())}") from None
    for a in axes:
        # 1.7 or True would silently reduce axis 1 (int(1.7), True == 1): refuse them.
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{what}: axis must be an integer or a tuple of integers, got "
                            f"{axis!r} at {format_site(creation_site())}")
    if ndim is None:
        if any(a < 0 for a in axes):
            raise GraphError(f"{what}: negative axes need an input of known rank")
        return tuple(sorted(int(a) for a in axes))
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise GraphError(f"{what}: axis {a} is out of range for an input of rank {ndim}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise GraphError(f"{what}: repeated axis in {axis}")
    return tuple(sorted(out))


def reduced_shape(shape: tuple | None, axes: tuple | None, keepdims: bool) -> tuple | None:
    if shape is None:
        return None
    if axes is None:
        axes = tuple(range(len(shape)))
    if keepdims:
        return tuple(1 if k in axes else d for k, d in enumerate(shape))
    return tuple(d for k, d in enumerate(shape) if k not in axes)


def known(shape: tuple | None) -> bool:
    return shape is not None and all(d is not None for d in shape)
