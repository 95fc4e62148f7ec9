"""One MLP training step (forward, gradients, SGD update): graphdiff on CuPy (GPU) vs
PyTorch CUDA eager vs graphdiff on NumPy (CPU), in one run.

The same graph and compiled gradient function run on CuPy and NumPy; only the arrays
differ (the graph's NumPy parameters move to the GPU by themselves on the first call fed
CuPy arrays). The GPU gradients are checked against NumPy's before any time is reported.
Without CuPy or a GPU it prints why and exits 0; without PyTorch CUDA its column is left
out.

Run: python3 benchmarks/gpu_mlp.py [--sizes 784 512 512 10] [--batches 128 4096]
     [--dtype float32] [--json OUT.json]
Needs: CuPy for the installed CUDA (cupy-cuda12x or cupy-cuda13x) and an NVIDIA GPU;
PyTorch with CUDA for the comparison column.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import graphdiff as gd  # noqa: E402


def build(sizes: list[int], dtype: str, seed: int):
    g = gd.Graph()
    x = g.input("x", shape=(None, sizes[0]), dtype=dtype)
    y = g.input("y", shape=(None,), dtype="int64")
    net = gd.nn.MLP(g, sizes, rng=np.random.default_rng(seed))
    for p in net.params:
        p.value = p.value.astype(dtype)
    loss = gd.losses.softmax_cross_entropy(net(x), y)
    grads = gd.grad(loss, net.params)
    return g, x, y, net.params, loss, grads


def timed(step, repeats: int, sync) -> float:
    """Median seconds per call of ``step`` (``sync`` waits for the device)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def torch_step_time(params_np: list[np.ndarray], X: np.ndarray, Y: np.ndarray, lr: float,
                    repeats: int) -> float | None:
    """Median seconds per step of the same MLP in PyTorch CUDA eager (None: no torch CUDA)."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    dev = torch.device("cuda")
    ps = [torch.tensor(p, device=dev, requires_grad=True) for p in params_np]
    Xt, Yt = torch.tensor(X, device=dev), torch.tensor(Y, device=dev)

    def step():
        h = Xt
        for k in range(0, len(ps), 2):
            h = h @ ps[k] + ps[k + 1]
            if k + 2 < len(ps):
                h = torch.relu(h)
        loss = torch.nn.functional.cross_entropy(h, Yt)
        grads = torch.autograd.grad(loss, ps)
        with torch.no_grad():
            for p, gr in zip(ps, grads, strict=True):
                p -= lr * gr

    timed(step, 5, torch.cuda.synchronize)
    return timed(step, repeats, torch.cuda.synchronize)


def bench(cp, sizes: list[int], batch: int, dtype: str, lr: float, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(batch, sizes[0])).astype(dtype)
    Y = rng.integers(0, sizes[-1], size=batch)

    # NumPy on the CPU.
    g, x, y, params, loss, grads = build(sizes, dtype, seed=1)
    initial = [np.array(p.value) for p in params]
    f_cpu = g.function([x, y], [loss, *grads])
    reference = f_cpu(X, Y)

    def cpu_step():
        _, *gs = f_cpu(X, Y)
        for p, gr in zip(params, gs, strict=True):
            p.value -= lr * gr

    # CuPy on the GPU: the same graph; its leaves move to the device on the first call.
    g2, x2, y2, params2, loss2, grads2 = build(sizes, dtype, seed=1)
    f_gpu = g2.function([x2, y2], [loss2, *grads2])
    Xd, Yd = cp.asarray(X), cp.asarray(Y)
    got = f_gpu(Xd, Yd)
    assert all(isinstance(v, cp.ndarray) for v in got), "expected CuPy results"
    assert all(isinstance(p.value, cp.ndarray) for p in params2), "parameters not moved"
    rtol = 1e-3 if dtype == "float32" else 1e-9
    for a, b in zip(got, reference, strict=True):
        np.testing.assert_allclose(cp.asnumpy(a), b, rtol=rtol,
                                   atol=rtol * float(np.abs(b).max() + 1e-30))

    def gpu_step():
        _, *gs = f_gpu(Xd, Yd)
        for p, gr in zip(params2, gs, strict=True):
            p.value -= lr * gr      # in place on the device

    sync = cp.cuda.Device().synchronize
    cpu_repeats = max(3, min(repeats, 20 if batch > 1024 else repeats))
    timed(cpu_step, 2, lambda: None)
    timed(gpu_step, 5, sync)          # warm-up: kernel compilation and memory pool
    cpu = timed(cpu_step, cpu_repeats, lambda: None)
    gpu = timed(gpu_step, repeats, sync)
    torch_s = torch_step_time(initial, X, Y, lr, repeats)
    return {"batch": batch, "graphdiff_cupy_ms": gpu * 1e3, "graphdiff_numpy_ms": cpu * 1e3,
            "torch_cuda_ms": None if torch_s is None else torch_s * 1e3, "rtol": rtol}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[784, 512, 512, 10])
    ap.add_argument("--batches", type=int, nargs="+", default=[128, 4096])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)

    try:
        import cupy as cp

        if cp.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no GPU visible")
    except Exception as exc:  # ImportError, or CuPy without a driver or device
        print(f"gpu_mlp: skipped, CuPy or a GPU is not available ({type(exc).__name__}: {exc})")
        return 0

    name = cp.cuda.runtime.getDeviceProperties(0)["name"]
    name = name.decode() if isinstance(name, bytes) else name
    rows = [bench(cp, args.sizes, b, args.dtype, args.lr, args.repeats) for b in args.batches]
    print(f"MLP {'-'.join(map(str, args.sizes))}, {args.dtype}, one training step, on {name}; "
          f"CuPy gradients match NumPy (rtol {rows[0]['rtol']:g})")
    print(f"{'batch':>6} {'graphdiff CuPy':>15} {'PyTorch CUDA':>13} {'graphdiff NumPy':>16} "
          f"{'CuPy/PyTorch':>13} {'NumPy/CuPy':>11}")
    for r in rows:
        t = r["torch_cuda_ms"]
        vs_torch = "n/a" if t is None else f"{r['graphdiff_cupy_ms'] / t:.2f}x"
        torch_txt = "n/a" if t is None else f"{t:.3f} ms"
        print(f"{r['batch']:>6} {r['graphdiff_cupy_ms']:>12.3f} ms {torch_txt:>13} "
              f"{r['graphdiff_numpy_ms']:>13.3f} ms {vs_torch:>13} "
              f"{r['graphdiff_numpy_ms'] / r['graphdiff_cupy_ms']:>10.1f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": name, "sizes": args.sizes,
                                               "dtype": args.dtype, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
