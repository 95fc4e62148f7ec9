"""The rewrite stage between the graph and the schedule: a table of rules.

``rewrite(graph, fetches)`` walks the nodes the fetches need once, in creation order (a
topological order), and gives every node a *stand-in*: the node itself, a copy wired to
its inputs' stand-ins, or what a rule replaces it with. Rules see a node whose inputs are
already rewritten, so one pass reaches a fixed point for the local rules below; a rule
that builds a new node (``reshape(reshape(x))`` -> ``reshape(x)``) has the rules tried on
that node again. Stand-ins are :func:`graphdiff.graph.detached` nodes: they live only in
the compiled schedule, so the user's graph is never changed.

Every rule is exact: the rewritten schedule computes the same values, of the same shape
and dtype, as the original. ``x * 1`` is only ``x`` when the 1 neither broadcasts x to a
larger shape nor promotes its dtype (``int * 1.0`` is float); the one freedom taken is
that ``x + 0`` and ``AddN`` without its zero terms keep a ``-0.0`` that the addition
would have turned into ``+0.0`` (equal values).

Ops declaring ``stateful = True`` or ``pure = False`` (random ops), and custom ops (whose
purity graphdiff cannot know), are never merged nor folded, and no rule drops a step that
depends on one (``x + zeros_like(u)`` stays while u is random): a dropped draw would shift
the generator, and one seed would give other runs with ``optimize=True`` than without.

Cost: one dict lookup per node and rule kind, a new node only where an input changed; no
recursion, linear in the number of nodes.
"""

from __future__ import annotations

import gc
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .. import backends
from ..graph import Graph, Node, ancestors, describe, detached
from ..op import AddN, Op, size_of
from ..ops.elementwise import Add, Divide, Multiply, Negative, Power, Subtract
from ..ops.shape import BroadcastTo, Reshape, SumTo, Transpose
from ..shapes import covers, known, result_dtype

# Constants are folded only into arrays of at most this many elements: a folded
# broadcast or outer product of two constants could otherwise be huge.
FOLD_MAX_SIZE = 1 << 16
# Equal constants are merged (by value) only up to this many elements.
MERGE_CONSTANT_SIZE = 1024


# ---------------------------------------------------------------- what may be merged
def mergeable(op: Op | None) -> bool:
    """True when two applications of ``op`` to the same inputs surely give equal values.

    Built-in ops only (a custom op may be random or stateful), and never one declaring
    ``stateful = True`` or ``pure = False``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> mergeable(gd.ops.elementwise.Exp())
    True
    """
    return (op is not None and op.builtin and not getattr(op, "stateful", False)
            and getattr(op, "pure", True) is not False)


def _strict(value: Any) -> tuple:
    """A parameter value as a hashable token equal only for values that act alike.

    ``Op.__eq__`` compares parameters with ``==``, for which ``True == 1 == 1.0`` and
    ``-0.0 == 0.0``: ``x[True]`` is not ``x[1]``, ``clip(x, 0.0, 1.0)`` of an integer x is
    float, ``clip(x, -0.0, 1)`` keeps a negative zero. Scalars are therefore told apart by
    type and ``repr``; sequences keep their type and length (a flat prefix encoding, so
    nesting needs no recursion).
    """
    out: list[Any] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            out.append((type(v), len(v)))
            stack.extend(reversed(v))
        elif isinstance(v, slice):
            out.append((slice, 3))
            stack.extend((v.step, v.stop, v.start))
        elif isinstance(v, (bool, int, float, complex, np.generic)):
            out.append((type(v), repr(v)))
        elif hasattr(v, "tobytes") and hasattr(v, "shape"):
            out.append(("array", type(v), tuple(v.shape), str(v.dtype), v.tobytes()))
        else:
            out.append(v)
    return tuple(out)


