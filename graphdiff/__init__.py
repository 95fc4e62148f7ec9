"""graphdiff: symbol-to-symbol back-propagation over an explicit computational graph.

The public names of API.md, re-exported; nothing is defined here.
"""

from . import functional as _functional  # noqa: F401  (attaches the Node operators)
from .anomaly import AnomalyError, detect_anomaly
from .backprop import GradTable, backprop, build_grad, grad, prune
from .check import check_grad
from .errors import FeedError, GradError, GraphdiffError, GraphError
from .functional import (abs, add, broadcast_to, clip, concatenate, cos, divide, exp, log,
                         log_softmax, logsumexp, matmul, max, maximum, mean, min, minimum,
                         multiply, negative, power, relu, reshape, sigmoid, sin, softmax,
                         softplus, sqrt, square, stack, stop_gradient, subtract, sum, tanh,
                         transpose,
                         where)
from .graph import Graph, Node
from .cost import CostReport, cost
from .explain import Finding, cse, lint, size_report
from .io import FileFormatError, load, register_op, save
from .higher import hessian, hessian_vector_product, jacobian
from .op import Op, op
from . import losses, nn, optim  # noqa: E402
from .train import History, accuracy, evaluate, fit  # noqa: E402
from .viz import render, to_dot  # noqa: E402



__all__ = [
    "AnomalyError", "FeedError", "FileFormatError", "load", "register_op", "save", "GradError", "GradTable", "Graph", "GraphError",
    "GraphdiffError", "History", "Node", "Op", "accuracy", "evaluate", "fit", "render", "abs", "add", "backprop", "broadcast_to", "build_grad",
    "check_grad", "clip", "cost", "CostReport", "cse", "lint", "size_report", "Finding", "detect_anomaly", "concatenate", "cos", "divide", "exp", "grad", "hessian",
    "hessian_vector_product", "jacobian", "log", "log_softmax", "logsumexp", "losses",
    "matmul", "max", "maximum", "mean", "min", "minimum", "multiply", "negative", "nn", "op",
    "optim", "power", "prune", "relu", "reshape", "sigmoid", "sin", "softmax", "softplus",
    "sqrt", "square", "stack", "stop_gradient", "subtract", "sum", "tanh", "to_dot",
    "transpose", "where",
]
