"""Matrix decompositions and solvers: the primitives behind ``gd.linalg``.

Each op acts on the last two axes and batches over the leading ones, as ``numpy.linalg``
does. Decompositions that return several arrays (slogdet, eigh, svd, qr) produce one
packed array: the parts flattened and joined along a last axis. ``Unpack`` reads one part
back out, ``PackInto`` is its adjoint (zeros with the part written in); both take the
decomposed matrix as a reference input, so the parts' shapes are known at run time even
where they are not known when the graph is built.

Every rule is built from ordinary ops (matmul, solve, transposes, triangle masks), so
gradients and tangents can be differentiated again. Sources of the stable forms:
Giles 2008 ("An extended collection of matrix derivative results": inv, solve, det);
Murray 2016 ("Differentiation of the Cholesky decomposition", the formula PyTorch uses);
Townsend 2016 and PyTorch's ``svd_backward`` (svd); Walter and Lehmann 2018 / Liao et al.
2019 (qr, m >= n); Giles 2008 and JAX's ``eigh_jvp_rule`` (eigh).
"""

from __future__ import annotations

import builtins
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import GradError, GraphError
from ..graph import Node, describe_full
from ..op import LinearOp, Op, add_n, make_node, size_of
from ..shapes import broadcast
from ..site import creation_site, format_site
from .elementwise import add, compare, divide, multiply, negative, subtract, where
from .index import index
from .linalg import matmul
from .reduce import max, sum
from .shape import concatenate, expand_dims, swap_last

ArrayLike = Any


