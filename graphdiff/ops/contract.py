"""Contractions: ``gd.einsum`` (a primitive) and the NumPy functions composed from it and
from matmul and multiply: ``dot inner outer tensordot kron cross trace``.

An einsum is linear in each operand, so its gradient with respect to one operand is
another einsum: the output's subscripts swapped with that operand's. Two cases need
more than the swap: an index repeated within the operand (``'ii->i'``), whose gradient
lives on a diagonal (an identity factor puts it there), and an index of the operand that
no other term carries (``'ij->i'``), whose gradient is broadcast along it.
"""

from __future__ import annotations

import string
from typing import Any, Sequence

import numpy as np

from ..errors import GraphError
from ..graph import Node, describe
from ..op import Op, add_n, as_int, as_ints, make_node, wrap
from ..shapes import known, result_dtype
from ..site import creation_site, format_site
from .elementwise import add, multiply, subtract
from .index import check_real, index
from .linalg import matmul
from .reduce import sum as reduce_sum
from .shape import (
    broadcast_like,
    diagonal,
    expand_dims,
    moveaxis,
    ravel,
    reshape,
    stack,
    zeros_like,
)

ArrayLike = Any


def _fail(what: str, message: str) -> GraphError:
    return GraphError(f"{what}: {message} at {format_site(creation_site())}")


# ---------------------------------------------------------------- subscripts
def parse_subscripts(subscripts: str, nodes: Sequence[Node]) -> str:
    """NumPy's einsum subscripts made explicit: ellipses replaced by letters (broadcast
    dimensions right-aligned, as NumPy aligns them) and the output written out
    (implicit mode: the broadcast dimensions, then the letters used once, sorted)."""
    text = subscripts.replace(" ", "")
    lhs, arrow, rhs = text.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(nodes):
        raise _fail("einsum", f"{len(terms)} operand subscripts for {len(nodes)} operands")
    used = set(text) - set(".,->")
    bad = [c for c in used if c not in string.ascii_letters]
    if bad:
        raise _fail("einsum", f"invalid subscript {bad[0]!r} in {subscripts!r}")
    free = [c for c in string.ascii_letters if c not in used]
    explicit, longest = [], 0
    for term, node in zip(terms, nodes):
        if node.shape is None:
            raise _fail("einsum", f"operands need a known rank, {describe(node)} has none")
        ndim = len(node.shape)
        if term.count("...") > 1 or term.replace("...", "").count(".") \
                or (not term.count("...") and "." in term):
            raise _fail("einsum", f"invalid ellipsis in {term!r}")
        letters = term.replace("...", "")
        if "..." in term:
            extra = ndim - len(letters)
            if extra < 0:
                raise _fail("einsum", f"operand {describe(node)} of shape {node.shape} has "
                            f"fewer dimensions than subscripts {term!r}")
            longest = max(longest, extra)
            term = term.replace("...", "\0" * extra)
        elif len(letters) != ndim:
            raise _fail("einsum", f"subscripts {term!r} do not match the rank of "
                        f"{describe(node)} of shape {node.shape}")
        explicit.append(term)
    broadcast = free[:longest]
    out_terms = []
    for term in explicit:
        extra = term.count("\0")
        out_terms.append(term.replace("\0" * extra, "".join(broadcast[longest - extra:]))
                         if extra else term)
    if arrow:
        if rhs.count("...") > 1 or rhs.replace("...", "").count("."):
            raise _fail("einsum", f"invalid ellipsis in output {rhs!r}")
        if longest and "..." not in rhs:
            raise _fail("einsum", "output has more dimensions than subscripts given in "
                        "einstein sum, but no '...' ellipsis provided to broadcast the extra "
                        "dimensions")
        out = rhs.replace("...", "".join(broadcast))
        inputs = "".join(out_terms)
        for c in out:
            if c not in inputs:
                raise _fail("einsum", f"output subscript {c!r} appears in no operand")
        if len(set(out)) != len(out):
            raise _fail("einsum", f"output subscripts {rhs!r} repeat a letter")
    else:
        counts = "".join(t.replace("\0", "") for t in explicit)
        out = "".join(broadcast) + "".join(sorted(c for c in set(counts)
                                                  if counts.count(c) == 1))
    return ",".join(out_terms) + "->" + out


