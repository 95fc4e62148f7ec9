"""Learning-rate schedules: callables of the 0-based step number ``t`` giving step t's lr.

``gd.fit(..., schedule=...)`` sets ``optimizer.lr = schedule(t)`` before each step. The
values are the closed forms of torch's ``StepLR``, ``CosineAnnealingLR`` and
``LinearLR``, counted in steps (not epochs).

Examples
--------
>>> import graphdiff as gd
>>> s = gd.optim.schedules.step(0.1, step_size=2, gamma=0.5)
>>> [s(t) for t in range(5)]
[0.1, 0.1, 0.05, 0.05, 0.025]
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

Schedule = Callable[[int], float]


def _real(value: Any, what: str, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= minimum:
        raise ValueError(f"{what} must be a real number >= {minimum}, got {value!r}")
    return float(value)


def _count(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _step_number(t: Any) -> int:
    return _count(t, "the step number t", 0)


def step(lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """``lr * gamma ** (t // step_size)``: decay by ``gamma`` every ``step_size`` steps (StepLR).

    Examples
    --------
    >>> import graphdiff as gd
    >>> gd.optim.schedules.step(1.0, 10)(25)     # two decays of 0.1
    0.010000000000000002
    """
    lr, gamma = _real(lr, "lr"), _real(gamma, "gamma")
    step_size = _count(step_size, "step_size", 1)

    def schedule(t: int) -> float:
        return lr * gamma ** (_step_number(t) // step_size)

    return schedule


def cosine(lr: float, T_max: int, eta_min: float = 0.0) -> Schedule:
    """``eta_min + (lr - eta_min) * (1 + cos(pi * t / T_max)) / 2`` (CosineAnnealingLR).

    The closed form, so past ``T_max`` the rate rises again along the same cosine, as
    torch's closed form does.

    Examples
    --------
    >>> import graphdiff as gd
    >>> s = gd.optim.schedules.cosine(1.0, T_max=4)
    >>> [round(s(t), 4) for t in range(5)]
    [1.0, 0.8536, 0.5, 0.1464, 0.0]
    """
    lr, eta_min = _real(lr, "lr"), _real(eta_min, "eta_min")
    T_max = _count(T_max, "T_max", 1)

    def schedule(t: int) -> float:
        return eta_min + (lr - eta_min) * (1.0 + math.cos(math.pi * _step_number(t) / T_max)) / 2

    return schedule


def warmup(lr: float, warmup_steps: int) -> Schedule:
    """A linear ramp from ``lr / warmup_steps`` at t = 0 to ``lr`` at t = ``warmup_steps``.

    ``lr * (f + (1 - f) * min(t, warmup_steps) / warmup_steps)`` with
    ``f = 1 / warmup_steps``, which is torch's ``LinearLR(start_factor=1/warmup_steps,
    total_iters=warmup_steps)``: the first step already moves, and from t = warmup_steps
    on the rate holds at ``lr``. ``warmup_steps=0`` is the constant ``lr``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> s = gd.optim.schedules.warmup(1.0, 4)
    >>> [s(t) for t in range(6)]
    [0.25, 0.4375, 0.625, 0.8125, 1.0, 1.0]
    """
    lr = _real(lr, "lr")
    warmup_steps = _count(warmup_steps, "warmup_steps", 0)
    start = 1.0 / warmup_steps if warmup_steps else 1.0

    def schedule(t: int) -> float:
        t = _step_number(t)
        if t >= warmup_steps:
            return lr
        return lr * (start + (1.0 - start) * t / warmup_steps)

    return schedule


__all__: Sequence[str] = ("step", "cosine", "warmup")
