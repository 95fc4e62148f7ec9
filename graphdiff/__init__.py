"""graphdiff: symbol-to-symbol back-propagation over an explicit computational graph.

The public names, re-exported from the modules that define them; nothing is defined
here. The documentation (``docs/``) describes each of them.
"""

from . import functional as _functional  # noqa: F401  (attaches the Node operators)
from . import linalg, losses, nn, optim
from .anomaly import detect_anomaly
from .backprop import GradTable, backprop, build_grad, grad, prune
from . import forward
from .check import check_grad, check_jvp
from .forward import jvp
from .cost import CostReport, cost
from .errors import AnomalyError, FeedError, FileFormatError, GradError, GraphdiffError, GraphError
from .explain import Finding, cse, lint, size_report
from .functional import (abs, add, broadcast_to, clip, concatenate, cos, divide, exp, log,
                         log_softmax, logsumexp, matmul, max, maximum, mean, min, minimum,
                         multiply, negative, power, relu, reshape, sigmoid, sin, softmax,
                         softplus, sqrt, square, stack, stop_gradient, subtract, sum, tanh,
                         transpose, where)
from .graph import Graph, Node
from .higher import hessian, hessian_vector_product, jacobian
from .io import load, register_op, save
from .op import Op, op
from .train import History, accuracy, evaluate, fit
from .viz import render, to_dot

__all__ = [
    # graph, ops, errors
    "Graph", "Node", "Op", "op", "GraphdiffError", "GraphError", "GradError", "FeedError",
    # gradients
    "grad", "backprop", "build_grad", "prune", "GradTable", "stop_gradient",
    "hessian_vector_product", "jacobian", "hessian",
    # forward mode
    "jvp", "check_jvp", "forward",
    # ops
    "add", "subtract", "multiply", "divide", "negative", "power", "exp", "log", "sqrt",
    "square", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "softplus", "maximum",
    "minimum", "where", "clip", "matmul", "transpose", "reshape", "broadcast_to",
    "concatenate", "stack", "sum", "mean", "max", "min", "logsumexp", "softmax", "log_softmax",
    # checking and training
    "check_grad", "losses", "nn", "optim", "to_dot", "render", "fit", "History", "accuracy",
    "evaluate",
    # reliability and explanation
    "detect_anomaly", "AnomalyError", "save", "load", "register_op", "FileFormatError",
    "lint", "Finding", "cse", "size_report", "cost", "CostReport",
    # gd.linalg: numpy.linalg on real float arrays
    "linalg",
]