def _split_subscripts(subscripts: str) -> tuple[list[str], str]:
    lhs, _, out = subscripts.partition("->")
    return lhs.split(","), out


def _letter_sizes(terms: Sequence[str], shapes: Sequence[tuple]) -> dict[str, Any]:
    """Each letter's size: the one size other than 1 its dimensions have (1 broadcasts,
    as NumPy's einsum broadcasts); None where unknown; GraphError on a conflict."""
    sizes: dict[str, Any] = {}
    unknown = set()
    for term, shape in zip(terms, shapes):
        within: dict[str, Any] = {}
        for c, d in zip(term, shape):
            # A letter repeated in one operand names a diagonal: no broadcasting there.
            if d is not None and within.setdefault(c, d) != d:
                raise GraphError(f"einsum: subscript {c!r} is repeated in {term!r} over "
                                 f"dimensions of sizes {within[c]} and {d} (shape {shape})")
            if d is None:
                unknown.add(c)
            elif d != 1:
                if sizes.get(c, 1) not in (1, d):
                    raise GraphError(f"einsum: subscript {c!r} has sizes {sizes[c]} and {d} "
                                     f"(operand shapes {list(shapes)})")
                sizes[c] = d
            else:
                sizes.setdefault(c, 1)
    for c in unknown:
        if sizes.get(c, 1) == 1:
            sizes[c] = None
    return sizes


class Einsum(Op):
    """einsum(subscripts, *xs), subscripts explicit; linear in each operand, so
    d/dx_i is the einsum of the gradient with the other operands."""

    __props__ = ("subscripts",)

    def __init__(self, subscripts):
        self.subscripts = subscripts
        # One operand: NumPy may return a view of it ('ii->i', 'ij->ji').
        self.view_of = None if "," in subscripts else 0

    def forward(self, *xs):
        return np.einsum(self.subscripts, *xs, optimize=len(xs) > 1)

    def infer(self, *xs):
        terms, out = _split_subscripts(self.subscripts)
        if any(x.shape is None for x in xs):
            return None, result_dtype(*xs)
        sizes = _letter_sizes(terms, [x.shape for x in xs])
        return tuple(sizes[c] for c in out), result_dtype(*xs)

    def flops(self, input_shapes, output_shape):
        terms, _ = _split_subscripts(self.subscripts)
        sizes: dict[str, int] = {}
        for term, shape in zip(terms, input_shapes):
            for c, d in zip(term, shape):
                sizes[c] = max(sizes.get(c, 1), d)
        # A multiply and an add per term of the full sum (as matmul counts 2 m n k); one
        # operand only adds. An upper bound for three or more: the path is optimised.
        per_term = 1 if len(terms) == 1 else len(terms)
        return per_term * int(np.prod(list(sizes.values()), dtype=np.int64))

    def broadcasts(self, inputs):
        return True  # a size-1 dimension meeting a larger one: build_grad sums it back

    def vjp(self, i, inputs, output, grad):
        terms, out = _split_subscripts(self.subscripts)
        target = terms[i]
        others = [t for k, t in enumerate(terms) if k != i]
        operands = [grad] + [x for k, x in enumerate(inputs) if k != i]
        spare = [c for c in string.ascii_letters if c not in self.subscripts]
        # A letter repeated in the operand: its later occurrences get fresh letters, tied
        # to the first by an identity factor, so the gradient lands on the diagonal.
        renamed, seen = [], {}
        for axis, c in enumerate(target):
            if c in seen:
                fresh = spare.pop(0)
                others.append(c + fresh)
                operands.append(make_node(Eye(axis), inputs[i], grad))
                renamed.append(fresh)
            else:
                seen[c] = axis
                renamed.append(c)
        available = set(out) | set("".join(others))
        kept = "".join(c for c in renamed if c in available)
        term = einsum(",".join([out] + others) + "->" + kept, *operands)
        missing = tuple(k for k, c in enumerate(renamed) if c not in available)
        x = inputs[i]
        if missing:
            # Letters no other term carries were summed over: broadcast back along them.
            term = expand_dims(term, missing)
            if x.shape is not None and term.shape is not None and all(
                    t in (1, d) for t, d in zip(term.shape, x.shape)):
                return broadcast_like(term, x)
            return add(term, zeros_like(x, grad))
        if x.shape is not None and term.shape is not None and known(x.shape) \
                and known(term.shape) and any(t == 1 < d for t, d in zip(term.shape, x.shape)):
            # x's letter met only size-1 axes elsewhere ('aa,a' of shapes (1, 1), (2,)):
            # broadcast up there (build_grad sums down wherever the term is larger).
            if all(t in (1, d) for t, d in zip(term.shape, x.shape)):
                return broadcast_like(term, x)
            return add(term, zeros_like(x, grad))
        return term

    def jvp(self, inputs, tangents, output):
        terms = []
        for i, t in enumerate(tangents):
            if t is not None:
                xs = list(inputs)
                xs[i] = t
                terms.append(make_node(self, *xs))
        return add_n(terms)


