"""Elementwise fusion: groups of elementwise steps of a plan run as one fused step.

A compiled function's plan is a flat list of steps, one per node. Fusion finds groups of
elementwise steps (bias + ReLU, the ReLU mask of the backward pass, the tanh/sin chains
of a gradient, an optimizer's update) whose values all have one run-time shape and one
dtype, and replaces each group by one step that computes the whole group:

* in pure NumPy, a generated function calls the same kernels as the unfused steps, but
  writes each result into the buffer of an operand that dies there (``out=`` on the
  ufuncs), so a chain of n ops allocates one array instead of n;
* with the ``fast`` extra (Numba) installed and ``GRAPHDIFF_JIT=1`` (see
  :func:`jit_module` for why it is not the default), a group of :data:`JIT_MIN_MEMBERS` to
  :data:`JIT_MAX_MEMBERS` members of at most :data:`JIT_MAX_SIZE` elements is compiled,
  on its first call, into one loop over the elements, each element going once through
  the whole group. Without Numba, or for a group Numba cannot compile, the NumPy
  function runs: silently, with the same results to rounding.

Groups that neither write in place (arrays below ``INPLACE_MIN_SIZE`` elements) nor run
in the JIT stay unfused (:data:`FUSE_SMALL`): fusing them would gain nothing.

The rules that keep fused results equal to the unfused ones:

* **Members.** A member is a built-in ``Elementwise`` op whose output is a fresh array
  (no view), of a known dtype, with the group's run-time shape (static and equal, or
  the same ``shape_rep``) and the group's dtype; 0-d values are never fused.
* **Boundaries.** A member whose value is fetched, or read by any step outside the
  group, is an output of the group: it is always materialised, and never overwritten
  inside the fused step. Only the other members (interior values) are dropped.
* **No cycles.** No input a group reads from outside depends on a fusable step at or
  after the group's first member; the fused plan's steps are then put back in a
  topological order, as close to the original as the dependencies allow.
* **Semantics.** The NumPy path calls each op's own kernel; ``out=`` only ever targets
  an interior value of the same dtype and shape at its last use. The JIT derives each
  op's scalar program from the op's own ``forward`` (traced once on placeholder
  operands) and casts every operand and result to the dtypes NumPy's loop would use
  (``ufunc.resolve_dtypes``), so float32 stays float32 and a Python scalar stays weak.
  Integer groups only use the ufuncs that cannot trap (no division, power, modulo).

The user's graph never changes: fusion builds a new plan (``Plan.rescheduled``) over
stand-in nodes that the graph does not list.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from ..errors import GraphdiffError
from ..graph import Node, describe_full
from ..ops.elementwise import Elementwise
from .plan import Plan
from .reuse import INPLACE_MIN_SIZE

# The JIT compiles a group on its first call, so that every call of one compiled function
# runs the same kernel and returns the same bits for the same inputs (a later switch from
# NumPy to the loop would change results by rounding between calls).
JIT_AFTER_CALLS = 1
# Groups smaller than this stay NumPy: a loop over bias + ReLU saves one pass over memory,
# less than Numba's compile time is worth for a function called a few times.
JIT_MIN_MEMBERS = 4
# Numba's compile time grows faster than the loop: larger groups run their NumPy kernel.
JIT_MAX_MEMBERS = 64
# ... and of at most this many elements (static shapes only): on large arrays NumPy's SIMD
# sin, tanh, exp beat the C library's scalar ones that the loop calls (benchmarks/
# bench_fuse.py: the loop is 0.3x NumPy on (10,) and 2.9x on (512, 512) in float64).
JIT_MAX_SIZE = 4096
# Without the JIT, groups of small arrays are left unfused: their fused step would make the
# same ufunc calls (out= does not pay below INPLACE_MIN_SIZE) plus one call of its own.
FUSE_SMALL = False
# A group stops growing here (its generated function stays quick to compile; a
# 100,000-op chain becomes a few hundred fused steps).
MAX_MEMBERS = 512
# The most operands one fused step takes (a generated function's arguments).
MAX_EXTERNALS = 1024


# ---------------------------------------------------------------- which steps fuse
def fusable(node: Node) -> bool:
    """True when ``node`` may be a member of a fused group (see the module docstring).

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> fusable(gd.relu(x + 1.0)), fusable(gd.sum(x)), fusable(gd.stop_gradient(x))
    (True, False, False)
    """
    op = node.op
    return (isinstance(op, Elementwise) and op.builtin and op.view_of is None
            and op.fresh_output() and node.dtype is not None and node.shape is not None
            and len(node.shape) > 0)


def _same_shape(x: Node, node: Node) -> bool:
    """x surely has node's run-time shape."""
    return x.shape is not None and x.shape == node.shape and (
        None not in x.shape or x.shape_rep is node.shape_rep)