# ---------------------------------------------------------------- operand checks
@lru_cache(maxsize=None)
def _linalg_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype numpy.linalg computes in for ``dtype`` (integers and bools: float64)."""
    return np.linalg.inv(np.eye(1, dtype=dtype)).dtype


def result_dtype(x: Node, what: str) -> np.dtype | None:
    """The result dtype of a linalg function of x; TypeError for complex and float16."""
    if x.dtype is None:
        return None
    if x.dtype.kind == "c":
        raise TypeError(f"{what}: complex dtypes are not supported yet ({describe_full(x)} is "
                        f"{x.dtype}) at {format_site(creation_site())}")
    try:
        return _linalg_dtype(x.dtype)
    except TypeError:
        raise TypeError(f"{what}: array type {x.dtype} is unsupported in linalg "
                        f"({describe_full(x)}) at {format_site(creation_site())}") from None


def check_matrix(x: Node, what: str, square: bool = True) -> None:
    """GraphError unless x has at least two axes (and square last two, when asked)."""
    if x.shape is None:
        return
    if len(x.shape) < 2:
        raise GraphError(f"{what}: {len(x.shape)}-dimensional array given; array must be at "
                         f"least two-dimensional ({describe_full(x)} of shape {x.shape})")
    m, n = x.shape[-2:]
    if square and m is not None and n is not None and m != n:
        raise GraphError(f"{what}: last 2 dimensions of the array must be square "
                         f"({describe_full(x)} of shape {x.shape})")


class _Batch:
    """A stand-in carrying batch dimensions, so broadcast() can check them."""

    weak = False

    def __init__(self, shape, node):
        self.shape = shape
        self.node = node

    def __repr__(self):
        return repr(self.node)


def _cube(shapes: list, output_shape) -> int:
    """2 n^3 per matrix of the batch: the cost of an LU or a decomposition."""
    a = shapes[0]
    if not a or len(a) < 2:
        return 0
    n = max(a[-2:])
    return 2 * size_of(a[:-2]) * n ** 3


# ---------------------------------------------------------------- masks
class TriangleMask(LinearOp):
    """x times a mask: ``lower`` below the diagonal, ``diag`` on it, ``upper`` above.

    tril is (1, 1, 0); Murray's phi (tril with the diagonal halved) is (1, 0.5, 0). The
    mask is elementwise, so the op is its own adjoint.
    """

    __props__ = ("lower", "diag", "upper")

    def __init__(self, lower: float, diag: float, upper: float):
        self.lower, self.diag, self.upper = lower, diag, upper

    def forward(self, x):
        m, n = x.shape[-2:]
        i = np.arange(m)[:, None]
        j = np.arange(n)[None, :]
        mask = np.where(i > j, self.lower, np.where(i == j, self.diag, self.upper))
        return x * mask.astype(x.dtype)

    def infer(self, x):
        return x.shape, x.dtype

    def same_shape_as(self, x):
        return x

    def transpose(self, ct, inputs, output):
        return make_node(self, ct)


def band(x: Node, lower: float, diag: float, upper: float) -> Node:
    """x with its strictly lower, diagonal and strictly upper parts scaled."""
    return make_node(TriangleMask(float(lower), float(diag), float(upper)), x)


def _read_triangle(t: Node, lower: bool) -> Node:
    """The symmetric matrix a triangle-reading function sees: tril(t) + tril(t, -1)^T."""
    if lower:
        return add(band(t, 1, 1, 0), swap_last(band(t, 1, 0, 0)))
    return add(band(t, 0, 1, 1), swap_last(band(t, 0, 0, 1)))


def _onto_triangle(g: Node, lower: bool) -> Node:
    """A symmetric-matrix gradient g as the gradient wrt the triangle that is read:
    tril(g + g^T) - diag(g), which depends only on the symmetric part of g."""
    s = add(g, swap_last(g))
    return band(s, 1, 0.5, 0) if lower else band(s, 0, 0.5, 1)


def _safe_reciprocal(x: Node) -> Node:
    """1 / x, and 0 where x == 0 (the masked entries of F matrices and S^-1)."""
    zero = compare("equal", x, 0)
    return where(zero, 0, divide(1, where(zero, 1, x)))


def _rank_reciprocal(s: Node, a: Node) -> Node:
    """1 / s for singular values above max(s) * max(m, n) * eps, else 0: singular values
    that are zero to working precision are treated as zero (as matrix_rank does), so a
    rank-deficient input gets the gradient of its fixed-rank part, not 1 / 1e-16."""
    m, n = _core(a)
    eps = np.finfo(s.dtype if s.dtype is not None else np.float64).eps
    tol = multiply(max(s, axis=-1, keepdims=True), float(eps * builtins.max(m or 1, n or 1)))
    large = compare("greater", s, tol)
    return where(large, divide(1, where(large, s, 1)), 0)


def _row(v: Node) -> Node:
    return expand_dims(v, (-2,))


def _col(v: Node) -> Node:
    return expand_dims(v, (-1,))


# ---------------------------------------------------------------- inverse, solve, det
class Inv(Op):
    """X = A^-1 (LAPACK gesv: solve(A, I)); d X = -X dA X, so the gradient is -X^T G X^T."""

    __props__ = ()

    def forward(self, a):
        return np.linalg.inv(a)

    def infer(self, a):
        check_matrix(a, "inv")
        return a.shape, result_dtype(a, "inv")

    def flops(self, input_shapes, output_shape):
        return _cube(input_shapes, output_shape)

    def vjp(self, i, inputs, output, grad):
        xt = swap_last(output)
        return negative(matmul(matmul(xt, grad), xt))

    def jvp(self, inputs, tangents, output):
        t = tangents[0]
        return None if t is None else negative(matmul(matmul(output, t), output))


def inv(a: Node) -> Node:
    """The inverse of a (batched) square matrix (internal; ``gd.linalg.inv`` wraps it)."""
    return make_node(_INV, a)


class Pinv(Op):
    """P = A^+ (the SVD with singular values at most rcond * max(S) counted as zero).

    Where the rank is locally constant (no singular value crosses the cutoff),
    dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P (Golub and Pereyra 1973),
    so the gradient is -P^T G P^T + (I - A P) G^T P P^T + P^T P G^T (I - P A). Written in P
    itself rather than through the SVD's rule, it stays exact at second order for
    rank-deficient rectangular inputs, where the SVD's null-space vectors are not unique."""

    __props__ = ("rcond",)

    def __init__(self, rcond: float):
        self.rcond = float(rcond)

    def forward(self, a):
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        large = s > self.rcond * np.max(s, axis=-1, keepdims=True, initial=0.0)
        s_inv = np.where(large, 1.0 / np.where(large, s, 1.0), 0.0).astype(s.dtype, copy=False)
        return np.matmul(np.swapaxes(vh, -1, -2), s_inv[..., :, None] * np.swapaxes(u, -1, -2))

    def infer(self, a):
        check_matrix(a, "pinv", square=False)
        dtype = result_dtype(a, "pinv")
        if a.shape is None:
            return None, dtype
        return tuple(a.shape[:-2]) + (a.shape[-1], a.shape[-2]), dtype

    def flops(self, input_shapes, output_shape):
        return _cube(input_shapes, output_shape)

    def vjp(self, i, inputs, output, grad):
        a, p = inputs[0], output
        pt, gt = swap_last(p), swap_last(grad)
        left = subtract(gt, matmul(a, matmul(p, gt)))      # (I - A P) G^T
        right = subtract(gt, matmul(matmul(gt, p), a))     # G^T (I - P A)
        return add_n([negative(matmul(matmul(pt, grad), pt)),
                      matmul(left, matmul(p, pt)), matmul(matmul(pt, p), right)])

    def jvp(self, inputs, tangents, output):
        t = tangents[0]
        if t is None:
            return None
        a, p = inputs[0], output
        pt, tt = swap_last(p), swap_last(t)
        right = subtract(tt, matmul(matmul(tt, a), p))     # dA^T (I - A P)
        left = subtract(tt, matmul(p, matmul(a, tt)))      # (I - P A) dA^T
        return add_n([negative(matmul(matmul(p, t), p)),
                      matmul(matmul(p, pt), right), matmul(left, matmul(pt, p))])


