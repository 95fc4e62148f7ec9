"""Graph and Node: the explicit computational graph of the book's section 6.5.

A Graph owns every node in creation order, which is also a topological order: a node
can only be built from nodes that already exist. Each node knows its consumers, so
back-propagation can walk from a variable to the operations that use it.
"""

from __future__ import annotations

import itertools
import numbers
import threading
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import networkx as nx
import numpy as np

from .errors import GraphError
from .site import creation_site, format_site

if TYPE_CHECKING:
    from .op import Op

Shape = "tuple[int | None, ...] | None"


class _Building(threading.local):
    """Per-thread state of a running back-propagation (see Node.__init__).

    ``memo`` holds what rules derive once per back-propagation and reuse across the many
    vjp calls of one wide node (input positions, concatenation offsets); it lives only as
    long as the back-propagation that fills it.
    """

    active = False
    site = None
    grad_of = None
    made_by: str | None = None  # "gradient" (backprop) or "tangent" (forward mode)
    memo: dict | None = None


_BUILDING = _Building()


def building() -> _Building:
    """This thread's rule-building state: ``active``, ``site``, ``grad_of``, ``made_by``,
    ``memo``.

    backprop and jvp set it; Node.__init__ reads it for provenance; rules may cache in
    ``memo``.
    """
    return _BUILDING


def ancestors(roots: Iterable[Node]) -> list[Node]:
    """Every node the roots depend on (roots included), in creation order: the one walk.

    Iterative, so graphs of any depth work.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=()); y = gd.exp(x)
    >>> [n.index for n in ancestors([y * 2.0])]
    [0, 1, 2, 3]
    """
    roots = list(roots)
    if roots and all(r.graph is roots[0].graph for r in roots):
        nodes = roots[0].graph.nodes
        marks = ancestor_marks(roots, nodes)
        if marks is not None:
            return list(itertools.compress(nodes, marks))
    found: dict[int, Node] = {}
    stack = []
    for r in roots:
        if id(r) not in found:
            found[id(r)] = r
            stack.append(r)
    while stack:
        for i in stack.pop().inputs:
            if id(i) not in found:
                found[id(i)] = i
                stack.append(i)
    return sorted(found.values(), key=lambda n: n.index)


def ancestor_marks(roots: Iterable[Node], nodes: Sequence[Node]) -> bytearray | None:
    """``marks[i] == 1`` for the creation index ``i`` of every node the roots depend on,
    roots included; ``nodes`` is the graph's node list (``graph.nodes``). None when a
    reached node is not ``nodes[node.index]`` (a stand-in of ``detached``): callers then
    walk by identity.

    One byte per node of the graph instead of a dict or set entry (about a hundred bytes)
    per ancestor: what keeps walks of 1,000,000-node graphs small.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=()); y = g.input("y", shape=())
    >>> e = gd.exp(x)
    >>> list(ancestor_marks([e], g.nodes))
    [1, 0, 1]
    """
    size = len(nodes)
    marks = bytearray(size)
    stack = []
    for r in roots:
        i = r.index
        if i >= size or nodes[i] is not r:
            return None
        if not marks[i]:
            marks[i] = 1
            stack.append(r)
    while stack:
        for n in stack.pop().inputs:
            i = n.index
            if not marks[i]:
                if nodes[i] is not n:
                    return None
                marks[i] = 1
                stack.append(n)
            elif nodes[i] is not n:
                return None
    return marks


def detached(like: Node, op: Op | None, inputs: tuple, kind: str = "op",
             value: Any = None) -> Node:
    """A node standing in for ``like`` outside its graph: not in ``graph.nodes``, recorded
    as no input's consumer, with like's name, shape, dtype, index and creation site.

    Compiled rewrites build their schedule from such nodes, so the user's graph never
    changes (``compile/rewrite.py``).

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,)); y = gd.exp(x)
    >>> m = detached(y, y.op, (x,))
    >>> m.index == y.index, len(g.nodes), g.consumers(x) == [y]
    (True, 2, True)
    """
    node = object.__new__(Node)
    node.graph, node.op, node.inputs, node.kind = like.graph, op, inputs, kind
    node.name, node.shape, node.dtype, node.weak = like.name, like.shape, like.dtype, like.weak
    node._value = value
    node.ones, node.site, node.index = like.ones, like.site, like.index
    node.grad_of, node.made_by, node.shape_rep = like.grad_of, like.made_by, like.shape_rep
    node._consumers = ()
    return node