def op_key(op: Op) -> Any:
    """The key under which two ops surely compute the same function: their type and their
    ``__props__`` compared strictly (``_strict``); an op without ``__props__`` equals only
    itself.

    Examples
    --------
    >>> import graphdiff as gd
    >>> Clip = gd.ops.elementwise.Clip
    >>> op_key(Clip(0, 1)) == op_key(Clip(0, 1)), op_key(Clip(0, 1)) == op_key(Clip(0.0, 1.0))
    (True, False)
    """
    if op.__props__ is None or getattr(op, "stateful", False):
        return (type(op), id(op))
    return (type(op), _strict(tuple(getattr(op, p) for p in op.__props__)))


class OpTokens:
    """id(op) -> a token shared by every op equal to it (by type and ``__props__``,
    compared strictly: see ``op_key``).

    Hashing an op hashes its parameters; a pass over a long graph meets the same few op
    instances again and again, so each instance is hashed once and keys hold integers.

    Examples
    --------
    >>> from graphdiff.ops.shape import Reshape
    >>> tokens = OpTokens()
    >>> tokens(Reshape((2, 3))) == tokens(Reshape((2, 3))) != tokens(Reshape((3, 2)))
    True
    """

    def __init__(self) -> None:
        # Each op seen stays referenced here: a freed op's id could be reused by another.
        self._by_id: dict[int, tuple[int | None, Op]] = {}
        self._first: dict[Any, Op] = {}

    def __call__(self, op: Op) -> int | None:
        """The token of ``op``; None when it may not be merged (see ``mergeable``)."""
        seen = self._by_id.get(id(op))
        if seen is not None:
            return seen[0]
        # The first equal op stays referenced here, so its id stays unique.
        token = id(self._first.setdefault(op_key(op), op)) if mergeable(op) else None
        self._by_id[id(op)] = (token, op)
        return token


def cse_key(node: Node, inputs: Sequence[Node] | None = None,
            tokens: OpTokens | None = None) -> Any:
    """The key under which ``node`` equals every node with the same key: its op (equal by
    type and ``__props__``) and the identities of its inputs (``inputs``, when given,
    stand in for ``node.inputs``); ``None`` when it must stay apart (a leaf, a custom,
    stateful or unhashable op). The one definition that ``gd.cse`` also uses; pass one
    ``tokens`` for all the keys of a pass to hash each op once.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> cse_key(gd.exp(x)) == cse_key(gd.exp(x)), cse_key(x)
    (True, None)
    """
    op = node.op
    try:
        if tokens is not None:
            token = tokens(op)
            return None if token is None else (token, tuple(map(id, inputs or node.inputs)))
        if not mergeable(op):
            return None
        key = op_key(op)
        hash(key)
    except TypeError:      # parameters that cannot be hashed: keep the node apart
        return None
    return (key, tuple(map(id, node.inputs if inputs is None else inputs)))


def _constant_key(node: Node) -> Any:
    """Equal small constants merge: same value type (weak Python scalars stay apart from
    arrays), dtype, shape and bytes."""
    value = node.value
    if node.weak:
        return ("scalar", type(value), repr(value))
    if not isinstance(value, (np.ndarray, np.generic)) or value.size > MERGE_CONSTANT_SIZE:
        return None
    return ("array", type(value), value.dtype.str, value.shape, value.tobytes())


# ---------------------------------------------------------------- value tests
def _all_equal(node: Node, target: int) -> bool:
    """node is a real constant whose every element equals ``target``."""
    if node.kind != "constant":
        return False
    value = node.value
    if type(value) in (float, int, bool):      # Python scalars: the common case, cheaply
        return value == target
    if not _numpy(value):
        return False        # another library's array: not read here (CuPy refuses it)
    value = np.asarray(value)
    # Complex identities are not exact with infinities (inf * (1+0j) has a NaN part).
    return value.dtype.kind in "biuf" and bool((value == target).all())


def _is_one(node: Node) -> bool:
    return node.ones or _all_equal(node, 1)


def _is_zero(node: Node) -> bool:
    if node.op is not None:
        return node.op.always_zero
    return _all_equal(node, 0)


