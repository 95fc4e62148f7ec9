"""A small training loop: minibatch epochs over a compiled step, with a progress bar.

The pattern it runs is the book's minibatch SGD (Algorithm 6.4 inside a loop): compile
``loss`` and its gradients once with ``g.function``, then for each shuffled minibatch
compute them and let an optimizer update the parameters in place.

Examples
--------
>>> import numpy as np, graphdiff as gd
>>> g = gd.Graph()
>>> x = g.input("x", shape=(None, 2)); t = g.input("t", shape=(None,), dtype="int64")
>>> mlp = gd.nn.MLP(g, [2, 8, 2], rng=np.random.default_rng(0))
>>> loss = gd.losses.softmax_cross_entropy(mlp(x), t)
>>> step = g.function([x, t], [loss, *gd.grad(loss, mlp.params)])
>>> X = np.random.default_rng(1).standard_normal((64, 2)); y = (X[:, 0] > 0).astype(int)
>>> hist = gd.fit(step, (X, y), epochs=20, batch_size=16,
...               optimizer=gd.optim.Adam(mlp.params, lr=0.05), progress=False)
>>> predict = g.function([x], mlp(x))
>>> gd.accuracy(predict, X, y) > 0.9
True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class History:
    """What ``fit`` recorded: mean loss per epoch, loss per step, metrics per epoch.

    Attributes
    ----------
    loss : list of float
        Mean training loss of each epoch (weighted by batch size).
    batch_loss : list of float
        Loss of every step, in order.
    metrics : dict of str to list of float
        Each metric of ``fit(metrics=...)``, evaluated after every epoch.
    seconds : float
        Wall time of the whole ``fit`` call.

    Examples
    --------
    >>> import graphdiff as gd
    >>> h = gd.History(); h.loss.append(0.5); h.loss
    [0.5]
    """

    loss: list[float] = field(default_factory=list)
    batch_loss: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def epochs(self) -> int:
        return len(self.loss)


def _as_arrays(data: Any) -> list[np.ndarray]:
    arrays = [np.asarray(a) for a in (data if isinstance(data, (tuple, list)) else [data])]
    sizes = {len(a) for a in arrays}
    if len(sizes) != 1:
        raise ValueError(f"data arrays differ in length along axis 0: {sorted(sizes)}")
    return arrays


def _batches(n: int, batch_size: int, drop_last: bool) -> list[tuple[int, int]]:
    stop = n - n % batch_size if drop_last else n
    return [(s, min(s + batch_size, n)) for s in range(0, stop, batch_size)]


def _loss_of(out: Any) -> tuple[float, Any]:
    """The (loss, gradients) a step returned: a loss alone, or [loss, *grads]."""
    rest = ()
    if isinstance(out, (list, tuple)):
        out, rest = out[0], out[1:]
    value = np.asarray(out)
    if value.size != 1:
        raise ValueError(f"the step's first output must be the scalar loss, not {value.shape}")
    return float(value.reshape(())), rest


class _Progress:
    """tqdm when it is installed, else one printed line per epoch; or nothing."""

    def __init__(self, mode: bool | str, total: int, epochs: int) -> None:
        self.epochs, self.bar = epochs, None
        self.plain = mode == "plain"
        self.quiet = mode is False
        if mode is True:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                self.plain = True
            else:
                self.bar = tqdm(total=total, unit="step", dynamic_ncols=True)
        elif mode not in (False, "plain"):
            raise ValueError(f"progress must be True, False or 'plain', got {mode!r}")

    def step(self, epoch: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.set_description(f"epoch {epoch + 1}/{self.epochs}", refresh=False)
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            self.bar.update()

    def epoch_end(self, epoch: int, loss: float, metrics: dict[str, float], secs: float) -> None:
        if self.bar is not None:  # the epoch's mean loss replaces the last step's
            self.bar.set_postfix(loss=f"{loss:.4f}", **{k: f"{v:.4f}" for k, v in metrics.items()})
        elif self.plain:
            extra = "".join(f"  {k} {v:.4f}" for k, v in metrics.items())
            print(f"epoch {epoch + 1}/{self.epochs}  loss {loss:.4f}{extra}  ({secs:.1f}s)",
                  flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def fit(step: Callable[..., Any], data: Any, epochs: int = 1, batch_size: int = 32, *,
        optimizer: Any = None, rng: np.random.Generator | None = None, shuffle: bool = True,
        drop_last: bool = False, metrics: dict[str, Callable[[], float]] | None = None,
        progress: bool | str = True) -> History:
    """Run minibatch epochs of ``step`` over ``data`` and record the loss.

    Parameters
    ----------
    step : callable
        Called with one minibatch array per entry of ``data`` (a compiled
        ``g.function(inputs, outputs)`` fits). Returns the scalar loss, or a list
        ``[loss, *grads]``; with ``optimizer`` given, ``optimizer.step(grads)`` follows.
    data : array or sequence of arrays
        Equal-length arrays (``(X, y)``), cut into minibatches along axis 0.
    epochs, batch_size : int
    optimizer : gd.optim.SGD or gd.optim.Adam, optional
        Without it, ``step`` must update the parameters itself.
    rng : numpy.random.Generator, optional
        Shuffles the examples each epoch (default ``np.random.default_rng()``).
    shuffle, drop_last : bool
        Shuffle every epoch; drop a last batch smaller than ``batch_size``.
    metrics : dict of str to callable, optional
        Zero-argument callables evaluated after every epoch, e.g. held-out accuracy
        ``{"test_acc": lambda: gd.accuracy(predict, X_test, y_test)}``.
    progress : True, False or "plain"
        A tqdm bar with the loss (a printed line per epoch without tqdm), or nothing.

    Returns
    -------
    History

    Raises
    ------
    FloatingPointError
        When the loss becomes NaN or infinite (a learning rate too large, usually).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(None,))
    >>> w = g.parameter(np.array(0.0), name="w")
    >>> loss = gd.mean((x * w - 3.0 * x) ** 2)
    >>> step = g.function([x], [loss, gd.grad(loss, w)])
    >>> hist = gd.fit(step, np.linspace(-1, 1, 32), epochs=50, batch_size=8,
    ...               optimizer=gd.optim.SGD([w], lr=0.3), progress=False)
    >>> round(float(w.value), 3), hist.loss[-1] < 1e-6
    (3.0, True)
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs} and {batch_size}")
    arrays = _as_arrays(data)
    n = len(arrays[0])
    rng = np.random.default_rng() if rng is None else rng
    spans = _batches(n, batch_size, drop_last)
    if not spans:
        raise ValueError(f"no minibatch of {batch_size} in {n} examples")
    seen = spans[-1][1]  # examples per epoch: the batches cover [0, seen)
    hist = History(metrics={k: [] for k in metrics or {}})
    bar = _Progress(progress, epochs * len(spans), epochs)
    start = time.perf_counter()
    try:
        for epoch in range(epochs):
            order = rng.permutation(n) if shuffle else None
            total = 0.0
            for s, e in spans:
                batch = [a[s:e] if order is None else a[order[s:e]] for a in arrays]
                loss, grads = _loss_of(step(*batch))
                if not np.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss} at epoch {epoch + 1}, step "
                                             f"{len(hist.batch_loss) + 1}; try a smaller lr")
                if optimizer is not None:
                    optimizer.step(grads)
                hist.batch_loss.append(loss)
                total += loss * (e - s)
                bar.step(epoch, loss)
            hist.loss.append(total / seen)
            values = {k: float(f()) for k, f in (metrics or {}).items()}
            for k, v in values.items():
                hist.metrics[k].append(v)
            bar.epoch_end(epoch, hist.loss[-1], values, time.perf_counter() - start)
    finally:
        bar.close()
        hist.seconds = time.perf_counter() - start
    return hist


