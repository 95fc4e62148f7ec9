"""Higher-order helpers built from grad: Hessian-vector products, Jacobians, Hessians."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import functional as F
from .backprop import grad
from .errors import GradError
from .graph import Node, as_node, describe_full
from .shapes import known


def hessian_vector_product(z: Node, targets: Node | Sequence[Node],
                           vectors: Any | Sequence[Any]) -> Node | list[Node]:
    """H v for the Hessian H of a one-element z: the gradient of sum(grad(z) * v).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> hv = gd.hessian_vector_product(gd.sum(x ** 3), x, np.ones(2))
    >>> g.run(hv, feed={x: np.array([1.0, 2.0])})
    array([ 6., 12.])
    """
    single = isinstance(targets, Node)
    targets = [targets] if single else list(targets)
    vectors = [vectors] if single else list(vectors)
    if len(vectors) != len(targets):
        raise GradError(f"hessian_vector_product got {len(targets)} targets but "
                        f"{len(vectors)} vectors")
    grads = grad(z, targets)
    inner = None
    for g_, v in zip(grads, vectors):
        term = F.sum(F.multiply(g_, as_node(v, z.graph)))
        inner = term if inner is None else F.add(inner, term)
    out = grad(inner, targets)
    return out[0] if single else out


def jacobian(y: Node, x: Node) -> Node:
    """The Jacobian dy/dx, of shape ``y.shape + x.shape`` (one back-propagation per entry of y).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.jacobian(x * 3.0, x), feed={x: np.ones(2)})
    array([[3., 0.],
           [0., 3.]])
    """
    if y.shape is None or not known(y.shape):
        raise GradError(f"jacobian needs y of a static shape, got {describe_full(y)} of shape "
                        f"{y.shape}")
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