def pinv(a: Node, rcond: float) -> Node:
    """The pseudo-inverse of a (batched) matrix (internal; ``gd.linalg.pinv`` wraps it)."""
    return make_node(Pinv(rcond), a)


class Solve(Op):
    """X = A^-1 B for B of shape (..., M, K); dB = solve(A^T, G) and dA = -dB X^T."""

    __props__ = ()

    def forward(self, a, b):
        return np.linalg.solve(a, b)

    def infer(self, a, b):
        check_matrix(a, "solve")
        check_matrix(b, "solve", square=False)
        dtype = result_dtype(a, "solve")
        db = result_dtype(b, "solve")
        dtype = None if dtype is None or db is None else np.promote_types(dtype, db)
        if a.shape is None or b.shape is None:
            return None, dtype
        m, mb = a.shape[-1], b.shape[-2]
        if m is not None and mb is not None and m != mb:
            raise GraphError(f"solve: a of shape {a.shape} and b of shape {b.shape} do not "
                             f"align ({m} != {mb})")
        batch = broadcast("solve", _Batch(a.shape[:-2], a), _Batch(b.shape[:-2], b))
        rows = a.shape[-2] if a.shape[-2] is not None else mb
        return batch + (rows, b.shape[-1]), dtype

    def broadcasts(self, inputs):
        return True

    def flops(self, input_shapes, output_shape):
        return _cube(input_shapes, output_shape) + 2 * size_of(output_shape) * (
            input_shapes[0][-1] if input_shapes[0] else 1)

    def vjp(self, i, inputs, output, grad):
        a = inputs[0]
        db = solve(swap_last(a), grad)
        return db if i == 1 else negative(matmul(db, swap_last(output)))

    def jvp(self, inputs, tangents, output):
        ta, tb = tangents
        if ta is None and tb is None:
            return None
        rhs = tb
        if ta is not None:
            moved = matmul(ta, output)
            rhs = negative(moved) if rhs is None else subtract(rhs, moved)
        return solve(inputs[0], rhs)


def solve(a: Node, b: Node) -> Node:
    """A^-1 B for a matrix right-hand side (internal; ``gd.linalg.solve`` wraps it)."""
    return make_node(_SOLVE, a, b)