def _shape_key(node: Node) -> tuple:
    """Two members share a group only when their keys are equal: same dtype, and surely
    the same run-time shape."""
    shape = node.shape
    rep = id(node.shape_rep) if None in shape else None
    return (shape, rep, node.dtype)


class Group:
    """One group of a plan's steps: ``members`` (step indices, in order), ``outputs``
    (the members whose values leave the group), ``externals`` (the nodes it reads from
    outside, in first-use order)."""

    __slots__ = ("start", "members", "key", "outside", "outputs", "externals", "id")

    def __init__(self, start: int, key: tuple, gid: int):
        self.start = start
        self.members: list[int] = [start]
        self.key = key
        self.outside: dict[int, int] = {}   # id(node) -> its step (-1: a leaf) read from outside
        self.outputs: list[int] = []
        self.externals: list[Node] = []
        self.id = gid


def find_groups(plan: Plan, max_members: int = MAX_MEMBERS, small: bool = True,
                trees: bool = False) -> list[Group]:
    """The groups of two or more fusable steps of ``plan``, in schedule order.

    One pass in schedule order: a fusable step joins (and may merge) the groups of its
    fusable inputs when no value the result reads from outside depends on the merged
    group; otherwise it starts a group of its own. With ``trees``, a step joins only
    through inputs it alone reads (and that are not fetched): every group then has one
    output, its last member, and no value lives longer than unfused.

    Examples
    --------
    >>> import graphdiff as gd
    >>> from graphdiff.compile import Plan
    >>> g = gd.Graph(); x = g.input("x", shape=(4,)); b = g.input("b", shape=(4,))
    >>> [len(gr.members) for gr in find_groups(Plan(g, [gd.relu(x + b) * 2.0]))]
    [3]
    """
    nodes = plan.nodes
    step_of = {id(n): k for k, n in enumerate(nodes)}
    group_of: dict[int, Group] = {}      # step -> its group
    groups: list[Group] = []
    # The last fusable step each step depends on (itself included; -1: none). A value read
    # from outside a group whose latest is before the group's first step cannot depend on
    # the group, so fusing never makes a cycle.
    latest = [-1] * (len(nodes) + 1)      # latest[-1] stays -1: the leaves
    uses: list[int] = []
    if trees:
        slot = plan.slot
        step_of_slot = {slot[id(n)]: k for k, n in enumerate(nodes)}
        uses = [0] * (len(nodes) + 1)
        for _, ins, _, _ in plan.steps:
            for s in set(ins):
                uses[step_of_slot.get(s, -1)] += 1
        for s in plan.keep:
            uses[step_of_slot.get(s, -1)] += 2     # fetched: it must stay an output
    for k, n in enumerate(nodes):
        fus = fusable(n) and (small or not 0 < (_size(n) or INPLACE_MIN_SIZE) < INPLACE_MIN_SIZE)
        m = k if fus else -1
        for i in n.inputs:
            d = latest[step_of.get(id(i), -1)]
            if d > m:
                m = d
        latest[k] = m
        if not fus:
            continue
        key = _shape_key(n)
        candidates: list[Group] = []
        for i in n.inputs:
            g = group_of.get(step_of.get(id(i), -1))
            if (g is not None and g.key == key and g not in candidates
                    and len(g.members) < max_members):
                candidates.append(g)
        if trees and candidates:
            shared = {id(group_of.get(step_of.get(id(i), -1))) for i in n.inputs
                      if uses[step_of.get(id(i), -1)] != 1}
            candidates = [g for g in candidates if id(g) not in shared]
        reads = {id(i): step_of.get(id(i), -1) for i in n.inputs}
        chosen = (_join(candidates, reads, group_of, latest, max_members) if candidates
                  else None)
        if chosen is None:
            chosen = Group(k, key, len(groups))
            groups.append(chosen)
        else:
            chosen.members.append(k)
        for i, s in reads.items():
            if group_of.get(s) is not chosen:
                chosen.outside[i] = s
        group_of[k] = chosen
    fused = [g for g in groups if len(g.members) >= 2 and group_of[g.start] is g]
    if not fused:
        return []
    _boundaries(plan, fused, group_of)
    return [g for g in fused if len(g.externals) <= MAX_EXTERNALS]


