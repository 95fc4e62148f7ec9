"""One training step of the digits CNN, graphdiff against PyTorch eager, in one run.

The model of ``examples/digits_cnn.py``: (1, 16, 16) images, conv 3x3 (32) - relu -
max-pool 2 - conv 3x3 (64) - relu - max-pool 2 - dense 10, softmax cross-entropy,
Adam; batch 64, float32, one thread. A step is the loss, all gradients and the Adam
update. graphdiff runs the loss and gradients as one compiled function and Adam's
``step`` after it (``optimizer.updates`` inside the compiled function wherever
``g.function(..., updates=)`` exists); PyTorch runs forward, ``backward`` and
``optimizer.step``.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks.bench_cnn [--quick]

The two variables select slow OpenBLAS kernels on this project's machines; unset them
for benchmark runs only. Prints the median times and the ratio graphdiff / PyTorch.
"""

from __future__ import annotations

import argparse
import inspect

import numpy as np

from benchmarks.harness import Config, interleave, load_graphdiff, pinned_threads

FULL = (64, 16, 32, 64)  # batch, image side, channels of the two convolutions
QUICK = (8, 8, 4, 8)


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _problem(shape):
    """A batch, its labels and the initial parameters (torch's layouts), float32."""
    n, side, c1, c2 = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 1, side, side)).astype(np.float32)
    y = rng.integers(0, 10, size=n)
    flat = c2 * (side // 4) ** 2

    def uniform(shape, fan_in):
        bound = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)

    params = [uniform((c1, 1, 3, 3), 9), uniform((c1,), 9),
              uniform((c2, c1, 3, 3), 9 * c1), uniform((c2,), 9 * c1),
              uniform((flat, 10), flat), np.zeros(10, np.float32)]
    return x, y, params


def _has_updates(g) -> bool:
    return "updates" in inspect.signature(g.function).parameters


def _graphdiff_step(gd, x, y, params):
    g = gd.Graph()
    xn = g.input("x", shape=(None,) + x.shape[1:], dtype="float32")
    labels = g.input("labels", shape=(None,), dtype="int64")
    W1, b1, W2, b2, W3, b3 = ps = [g.parameter(p.copy(), name=f"p{i}")
                                   for i, p in enumerate(params)]
    h = gd.max_pool2d(gd.relu(gd.conv2d(xn, W1, b1, padding=1)), 2)
    h = gd.max_pool2d(gd.relu(gd.conv2d(h, W2, b2, padding=1)), 2)
    logits = gd.reshape(h, (-1, W3.shape[0])) @ W3 + b3
    loss = gd.losses.softmax_cross_entropy(logits, labels)
    grads = gd.grad(loss, ps)
    opt = gd.optim.Adam(ps, lr=1e-3)
    if _has_updates(g):
        fn = g.function([xn, labels], loss, updates=opt.updates(grads))
        return (lambda: fn(x, y)), "compiled with updates="

    fn = g.function([xn, labels], [loss, *grads])

    def step():
        out = fn(x, y)
        opt.step(out[1:])
        return out[0]

    return step, "compiled loss and gradients, then opt.step"


def _torch_step(torch, x, y, params):
    F = torch.nn.functional
    W1, b1, W2, b2, W3, b3 = ps = [torch.tensor(p, requires_grad=True) for p in params]
    xt, yt = torch.tensor(x), torch.tensor(y)
    opt = torch.optim.Adam(ps, lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        h = F.max_pool2d(F.relu(F.conv2d(xt, W1, b1, padding=1)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, W2, b2, padding=1)), 2)
        loss = F.cross_entropy(h.reshape(len(xt), -1) @ W3 + b3, yt)
        loss.backward()
        opt.step()
        return loss

    return step


def measure(quick: bool, budget: float) -> dict:
    """Median step times and their ratio, interleaved in one run (1 thread)."""
    gd, torch = load_graphdiff(), _torch()
    x, y, params = _problem(QUICK if quick else FULL)
    out: dict = {"shape": QUICK if quick else FULL}
    with pinned_threads(1):
        cases = {}
        if gd is not None:
            cases["graphdiff"], out["graphdiff_form"] = _graphdiff_step(gd, x, y, params)
        if torch is not None:
            cases["torch"] = _torch_step(torch, x, y, params)
        times = interleave(cases, budget_s=budget) if cases else {}
    out["times"] = times
    if "graphdiff" in times and "torch" in times:
        out["ratio"] = times["graphdiff"].median / times["torch"].median
    return out


def cnn_step(cfg: Config) -> dict:
    """The RESULTS.md row: digits CNN training step, graphdiff / PyTorch eager."""
    res = measure(cfg.quick, cfg.budget_s)
    rows, notes = [], []
    if "ratio" in res:
        rows.append({"key": "cnn.step.vs_torch",
                     "label": f"digits CNN training step (batch {res['shape'][0]}, float32), "
                              f"{res['graphdiff_form']}, vs PyTorch eager 1 thread",
                     "spec": "cnn_gd_vs_torch", "value": res["ratio"], "unit": "x"})
    else:
        notes.append("graphdiff or torch missing: no ratio")
    for name, t in res["times"].items():
        rows.append({"key": f"cnn.step.{name}_ms", "label": f"digits CNN step, {name}",
                     "spec": "cnn_ms", "value": t.median * 1e3, "unit": "ms"})
    return {"rows": rows, "notes": notes}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_cnn")
    ap.add_argument("--quick", action="store_true", help="tiny sizes")
    ap.add_argument("--budget", type=float, default=None, help="seconds for the comparison")
    args = ap.parse_args(argv)
    budget = args.budget if args.budget is not None else (0.2 if args.quick else 10.0)
    res = measure(args.quick, budget)
    n, side, c1, c2 = res["shape"]
    print(f"digits CNN step: batch {n}, (1, {side}, {side}) float32, conv {c1} / {c2}, "
          f"Adam, 1 thread; graphdiff {res.get('graphdiff_form', '(not importable)')}")
    for name, t in res["times"].items():
        print(f"  {name:<10} {t.median * 1e3:8.2f} ms (reps {t.reps}, iqr {t.iqr_rel:.0%})")
    if "ratio" in res:
        print(f"  ratio graphdiff / torch: {res['ratio']:.2f}")
    else:
        print("  (torch or graphdiff missing: no ratio)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
