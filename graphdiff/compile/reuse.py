"""In-place buffer reuse: which steps of a plan may write their result into the buffer of
an input that dies at that step.

The invariants, each enforced where marked below:

* **Owners.** Every slot has an owner: the slot whose buffer its value may share. A fresh
  output (``op.fresh_output()``) owns itself; a declared view (``op.view_of``) shares its
  viewed input's owner; an op that declares nothing may share any input's memory, so it
  and all its inputs' owners are treated as one group and sealed.
* **Sealed buffers are never overwritten.** Leaves (parameters, constants, fed inputs)
  belong to the caller or the graph: writing them would change the graph or the caller's
  array. Fetched slots (and every buffer they may share) are handed to the caller after
  the run. Inputs of undeclared ops may be aliased in ways the plan cannot see. A node
  with no inputs (a custom source op) may return the same array on every call.
* **A buffer dies with its whole group.** A slot is reused at step k only when it owns
  its buffer, k is the last step reading *any* value sharing that buffer (``group_end``),
  and the result has the input's dtype and (statically) its shape.
* **N-ary kernels skip aliased terms.** A kernel with three or more terms (``AddN``)
  reads its terms one after another; writing into a term that another term views would
  change that term before it is read. A slot occurring twice among the inputs is skipped
  for the same reason.

Only NumPy arrays are ever reused (the runtime asks ``plain`` first): other libraries may
not honour ``out=``. Small arrays are skipped: on them ``out=`` costs more than the
allocation it saves.

Across calls and threads (what the tests in ``tests/test_planner.py`` check):

* **Planned once.** The reuse plan is computed once per compiled function, from static
  shapes only (a ``None`` dimension counts as equal only where ``same_shape`` proves it),
  so it holds for every input-shape signature the function is called with.
* **No buffer outlives its call.** Buffers are reused within one call only: every call
  fills its own list of value slots and allocates its own intermediates, and the
  generated code keeps no state between calls. So arrays returned to the caller are
  never written by a later call, and two threads running one function at once share no
  buffer (each call is its own arena).
* **Views are never written through.** A view's value shares its base's owner, so the
  base is written only after the last read of the base and of every view of it; a
  fetched view seals its base.
"""

from __future__ import annotations

import math
from typing import Any

from ..shapes import same_shape

INPLACE_MIN_SIZE = 1024


def reusable_inputs(plan: Any) -> dict[int, int]:
    """step -> input slot whose buffer that step may overwrite with its result.

    Examples
    --------
    >>> import graphdiff as gd
    >>> from graphdiff.compile import Plan, reusable_inputs
    >>> g = gd.Graph(); x = g.input("x", shape=(4096,))
    >>> y = gd.exp(x) + 1.0
    >>> reusable_inputs(Plan(g, [y]))       # exp's fresh result is overwritten by the add
    {1: 1}
    """
    slot = plan.slot
    owner: dict[int, int] = {}      # slot -> slot owning the memory it may share
    sealed: set[int] = set(plan.leaf_slots) | plan.keep     # leaves and fetches: never written
    for n in plan.nodes:
        s = slot[id(n)]
        view_of = n.op.view_of
        if n.op.fresh_output():
            owner[s] = s
        elif not n.inputs:
            owner[s] = s
            sealed.add(s)          # a source op may hand out the same array every call
        elif view_of is not None and 0 <= view_of < len(n.inputs):
            i = slot[id(n.inputs[view_of])]
            owner[s] = owner.get(i, i)
        else:
            # An undeclared op may share memory with any of its inputs: seal them all.
            roots = {owner.get(slot[id(i)], slot[id(i)]) for i in n.inputs}
            owner[s] = min(roots)
            sealed.update(roots)
            sealed.add(s)
    # The buffer of a group lives until the last read of any of its members.
    group_end: dict[int, int] = {}
    for s, step in plan.last_use.items():
        root = owner.get(s, s)
        group_end[root] = max(group_end.get(root, -1), step)
    for s in plan.keep:
        sealed.add(owner.get(s, s))    # a fetched view keeps its base's buffer alive too
    reuse: dict[int, int] = {}
    for k, n in enumerate(plan.nodes):
        if n.op.out_kernel is None or n.shape is None or len(n.shape) == 0:
            continue
        if None not in n.shape and math.prod(n.shape) < INPLACE_MIN_SIZE:
            continue
        in_slots = [slot[id(i)] for i in n.inputs]
        for pos, i in enumerate(n.inputs):
            s = slot[id(i)]
            if in_slots.count(s) != 1 or (len(in_slots) > 2 and any(
                    owner.get(o, o) == s for o in in_slots if o != s)):
                continue  # an n-ary kernel would read a term it already overwrote
            if (owner.get(s) == s and s not in sealed and group_end.get(s) == k
                    and i.dtype is not None and i.dtype == n.dtype
                    and same_shape(i, n, n.inputs[:pos] + n.inputs[pos + 1:])):
                reuse[k] = s
                break
    return reuse