def _join(candidates: list[Group], reads: dict[int, int], group_of: dict[int, Group],
          latest: list[int], max_members: int) -> Group | None:
    """The group a new step joins: all candidates merged when no outside read then depends
    on a fusable step from the first one on, else the first candidate that allows it."""
    if len(candidates) == 1:       # a chain: only the new step's reads need a look
        g = candidates[0]
        ok = all(latest[s] < g.start or group_of.get(s) is g for s in reads.values())
        return g if ok else None
    start = min(g.start for g in candidates)
    merged = set(map(id, candidates))

    def inside(s: int) -> bool:
        g = group_of.get(s)
        return g is not None and id(g) in merged

    ok = sum(len(g.members) for g in candidates) < max_members and all(
        latest[s] < start or inside(s) for s in reads.values()) and all(
        latest[s] < start or inside(s) for g in candidates for s in g.outside.values())
    if ok:
        candidates.sort(key=lambda g: g.start)
        target = candidates[0]
        for g in candidates[1:]:
            for m in g.members:
                group_of[m] = target
            target.members.extend(g.members)
            for i, s in g.outside.items():
                target.outside[i] = s
            g.members = []
        target.members.sort()
        target.outside = {i: s for i, s in target.outside.items() if not inside(s)}
        return target
    for g in sorted(candidates, key=lambda g: g.start):
        if all(latest[s] < g.start or group_of.get(s) is g for s in reads.values()):
            return g
    return None


def _boundaries(plan: Plan, groups: list[Group], group_of: dict[int, Group]) -> None:
    """Each group's outputs (fetched, or read by a step outside) and externals."""
    nodes = plan.nodes
    slot = plan.slot
    escapes: set[int] = set()             # steps whose value leaves their group
    step_of_slot = {slot[id(n)]: k for k, n in enumerate(nodes)}
    for k, (_, ins, _, _) in enumerate(plan.steps):
        g = group_of.get(k)
        for s in ins:
            p = step_of_slot.get(s)
            if p is not None and p in group_of and group_of[p] is not g:
                escapes.add(p)
    for s in plan.keep:
        p = step_of_slot.get(s)
        if p is not None:
            escapes.add(p)
    for g in groups:
        g.outputs = [m for m in g.members if m in escapes]
        seen: dict[int, Node] = {}
        for m in g.members:
            for i in nodes[m].inputs:
                if group_of.get(step_of_slot.get(slot[id(i)], -1)) is not g:
                    seen.setdefault(id(i), i)
        g.externals = list(seen.values())


# ---------------------------------------------------------------- the fused step
class FusedKernel:
    """The step op of one group: ``forward(*externals)`` computes the group's outputs
    (one array, or a tuple of them for several outputs).

    It is a step of a compiled plan, not an op of any graph: it declares what the plan,
    buffer reuse and error messages read from an op (``kernel``, ``out_kernel``,
    ``view_of``, ``fresh_output``, ``label``).
    """

    view_of = None
    kernel = None
    differentiable = False

    def __init__(self, plan: Plan, group: Group):
        nodes = plan.nodes
        self.members = [nodes[m] for m in group.members]
        self.externals = group.externals
        self.outputs = [nodes[m] for m in group.outputs]
        self.shape = self.members[-1].shape
        self.dtype = self.members[-1].dtype
        size = _size(self.members[-1])
        # out= costs more than the allocation it saves on small arrays.
        self.inplace = size is None or size >= INPLACE_MIN_SIZE
        self.program = _program(self.members, self.externals)
        self.numpy = _numpy_kernel(self, None)
        self._by_alias: dict[int, Any] = {}
        self.out_kernel = self._out_kernel if len(self.outputs) == 1 else None
        self.run = self.numpy
        self.calls = 0
        self.jit: _Jit | None = _Jit(self) if jit_fits(self.members) else None
        self._lock = threading.Lock()

    def fresh_output(self) -> bool:
        return True

    def label(self) -> str:
        names = dict.fromkeys(type(n.op).__name__ for n in self.members)
        return f"Fused[{len(self.members)}: {', '.join(names)}]"

    def forward(self, *xs: Any) -> Any:
        if self.jit is not None and self.run is self.numpy:
            self._maybe_compile(xs)
        try:
            return self.run(*xs)
        except Exception as exc:
            raise self._located(xs, exc) from exc

    def _out_kernel(self, *xs: Any, out: Any) -> Any:
        """The group computed with ``out`` (one of the externals, dead after this step) as
        one more buffer to write into."""
        p = next(k for k, x in enumerate(xs) if x is out)
        kernel = self._by_alias.get(p)
        if kernel is None:
            kernel = self._by_alias[p] = _numpy_kernel(self, p)
        try:
            return kernel(*xs)
        except Exception as exc:
            raise self._located(xs, exc) from exc

    def _maybe_compile(self, xs: tuple) -> None:
        self.calls += 1
        if self.calls < JIT_AFTER_CALLS or self.jit is None:
            return
        with self._lock:
            if self.jit is not None and self.run is self.numpy:
                runner = self.jit.compile(xs)
                if runner is None:
                    self.jit = None       # Numba cannot take this group: NumPy it is
                else:
                    self.run = runner

    def _located(self, xs: tuple, exc: Exception) -> Exception:
        """Replay the members one by one to name the one that failed."""
        values: dict[int, Any] = {id(n): x for n, x in zip(self.externals, xs)}
        for n in self.members:
            try:
                values[id(n)] = n.op.forward(*(values[id(i)] for i in n.inputs))
            except Exception as inner:
                cls = type(inner) if isinstance(inner, GraphdiffError) else GraphdiffError
                return cls(f"{n.op.label()} failed while computing {describe_full(n)}: "
                           f"{type(inner).__name__}: {inner}")
        return exc


