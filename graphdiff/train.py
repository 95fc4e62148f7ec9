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
    val_loss : list of float
        Mean loss on ``fit(validation=...)`` after every epoch (empty without it).
    lr : list of float
        The optimizer's learning rate at every step (empty without an optimizer).
    best_epoch : int or None
        With early stopping: the 0-based epoch of the best monitored value.
    stopped_epoch : int or None
        With early stopping: the 0-based epoch after which training stopped early;
        ``None`` when every epoch ran.
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
    val_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_epoch: int | None = None
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


@dataclass
class EarlyStopping:
    """When ``fit`` stops: after ``patience`` epochs without improvement of ``monitor``.

    Attributes
    ----------
    monitor : str, default "val_loss"
        ``"val_loss"`` (needs ``fit(validation=...)``), ``"loss"`` (the epoch's mean
        training loss), or the name of one of ``fit(metrics=...)``.
    patience : int, default 5
        Epochs without improvement before stopping (Keras's and Lightning's meaning).
    mode : {"min", "max"}, default "min"
        Whether smaller or larger values are better.
    min_delta : float, default 0.0
        An improvement must beat the best value by more than this.
    restore_best : bool, default True
        When ``fit`` returns (stopped early or not), the parameters get back the values
        they had after the best epoch. The optimizer's state is not rewound.
    params : sequence of Nodes, optional
        The parameters to restore; default the optimizer's ``params``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> gd.train.EarlyStopping(patience=2, mode="max", monitor="val_acc").patience
    2
    """

    monitor: str = "val_loss"
    patience: int = 5
    mode: str = "min"
    min_delta: float = 0.0
    restore_best: bool = True
    params: Sequence[Any] | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping mode must be 'min' or 'max', got {self.mode!r}")
        if int(self.patience) != self.patience or self.patience < 0:
            raise ValueError(f"EarlyStopping patience must be an integer >= 0, got "
                             f"{self.patience!r}")
        if not self.min_delta >= 0:
            raise ValueError(f"EarlyStopping min_delta must be >= 0, got {self.min_delta!r}")

    def improves(self, value: float, best: float | None) -> bool:
        """Whether ``value`` beats ``best`` (``None``: nothing seen yet) by ``min_delta``."""
        if not np.isfinite(value):
            return False
        if best is None:
            return True
        if self.mode == "min":
            return value < best - self.min_delta
        return value > best + self.min_delta


def _arranger(fn: Callable[..., Any], feeds: dict, n_data: int, what: str,
              strict: bool) -> Callable[[list, int], Any]:
    """A caller of ``fn`` with the batch arrays in the inputs that ``feeds`` leaves free."""
    inputs = getattr(fn, "inputs", None)
    if not feeds:
        return lambda batch, t: fn(*batch)
    if inputs is None:
        raise TypeError(f"feeds= needs {what} to be a compiled g.function (with .inputs) so "
                        "the fed nodes can be placed")
    position = {id(n): k for k, n in enumerate(inputs)}
    fed = [(position[id(n)], v) for n, v in feeds.items() if id(n) in position]
    if strict and len(fed) != len(feeds):
        missing = [n for n in feeds if id(n) not in position]
        raise ValueError(f"feeds names {missing!r}, which {what} does not take as inputs")
    free = [k for k in range(len(inputs)) if k not in {p for p, _ in fed}]
    if len(free) != n_data:
        raise ValueError(f"{what} has {len(free)} inputs besides the feeds, but the data has "
                         f"{n_data} arrays")

    def call(batch: list, t: int) -> Any:
        args: list[Any] = [None] * len(inputs)
        for k, a in zip(free, batch):
            args[k] = a
        for k, v in fed:
            args[k] = v(t) if callable(v) else v
        return fn(*args)

    return call


