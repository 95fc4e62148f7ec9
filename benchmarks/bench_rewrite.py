"""What the rewrite stage (``g.function(..., optimize=True)``) costs and what it removes.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks.bench_rewrite [--quick]

For chains of the op_overhead cycle (sin, tanh, ``* 1.01``, ``+ 0.1``) with their
gradient, and for the digits MLP's loss with its gradients, it times in one run,
interleaved, medians of repeats:

* ``rewrite``: the rewrite pass alone (``compile.rewrite.rewrite``);
* ``compile0`` / ``compile1``: building the function with ``optimize=False`` / ``True``
  plus its first call (plan, generated code, first run);
* ``build``: building the chain and its gradient.

and prints the medians of the per-repeat ratios rewrite / compile0, compile1 / compile0
and rewrite / build, the rewrite's time per node, and the rewrites applied. Timing is
noisy on a shared machine: read the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time

import numpy as np

import graphdiff as gd
from graphdiff.compile.rewrite import rewrite
from graphdiff.graph import ancestors


def chain(n: int):
    g = gd.Graph()
    x = g.input("x", shape=(10,))
    v = x
    for i in range(n):
        k = i % 4
        v = gd.sin(v) if k == 0 else gd.tanh(v) if k == 1 else v * 1.01 if k == 2 else v + 0.1
    z = gd.sum(v)
    return g, [x], [z, gd.grad(z, x)], [np.linspace(-1, 1, 10)]


def digits_mlp(_: int = 0):
    g = gd.Graph()
    x = g.input("x", shape=(None, 64))
    labels = g.input("labels", shape=(None,), dtype="int64")
    mlp = gd.nn.MLP(g, [64, 128, 64, 10], activation=gd.relu, rng=np.random.default_rng(0))
    J = gd.losses.softmax_cross_entropy(mlp(x), labels) + 1e-4 * gd.losses.l2_penalty(
        mlp.params[::2])
    rng = np.random.default_rng(1)
    return g, [x, labels], [J, *gd.grad(J, mlp.params)], [rng.normal(size=(32, 64)),
                                                          rng.integers(0, 10, size=32)]


def _time(fn) -> float:
    gc.collect()
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _repeat(make, n: int, times: dict[str, list[float]], flip: bool):
    box = {}
    times["build"].append(_time(lambda: box.update(spec=make(n))))
    g, inputs, outputs, values = box["spec"]
    # Interleaved: each repeat times all three on the same graph, in turn, the two
    # compiles in alternating order (the first of a pair pays for warming caches).
    times["rewrite"].append(_time(lambda: rewrite(g, outputs)))
    pair = [("compile0", lambda: g.function(inputs, outputs, optimize=False)(*values)),
            ("compile1", lambda: g.function(inputs, outputs)(*values))]
    for key, fn in pair[::-1] if flip else pair:
        times[key].append(_time(fn))
    return g, inputs, outputs


def measure(make, n: int, repeats: int) -> dict:
    times: dict[str, list[float]] = {"build": [], "rewrite": [], "compile0": [], "compile1": []}
    for k in range(repeats):
        g, inputs, outputs = _repeat(make, n, times, flip=bool(k % 2))
    med = {k: statistics.median(v) for k, v in times.items()}
    # Ratios within one repeat (the same graph, back to back), then their median.
    for name, (a, b) in {"rewrite/compile0": ("rewrite", "compile0"),
                         "compile1/compile0": ("compile1", "compile0"),
                         "rewrite/build": ("rewrite", "build")}.items():
        med[name] = statistics.median(x / y for x, y in zip(times[a], times[b]))
    nodes = len(ancestors(outputs))
    f0 = g.function(inputs, outputs, optimize=False)
    f1 = g.function(inputs, outputs)
    return {"nodes": nodes, "steps0": len(f0.plan.steps), "steps1": len(f1.plan.steps),
            "rewrites": str(f1.rewrites), **med}


def adam_step(batch: int = 32):
    """The digits MLP's training step with Adam inside (``updates=``)."""
    g, inputs, outputs, values = digits_mlp()
    params = [n for n in g.nodes if n.kind == "parameter"]
    opt = gd.optim.Adam(params, lr=1e-3)
    return g, inputs, outputs[0], opt.updates(outputs[1:]), values


def steady(repeats: int, calls: int) -> dict:
    """Steady calls of the Adam step, optimized vs not: median of paired ratios."""
    g, inputs, loss, updates, values = adam_step()
    f1 = g.function(inputs, loss, updates=updates)
    f0 = g.function(inputs, loss, updates=updates, optimize=False)
    ratios = []
    for k in range(repeats):
        t = {}
        for name, f in ((("f0", f0), ("f1", f1)) if k % 2 else (("f1", f1), ("f0", f0))):
            f(*values)
            t[name] = _time(lambda f=f: [f(*values) for _ in range(calls)])
        ratios.append(t["f1"] / t["f0"])
    return {"steps0": len(f0.plan.steps), "steps1": len(f1.plan.steps),
            "ratio": statistics.median(ratios), "rewrites": str(f1.rewrites)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    cases = [("digits MLP", digits_mlp, 0, 31)] + [
        (f"chain {n}", chain, n, 5 if n <= 10_000 else 3) for n in sizes]
    r = steady(9 if args.quick else 21, 50)
    print(f"digits MLP step with Adam inside: steps {r['steps0']} -> {r['steps1']}; steady "
          f"call optimized / unoptimized = {r['ratio']:.3f}")
    print("  " + r["rewrites"].replace("\n", "\n  "))
    for label, make, n, repeats in cases:
        r = measure(make, n, repeats)
        print(f"{label}: {r['nodes']} nodes, steps {r['steps0']} -> {r['steps1']}")
        print(f"  rewrite {r['rewrite'] * 1e6 / r['nodes']:.2f} us/node; "
              f"rewrite / (compile + first call) = {r['rewrite/compile0']:.3f}; "
              f"optimized / unoptimized compile + first call = "
              f"{r['compile1/compile0']:.3f}; rewrite / (build + grad) = "
              f"{r['rewrite/build']:.3f}")
        print("  " + r["rewrites"].replace("\n", "\n  "))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
