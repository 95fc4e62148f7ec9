"""Loss functions, in forms that stay finite for extreme inputs.

``reduction``: "mean" (default), "sum" or "none". mse, mae and the binary cross-entropies
are elementwise; softmax_cross_entropy gives one loss per row.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import functional as F
from .errors import FeedError
from .graph import Node, as_node, describe, graph_of
from .op import Op, make_node
from .ops.nn import SoftmaxCrossEntropy
from .site import creation_site, format_site

__all__ = ["mse", "mae", "binary_cross_entropy", "binary_cross_entropy_with_logits",
           "softmax_cross_entropy", "l2_penalty"]

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Node, reduction: str) -> Node:
    if reduction == "mean":
        return F.mean(loss)
    if reduction == "sum":
        return F.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _operand(value: Any, loss: str, which: str) -> Any:
    """``value`` itself when it is a Node or numeric; else a TypeError naming the loss, the
    operand and the caller's line (None would otherwise become NaN, a string a raw error)."""
    if isinstance(value, Node):
        return value
    if value is None or isinstance(value, (str, bytes, dict, set)):
        problem = type(value).__name__
    elif hasattr(value, "dtype") and hasattr(value, "shape"):
        # Arrays of other libraries: judge the dtype without converting (dask would compute).
        kind = getattr(value.dtype, "kind", "O")
        problem = None if kind in "biufc" else f"{type(value).__name__} of dtype {value.dtype}"
    else:
        try:
            kind = np.asarray(value).dtype.kind
        except Exception:  # ragged lists and the like
            kind = "O"
        problem = None if kind in "biufc" else type(value).__name__
    if problem is not None:
        text = repr(value)
        text = text if len(text) <= 60 else text[:57] + "..."
        raise TypeError(f"{loss}: the {which} must be a graph Node, a number or a numeric "
                        f"array, got {problem} {text} at {format_site(creation_site())}")
    return value


def _pair(a: Any, b: Any, what: str, names: tuple[str, str] = ("prediction", "target")
          ) -> tuple[Node, Node]:
    a, b = _operand(a, what, names[0]), _operand(b, what, names[1])
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
    """Absolute error ``|pred - target|``."""
    pred, target = _pair(pred, target, "mae")
    return _reduce(F.abs(F.subtract(pred, target)), reduction)


def binary_cross_entropy(prob: Any, target: Any, reduction: str = "mean") -> Node:
    """-(t log p + (1 - t) log(1 - p)) on probabilities, clipped away from 0 and 1."""
    prob, target = _pair(prob, target, "binary_cross_entropy", ("probability", "target"))
    eps = float(np.finfo(prob.dtype if prob.dtype is not None and prob.dtype.kind == "f"
                         else np.float64).eps)
    p = F.clip(prob, eps, 1.0 - eps)
    loss = F.negative(F.add(F.multiply(target, F.log(p)),
                            F.multiply(F.subtract(1, target), F.log(F.subtract(1, p)))))
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(logits: Any, target: Any, reduction: str = "mean") -> Node:
    """softplus(l) - l t: the cross-entropy of sigmoid(l), exact and finite for any logit.

    (The common ``relu(l) - l t + softplus(-|l|)`` form has the wrong gradient at l = 0.)
    """
    logits, target = _pair(logits, target, "binary_cross_entropy_with_logits",
                           ("logits", "target"))
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
    what = "softmax_cross_entropy"
    logits, labels = _operand(logits, what, "logits"), _operand(labels, what, "labels")
    graph = graph_of((logits, labels), what)
    logits = as_node(logits, graph)
    labels_node = as_node(labels, graph)
    sparse = labels_node.dtype is not None and labels_node.dtype.kind in "biu"
    if not sparse and not isinstance(labels, Node) and logits.dtype is not None:
        labels_node = as_node(np.asarray(labels, dtype=logits.dtype), graph)
    if sparse:
        classes = None if logits.shape is None or not logits.shape else logits.shape[-1]
        if classes is None:   # read the class count from the logits at run time
            labels_node = make_node(CheckLabels(describe(labels_node)), labels_node, logits)
        else:                 # static: the labels' path stays out of the gradient's G'
            labels_node = make_node(CheckLabels(describe(labels_node), classes), labels_node)
    return _reduce(make_node(SoftmaxCrossEntropy(sparse), logits, labels_node), reduction)


class CheckLabels(Op):
    """The labels unchanged, once each is a class index 0 <= label < classes (else FeedError).

    Without it label -1 silently picks the last class and label 7 of 4 classes fails deep
    inside the loss. The class count is static (``classes``) or, when the logits' last
    axis is unknown, read from the logits (a second input) at run time; the check is one
    pass for the smallest and largest label (NumPy arrays).
    """

    __props__ = ("what", "classes")
    differentiable = False
    view_of = 0  # the output is the labels array itself

    def __init__(self, what: str, classes: int | None = None):
        self.what = what
        self.classes = classes

    def flops(self, input_shapes: list, output_shape: tuple) -> int:
        return 0

    def infer(self, labels: Node, *logits: Node) -> tuple[Any, Any]:
        return labels.shape, labels.dtype

    def forward(self, labels: Any, *logits: Any) -> Any:
        classes = self.classes if self.classes is not None else np.shape(logits[0])[-1]
        if type(labels) is np.ndarray and labels.size and (labels.min() < 0
                                                           or labels.max() >= classes):
            bad = labels[(labels < 0) | (labels >= classes)]
            shown = ", ".join(str(int(v)) for v in bad[:5]) + (", ..." if bad.size > 5 else "")
            raise FeedError(f"softmax_cross_entropy: labels {self.what} hold {shown}: class "
                            f"indices must lie in 0..{classes - 1} for {classes} classes")
        return labels


def l2_penalty(params: Sequence[Node]) -> Node:
    """The weight-decay penalty sum of squared entries over ``params`` (the book's Omega)."""
    total = None
    for p in params:
        term = F.sum(F.square(p))
        total = term if total is None else F.add(total, term)
    if total is None:
        raise ValueError("l2_penalty needs at least one node")
    return total
