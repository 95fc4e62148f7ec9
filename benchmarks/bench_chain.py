"""op_overhead and deep_chain: long chains of elementwise ops on shape (10,) arrays.

The chain cycles through sin, tanh, `* 1.01`, `+ 0.1`: two unary ops with real
gradient work and two ops with a constant, whose gradients a good simplifier makes cheap.
"""

from __future__ import annotations

import functools
import json
import resource
import subprocess
import sys
import time

import numpy as np

from benchmarks.harness import (
    REPO,
    Config,
    _optional,
    fit_exponent,
    interleave,
    load_graphdiff,
    rss_bytes,
)

SHAPE = (10,)


def _chain(sin, tanh, v, n: int):
    """n ops of the cycle, on whatever array type the framework uses."""
    for i in range(n):
        k = i % 4
        if k == 0:
            v = sin(v)
        elif k == 1:
            v = tanh(v)
        elif k == 2:
            v = v * 1.01
        else:
            v = v + 0.1
    return v


def numpy_floor(x0: np.ndarray, n: int) -> np.ndarray:
    """Hand-written forward and backward of the chain: the ufunc calls and nothing else."""
    assert n % 4 == 0
    sin, tanh, cos = np.sin, np.tanh, np.cos
    saved = []
    v = x0
    for _ in range(n // 4):
        t = tanh(sin(v))
        saved.append((v, t))
        v = t * 1.01 + 0.1
    g = np.ones_like(v)  # d sum(v) / d v
    for v, t in reversed(saved):
        g = g * 1.01
        g = g * (1 - t * t)
        g = g * cos(v)
    return g


def _gd_chain(gd, n: int):
    g = gd.Graph()
    x = g.input("x", shape=SHAPE, dtype="float64")
    z = _chain(gd.sin, gd.tanh, x, n).sum()
    return g, x, z


def _torch_fn(torch, n: int):
    def run(x0: np.ndarray):
        x = torch.tensor(x0, requires_grad=True)
        return torch.autograd.grad(_chain(torch.sin, torch.tanh, x, n).sum(), x)[0]

    return run


def op_overhead(cfg: Config) -> dict:
    gd, torch = load_graphdiff(), _optional("torch")
    autograd = _optional("autograd")
    x0 = np.random.default_rng(0).standard_normal(SHAPE)
    rows, notes, detail = [], [], {}
    for n in (40, 200) if cfg.quick else (1000, 10000):
        want = numpy_floor(x0, n)
        cases = {"numpy": lambda n=n: numpy_floor(x0, n)}
        if gd is not None:
            g, x, z = _gd_chain(gd, n)
            f = g.function(inputs=[x], outputs=[z, gd.grad(z, x)])
            np.testing.assert_allclose(
                f(x0)[1], want, rtol=1e-9, err_msg="graphdiff chain gradient"
            )
            cases["graphdiff"] = lambda f=f: f(x0)
        else:
            notes.append("graphdiff not importable: its rows are missing")
        if torch is not None:
            cases["torch"] = functools.partial(_torch_fn(torch, n), x0)
            np.testing.assert_allclose(cases["torch"]().numpy(), want, rtol=1e-9)
        if autograd is not None:
            import autograd.numpy as anp

            ag = autograd.grad(lambda v, n=n: anp.sum(_chain(anp.sin, anp.tanh, v, n)))
            cases["autograd"] = lambda ag=ag: ag(x0)
        t = interleave(cases, budget_s=cfg.budget_s / 2, min_reps=3 if cfg.quick else 10)
        detail[n] = {k: vars(v) for k, v in t.items()}
        us = {k: v.median / n * 1e6 for k, v in t.items()}
        for name, spec in (
            ("graphdiff", "op_gd_us"),
            ("numpy", "op_numpy_us"),
            ("torch", "op_torch_us"),
            ("autograd", "op_autograd_us"),
        ):
            if name in us:
                rows.append(
                    {
                        "key": f"op.{n}.{name}",
                        "label": f"op_overhead {n} ops: {name}, us/op",
                        "spec": spec,
                        "value": us[name],
                        "unit": "us",
                    }
                )
        if "graphdiff" in us:
            rows.append(
                {
                    "key": f"op.{n}.gd_vs_numpy",
                    "label": f"op_overhead {n} ops: graphdiff / NumPy floor",
                    "spec": "op_gd_vs_numpy",
                    "value": us["graphdiff"] / us["numpy"],
                    "unit": "x",
                }
            )
    return {"rows": rows, "notes": notes, "timings": detail}


# --- deep_chain: each (framework, size) in a fresh process, so peak RSS is its own -------


def _worker(framework: str, n: int) -> dict:
    """Build, differentiate, compile and run one chain; phase times and peak RSS."""
    x0 = np.random.default_rng(0).standard_normal(SHAPE)
    if framework == "graphdiff":
        gd = load_graphdiff()
        _gd_chain(gd, 8)  # warm the import paths so they do not count
        base = rss_bytes()
        t0 = time.perf_counter()
        g, x, z = _gd_chain(gd, n)
        t1 = time.perf_counter()
        dx = gd.grad(z, x)
        t2 = time.perf_counter()
        f = g.function(inputs=[x], outputs=[z, dx])
        t3 = time.perf_counter()
        f(x0)
        t4 = time.perf_counter()
        f(x0)
        t5 = time.perf_counter()
        phases = {
            "build": t1 - t0,
            "grad": t2 - t1,
            "compile": t3 - t2,
            "run": t4 - t3,
            "rerun": t5 - t4,
        }
        phases["total"] = t4 - t0
        phases["nodes"] = len(g.nodes)
    else:
        import torch

        fn = _torch_fn(torch, 8)
        fn(x0)
        base = rss_bytes()
        t0 = time.perf_counter()
        fn = _torch_fn(torch, n)
        fn(x0)
        t1 = time.perf_counter()
        fn(x0)
        t2 = time.perf_counter()
        phases = {"run": t1 - t0, "rerun": t2 - t1, "total": t1 - t0}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    phases["kb_per_op"] = max(peak - base, 0) / n / 1000
    return phases


def _spawn(framework: str, n: int, timeout: float) -> dict | None:
    cmd = [sys.executable, "-m", "benchmarks.bench_chain", framework, str(n)]
    try:
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        raise RuntimeError(f"deep_chain worker {framework} n={n} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def deep_chain(cfg: Config) -> dict:
    """Sizes grow until the next one would not fit the budget; each size runs A then B."""
    gd, torch = load_graphdiff(), _optional("torch")
    if gd is None:
        return {"rows": [], "notes": ["graphdiff not importable: skipped"]}
    sizes = [200, 2000] if cfg.quick else [10**4, 3 * 10**4, 10**5, 3 * 10**5, 10**6]
    frameworks = ["graphdiff"] + (["torch"] if torch is not None else [])
    start, per_op, done = time.perf_counter(), 0.0, {}
    notes = []
    for n in sizes:
        left = cfg.budget_s - (time.perf_counter() - start)
        # The last size's cost per op, scaled up to this size; two sizes always run, so an
        # exponent can be fitted (the first size's cost is mostly starting the workers).
        if len(done) >= 2 and per_op * n * 1.3 > left:
            notes.append(
                f"stopped before {n:.0e} ops: estimated {per_op * n:.0f} s, "
                f"{left:.0f} s of budget left"
            )
            break
        t_size = time.perf_counter()
        res = {fw: _spawn(fw, n, timeout=max(left, 30.0)) for fw in frameworks}
        if res["graphdiff"] is None:
            notes.append(f"graphdiff timed out at {n:.0e} ops")
            break
        done[n] = res
        per_op = (time.perf_counter() - t_size) / n
    if not done:
        return {"rows": [], "notes": notes}
    ns = sorted(done)
    big = ns[-1]
    rows = []

    def row(key, label, spec, value, unit):
        rows.append(
            {
                "key": f"chain.{key}",
                "label": label,
                "spec": spec,
                "value": float(value),
                "unit": unit,
            }
        )

    gdr = done[big]["graphdiff"]
    row(
        "gd_s",
        f"deep_chain {big:.0e} ops: graphdiff build+grad+compile+run, s",
        "chain_gd_s",
        gdr["total"],
        "s",
    )
    for ph in ("build", "grad", "compile", "run"):
        row(
            f"gd_{ph}_s",
            f"deep_chain {big:.0e} ops: graphdiff {ph}, s",
            "chain_phase_s",
            gdr[ph],
            "s",
        )
    row(
        "gd_kb",
        f"deep_chain {big:.0e} ops: graphdiff peak KB per op",
        "chain_gd_kb",
        gdr["kb_per_op"],
        "KB",
    )
    small = min(ns, key=lambda n: abs(n - 10**4))
    sr = done[small]["graphdiff"]
    row(
        "gd_first_call",
        f"deep_chain {small:.0e} ops: graphdiff (compile + first call) / (build + grad)",
        "chain_first_call",
        (sr["compile"] + sr["run"]) / (sr["build"] + sr["grad"]),
        "x",
    )
    row(
        "gd_exp",
        "deep_chain: graphdiff time exponent vs size",
        "chain_gd_exp",
        fit_exponent(ns, [done[n]["graphdiff"]["total"] for n in ns]),
        "",
    )
    if "torch" in frameworks and done[big]["torch"] is not None:
        tr = done[big]["torch"]
        row(
            "torch_s",
            f"deep_chain {big:.0e} ops: PyTorch eager fwd+bwd, s",
            "chain_torch_s",
            tr["total"],
            "s",
        )
        row(
            "gd_vs_torch",
            f"deep_chain {big:.0e} ops: graphdiff / PyTorch time",
            "chain_gd_vs_torch",
            gdr["total"] / tr["total"],
            "x",
        )
        row(
            "torch_kb",
            f"deep_chain {big:.0e} ops: PyTorch peak KB per op",
            "chain_torch_kb",
            tr["kb_per_op"],
            "KB",
        )
        row(
            "torch_exp",
            "deep_chain: PyTorch time exponent vs size",
            "chain_torch_exp",
            fit_exponent(ns, [done[n]["torch"]["total"] for n in ns]),
            "",
        )
    notes.append(
        "one fresh process per (framework, size), run in the order graphdiff, torch; "
        "memory is peak RSS above the RSS after imports"
    )
    return {"rows": rows, "notes": notes, "sizes": {str(n): v for n, v in done.items()}}


if __name__ == "__main__":
    print(json.dumps(_worker(sys.argv[1], int(sys.argv[2]))))