def _stands_for(x: Node, n: Node) -> bool:
    """x may replace n: same dtype, not a weak Python scalar, surely the same shape."""
    return (not x.weak and x.dtype is not None and x.dtype == n.dtype
            and x.dtype.kind != "c"
            and (x.shape_rep is n.shape_rep or (known(x.shape) and x.shape == n.shape)))


def _neutral(n: Node, x: Node, other: Node, test: Callable[[Node], bool]) -> Node | None:
    """x when ``other`` is neutral for n's op and neither broadcasts nor promotes x."""
    if test(other) and covers(x, other) and result_dtype(x, other) == x.dtype \
            and _stands_for(x, n):
        return x
    return None


# ---------------------------------------------------------------- the rules
def _either(n: Node, test: Callable[[Node], bool]) -> Node | None:
    a, b = n.inputs
    x = _neutral(n, a, b, test)
    return x if x is not None else _neutral(n, b, a, test)


def _mul_one(n: Node) -> Node | None:
    return _either(n, _is_one)


def _add_zero(n: Node) -> Node | None:
    return _either(n, _is_zero)


def _not_bool(x: Node) -> bool:
    # NumPy refuses to subtract or raise booleans: that error must stay where it was.
    return x.dtype is not None and x.dtype.kind != "b"


def _sub_zero(n: Node) -> Node | None:
    x = n.inputs[0]
    return _neutral(n, x, n.inputs[1], _is_zero) if _not_bool(x) else None


def _div_one(n: Node) -> Node | None:
    return _neutral(n, n.inputs[0], n.inputs[1], _is_one)


def _pow_one(n: Node) -> Node | None:
    x = n.inputs[0]
    return _neutral(n, x, n.inputs[1], _is_one) if _not_bool(x) else None


def _addn_zero(n: Node) -> Node | None:
    zeros = [t for t in n.inputs if _is_zero(t)]
    rest = [t for t in n.inputs if not _is_zero(t)]
    if not zeros or not rest:
        return None
    # The zeros change nothing when each broadcasts into a remaining term's shape and
    # the remaining terms alone promote to the same dtype.
    if not all(any(covers(t, z) for t in rest) for z in zeros):
        return None
    if len(rest) == 1:
        return rest[0] if _stands_for(rest[0], n) else None
    if result_dtype(*rest) != n.dtype:
        return None
    return detached(n, n.op, tuple(rest))


def _neg_neg(n: Node) -> Node | None:
    inner = n.inputs[0]
    if type(inner.op) is not Negative:
        return None
    x = inner.inputs[0]
    return x if _not_bool(x) and _stands_for(x, n) else None


def _axes(op: Transpose, ndim: int) -> tuple[int, ...]:
    return tuple(range(ndim))[::-1] if op.axes is None else tuple(op.axes)


def _transpose_transpose(n: Node) -> Node | None:
    inner = n.inputs[0]
    if type(inner.op) is not Transpose:
        return None
    x = inner.inputs[0]
    if x.weak:
        return None
    if x.shape is None:  # rank unknown: only reverse after reverse is known to cancel
        return x if inner.op.axes is None and n.op.axes is None else None
    ndim = len(x.shape)
    first, second = _axes(inner.op, ndim), _axes(n.op, ndim)
    # out[j] = inner[second[j]] = x[first[second[j]]]
    composed = tuple(first[j] for j in second)
    if composed == tuple(range(ndim)):
        return x
    return detached(n, Transpose(composed), (x,))


def _reshape_reshape(n: Node) -> Node | None:
    inner = n.inputs[0]
    if type(inner.op) is not Reshape:
        return None
    # C-order reshapes compose: only the last target shape matters.
    return detached(n, n.op, (inner.inputs[0],) + n.inputs[1:])


def _same_shape(n: Node) -> Node | None:
    x = n.inputs[0]
    return x if _stands_for(x, n) else None


@dataclass(frozen=True)
class Rule:
    """One rewrite: its name, the op types its pattern starts at (``None``: any node),
    why it holds, and ``apply(node) -> replacement or None``.

    Examples
    --------
    >>> [r.name for r in RULES][:3]
    ['mul-one', 'add-zero', 'sub-zero']
    """

    name: str
    ops: tuple[type, ...] | None
    why: str
    apply: Callable[[Node], Node | None] | None = field(repr=False, default=None)


