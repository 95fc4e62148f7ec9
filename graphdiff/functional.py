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
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    astype,
    ceil,
    clip,
    compare,
    cos,
    cosh,
    deg2rad,
    degrees,
    divide,
    equal,
    exp,
    exp2,
    expm1,
    fabs,
    floor,
    fmax,
    fmin,
    fmod,
    greater,
    greater_equal,
    hypot,
    isfinite,
    isinf,
    isnan,
    less,
    less_equal,
    log,
    log1p,
    log2,
    log10,
    logaddexp,
    logaddexp2,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    maximum,
    minimum,
    mod,
    multiply,
    nan_to_num,
    negative,
    not_equal,
    power,
    rad2deg,
    radians,
    reciprocal,
    relu,
    remainder,
    rint,
    sigmoid,
    sign,
    sin,
    sinc,
    sinh,
    softplus,
    sqrt,
    square,
    stop_gradient,
    subtract,
    tan,
    tanh,
    trunc,
    where,
)
from .ops.index import index
from .ops.linalg import matmul
from .ops.nn import log_softmax, softmax  # noqa: F401

# Random nodes and run-time shapes (importing the module attaches g.random_uniform/normal).
from .ops.random import dropout, shape_of, uniform_like  # noqa: F401
from .ops.reduce import (  # noqa: F401
    all,
    any,
    argmax,
    argmin,
    cumprod,
    cumsum,
    logsumexp,
    max,
    mean,
    min,
    prod,
    std,
    sum,
    var,
)
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
from .ops.sort import argsort, sort  # noqa: F401

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



# ---------------------------------------------------------------- the NumPy surface
def _boolean(what: str, *operands: Any) -> None:
    """``& | ^ ~`` are logical on boolean Nodes; integer bitwise ops are not supported."""
    for v in operands:
        dtype = getattr(v, "dtype", None)
        if isinstance(v, bool) or dtype is None:
            continue
        if dtype.kind != "b":
            raise TypeError(f"the operator {what} needs boolean operands (comparisons, "
                            f"gd.isnan, ...), got dtype {dtype}; bitwise operations on "
                            "integers are not supported")


def _logic(fn: Any, symbol: str) -> tuple[Any, Any]:
    def forward(self: Node, other: Any) -> Node:
        _boolean(symbol, self, other)
        return fn(self, other)

    def reflected(self: Node, other: Any) -> Node:
        _boolean(symbol, self, other)
        return fn(other, self)

    return forward, reflected


def _invert(self: Node) -> Node:
    _boolean("~", self)
    return logical_not(self)


def _bool(self: Node) -> bool:
    raise TypeError(f"the truth value of a graph Node is unknown until the graph runs "
                    f"(<Node {self.name or self.op}>); use gd.where(cond, a, b) to choose "
                    "between values, or run the graph and test the array")


# NumPy ufuncs that are Python operators: `array + node` must build the node the Node's
# reflected operator builds. (NumPy calls the ufunc, not Node.__radd__, once a Node defines
# __array_ufunc__, so the ufunc is answered here with the same function.)
_OPERATOR_UFUNCS = {
    "add": add, "subtract": subtract, "multiply": multiply, "divide": divide,
    "power": power, "matmul": matmul, "remainder": mod,
    "less": lambda a, b: compare("less", a, b),
    "less_equal": lambda a, b: compare("less_equal", a, b),
    "greater": lambda a, b: compare("greater", a, b),
    "greater_equal": lambda a, b: compare("greater_equal", a, b),
}


def _suggest(name: str) -> str:
    if name in globals() and not name.startswith("_"):
        return f"call gd.{name}(...) instead, which builds a graph node"
    return f"graphdiff has no gd.{name}; compose it from graphdiff's functions"


def _array_ufunc(self: Node, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
    name = ufunc.__name__
    if method == "__call__" and not kwargs and len(inputs) == 2 and inputs[1] is self:
        if name in _OPERATOR_UFUNCS and not isinstance(inputs[0], Node):
            return _OPERATOR_UFUNCS[name](inputs[0], self)
        if name in ("equal", "not_equal"):
            # `array == node` is Python's identity test, as `node == node` is (gd.equal
            # builds the elementwise comparison): an array is never the node.
            return name == "not_equal"
        if name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
            fn = {"bitwise_and": logical_and, "bitwise_or": logical_or,
                  "bitwise_xor": logical_xor}[name]
            _boolean(name, inputs[0], self)
            return fn(inputs[0], self)
    if method != "__call__":  # add.reduce, multiply.accumulate, ...
        raise TypeError(f"NumPy's {name}.{method} cannot take a graph Node: use graphdiff's "
                        "reductions (gd.sum, gd.prod, gd.cumsum, gd.cumprod, gd.max, ...)")
    raise TypeError(f"NumPy's {name} cannot take a graph Node: {_suggest(name)}")


def _array_function(self: Node, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
    raise TypeError(f"NumPy's {func.__name__} cannot take a graph Node: "
                    f"{_suggest(func.__name__)}")


Node.__and__, Node.__rand__ = _logic(logical_and, "&")
Node.__or__, Node.__ror__ = _logic(logical_or, "|")
Node.__xor__, Node.__rxor__ = _logic(logical_xor, "^")
Node.__invert__ = _invert
Node.__bool__ = _bool
Node.__mod__, Node.__rmod__ = mod, _rev(mod)
Node.__array_ufunc__ = _array_ufunc
Node.__array_function__ = _array_function
Node.astype = astype