class Det(Op):
    """d det(A) = det(A) tr(A^-1 dA): the gradient is det(A) A^-T (A^-1 from solve(A, I))."""

    __props__ = ()

    def forward(self, a):
        return np.linalg.det(a)

    def infer(self, a):
        check_matrix(a, "det")
        return (None if a.shape is None else a.shape[:-2]), result_dtype(a, "det")

    def flops(self, input_shapes, output_shape):
        return _cube(input_shapes, output_shape)

    def vjp(self, i, inputs, output, grad):
        scale = expand_dims(multiply(grad, output), (-2, -1))
        return multiply(scale, swap_last(inv(inputs[0])))

    def jvp(self, inputs, tangents, output):
        t = tangents[0]
        if t is None:
            return None
        return multiply(output, _trace_solve(inputs[0], t))


def _trace_solve(a: Node, t: Node) -> Node:
    """tr(A^-1 T) = sum(A^-T * T) over the last two axes."""
    return sum(multiply(swap_last(inv(a)), t), axis=(-2, -1))


# ---------------------------------------------------------------- packed results
def _layout(name: str, m: int, n: int) -> tuple[list, list]:
    """(bases, views) of a packed result: the base arrays' shapes (joined flat in that
    order) and the parts a user sees, each (base index, key on the base's last axes)."""
    k = min(m, n)
    if name == "slogdet":
        return [(), ()], [(0, None), (1, None)]
    if name == "eigh":
        return [(n,), (n, n)], [(0, None), (1, None)]
    if name == "svd":
        return [(m, k), (k,), (k, n)], [(0, None), (1, None), (2, None)]
    if name == "svd_full":
        # Parts 3 and 4 are the first k columns of U and rows of Vh, which the rules use.
        first_k = slice(0, k)
        return [(m, m), (k,), (n, n)], [(0, None), (1, None), (2, None),
                                        (0, (slice(None), first_k)), (2, (first_k, slice(None)))]
    if name == "qr":
        return [(m, k), (k, n)], [(0, None), (1, None)]
    raise ValueError(f"unknown packed layout {name!r}")


def _view_shape(name: str, part: int, m: int, n: int) -> tuple:
    bases, views = _layout(name, m, n)
    base, key = views[part]
    shape = bases[base]
    if key is None:
        return shape
    return np.empty(shape, dtype=np.bool_)[key].shape


def _packed_size(name: str, m: int, n: int) -> int:
    return int(np.sum([size_of(s) for s in _layout(name, m, n)[0]]))


def _offset(name: str, base: int, m: int, n: int) -> int:
    return int(np.sum([size_of(s) for s in _layout(name, m, n)[0][:base]]))


def _core(a: Node) -> tuple:
    """(m, n) of a matrix node's static shape, None where unknown."""
    if a.shape is None:
        return None, None
    return a.shape[-2], a.shape[-1]


def _static_part_shape(name: str, part: int, a: Node, batch) -> tuple | None:
    m, n = _core(a)
    if batch is None:
        return None
    if m is None or n is None:
        rank = len(_view_shape(name, part, 2, 2))
        return tuple(batch) + (None,) * rank
    return tuple(batch) + _view_shape(name, part, m, n)


def pack(arrays: list, batch: tuple) -> np.ndarray:
    """The arrays flattened over their last axes and joined: one packed result."""
    return np.concatenate([np.reshape(x, batch + (-1,)) for x in arrays], axis=-1)


class Unpack(LinearOp):
    """Part ``part`` of a packed decomposition of ``a`` (a reference: no gradient)."""

    __props__ = ("layout", "part")
    view_of = 0

    def __init__(self, layout: str, part: int):
        self.layout, self.part = layout, part

    def forward(self, packed, a):
        m, n = a.shape[-2:]
        bases, views = _layout(self.layout, m, n)
        base, key = views[self.part]
        start = _offset(self.layout, base, m, n)
        shape = bases[base]
        batch = packed.shape[:-1]
        out = packed[..., start:start + size_of(shape)].reshape(batch + shape)
        return out if key is None else out[(Ellipsis,) + key]

    def infer(self, packed, a):
        batch = None if packed.shape is None else packed.shape[:-1]
        return _static_part_shape(self.layout, self.part, a, batch), packed.dtype

    def flops(self, input_shapes, output_shape):
        return 0  # a view: no arithmetic

    def transpose(self, ct, inputs, output):
        return make_node(PackInto(self.layout, self.part), ct, inputs[1])


