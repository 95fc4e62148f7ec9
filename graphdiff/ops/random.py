"""Random nodes and run-time shapes: ``g.random_uniform``, ``g.random_normal``,
``gd.uniform_like``, ``gd.shape_of``.

A random node draws a fresh array every time a run computes it, from its graph's
generator (``Graph.rng``, a ``numpy.random.Generator`` made from ``Graph(seed=...)``), so
one seed gives one sequence of runs, through ``g.run`` and compiled functions alike. A run
draws once per random node it computes, in creation order (the schedule's order).

The draws are ``stateful`` ops (see ``Op.stateful``): two of them are never the same
value, so rewrites never merge them as common subexpressions, fold them into constants
or compute them once for several runs. Their gradient is zero (``differentiable =
False``): the values do not depend on the shape that selects them.

Every random op takes the 1-d integer vector of the shape to draw (a constant for a
static shape, ``shape_of(x)`` or a stack of scalar size Nodes otherwise; ``uniform_like``
adds x, whose array library, CuPy or Dask, the draw is then moved to: draws are made on
the host by NumPy's generator, so one seed gives one sequence on every backend);
its ``shape`` parameter is what is known statically (``None`` for a size known only when
the graph runs). The op finds its graph's generator through that input when the node is
built (``infer``), so a graph loaded from a file draws from the loaded graph's generator.
"""

from __future__ import annotations

import weakref
from typing import Any, Sequence

import numpy as np

from .. import backends
from ..errors import GraphError
from ..graph import Graph, Node, as_node, describe, describe_full
from ..op import Op, make_node
from ..site import creation_site, format_site
from .elementwise import astype, compare, multiply, where
from .shape import stack

ArrayLike = Any

# Where each random op draws from: op -> weak reference to its graph. Kept here, not on the
# op, so an op is saved by its parameters alone (the generator is the graph's, not the op's).
_GRAPHS: weakref.WeakKeyDictionary[Op, weakref.ref] = weakref.WeakKeyDictionary()
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class ShapeOf(Op):
    """s = shape(x): the run-time shape of x as a 1-d int64 array; no gradient."""

    __props__ = ()
    differentiable = False

    def forward(self, x):
        return np.array(np.shape(x), dtype=np.int64)

    def infer(self, x):
        return ((None,) if x.shape is None else (len(x.shape),)), np.dtype(np.int64)

    def flops(self, input_shapes, output_shape):
        return 0


def shape_of(x: ArrayLike) -> Node:
    """The run-time shape of ``x``: a 1-d int64 Node; ``shape_of(x)[i]`` is a scalar Node
    usable as a shape entry (``g.random_uniform``, ``g.random_normal``).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(None, 3))
    >>> s = gd.shape_of(x)
    >>> s.shape, g.run(s[0], feed={x: np.zeros((5, 3))})
    ((2,), array(5))
    """
    if not isinstance(x, Node):
        raise TypeError(f"shape_of takes a graph Node, got {type(x).__name__} at "
                        f"{format_site(creation_site())}")
    return make_node(ShapeOf(), x)


class _Random(Op):
    """A fresh draw from the graph's generator at every run; shape from input 0."""

    differentiable = False
    stateful = True

    def __init__(self, shape: tuple | None, dtype: Any = "float64"):
        self.shape = None if shape is None else tuple(None if d is None else int(d)
                                                      for d in shape)
        self.dtype = np.dtype(dtype)

    def infer(self, size, like=None):
        if size.dtype is None or size.dtype.kind not in "iu" or (
                size.shape is not None and len(size.shape) != 1):
            raise GraphError(f"{self.label()} takes a 1-d integer shape vector, got "
                             f"{describe(size)} of shape {size.shape} and dtype {size.dtype}")
        if (self.shape is not None and size.shape is not None and size.shape[0] is not None
                and size.shape[0] != len(self.shape)):
            raise GraphError(f"{self.label()}: the shape vector has {size.shape[0]} entries "
                             f"for a shape of {len(self.shape)} dimensions")
        # The node is being built in size's graph: draw from that graph's generator.
        _GRAPHS[self] = weakref.ref(size.graph)
        return self.shape, self.dtype

    def generator(self) -> np.random.Generator:
        """The generator of the graph this op's node belongs to."""
        ref = _GRAPHS.get(self)
        graph = None if ref is None else ref()
        if graph is None:
            raise GraphError(f"{self.label()} belongs to no live graph: build it with "
                             "g.random_uniform / g.random_normal")
        return graph.rng

    def fresh_output(self) -> bool:
        return True

    def flops(self, input_shapes, output_shape):
        return 0 if output_shape is None else int(np.prod(output_shape, dtype=np.int64))


def _size(shape) -> tuple[int, ...]:
    # tolist: a shape vector moved to a device library (CuPy) is read back in one call.
    return tuple(int(s) for s in (shape.tolist() if hasattr(shape, "tolist") else shape))


