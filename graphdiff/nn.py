"""Layers built from ordinary graph ops and parameters: Dense, MLP, Flatten, Dropout,
BatchNorm, LayerNorm, Embedding, Sequential, Conv2d and the pooling layers.

A layer owns its parameters (``.params``) and is called on a Node,
``layer(x, training=False)``, to add its forward computation to that Node's graph; calling
it twice (a training and an evaluation branch) reuses the same parameters. Each layer's
docstring names its initialisation; a ``numpy.random.Generator`` makes it reproducible.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import activations
from . import functional as F
from .errors import GraphError
from .functional import relu
from .graph import Graph, Node
from .ops.random import shape_of

__all__ = ["Dense", "MLP", "Flatten", "Dropout", "BatchNorm", "LayerNorm", "Embedding",
           "Sequential", "Conv2d", "MaxPool2d", "AvgPool2d"]

Activation = Callable[[Node], Node]


def _activation(activation: Activation | str | None, layer: str) -> Activation | None:
    """A callable on Nodes, given one or the name of a public graphdiff function ("relu",
    "tanh", "gelu", ...); names let a signature show ``activation='relu'`` in ``help()``
    where a function default would show its address."""
    if not isinstance(activation, str):
        return activation
    fn = getattr(F, activation, None) or getattr(activations, activation, None)
    if activation.startswith("_") or not callable(fn):
        raise GraphError(f"{layer}: activation {activation!r} is not a graphdiff function; "
                         f"pass a callable on Nodes such as gd.tanh, or a name such as 'relu'")
    return fn


def _generator(rng: Any, layer: str) -> np.random.Generator:
    """``rng`` itself, or a fresh generator for ``None``; anything else is a TypeError."""
    if rng is None:
        return np.random.default_rng()
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{layer}: rng must be a numpy.random.Generator or None, got {rng!r} "
                        f"({type(rng).__name__}); use np.random.default_rng({rng!r}) for a seed")
    return rng


class Dense:
    """A fully connected layer ``y = activation(x @ W + b)``.

    Initialisation: He (normal, variance 2/n_in) before a ReLU, Glorot (uniform,
    variance 2/(n_in+n_out)) otherwise, zero biases (torch's ``Linear`` instead draws
    both from U(-1/sqrt(n_in), 1/sqrt(n_in))).

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
        rng = _generator(rng, "Dense")
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

    def __call__(self, x: Node, training: bool = False) -> Node:
        """``activation(x @ W + b)``; ``training`` changes nothing here."""
        y = x @ self.W + self.b
        return y if self.activation is None else self.activation(y)

    def __repr__(self) -> str:
        act = getattr(self.activation, "__name__", self.activation)
        return f"Dense({self.n_in}, {self.n_out}, activation={act})"


class Flatten:
    """Join the dimensions from ``start_dim`` on into one, as torch's ``nn.Flatten``.

    The flattened dimensions must be known statically; one earlier dimension (usually
    the batch) may be unknown.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(None, 2, 3))
    >>> g.run(gd.nn.Flatten()(x), feed={x: np.zeros((4, 2, 3))}).shape
    (4, 6)
    """

    def __init__(self, start_dim: int = 1) -> None:
        self.start_dim = int(start_dim)
        self.params: list[Node] = []

    def __call__(self, x: Node, training: bool = False) -> Node:
        """``x`` reshaped to ``x.shape[:start_dim] + (prod(x.shape[start_dim:]),)``."""
        if x.shape is None:
            raise GraphError(f"Flatten needs the rank of its input, {x!r} has none")
        lead, rest = x.shape[:self.start_dim], x.shape[self.start_dim:]
        if None in rest:
            if None in lead:
                raise GraphError(f"Flatten: input shape {x.shape} has unknown dimensions both "
                                 f"before and after start_dim={self.start_dim}")
            return x.reshape(tuple(lead) + (-1,))
        if lead.count(None) > 1:
            raise GraphError(f"Flatten: input shape {x.shape} has more than one unknown "
                             "dimension before start_dim")
        return x.reshape(tuple(-1 if d is None else d for d in lead) + (int(np.prod(rest)),))

    def __repr__(self) -> str:
        return f"Flatten(start_dim={self.start_dim})"