class PackInto(LinearOp):
    """A packed array of zeros with ``x`` written at part ``part`` (Unpack's adjoint)."""

    __props__ = ("layout", "part")

    def __init__(self, layout: str, part: int):
        self.layout, self.part = layout, part

    def forward(self, x, a):
        m, n = a.shape[-2:]
        bases, views = _layout(self.layout, m, n)
        base, key = views[self.part]
        shape = bases[base]
        batch = x.shape[:x.ndim - len(_view_shape(self.layout, self.part, m, n))]
        out = np.zeros(batch + (_packed_size(self.layout, m, n),), dtype=x.dtype)
        start = _offset(self.layout, base, m, n)
        if key is not None:
            full = np.zeros(batch + shape, dtype=x.dtype)
            full[(Ellipsis,) + key] = x
            x = full
        out[..., start:start + size_of(shape)] = np.reshape(x, batch + (-1,))
        return out

    def infer(self, x, a):
        m, n = _core(a)
        rank = len(_view_shape(self.layout, self.part, 2, 2))
        if x.shape is None:
            return None, x.dtype
        batch = x.shape[:len(x.shape) - rank]
        size = None if m is None or n is None else _packed_size(self.layout, m, n)
        return batch + (size,), x.dtype

    def transpose(self, ct, inputs, output):
        return make_node(Unpack(self.layout, self.part), ct, inputs[1])


def unpack(packed: Node, a: Node, part: int) -> Node:
    """Part ``part`` of the packed result of a decomposition op applied to ``a``."""
    return make_node(Unpack(packed.op.layout, part), packed, a)


def _pack_tangent(layout: str, a: Node, parts: dict) -> Node | None:
    """A packed tangent from part tangents (None entries are zero)."""
    return add_n([make_node(PackInto(layout, k), t, a) for k, t in parts.items()
                  if t is not None])


def _packed_shape(name: str, a: Node) -> tuple | None:
    if a.shape is None:
        return None
    m, n = _core(a)
    size = None if m is None or n is None else _packed_size(name, m, n)
    return a.shape[:-2] + (size,)


class Decomposition(Op):
    """Base of the ops with a packed result; ``layout`` names how the parts are packed."""

    layout = ""
    square = True
    what = ""

    def part(self, packed: Node, a: Node, k: int) -> Node:
        """Part k of a packed array of this op's layout (its output, or a cotangent)."""
        return make_node(Unpack(self.layout, k), packed, a)

    def infer(self, a):
        check_matrix(a, self.what, square=self.square)
        return _packed_shape(self.layout, a), result_dtype(a, self.what)

    def flops(self, input_shapes, output_shape):
        return _cube(input_shapes, output_shape)


class SlogDet(Decomposition):
    """(sign, log|det A|); d log|det A| = tr(A^-1 dA): the gradient is A^-T (sign: none)."""

    __props__ = ()
    layout = "slogdet"
    what = "slogdet"

    def forward(self, a):
        sign, logdet = np.linalg.slogdet(a)
        return pack([sign, logdet], a.shape[:-2])

    def vjp(self, i, inputs, output, grad):
        a = inputs[0]
        glog = self.part(grad, a, 1)
        return multiply(expand_dims(glog, (-2, -1)), swap_last(inv(a)))

    def jvp(self, inputs, tangents, output):
        t = tangents[0]
        if t is None:
            return None
        a = inputs[0]
        return _pack_tangent("slogdet", a, {1: _trace_solve(a, t)})