def consumers_of(node: Node) -> Sequence[Node]:
    """The live sequence of ``node``'s consumers (read it, never change it): the package's
    fast accessor; users call ``g.consumers(node)``, which returns a list.

    A tuple while the node has at most one consumer (most nodes of a chain), a list
    beyond: an empty tuple is shared and a one-element tuple is 40 bytes smaller than a
    list that grew by one append.
    """
    return node._consumers

_NUMERIC_KINDS = "biufc"


class Node:
    """A value in a computational graph: an input, a parameter, a constant or an op's output.

    Nodes hash by identity (``==`` is Python's identity test, not an op), so they can be
    dict keys and networkx nodes. Arithmetic operators build new nodes.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph()
    >>> x = g.input("x", shape=(None, 3))
    >>> (x * 2.0).shape
    (None, 3)
    """

    __slots__ = ("graph", "op", "inputs", "name", "shape", "dtype", "kind", "_value", "weak",
                 "ones", "site", "index", "_consumers", "grad_of", "made_by", "shape_rep",
                 "__weakref__")
    # NumPy must hand `array + node` to Node.__radd__ instead of iterating the node.
    __array_ufunc__ = None

    def __init__(self, graph: Graph, op: Op | None, inputs: tuple, shape, dtype, kind: str,
                 name: str | None = None, value: Any = None, weak: bool = False):
        self.graph = graph
        self.op = op
        self.inputs = inputs
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self.kind = kind
        self._value = value
        self.weak = weak
        # True when the value is known to be all ones: lets bprops skip `grad * 1`.
        self.ones = False
        if _BUILDING.active and kind == "op":
            # Inside back-propagation (or forward mode): every node has the same user site
            # (the grad or jvp call), and is part of the gradient (tangent) of the forward
            # node whose rule is running.
            self.site, self.grad_of = _BUILDING.site, _BUILDING.grad_of
            self.made_by = _BUILDING.made_by
        else:
            self.site = creation_site()
            self.grad_of = None
            self.made_by = None
        # A node whose run-time shape surely equals this one's (itself when nothing is
        # known): lets gradients skip reductions between equal unknown (None) shapes.
        self.shape_rep = self
        self._consumers: Sequence[Node] = ()
        self.index = graph._register(self)

    # ------------------------------------------------------------------ values
    @property
    def value(self) -> Any:
        """The live array of a parameter or constant (assignable for parameters)."""
        if self.kind not in ("parameter", "constant"):
            raise GraphError(f"{describe(self)} has no stored value; run the graph to compute it")
        return self._value

    @value.setter
    def value(self, new: Any) -> None:
        if self.kind != "parameter":
            raise GraphError(f"only parameters can be assigned a value, not {describe(self)}")
        new = _as_array(new, f"the new value of {describe(self)}")
        if tuple(new.shape) != self.shape:
            raise GraphError(f"cannot assign a value of shape {tuple(new.shape)} to parameter "
                             f"{describe(self)} of shape {self.shape}")
        if new.dtype != self.dtype:
            # The graph's static dtypes (and compiled functions' buffers) were planned for
            # the declared dtype: cast as a feed is cast, or refuse a lossy change of kind.
            if not np.can_cast(new.dtype, self.dtype, "same_kind"):
                raise GraphError(f"cannot assign a value of dtype {new.dtype} to parameter "
                                 f"{describe(self)} of dtype {self.dtype} (not a same_kind "
                                 f"cast); cast it first or make a new parameter")
            new = new.astype(self.dtype)
        self._value = new

    @property
    def stored(self) -> Any:
        """The array a leaf holds (a parameter's or constant's value; None for inputs and
        computed nodes): for the runtime, backends and tools, which must not raise."""
        return self._value

    def replace_array(self, new: Any) -> None:
        """Replace a constant's or parameter's array with the same values held by another
        array library (``graphdiff.backends.move_leaves``); shapes must match."""
        if self.kind not in ("parameter", "constant"):
            raise GraphError(f"only parameters and constants hold arrays, not {describe(self)}")
        if tuple(getattr(new, "shape", ())) != tuple(np.shape(self._value)):
            raise GraphError(f"cannot replace the array of {describe(self)} of shape "
                             f"{np.shape(self._value)} by one of shape "
                             f"{getattr(new, 'shape', None)}")
        self._value = new

    @property
    def ndim(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    def __iter__(self):
        raise TypeError(f"{describe(self)} is a graph node and cannot be iterated; "
                        "index it instead")

    def __repr__(self) -> str:
        dtype = None if self.dtype is None else self.dtype.name
        return f"<Node {describe(self)} shape={self.shape} dtype={dtype}>"


def describe(node: Node) -> str:
    """A short human name: the node's name, else its op and creation index."""
    if node.name is not None:
        return repr(node.name)
    if node.op is not None:
        return f"{node.op.label()} node #{node.index}"
    return f"{node.kind} #{node.index}"


def describe_full(node: Node) -> str:
    """describe() plus where the node was built and by which gradient, for error messages."""
    text = f"{describe(node)} (built at {format_site(node.site)}"
    source = node.grad_of
    if source is not None:
        # Name the user's forward node, with where the user built it.
        while source.grad_of is not None and source.op is not None and source.name is None:
            source = source.grad_of
        what = "tangent" if node.made_by == "tangent" else "gradient"
        text += f", in the {what} of {formula(source)}, created at {format_site(source.site)}"
    return text + ")"


def formula(node: Node) -> str:
    """``h1 = Relu(a1)``: a node as the equation that computes it."""
    if node.op is None:
        return describe(node)
    args = ", ".join(describe(i) if i.name is not None else f"#{i.index}" for i in node.inputs)
    lhs = node.name if node.name is not None else f"#{node.index}"
    return f"{lhs} = {node.op.label()}({args})"


def _as_array(value: Any, what: str) -> Any:
    """Arrays of NumPy-protocol libraries pass through; anything else becomes a numeric ndarray."""
    if not isinstance(value, np.ndarray) and (hasattr(value, "__array_function__")
                                              or hasattr(value, "__array_namespace__")):
        kind = getattr(getattr(value, "dtype", None), "kind", "f")
    else:
        try:
            value = np.asarray(value)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"{what} is not a numeric array: {exc}") from exc
        kind = value.dtype.kind
    if kind not in _NUMERIC_KINDS:
        raise TypeError(f"{what} must be numeric, got dtype {value.dtype}")
    return value


