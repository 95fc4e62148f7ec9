"""Pictures of back-propagation: the forward graph G, the subgraph G' and the gradient graph.

Builds a small network, loss = mse(Dense(4 -> 1)(tanh(Dense(3 -> 4)(x))), t), then writes

    forward.dot   the forward graph of the loss
    pruned.dot    the same with G' = gd.prune(loss, params) coloured: the nodes on a path
                  from a parameter to the loss (x and t are not on one)
    gradient.dot  the whole graph after gd.backprop: forward nodes, G', and the gradient
                  nodes back-propagation inserted, in distinct colours

and a .png of each when Graphviz's `dot` or matplotlib is installed.

Run: python examples/show_graph.py [--out DIR]   (default ./graphdiff-out/show_graph)
"""

import argparse
from pathlib import Path

import numpy as np

import graphdiff as gd


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path.cwd() / "graphdiff-out" / "show_graph"),
                    help="folder for the outputs (default: ./graphdiff-out/show_graph)")
    out = Path(ap.parse_args(argv).out)
    out.mkdir(parents=True, exist_ok=True)

    g = gd.Graph()
    x = g.input("x", shape=(None, 3))
    t = g.input("t", shape=(None, 1))
    net = gd.nn.MLP(g, [3, 4, 1], activation=gd.tanh, rng=np.random.default_rng(0))
    loss = gd.losses.mse(net(x), t)
    n_forward = len(g.nodes)
    pictures = {"forward": gd.to_dot(loss)}

    sub = gd.prune(loss, net.params)
    pictures["pruned"] = gd.to_dot(loss, highlight=sub)
    table = gd.backprop(loss, net.params)
    pictures["gradient"] = gd.to_dot(g, highlight=table)
    print(f"forward graph: {n_forward} nodes; G': {sub.number_of_nodes()} nodes; "
          f"after backprop the graph has {len(g.nodes)} nodes")

    for name, text in pictures.items():
        (out / f"{name}.dot").write_text(text)
        print(f"wrote {out / f'{name}.dot'}", end="")
        try:
            print(f" and {gd.render(text, out / f'{name}.png')}")
        except RuntimeError as exc:
            print(f" (no picture: {exc})")


if __name__ == "__main__":
    main()
