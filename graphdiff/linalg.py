"""``gd.linalg``: numpy.linalg on real float arrays, batched over leading dimensions.

Each function has numpy.linalg's name, signature and results; functions returning several
arrays return a tuple of Nodes. The primitives and their gradient rules live in
``graphdiff/ops/decomp.py``; ``pinv`` and ``norm`` are composed from them here.

Conventions where the derivative is not unique or not finite:

- ``eigh``/``svd``: the F matrices 1/(w_j - w_i) (1/(s_j^2 - s_i^2)) are set to 0 for
  equal eigenvalues (singular values). Functions of the eigenvalues alone, and
  eigenvector-dependent functions of a distinct spectrum, get the exact gradient; at an
  exactly repeated eigenvalue the eigenvector part of the gradient inside the repeated
  block is dropped.
- ``svd(full_matrices=True)``: the columns of U (rows of Vh) beyond min(m, n) are not
  unique and carry no gradient.
- ``norm``: the gradient of the 2-norm at 0 is 0 (a subgradient, as PyTorch).
- ``qr``: gradients need the matrix shape (m, n) to be known at build time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import GraphError
from .graph import Node, describe_full
from .op import make_node, wrap
from .ops.decomp import (
    Cholesky,
    Det,
    Eigh,
    EuclideanNorm,
    Inv,
    Qr,
    SlogDet,
    Solve,
    Svd,
    check_matrix,
    result_dtype,
    unpack,
)
from .ops.decomp import (
    pinv as _pinv,
)
from .ops.elementwise import Sign, abs, multiply, power
from .ops.reduce import max, min, sum
from .ops.shape import expand_dims, squeeze, transpose
from .site import creation_site, format_site

__all__ = ["inv", "pinv", "solve", "det", "slogdet", "norm", "eigh", "cholesky", "svd", "qr"]

ArrayLike = Any


class _NoValue:
    """The default of an argument that was not passed (``None`` means something else);
    its repr keeps ``help(gd.linalg.pinv)`` readable, as NumPy's ``<no value>``."""

    def __repr__(self) -> str:
        return "<no value>"


_NO_VALUE = _NoValue()


def _matrix(a: ArrayLike, what: str, square: bool = True) -> Node:
    (a,) = wrap(what, a)
    result_dtype(a, what)
    if a.shape is None:
        raise GraphError(f"{what}: {describe_full(a)} must have a known rank, at "
                         f"{format_site(creation_site())}")
    check_matrix(a, what, square=square)
    return a


def inv(a: ArrayLike) -> Node:
    """The inverse of each square matrix in ``a``, as ``numpy.linalg.inv``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); a = g.input("a", shape=(2, 2))
    >>> g.run(gd.linalg.inv(a), feed={a: np.diag([2.0, 4.0])})
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
    """
    return make_node(Inv(), _matrix(a, "inv"))


def solve(a: ArrayLike, b: ArrayLike) -> Node:
    """The solution x of a x = b, as ``numpy.linalg.solve`` (NumPy 2 rules: b is a vector
    only when ``b.ndim == 1``, otherwise a stack of (M, K) matrices).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); a = g.input("a", shape=(2, 2)); b = g.input("b", shape=(2,))
    >>> g.run(gd.linalg.solve(a, b), feed={a: np.diag([2.0, 4.0]), b: np.ones(2)})
    array([0.5 , 0.25])
    """
    a = _matrix(a, "solve")
    (b,) = wrap("solve", b)
    result_dtype(b, "solve")
    if b.shape is None:
        raise GraphError(f"solve: b ({describe_full(b)}) must have a known rank, at "
                         f"{format_site(creation_site())}")
    if len(b.shape) == 0:
        raise GraphError(f"solve: b must be at least one-dimensional, got {describe_full(b)}"
                         f" at {format_site(creation_site())}")
    if len(b.shape) == 1:
        return squeeze(make_node(Solve(), a, expand_dims(b, (-1,))), (-1,))
    return make_node(Solve(), a, b)


def det(a: ArrayLike) -> Node:
    """The determinant of each square matrix, as ``numpy.linalg.det``; its gradient is
    det(a) a^-T, with a^-1 from an LU solve.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); a = g.input("a", shape=(2, 2))
    >>> round(float(g.run(gd.linalg.det(a), feed={a: np.diag([2.0, 4.0])})), 12)
    8.0
    """
    return make_node(Det(), _matrix(a, "det"))


def slogdet(a: ArrayLike) -> tuple[Node, Node]:
    """(sign, log|det a|), as ``numpy.linalg.slogdet``; log|det a| has gradient a^-T, the
    sign has none.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); a = g.input("a", shape=(2, 2))
    >>> sign, logdet = gd.linalg.slogdet(a)
    >>> [float(v) for v in g.run([sign, logdet], feed={a: np.diag([-1.0, 1.0])})]
    [-1.0, 0.0]
    """
    a = _matrix(a, "slogdet")
    packed = make_node(SlogDet(), a)
    return unpack(packed, a, 0), unpack(packed, a, 1)