def _placed(draw: np.ndarray, size: Any, like: Any) -> Any:
    """The host draw in the library of ``like`` (uniform_like's x) or of the shape vector
    (moved with the graph's constants to a library refusing NumPy operands, CuPy)."""
    ref = size if like is None else like
    if type(ref) is np.ndarray or isinstance(ref, (np.generic, int, float)):
        return draw
    return backends.asarray_like(ref, draw)


class RandomUniform(_Random):
    """u ~ U[low, high) elementwise, of the run-time shape in input 0; gradient zero."""

    __props__ = ("shape", "low", "high", "dtype")

    def __init__(self, shape: tuple | None, low: float = 0.0, high: float = 1.0,
                 dtype: Any = "float64"):
        super().__init__(shape, dtype)
        self.low, self.high = float(low), float(high)

    def forward(self, size, like=None):
        u = self.generator().random(_size(size), dtype=self.dtype)
        if self.low != 0.0 or self.high != 1.0:
            u *= self.high - self.low
            u += self.low
        return _placed(u, size, like)


class RandomNormal(_Random):
    """z ~ N(0, 1) elementwise, of the run-time shape in input 0; gradient zero."""

    __props__ = ("shape", "dtype")

    def forward(self, size, like=None):
        return _placed(self.generator().standard_normal(_size(size), dtype=self.dtype), size,
                       like)


def _float(dtype: Any, what: str) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in _FLOATS:
        raise TypeError(f"{what} draws float32 or float64, not {dtype}, at "
                        f"{format_site(creation_site())}")
    return dtype


def _shape_vector(graph: Graph, shape: Any, what: str) -> tuple[Node, tuple]:
    """The shape vector Node and the static shape of ``shape`` (ints and scalar Nodes)."""
    if isinstance(shape, (int, np.integer, Node)):
        shape = (shape,)
    try:
        entries = list(shape)
    except TypeError:
        raise TypeError(f"{what}: shape must be a sequence of sizes, got {shape!r} at "
                        f"{format_site(creation_site())}") from None
    static: list[int | None] = []
    for d in entries:
        if isinstance(d, Node):
            if d.graph is not graph:
                raise GraphError(f"{what}: the shape entry {describe_full(d)} belongs to "
                                 "another graph")
            if d.dtype is None or d.dtype.kind not in "iu" or (d.shape not in (None, ())):
                raise GraphError(f"{what}: a shape entry Node must be an integer scalar (such "
                                 f"as gd.shape_of(x)[0]), got {describe_full(d)} of shape "
                                 f"{d.shape} and dtype {d.dtype}, at "
                                 f"{format_site(creation_site())}")
            static.append(None)
        elif isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0:
            static.append(int(d))
        else:
            raise GraphError(f"{what}: shape entries must be sizes >= 0 or integer scalar "
                             f"Nodes, got {d!r} in {shape!r} at {format_site(creation_site())}")
    if None not in static:
        return graph.constant(np.array(static, dtype=np.int64)), tuple(static)
    return stack([d if isinstance(d, Node) else int(d) for d in entries]), tuple(static)


def random_uniform(graph: Graph, shape: Sequence[int | Node], low: float = 0.0,
                   high: float = 1.0, dtype: Any = "float64") -> Node:
    """What ``Graph.random_uniform`` does: see there."""
    dtype = _float(dtype, "random_uniform")
    if not (np.isfinite(low) and np.isfinite(high) and low <= high):
        raise GraphError(f"random_uniform needs finite low <= high, got low={low!r}, "
                         f"high={high!r}, at {format_site(creation_site())}")
    size, static = _shape_vector(graph, shape, "random_uniform")
    return make_node(RandomUniform(static, low, high, dtype), size)


def random_normal(graph: Graph, shape: Sequence[int | Node], dtype: Any = "float64") -> Node:
    """What ``Graph.random_normal`` does: see there."""
    dtype = _float(dtype, "random_normal")
    size, static = _shape_vector(graph, shape, "random_normal")
    return make_node(RandomNormal(static, dtype), size)


def uniform_like(x: ArrayLike, low: float = 0.0, high: float = 1.0,
                 dtype: Any = None) -> Node:
    """A fresh U[low, high) draw of ``x``'s run-time shape at every run; gradient zero.

    ``dtype`` defaults to x's float dtype (float64 for integer x), so a float32 model
    draws float32.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(seed=0); x = g.input("x", shape=(None, 2))
    >>> u = gd.uniform_like(x)
    >>> a = g.run(u, feed={x: np.zeros((3, 2))}); b = g.run(u, feed={x: np.zeros((3, 2))})
    >>> a.shape, bool(np.all((0 <= a) & (a < 1))), bool(np.any(a != b))
    ((3, 2), True, True)
    """
    if not isinstance(x, Node):
        raise TypeError(f"uniform_like takes a graph Node, got {type(x).__name__} at "
                        f"{format_site(creation_site())}")
    if dtype is None:
        dtype = x.dtype if x.dtype in _FLOATS else np.dtype(np.float64)
    dtype = _float(dtype, "uniform_like")
    if not (np.isfinite(low) and np.isfinite(high) and low <= high):
        raise GraphError(f"uniform_like needs finite low <= high, got low={low!r}, "
                         f"high={high!r}, at {format_site(creation_site())}")
    # x is a second input only to place the draw in x's array library (CuPy, Dask).
    return make_node(RandomUniform(x.shape, low, high, dtype), shape_of(x), x)