class Unpack:
    """The step that takes output ``index`` out of a multi-output fused step."""

    view_of = None
    out_kernel = None
    differentiable = False

    def __init__(self, index: int, of: FusedKernel):
        self.index = index
        self.of = of
        self.kernel = _item(index)

    def fresh_output(self) -> bool:
        return True      # each output is an array the fused step allocated

    def label(self) -> str:
        return f"output {self.index} of {self.of.label()}"

    def forward(self, values: tuple) -> Any:
        return values[self.index]


def _item(index: int) -> Any:
    def item(values: tuple) -> Any:
        return values[index]
    return item


class StandIn(Node):
    """A node of a fused plan that the graph does not list (the user's graph never
    changes): it names, for messages, the member whose place it takes."""

    __slots__ = ()

    def __init__(self, like: Node, op: Any, inputs: tuple, shape: Any, dtype: Any):
        self.graph, self.op, self.inputs = like.graph, op, inputs
        self.name, self.shape, self.dtype, self.kind = like.name, shape, dtype, "op"
        self._value, self.weak, self.ones = None, False, False
        self.site, self.grad_of, self.made_by = like.site, like.grad_of, like.made_by
        self.shape_rep = like.shape_rep if shape is not None else self
        self._consumers: list[Node] = []
        self.index = like.index


# ---------------------------------------------------------------- the plan with fused steps
def fuse(plan: Plan) -> Plan | None:
    """``plan`` with each group of elementwise steps replaced by one fused step, or None
    when nothing fuses. The plan itself (and the graph) are left as they are.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> from graphdiff.compile import Plan, run_steps
    >>> g = gd.Graph(); x = g.input("x", shape=(None, 3)); b = g.parameter(np.ones(3))
    >>> plan = Plan(g, [gd.relu(x + b)])           # a batch of any size: worth fusing
    >>> fused = fuse(plan)
    >>> len(plan.steps), len(fused.steps)
    (2, 1)
    >>> run_steps(fused, fused.fill({plan.inputs[0][0]: np.array([[-2.0, 0.0, 2.0]])}))
    [array([[0., 1., 3.]])]
    """
    # With the JIT, groups stop at the size it compiles, so that every group can use it.
    jit = jit_module() is not None
    # Without the JIT, groups are trees with one output: a multi-output group would keep
    # its outputs alive to its end and save nothing that buffer reuse does not.
    groups = [g for g in find_groups(plan, JIT_MAX_MEMBERS if jit else MAX_MEMBERS,
                                     small=FUSE_SMALL or jit, trees=not jit)
              if FUSE_SMALL or _pays(g, plan.nodes)]
    if not groups:
        return None
    slot = plan.slot
    first = {g.members[0]: g for g in groups}
    dropped = {m for g in groups for m in g.members}
    order = list(plan.order)
    nodes: list[Node] = []
    steps: list[tuple] = []
    for k, (fn, ins, out, _) in enumerate(plan.steps):
        g = first.get(k)
        if g is None:
            if k not in dropped:
                nodes.append(plan.nodes[k])
                steps.append((fn, ins, out))
            continue
        kernel = FusedKernel(plan, g)
        ext = tuple(slot[id(x)] for x in g.externals)
        outs = kernel.outputs
        if len(outs) == 1:
            root = outs[0]
            node = StandIn(root, kernel, tuple(g.externals), root.shape, root.dtype)
            order[slot[id(root)]] = node
            nodes.append(node)
            steps.append((kernel.forward, ext, slot[id(root)]))
            continue
        tup = StandIn(outs[-1], kernel, tuple(g.externals), None, None)
        order.append(tup)
        nodes.append(tup)
        steps.append((kernel.forward, ext, len(order) - 1))
        for j, o in enumerate(outs):
            unpack = Unpack(j, kernel)
            node = StandIn(o, unpack, (tup,), o.shape, o.dtype)
            order[slot[id(o)]] = node
            nodes.append(node)
            steps.append((unpack.kernel, (len(order) - 1,), slot[id(o)]))
    nodes, steps = _topological(nodes, steps, plan.leaf_slots)
    return plan.rescheduled(order, nodes, steps)