def _numpy(value: Any) -> bool:
    return isinstance(value, (np.ndarray, np.generic, int, float, complex, bool))


def _finite(value: Any) -> bool:
    value = np.asarray(value)
    return value.dtype.kind not in "fc" or bool(np.isfinite(value).all())


def _fold(n: Node) -> Node | None:
    """The value of an op whose inputs are all constants, computed once."""
    if not n.inputs:
        return None
    for i in n.inputs:
        if i.kind != "constant":
            return None
    if not mergeable(n.op):
        return None
    if not known(n.shape) or size_of(n.shape) > FOLD_MAX_SIZE:
        return None
    values = [i.value for i in n.inputs]
    # A non-finite constant stays in the schedule, where anomaly mode blames it itself;
    # only NumPy values are folded (other libraries' leaves run as they are).
    if not all(_numpy(v) and _finite(v) for v in values):
        return None
    kernel = getattr(n.op, "kernel", None) or n.op.forward
    # A fold that warns or fails is left to run time, where it warns or fails as before.
    try:
        with np.errstate(all="raise"), warnings.catch_warnings():
            warnings.simplefilter("error")
            value = kernel(*values)
    except Exception:
        return None
    if not isinstance(value, (np.ndarray, np.generic)) or value.size > FOLD_MAX_SIZE:
        return None
    return detached(n, None, (), kind="constant", value=value)


RULES: tuple[Rule, ...] = (
    Rule("mul-one", (Multiply,), "x * 1 is x when 1 neither broadcasts x nor promotes it",
         _mul_one),
    Rule("add-zero", (Add,), "x + 0 is x when 0 neither broadcasts x nor promotes it",
         _add_zero),
    Rule("sub-zero", (Subtract,), "x - 0 is x when 0 neither broadcasts x nor promotes it",
         _sub_zero),
    Rule("div-one", (Divide,), "x / 1 is x for a float x that 1 neither broadcasts nor "
         "promotes", _div_one),
    Rule("pow-one", (Power,), "x ** 1 is x when 1 neither broadcasts x nor promotes it",
         _pow_one),
    Rule("addn-zero", (AddN,), "zero terms of a sum that change neither its shape nor its "
         "dtype add nothing", _addn_zero),
    Rule("neg-neg", (Negative,), "-(-x) is x (also for wrapping integers)", _neg_neg),
    Rule("transpose-transpose", (Transpose,), "two permutations compose into one (none when "
         "they cancel)", _transpose_transpose),
    Rule("reshape-reshape", (Reshape,), "C-order reshapes compose: only the last shape "
         "matters", _reshape_reshape),
    Rule("reshape-same", (Reshape,), "a reshape to x's own shape is x", _same_shape),
    Rule("sum_to-same", (SumTo,), "sum_to x's own shape sums nothing", _same_shape),
    Rule("broadcast-same", (BroadcastTo,), "broadcast_to x's own shape is x", _same_shape),
    Rule("fold", None, f"an op of finite constants is computed once, at compile time "
         f"(results of at most {FOLD_MAX_SIZE} elements, none that warns)", _fold),
    Rule("cse", None, "an op equal by type and __props__ applied to the same inputs (or an "
         "equal small constant) computes the same value: keep the first"),
    Rule("dead", None, "a step no fetch needs once the others are rewritten is dropped"),
)

_BY_TYPE: dict[type, list[Rule]] = {}
for _rule in RULES:
    for _t in _rule.ops or ():
        _BY_TYPE.setdefault(_t, []).append(_rule)
# A rule building a new node has the rules tried on it again, at most this often.
_MAX_PASSES = 8


