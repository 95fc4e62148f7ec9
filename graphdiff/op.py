"""The Op base class: ``forward`` computes values, ``bprop`` builds gradient nodes.

``bprop(inputs, wrt, output, grad)`` is the book's op.bprop: it returns the Jacobian-
transpose-times-gradient contribution for ``wrt``, summed over every position where
``wrt`` appears among ``inputs``, built from ordinary ops so it can be differentiated
again. ``None`` is the zero marker: no contribution.
"""

from __future__ import annotations

import functools
import re
import sys
from typing import Any, Callable, Sequence

import numpy as np

from .errors import GradError, GraphError
from .graph import Node, as_node, building, describe, graph_of
from .shapes import broadcast, covers, result_dtype
from .site import creation_site, format_site, in_package


class Op:
    """Base class of every operation; subclass it for a custom op.

    Everything graphdiff knows about an op is declared on it:

    - ``forward(*arrays)``: the value, NumPy arrays in and out.
    - ``infer(*inputs)`` -> ``(shape, dtype)``: the static shape (``None`` entries for
      unknown sizes) and dtype; without it both are unknown.
    - the reverse rule, either ``vjp(i, inputs, output, grad)`` for one input position
      (``bprop`` then sums the positions where ``wrt`` appears, as in ``x * x``), or
      ``bprop(inputs, wrt, output, grad)``, which must itself sum every position of ``wrt``:
      a two-input op overriding ``bprop`` that handles only the first position would get
      half the gradient of ``hypot(x, x)``. Rules build Nodes from ordinary ops (so they
      can be differentiated again) and may return a broadcast-shaped term: back-
      propagation sums it back to the input's shape.
    - ``jvp(inputs, tangents, output)``: the forward rule; without it forward mode
      transposes the reverse rule (slower).
    - ``view_of``: the input whose memory the output may share, or ``None`` (fresh);
      ``flops(input_shapes, output_shape)``: the cost that ``gd.cost`` reports;
      ``__props__``: the parameters that make two instances equal (for CSE and labels).
    - ``stateful``: True for ops whose value is not a function of their inputs (random
      draws); rewrites never merge, fold or precompute them.

    The how-to ``docs/howto/custom_op.md`` builds an op rule by rule, and
    ``docs/api/custom_ops.rst`` is the reference of these declarations.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> class Cube(gd.Op):
    ...     def forward(self, x):
    ...         return x ** 3
    ...     def bprop(self, inputs, wrt, output, grad):
    ...         return 3.0 * gd.square(inputs[0]) * grad
    >>> cube = gd.op(Cube())
    """

    __props__: tuple[str, ...] | None = None
    # False for ops whose output carries no gradient (masks, counts, shape references).
    differentiable = True
    # Elementwise built-ins may be folded when every input is a Python-scalar constant.
    foldable = False
    # The input whose memory the output may share (reshape, transpose: 0), or None when the
    # output is always a fresh array. Compiled functions reuse buffers only where this
    # allows; a custom op that does not declare it is assumed to return views of anything.
    view_of: int | None = None
    # A kernel accepting out= lets the runtime write into a dead input's buffer.
    out_kernel = None
    # True for graphdiff's own op classes (set below, from the file that defines the
    # class): save/load finds them without registration and the lint's rules apply.
    builtin = False
    # True when every value the op produces is zero (zeros_like): pictures mark it.
    always_zero = False
    # The operator a picture writes between two operands ("+", "@"), or None.
    infix: str | None = None
    # True when the value is not a function of the inputs alone (random draws): each run
    # computes it afresh, so rewrites must never merge two such nodes (CSE), fold one into
    # a constant, hoist it out of a run or evaluate it while the graph is built. Stateful
    # ops also compare equal only to themselves, whatever their ``__props__``.
    stateful = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The frame running the class statement: a graphdiff source file, or user code
        # (a doctest or a test module, even one whose globals name a graphdiff module).
        cls.builtin = in_package(sys._getframe(1).f_code.co_filename)

    def forward(self, *args: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def bprop(self, inputs: tuple[Node, ...], wrt: Node, output: Node, grad: Node) -> Node | None:
        if not self.differentiable:
            return None
        terms = []
        for i in _positions(inputs, wrt, output):
            term = self.vjp(i, inputs, output, grad)
            if term is not None:
                terms.append(term)
        return add_n(terms)

    def vjp(self, i: int, inputs: tuple[Node, ...], output: Node, grad: Node) -> Node | None:
        raise GradError(f"{self.label()} has no gradient rule")

    def jvp(self, inputs: tuple[Node, ...], tangents: tuple[Node | None, ...],
            output: Node) -> Node | None:
        """The forward-mode rule: the output's tangent sum_i (d out / d x_i) t_i, where
        ``tangents`` holds a Node or None (zero) per input; None for a zero tangent.

        Without one, ``gd.jvp`` transposes ``bprop`` instead (``NotImplemented`` says so).
        """
        return NotImplemented

    def broadcasts(self, inputs: tuple[Node, ...]) -> bool:
        """True when a rule's contribution may have a broadcast shape, which build_grad then
        sums back to the input's shape. Built-ins that never broadcast say False; custom
        ops are checked."""
        return not self.builtin

    def transposed(self, node: Node) -> Node | None:
        """A cheaper node for ``transpose(node)`` of a 2-D output, if the op has one."""
        return None

    def same_shape_as(self, *inputs: Node) -> Node | None:
        """An input whose run-time shape the output surely has, if any (see Node.shape_rep)."""
        return None

    def infer(self, *inputs: Node) -> tuple[Any, Any]:
        """Static (shape, dtype) of the output, None where unknown; GraphError if impossible."""
        return None, None

    def flops(self, input_shapes: list[tuple[int, ...]], output_shape: tuple[int, ...]) -> int:
        """Operations one evaluation costs, for ``gd.cost``: one per output element."""
        return size_of(output_shape)

    def fresh_output(self) -> bool:
        """True when the output never shares memory with an input (see ``view_of``)."""
        if self.view_of is not None:
            return False
        return self.builtin or any("view_of" in vars(c) for c in type(self).__mro__[:-2])

    # ------------------------------------------------------------------ identity
    def _key(self):
        return (type(self),) + tuple(_hashable(getattr(self, p)) for p in self.__props__)

    def props_key(self) -> tuple:
        """The type and the ``__props__`` values, hashable: what equal ops share (for
        caches keyed by op, such as the static dtype probe)."""
        return self._key()

    def __eq__(self, other: object) -> bool:
        if self.__props__ is None or self.stateful or type(other) is not type(self):
            return self is other
        return self._key() == other._key()

    def __hash__(self) -> int:
        return id(self) if self.__props__ is None or self.stateful else hash(self._key())

    def label(self) -> str:
        """The op's name with its parameters, for messages and pictures."""
        name = type(self).__name__
        if not self.__props__:
            return name
        args = ", ".join(f"{p}={_short(getattr(self, p))}" for p in self.__props__)
        return f"{name}({args})"

    def short_label(self, operands: Sequence[str | None] = ()) -> str:
        """A short label for pictures, as a reader writes the op: ``x @ W``, ``tanh``.

        ``operands`` holds, per input, a short name (the input node's name, a scalar
        constant's value) or ``None`` for an unnamed input. The default is the infix form
        for ops that declare ``infix``, else the type name in snake case with the
        ``__props__`` that are set; ops override it where a reader expects another form
        (``x[:, 0]``, ``W.T``, ``sum(axis=1)``). The full ``label()`` goes in a tooltip.

        Examples
        --------
        >>> import graphdiff as gd
        >>> from graphdiff.ops.shape import Reshape
        >>> Reshape((3, 4)).short_label(["x"])
        'reshape(3, 4)'
        """
        if self.infix is not None and len(operands) == 2:
            if operands[0] is None and operands[1] is None:
                return self.infix
            a, b = (o if o is not None else "\u00b7" for o in operands)
            return f"{a} {self.infix} {b}"
        args = []
        for p in self.__props__ or ():
            v = getattr(self, p, None)
            if v is None or v is False or (isinstance(v, tuple) and not v):
                continue
            args.append(f"{p}={_short(v)}")
        name = snake_case(type(self).__name__)
        return f"{name}({', '.join(args)})" if args else name

    def __repr__(self) -> str:
        return self.label()


@functools.lru_cache(maxsize=1024)
def snake_case(name: str) -> str:
    """``MaxPoolScatter`` -> ``max_pool_scatter``: a class name as a function name."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _positions(inputs: tuple, wrt: Node, output: Node) -> list[int]:
    """Where wrt appears among inputs. An op of n inputs is asked once per input, so for
    wide ops (concatenate, add_n) the positions are indexed once per node (in the running
    back-propagation's memo), not n times."""
    if len(inputs) <= 8:
        return [i for i, node in enumerate(inputs) if node is wrt]
    memo = building().memo
    key = ("positions", id(output))
    index = None if memo is None else memo.get(key)
    if index is None:
        index = {}
        for i, node in enumerate(inputs):
            index.setdefault(id(node), []).append(i)
        if memo is not None:
            memo[key] = index
    return index.get(id(wrt), [])


def size_of(shape: tuple[int, ...] | None) -> int:
    """Elements of an array of ``shape`` (0 when the shape is unknown)."""
    return 0 if shape is None else int(np.prod(shape, dtype=np.int64))


def _hashable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_hashable(x) for x in v)
    if hasattr(v, "tobytes") and hasattr(v, "shape"):
        return ("array", v.shape, str(v.dtype), v.tobytes())
    if isinstance(v, slice):
        return ("slice", v.start, v.stop, v.step)
    return v


def _short(v: Any) -> str:
    if isinstance(v, np.dtype):
        return repr(v.name)
    if hasattr(v, "shape") and hasattr(v, "dtype"):
        return f"array{tuple(v.shape)}"
    if isinstance(v, tuple):
        return "(" + ", ".join(_short(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return repr(v)


def make_node(op: Op, *operands: Any, name: str | None = None) -> Node:
    """Wrap operands as nodes of one graph, infer the static shape and dtype, add the node."""
    first = operands[0] if operands else None
    if type(first) is Node and all(type(v) is Node and v.graph is first.graph for v in operands):
        graph, inputs = first.graph, operands  # the common case: nodes of one graph
    else:
        graph = graph_of(operands, op.label())
        try:
            inputs = tuple(as_node(v, graph) for v in operands)
        except TypeError as exc:
            raise TypeError(f"{op.label()} at {format_site(creation_site())}: {exc}") from None
    try:
        shape, dtype = op.infer(*inputs)
    except GraphError as exc:
        operands_text = ", ".join(f"{describe(i)} of shape {i.shape}" for i in inputs)
        raise GraphError(f"{exc}\n  while building {op.label()} from {operands_text} at "
                         f"{format_site(creation_site())}") from None
    if op.foldable and all(i.weak for i in inputs):
        # Keep results of Python scalars Python scalars, so they stay weakly typed.
        return graph.constant(np.asarray(op.forward(*(i.value for i in inputs))).item())
    node = Node(graph, op, inputs, shape, dtype, "op", name=name)
    twin = op.same_shape_as(*inputs)
    if twin is not None:
        node.shape_rep = twin.shape_rep
    return node


def op(instance: Op) -> Callable[..., Node]:
    """Turn an Op instance into a function on nodes (and arrays, wrapped as constants).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> class Double(gd.Op):
    ...     def forward(self, x):
    ...         return 2.0 * x
    ...     def bprop(self, inputs, wrt, output, grad):
    ...         return 2.0 * grad
    >>> double = gd.op(Double())
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(double(x), feed={x: np.ones(2)})
    array([2., 2.])
    """
    if not isinstance(instance, Op):
        raise TypeError(f"gd.op needs an Op instance, got {type(instance).__name__}")

    def apply(*operands: Any, name: str | None = None) -> Node:
        return make_node(instance, *operands, name=name)

    apply.__name__ = type(instance).__name__
    apply.__doc__ = type(instance).__doc__
    return apply


# ---------------------------------------------------------------- linear ops
class LinearOp(Op):
    """An op linear in input 0; any other inputs are references (a run-time shape, an
    offset) that get no gradient. It declares its adjoint once, ``transpose``, and both
    modes use it: the reverse rule applies the transpose to the gradient, the forward rule
    applies the op itself to the tangent (as JAX's ``deflinear``).
    """

    def broadcasts(self, inputs):
        return False

    def transpose(self, ct: Node, inputs: tuple[Node, ...], output: Node) -> Node:
        """The adjoint applied to a cotangent ``ct`` of the output's shape."""
        raise NotImplementedError(f"{type(self).__name__}.transpose")

    def vjp(self, i, inputs, output, grad):
        return self.transpose(grad, inputs, output) if i == 0 else None

    def jvp(self, inputs, tangents, output):
        # A linear map's tangent is the map itself applied to the tangent.
        t = tangents[0]
        return None if t is None else make_node(self, t, *inputs[1:])


def multilinear_jvp(op: Op, inputs: tuple[Node, ...], tangents: tuple[Node | None, ...],
                    positions: Sequence[int]) -> Node | None:
    """The tangent of an op linear in each input at ``positions`` separately (a product,
    a convolution; the other inputs are references): sum_i op(..., t_i at i, ...)."""
    terms = [make_node(op, *inputs[:i], tangents[i], *inputs[i + 1:])
             for i in positions if tangents[i] is not None]
    return add_n(terms)


# ---------------------------------------------------------------- operands
def as_int(value: Any, what: str) -> int:
    """An integer shape entry or axis; anything else is a TypeError naming the argument."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    raise TypeError(f"{what} must be an integer, got {value!r} at "
                    f"{format_site(creation_site())}")


def as_ints(values: Any, what: str) -> tuple[int, ...]:
    """A tuple of integers (a single integer is a 1-tuple); TypeError otherwise."""
    if isinstance(values, (int, np.integer)):
        return (as_int(values, what),)
    try:
        items = tuple(values)
    except TypeError:
        raise TypeError(f"{what} must be a sequence of integers, got {values!r}") from None
    return tuple(as_int(v, what) for v in items)


def wrap(what: str, *values: Any) -> Sequence[Node]:
    """The operands as Nodes of one graph (arrays and scalars become constants)."""
    first = values[0] if values else None
    if type(first) is Node:
        # The common cases, without the general checks: nodes of one graph, Python numbers.
        graph = first.graph
        out = []
        for v in values:
            if type(v) is Node and v.graph is graph:
                out.append(v)
            elif type(v) is float or type(v) is int:
                out.append(graph.constant(v))
            else:
                break
        else:
            return out
    graph = graph_of(values, what)
    try:
        return [as_node(v, graph) for v in values]
    except TypeError as exc:
        operands = ", ".join(_operand_text(v) for v in values)
        raise TypeError(f"{what} at {format_site(creation_site())}: {exc}; the operands were "
                        f"{operands}") from None


def _operand_text(value: Any) -> str:
    """An operand for an error message: a Node by its name and shape, else type and value."""
    if isinstance(value, Node):
        return f"{describe(value)} of shape {value.shape}"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


# ---------------------------------------------------------------- the sum of contributions
class AddN(Op):
    """Sum of n same-shaped terms: the sum over consumers in the book's build_grad.

    It lives beside Op because the inherited ``bprop`` sums the positions of ``x * x`` with
    it; d(sum x_i) / dx_i = 1.
    """

    __props__ = ()

    def forward(self, *xs):
        out = np.add(xs[0], xs[1])
        for x in xs[2:]:
            if (type(out) is np.ndarray and out.shape == np.shape(x)
                    and out.dtype == getattr(x, "dtype", None)):
                np.add(out, x, out=out)  # accumulate into the fresh sum: no array per term
            else:
                out = np.add(out, x)
        return out

    @staticmethod
    def out_kernel(*xs, out, casting="same_kind"):
        # out is one of the terms (the runtime reuses a dying input that occurs once and
        # has no view among the other terms): add the others into it.
        if casting == "safe" and np.result_type(*xs) != out.dtype:
            # Refuse before the first write: the caller then computes a fresh sum.
            raise TypeError(f"AddN: the sum is {np.result_type(*xs)}, not {out.dtype}")
        for x in xs:
            if x is not out:
                np.add(out, x, out=out)
        return out

    def infer(self, *xs):
        return broadcast(self, *xs), result_dtype(*xs)

    def same_shape_as(self, *xs):
        for x in xs:
            if x.shape is not None and all(covers(x, o) for o in xs if o is not x):
                return x
        return None

    def broadcasts(self, inputs):
        return True

    def flops(self, input_shapes, output_shape):
        return (len(input_shapes) - 1) * size_of(output_shape)

    def vjp(self, i, inputs, output, grad):
        return grad

    def jvp(self, inputs, tangents, output):
        return add_n([t for t in tangents if t is not None])


_ADD_N = AddN()


def add_n(terms: Sequence[Node]) -> Node | None:
    """The sum of gradient contributions; None (zero) for none, the term itself for one."""
    if not terms:
        return None
    if len(terms) == 1:
        return terms[0]
    return make_node(_ADD_N, *terms)