def _mean_loss(call: Callable[[list, int], Any], arrays: list[np.ndarray], batch_size: int,
               t: int) -> float:
    n = len(arrays[0])
    spans = _batches(n, batch_size, False)
    total = sum(_loss_of(call([a[s:e] for a in arrays], t))[0] * (e - s) for s, e in spans)
    return total / max(n, 1)


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
        progress: bool | str = True, schedule: Callable[[int], float] | None = None,
        validation: Any = None, validation_step: Callable[..., Any] | None = None,
        feeds: dict | None = None,
        early_stopping: EarlyStopping | dict | None = None) -> History:
    """Run minibatch epochs of ``step`` over ``data`` and record the loss.

    Parameters
    ----------
    step : callable
        Called with one minibatch array per entry of ``data`` (a compiled
        ``g.function(inputs, outputs)`` fits). Returns the scalar loss, or a list
        ``[loss, *grads]``; with ``optimizer`` given and gradients returned,
        ``optimizer.step(grads)`` follows. A step that returns the loss alone with an
        ``optimizer`` given is taken to apply that optimizer itself (compiled with
        ``updates=optimizer.updates(...)``): fit then only sets its ``lr``.
    data : array or sequence of arrays
        Equal-length arrays (``(X, y)``), cut into minibatches along axis 0.
    epochs, batch_size : int
    optimizer : a gd.optim optimizer, optional
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
    schedule : callable, optional
        ``schedule(t)`` is the learning rate of step ``t`` (0-based); fit sets
        ``optimizer.lr`` to it before each step. ``t`` counts on from the optimizer's
        step count ``optimizer.t``, so a resumed optimizer resumes its schedule.
    validation : array or sequence of arrays, optional
        Held-out data (``(X_val, y_val)``); after every epoch its mean loss (batches of
        ``batch_size``, weighted by size) goes to ``History.val_loss``.
    validation_step : callable, optional
        Computes the validation loss (first output) from validation batches; default
        ``step`` itself, which is allowed only when ``step`` leaves the parameters alone
        (it returns gradients for ``optimizer``).
    feeds : dict of Node to array or callable, optional
        Extra inputs of ``step`` (a compiled function; the data fill its other inputs in
        order): an array is fed unchanged at every step, a callable is called with the
        step number ``t`` and its result fed (a noise level, a training flag). They are
        fed to ``validation_step`` too where it has those inputs.
    early_stopping : EarlyStopping or dict of its fields, optional
        Stop when the monitored value (default ``"val_loss"``) has not improved for
        ``patience`` epochs, and restore the best parameters (see ``EarlyStopping``).

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
    ...               optimizer=gd.optim.SGD([w], lr=0.3), progress=False,
    ...               schedule=gd.optim.schedules.warmup(0.3, 10),
    ...               validation=np.linspace(-2, 2, 5))
    >>> round(float(w.value), 3), hist.loss[-1] < 1e-6, hist.lr[0], len(hist.val_loss)
    (3.0, True, 0.03, 50)
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs} and {batch_size}")
    arrays = _as_arrays(data)
    n = len(arrays[0])
    rng = np.random.default_rng() if rng is None else rng
    spans = _batches(n, batch_size, drop_last)
    if not spans:
        raise ValueError(f"no minibatch of {batch_size} in {n} examples")
    if schedule is not None and optimizer is None:
        raise ValueError("schedule= sets optimizer.lr: pass the optimizer too")
    feeds = dict(feeds or {})
    call = _arranger(step, feeds, len(arrays), "step", strict=True)
    val_arrays = val_call = None
    if validation is not None:
        val_arrays = _as_arrays(validation)
        if validation_step is None and optimizer is None:
            raise ValueError("validation= without validation_step= would call step, which "
                             "updates the parameters itself: pass validation_step")
        val_call = _arranger(validation_step or step, feeds, len(val_arrays),
                             "validation_step", strict=validation_step is None)
    stopper = _stopper(early_stopping, optimizer, validation, metrics)
    seen = spans[-1][1]  # examples per epoch: the batches cover [0, seen)
    hist = History(metrics={k: [] for k in metrics or {}})
    bar = _Progress(progress, epochs * len(spans), epochs)
    t = int(getattr(optimizer, "t", 0))
    self_updating = False  # the step returned no gradients: it applies the optimizer itself
    best = None
    snapshot: list[np.ndarray] | None = None
    start = time.perf_counter()
    try:
        for epoch in range(epochs):
            order = rng.permutation(n) if shuffle else None
            total = 0.0
            for s, e in spans:
                batch = [a[s:e] if order is None else a[order[s:e]] for a in arrays]
                if schedule is not None:
                    optimizer.lr = schedule(t)
                if optimizer is not None:
                    hist.lr.append(float(optimizer.lr))
                loss, grads = _loss_of(call(batch, t))
                if not np.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss} at epoch {epoch + 1}, step "
                                             f"{len(hist.batch_loss) + 1}; try a smaller lr")
                if optimizer is not None:
                    if grads:
                        optimizer.step(grads)
                    else:
                        self_updating = True
                t += 1
                hist.batch_loss.append(loss)
                total += loss * (e - s)
                bar.step(epoch, loss)
            hist.loss.append(total / seen)
            values = {}
            if val_call is not None:
                if self_updating and validation_step is None:
                    raise ValueError("step applies the optimizer itself (it returned no "
                                     "gradients), so validation needs validation_step=")
                hist.val_loss.append(_mean_loss(val_call, val_arrays, batch_size, t))
                values["val_loss"] = hist.val_loss[-1]
            for k, f in (metrics or {}).items():
                values[k] = float(f())
                hist.metrics[k].append(values[k])
            bar.epoch_end(epoch, hist.loss[-1], values, time.perf_counter() - start)
            if stopper is not None:
                es, params = stopper
                value = hist.loss[-1] if es.monitor == "loss" else values[es.monitor]
                if es.improves(value, best):
                    best, hist.best_epoch = value, epoch
                    if es.restore_best:
                        snapshot = [np.array(p.value, copy=True) for p in params]
                elif epoch - (hist.best_epoch if hist.best_epoch is not None else -1) \
                        >= es.patience:
                    hist.stopped_epoch = epoch
                    break
    finally:
        bar.close()
        if stopper is not None and snapshot is not None:
            for p, v in zip(stopper[1], snapshot):
                np.copyto(p.value, v)
        hist.seconds = time.perf_counter() - start
    return hist


def _stopper(early_stopping: Any, optimizer: Any, validation: Any,
             metrics: dict | None) -> tuple[EarlyStopping, list] | None:
    """The checked early-stopping settings and the parameters they restore."""
    if early_stopping is None:
        return None
    es = early_stopping
    if isinstance(es, dict):
        es = EarlyStopping(**es)
    if not isinstance(es, EarlyStopping):
        raise TypeError(f"early_stopping must be an EarlyStopping or a dict of its fields, "
                        f"got {early_stopping!r}")
    known = ["loss", *(["val_loss"] if validation is not None else []), *(metrics or {})]
    if es.monitor not in known:
        raise ValueError(f"early_stopping monitors {es.monitor!r}, but fit records only "
                         f"{known}")
    params = list(es.params if es.params is not None else getattr(optimizer, "params", []))
    if es.restore_best and not params:
        raise ValueError("early_stopping restore_best needs the parameters: pass an optimizer "
                         "or EarlyStopping(params=...)")
    return es, params


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


__all__: Sequence[str] = ("EarlyStopping", "History", "accuracy", "evaluate", "fit")