# ---------------------------------------------------------------- what was applied
@dataclass(frozen=True)
class Rewrite:
    """What one rule did: its name, how often it fired, and the nodes it rewrote.

    Examples
    --------
    >>> print(Rewrite("cse", 2, ("'a'", "Exp node #3")))
    cse: 2 ('a', Exp node #3)
    """

    rule: str
    count: int
    nodes: tuple[str, ...]

    def __str__(self) -> str:
        shown = ", ".join(self.nodes[:6]) + (", ..." if len(self.nodes) > 6 else "")
        return f"{self.rule}: {self.count} ({shown})"

    def __repr__(self) -> str:
        return f"<Rewrite {self}>"


class Rewrites(list):
    """The list of :class:`Rewrite` records of a compiled function (``f.rewrites``), in
    the order of the rule table; printed one rule a line. ``folded`` holds the constants
    that folding made (NumPy values: see :func:`move_folded`).

    Examples
    --------
    >>> log = Rewrites([Rewrite("fold", 1, ("#4",))])
    >>> log.count_of("fold"), log.count_of("cse"), str(log)
    (1, 0, 'fold: 1 (#4)')
    """

    folded: tuple[Node, ...] = ()

    def count_of(self, rule: str) -> int:
        """How often ``rule`` fired (0 when it did not)."""
        return sum(r.count for r in self if r.rule == rule)

    def __str__(self) -> str:
        return "\n".join(str(r) for r in self) if self else "(no rewrites)"


# ---------------------------------------------------------------- the pass
def rewrite(graph: Graph, fetches: list[Node]) -> tuple[list[Node], Rewrites]:
    """Stand-ins for ``fetches`` computing the same values through a rewritten schedule,
    and the record of what was applied. ``graph`` is not changed.

    Fetches that are not nodes of ``graph`` are returned as they are (the plan then
    reports them).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> z = gd.exp(x) + gd.exp(x) + g.constant(np.zeros(3))
    >>> [out], done = rewrite(g, [z])
    >>> print(done)
    add-zero: 1 (Add node #5)
    cse: 1 (Exp node #2)
    >>> len(g.nodes)
    6
    """
    if any(not isinstance(f, Node) or f.graph is not graph for f in fetches):
        return list(fetches), Rewrites()
    gc_was_on = gc.isenabled()
    gc.disable()  # the pass makes a node per rewired step: no full collections meanwhile
    try:
        return _rewrite(fetches)
    finally:
        if gc_was_on:
            gc.enable()


def _all_constants(inputs: tuple[Node, ...]) -> bool:
    for i in inputs:
        if i.kind != "constant":
            return False
    return bool(inputs)


def _apply(m: Node, rules: list[Rule] | None) -> tuple[Node, list[str]]:
    """m rewritten by the first rule that fires, again while that builds a new node."""
    fired: list[str] = []
    index = m.index
    for _ in range(_MAX_PASSES):
        new = None
        for rule in rules or ():
            new = rule.apply(m)
            if new is not None:
                fired.append(rule.name)
                break
        if new is None:
            new = _fold(m)
            if new is not None:
                fired.append("fold")
        if new is None:
            break
        m = new
        # An earlier node is already rewritten; a new one (same index) may match more.
        if m.index != index or m.op is None:
            break
        rules = _BY_TYPE.get(type(m.op))
    return m, fired


def _drops_drawn(copy: Node, m: Node, drawn: dict[int, bool]) -> bool:
    """True when replacing ``copy`` by ``m`` leaves out an input of copy that depends on a
    random or custom op (``drawn``): neither m itself nor one of m's inputs."""
    for i in copy.inputs:
        if drawn.get(id(i), False) and i is not m and all(i is not j for j in m.inputs):
            return True
    return False


