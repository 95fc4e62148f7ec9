"""Pictures of graphs: Graphviz DOT text, and PNG/SVG/PDF files via ``dot`` or matplotlib.

Given a GradTable as ``highlight``, the picture shows the book's three graphs at once:
the forward graph G, the subgraph G' that back-propagation visits (``gd.prune``), and
the gradient nodes it inserted; tangent nodes that forward mode (``gd.jvp``) inserted get
their own colour. Three parts: ``scene`` (what to draw and where: boxes, labels, groups,
the layered layout), ``dot`` (Graphviz text) and ``draw`` (matplotlib, no Graphviz
needed). In Jupyter a Graph, a Node and a GradTable display themselves (``notebook``).
"""

from .dot import DotText, read_dot, to_dot, write_dot
from .draw import DEFAULT_MAX_NODES, draw, figure_svg, render
from .notebook import install as _install_notebook
from .scene import (
                    PROVENANCE_COLOURS,
                    STYLES,
                    TERM_COLOUR,
                    Layout,
                    Scene,
                    build_scene,
                    layout,
                    node_label,
                    provenance_key,
)

_install_notebook()

__all__ = ["to_dot", "render", "draw", "build_scene", "layout", "Scene", "Layout", "DotText",
           "read_dot", "write_dot", "figure_svg", "node_label", "provenance_key", "STYLES",
           "PROVENANCE_COLOURS", "TERM_COLOUR", "DEFAULT_MAX_NODES"]