class Eigh(Decomposition):
    """A = V diag(w) V^T read from one triangle; dw = diag(V^T dA V), dV = V (F o V^T dA V)
    with F_ij = 1 / (w_j - w_i), set to 0 where w_j == w_i (repeated eigenvalues)."""

    __props__ = ("uplo",)
    layout = "eigh"
    what = "eigh"

    def __init__(self, uplo: str = "L"):
        self.uplo = uplo

    def forward(self, a):
        w, v = np.linalg.eigh(a, UPLO=self.uplo)
        return pack([w, v], a.shape[:-2])

    def _parts(self, inputs, output):
        a = inputs[0]
        w, v = self.part(output, a, 0), self.part(output, a, 1)
        return a, w, v, _safe_reciprocal(subtract(_row(w), _col(w)))

    def vjp(self, i, inputs, output, grad):
        a, w, v, f = self._parts(inputs, output)
        gw, gv = self.part(grad, a, 0), self.part(grad, a, 1)
        vt = swap_last(v)
        inner = multiply(f, matmul(vt, gv))
        g = add(matmul(matmul(v, inner), vt), matmul(multiply(v, _row(gw)), vt))
        return _onto_triangle(g, self.uplo == "L")

    def jvp(self, inputs, tangents, output):
        t = tangents[0]
        if t is None:
            return None
        a, w, v, f = self._parts(inputs, output)
        ts = _read_triangle(t, self.uplo == "L")
        tv = matmul(ts, v)
        dw = sum(multiply(v, tv), axis=-2)
        dv = matmul(v, multiply(f, matmul(swap_last(v), tv)))
        return _pack_tangent("eigh", a, {0: dw, 1: dv})


class Cholesky(Decomposition):
    """A = L L^T read from one triangle; the gradient (Murray 2016) is the symmetric
    L^-T phi(L^T G) L^-1, with phi = tril with the diagonal halved, put onto the triangle;
    both L^-1 products are triangular solves."""

    __props__ = ("upper",)
    what = "cholesky"

    def __init__(self, upper: bool = False):
        self.upper = upper

    def forward(self, a):
        return np.linalg.cholesky(a, upper=self.upper)

    def infer(self, a):
        check_matrix(a, "cholesky")
        return a.shape, result_dtype(a, "cholesky")

    def vjp(self, i, inputs, output, grad):
        low = swap_last(output) if self.upper else output
        g = swap_last(grad) if self.upper else grad
        lt = swap_last(low)
        p = band(matmul(lt, g), 1, 0.5, 0)
        x = solve(lt, p)                              # L^-T phi(L^T G)
        gm = swap_last(solve(lt, swap_last(x)))       # ... L^-1
        return _onto_triangle(gm, not self.upper)

    def jvp(self, inputs, tangents, output):
        t = tangents[0]
        if t is None:
            return None
        low = swap_last(output) if self.upper else output
        ts = _read_triangle(t, not self.upper)
        y = solve(low, ts)                            # L^-1 dA
        z = swap_last(solve(low, swap_last(y)))       # L^-1 dA L^-T
        dl = matmul(low, band(z, 1, 0.5, 0))
        return swap_last(dl) if self.upper else dl