def _rewrite(fetches: list[Node]) -> tuple[list[Node], Rewrites]:
    hits: dict[str, list[Node]] = {}
    stand: dict[int, Node] = {}          # id(original) -> its stand-in
    first: dict[Any, Node] = {}          # cse key -> the first stand-in with it
    tokens = OpTokens()
    by_type = _BY_TYPE
    # id(stand-in) -> True when it depends on a node that may not be merged (a random
    # draw, a custom op): a rule may not drop such an input, as the step would then leave
    # the schedule and its draws with it, shifting the generator for every later draw
    # (optimize=True would give another sequence of runs than g.run for one seed).
    drawn: dict[int, bool] = {}
    originals = ancestors(fetches)
    # The loop runs once per node of graphs of millions: names are local, the common
    # case (no rule for this op, inputs not all constants) costs a few dict lookups.
    for n in originals:
        op = n.op
        if op is None:
            m = n
            if n.kind == "constant":
                key = _constant_key(n)
                if key is not None:
                    m = first.setdefault(key, n)
                    if m is not n:
                        hits.setdefault("cse", []).append(n)
            stand[id(n)] = m
            continue
        old = n.inputs
        inputs = tuple([stand[id(i)] for i in old])
        # Nodes compare by identity: equal tuples hold the very same nodes.
        m = n if inputs == old else detached(n, op, inputs)
        fired: list[str] | None = None
        copy = m
        drawn[id(copy)] = not mergeable(op) or any(drawn.get(id(i), False) for i in inputs)
        rules = by_type.get(type(op))
        if rules is not None or _all_constants(inputs):
            m, fired = _apply(m, rules)
            if m is not copy and _drops_drawn(copy, m, drawn):
                m, fired = copy, None
            elif id(m) not in drawn:
                drawn[id(m)] = any(drawn.get(id(i), False) for i in m.inputs)
        if m.index == n.index:
            key = cse_key(m, tokens=tokens) if m.op is not None else _constant_key(m)
            if key is not None:
                m0 = first.setdefault(key, m)
                if m0 is not m:
                    m = m0
                    fired = (fired or []) + ["cse"]
        if fired:
            for name in dict.fromkeys(fired):
                hits.setdefault(name, []).append(n)
        stand[id(n)] = m
    out = [stand[id(f)] for f in fetches]
    # Folding reads only constants and a merged node's inputs feed its twin, so only the
    # other rules can leave a step unused.
    if any(name not in ("fold", "cse") for name in hits):
        # Steps that nothing needs any more (and that no rule replaced) are dropped. Every
        # stand-in has the index of the original it stands for, so one backward scan over
        # the originals meets each live stand-in before its inputs.
        live = {id(m) for m in out}
        hit = {id(n) for nodes in hits.values() for n in nodes}
        dead = []
        for n in reversed(originals):
            m = stand[id(n)]
            if m.index != n.index:
                continue                       # an earlier node's stand-in: seen there
            if id(m) in live:
                live.update(map(id, m.inputs))
            elif n.op is not None and id(n) not in hit:
                dead.append(n)
        if dead:
            hits["dead"] = dead[::-1]
    done = Rewrites()
    done.folded = tuple(m for m in (stand[id(n)] for n in hits.get("fold", ()))
                        if m.kind == "constant")
    for rule in RULES:
        nodes = hits.get(rule.name)
        if nodes:
            done.append(Rewrite(rule.name, len(nodes), tuple(describe(n) for n in nodes)))
    return out, done


_move_lock = threading.Lock()


def move_folded(folded: Sequence[Node], fed: Sequence[Any]) -> None:
    """Move folded constants into the library of the fed arrays, as ``Plan.place_leaves``
    moves the graph's own leaves (CuPy refuses NumPy operands); idempotent.

    Examples
    --------
    >>> import numpy as np
    >>> move_folded([], [np.zeros(2)])       # NumPy feeds: nothing to move
    """
    backend = next((b for b in map(backends.backend_of, fed) if b is not backends.NUMPY),
                   None)
    if backend is None:
        return
    with _move_lock:
        for node in folded:
            if isinstance(node.stored, (np.ndarray, np.generic)):
                node.replace_array(backend.asarray(node.stored))


def rule(name: str) -> Rule:
    """The rule called ``name`` in the table (``KeyError`` if none).

    Examples
    --------
    >>> rule("neg-neg").why
    '-(-x) is x (also for wrapping integers)'
    """
    for r in RULES:
        if r.name == name:
            return r
    raise KeyError(f"no rewrite rule named {name!r}; the rules: "
                   f"{', '.join(r.name for r in RULES)}")