def _topological(nodes: list[Node], steps: list[tuple], leaves: set[int]) -> tuple:
    """The steps in an order where each runs after the steps computing its inputs; among
    the ready ones, the earliest in the given order first (Kahn's algorithm, a heap)."""
    import heapq

    producer = {out: k for k, (_, _, out) in enumerate(steps)}
    waiting = [0] * len(steps)
    readers: list[list[int]] = [[] for _ in steps]
    for k, (_, ins, _) in enumerate(steps):
        for p in {producer[s] for s in ins if s in producer}:
            waiting[k] += 1
            readers[p].append(k)
    ready = [k for k in range(len(steps)) if waiting[k] == 0]
    heapq.heapify(ready)
    done: list[int] = []
    while ready:
        k = heapq.heappop(ready)
        done.append(k)
        for r in readers[k]:
            waiting[r] -= 1
            if waiting[r] == 0:
                heapq.heappush(ready, r)
    if len(done) != len(steps):   # cannot happen (see find_groups): say so loudly
        raise GraphdiffError("fusion made a cycle in the schedule")
    return [nodes[k] for k in done], [steps[k] for k in done]


def _size(node: Node) -> int | None:
    """Elements of node's static shape (None when unknown); plain ints: np.prod per node
    would cost more than the rest of the grouping."""
    size = 1
    for d in node.shape:
        if d is None:
            return None
        size *= d
    return size


def jit_fits(members: list[Node]) -> bool:
    """True when the JIT is on and compiles a group of these members (see JIT_MAX_SIZE)."""
    size = _size(members[-1])
    return (JIT_MIN_MEMBERS <= len(members) <= JIT_MAX_MEMBERS and size is not None
            and size <= JIT_MAX_SIZE and jit_module() is not None)


def _pays(group: Group, nodes: list[Node]) -> bool:
    """A fused step saves something: its NumPy kernel writes in place, or the JIT runs it."""
    members = [nodes[m] for m in group.members]
    size = _size(members[-1])
    return size is None or size >= INPLACE_MIN_SIZE or jit_fits(members)


# Structurally equal groups (the repeats of a chain) generate the same source: Python's
# compiler runs once per distinct source (bounded: cleared when full).
_CODE: dict[str, Any] = {}
CODE_CACHE_SIZE = 4096


def _compiled(source: str, filename: str) -> Any:
    code = _CODE.get(source)
    if code is None:
        if len(_CODE) >= CODE_CACHE_SIZE:
            _CODE.clear()
        code = _CODE[source] = compile(source, filename, "exec")
    return code


# ---------------------------------------------------------------- the NumPy kernel
def _program(members: list[Node], externals: list[Node]) -> list[tuple[Node, tuple]]:
    """Each member with its operands as ("x", k) (external k) or ("t", j) (member j)."""
    ref: dict[int, tuple] = {id(x): ("x", k) for k, x in enumerate(externals)}
    program = []
    for j, n in enumerate(members):
        program.append((n, tuple(ref[id(i)] for i in n.inputs)))
        ref[id(n)] = ("t", j)
    return program