class Svd(Decomposition):
    """A = U diag(S) Vh (real). The gradient is PyTorch's svd_backward (Townsend 2016):
    U [(skew(U^T gU) S + S skew(V^T gV)) o F + diag(gS)] Vh plus the parts of gU, gVh
    outside the spans of U, V (times S^-1), with F_ij = 1 / (S_j^2 - S_i^2); F and S^-1
    are 0 where their denominator is 0. With full_matrices the columns of U (rows of Vh)
    beyond min(m, n) are not unique and carry no gradient."""

    __props__ = ("full_matrices",)
    square = False
    what = "svd"

    def __init__(self, full_matrices: bool = True):
        self.full_matrices = full_matrices
        self.layout = "svd_full" if full_matrices else "svd"

    def forward(self, a):
        u, s, vh = np.linalg.svd(a, full_matrices=self.full_matrices)
        return pack([u, s, vh], a.shape[:-2])

    def _reduced(self, packed, a):
        ui, vi = (3, 4) if self.full_matrices else (0, 2)
        return (make_node(Unpack(self.layout, ui), packed, a),
                make_node(Unpack(self.layout, 1), packed, a),
                make_node(Unpack(self.layout, vi), packed, a))

    def _sides(self, a):
        m, n = _core(a)
        return (m is None or n is None or m > n), (m is None or n is None or n > m)

    def vjp(self, i, inputs, output, grad):
        a = inputs[0]
        u, s, vh = self._reduced(output, a)
        gu, gs, gvh = self._reduced(grad, a)
        ut, v = swap_last(u), swap_last(vh)
        utgu = matmul(ut, gu)
        vtgv = matmul(vh, swap_last(gvh))
        s2 = multiply(s, s)
        f = _safe_reciprocal(subtract(_row(s2), _col(s2)))
        inner = multiply(add_n([multiply(subtract(utgu, swap_last(utgu)), _row(s)),
                                multiply(_col(s), subtract(vtgv, swap_last(vtgv)))]), f)
        terms = [matmul(matmul(u, inner), vh), matmul(multiply(u, _row(gs)), vh)]
        sinv = _rank_reciprocal(s, a)
        tall, wide = self._sides(a)
        if tall:   # (I - U U^T) gU S^-1 Vh
            gus = multiply(gu, _row(sinv))
            terms.append(matmul(subtract(gus, matmul(u, matmul(ut, gus))), vh))
        if wide:   # U S^-1 gVh (I - V Vh)
            sgv = multiply(_col(sinv), gvh)
            terms.append(matmul(u, subtract(sgv, matmul(matmul(sgv, v), vh))))
        return add_n(terms)

    def jvp(self, inputs, tangents, output):
        t = tangents[0]
        if t is None:
            return None
        a = inputs[0]
        u, s, vh = self._reduced(output, a)
        ut, v = swap_last(u), swap_last(vh)
        tv = matmul(t, v)
        ds_mat = matmul(ut, tv)
        ds = sum(multiply(u, tv), axis=-2)
        s2 = multiply(s, s)
        f = _safe_reciprocal(subtract(_row(s2), _col(s2)))
        dss = multiply(_row(s), ds_mat)
        sds = multiply(_col(s), ds_mat)
        du = matmul(u, multiply(f, add(dss, swap_last(dss))))
        dv = matmul(v, multiply(f, add(sds, swap_last(sds))))
        sinv = _row(_rank_reciprocal(s, a))
        tall, wide = self._sides(a)
        if tall:
            du = add(du, multiply(subtract(tv, matmul(u, matmul(ut, tv))), sinv))
        if wide:
            tu = matmul(swap_last(t), u)
            dv = add(dv, multiply(subtract(tu, matmul(v, matmul(vh, tu))), sinv))
        ui, vi = (3, 4) if self.full_matrices else (0, 2)
        return _pack_tangent(self.layout, a, {ui: du, 1: ds, vi: swap_last(dv)})