def _declared_shape(shape: Any, what: str) -> tuple:
    """A declared shape as a tuple of non-negative ints and Nones; GraphError otherwise."""
    try:
        entries = tuple(shape)
    except TypeError:
        raise GraphError(f"{what}: shape must be a sequence of sizes (ints or None), got "
                         f"{shape!r} at {format_site(creation_site())}") from None
    for d in entries:
        if d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer))
                              or d < 0):
            raise GraphError(f"{what}: shape {shape!r} has the entry {d!r}; each entry must "
                             f"be a size >= 0 or None (unknown until run time), at "
                             f"{format_site(creation_site())}")
    return tuple(None if d is None else int(d) for d in entries)


class Graph:
    """An explicit computational graph holding every node in creation order.

    ``seed`` seeds ``g.rng``, the ``numpy.random.Generator`` that the graph's random nodes
    (``g.random_uniform``, ``g.random_normal``, ``gd.uniform_like``, ``gd.dropout``) draw
    from at every run: one seed gives one sequence of runs. ``g.rng`` may be assigned
    another Generator (to reseed a loaded graph, say).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph()
    >>> x = g.input("x", shape=(3,))
    >>> W = g.parameter(np.ones(3), name="W")
    >>> float(g.run(gd.sum(x * W), feed={x: np.arange(3.0)}))
    3.0
    >>> a, b = gd.Graph(seed=1), gd.Graph(seed=1)
    >>> bool(np.all(a.run(a.random_normal((3,))) == b.run(b.random_normal((3,)))))
    True
    """

    def __init__(self, seed: Any = None) -> None:
        self.seed = seed
        self.rng: np.random.Generator = np.random.default_rng(seed)
        self._nodes: list[Node] = []
        self._scalars: dict = {}
        # Threads may build nodes at once: creation indices must stay unique and ordered.
        self._lock = threading.Lock()

    def _register(self, node: Node) -> int:
        inputs = node.inputs
        with self._lock:
            nodes = self._nodes
            nodes.append(node)
            if len(inputs) == 2 and inputs[0] is not inputs[1]:
                _add_consumer(inputs[0], node)  # the common case, without a set
                _add_consumer(inputs[1], node)
            elif len(inputs) == 1:
                _add_consumer(inputs[0], node)
            else:
                seen = set()
                for i in inputs:
                    if id(i) not in seen:  # one consumer entry per (input, consumer) pair
                        seen.add(id(i))
                        _add_consumer(i, node)
            return len(nodes) - 1

    # ------------------------------------------------------------------ leaves
    def input(self, name: str, shape: Iterable[int | None] | None = None,
              dtype: Any = "float64") -> Node:
        """A value fed at run time; ``None`` in ``shape`` is a dimension of any size."""
        if shape is not None:
            shape = _declared_shape(shape, f"input {name!r}")
        dtype = np.dtype(dtype)
        if dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(f"input {name!r} must have a numeric dtype, got {dtype}")
        return Node(self, None, (), shape, dtype, "input", name=name)

    def parameter(self, value: Any, name: str | None = None) -> Node:
        """A value held by the graph that training updates (``node.value``)."""
        value = np.array(_as_array(value, f"parameter {name!r}"))
        return Node(self, None, (), tuple(value.shape), value.dtype, "parameter", name=name,
                    value=value)

    def constant(self, value: Any, name: str | None = None) -> Node:
        """A fixed value. Python scalars stay weakly typed, as NumPy treats them."""
        if isinstance(value, (bool, numbers.Number)) and not isinstance(value, np.generic):
            # repr only for zeros: 0.0 == -0.0, but they divide differently.
            key = (type(value), repr(value) if value == 0 else value)
            if name is None and key in self._scalars:
                return self._scalars[key]  # constants are immutable: one node per scalar
            if isinstance(value, complex):
                dtype = np.dtype(complex)
            else:
                dtype = np.result_type(value)
            node = Node(self, None, (), (), dtype, "constant", name=name, value=value, weak=True)
            node.ones = value == 1
            if name is None:
                self._scalars[key] = node
            return node
        value = _as_array(value, f"constant {name!r}" if name else "a constant")
        if isinstance(value, np.ndarray):
            value = value.copy()  # the graph's own: mutating the caller's array changes nothing
        return Node(self, None, (), tuple(value.shape), value.dtype, "constant", name=name,
                    value=value)

    # ------------------------------------------------------------------ structure
    @property
    def nodes(self) -> list[Node]:
        """Every node, in creation order (a topological order)."""
        return list(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def nodes_since(self, start: int) -> list[Node]:
        """The nodes created after the first ``start`` ones (what a call just added)."""
        return self._nodes[start:]

    def consumers(self, node: Node) -> list[Node]:
        """The nodes that take ``node`` as an input."""
        if not isinstance(node, Node) or node.graph is not self:
            raise TypeError(f"consumers: expected a Node of this graph, got "
                            f"{type(node).__name__} {node!r}")
        return list(node._consumers)

    def to_networkx(self) -> nx.DiGraph:
        """A networkx DiGraph of Node objects with edges input -> consumer."""
        G = nx.DiGraph()
        G.add_nodes_from(self._nodes)
        G.add_edges_from((i, n) for n in self._nodes for i in n.inputs)
        return G

    # ------------------------------------------------------------------ running
    def run(self, fetches: Any, feed: dict | None = None, check_finite: bool = False,
            updates: Any = None) -> Any:
        """Compute ``fetches`` (a Node, or a list, tuple or dict of Nodes).

        ``updates`` ({parameter: Node}) as in ``function``: computed with the fetches
        from the values before the run, then applied.

        Examples
        --------
        >>> import numpy as np, graphdiff as gd
        >>> g = gd.Graph(); x = g.input("x", shape=(2,))
        >>> g.run([x + 1.0], feed={x: np.zeros(2)})
        [array([1., 1.])]
        >>> t = g.parameter(0.0, name="t")
        >>> g.run(t, updates={t: t + 1.0}), t.value     # the old value; then t is 1
        (array(0.), array(1.))
        """
        from .runtime import run

        return run(self, fetches, feed or {}, check_finite=check_finite, updates=updates)

    def function(self, inputs: list[Node], outputs: Any, check_finite: bool = False,
                 updates: Any = None, optimize: bool = True):
        """Compile once to a flat schedule; call with the inputs' arrays in order.

        ``updates`` maps parameters to Nodes, as Theano's: after the outputs are computed
        each parameter's value becomes its update's value, every update computed from
        the values before the call; in place where the parameter's array allows. With
        ``opt.updates(grads)`` one call is a whole training step. Checked here (keys are
        parameters, once each; shapes and dtypes fit); calls with updates on one graph
        are serialised between threads (see ``graphdiff.compile.updates``).

        With ``optimize=True`` the schedule is rewritten first (common subexpressions
        merged, constants folded, exact identities such as ``x + 0``, dead nodes dropped;
        ``f.rewrites`` lists what was applied); the graph itself is not changed.

        Examples
        --------
        >>> import numpy as np, graphdiff as gd
        >>> g = gd.Graph(); x = g.input("x", shape=(2,))
        >>> f = g.function([x], [gd.sum(x)])
        >>> f(np.ones(2))
        [array(2.)]
        >>> w = g.parameter(np.zeros(2), name="w")
        >>> step = g.function([x], gd.sum(w), updates={w: w + x})
        >>> step(np.ones(2)), step(np.ones(2)), w.value
        (array(0.), array(2.), array([2., 2.]))
        """
        from .runtime import Function

        return Function(self, list(inputs), outputs, check_finite=check_finite,
                        updates=updates, optimize=optimize)

    def find(self, name: str) -> Node:
        """The most recent node called ``name``."""
        for node in reversed(self._nodes):
            if node.name == name:
                return node
        raise KeyError(f"no node named {name!r} in this graph")

    def __repr__(self) -> str:
        return f"<Graph with {len(self._nodes)} nodes>"


def _add_consumer(node: Node, consumer: Node) -> None:
    consumers = node._consumers
    if type(consumers) is list:
        consumers.append(consumer)
    elif consumers:
        node._consumers = [*consumers, consumer]
    else:
        node._consumers = (consumer,)


def as_node(value: Any, graph: Graph) -> Node:
    """A Node of ``graph`` for ``value``: Nodes pass (same graph only), the rest are constants."""
    if isinstance(value, Node):
        if value.graph is not graph:
            raise GraphError(f"{describe_full(value)} belongs to another graph; "
                             "nodes of two graphs cannot be combined")
        return value
    if isinstance(value, (str, bytes)):
        raise TypeError(f"cannot use the string {value!r} as a graph value")
    return graph.constant(value)


def graph_of(values: Iterable[Any], what: str) -> Graph:
    """The one graph that the Node operands belong to; GraphError if they mix graphs."""
    graph = None
    first = None
    for v in values:
        if isinstance(v, Node):
            if graph is None:
                graph, first = v.graph, v
            elif v.graph is not graph:
                raise GraphError(f"{what}: {describe_full(first)} and {describe_full(v)} belong to "
                                 "different graphs")
    if graph is None:
        raise TypeError(f"{what} at {format_site(creation_site())} needs at least one graph Node "
                        f"among its operands, got {', '.join(type(v).__name__ for v in values)}")
    return graph
