"""Activation functions composed from primitives (no rules of their own), as torch's.

Each is a small formula of ordinary ops, so its gradients of every order come from the
primitives' rules. Where a branch could overflow (elu's exp for large x), the input is
masked before the exp, so the unused branch stays finite and its gradient is not NaN.
"""

from __future__ import annotations

import math
from typing import Any

from . import functional as F
from .graph import Node
from .ops.elementwise import quiet_exp
from .ops.special import erf


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Node:
    """x where x > 0, else negative_slope * x (the slope at 0 is negative_slope, as torch).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.leaky_relu(x, 0.1), feed={x: np.array([-2.0, 3.0])})
    array([-0.2,  3. ])
    """
    positive = F.compare("greater", x, 0)
    return F.where(positive, x, F.multiply(x, negative_slope))


def elu(x: Any, alpha: float = 1.0) -> Node:
    """x where x > 0, else alpha * (exp(x) - 1).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.elu(x), feed={x: np.array([0.0, 2.0])})
    array([0., 2.])
    """
    positive = F.compare("greater", x, 0)
    # exp only ever sees x <= 0: exp(1000) in the unused branch would make 0 * inf = NaN.
    negative_part = F.where(positive, 0.0, x)
    # Underflow of exp(-1000) to 0 is exact here: quiet, even under np.seterr(all="raise").
    return F.where(positive, x, F.multiply(F.subtract(quiet_exp(negative_part), 1.0), alpha))


def gelu(x: Any) -> Node:
    """x Φ(x) = x (1 + erf(x / sqrt(2))) / 2, the exact form (torch's default).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,))
    >>> g.run(gd.gelu(x), feed={x: np.array([0.0, 1.0])}).round(6)
    array([0.      , 0.841345])
    """
    cdf = F.multiply(F.add(erf(F.multiply(x, 1.0 / math.sqrt(2.0))), 1.0), 0.5)
    return F.multiply(x, cdf)


def silu(x: Any) -> Node:
    """x * sigmoid(x) (also called swish).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(1,))
    >>> g.run(gd.silu(x), feed={x: np.array([0.0])})
    array([0.])
    """
    return F.multiply(x, F.sigmoid(x))