class Eye(Op):
    """The identity matrix of size ref.shape[axis], of like's dtype; no gradient."""

    __props__ = ("axis",)
    differentiable = False

    def __init__(self, axis):
        self.axis = axis

    def forward(self, ref, like):
        return np.eye(ref.shape[self.axis], dtype=like.dtype)

    def infer(self, ref, like):
        n = None if ref.shape is None else ref.shape[self.axis]
        return (n, n), like.dtype


def einsum(subscripts: str, *operands: ArrayLike, optimize: Any = True) -> Node:
    """Einstein summation, as ``np.einsum``: explicit (``'ij,jk->ik'``) and implicit
    subscripts, ``...`` for broadcast dimensions, repeated letters for diagonals. The
    product order is always optimised (``optimize`` is accepted for NumPy's signature).
    Operands need a known rank. Where sizes are unknown statically, a gradient assumes an
    operand's axis is no larger than the other operands' axes of the same letter (size-1
    broadcasting of a letter is handled when the sizes are known).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); a = g.input("a", shape=(2, 3)); b = g.input("b", shape=(3, 4))
    >>> gd.einsum("ij,jk->ik", a, b).shape
    (2, 4)
    >>> g.run(gd.einsum("ii", a[:, :2]), feed={a: np.eye(2, 3)})
    array(2.)
    """
    if not isinstance(subscripts, str):
        raise TypeError("einsum: subscripts must be a string (the sublist form is not "
                        f"supported) at {format_site(creation_site())}")
    nodes = wrap("einsum", *operands)
    check_real("einsum", *nodes)
    return make_node(Einsum(parse_subscripts(subscripts, nodes)), *nodes)


# ---------------------------------------------------------------- compositions
def _rank(what: str, x: Node) -> int:
    if x.shape is None:
        raise _fail(what, f"needs operands of known rank, {describe(x)} has none")
    return len(x.shape)


def _operands(what: str, *values: ArrayLike) -> list[Node]:
    nodes = wrap(what, *values)
    check_real(what, *nodes)
    for x in nodes:
        _rank(what, x)
    return list(nodes)