class LayerNorm:
    """Layer normalisation over the trailing ``normalized_shape`` dimensions, as torch's.

    ``y = (x - mean) / sqrt(var + eps) * gamma + beta`` with the mean and the biased
    variance taken over the last ``len(normalized_shape)`` axes of each example.
    ``gamma`` starts at ones and ``beta`` at zeros (torch's initialisation), both of shape
    ``normalized_shape``; ``.params == [gamma, beta]``. The same in training and evaluation.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(None, 2))
    >>> ln = gd.nn.LayerNorm(g, 2)
    >>> np.round(g.run(ln(x), feed={x: np.array([[1.0, 3.0]])}), 4)
    array([[-1.,  1.]])
    """

    def __init__(self, g: Graph, normalized_shape: int | Sequence[int], eps: float = 1e-5, *,
                 dtype: Any = "float64", name: str = "") -> None:
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(d) for d in normalized_shape)
        if not self.normalized_shape or min(self.normalized_shape) < 1:
            raise ValueError(f"LayerNorm: normalized_shape must be positive sizes, got "
                             f"{normalized_shape!r}")
        self.eps = float(eps)
        self.gamma = g.parameter(np.ones(self.normalized_shape, dtype=dtype), name=f"gamma{name}")
        self.beta = g.parameter(np.zeros(self.normalized_shape, dtype=dtype), name=f"beta{name}")

    @property
    def params(self) -> list[Node]:
        """``[gamma, beta]``."""
        return [self.gamma, self.beta]

    def __call__(self, x: Node, training: bool = False) -> Node:
        """The normalised, scaled and shifted ``x`` (its shape)."""
        k = len(self.normalized_shape)
        if x.shape is not None:
            trailing = tuple(x.shape[-k:]) if len(x.shape) >= k else None
            if trailing is None or any(d is not None and d != n
                                       for d, n in zip(trailing, self.normalized_shape)):
                raise GraphError(f"LayerNorm{self.normalized_shape}: input shape {x.shape} does "
                                 "not end with normalized_shape")
            axes = tuple(range(len(x.shape) - k, len(x.shape)))
        else:
            axes = tuple(range(-k, 0))
        centred = x - F.mean(x, axis=axes, keepdims=True)
        var = F.mean(F.square(centred), axis=axes, keepdims=True)  # biased, as torch
        return centred / F.sqrt(var + self.eps) * self.gamma + self.beta

    def __repr__(self) -> str:
        return f"LayerNorm({self.normalized_shape}, eps={self.eps})"


class Dropout:
    """Inverted dropout (``gd.dropout``) in training, the identity in evaluation, as torch's
    ``nn.Dropout``; no parameters.

    ``training`` may be a Python bool (False builds nothing) or a boolean scalar Node
    (a fed flag choosing at run time). Masks are drawn from the graph's generator
    (``gd.Graph(seed=...)``).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(seed=0); x = g.input("x", shape=(None, 4))
    >>> drop = gd.nn.Dropout(0.5)
    >>> out = g.run(drop(x, training=True), feed={x: np.ones((2, 4))})
    >>> drop(x) is x, np.unique(out).tolist()
    (True, [0.0, 2.0])
    """

    def __init__(self, rate: float = 0.5) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.number)) \
                or not 0.0 <= float(rate) <= 1.0:
            raise GraphError(f"Dropout: rate must be a number in [0, 1], got {rate!r}")
        self.rate = float(rate)
        self.params: list[Node] = []

    def __call__(self, x: Node, training: bool | Node = False) -> Node:
        """``gd.dropout(x, rate, training)``."""
        return F.dropout(x, self.rate, training)

    def __repr__(self) -> str:
        return f"Dropout({self.rate})"


