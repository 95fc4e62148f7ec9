"""Draw the tutorial's three pictures (docs/tutorial.md) into docs/_static/.

They are committed, so building the docs needs neither Graphviz nor this script; rerun it
after a change to the tutorial's graph or to the pictures:

    python3 docs/_scripts/tutorial_pictures.py [--out docs/_static] [--backend dot]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

import graphdiff as gd


def tutorial_graph():
    """The graph of docs/tutorial.md: z = mean(tanh(x @ W + b) ** 2)."""
    g = gd.Graph()
    x = g.input("x", shape=(None, 3))
    W = g.parameter(np.full((3, 2), 0.5), name="W")
    b = g.parameter(np.zeros(2), name="b")
    h = gd.tanh(x @ W + b)
    h.name = "h"  # a name labels the node in pictures and error messages
    z = gd.mean(h ** 2)
    z.name = "z"
    return g, x, W, b, h, z


def legend_as_column(dot: str) -> str:
    """Stack the legend's entries in one column (invisible edges between them), so that a
    wide legend does not make the picture wide and the graph small on the page."""
    start = dot.find("subgraph cluster_legend")
    if start < 0:
        return dot
    end = dot.index("\n  }", start)
    ids = re.findall(r"^\s+(legend_\w+) \[", dot[start:end], re.MULTILINE)
    chain = "\n    " + " -> ".join(ids) + " [style=invis];" if len(ids) > 1 else ""
    return dot[:end] + chain + dot[end:]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "_static"))
    ap.add_argument("--backend", default="auto", choices=["auto", "dot", "matplotlib"])
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    g, x, W, b, h, z = tutorial_graph()
    pictures = {
        "tutorial_forward.png": gd.to_dot(g),
        "tutorial_pruned.png": gd.to_dot(g, highlight=gd.prune(z, [W, b])),
    }
    table = gd.backprop(z, [W, b])
    pictures["tutorial_gradient.png"] = gd.to_dot(g, highlight=table, terms_of=W)
    for name, text in pictures.items():
        print("wrote", gd.render(legend_as_column(text), out / name, backend=args.backend))


if __name__ == "__main__":
    main()
