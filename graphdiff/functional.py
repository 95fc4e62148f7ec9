"""The op functions users call, gathered in one namespace, and the Node operators.

Each primitive's user function lives next to its Op class in ``graphdiff/ops/`` (for
example ``gd.tanh`` in ``ops/elementwise.py``); this module re-exports them, holds the
derived ops composed from them, and attaches the operators ``+ - * / ** @``, comparisons,
indexing, ``.T``, ``.reshape``, ``.sum`` and ``.mean`` to ``Node``.

Names that shadow builtins (sum, max, min, abs) are NumPy's names.
"""

from __future__ import annotations

from typing import Any

from .graph import Node
from .op import add_n  # noqa: F401  (re-exported)
from .ops.elementwise import (  # noqa: F401
    abs,
    add,
    clip,
    compare,
    cos,
    divide,
    exp,
    log,
    maximum,
    minimum,
    multiply,
    negative,
    power,
    relu,
    sigmoid,
    sin,
    softplus,
    sqrt,
    square,
    stop_gradient,
    subtract,
    tanh,
    where,
)
from .ops.index import index
from .ops.linalg import matmul
from .ops.nn import log_softmax, softmax  # noqa: F401
from .ops.reduce import logsumexp, max, mean, min, sum  # noqa: F401
from .ops.shape import (  # noqa: F401
    broadcast_like,
    broadcast_to,
    concatenate,
    expand_dims,
    reshape,
    reshape_like,
    squeeze,
    stack,
    sum_to,
    swap_last,
    transpose,
    zeros_like,
)

# isort: split
# NumPy surface: contractions, shape and selection
from .ops.contract import cross, dot, einsum, inner, kron, outer, tensordot, trace  # noqa: F401
from .ops.index import gather  # noqa: F401
from .ops.shape import (  # noqa: F401
    array_split,
    diag,
    diagonal,
    flip,
    fliplr,
    flipud,
    hstack,
    moveaxis,
    pad,
    ravel,
    repeat,
    roll,
    split,
    swapaxes,
    take,
    take_along_axis,
    tile,
    tril,
    triu,
    vstack,
)


# ---------------------------------------------------------------- Node operators
def _rev(fn):
    return lambda self, other: fn(other, self)


def _node_reshape(self: Node, *shape: Any) -> Node:
    return reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)


Node.__add__, Node.__radd__ = add, _rev(add)
Node.__sub__, Node.__rsub__ = subtract, _rev(subtract)
Node.__mul__, Node.__rmul__ = multiply, _rev(multiply)
Node.__truediv__, Node.__rtruediv__ = divide, _rev(divide)
Node.__pow__, Node.__rpow__ = power, _rev(power)
Node.__matmul__, Node.__rmatmul__ = matmul, _rev(matmul)
Node.__lt__ = lambda self, other: compare("less", self, other)
Node.__le__ = lambda self, other: compare("less_equal", self, other)
Node.__gt__ = lambda self, other: compare("greater", self, other)
Node.__ge__ = lambda self, other: compare("greater_equal", self, other)
Node.__neg__ = negative
Node.__abs__ = abs
Node.__getitem__ = index
Node.T = property(lambda self: transpose(self))
Node.reshape = _node_reshape
Node.sum = sum
Node.mean = mean