class Qr(Decomposition):
    """A = Q R (reduced). For m >= n the gradient is (gQ + Q copyltu(M)) R^-T with
    M = R gR^T - gQ^T Q (Walter and Lehmann 2018), R^-T applied by a triangular solve.
    A wide A = [X | Y] (m < n) has X = Q U square and Y = Q V with R = [U | V]: then
    gY = Q gV and X takes the square rule with gQ + Y gV^T (as TensorFlow and PyTorch)."""

    __props__ = ()
    layout = "qr"
    square = False
    what = "qr"

    def forward(self, a):
        q, r = np.linalg.qr(a, mode="reduced")
        return pack([q, r], a.shape[:-2])

    def _core_sizes(self, a):
        m, n = _core(a)
        if m is None or n is None:
            raise GradError(f"the derivative of qr needs the matrix shape to be known; "
                            f"{describe_full(a)} has shape {a.shape}")
        return m, n

    @staticmethod
    def _square_vjp(q, r, gq, gr):
        mm = subtract(matmul(r, swap_last(gr)), matmul(swap_last(gq), q))
        x = add(gq, matmul(q, _read_triangle(mm, True)))
        return swap_last(solve(r, swap_last(x)))

    def vjp(self, i, inputs, output, grad):
        a = inputs[0]
        m, n = self._core_sizes(a)
        q, r = self.part(output, a, 0), self.part(output, a, 1)
        gq, gr = self.part(grad, a, 0), self.part(grad, a, 1)
        if m >= n:
            return self._square_vjp(q, r, gq, gr)
        y, u = index(a, (Ellipsis, slice(m, None))), index(r, (Ellipsis, slice(None, m)))
        gu, gv = index(gr, (Ellipsis, slice(None, m))), index(gr, (Ellipsis, slice(m, None)))
        gx = self._square_vjp(q, u, add(gq, matmul(y, swap_last(gv))), gu)
        return concatenate([gx, matmul(q, gv)], axis=-1)

    @staticmethod
    def _square_jvp(q, r, t):
        dx_rinv = swap_last(solve(swap_last(r), swap_last(t)))    # dA R^-1
        qt = matmul(swap_last(q), dx_rinv)
        low = band(qt, 1, 0, 0)
        do = subtract(low, swap_last(low))
        dq = add(matmul(q, subtract(do, qt)), dx_rinv)
        dr = matmul(subtract(qt, do), r)
        return dq, dr

    def jvp(self, inputs, tangents, output):
        t = tangents[0]
        if t is None:
            return None
        a = inputs[0]
        m, n = self._core_sizes(a)
        q, r = self.part(output, a, 0), self.part(output, a, 1)
        if m >= n:
            dq, dr = self._square_jvp(q, r, t)
        else:   # dX = dQ U + Q dU gives dQ, dU; then dV = Q^T (dY - dQ V)
            u, v = index(r, (Ellipsis, slice(None, m))), index(r, (Ellipsis, slice(m, None)))
            dq, du = self._square_jvp(q, u, index(t, (Ellipsis, slice(None, m))))
            dv = matmul(swap_last(q), subtract(index(t, (Ellipsis, slice(m, None))),
                                               matmul(dq, v)))
            dr = concatenate([du, dv], axis=-1)
        return _pack_tangent("qr", a, {0: dq, 1: dr})


class EuclideanNorm(Op):
    """sqrt(sum(x^2)) over ``axes`` (None: all); d = x / norm, taken as 0 where the norm is
    0 (the subgradient PyTorch uses; JAX's norm gives NaN there)."""

    __props__ = ("axes", "keepdims")

    def __init__(self, axes: tuple | None, keepdims: bool):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        if self.axes is not None and len(self.axes) > 2:
            x = np.asarray(x, dtype=_linalg_dtype(x.dtype))
            return np.sqrt(np.sum(x * x, axis=self.axes, keepdims=self.keepdims))
        return np.linalg.norm(x, axis=self.axes, keepdims=self.keepdims)

    def infer(self, x):
        dtype = result_dtype(x, "norm")
        if x.shape is None:
            return None, dtype
        axes = range(len(x.shape)) if self.axes is None else self.axes
        if self.keepdims:
            return tuple(1 if k in axes else d for k, d in enumerate(x.shape)), dtype
        return tuple(d for k, d in enumerate(x.shape) if k not in axes), dtype

    def flops(self, input_shapes, output_shape):
        return 2 * size_of(input_shapes[0])

    def _expand(self, node):
        if self.keepdims or self.axes is None:
            return node
        return expand_dims(node, self.axes)

    def vjp(self, i, inputs, output, grad):
        x = inputs[0]
        out = self._expand(output)
        safe = where(compare("equal", out, 0), 1, out)
        return multiply(self._expand(grad), divide(x, safe))

    def jvp(self, inputs, tangents, output):
        t = tangents[0]
        if t is None:
            return None
        safe = where(compare("equal", output, 0), 1, output)
        axis = self.axes
        return divide(sum(multiply(inputs[0], t), axis=axis, keepdims=self.keepdims), safe)


_INV = Inv()
_SOLVE = Solve()
_DET = Det()
_SLOGDET = SlogDet()
_QR = Qr()