def _numpy_kernel(kernel: FusedKernel, alias: int | None) -> Any:
    """A generated function computing the group with NumPy: each result goes into the
    buffer of an operand whose value dies there (an interior member, or the external
    ``alias`` that buffer reuse handed over), fresh otherwise."""
    program = kernel.program
    outputs = {id(n) for n in kernel.outputs}
    last: dict[tuple, int] = {}
    for j, (_, refs) in enumerate(program):
        for r in refs:
            last[r] = j
    owned = {("t", j) for j, (n, _) in enumerate(program) if id(n) not in outputs}
    if alias is not None:
        owned.add(("x", alias))
    names = {("x", k): f"x{k}" for k in range(len(kernel.externals))}
    namespace: dict[str, Any] = {}
    lines = [f"def fused({', '.join(names[('x', k)] for k in range(len(kernel.externals)))}):"]
    for j, (n, refs) in enumerate(program):
        args = ", ".join(names[r] for r in refs)
        target = None
        if kernel.inplace and n.op.out_kernel is not None:
            target = next((r for r in refs if r in owned and last[r] == j), None)
        if target is not None:
            namespace[f"o{j}"] = n.op.out_kernel
            lines.append(f"    t{j} = o{j}({args}, out={names[target]})")
            owned.discard(target)
        else:
            kernel_fn = getattr(n.op, "kernel", None)
            namespace[f"f{j}"] = kernel_fn if kernel_fn is not None else n.op.forward
            lines.append(f"    t{j} = f{j}({args})")
        names[("t", j)] = f"t{j}"
        dead = [names[r] for r in dict.fromkeys(refs) if last[r] == j and r[0] == "t"
                and r != target and id(program[r[1]][0]) not in outputs]
        if dead:
            lines.append(f"    del {', '.join(dead)}")
    outs = [f"t{j}" for j, (n, _) in enumerate(program) if id(n) in outputs]
    lines.append(f"    return {outs[0]}" if len(outs) == 1 else f"    return ({', '.join(outs)},)")
    source = "\n".join(lines)
    exec(_compiled(source, "<graphdiff fused>"), namespace)
    namespace["fused"].source = source     # for reading what a group does
    return namespace["fused"]


# ---------------------------------------------------------------- the JIT (Numba)
_jit_state: dict[str, Any] = {}


def jit_module() -> Any:
    """The Numba module when the JIT is asked for (``GRAPHDIFF_JIT=1``) and the ``fast``
    extra is installed, else None: fused steps then run in NumPy.

    It is not the default because Numba's transcendental functions (the C library's) and
    NumPy's own (SIMD) ones differ in the last bit: with it, ``g.function`` and ``g.run``
    would no longer return the same bits, which the NumPy path guarantees.

    Examples
    --------
    >>> jit_module() is None or hasattr(jit_module(), "njit")
    True
    """
    if "numba" not in _jit_state:
        module = None
        if os.environ.get("GRAPHDIFF_JIT", "0") == "1":
            try:
                import numba as module  # noqa: F811  (optional: the ``fast`` extra)
            except Exception:  # absent, or broken against this NumPy: run NumPy
                module = None
        _jit_state["numba"] = module
    return _jit_state["numba"]


def forget_jit() -> None:
    """Look for Numba again on the next compile (tests simulate its absence with this)."""
    _jit_state.clear()


# Integer loops may only use ufuncs that cannot trap or differ between NumPy and Numba
# (integer division by zero, negative powers, modulo signs).
_INT_SAFE = {"add", "subtract", "multiply", "negative", "positive", "absolute", "square",
             "maximum", "minimum", "greater", "greater_equal", "less", "less_equal",
             "equal", "not_equal", "logical_and", "logical_or", "logical_xor",
             "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor", "invert", "sign"}


class _Untraceable(Exception):
    pass


class _Tracer:
    """Records the ufunc calls an op's ``forward`` makes on placeholder operands."""

    def __init__(self) -> None:
        self.calls: list[tuple[np.ufunc, tuple]] = []

    def emit(self, ufunc: Any, args: tuple) -> _Value:
        refs = []
        for a in args:
            if isinstance(a, _Value):
                refs.append(a.ref)
            elif type(a) in (bool, int, float):
                refs.append(("c", a))
            elif isinstance(a, np.generic) and a.dtype.kind in "biuf":
                refs.append(("c", a))
            else:
                raise _Untraceable(f"operand {a!r}")
        self.calls.append((ufunc, tuple(refs)))
        return _Value(self, ("v", len(self.calls) - 1))


def _op(ufunc: Any, swap: bool = False) -> Any:
    def method(self: _Value, other: Any) -> Any:
        return self.tracer.emit(ufunc, (other, self) if swap else (self, other))
    return method


