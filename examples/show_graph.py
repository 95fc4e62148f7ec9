"""Pictures of back-propagation: the forward graph G, the subgraph G' and the gradient graph.

Builds a small network, loss = mse(Dense(4 -> 1)(tanh(Dense(3 -> 4)(x))), t), then writes

    forward.dot   the forward graph of the loss
    pruned.dot    the same with G' = gd.prune(loss, params) coloured: the nodes on a path
                  from a parameter to the loss (x and t are not on one)
    gradient.dot  the whole graph after gd.backprop: forward nodes, G', and the gradient
                  nodes back-propagation inserted, in distinct colours
    rnn.dot       a 50-step recurrent network and its gradient, one box per step
                  (group="name"), the 48 middle steps collapsed into one box
    tangent.dot   a forward-mode graph: the tangent nodes gd.jvp inserted

and a .png of each when Graphviz's `dot` or matplotlib is installed (``--backend
matplotlib`` draws without Graphviz even when it is installed).

Run: python examples/show_graph.py [--out DIR] [--backend auto]   (default DIR:
./graphdiff-out/show_graph)
"""

import argparse
from pathlib import Path

import numpy as np

import graphdiff as gd


def mlp_gradient():
    """The quick-start network and the graph after back-propagation."""
    g = gd.Graph()
    x = g.input("x", shape=(None, 3))
    t = g.input("t", shape=(None, 1))
    net = gd.nn.MLP(g, [3, 4, 1], activation=gd.tanh, rng=np.random.default_rng(0))
    loss = gd.losses.mse(net(x), t)
    return g, loss, net.params


def rnn(steps: int = 50):
    """h_t = tanh(x[t] @ W + h_{t-1} @ U + b): naming each step's h "step<t>/h" puts the
    step's nodes in one group."""
    rng = np.random.default_rng(0)
    g = gd.Graph()
    x = g.input("x", shape=(steps, 2, 3))
    W = g.parameter(rng.normal(size=(3, 4)), name="W")
    U = g.parameter(rng.normal(size=(4, 4)), name="U")
    b = g.parameter(np.zeros(4), name="b")
    h = g.constant(np.zeros((2, 4)), name="h0")
    for step in range(steps):
        h = gd.tanh(x[step] @ W + h @ U + b)
        h.name = f"step{step}/h"
    loss = gd.sum(h * h)
    return g, gd.backprop(loss, [W, U, b])


def tangent():
    """y = sum(tanh(x @ W) * x) and its directional derivative along v (forward mode)."""
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    W = g.parameter(np.eye(3), name="W")
    y = gd.sum(gd.tanh(x @ W) * x)
    table = gd.forward.tangent_table(y, x, np.array([1.0, 0.0, 0.0]))
    return g, table


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path.cwd() / "graphdiff-out" / "show_graph"),
                    help="folder for the outputs (default: ./graphdiff-out/show_graph)")
    ap.add_argument("--backend", default="auto", choices=["auto", "dot", "matplotlib"])
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"writing pictures under {out.resolve()}")

    g, loss, params = mlp_gradient()
    n_forward = len(g.nodes)
    pictures = {"forward": gd.to_dot(loss)}
    sub = gd.prune(loss, params)
    pictures["pruned"] = gd.to_dot(loss, highlight=sub)
    table = gd.backprop(loss, params)
    pictures["gradient"] = gd.to_dot(g, highlight=table)
    print(f"forward graph: {n_forward} nodes; G': {sub.number_of_nodes()} nodes; "
          f"after backprop the graph has {len(g.nodes)} nodes")

    g_rnn, rnn_table = rnn()
    pictures["rnn"] = gd.to_dot(g_rnn, highlight=rnn_table, group="name")
    print(f"rnn: {len(g_rnn)} nodes drawn as {len(pictures['rnn'].scene.nodes)} boxes")
    g_tan, tangents = tangent()
    pictures["tangent"] = gd.to_dot(g_tan, highlight=tangents)

    for name, text in pictures.items():
        (out / f"{name}.dot").write_text(text)
        print(f"wrote {out / f'{name}.dot'}", end="")
        try:
            print(f" and {gd.render(text, out / f'{name}.png', backend=args.backend)}")
        except RuntimeError as exc:
            print(f" (no picture: {exc})")


if __name__ == "__main__":
    main()
