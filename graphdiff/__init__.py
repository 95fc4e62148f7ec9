"""graphdiff: symbol-to-symbol back-propagation over an explicit computational graph.

Back-propagation as the Deep Learning Book's section 6.5 describes it: build a graph of
nodes, and ``gd.grad`` / ``gd.backprop`` insert the gradient into it as new nodes, which
run, compile and differentiate again like any others.

This module holds the public names, re-exported from the modules that define them;
nothing is defined here. ``help(gd.NAME)`` documents each. The documentation in the
repository's ``docs/`` folder (build it with ``python3 -m sphinx -b html docs
docs/_build/html``) has a tutorial (``docs/tutorial.md``), how-tos (``docs/howto/``) and
the API reference (``docs/api/``), which is the contract of every public name.

Examples
--------
>>> import numpy as np, graphdiff as gd
>>> g = gd.Graph(); x = g.input("x", shape=(3,))
>>> g.run(gd.grad(gd.sum(x * x), x), feed={x: np.array([1.0, 2.0, 3.0])})
array([2., 4., 6.])
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

# The NumPy surface: elementwise, logic, casts, reductions, sort.
from .functional import (all, any, arccos, arccosh, arcsin, arcsinh, arctan, arctan2,  # noqa: E402
                         arctanh, argmax, argmin, argsort, astype, ceil, cosh, cumprod, cumsum,
                         deg2rad, degrees, equal, exp2, expm1, fabs, floor, fmax, fmin, fmod,
                         greater, greater_equal, hypot, isfinite, isinf, isnan, less,
                         less_equal, log1p, log2, log10, logaddexp, logaddexp2, logical_and,
                         logical_not, logical_or, logical_xor, mod, nan_to_num, not_equal,
                         prod, rad2deg, radians, reciprocal, remainder, rint, sign, sinc,
                         sinh, sort, std, tan, trunc, var)

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

# convolution, pooling, activations
from .activations import elu, gelu, leaky_relu, silu  # noqa: E402
from .ops.conv import avg_pool2d, conv1d, conv2d, max_pool2d  # noqa: E402
from .ops.special import erf, one_hot  # noqa: E402

__all__ += ["conv1d", "conv2d", "max_pool2d", "avg_pool2d", "leaky_relu", "elu", "gelu", "silu",
            "one_hot", "erf"]
__all__ += [
    # the NumPy surface: elementwise, logic, casts, reductions, sort
    "tan", "sinh", "cosh", "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh",
    "arctan2", "hypot", "exp2", "expm1", "log2", "log10", "log1p", "logaddexp", "logaddexp2",
    "reciprocal", "sign", "floor", "ceil", "rint", "trunc", "fabs", "mod", "remainder", "fmod",
    "sinc", "deg2rad", "rad2deg", "degrees", "radians", "fmax", "fmin", "nan_to_num",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and",
    "logical_or", "logical_xor", "logical_not", "isfinite", "isnan", "isinf", "astype",
    "prod", "var", "std", "cumsum", "cumprod", "argmax", "argmin", "any", "all", "sort",
    "argsort",
]
# NumPy surface: contractions, shape and selection
from .functional import (array_split, cross, diag, diagonal, dot, einsum, expand_dims, flip,
                         fliplr, flipud, hstack, inner, kron, moveaxis, outer, pad, ravel,
                         repeat, roll, split, squeeze, swapaxes, take, take_along_axis,
                         tensordot, tile, trace, tril, triu, vstack)

__all__ += [
    "dot", "inner", "outer", "tensordot", "einsum", "kron", "cross", "trace", "squeeze",
    "expand_dims", "swapaxes", "moveaxis", "flip", "fliplr", "flipud", "roll", "tile",
    "repeat", "pad", "diag", "diagonal", "tril", "triu", "split", "array_split", "hstack",
    "vstack", "ravel", "take", "take_along_axis",
]
# random nodes, run-time shapes, dropout (g.random_uniform / g.random_normal are Graph methods)
from .functional import dropout, shape_of, uniform_like  # noqa: E402

__all__ += ["shape_of", "uniform_like", "dropout"]
