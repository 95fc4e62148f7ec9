"""Layers: Dense and MLP, built from ordinary graph ops and parameters.

A layer owns its parameters (``.params``) and is called on a Node to add its forward
computation to that Node's graph. Initialisation follows the usual rules: He (normal,
variance 2/n_in) before a ReLU, Glorot (uniform, variance 2/(n_in+n_out)) otherwise,
zero biases; a ``numpy.random.Generator`` makes it reproducible.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .functional import relu
from .graph import Graph, Node

Activation = Callable[[Node], Node]


class Dense:
    """A fully connected layer ``y = activation(x @ W + b)``.

    Parameters
    ----------
    g : Graph
        The graph that holds the parameters.
    n_in, n_out : int
        Input and output widths; ``W`` has shape ``(n_in, n_out)``, ``b`` shape ``(n_out,)``.
    activation : callable on Nodes, optional
        Applied to ``x @ W + b``; ``None`` keeps the layer linear.
    rng : numpy.random.Generator, optional
        Source of the initial weights (default ``np.random.default_rng()``).
    dtype : dtype, default "float64"
        Parameter dtype; use "float32" for a float32 model.
    init : {"he", "glorot"}, optional
        Weight initialisation; default He for ReLU, Glorot otherwise.
    name : str, default ""
        Suffix of the parameter names (``"W" + name``, ``"b" + name``), for pictures.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph()
    >>> x = g.input("x", shape=(None, 3))
    >>> layer = gd.nn.Dense(g, 3, 2, activation=gd.tanh, rng=np.random.default_rng(0))
    >>> g.run(layer(x), feed={x: np.zeros((4, 3))}).shape
    (4, 2)
    """

    def __init__(self, g: Graph, n_in: int, n_out: int, activation: Activation | None = None,
                 rng: np.random.Generator | None = None, *, dtype: Any = "float64",
                 init: str | None = None, name: str = "") -> None:
        rng = np.random.default_rng() if rng is None else rng
        init = init or ("he" if activation is relu else "glorot")
        if init == "he":
            W = rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)
        elif init == "glorot":
            limit = np.sqrt(6.0 / (n_in + n_out))
            W = rng.uniform(-limit, limit, size=(n_in, n_out))
        else:
            raise ValueError(f"init must be 'he' or 'glorot', got {init!r}")
        self.n_in, self.n_out, self.activation = n_in, n_out, activation
        self.W = g.parameter(W.astype(dtype), name=f"W{name}")
        self.b = g.parameter(np.zeros(n_out, dtype=dtype), name=f"b{name}")

    @property
    def params(self) -> list[Node]:
        """``[W, b]``, the order optimizers and gradients use."""
        return [self.W, self.b]

    def __call__(self, x: Node) -> Node:
        y = x @ self.W + self.b
        return y if self.activation is None else self.activation(y)

    def __repr__(self) -> str:
        act = getattr(self.activation, "__name__", self.activation)
        return f"Dense({self.n_in}, {self.n_out}, activation={act})"


class MLP:
    """A multilayer perceptron: Dense layers with ``activation`` between them.

    The last layer is linear, so the output is logits (feed them to
    ``gd.losses.softmax_cross_entropy``). Parameters are named ``W1, b1, W2, b2, ...``.

    Parameters
    ----------
    g : Graph
    sizes : sequence of int
        Layer widths, input first: ``[64, 128, 10]`` is one hidden layer of 128.
    activation : callable on Nodes, default gd.relu
    rng : numpy.random.Generator, optional
    dtype : dtype, default "float64"

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph()
    >>> x = g.input("x", shape=(None, 4))
    >>> mlp = gd.nn.MLP(g, [4, 8, 3], rng=np.random.default_rng(0))
    >>> [p.name for p in mlp.params]
    ['W1', 'b1', 'W2', 'b2']
    >>> g.run(mlp(x), feed={x: np.ones((2, 4))}).shape
    (2, 3)
    """

    def __init__(self, g: Graph, sizes: Sequence[int], activation: Activation = relu,
                 rng: np.random.Generator | None = None, *, dtype: Any = "float64") -> None:
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least an input and an output size, got {list(sizes)}")
        rng = np.random.default_rng() if rng is None else rng
        last = len(sizes) - 2
        self.layers = [
            Dense(g, n_in, n_out, activation=None if i == last else activation, rng=rng,
                  dtype=dtype, name=str(i + 1))
            for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes))
        ]

    @property
    def params(self) -> list[Node]:
        """``[W1, b1, W2, b2, ...]``."""
        return [p for layer in self.layers for p in layer.params]

    def __call__(self, x: Node) -> Node:
        for layer in self.layers:
            x = layer(x)
        return x

    def __repr__(self) -> str:
        return "MLP(" + ", ".join(map(repr, self.layers)) + ")"