def _first(out: Any) -> np.ndarray:
    return np.asarray(out[0] if isinstance(out, (list, tuple)) else out)


def evaluate(fn: Callable[..., Any], data: Any, batch_size: int | None = None) -> float:
    """Mean of ``fn``'s scalar output (e.g. a loss) over ``data``, batch-size weighted.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(None,))
    >>> gd.train.evaluate(g.function([x], gd.mean(x * x)), np.arange(4.0), batch_size=2)
    3.5
    """
    arrays = _as_arrays(data)
    n = len(arrays[0])
    spans = _batches(n, batch_size or max(n, 1), False)
    total = sum(float(_first(fn(*(a[s:e] for a in arrays)))) * (e - s) for s, e in spans)
    return total / max(n, 1)


def accuracy(predict_fn: Callable[..., Any], X: Any, y: Any, batch_size: int | None = None,
             threshold: float = 0.5) -> float:
    """Fraction of examples whose predicted class equals the label.

    ``predict_fn(X_batch)`` returns class scores ``(n, k)`` (logits or probabilities;
    the class is the argmax), or one score per example ``(n,)``/``(n, 1)`` for a binary
    problem (class 1 where the score exceeds ``threshold``; pass 0.0 for logits).
    ``y`` holds class indices, or one-hot rows.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> gd.accuracy(lambda X: X, np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1]))
    0.5
    """
    X, y = np.asarray(X), np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    y = y.reshape(len(X))
    spans = _batches(len(X), batch_size or max(len(X), 1), False)
    correct = 0
    for s, e in spans:
        out = _first(predict_fn(X[s:e]))
        if out.ndim == 2 and out.shape[1] > 1:
            pred = out.argmax(axis=1)
        else:
            pred = (out.reshape(e - s) > threshold).astype(int)
        correct += int(np.sum(pred == y[s:e]))
    return correct / max(len(X), 1)


__all__: Sequence[str] = ("History", "accuracy", "evaluate", "fit")
