"""Loss functions, in forms that stay finite for extreme inputs.

``reduction``: "mean" (default), "sum" or "none". mse, mae and the binary cross-entropies
are elementwise; softmax_cross_entropy gives one loss per row.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import functional as F
from .graph import Node, as_node, graph_of
from .op import make_node
from .ops.nn import SoftmaxCrossEntropy

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Node, reduction: str) -> Node:
    if reduction == "mean":
        return F.mean(loss)
    if reduction == "sum":
        return F.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _pair(a: Any, b: Any, what: str) -> tuple[Node, Node]:
    graph = graph_of((a, b), what)
    a = as_node(a, graph)
    if not isinstance(b, Node) and a.dtype is not None and a.dtype.kind == "f":
        b = np.asarray(b, dtype=a.dtype)  # targets given as arrays follow the prediction's dtype
    return a, as_node(b, graph)


def mse(pred: Any, target: Any, reduction: str = "mean") -> Node:
    """Squared error (pred - target)**2.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); p = g.input("p", shape=(2,))
    >>> float(g.run(gd.losses.mse(p, np.zeros(2)), feed={p: np.array([1.0, 3.0])}))
    5.0
    """
    pred, target = _pair(pred, target, "mse")
    return _reduce(F.square(F.subtract(pred, target)), reduction)


def mae(pred: Any, target: Any, reduction: str = "mean") -> Node:
    """Absolute error |pred - target|."""
    pred, target = _pair(pred, target, "mae")
    return _reduce(F.abs(F.subtract(pred, target)), reduction)


def binary_cross_entropy(prob: Any, target: Any, reduction: str = "mean") -> Node:
    """-(t log p + (1 - t) log(1 - p)) on probabilities, clipped away from 0 and 1."""
    prob, target = _pair(prob, target, "binary_cross_entropy")
    eps = float(np.finfo(prob.dtype if prob.dtype is not None and prob.dtype.kind == "f"
                         else np.float64).eps)
    p = F.clip(prob, eps, 1.0 - eps)
    loss = F.negative(F.add(F.multiply(target, F.log(p)),
                            F.multiply(F.subtract(1, target), F.log(F.subtract(1, p)))))
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(logits: Any, target: Any, reduction: str = "mean") -> Node:
    """softplus(l) - l t: the cross-entropy of sigmoid(l), exact and finite for any logit.

    (The common relu(l) - l t + softplus(-|l|) form has the wrong gradient at l = 0.)
    """
    logits, target = _pair(logits, target, "binary_cross_entropy_with_logits")
    return _reduce(F.subtract(F.softplus(logits), F.multiply(logits, target)), reduction)


def softmax_cross_entropy(logits: Any, labels: Any, reduction: str = "mean") -> Node:
    """-log softmax(logits)[label] per row; labels are class indices or rows of probabilities.

    The gradient is the fused ``softmax(logits) - onehot`` form.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); z = g.input("z", shape=(None, 2))
    >>> round(float(g.run(gd.losses.softmax_cross_entropy(z, np.array([0])),
    ...                   feed={z: np.zeros((1, 2))})), 4)
    0.6931
    """
    graph = graph_of((logits, labels), "softmax_cross_entropy")
    logits = as_node(logits, graph)
    labels_node = as_node(labels, graph)
    sparse = labels_node.dtype is not None and labels_node.dtype.kind in "biu"
    if not sparse and not isinstance(labels, Node) and logits.dtype is not None:
        labels_node = as_node(np.asarray(labels, dtype=logits.dtype), graph)
    return _reduce(make_node(SoftmaxCrossEntropy(sparse), logits, labels_node), reduction)


def l2_penalty(params: Sequence[Node]) -> Node:
    """The weight-decay penalty sum of squared entries over ``params`` (the book's Omega)."""
    total = None
    for p in params:
        term = F.sum(F.square(p))
        total = term if total is None else F.add(total, term)
    if total is None:
        raise ValueError("l2_penalty needs at least one node")
    return total
