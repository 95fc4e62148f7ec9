"""Higher-order helpers built from grad: Hessian-vector products, Jacobians, Hessians."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import functional as F
from .backprop import grad
from .errors import GradError
from .forward import jvp
from .graph import Node, as_node, describe_full
from .shapes import known


def hessian_vector_product(z: Node, targets: Node | Sequence[Node],
                           vectors: Any | Sequence[Any], mode: str = "forward"
                           ) -> Node | list[Node]:
    """H v for the Hessian H of a one-element z.

    ``mode="forward"`` (the default) is forward-over-reverse: the JVP of the gradient along
    v. ``mode="reverse"`` is reverse-over-reverse: the gradient of sum(grad(z) * v). Both
    give the same numbers.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> hv = gd.hessian_vector_product(gd.sum(x ** 3), x, np.ones(2))
    >>> g.run(hv, feed={x: np.array([1.0, 2.0])})
    array([ 6., 12.])
    """
    if mode not in ("forward", "reverse"):
        raise ValueError(f"mode must be 'forward' or 'reverse', got {mode!r}")
    single = isinstance(targets, Node)
    targets = [targets] if single else list(targets)
    vectors = [vectors] if single else list(vectors)
    if len(vectors) != len(targets):
        raise GradError(f"hessian_vector_product got {len(targets)} targets but "
                        f"{len(vectors)} vectors")
    grads = grad(z, targets)
    if mode == "forward":
        out = jvp(grads, targets, vectors)
    else:
        inner = None
        for g_, v in zip(grads, vectors):
            term = F.sum(F.multiply(g_, as_node(v, z.graph)))
            inner = term if inner is None else F.add(inner, term)
        out = grad(inner, targets)
    return out[0] if single else out


def jacobian(y: Node, x: Node, mode: str = "auto") -> Node:
    """The Jacobian dy/dx, of shape ``y.shape + x.shape``.

    ``mode="reverse"`` takes one back-propagation per entry of y, ``"forward"`` one JVP
    per entry of x, ``"auto"`` whichever is fewer. Same result either way.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.jacobian(x * 3.0, x), feed={x: np.ones(2)})
    array([[3., 0.],
           [0., 3.]])
    """
    if mode not in ("auto", "forward", "reverse"):
        raise ValueError(f"mode must be 'auto', 'forward' or 'reverse', got {mode!r}")
    if y.shape is None or not known(y.shape):
        raise GradError(f"jacobian needs y of a static shape, got {describe_full(y)} of shape "
                        f"{y.shape}")
    x_known = x.shape is not None and known(x.shape)
    if mode == "auto":
        mode = "forward" if x_known and int(np.prod(x.shape)) < int(np.prod(y.shape)) \
            else "reverse"
    if mode == "forward":
        return _forward_jacobian(y, x)
    if y.shape == ():
        return grad(y, x)
    size = int(np.prod(y.shape))
    rows = []
    for k in range(size):
        seed = np.zeros(size, dtype=y.dtype)
        seed[k] = 1
        rows.append(grad(y, x, seed=seed.reshape(y.shape)))
    stacked = F.stack(rows, axis=0)
    if len(y.shape) == 1:
        return stacked
    if x.shape is None or sum(d is None for d in x.shape) > 1:
        raise GradError(f"jacobian of a multi-dimensional y needs x of known shape, got "
                        f"{describe_full(x)} of shape {x.shape}")
    return F.reshape(stacked, tuple(y.shape) + tuple(-1 if d is None else d for d in x.shape))


def _forward_jacobian(y: Node, x: Node) -> Node:
    """One JVP per entry of x along the unit vectors, stacked on the last axes."""
    if x.shape is None or not known(x.shape):
        raise GradError(f"a forward-mode jacobian needs x of a static shape, got "
                        f"{describe_full(x)} of shape {x.shape}")
    size = int(np.prod(x.shape))
    dtype = x.dtype if x.dtype is not None and x.dtype.kind in "fc" else np.float64
    columns = []
    for k in range(size):
        unit = np.zeros(size, dtype=dtype)
        unit[k] = 1
        columns.append(jvp(y, x, unit.reshape(x.shape)))
    stacked = F.stack(columns, axis=-1)   # y.shape + (size,)
    return F.reshape(stacked, tuple(y.shape) + tuple(x.shape))


def hessian(z: Node, x: Node) -> Node:
    """The Hessian of a one-element z with respect to x, of shape ``x.shape + x.shape``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.hessian(gd.sum(x ** 3), x), feed={x: np.array([1.0, 2.0])})
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    return jacobian(grad(z, x), x)