__all__ = ["ShapeOf", "RandomUniform", "RandomNormal", "shape_of", "random_uniform",
           "random_normal", "uniform_like", "dropout"]


# ---------------------------------------------------------------- dropout
def dropout(x: ArrayLike, rate: float, training: bool | Node = True,
            noise: ArrayLike | None = None) -> Node:
    """Inverted dropout: each value of ``x`` zeroed with probability ``rate``, the kept
    ones scaled by ``1 / (1 - rate)``, a fresh mask at every run (torch's
    ``F.dropout``).

    Parameters
    ----------
    x : Node
    rate : float
        The probability of zeroing a value, ``0 <= rate <= 1`` (1 zeroes everything).
    training : bool or boolean scalar Node
        False: the identity (``x`` itself, no node is added). A boolean scalar Node (a
        fed flag) chooses at run time: ``where(training, dropped, x)``; the mask is then
        drawn at every run, used or not.
    noise : array or Node, optional
        Uniform [0, 1) values of x's shape to use instead of a fresh draw: value i is kept
        where ``noise[i] >= rate``. A fixed noise fixes the mask (gradient checks,
        replaying a run).

    The gradient is the same mask times the scale: ``d out / d x = keep / (1 - rate)``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(seed=0); x = g.input("x", shape=(None, 4))
    >>> y = gd.dropout(x, 0.5, training=True)
    >>> v = g.run(y, feed={x: np.ones((2, 4))})
    >>> bool(np.all((v == 0.0) | (v == 2.0)))
    True
    >>> gd.dropout(x, 0.5, training=False) is x
    True
    """
    if not isinstance(x, Node):
        raise TypeError(f"dropout takes a graph Node, got {type(x).__name__} at "
                        f"{format_site(creation_site())}")
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)) \
            or not 0.0 <= float(rate) <= 1.0:
        raise GraphError(f"dropout rate must be a number in [0, 1], got {rate!r} at "
                         f"{format_site(creation_site())}")
    rate = float(rate)
    flag = None
    if isinstance(training, Node):
        if training.dtype != np.dtype(bool) or training.shape not in (None, ()):
            raise GraphError(f"dropout: training must be a Python bool or a boolean scalar "
                             f"Node, got {describe_full(training)} of shape {training.shape} "
                             f"and dtype {training.dtype}")
        flag = training
    elif isinstance(training, (bool, np.bool_)):
        if not training:
            return x
    else:
        raise TypeError(f"dropout: training must be a bool or a boolean scalar Node, got "
                        f"{training!r} at {format_site(creation_site())}")
    if rate == 0.0 and noise is None:
        return x
    dtype = x.dtype if x.dtype in _FLOATS else np.dtype(np.float64)
    if noise is None:
        noise = uniform_like(x, dtype=dtype)
    else:
        noise = as_node(noise, x.graph)
    if rate == 1.0:
        dropped = multiply(x, 0.0)
    else:
        keep = astype(compare("greater_equal", noise, rate), dtype)
        dropped = multiply(x, multiply(keep, 1.0 / (1.0 - rate)))
    return dropped if flag is None else where(flag, dropped, x)


# ---------------------------------------------------------------- Graph methods
# Attached here, as io.py attaches Graph.save / Graph.load, so graph.py imports no op module.
def _graph_random_uniform(self: Graph, shape: Sequence[int | Node], low: float = 0.0,
                          high: float = 1.0, dtype: Any = "float64") -> Node:
    """A fresh U[low, high) draw of ``shape`` at every run, from ``self.rng``.

    ``shape`` entries are sizes or integer scalar Nodes such as ``gd.shape_of(x)[0]``
    (sizes known only at run time); the gradient is zero.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(seed=0); x = g.input("x", shape=(None, 3))
    >>> u = g.random_uniform((gd.shape_of(x)[0], 2), low=-1.0, high=1.0)
    >>> u.shape, g.run(u, feed={x: np.zeros((4, 3))}).shape
    ((None, 2), (4, 2))
    """
    return random_uniform(self, shape, low, high, dtype)


def _graph_random_normal(self: Graph, shape: Sequence[int | Node],
                         dtype: Any = "float64") -> Node:
    """A fresh standard normal draw of ``shape`` at every run, from ``self.rng``.

    ``shape`` entries are sizes or integer scalar Nodes (``gd.shape_of(x)[i]``); the
    gradient is zero. Scale and shift it for other normals: ``mu + sigma * z``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(seed=0); z = g.random_normal((2, 3), dtype="float32")
    >>> v = g.run(z); v.shape, v.dtype, bool(np.any(v != g.run(z)))
    ((2, 3), dtype('float32'), True)
    """
    return random_normal(self, shape, dtype)


Graph.random_uniform = _graph_random_uniform
Graph.random_normal = _graph_random_normal
