"""Sorting: ``gd.sort`` (differentiable through its permutation) and ``gd.argsort``.

sort(x) = take_along_axis(x, argsort(x)): the values are a permutation of x, so the
gradient is the cotangent permuted back (a scatter through the same indices); the
indices themselves carry no gradient. At ties the gradient follows argsort's choice
(NumPy's order for the ``kind`` and ``stable`` given).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import GraphError
from ..graph import Node, describe_full
from ..op import LinearOp, Op, as_int, make_node, wrap
from ..shapes import normalize_axes
from ..site import creation_site, format_site
from .elementwise import reject_complex
from .shape import reshape

ArrayLike = Any


class Argsort(Op):
    """The indices that sort x along ``axis``: integers, no gradient."""

    __props__ = ("axis", "kind", "stable")
    differentiable = False

    def __init__(self, axis, kind=None, stable=None):
        self.axis, self.kind, self.stable = axis, kind, stable

    def forward(self, x):
        return np.argsort(x, axis=self.axis, kind=self.kind, stable=self.stable)

    def infer(self, x):
        return x.shape, np.dtype(np.intp)

    def flops(self, input_shapes, output_shape):
        n = int(np.prod(output_shape, dtype=np.int64)) if output_shape else 1
        m = output_shape[self.axis] if output_shape else 1
        return int(n * max(1.0, np.log2(max(m, 1))))


class Sort(Op):
    """sort(x) = take_along_axis(x, argsort(x)); d = the cotangent put back through the
    permutation. The value is np.sort's (faster than gathering); argsort runs only in the
    rules, with the same kind and stable, so at ties the gradient follows its order."""

    __props__ = ("axis", "kind", "stable")

    def __init__(self, axis, kind=None, stable=None):
        self.axis, self.kind, self.stable = axis, kind, stable

    def forward(self, x):
        return np.sort(x, axis=self.axis, kind=self.kind, stable=self.stable)

    def infer(self, x):
        return x.shape, x.dtype

    def same_shape_as(self, x):
        return x

    flops = Argsort.flops

    def order(self, x: Node) -> Node:
        return make_node(Argsort(self.axis, self.kind, self.stable), x)

    def vjp(self, i, inputs, output, grad):
        return make_node(Unpermute(self.axis), grad, self.order(inputs[0]))

    def jvp(self, inputs, tangents, output):
        t = tangents[0]
        return None if t is None else make_node(Permute(self.axis), t, self.order(inputs[0]))


class Permute(LinearOp):
    """y = take_along_axis(x, idx, axis) for a permutation idx along axis; its adjoint
    puts each entry back where it came from (``Unpermute``)."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x, idx):
        return np.take_along_axis(x, idx, axis=self.axis)

    def infer(self, x, idx):
        return x.shape, x.dtype

    def same_shape_as(self, x, idx):
        return x

    def transpose(self, ct, inputs, output):
        return make_node(Unpermute(self.axis), ct, inputs[1])


class Unpermute(LinearOp):
    """y with y[idx] = g along axis (idx a permutation, so nothing overlaps); its adjoint
    is ``Permute``."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def forward(self, g, idx):
        out = np.empty_like(g)
        np.put_along_axis(out, idx, g, axis=self.axis)
        return out

    def infer(self, g, idx):
        return g.shape, g.dtype

    def same_shape_as(self, g, idx):
        return g

    def transpose(self, ct, inputs, output):
        return make_node(Permute(self.axis), ct, inputs[1])


# ---------------------------------------------------------------- user functions
def _prepare(a: ArrayLike, axis: Any, kind: Any, order: Any, stable: Any,
             what: str) -> tuple[Node, int]:
    (a,) = wrap(what, a)
    reject_complex(what, (a,))
    site = format_site(creation_site())
    if order is not None:
        raise TypeError(f"{what} at {site}: order= sorts structured arrays, which graphdiff "
                        "does not have")
    try:  # NumPy's own checks of kind and stable (a bad kind, or both given)
        np.argsort(np.zeros(1), kind=kind, stable=stable)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{what} at {site}: {exc}") from None
    if axis is None:
        return reshape(a, (-1,)), 0
    axis = as_int(axis, f"{what}: axis")
    try:
        (axis,) = normalize_axes(axis, a.ndim, what)
    except GraphError as exc:
        raise GraphError(f"{exc}: {describe_full(a)} has shape {a.shape}; called at "
                         f"{site}") from None
    return a, axis


def argsort(a: ArrayLike, axis: int | None = -1, kind: str | None = None, order: Any = None,
            *, stable: bool | None = None) -> Node:
    """The indices that sort ``a`` along ``axis`` (None: flattened), as ``np.argsort``;
    an integer result, no gradient.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> g.run(gd.argsort(x), feed={x: np.array([3.0, 1.0, 2.0])})
    array([1, 2, 0])
    """
    a, axis = _prepare(a, axis, kind, order, stable, "argsort")
    return make_node(Argsort(axis, kind, stable), a)


def sort(a: ArrayLike, axis: int | None = -1, kind: str | None = None, order: Any = None,
         *, stable: bool | None = None) -> Node:
    """``a`` sorted along ``axis`` (None: flattened), as ``np.sort``; the gradient goes
    back through the permutation (ties follow argsort's order).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> g.run(gd.sort(x), feed={x: np.array([3.0, 1.0, 2.0])})
    array([1., 2., 3.])
    """
    a, axis = _prepare(a, axis, kind, order, stable, "sort")
    return make_node(Sort(axis, kind, stable), a)
