"""Optimizers (SGD, Adam, AdamW, RMSprop) that update parameters in place or in the graph.

Each optimizer offers two ways to take a step, with the same numbers (torch's update
formulas):

- ``step(grads)`` takes gradient arrays in the order of ``params`` (as returned by a
  compiled ``g.function(..., outputs=[loss, *gd.grad(loss, params)])``) and writes the
  new values into each parameter's existing ``value`` array, using preallocated scratch
  buffers so a training step allocates nothing here.
- ``updates(grads)`` takes the gradient Nodes and returns the update Nodes of one step,
  ``{node: new_value_node}``, for ``g.function(..., updates=...)``. The optimizer's state
  (moment buffers, the step count, the learning rate) then lives in graph parameters that
  the same dict advances, so one compiled call performs the whole step.

Both paths share one state: after ``updates`` has been called the buffers are those
graph parameters, so ``step``, ``state_dict`` and an assigned ``lr`` see and change the
state the compiled function uses.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import functional as F
from ..graph import Graph, Node
from ..io import load, save


def _number(value: Any, what: str, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray)) or \
            np.ndim(value) != 0:
        raise TypeError(f"{what} must be a real number, got {value!r}")
    value = float(value)
    if not value >= minimum:  # also refuses NaN
        raise ValueError(f"{what} must be >= {minimum}, got {value}")
    return value


class Optimizer:
    """Base class: the parameters, the learning rate, the step count and the state buffers.

    Subclasses name their per-parameter buffers (``buffer_names``) and their numeric
    hyperparameters (``hyperparameters``), and implement ``_step_array`` (NumPy, in
    place) and ``_step_nodes`` (graph nodes) with the same formula.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); W = g.parameter(np.ones(2), name="W")
    >>> opt = gd.optim.SGD([W], lr=0.1, momentum=0.9)
    >>> sorted(opt.state_dict())
    ['lr', 'momentum', 'state.0.momentum_buffer', 't', 'weight_decay']
    """

    #: numeric settings saved by ``state_dict`` besides ``lr`` (attribute names)
    hyperparameters: tuple[str, ...] = ("weight_decay",)

    def __init__(self, params: Sequence[Node], lr: float, weight_decay: float = 0.0) -> None:
        self.params = list(params)
        for p in self.params:
            if not isinstance(p, Node) or p.kind != "parameter":
                raise TypeError(f"optimizers update parameters, got {p!r}")
        self._lr = _number(lr, "lr")
        self.weight_decay = _number(weight_decay, "weight_decay")
        self._t = 0
        self._buffers = [{name: np.zeros_like(p.value) for name in self.buffer_names()}
                         for p in self.params]
        self._scratch: list[np.ndarray | None] = [None] * len(self.params)
        # Graph parameters holding lr, t and the buffers, made by the first updates() call;
        # lr and t have one node per parameter dtype so a float32 model stays float32.
        self._lr_nodes: dict[np.dtype, Node] = {}
        self._t_nodes: dict[np.dtype, Node] = {}
        self._buffer_nodes: list[dict[str, Node]] | None = None

    # ------------------------------------------------------------------ state
    def buffer_names(self) -> tuple[str, ...]:
        """Names of the per-parameter state buffers (torch's names), e.g. ``("exp_avg",)``."""
        return ()

    @property
    def lr(self) -> float:
        """The learning rate of the next step; assignable (schedules set it every step)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _number(value, "lr")
        for dtype, node in self._lr_nodes.items():
            node.value = np.array(self._lr, dtype=dtype)

    @property
    def t(self) -> int:
        """Number of steps taken, by ``step`` or by calls of a compiled ``updates`` dict."""
        for node in self._t_nodes.values():
            return int(round(float(node.value)))
        return self._t

    def _set_t(self, t: int) -> None:
        self._t = t
        for dtype, node in self._t_nodes.items():
            node.value = np.array(t, dtype=dtype)

    def buffers(self, i: int) -> dict[str, np.ndarray]:
        """The live state arrays of parameter ``i`` (by name); empty for plain SGD."""
        if self._buffer_nodes is not None:
            return {name: node.value for name, node in self._buffer_nodes[i].items()}
        return self._buffers[i]

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as plain data: numbers and copies of arrays, no Nodes.

        Keys: ``"lr"``, ``"t"``, the hyperparameters, and ``"state.<i>.<buffer>"`` for
        parameter ``i`` (flat, so ``save_state`` can write it with ``gd.save``).

        Examples
        --------
        >>> import numpy as np, graphdiff as gd
        >>> g = gd.Graph(); W = g.parameter(np.ones(2), name="W")
        >>> opt = gd.optim.Adam([W], lr=0.1); opt.step([np.ones(2)])
        >>> sd = opt.state_dict(); sd["t"], sd["state.0.exp_avg"]
        (1, array([0.1, 0.1]))
        """
        out: dict[str, Any] = {"lr": self.lr, "t": self.t}
        for name in self.hyperparameters:
            out[name] = getattr(self, name)
        for i in range(len(self.params)):
            for name, array in self.buffers(i).items():
                out[f"state.{i}.{name}"] = np.array(array, copy=True)
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict`` (of an optimizer of the same kind over the same shapes).

        Everything is checked before anything changes; arrays are copied into the live
        buffers, numbers may also be 0-d arrays (as ``gd.load`` returns them).

        Examples
        --------
        >>> import numpy as np, graphdiff as gd
        >>> g = gd.Graph(); W = g.parameter(np.ones(2), name="W")
        >>> a = gd.optim.SGD([W], lr=0.1, momentum=0.9); a.step([np.ones(2)])
        >>> b = gd.optim.SGD([W], lr=0.5, momentum=0.9); b.load_state_dict(a.state_dict())
        >>> b.lr, b.t, b.buffers(0)["momentum_buffer"]
        (0.1, 1, array([1., 1.]))
        """
        expected = set(self.state_dict())
        if not isinstance(state, dict) or set(state) != expected:
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"{type(self).__name__}.load_state_dict expects the keys "
                             f"{sorted(expected)}, got {got}")
        numbers_ = {"lr": _number(state["lr"], "lr")}
        t = state["t"]
        if np.ndim(t) != 0 or float(t) != int(t) or int(t) < 0:
            raise ValueError(f"state_dict 't' must be a step count, got {t!r}")
        for name in self.hyperparameters:
            numbers_[name] = _number(state[name], name, minimum=-np.inf)
        arrays = []
        for i in range(len(self.params)):
            for name, live in self.buffers(i).items():
                key = f"state.{i}.{name}"
                new = np.asarray(state[key])
                if new.shape != live.shape or not np.can_cast(new.dtype, live.dtype,
                                                              "same_kind"):
                    raise ValueError(f"state_dict {key!r} has shape {new.shape} and dtype "
                                     f"{new.dtype}; the optimizer's buffer is {live.shape} "
                                     f"{live.dtype}")
                arrays.append((live, new))
        for live, new in arrays:  # all checked first: nothing half-loaded
            np.copyto(live, new, casting="same_kind")
        self.lr = numbers_.pop("lr")
        for name, value in numbers_.items():
            setattr(self, name, value)
        self._set_t(int(t))

    # ------------------------------------------------------------------ NumPy step
    def _scratch_of(self, i: int, like: np.ndarray) -> np.ndarray:
        s = self._scratch[i]
        if s is None or s.shape != like.shape or s.dtype != like.dtype:
            s = self._scratch[i] = np.empty_like(like)
        return s

    def _check(self, grads: Sequence[Any]) -> list[tuple[int, np.ndarray, Any]]:
        grads = list(grads)
        if len(grads) != len(self.params):
            raise ValueError(f"step got {len(grads)} gradients for {len(self.params)} parameters")
        triples = []
        for i, (p, gr) in enumerate(zip(self.params, grads, strict=True)):
            if gr is None:
                continue  # as torch: a parameter without a gradient is left alone
            value = p.value  # read every step: the user may have assigned a new array
            if not hasattr(gr, "shape"):
                gr = np.asarray(gr)  # lists; arrays of other libraries stay as they are
            if gr.shape != value.shape:
                raise ValueError(f"gradient of shape {gr.shape} for parameter {p.name!r} of "
                                 f"shape {value.shape}")
            triples.append((i, value, gr))
        return triples

    def step(self, grads: Sequence[Any]) -> None:
        """Update every parameter in place from its gradient array (``None``: skip it)."""
        triples = self._check(grads)
        t = self.t + 1
        for i, value, gr in triples:
            if self.weight_decay and not self.decoupled_decay:
                # torch's L2 form: the decay term joins the gradient before anything else
                s = self._scratch_of(i, value)
                np.multiply(value, self.weight_decay, out=s)
                np.add(s, gr, out=s, casting="same_kind")
                gr = s
            self._step_array(i, value, gr, self.buffers(i), t)
        self._set_t(t)

    #: AdamW's decay multiplies the parameter instead of joining the gradient
    decoupled_decay = False

    def _step_array(self, i: int, p: np.ndarray, gr: Any, buf: dict[str, np.ndarray],
                    t: int) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ graph step
    def _state_nodes(self, graph: Graph) -> None:
        """Move lr, t and the buffers into parameters of ``graph`` (once)."""
        if self._buffer_nodes is not None:
            return
        kind = type(self).__name__
        dtypes = {p.dtype for p in self.params}
        for dtype in sorted(dtypes, key=str):
            self._lr_nodes[dtype] = graph.parameter(np.array(self._lr, dtype=dtype),
                                                    name=f"{kind}.lr")
            self._t_nodes[dtype] = graph.parameter(np.array(self._t, dtype=dtype),
                                                   name=f"{kind}.t")
        self._buffer_nodes = [
            {name: graph.parameter(array, name=f"{kind}.{name}.{p.name or i}")
             for name, array in self._buffers[i].items()}
            for i, p in enumerate(self.params)]
        self._buffers = []  # the nodes' values are the state from now on

    def updates(self, grads: Sequence[Node | None]) -> dict[Node, Node]:
        """The update Nodes of one step: ``{parameter or state node: its new value}``.

        Pass the dict to ``g.function(..., updates=...)``: each call then takes one step
        (the same numbers as ``step``), advancing the moment buffers and the step count,
        which live in graph parameters from the first call of ``updates`` on. ``lr`` is a
        graph parameter too, so assigning ``opt.lr`` changes the compiled step.

        Examples
        --------
        >>> import numpy as np, graphdiff as gd
        >>> g = gd.Graph(); w = g.parameter(np.array([1.0, 2.0]), name="w")
        >>> loss = gd.sum(w * w)
        >>> opt = gd.optim.SGD([w], lr=0.25)
        >>> up = opt.updates(gd.grad(loss, [w]))
        >>> g.run(up[w])                 # w - 0.25 * 2w
        array([0.5, 1. ])
        """
        grads = list(grads)
        if len(grads) != len(self.params):
            raise ValueError(f"updates got {len(grads)} gradients for {len(self.params)} "
                             "parameters")
        graph = self.params[0].graph if self.params else None
        for p, gr in zip(self.params, grads, strict=True):
            if p.graph is not graph:
                raise ValueError("updates needs all parameters in one graph")
            if gr is None:
                continue
            if not isinstance(gr, Node) or gr.graph is not graph:
                raise TypeError(f"updates takes gradient Nodes of the parameters' graph, got "
                                f"{gr!r} for parameter {p.name!r}")
            if gr.shape is not None and None not in gr.shape and gr.shape != p.shape:
                raise ValueError(f"gradient of shape {gr.shape} for parameter {p.name!r} of "
                                 f"shape {p.shape}")
        if graph is None:
            return {}
        self._state_nodes(graph)
        out: dict[Node, Node] = {}
        t_next = {}
        for dtype, node in self._t_nodes.items():
            t_next[dtype] = out[node] = node + 1.0
        for i, (p, gr) in enumerate(zip(self.params, grads, strict=True)):
            if gr is None:
                continue
            lr, t = self._lr_nodes[p.dtype], t_next[p.dtype]
            if self.weight_decay and not self.decoupled_decay:
                gr = gr + p * self.weight_decay
            new = self._step_nodes(p, gr, self._buffer_nodes[i], lr, t)
            out.update(new)
        return out

    def _step_nodes(self, p: Node, gr: Node, buf: dict[str, Node], lr: Node,
                    t: Node) -> dict[Node, Node]:
        raise NotImplementedError

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={getattr(self, k)}" for k in self.hyperparameters)
        return f"{type(self).__name__}({len(self.params)} parameters, lr={self.lr}, {settings})"


class SGD(Optimizer):
    """Stochastic gradient descent with momentum: ``v = momentum*v + g; p -= lr*v``.

    As torch's ``SGD`` (no dampening): with ``weight_decay`` the gradient is
    ``g + weight_decay * p``; without momentum no buffer is kept.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); W = g.parameter(np.ones(2), name="W")
    >>> opt = gd.optim.SGD([W], lr=0.1)
    >>> opt.step([np.array([1.0, -1.0])])
    >>> W.value
    array([0.9, 1.1])
    """

    hyperparameters = ("momentum", "weight_decay")

    # lr * v is formed in blocks of this many elements (1-2 MB of scratch): much smaller
    # blocks made the update twice as slow, and one scratch as large as all parameters
    # raised a step's peak memory a third above hand-written NumPy.
    BLOCK = 1 << 18

    def __init__(self, params: Sequence[Node], lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        self.momentum = _number(momentum, "momentum")
        super().__init__(params, lr, weight_decay)
        self._blocks: dict[np.dtype, np.ndarray] = {}

    def buffer_names(self) -> tuple[str, ...]:
        return ("momentum_buffer",) if self.momentum else ()

    def _step_array(self, i, p, gr, buf, t):
        v = gr
        if self.momentum:
            v = buf["momentum_buffer"]
            v *= self.momentum
            v += gr
        self._subtract_scaled(p, v)

    def _subtract_scaled(self, p: np.ndarray, v: np.ndarray) -> None:
        """p -= lr * v, without a temporary the size of p."""
        if not (type(p) is np.ndarray and type(v) is np.ndarray and p.flags.c_contiguous
                and v.flags.c_contiguous):
            p -= v * self.lr  # CuPy and other arrays: their own arithmetic
            return
        scratch = self._blocks.get(p.dtype)
        if scratch is None:
            scratch = self._blocks[p.dtype] = np.empty(self.BLOCK, dtype=p.dtype)
        flat_p, flat_v = p.reshape(-1), v.reshape(-1)
        for start in range(0, flat_p.size, self.BLOCK):
            stop = min(start + self.BLOCK, flat_p.size)
            s = np.multiply(flat_v[start:stop], self.lr, out=scratch[: stop - start],
                            casting="same_kind")
            flat_p[start:stop] -= s

    def _step_nodes(self, p, gr, buf, lr, t):
        if not self.momentum:
            return {p: p - lr * gr}
        v = buf["momentum_buffer"] * self.momentum + gr
        return {buf["momentum_buffer"]: v, p: p - lr * v}


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) with bias-corrected moment estimates, as torch's.

    ``m = b1*m + (1-b1)*g``, ``v = b2*v + (1-b2)*g**2``,
    ``p -= lr * m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m/(1-b1**t)``,
    ``v_hat = v/(1-b2**t)``; ``weight_decay`` adds ``weight_decay * p`` to ``g`` (L2).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); W = g.parameter(np.ones(2), name="W")
    >>> opt = gd.optim.Adam([W], lr=0.1)
    >>> opt.step([np.array([3.0, -0.5])])    # the first step moves by lr * sign(g)
    >>> W.value
    array([0.9, 1.1])
    """

    hyperparameters = ("beta1", "beta2", "eps", "weight_decay")

    def __init__(self, params: Sequence[Node], lr: float = 1e-3, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        self.beta1, self.beta2 = _number(beta1, "beta1"), _number(beta2, "beta2")
        self.eps = _number(eps, "eps")
        super().__init__(params, lr, weight_decay)
        self._adam_scratch = [np.zeros_like(p.value) for p in self.params]

    def buffer_names(self) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq")

    def _step_array(self, i, p, gr, buf, t):
        b1, b2 = self.beta1, self.beta2
        if self.decoupled_decay and self.weight_decay:
            p *= 1.0 - self.lr * self.weight_decay
        step_size = self.lr / (1.0 - b1 ** t)
        v_scale = np.sqrt(1.0 - b2 ** t)
        m, v, s = buf["exp_avg"], buf["exp_avg_sq"], self._adam_scratch[i]
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

    def _step_nodes(self, p, gr, buf, lr, t):
        b1, b2 = self.beta1, self.beta2
        m = buf["exp_avg"] * b1 + gr * (1.0 - b1)
        v = buf["exp_avg_sq"] * b2 + F.square(gr) * (1.0 - b2)
        step_size = lr / (1.0 - b1 ** t)
        denom = F.sqrt(v) / F.sqrt(1.0 - b2 ** t) + self.eps
        base = p
        if self.decoupled_decay and self.weight_decay:
            base = p * (1.0 - lr * self.weight_decay)
        return {buf["exp_avg"]: m, buf["exp_avg_sq"]: v, p: base - m / denom * step_size}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019), as torch's ``AdamW``.

    Each step first shrinks the parameter, ``p *= 1 - lr * weight_decay``, then takes
    Adam's step with the plain gradient.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); W = g.parameter(np.ones(2), name="W")
    >>> opt = gd.optim.AdamW([W], lr=0.1, weight_decay=0.5)
    >>> opt.step([np.array([3.0, -0.5])])    # 1 * (1 - 0.05) -+ 0.1
    >>> W.value
    array([0.85, 1.05])
    """

    decoupled_decay = True

    def __init__(self, params: Sequence[Node], lr: float = 1e-3, weight_decay: float = 1e-2,
                 beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        super().__init__(params, lr, beta1=beta1, beta2=beta2, eps=eps,
                         weight_decay=weight_decay)


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012), as torch's (not centered).

    ``s = alpha*s + (1-alpha)*g**2``; ``p -= lr * g / (sqrt(s) + eps)``, or with momentum
    ``b = momentum*b + g / (sqrt(s) + eps); p -= lr*b``; ``weight_decay`` adds
    ``weight_decay * p`` to ``g`` (L2).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); W = g.parameter(np.ones(1), name="W")
    >>> opt = gd.optim.RMSprop([W], lr=0.01, alpha=0.75, eps=0.0)
    >>> opt.step([np.array([2.0])])          # s = 0.25 * 4 = 1: p -= 0.01 * 2 / 1
    >>> W.value
    array([0.98])
    """

    hyperparameters = ("alpha", "eps", "momentum", "weight_decay")

    def __init__(self, params: Sequence[Node], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        self.alpha, self.eps = _number(alpha, "alpha"), _number(eps, "eps")
        self.momentum = _number(momentum, "momentum")
        super().__init__(params, lr, weight_decay)
        self._rms_scratch = [np.zeros_like(p.value) for p in self.params]

    def buffer_names(self) -> tuple[str, ...]:
        return ("square_avg", "momentum_buffer") if self.momentum else ("square_avg",)

    def _step_array(self, i, p, gr, buf, t):
        sq, s = buf["square_avg"], self._rms_scratch[i]
        sq *= self.alpha
        np.square(gr, out=s, casting="same_kind")
        s *= 1.0 - self.alpha
        sq += s
        np.sqrt(sq, out=s)
        s += self.eps
        np.divide(gr, s, out=s, casting="same_kind")
        if self.momentum:
            b = buf["momentum_buffer"]
            b *= self.momentum
            b += s
            s = np.multiply(b, self.lr, out=s)
        else:
            s *= self.lr
        p -= s

    def _step_nodes(self, p, gr, buf, lr, t):
        sq = buf["square_avg"] * self.alpha + F.square(gr) * (1.0 - self.alpha)
        ratio = gr / (F.sqrt(sq) + self.eps)
        out = {buf["square_avg"]: sq}
        if self.momentum:
            ratio = out[buf["momentum_buffer"]] = buf["momentum_buffer"] * self.momentum + ratio
        out[p] = p - ratio * lr
        return out


# ---------------------------------------------------------------- gradient clipping
def clip_grad_norm(grads: Sequence[Node | None], max_norm: float) -> list[Node | None]:
    """Gradients rescaled so their joint L2 norm is at most ``max_norm`` (as torch's).

    ``scale = max_norm / (total_norm + 1e-6)``, applied (multiplied in) only where it is
    below 1; ``total_norm`` is the L2 norm of all the gradients together. Nodes in, Nodes
    out (``None`` entries stay ``None``), so the clipping runs inside the graph.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); a = g.constant(np.array([3.0, 4.0]))
    >>> (c,) = gd.optim.clip_grad_norm([a], 1.0)
    >>> np.round(g.run(c), 6)                # norm 5 becomes norm 1
    array([0.6, 0.8])
    """
    max_norm = _number(max_norm, "max_norm")
    grads = list(grads)
    present = [gr for gr in grads if gr is not None]
    for gr in present:
        if not isinstance(gr, Node):
            raise TypeError(f"clip_grad_norm takes gradient Nodes, got {gr!r}")
    if not present:
        return grads
    total = F.sqrt(F.add_n([F.sum(F.square(gr)) for gr in present]))
    scale = F.minimum(max_norm / (total + 1e-6), 1.0)
    return [None if gr is None else gr * scale for gr in grads]


# ---------------------------------------------------------------- saving the state
def save_state(path: str | os.PathLike, optimizer: Optimizer) -> None:
    """Write ``optimizer.state_dict()`` to ``path`` with ``gd.save`` (.npz, no pickle).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd, tempfile, os
    >>> g = gd.Graph(); W = g.parameter(np.ones(2), name="W")
    >>> opt = gd.optim.Adam([W], lr=0.1); opt.step([np.ones(2)])
    >>> path = os.path.join(tempfile.mkdtemp(), "opt.npz"); gd.optim.save_state(path, opt)
    >>> new = gd.optim.Adam([W]); gd.optim.load_state(path, new); new.t, new.lr
    (1, 0.1)
    """
    save(path, _holders(optimizer.state_dict()))


def load_state(path: str | os.PathLike, optimizer: Optimizer) -> None:
    """Read a state written by ``save_state`` into ``optimizer`` (checked, then copied in).

    The file must come from an optimizer of the same kind over parameters of the same
    shapes; ``gd.load`` checks the count, shapes and dtypes of its arrays.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd, tempfile, os
    >>> g = gd.Graph(); W = g.parameter(np.ones(2), name="W")
    >>> old = gd.optim.SGD([W], lr=0.1, momentum=0.9); old.step([np.ones(2)])
    >>> path = os.path.join(tempfile.mkdtemp(), "sgd.npz"); gd.optim.save_state(path, old)
    >>> new = gd.optim.SGD([W], lr=0.1, momentum=0.9); gd.optim.load_state(path, new)
    >>> new.buffers(0)["momentum_buffer"]
    array([1., 1.])
    """
    template = optimizer.state_dict()
    holders = _holders(template)
    load(path, holders)
    state = {}
    for node in holders:
        value = node.value
        if not isinstance(template[node.name], np.ndarray):  # numbers come back as 0-d arrays
            value = value.item()
        state[node.name] = value
    optimizer.load_state_dict(state)


def _holders(state: dict[str, Any]) -> list[Node]:
    """One parameter node per entry, named by its key, in a throwaway graph (gd.save's form)."""
    g = Graph()
    return [g.parameter(np.asarray(state[k]), name=k) for k in sorted(state)]


__all__: Sequence[str] = ("Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "clip_grad_norm",
                          "save_state", "load_state")