class BatchNorm:
    """Batch normalisation over every axis but ``axis``, as torch's ``BatchNorm1d`` (N, C)
    and ``BatchNorm2d`` (N, C, H, W).

    In training, ``y = (x - mean) / sqrt(var + eps) * gamma + beta`` with the batch's
    mean and biased variance per feature; in evaluation the running averages replace
    them. ``gamma`` starts at ones and ``beta`` at zeros, of shape (num_features,);
    ``.params == [gamma, beta]``.

    The running averages ``running_mean`` (zeros) and ``running_var`` (ones) are graph
    parameters that are not in ``.params``: optimizers leave them alone, gradients are
    not taken for them, yet ``g.function(..., updates=)`` can set them and ``gd.save``
    saves them with the rest (``.state``). Each training call sets ``.updates`` to
    ``{running_mean: (1 - momentum) * running_mean + momentum * batch_mean,
    running_var: (1 - momentum) * running_var + momentum * unbiased_batch_var}``
    (torch's rule); pass it to ``g.function(..., updates=...)`` (the last training call's
    dict: build one training branch per layer). ``training`` may also be a boolean
    scalar Node (a fed flag): both forms are then computed and the flag picks one at run
    time, the running averages moving only when it is True. A batch of one value per feature has no
    unbiased variance: refused when the sizes are static, NaN otherwise.

    Parameters
    ----------
    g : Graph
    num_features : int
        C, the size of ``axis``.
    axis : int, default 1
        The feature axis (1 for NCHW and (N, C); -1 for channels-last).
    momentum : float, default 0.1
    eps : float, default 1e-5
    dtype : dtype, default "float64"
    name : str, default ""
        Suffix of the parameter names.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(None, 2))
    >>> bn = gd.nn.BatchNorm(g, 2)
    >>> step = g.function([x], bn(x, training=True), updates=bn.updates)
    >>> np.round(step(np.array([[1.0, 0.0], [3.0, 0.0]])), 3)
    array([[-1.,  0.],
           [ 1.,  0.]])
    >>> bn.running_mean.value, bn.running_var.value
    (array([0.2, 0. ]), array([1.1, 0.9]))
    """

    def __init__(self, g: Graph, num_features: int, axis: int = 1, momentum: float = 0.1,
                 eps: float = 1e-5, *, dtype: Any = "float64", name: str = "") -> None:
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) \
                or num_features < 1:
            raise ValueError(f"BatchNorm: num_features must be a positive int, got "
                             f"{num_features!r}")
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"BatchNorm: momentum must be in [0, 1], got {momentum!r}")
        if not float(eps) > 0.0:
            raise ValueError(f"BatchNorm: eps must be positive, got {eps!r}")
        self.num_features, self.axis = int(num_features), int(axis)
        self.momentum, self.eps = float(momentum), float(eps)
        c = self.num_features
        self.gamma = g.parameter(np.ones(c, dtype=dtype), name=f"gamma{name}")
        self.beta = g.parameter(np.zeros(c, dtype=dtype), name=f"beta{name}")
        self.running_mean = g.parameter(np.zeros(c, dtype=dtype), name=f"running_mean{name}")
        self.running_var = g.parameter(np.ones(c, dtype=dtype), name=f"running_var{name}")
        self._updates: dict[Node, Node] = {}

    @property
    def params(self) -> list[Node]:
        """``[gamma, beta]`` (the running averages are ``.state``)."""
        return [self.gamma, self.beta]

    @property
    def state(self) -> list[Node]:
        """``[running_mean, running_var]``: parameters updated by ``.updates``, not trained."""
        return [self.running_mean, self.running_var]

    @property
    def updates(self) -> dict[Node, Node]:
        """The running-average updates of the last training call (empty before one)."""
        return dict(self._updates)

    def __call__(self, x: Node, training: bool = False) -> Node:
        """The normalised, scaled and shifted ``x`` (its shape)."""
        if not isinstance(x, Node) or x.shape is None:
            raise GraphError(f"BatchNorm needs a Node of known rank, got {x!r}")
        ndim = len(x.shape)
        if not -ndim <= self.axis < ndim or ndim < 2:
            raise GraphError(f"BatchNorm(axis={self.axis}): input shape {x.shape} needs at "
                             "least 2 dimensions and the feature axis among them")
        axis = self.axis % ndim
        if x.shape[axis] is not None and x.shape[axis] != self.num_features:
            raise GraphError(f"BatchNorm({self.num_features}): input shape {x.shape} has "
                             f"{x.shape[axis]} features on axis {self.axis}")
        flag = None
        if isinstance(training, Node):
            if training.dtype != np.dtype(bool) or training.shape not in (None, ()):
                raise GraphError(f"BatchNorm: training must be a Python bool or a boolean "
                                 f"scalar Node, got {training!r}")
            flag = training
        elif not isinstance(training, (bool, np.bool_)):
            raise TypeError(f"BatchNorm: training must be a Python bool or a boolean scalar "
                            f"Node, got {training!r}")
        axes = tuple(i for i in range(ndim) if i != axis)
        shape = tuple(self.num_features if i == axis else 1 for i in range(ndim))
        if flag is not None or training:
            mean = F.mean(x, axis=axes, keepdims=True)
            centred = x - mean
            var = F.mean(F.square(centred), axis=axes, keepdims=True)   # biased: normalise
            y_train = centred / F.sqrt(var + self.eps)
            updates = self._running_updates(x, axes, mean, var)
            if flag is None:
                y, self._updates = y_train, updates
        if flag is not None or not training:
            y = (x - self.running_mean.reshape(shape)) / F.sqrt(
                self.running_var.reshape(shape) + self.eps)
        if flag is not None:
            # Chosen at run time: both forms are computed; the averages move only in training.
            y = F.where(flag, y_train, y)
            self._updates = {p: F.where(flag, new, p) for p, new in updates.items()}
        return y * self.gamma.reshape(shape) + self.beta.reshape(shape)

    def _running_updates(self, x: Node, axes: tuple[int, ...], mean: Node,
                         var: Node) -> dict[Node, Node]:
        sizes = [x.shape[i] for i in axes]
        if None not in sizes:
            n = int(np.prod(sizes))
            if n < 2:
                raise GraphError(f"BatchNorm: a training batch of input shape {x.shape} has "
                                 "one value per feature, and no unbiased variance")
            correction: Any = n / (n - 1)
        else:
            # Run-time sizes: n = prod(shape[axes]) as a Node of the statistics' dtype.
            dims = shape_of(x)
            n = None
            for i in axes:
                d = F.astype(dims[i], var.dtype) if x.shape[i] is None else x.shape[i]
                n = d if n is None else n * d
            correction = n / (n - 1.0)
        m, c = self.momentum, (self.num_features,)
        unbiased = var.reshape(c) * correction
        return {self.running_mean: self.running_mean * (1.0 - m) + mean.reshape(c) * m,
                self.running_var: self.running_var * (1.0 - m) + unbiased * m}

    def __repr__(self) -> str:
        return (f"BatchNorm({self.num_features}, axis={self.axis}, momentum={self.momentum}, "
                f"eps={self.eps})")