def tensordot(a: ArrayLike, b: ArrayLike, axes: Any = 2) -> Node:
    """Sum products over the given axes, as ``np.tensordot`` (``axes`` an int N: the last
    N of a with the first N of b; or a pair of axis sequences).

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); a = g.input("a", shape=(2, 3, 4)); b = g.input("b", shape=(3, 4, 5))
    >>> gd.tensordot(a, b).shape
    (2, 5)
    >>> gd.tensordot(a, b, axes=([1], [0])).shape
    (2, 4, 4, 5)
    """
    a, b = _operands("tensordot", a, b)
    na, nb = len(a.shape), len(b.shape)
    if isinstance(axes, (int, np.integer)):
        n = as_int(axes, "tensordot axes")
        if n < 0 or n > na or n > nb:
            raise _fail("tensordot", f"axes={n} does not fit shapes {a.shape} and {b.shape}")
        axes_a, axes_b = tuple(range(na - n, na)), tuple(range(n))
    else:
        try:
            first, second = axes
        except (TypeError, ValueError):
            raise TypeError("tensordot: axes must be an int or a pair of axis sequences") \
                from None
        axes_a, axes_b = as_ints(first, "tensordot axes"), as_ints(second, "tensordot axes")
    if len(axes_a) != len(axes_b):
        raise _fail("tensordot", f"shape-mismatch for sum: axes {axes_a} and {axes_b}")
    for ax, n, x in ((axes_a, na, a), (axes_b, nb, b)):
        if any(not -n <= v < n for v in ax):
            raise _fail("tensordot", f"axes {ax} out of range for shape {x.shape}")
    axes_a = tuple(v % na for v in axes_a)
    axes_b = tuple(v % nb for v in axes_b)
    if len(set(axes_a)) != len(axes_a) or len(set(axes_b)) != len(axes_b):
        raise _fail("tensordot", "repeated axes")
    for p, q in zip(axes_a, axes_b):
        da, db = a.shape[p], b.shape[q]
        if da is not None and db is not None and da != db:
            raise _fail("tensordot", f"shape-mismatch for sum: {a.shape} axis {p} and "
                        f"{b.shape} axis {q}")
    letters = string.ascii_letters
    sa = list(letters[:na])
    sb = list(letters[na:na + nb])
    for p, q in zip(axes_a, axes_b):
        sb[q] = sa[p]
    out = [sa[k] for k in range(na) if k not in axes_a] + \
        [sb[k] for k in range(nb) if k not in axes_b]
    return make_node(Einsum("".join(sa) + "," + "".join(sb) + "->" + "".join(out)), a, b)


def dot(a: ArrayLike, b: ArrayLike) -> Node:
    """The dot product, as ``np.dot``: a product for scalars, matmul for 1-D and 2-D
    operands, and for N-D a sum over a's last axis and b's second-to-last.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); a = g.input("a", shape=(3,))
    >>> g.run(gd.dot(a, a), feed={a: np.array([1.0, 2.0, 3.0])})
    array(14.)
    """
    a, b = _operands("dot", a, b)
    na, nb = len(a.shape), len(b.shape)
    if na == 0 or nb == 0:
        return multiply(a, b)
    if nb == 1 or (na <= 2 and nb <= 2):
        return matmul(a, b)
    return tensordot(a, b, axes=([na - 1], [nb - 2]))


def inner(a: ArrayLike, b: ArrayLike) -> Node:
    """Sum of products over the last axes, as ``np.inner``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); a = g.input("a", shape=(2, 3)); b = g.input("b", shape=(4, 3))
    >>> gd.inner(a, b).shape
    (2, 4)
    """
    a, b = _operands("inner", a, b)
    na, nb = len(a.shape), len(b.shape)
    if na == 0 or nb == 0:
        return multiply(a, b)
    return tensordot(a, b, axes=([na - 1], [nb - 1]))


def outer(a: ArrayLike, b: ArrayLike) -> Node:
    """The outer product of the flattened operands, as ``np.outer``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); a = g.input("a", shape=(2,)); b = g.input("b", shape=(3,))
    >>> gd.outer(a, b).shape
    (2, 3)
    """
    a, b = _operands("outer", a, b)
    return multiply(reshape(ravel(a), (-1, 1)), reshape(ravel(b), (1, -1)))


