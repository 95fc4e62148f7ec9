"""The MLP of mlp_step, hvp and memory, written once per framework.

784-512-512-10, ReLU, softmax cross-entropy (mean over the batch), plain SGD.
Every builder takes the same initial parameters so gradients can be compared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LR = 0.01


@dataclass
class Problem:
    params: list[np.ndarray]  # [W1, b1, W2, b2, W3, b3]
    X: np.ndarray
    y: np.ndarray  # int64 class indices


def make_problem(sizes: tuple[int, ...], batch: int, dtype: str, seed: int = 0) -> Problem:
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        params.append((rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(dtype))
        params.append(np.zeros(n_out, dtype=dtype))
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], size=batch).astype(np.int64)
    return Problem(params, X, y)


def copy_params(p: Problem) -> list[np.ndarray]:
    return [a.copy() for a in p.params]


# --- hand-written NumPy (Deep Learning Book, Algorithms 6.3 and 6.4) ------------------


def numpy_grads(params: list[np.ndarray], X: np.ndarray, y: np.ndarray):
    """Loss and gradients, as the textbook writes them: three products per layer."""
    Ws, bs = params[0::2], params[1::2]
    hs, acts = [X], []
    for k, (W, b) in enumerate(zip(Ws, bs, strict=True)):
        a = hs[-1] @ W + b
        if k < len(Ws) - 1:
            acts.append(a)
            hs.append(np.maximum(a, 0))
        else:
            logits = a
    n = X.shape[0]
    rows = np.arange(n)
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    loss = np.log(s[:, 0]).mean() - shifted[rows, y].mean()
    g = e / s  # d loss / d logits = (softmax - onehot) / n
    g[rows, y] -= 1
    g /= n
    grads: list[np.ndarray] = [None] * len(params)  # type: ignore[list-item]
    for k in reversed(range(len(Ws))):
        grads[2 * k] = hs[k].T @ g
        grads[2 * k + 1] = g.sum(axis=0)
        if k > 0:  # no gradient for the network's input
            g = g @ Ws[k].T
            g *= acts[k - 1] > 0
    return loss, grads


def numpy_step(params: list[np.ndarray], X: np.ndarray, y: np.ndarray) -> None:
    _, grads = numpy_grads(params, X, y)
    for p, d in zip(params, grads, strict=True):
        p -= LR * d


def gemm_floor(p: Problem) -> Callable[[], None]:
    """Only the 8 matrix products of a step, into preallocated outputs: nothing is cheaper."""
    Ws = p.params[0::2]
    X = p.X
    n = X.shape[0]
    hs = [X] + [np.empty((n, W.shape[1]), X.dtype) for W in Ws]
    gs = [np.full((n, W.shape[1]), 1e-3, X.dtype) for W in Ws]
    dWs = [np.empty_like(W) for W in Ws]

    def step() -> None:
        for k, W in enumerate(Ws):
            np.matmul(hs[k], W, out=hs[k + 1])
        for k in reversed(range(len(Ws))):
            np.matmul(hs[k].T, gs[k], out=dWs[k])
            if k > 0:
                np.matmul(gs[k], Ws[k].T, out=gs[k - 1])

    return step


# --- graphdiff ------------------------------------------------------------------------


@dataclass
class GdModel:
    graph: object
    x: object
    y: object
    params: list  # parameter Nodes
    loss: object
    grads: list  # gradient Nodes


def gd_model(gd, p: Problem) -> GdModel:
    """The same MLP through graphdiff's public API."""
    g = gd.Graph()
    dtype = str(p.X.dtype)
    x = g.input("x", shape=(None, p.X.shape[1]), dtype=dtype)
    y = g.input("y", shape=(None,), dtype="int64")
    params = [
        g.parameter(a.copy(), name=f"{'Wb'[i % 2]}{i // 2 + 1}") for i, a in enumerate(p.params)
    ]
    h = x
    n_layers = len(params) // 2
    for k in range(n_layers):
        h = h @ params[2 * k] + params[2 * k + 1]
        if k < n_layers - 1:
            h = gd.relu(h)
    loss = gd.losses.softmax_cross_entropy(h, y)
    grads = gd.grad(loss, params)
    return GdModel(g, x, y, params, loss, grads)


def gd_step(gd, m: GdModel, p: Problem) -> tuple[Callable[[], None], str]:
    """A compiled training step; SGD through gd.optim when it exists, else by hand."""
    f = m.graph.function(inputs=[m.x, m.y], outputs=[m.loss] + m.grads)
    X, y = p.X, p.y
    optim = getattr(gd, "optim", None)
    if optim is not None and hasattr(optim, "SGD"):
        opt = optim.SGD(m.params, lr=LR)

        def step() -> None:
            opt.step(f(X, y)[1:])

        return step, "gd.optim.SGD"
    params = m.params

    def manual_step() -> None:
        out = f(X, y)
        for prm, d in zip(params, out[1:], strict=True):
            prm.value -= LR * d  # in place; the setter sees the same array

    return manual_step, "W.value -= lr * dW"


def gd_updates_step(gd, p: Problem) -> tuple[Callable[[], None], list]:
    """The whole step in one compiled call: loss, gradients and ``gd.optim.SGD``'s update
    through ``g.function(..., updates=opt.updates(grads))``; returns (step, parameter
    Nodes)."""
    m = gd_model(gd, p)
    opt = gd.optim.SGD(m.params, lr=LR)
    f = m.graph.function(inputs=[m.x, m.y], outputs=m.loss, updates=opt.updates(m.grads))
    X, y = p.X, p.y

    def step() -> None:
        f(X, y)

    return step, m.params


# --- optional peers ---------------------------------------------------------------------


def torch_step(torch, p: Problem) -> tuple[Callable[[], None], Callable[[], list[np.ndarray]]]:
    """PyTorch eager: returns (step, grads-at-current-params)."""
    F = torch.nn.functional
    params = [torch.tensor(a, requires_grad=True) for a in p.params]
    X, y = torch.from_numpy(p.X), torch.from_numpy(p.y)

    def loss_fn():
        h = X
        n_layers = len(params) // 2
        for k in range(n_layers):
            h = h @ params[2 * k] + params[2 * k + 1]
            if k < n_layers - 1:
                h = torch.relu(h)
        return F.cross_entropy(h, y)

    def step() -> None:
        loss_fn().backward()
        with torch.no_grad():
            for prm in params:
                prm.sub_(prm.grad, alpha=LR)
                prm.grad = None

    def grads() -> list[np.ndarray]:
        return [t.numpy() for t in torch.autograd.grad(loss_fn(), params)]

    return step, grads


def autograd_loss(anp, logsumexp):
    def loss(params, X, y):
        h = X
        n_layers = len(params) // 2
        for k in range(n_layers):
            h = anp.dot(h, params[2 * k]) + params[2 * k + 1]
            if k < n_layers - 1:
                h = anp.maximum(h, 0)
        return anp.mean(logsumexp(h, axis=1) - h[anp.arange(X.shape[0]), y])

    return loss


def autograd_step(p: Problem) -> tuple[Callable[[], None], Callable[[], list[np.ndarray]]]:
    """HIPS autograd: grad of a NumPy-style loss, update in place."""
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    gfun = autograd.grad(autograd_loss(anp, logsumexp))
    params = copy_params(p)

    def step() -> None:
        for prm, d in zip(params, gfun(params, p.X, p.y), strict=True):
            prm -= LR * d

    return step, lambda: gfun(params, p.X, p.y)