class Embedding:
    """A lookup table: row ``i`` of ``W`` for each index ``i``, as torch's ``nn.Embedding``.

    ``W`` has shape ``(num_embeddings, dim)``, initialised N(0, 1) (torch's default);
    ``.params == [W]``. Indices of shape ``s`` give an output of shape ``s + (dim,)``.
    Index arrays known when the graph is built (NumPy arrays, lists) become one indexing
    node whose gradient adds into the rows used; an integer input Node is looked up
    through a one-hot matrix product (memory ``n_indices * num_embeddings``), which keeps
    it differentiable with ordinary ops.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); emb = gd.nn.Embedding(g, 5, 3, rng=np.random.default_rng(0))
    >>> g.run(emb(np.array([[0, 4], [4, 4]]))).shape
    (2, 2, 3)
    >>> ids = g.input("ids", shape=(None,), dtype="int64")
    >>> out = g.run(emb(ids), feed={ids: np.array([4, 1])})
    >>> bool(np.all(out == emb.W.value[[4, 1]]))
    True
    """

    def __init__(self, g: Graph, num_embeddings: int, dim: int,
                 rng: np.random.Generator | None = None, *, dtype: Any = "float64",
                 name: str = "") -> None:
        rng = _generator(rng, "Embedding")
        self.num_embeddings, self.dim = int(num_embeddings), int(dim)
        if self.num_embeddings < 1 or self.dim < 1:
            raise ValueError(f"Embedding needs positive sizes, got {num_embeddings} and {dim}")
        W = rng.standard_normal((self.num_embeddings, self.dim)).astype(dtype)
        self.graph = g
        self.W = g.parameter(W, name=f"W{name}")

    @property
    def params(self) -> list[Node]:
        """``[W]``."""
        return [self.W]

    def __call__(self, indices: Any, training: bool = False) -> Node:
        """The rows of ``W`` at ``indices`` (an integer array or integer Node)."""
        if not isinstance(indices, Node):
            idx = np.asarray(indices)
            if idx.dtype.kind not in "iu":
                raise TypeError(f"Embedding takes integer indices, got dtype {idx.dtype}")
            if idx.size and (idx.min() < 0 or idx.max() >= self.num_embeddings):
                raise IndexError(f"Embedding of {self.num_embeddings} rows got indices from "
                                 f"{idx.min()} to {idx.max()}")
            return self.W[idx]
        if indices.dtype is None or indices.dtype.kind not in "iu":
            raise TypeError(f"Embedding takes integer indices, got {indices!r}")
        rows = self.graph.constant(np.arange(self.num_embeddings, dtype=indices.dtype))
        hit = F.compare("equal", indices[..., None], rows)
        one, zero = (self.graph.constant(np.array(v, dtype=self.W.dtype)) for v in (1, 0))
        return F.where(hit, one, zero) @ self.W

    def __repr__(self) -> str:
        return f"Embedding({self.num_embeddings}, {self.dim})"