def kron(a: ArrayLike, b: ArrayLike) -> Node:
    """The Kronecker product, as ``np.kron`` (the operand of lower rank gets leading
    axes of size 1); the result's shape must be known statically up to one dimension.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); a = g.input("a", shape=(2,)); b = g.input("b", shape=(2,))
    >>> g.run(gd.kron(a, b), feed={a: np.array([1.0, 2.0]), b: np.array([1.0, 10.0])})
    array([ 1., 10.,  2., 20.])
    """
    a, b = _operands("kron", a, b)
    n = max(len(a.shape), len(b.shape))
    if n == 0:
        return multiply(a, b)
    a = reshape(a, (1,) * (n - len(a.shape)) + a.shape) if len(a.shape) < n else a
    b = reshape(b, (1,) * (n - len(b.shape)) + b.shape) if len(b.shape) < n else b
    shape = tuple(None if p is None or q is None else p * q for p, q in zip(a.shape, b.shape))
    if shape.count(None) > 1:
        raise _fail("kron", f"needs shapes known up to one dimension, got {a.shape} and "
                    f"{b.shape}")
    # a[i] b[j] at position (i, j) of each axis pair, then each pair merged into one axis.
    pairs = multiply(expand_dims(a, tuple(range(1, 2 * n, 2))),
                     expand_dims(b, tuple(range(0, 2 * n, 2))))
    return reshape(pairs, tuple(-1 if d is None else d for d in shape))


def cross(a: ArrayLike, b: ArrayLike, axisa: int = -1, axisb: int = -1, axisc: int = -1,
          axis: int | None = None) -> Node:
    """The cross product of vectors of 3 (or 2) components along ``axisa``/``axisb``,
    broadcast over the other axes, as ``np.cross``; two 2-vectors give the scalar z.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); a = g.input("a", shape=(3,)); b = g.input("b", shape=(3,))
    >>> g.run(gd.cross(a, b), feed={a: np.array([1.0, 0, 0]), b: np.array([0, 1.0, 0])})
    array([0., 0., 1.])
    """
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = _operands("cross", a, b)
    if not a.shape or not b.shape:
        raise _fail("cross", "operands must be at least 1-d")
    for ax, x in ((axisa, a), (axisb, b)):
        if not -len(x.shape) <= as_int(ax, "cross axis") < len(x.shape):
            raise _fail("cross", f"axis {ax} is out of range for shape {x.shape}")
    a, b = moveaxis(a, axisa, -1), moveaxis(b, axisb, -1)
    na, nb = a.shape[-1], b.shape[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise _fail("cross", "incompatible dimensions for cross product (dimension must be "
                    f"2 or 3), got {na} and {nb}")
    ca = [index(a, (Ellipsis, k)) for k in range(na)] + [None] * (3 - na)
    cb = [index(b, (Ellipsis, k)) for k in range(nb)] + [None] * (3 - nb)

    def minor(i, j):  # a_i b_j - a_j b_i, skipping the terms of a missing z component
        left = None if ca[i] is None or cb[j] is None else multiply(ca[i], cb[j])
        right = None if ca[j] is None or cb[i] is None else multiply(ca[j], cb[i])
        if right is None:
            return left
        return subtract(0, right) if left is None else subtract(left, right)

    if na == nb == 2:
        return minor(0, 1)
    c = stack([minor(1, 2), minor(2, 0), minor(0, 1)], axis=-1)
    if not -len(c.shape) <= as_int(axisc, "cross axisc") < len(c.shape):
        raise _fail("cross", f"axisc {axisc} is out of range for shape {c.shape}")
    return moveaxis(c, -1, axisc)


def trace(a: ArrayLike, offset: int = 0, axis1: int = 0, axis2: int = 1,
          dtype: Any = None) -> Node:
    """The sum along a diagonal, as ``np.trace`` (``dtype`` must stay None).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 2))
    >>> g.run(gd.trace(x), feed={x: np.array([[1.0, 2.0], [3.0, 4.0]])})
    array(5.)
    """
    if dtype is not None:
        raise TypeError("trace: dtype= is not supported; cast the input instead")
    return reduce_sum(diagonal(a, offset, axis1, axis2), axis=-1)