def eigh(a: ArrayLike, UPLO: str = "L") -> tuple[Node, Node]:  # noqa: N803  (NumPy's name)
    """(w, v): eigenvalues (ascending) and eigenvectors of symmetric matrices read from one
    triangle, as ``numpy.linalg.eigh``. The gradient is zero on the triangle not read; for
    repeated eigenvalues see the module's conventions.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); a = g.input("a", shape=(2, 2))
    >>> w, v = gd.linalg.eigh(a)
    >>> g.run(w, feed={a: np.array([[2.0, 1.0], [1.0, 2.0]])})
    array([1., 3.])
    """
    if UPLO not in ("L", "U"):
        raise GraphError(f"eigh: UPLO argument must be 'L' or 'U', got {UPLO!r} at "
                         f"{format_site(creation_site())}")
    a = _matrix(a, "eigh")
    packed = make_node(Eigh(UPLO), a)
    return unpack(packed, a, 0), unpack(packed, a, 1)


def cholesky(a: ArrayLike, /, *, upper: bool = False) -> Node:
    """The Cholesky factor (lower, or upper with ``upper=True``) of symmetric positive
    definite matrices read from one triangle, as ``numpy.linalg.cholesky``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); a = g.input("a", shape=(2, 2))
    >>> g.run(gd.linalg.cholesky(a), feed={a: np.diag([4.0, 9.0])})
    array([[2., 0.],
           [0., 3.]])
    """
    return make_node(Cholesky(bool(upper)), _matrix(a, "cholesky"))


def svd(a: ArrayLike, full_matrices: bool = True, compute_uv: bool = True,
        hermitian: bool = False) -> tuple[Node, Node, Node] | Node:
    """(U, S, Vh) with a = U diag(S) Vh, or S alone with ``compute_uv=False``, as
    ``numpy.linalg.svd``. For repeated singular values and the extra columns of
    ``full_matrices=True`` see the module's conventions.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); a = g.input("a", shape=(2, 2))
    >>> g.run(gd.linalg.svd(a, compute_uv=False), feed={a: np.diag([1.0, 3.0])})
    array([3., 1.])
    """
    if hermitian:
        raise GraphError(f"svd: hermitian=True is not supported yet, at "
                         f"{format_site(creation_site())}")
    a = _matrix(a, "svd", square=False)
    if not compute_uv:
        return unpack(make_node(Svd(False), a), a, 1)
    packed = make_node(Svd(bool(full_matrices)), a)
    return unpack(packed, a, 0), unpack(packed, a, 1), unpack(packed, a, 2)


def qr(a: ArrayLike, mode: str = "reduced") -> tuple[Node, Node] | Node:
    """(Q, R) with a = Q R, as ``numpy.linalg.qr`` (modes "reduced" and "r"); gradients
    for tall, square and wide matrices of known shape.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); a = g.input("a", shape=(3, 2))
    >>> q, r = gd.linalg.qr(a)
    >>> q.shape, r.shape
    ((3, 2), (2, 2))
    """
    if mode not in ("reduced", "r"):
        raise GraphError(f"qr: mode {mode!r} is not supported yet (use 'reduced' or 'r'), "
                         f"at {format_site(creation_site())}")
    a = _matrix(a, "qr", square=False)
    packed = make_node(Qr(), a)
    r = unpack(packed, a, 1)
    return r if mode == "r" else (unpack(packed, a, 0), r)


def pinv(a: ArrayLike, rcond: float | None = None, hermitian: bool = False, *,
         rtol: Any = _NO_VALUE) -> Node:
    """The Moore-Penrose pseudo-inverse, as ``numpy.linalg.pinv``: from the reduced svd,
    singular values at most rcond * max(S) (rcond 1e-15 by default; ``rtol=None`` gives
    max(M, N) * eps) count as zero. The gradient and the forward rule are Golub and
    Pereyra's, written in the pseudo-inverse itself: exact, at every order, wherever no
    singular value crosses the cutoff (rank-deficient inputs included).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); a = g.input("a", shape=(2, 2))
    >>> g.run(gd.linalg.pinv(a), feed={a: np.diag([2.0, 0.0])})
    array([[0.5, 0. ],
           [0. , 0. ]])
    """
    a = _matrix(a, "pinv", square=False)
    if rcond is None:
        if rtol is _NO_VALUE:
            rcond = 1e-15
        elif rtol is None:
            m, n = a.shape[-2:]
            if m is None or n is None:
                raise GraphError("pinv: rtol=None needs the matrix shape to be known")
            rcond = np.max([m, n]) * np.finfo(result_dtype(a, "pinv")).eps
        else:
            rcond = rtol
    elif rtol is not _NO_VALUE:
        raise GraphError(f"pinv: `rtol` and `rcond` can't be both set, at "
                         f"{format_site(creation_site())}")
    return _pinv(a, float(rcond))