class Sequential:
    """Layers applied one after another, as torch's ``nn.Sequential``.

    ``.params`` is the layers' parameters concatenated in order, ``.updates`` their
    ``updates`` dicts merged (running averages for ``g.function(..., updates=...)``).
    Calling it passes ``training`` to every layer (anything with ``.params``); plain
    functions such as ``gd.relu`` are called with the Node alone.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(None, 4))
    >>> rng = np.random.default_rng(0)
    >>> net = gd.nn.Sequential(gd.nn.Dense(g, 4, 8, rng=rng), gd.relu, gd.nn.LayerNorm(g, 8),
    ...                        gd.nn.Dense(g, 8, 2, rng=rng))
    >>> len(net.params), g.run(net(x), feed={x: np.ones((3, 4))}).shape
    (6, (3, 2))
    """

    def __init__(self, *layers: Any) -> None:
        for layer in layers:
            if not callable(layer):
                raise TypeError(f"Sequential takes layers or functions, got {layer!r}")
        self.layers = list(layers)

    @property
    def params(self) -> list[Node]:
        """Every layer's ``.params``, in order."""
        return [p for layer in self.layers for p in getattr(layer, "params", ())]

    @property
    def updates(self) -> dict[Node, Node]:
        """Every layer's ``.updates`` merged (empty for layers without running state)."""
        merged: dict[Node, Node] = {}
        for layer in self.layers:
            merged.update(getattr(layer, "updates", None) or {})
        return merged

    def __call__(self, x: Node, training: bool = False) -> Node:
        """Each layer on the previous one's output."""
        for layer in self.layers:
            x = layer(x, training=training) if hasattr(layer, "params") else layer(x)
        return x

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Any:
        return self.layers[i]

    def __repr__(self) -> str:
        inner = ", ".join(getattr(layer, "__name__", None) or repr(layer) for layer in self.layers)
        return f"Sequential({inner})"


class MLP:
    """A multilayer perceptron: Dense layers with ``activation`` between them.

    The last layer is linear, so the output is logits (feed them to
    ``gd.losses.softmax_cross_entropy``). Parameters are named ``W1, b1, W2, b2, ...``.

    Parameters
    ----------
    g : Graph
    sizes : sequence of int
        Layer widths, input first: ``[64, 128, 10]`` is one hidden layer of 128.
    activation : callable on Nodes or str, default "relu"
        Applied between the layers: a function such as ``gd.tanh``, or the name of one
        (``"relu"`` is ``gd.relu``).
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

    def __init__(self, g: Graph, sizes: Sequence[int], activation: Activation | str = "relu",
                 rng: np.random.Generator | None = None, *, dtype: Any = "float64") -> None:
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least an input and an output size, got {list(sizes)}")
        activation = _activation(activation, "MLP")
        rng = _generator(rng, "MLP")
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

    def __call__(self, x: Node, training: bool = False) -> Node:
        """The layers in order; ``training`` is passed on to each."""
        for layer in self.layers:
            x = layer(x, training=training)
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
