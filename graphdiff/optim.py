"""Optimizers: SGD with momentum and Adam, updating parameter arrays in place.

``step(grads)`` takes gradient arrays in the order of ``params`` (as returned by a
compiled ``g.function(..., outputs=[loss, *gd.grad(loss, params)])``) and writes the
new values into each parameter's existing ``value`` array, using preallocated scratch
buffers so a training step allocates nothing here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .graph import Node


class Optimizer:
    """Base class: holds the parameters and checks the gradients handed to ``step``."""

    def __init__(self, params: Sequence[Node], lr: float) -> None:
        self.params = list(params)
        for p in self.params:
            if not isinstance(p, Node) or p.kind != "parameter":
                raise TypeError(f"optimizers update parameters, got {p!r}")
        self.lr = float(lr)  # a plain attribute, so schedules can change it between steps
        self.t = 0  # number of steps taken

    def _buffers(self) -> list[np.ndarray]:
        return [np.zeros_like(p.value) for p in self.params]

    def _check(self, grads: Sequence[Any]) -> list[tuple[np.ndarray, np.ndarray]]:
        grads = list(grads)
        if len(grads) != len(self.params):
            raise ValueError(f"step got {len(grads)} gradients for {len(self.params)} parameters")
        pairs = []
        for p, gr in zip(self.params, grads, strict=True):
            value = p.value  # read every step: the user may have assigned a new array
            if not hasattr(gr, "shape"):
                gr = np.asarray(gr)  # lists; arrays of other libraries stay as they are
            if gr.shape != value.shape:
                raise ValueError(f"gradient of shape {gr.shape} for parameter {p.name!r} of "
                                 f"shape {value.shape}")
            pairs.append((value, gr))
        self.t += 1
        return pairs

    def step(self, grads: Sequence[Any]) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with momentum: ``v = momentum*v + g; p -= lr*v``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); W = g.parameter(np.ones(2), name="W")
    >>> opt = gd.optim.SGD([W], lr=0.1)
    >>> opt.step([np.array([1.0, -1.0])])
    >>> W.value
    array([0.9, 1.1])
    """

    # lr * v is formed in blocks of this many elements (1-2 MB of scratch): much smaller
    # blocks made the update twice as slow, and one scratch as large as all parameters
    # raised a step's peak memory a third above hand-written NumPy.
    BLOCK = 1 << 18

    def __init__(self, params: Sequence[Node], lr: float, momentum: float = 0.0) -> None:
        super().__init__(params, lr)
        self.momentum = float(momentum)
        self.velocity = self._buffers() if self.momentum else None
        self._scratch: dict[np.dtype, np.ndarray] = {}

    def step(self, grads: Sequence[Any]) -> None:
        """Update every parameter in place from its gradient array."""
        for i, (p, gr) in enumerate(self._check(grads)):
            v = gr
            if self.velocity is not None:
                v = self.velocity[i]
                v *= self.momentum
                v += gr
            self._subtract_scaled(p, v)

    def _subtract_scaled(self, p: np.ndarray, v: np.ndarray) -> None:
        """p -= lr * v, without a temporary the size of p."""
        if not (type(p) is np.ndarray and type(v) is np.ndarray and p.flags.c_contiguous
                and v.flags.c_contiguous):
            p -= v * self.lr  # CuPy and other arrays: their own arithmetic
            return
        scratch = self._scratch.get(p.dtype)
        if scratch is None:
            scratch = self._scratch[p.dtype] = np.empty(self.BLOCK, dtype=p.dtype)
        flat_p, flat_v = p.reshape(-1), v.reshape(-1)
        for start in range(0, flat_p.size, self.BLOCK):
            stop = min(start + self.BLOCK, flat_p.size)
            s = np.multiply(flat_v[start:stop], self.lr, out=scratch[: stop - start],
                            casting="same_kind")
            flat_p[start:stop] -= s


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) with bias-corrected moment estimates.

    ``m = b1*m + (1-b1)*g``, ``v = b2*v + (1-b2)*g**2``,
    ``p -= lr * m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m/(1-b1**t)``,
    ``v_hat = v/(1-b2**t)``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); W = g.parameter(np.ones(2), name="W")
    >>> opt = gd.optim.Adam([W], lr=0.1)
    >>> opt.step([np.array([3.0, -0.5])])    # the first step moves by lr * sign(g)
    >>> W.value
    array([0.9, 1.1])
    """

    def __init__(self, params: Sequence[Node], lr: float = 1e-3, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8) -> None:
        super().__init__(params, lr)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.m, self.v, self._scratch = self._buffers(), self._buffers(), self._buffers()

    def step(self, grads: Sequence[Any]) -> None:
        """Update every parameter in place from its gradient array."""
        pairs = self._check(grads)
        b1, b2 = self.beta1, self.beta2
        step_size = self.lr / (1.0 - b1 ** self.t)
        v_scale = np.sqrt(1.0 - b2 ** self.t)
        for (p, gr), m, v, s in zip(pairs, self.m, self.v, self._scratch, strict=True):
            m *= b1
            m += np.multiply(gr, 1.0 - b1, out=s, casting="same_kind")
            v *= b2
            np.square(gr, out=s, casting="same_kind")
            v += np.multiply(s, 1.0 - b2, out=s)
            # sqrt(v_hat) + eps == sqrt(v) / sqrt(1 - b2**t) + eps
            np.sqrt(v, out=s)
            s /= v_scale
            s += self.eps
            np.divide(m, s, out=s)
            s *= step_size
            p -= s
