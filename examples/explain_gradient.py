"""Explain a gradient from the graph itself: terms of each sum, why a target got zero,
NaN hazards, what it costs, how big it is, where a NaN came from, and a picture.

The network has a weight W shared by two layers, a bias b behind stop_gradient, an integer
input k (counts that scale the output), a parameter the loss never uses, and a where-log
hazard: where(p > 0.5, log(p - 0.5), 0).

Run: python examples/explain_gradient.py [--out DIR]   (default ./graphdiff-out/explain_gradient)
"""

import argparse
from pathlib import Path

import numpy as np

import graphdiff as gd


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path.cwd() / "graphdiff-out" / "explain_gradient"),
                    help="folder for the outputs (default: ./graphdiff-out/explain_gradient)")
    out = Path(ap.parse_args(argv).out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)

    g = gd.Graph()
    x = g.input("x", shape=(4, 3))
    k = g.input("k", shape=(4, 1), dtype="int64")
    W = g.parameter(rng.uniform(-1, 1, (3, 3)), name="W")
    b = g.parameter(np.full(3, 0.1), name="b")
    unused = g.parameter(np.ones(3), name="unused")
    h = gd.tanh(x @ W)                       # W, first use
    a = h @ W + gd.stop_gradient(b)          # W, second use; b is cut
    scaled = a * (k * 2)                     # k * 2 stays int64: an integer path
    p = gd.sigmoid(scaled)
    hazard = gd.where(p > 0.5, gd.log(p - 0.5), 0.0)   # log of a negative where p < 0.5
    z = gd.sum(hazard)
    n_forward = len(g.nodes)
    feed = {x: rng.uniform(-1, 1, (4, 3)), k: np.array([[1], [2], [0], [3]])}

    table = gd.backprop(z, [W, b, k, unused])

    print("== terms of each sum")
    terms = table.terms(W)
    print(f"terms of dz/dW: {len(terms)}")
    for j, (consumer, positions, term) in enumerate(terms, 1):
        print(f"  term {j}: consumer {gd.graph.formula(consumer)} at input "
              f"{', '.join(map(str, positions))}, term node #{term.index}")
    sq = gd.sum(x * x)
    ((consumer, positions, _),) = gd.backprop(sq, [x]).terms(x)
    print(f"  x * x: one consumer {gd.graph.formula(consumer)} at inputs {positions}")

    print("== why zero")
    for target in (b, k, unused):
        print(" ", table.why(target))
    print(" ", table.why(W))
    try:
        gd.grad(z, unused, unconnected="raise")
    except gd.GradError as exc:
        print(f"  unconnected='raise': GradError: {str(exc)[:90]}...")

    print("== NaN-hazard lint")
    for finding in gd.lint(z):
        print(" ", finding)

    print("== cost (batch 4)")
    report = gd.cost([z, table[W]])
    print(f"  forward {report.forward_flops:,} FLOPs, gradient {report.gradient_flops:,} "
          f"FLOPs, cheap-gradient ratio {report.cheap_gradient_ratio:.2f}, "
          f"peak live memory {report.peak_bytes:,} bytes")
    big = gd.Graph()
    bx = big.input("x", shape=(128, 784))
    by = big.input("y", shape=(128,), dtype="int64")
    mlp = gd.nn.MLP(big, [784, 512, 512, 10], rng=rng)
    loss = gd.losses.softmax_cross_entropy(mlp(bx), by)
    mreport = gd.cost([loss] + gd.grad(loss, mlp.params))
    print(f"  MLP 784-512-512-10 at batch 128: forward MatMul "
          f"{mreport.flops('forward', 'MatMul'):,} FLOPs (2*128*(784*512+512*512+512*10) = "
          f"{2 * 128 * (784 * 512 + 512 * 512 + 512 * 10):,}), cheap-gradient ratio "
          f"{mreport.cheap_gradient_ratio:.2f}, peak {mreport.peak_bytes:,} bytes")

    print("== size around differentiation")
    twin = gd.sum(gd.tanh(x @ W)) + gd.sum(gd.tanh(x @ W))   # the same expression twice
    for label, root in (("network", z), ("tanh twice", twin)):
        sizes = gd.size_report(root, [W])
        print(f"  {label}: |G| = {sizes['forward']}, |G'| = {sizes['pruned']}, gradient added "
              f"{sizes['gradient_added']} nodes, {sizes['gradient_added_after_cse']} after CSE")

    print("== anomaly: the earliest non-finite node, named in the forward graph")
    at_zero = {x: np.where(np.arange(12).reshape(4, 3) == 4, 0.0, feed[x]), k: feed[k]}
    absolute = gd.sqrt(x * x)  # |x|: its gradient x / |x| is 0 / 0 at x = 0
    for what, fetch, values in (("dz/dW (k = 0 puts p at 0.5)", table[W], feed),
                                ("d sum(sqrt(x*x))/dx at x = 0",
                                 gd.grad(gd.sum(absolute), x), at_zero)):
        try:
            with gd.detect_anomaly():
                g.run(fetch, feed=values)
            print(f"  {what}: all finite")
        except gd.AnomalyError as exc:
            print(f"  {what}: AnomalyError: {str(exc).split('; inputs')[0]}")

    print("== picture")
    text = gd.to_dot(z, highlight=table, terms_of=W)
    (out / "explain.dot").write_text(text)
    print(f"  forward graph {n_forward} nodes, G' {table.pruned.number_of_nodes()}, "
          f"gradient nodes {len(table.added)}; wrote {out / 'explain.dot'}", end="")
    try:
        print(f" and {gd.render(text, out / 'explain.png')}")
    except RuntimeError as exc:
        print(f" (no PNG: {exc})")


if __name__ == "__main__":
    main()
