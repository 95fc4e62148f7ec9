"""conv2d forward plus both gradients, graphdiff against PyTorch eager, in one run.

x (64, 16, 28, 28) float32 -> 32 channels, 3x3 filters, padding 1, bias; one thread.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks.bench_conv [--quick]

The two variables select slow OpenBLAS kernels on this project's machines; unset them
for benchmark runs only. Prints the median times and the ratio graphdiff / PyTorch.
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.harness import Config, interleave, load_graphdiff, pinned_threads

FULL = (64, 16, 28, 28, 32, 3)  # N, C, H, W, out channels, kernel
QUICK = (4, 3, 8, 8, 5, 3)


def _torch():
    """PyTorch if installed (the comparison is skipped without it)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def _problem(shape, dtype="float32"):
    n, c, h, w, o, k = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    W = (rng.standard_normal((o, c, k, k)) / np.sqrt(c * k * k)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    seed = rng.standard_normal((n, o, h, w)).astype(dtype)  # padding 1 keeps H and W
    return x, W, b, seed


def _graphdiff_cases(gd, x, W, b, seed):
    g = gd.Graph()
    xn = g.input("x", shape=(None,) + x.shape[1:], dtype=x.dtype)
    sn = g.input("seed", shape=(None,) + seed.shape[1:], dtype=seed.dtype)
    Wn, bn = g.parameter(W.copy(), name="W"), g.parameter(b.copy(), name="b")
    y = gd.conv2d(xn, Wn, bn, padding=1)
    dx, dW, db = gd.grad(y, [xn, Wn, bn], seed=sn)
    step = g.function([xn, sn], [y, dx, dW, db])
    forward = g.function([xn], [y])
    return (lambda: step(x, seed)), (lambda: forward(x)), step(x, seed)


def _torch_cases(torch, x, W, b, seed):
    F = torch.nn.functional
    xt = torch.tensor(x, requires_grad=True)
    Wt = torch.tensor(W, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    st = torch.tensor(seed)

    def step():
        for t in (xt, Wt, bt):
            t.grad = None
        y = F.conv2d(xt, Wt, bt, padding=1)
        y.backward(st)
        return y, xt.grad, Wt.grad, bt.grad

    def forward():
        with torch.no_grad():
            return F.conv2d(xt, Wt, bt, padding=1)

    return step, forward, [t.detach().numpy() for t in step()]


def measure(quick: bool, budget: float) -> dict:
    """Median times of graphdiff's and PyTorch's step (and forward), interleaved, 1 thread."""
    shape = QUICK if quick else FULL
    gd, torch = load_graphdiff(), _torch()
    if gd is None:
        raise RuntimeError("graphdiff does not import")
    x, W, b, seed = _problem(shape)
    with pinned_threads(1):
        gd_step, gd_fwd, got = _graphdiff_cases(gd, x, W, b, seed)
        cases = {"graphdiff": gd_step, "graphdiff forward": gd_fwd}
        if torch is not None:
            t_step, t_fwd, want = _torch_cases(torch, x, W, b, seed)
            for name, a, e in zip(("y", "dx", "dW", "db"), got, want, strict=True):
                tol = 2e-3 * float(np.abs(e).max())
                np.testing.assert_allclose(a, e, rtol=2e-3, atol=tol, err_msg=name)
            cases.update({"torch": t_step, "torch forward": t_fwd})
        times = interleave(cases, budget_s=budget)
    return {"shape": shape, "x": x.shape, "times": times, "torch": torch is not None}


def conv_step(cfg: Config) -> dict:
    """The RESULTS.md rows: conv2d forward + both gradients, graphdiff / PyTorch eager."""
    res = measure(cfg.quick, cfg.budget_s)
    times, rows = res["times"], []
    if res["torch"]:
        for key, label, a, b in (
                ("vs_torch", "conv2d forward + both gradients vs PyTorch eager 1 thread",
                 "graphdiff", "torch"),
                ("fwd_vs_torch", "conv2d forward only vs PyTorch eager 1 thread",
                 "graphdiff forward", "torch forward")):
            rows.append({"key": f"conv.{key}", "label": label,
                         "spec": "conv_gd_vs_torch" if key == "vs_torch" else "conv_fwd",
                         "value": times[a].median / times[b].median, "unit": "x"})
    for name, t in times.items():
        rows.append({"key": f"conv.{name.replace(' ', '_')}_ms", "label": f"conv2d, {name}",
                     "spec": "conv_ms", "value": t.median * 1e3, "unit": "ms"})
    return {"rows": rows, "notes": [] if res["torch"] else ["torch missing: no ratio"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_conv")
    ap.add_argument("--quick", action="store_true", help="tiny sizes")
    ap.add_argument("--budget", type=float, default=None, help="seconds per comparison")
    args = ap.parse_args(argv)
    budget = args.budget if args.budget is not None else (0.2 if args.quick else 10.0)
    try:
        res = measure(args.quick, budget)
    except RuntimeError as e:
        print(e)
        return 1
    times = res["times"]
    n, c, h, w, o, k = res["shape"]
    flops = 3 * 2 * n * o * h * w * c * k * k  # forward, input and filter gradient GEMMs
    print(f"conv2d x {res['x']} -> {o} channels, {k}x{k}, padding 1, float32, 1 thread")
    for name, t in times.items():
        rate = "" if "forward" in name else f", {flops / t.median / 1e9:.1f} GFLOP/s"
        print(f"  {name:<18} {t.median * 1e3:8.2f} ms (reps {t.reps}, iqr {t.iqr_rel:.0%}"
              f"{rate})")
    if res["torch"]:
        print(f"  ratio graphdiff / torch: forward + gradients "
              f"{times['graphdiff'].median / times['torch'].median:.2f}, forward only "
              f"{times['graphdiff forward'].median / times['torch forward'].median:.2f}")
    else:
        print("  (torch is not installed: no ratio)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