# ---------------------------------------------------------------- norm
def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    axes = (axis,) if isinstance(axis, (int, np.integer, float)) else tuple(axis)
    for ax in axes:
        if not isinstance(ax, (int, np.integer)) or isinstance(ax, bool):
            raise TypeError(f"norm: 'axis' must be None, an integer or a tuple of integers, "
                            f"got {axis!r} at {format_site(creation_site())}")
        if not -ndim <= ax < ndim:
            raise GraphError(f"norm: axis {ax} is out of bounds for an array of dimension "
                             f"{ndim}, at {format_site(creation_site())}")
    return tuple(int(ax) % ndim for ax in axes)


def _singular_values(x: Node, row: int, col: int) -> Node:
    others = [k for k in range(x.ndim) if k not in (row, col)]
    y = transpose(x, tuple(others) + (row, col))
    return unpack(make_node(Svd(False), y), y, 1)


def norm(x: ArrayLike, ord: Any = None, axis: Any = None,  # noqa: A002  (NumPy's name)
         keepdims: bool = False) -> Node:
    """Vector or matrix norm, as ``numpy.linalg.norm``: vector ords None/2, 1, inf, -inf,
    0 and any p; matrix ords 'fro', 'nuc', 1, -1, 2, -2, inf, -inf. The 2-norm's gradient
    at 0 is 0.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> float(g.run(gd.linalg.norm(x), feed={x: np.array([3.0, 4.0])}))
    5.0
    """
    (x,) = wrap("norm", x)
    result_dtype(x, "norm")
    if x.shape is None:
        raise GraphError(f"norm: {describe_full(x)} must have a known rank, at "
                         f"{format_site(creation_site())}")
    if x.dtype is not None and x.dtype.kind not in "f":
        x = multiply(x, 1.0)  # NumPy computes norms of integers and bools in float64
    ndim = x.ndim
    keepdims = bool(keepdims)
    if axis is None:
        if ord is None or (ord in ("f", "fro") and ndim == 2) or (ord == 2 and ndim == 1):
            return make_node(EuclideanNorm(None, keepdims), x)
        if ndim not in (1, 2):
            raise GraphError(f"norm: improper number of dimensions to norm ({describe_full(x)}"
                             f" has {ndim}), at {format_site(creation_site())}")
        axis = tuple(range(ndim))
    axes = _axes(axis, ndim)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) != 2:
        raise GraphError(f"norm: improper number of dimensions to norm (axis={axis!r}), at "
                         f"{format_site(creation_site())}")
    row, col = axes
    if row == col:
        raise GraphError(f"norm: duplicate axes given (axis={axis!r}), at "
                         f"{format_site(creation_site())}")
    if isinstance(ord, str):
        valid = ord in ("fro", "f", "nuc")
    else:
        valid = ord is None or ord in (1, -1, 2, -2, np.inf, -np.inf)
    if not valid:
        raise GraphError(f"norm: invalid norm order {ord!r} for matrices, at "
                         f"{format_site(creation_site())}")
    if ord is None or ord in ("fro", "f"):
        out = make_node(EuclideanNorm(tuple(sorted(axes)), False), x)
    elif ord == "nuc":
        out = sum(_singular_values(x, row, col), axis=-1)
    elif ord in (2, -2):
        out = (max if ord == 2 else min)(_singular_values(x, row, col), axis=-1)
    elif ord in (1, -1):
        pick = max if ord == 1 else min
        out = pick(sum(abs(x), axis=row), axis=col - 1 if col > row else col)
    else:   # inf, -inf
        pick = max if ord > 0 else min
        out = pick(sum(abs(x), axis=col), axis=row - 1 if row > col else row)
    if keepdims:
        out = expand_dims(out, tuple(sorted(axes)))
    return out


def _vector_norm(x: Node, ord: Any, axis: int, keepdims: bool) -> Node:  # noqa: A002
    if isinstance(ord, str):
        raise GraphError(f"norm: invalid norm order {ord!r} for vectors, at "
                         f"{format_site(creation_site())}")
    if ord is None or ord == 2:
        return make_node(EuclideanNorm((axis,), keepdims), x)
    if ord == np.inf:
        return max(abs(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return min(abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        # How many entries are nonzero: a count, with zero gradient.
        return sum(abs(make_node(Sign(x.dtype), x)), axis=axis, keepdims=keepdims)
    if ord == 1:
        return sum(abs(x), axis=axis, keepdims=keepdims)
    try:
        p = float(ord)
    except (TypeError, ValueError):
        raise TypeError(f"norm: ord must be a number or a string, got {ord!r} at "
                        f"{format_site(creation_site())}") from None
    return power(sum(power(abs(x), p), axis=axis, keepdims=keepdims), 1.0 / p)
