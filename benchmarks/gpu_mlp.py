"""One MLP training step (forward, gradients, SGD update) on CuPy (GPU) vs NumPy (CPU).

The same graph and compiled gradient function run on both; only the arrays differ. The
GPU gradients are checked against NumPy's before any time is reported. Without CuPy or a
GPU it prints why and exits 0.

Run: python3 benchmarks/gpu_mlp.py [--sizes 784 512 512 10] [--batch 128] [--dtype float32]
Needs: pip install "graphdiff[gpu]" and an NVIDIA GPU with CUDA 12
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import graphdiff as gd  # noqa: E402
from graphdiff import backends  # noqa: E402


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


def timed(step, repeats: int, sync) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[784, 512, 512, 10])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--lr", type=float, default=1e-2)
    args = ap.parse_args(argv)

    try:
        import cupy as cp

        if cp.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no GPU visible")
    except Exception as exc:  # ImportError, or CuPy without a driver or device
        print(f"gpu_mlp: skipped, CuPy or a GPU is not available ({type(exc).__name__}: {exc})")
        return 0

    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.batch, args.sizes[0])).astype(args.dtype)
    Y = rng.integers(0, args.sizes[-1], size=args.batch)

    # NumPy on the CPU.
    g, x, y, params, loss, grads = build(args.sizes, args.dtype, seed=1)
    f_cpu = g.function([x, y], [loss, *grads])
    reference = f_cpu(X, Y)

    def cpu_step():
        _, *gs = f_cpu(X, Y)
        for p, gr in zip(params, gs, strict=True):
            p.value -= args.lr * gr

    # CuPy on the GPU: the same graph, its leaves moved to the device.
    g2, x2, y2, params2, loss2, grads2 = build(args.sizes, args.dtype, seed=1)
    backends.move_leaves(g2, cp.asarray)
    f_gpu = g2.function([x2, y2], [loss2, *grads2])
    Xd, Yd = cp.asarray(X), cp.asarray(Y)
    got = f_gpu(Xd, Yd)
    assert all(isinstance(v, cp.ndarray) for v in got), "expected CuPy results"
    rtol = 1e-3 if args.dtype == "float32" else 1e-9
    for a, b in zip(got, reference, strict=True):
        np.testing.assert_allclose(cp.asnumpy(a), b, rtol=rtol,
                                   atol=rtol * float(np.abs(b).max() + 1e-30))

    def gpu_step():
        _, *gs = f_gpu(Xd, Yd)
        for p, gr in zip(params2, gs, strict=True):
            p.value -= args.lr * gr      # in place on the device

    sync = cp.cuda.Device().synchronize
    timed(cpu_step, 3, lambda: None)
    timed(gpu_step, 3, sync)          # warm-up: kernel compilation and memory pool
    cpu = statistics.median(timed(cpu_step, args.repeats, lambda: None))
    gpu = statistics.median(timed(gpu_step, args.repeats, sync))
    name = cp.cuda.runtime.getDeviceProperties(0)["name"]
    name = name.decode() if isinstance(name, bytes) else name
    print(f"MLP {'-'.join(map(str, args.sizes))}, batch {args.batch}, {args.dtype}: "
          f"gradients match NumPy (rtol {rtol:g})")
    print(f"  NumPy (CPU)      {cpu * 1e3:8.2f} ms per step")
    print(f"  CuPy  ({name}) {gpu * 1e3:8.2f} ms per step   ({cpu / gpu:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
