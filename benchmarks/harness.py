"""Timing, thread pinning and machine description shared by every benchmark."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Config:
    """What one benchmark call may spend; ``quick`` shrinks sizes for the smoke test."""

    quick: bool
    threads: int
    budget_s: float  # wall-clock budget for one timed comparison


@dataclass
class Timing:
    median: float  # seconds
    reps: int
    iqr_rel: float  # interquartile range / median: how noisy the figure is


def interleave(
    cases: dict[str, Callable[[], object]],
    *,
    budget_s: float,
    warmup: int = 2,
    min_reps: int = 5,
    max_reps: int = 2000,
) -> dict[str, Timing]:
    """Time every case in rounds (A B C, C B A, ...) so drift hits all alike.

    The order flips each round so neither case always runs right after the other
    (caches, CPU frequency). Returns the median of each case's repetitions.
    """
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    start = time.perf_counter()
    rounds = 0
    while rounds < max_reps and (rounds < min_reps or time.perf_counter() - start < budget_s):
        for name in names if rounds % 2 == 0 else reversed(names):
            t0 = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - t0)
        rounds += 1
    out = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        q = statistics.quantiles(ts, n=4) if len(ts) >= 2 else [med, med, med]
        out[name] = Timing(med, len(ts), (q[2] - q[0]) / med if med > 0 else 0.0)
    return out


@contextlib.contextmanager
def pinned_threads(n: int) -> Iterator[None]:
    """Limit BLAS/OpenMP pools (threadpoolctl) and PyTorch's intra-op pool to n threads."""
    torch = _optional("torch")
    old = torch.get_num_threads() if torch else None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # without threadpoolctl the count is whatever BLAS picked
        limits = contextlib.nullcontext()
    else:
        limits = threadpool_limits(limits=n)
    with limits:
        if torch:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if torch:
                torch.set_num_threads(old)


def _optional(name: str):
    """Import a peer library if it is installed; peers are optional (extra ``bench``)."""
    try:
        return __import__(name)
    except ImportError:
        return None


def load_graphdiff():
    """graphdiff, or None while the core does not import (the harness still runs peers)."""
    try:
        import graphdiff as gd

        gd.Graph, gd.grad  # noqa: B018 - the two names every benchmark needs
    except Exception:  # noqa: BLE001 - any failure means "not usable yet"
        return None
    return gd


def fit_exponent(xs: list[float], ys: list[float]) -> float:
    """Slope of log y against log x (least squares): 1 means linear growth."""
    if len(xs) < 2:
        return math.nan
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def rss_bytes() -> int:
    """Current resident set size, from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def blas_info() -> list[dict]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return threadpool_info()


def machine_info() -> dict:
    """Everything RESULTS.md needs to say what produced the figures."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    torch, autograd = _optional("torch"), _optional("autograd")
    gd = load_graphdiff()
    commit = _git("rev-parse", "--short", "HEAD")
    if commit and _git("status", "--porcelain", "graphdiff"):
        commit += " + uncommitted changes in graphdiff/"  # the core moves while we measure
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "torch": getattr(torch, "__version__", None),
        "autograd": _dist_version("autograd") if autograd else None,
        "graphdiff": (getattr(gd, "__version__", "importable") if gd else None),
        "commit": commit or None,
        "blas": blas_info(),
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
    }


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return out.stdout.strip()


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None