class _Value:
    """A placeholder operand: every ufunc applied to it is recorded, anything else (an
    attribute, a branch on its value, a non-ufunc function) makes the op untraceable."""

    __slots__ = ("tracer", "ref")

    def __init__(self, tracer: _Tracer, ref: tuple):
        self.tracer, self.ref = tracer, ref

    def __array_ufunc__(self, ufunc: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        if method != "__call__" or kwargs or ufunc.nout != 1:
            raise _Untraceable(f"{ufunc.__name__}.{method}")
        return self.tracer.emit(ufunc, args)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func is np.where and len(args) == 3 and not kwargs:
            return self.tracer.emit(_WHERE, args)
        raise _Untraceable(func.__name__)

    def __bool__(self) -> bool:
        raise _Untraceable("a branch on a value")

    __add__, __radd__ = _op(np.add), _op(np.add, True)
    __sub__, __rsub__ = _op(np.subtract), _op(np.subtract, True)
    __mul__, __rmul__ = _op(np.multiply), _op(np.multiply, True)
    __truediv__, __rtruediv__ = _op(np.divide), _op(np.divide, True)
    __pow__, __rpow__ = _op(np.power), _op(np.power, True)
    __gt__, __ge__ = _op(np.greater), _op(np.greater_equal)
    __lt__, __le__ = _op(np.less), _op(np.less_equal)
    __and__, __or__ = _op(np.bitwise_and), _op(np.bitwise_or)

    def __neg__(self) -> Any:
        return self.tracer.emit(np.negative, (self,))

    def __abs__(self) -> Any:
        return self.tracer.emit(np.absolute, (self,))


class _WhereMarker:
    """np.where(c, x, y) in a trace: a select, typed as NumPy types it."""

    __name__ = "where"
    nout = 1

    @staticmethod
    def resolve_dtypes(dtypes: tuple) -> tuple:
        c, x, y, _ = dtypes
        out = np.result_type(x, y) if not (isinstance(x, type) and isinstance(y, type)) \
            else np.result_type(x(0), y(0))
        return (np.dtype(bool), out, out, out)


_WHERE = _WhereMarker()


def _trace(op: Any, arity: int) -> list[tuple] | None:
    """The ufunc calls of ``op.forward`` (cached per op), or None when it is untraceable."""
    cache = _jit_state.setdefault("traces", {})
    key = (id(op), arity)
    hit = cache.get(key)
    if hit is not None:
        return hit[1]
    tracer = _Tracer()
    try:
        with np.errstate(all="ignore"):
            result = op.forward(*(_Value(tracer, ("a", k)) for k in range(arity)))
        calls = tracer.calls if isinstance(result, _Value) else None
        if calls is not None and result.ref != ("v", len(calls) - 1):
            calls = None
    except Exception:
        calls = None
    cache[key] = (op, calls)      # the op is kept alive so that its id stays its own
    return calls


def _literal(value: Any, dtype: np.dtype) -> str:
    value = dtype.type(value)
    if dtype.kind == "b":
        return "True" if value else "False"
    if dtype.kind == "f":
        return f"np.{dtype.name}({float(value)!r})"
    return f"np.{dtype.name}({int(value)})"


def _cast(expr: str, have: Any, want: np.dtype) -> str:
    if have == want:
        return expr
    if want.kind == "b":
        return f"bool({expr})"
    return f"np.{want.name}({expr})"


class _Jit:
    """The Numba loop of one group: generated from the members' traces, compiled on
    demand, used only for the dtypes it was generated for."""

    def __init__(self, kernel: FusedKernel):
        self.kernel = kernel

    def source(self) -> str | None:
        """The loop's source (None: some member cannot be expressed)."""
        k = self.kernel
        if k.dtype.kind not in "biuf":
            return None
        ndim = len(k.shape)
        idx = ", ".join(f"i{d}" for d in range(ndim))
        args = [f"x{j}" for j, x in enumerate(k.externals) if not x.weak]
        outs = [f"o{j}" for j in range(len(k.outputs))]
        body: list[str] = []
        types: dict[str, Any] = {}
        names: dict[tuple, str] = {}
        for j, x in enumerate(k.externals):
            if x.weak:
                if type(x.value) not in (bool, int, float):
                    return None
                names[("x", j)] = ("weak", x.value)
            else:
                if x.dtype is None or x.dtype.kind not in "biuf":
                    return None
                names[("x", j)] = f"x{j}[{idx}]"
                types[f"x{j}[{idx}]"] = x.dtype
        outputs = {id(n): f"o{p}" for p, n in enumerate(k.outputs)}
        counter = 0
        for j, (n, refs) in enumerate(k.program):
            calls = _trace(n.op, len(refs))
            if not calls:
                return None
            local: list[Any] = []
            for ufunc, operands in calls:
                exprs, dtypes = [], []
                for r in operands:
                    if r[0] == "a":
                        v = names[refs[r[1]]]
                    elif r[0] == "v":
                        v = local[r[1]]
                    else:
                        v = ("weak", r[1]) if type(r[1]) in (bool, int, float) else \
                            ("const", r[1])
                    if isinstance(v, tuple):
                        exprs.append(v)
                        dtypes.append(type(v[1]) if v[0] == "weak" else v[1].dtype)
                    else:
                        exprs.append(v)
                        dtypes.append(types[v])
                try:
                    loop = ufunc.resolve_dtypes(tuple(dtypes) + (None,))
                except Exception:
                    return None
                out_dtype = np.dtype(loop[-1])
                if out_dtype.kind not in "biuf":
                    return None
                if out_dtype.kind in "iu" or any(np.dtype(d).kind in "iu" for d in loop[:-1]):
                    if ufunc.__name__ not in _INT_SAFE:
                        return None
                cast = []
                for e, have, want in zip(exprs, dtypes, loop[:-1]):
                    want = np.dtype(want)
                    if isinstance(e, tuple):
                        cast.append(_literal(e[1], want))
                    else:
                        cast.append(_cast(e, have, want))
                if ufunc is _WHERE:
                    expr = f"({cast[1]} if {cast[0]} else {cast[2]})"
                else:
                    expr = f"np.{ufunc.__name__}({', '.join(cast)})"
                name = f"v{counter}"
                counter += 1
                body.append(f"{name} = {_cast(expr, object, out_dtype)}")
                types[name] = out_dtype
                local.append(name)
            result = local[-1]
            if types[result] != n.dtype:
                return None
            names[("t", j)] = result
            if id(n) in outputs:
                body.append(f"{outputs[id(n)]}[{idx}] = {result}")
        lines = [f"def loop({', '.join(args + outs)}):"]
        pad = "    "
        for d in range(ndim):
            lines.append(f"{pad}for i{d} in range({outs[0]}.shape[{d}]):")
            pad += "    "
        lines.extend(pad + b for b in body)
        return "\n".join(lines)

    def compile(self, xs: tuple) -> Any:
        """A runner with the NumPy kernel's signature, or None when Numba cannot do it."""
        numba = jit_module()
        source = self.source() if numba is not None else None
        if source is None:
            return None
        k = self.kernel
        namespace: dict[str, Any] = {"np": np}
        try:
            exec(compile(source, "<graphdiff fused loop>", "exec"), namespace)
            loop = numba.njit(nogil=True, cache=False, error_model="numpy")(namespace["loop"])
            runner = _runner(k, loop)
            expected = k.numpy(*xs)
            got = runner(*xs)          # compiles now, for these argument types
        except Exception:
            return None
        want = expected if isinstance(expected, tuple) else (expected,)
        have = got if isinstance(got, tuple) else (got,)
        if not all(a.dtype == b.dtype and a.shape == b.shape for a, b in zip(want, have)):
            return None
        return runner


def _runner(k: FusedKernel, loop: Any) -> Any:
    """The Python side of a compiled loop: dtype guard, shape, broadcast operands, output
    arrays. Operands of other dtypes than the loop's go to the NumPy kernel."""
    namespace: dict[str, Any] = {"loop": loop, "numpy_kernel": k.numpy, "empty": np.empty,
                                 "broadcast_to": np.broadcast_to, "np": np}
    xs = [f"x{j}" for j in range(len(k.externals))]
    lines = [f"def run({', '.join(xs)}):"]
    guards = []
    root = k.members[-1]
    full = None
    for j, x in enumerate(k.externals):
        if x.weak:
            continue
        namespace[f"D{j}"] = x.dtype
        guards.append(f"getattr(x{j}, 'dtype', None) is not D{j}")
        if full is None and _same_shape(x, root):
            full = j
    if guards:
        lines.append(f"    if {' or '.join(guards)}:")
        lines.append(f"        return numpy_kernel({', '.join(xs)})")
    if None not in k.shape:
        namespace["SHAPE"] = tuple(k.shape)
        lines.append("    shape = SHAPE")
    elif full is not None:
        lines.append(f"    shape = x{full}.shape")
    else:
        arrays = [f"np.shape(x{j})" for j, x in enumerate(k.externals) if not x.weak]
        lines.append(f"    shape = np.broadcast_shapes({', '.join(arrays)})")
    call = []
    for j, x in enumerate(k.externals):
        if x.weak:
            continue
        if _same_shape(x, root):
            call.append(f"x{j}")
        else:
            call.append(f"broadcast_to(x{j}, shape)")
    namespace["DTYPE"] = k.dtype
    outs = [f"o{p}" for p in range(len(k.outputs))]
    for o in outs:
        lines.append(f"    {o} = empty(shape, DTYPE)")
    lines.append(f"    loop({', '.join(call + outs)})")
    lines.append(f"    return {outs[0]}" if len(outs) == 1 else f"    return ({', '.join(outs)},)")
    exec(compile("\n".join(lines), "<graphdiff fused runner>", "exec"), namespace)
    return namespace["run"]
