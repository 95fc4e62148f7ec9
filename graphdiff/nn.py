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


# ---------------------------------------------------------------- convolution and pooling
from .ops.conv import avg_pool2d, conv2d, max_pool2d  # noqa: E402


class Conv2d:
    """A 2-D convolution layer ``y = activation(conv2d(x, W, b, stride, padding))``.

    Follows ``torch.nn.Conv2d``: ``W`` has shape (out_channels, in_channels / groups, kH, kW)
    and there is always a bias ``b`` of shape (out_channels,). Both are initialised as
    torch's default (kaiming_uniform with a = sqrt(5)): uniform on [-bound, bound] with
    bound = 1 / sqrt(fan_in), fan_in = in_channels / groups * kH * kW.

    Parameters
    ----------
    g : Graph
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride : int or (int, int), default 1
    padding : int, (int, int), "valid" or "same", default 0
    activation : callable on Nodes, optional
    rng : numpy.random.Generator, optional
    dilation : int or (int, int), default 1
    groups : int, default 1
    dtype : dtype, default "float64"
    name : str, default ""
        Suffix of the parameter names (``"W" + name``, ``"b" + name``).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(None, 3, 8, 8))
    >>> conv = gd.nn.Conv2d(g, 3, 4, 3, padding=1, activation=gd.relu,
    ...                     rng=np.random.default_rng(0))
    >>> [p.value.shape for p in conv.params]
    [(4, 3, 3, 3), (4,)]
    >>> g.run(conv(x), feed={x: np.ones((2, 3, 8, 8))}).shape
    (2, 4, 8, 8)
    """

    def __init__(self, g: Graph, in_channels: int, out_channels: int,
                 kernel_size: int | tuple[int, int], stride: int | tuple[int, int] = 1,
                 padding: int | tuple[int, int] | str = 0, activation: Activation | None = None,
                 rng: np.random.Generator | None = None, *, dilation: int | tuple[int, int] = 1,
                 groups: int = 1, dtype: Any = "float64", name: str = "") -> None:
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels {in_channels} and out_channels {out_channels} must "
                             f"both be divisible by groups={groups}")
        rng = np.random.default_rng() if rng is None else rng
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        fan_in = in_channels // groups * kh * kw
        bound = 1.0 / np.sqrt(fan_in)
        W = rng.uniform(-bound, bound, size=(out_channels, in_channels // groups, kh, kw))
        b = rng.uniform(-bound, bound, size=(out_channels,))
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, (kh, kw)
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.activation = activation
        self.W = g.parameter(W.astype(dtype), name=f"W{name}")
        self.b = g.parameter(b.astype(dtype), name=f"b{name}")

    @property
    def params(self) -> list[Node]:
        """``[W, b]``."""
        return [self.W, self.b]

    def __call__(self, x: Node, training: bool = False) -> Node:
        y = conv2d(x, self.W, self.b, stride=self.stride, padding=self.padding,
                   dilation=self.dilation, groups=self.groups)
        return y if self.activation is None else self.activation(y)

    def __repr__(self) -> str:
        act = getattr(self.activation, "__name__", self.activation)
        return (f"Conv2d({self.in_channels}, {self.out_channels}, {self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding!r}, activation={act})")


class MaxPool2d:
    """Max pooling over the last two axes, as ``torch.nn.MaxPool2d``; no parameters.

    ``stride`` defaults to ``kernel_size``; padding is -inf. The gradient goes to the
    first maximum of each window (torch's rule for ties).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(None, 2, 4, 4))
    >>> pool = gd.nn.MaxPool2d(2)
    >>> pool.params, pool(x).shape
    ([], (None, 2, 2, 2))
    """

    def __init__(self, kernel_size: int | tuple[int, int], stride: Any = None,
                 padding: int | tuple[int, int] = 0) -> None:
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.params: list[Node] = []

    def __call__(self, x: Node, training: bool = False) -> Node:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def __repr__(self) -> str:
        return f"MaxPool2d({self.kernel_size}, stride={self.stride}, padding={self.padding})"


class AvgPool2d:
    """Average pooling over the last two axes, as ``torch.nn.AvgPool2d``; no parameters.

    ``stride`` defaults to ``kernel_size``; zero padding counts in the average (torch's
    ``count_include_pad=True``).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(1, 1, 2, 2))
    >>> g.run(gd.nn.AvgPool2d(2)(x), feed={x: np.ones((1, 1, 2, 2))})
    array([[[[1.]]]])
    """

    def __init__(self, kernel_size: int | tuple[int, int], stride: Any = None,
                 padding: int | tuple[int, int] = 0) -> None:
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.params: list[Node] = []

    def __call__(self, x: Node, training: bool = False) -> Node:
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding)

    def __repr__(self) -> str:
        return f"AvgPool2d({self.kernel_size}, stride={self.stride}, padding={self.padding})"
