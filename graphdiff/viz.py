"""Pictures of graphs: Graphviz DOT text, and PNG/SVG files via ``dot`` or matplotlib.

Given a GradTable as ``highlight``, the picture shows the book's three graphs at once:
the forward graph G, the subgraph G' that back-propagation visits (``gd.prune``), and
the gradient nodes it inserted. Gradient nodes are filled with one colour per op type
of the node whose bprop built them (``node.grad_of``), and ``terms_of=V`` marks the
terms that build_grad summed into V's gradient. Every walk here is iterative (graphs can
be deep).
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import networkx as nx

from .graph import Graph, Node, describe, formula
from .site import format_site

# (fill colour, legend text) of each role a node can play in a picture.
STYLES = {
    "forward": ("white", "forward graph G"),
    "pruned": ("lightskyblue", "G' (prune: on a path target -> z)"),
    "grad": ("orange", "gradient nodes added by backprop"),
    "highlight": ("gold", "highlighted"),
}
_KIND_SHAPES = {"input": "invhouse", "parameter": "box3d", "constant": "note"}
# Fill colours of gradient nodes, one per op type of the node whose bprop built them
# (ColorBrewer Set3 without its blues, which G' uses), assigned in order of appearance.
PROVENANCE_COLOURS = ("#fdb462", "#b3de69", "#fccde5", "#bc80bd", "#ccebc5", "#ffed6f",
                      "#8dd3c7", "#fb8072", "#bebada", "#d9d9d9", "#e5c494", "#a6d854")
TERM_COLOUR = "crimson"  # the terms of a chosen node's sum, their consumers and edges


def _collect(nodes_or_graph: Any) -> list[Node]:
    """The nodes to draw, in creation (topological) order: all of a Graph's, or the given
    nodes with their ancestors."""
    if isinstance(nodes_or_graph, Graph):
        return nodes_or_graph.nodes
    roots = [nodes_or_graph] if isinstance(nodes_or_graph, Node) else list(nodes_or_graph)
    seen: set[Node] = set()
    stack = [n for n in roots if isinstance(n, Node)]
    if len(stack) != len(roots):
        raise TypeError("to_dot takes a Graph, a Node or an iterable of Nodes")
    while stack:  # iterative: no recursion limit on deep graphs
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(n.inputs)
    return sorted(seen, key=lambda n: (id(n.graph), n.index))


def _roles(highlight: Any) -> dict[Node, str]:
    """The role (a STYLES key) of every highlighted node."""
    if highlight is None:
        return {}
    if isinstance(highlight, nx.Graph):  # G' itself, as gd.prune returns it
        return {n: "pruned" for n in highlight.nodes}
    pruned = getattr(highlight, "pruned", None)
    if pruned is None:  # a plain collection of nodes
        return {n: "highlight" for n in highlight}
    roles = {n: "pruned" for n in pruned.nodes}
    added = getattr(highlight, "added", None)
    if added is None:
        # Backprop appends its nodes to the graph, so they come after G''s forward nodes.
        start = max((n.index for n in pruned.nodes), default=-1)
        graph = next(iter(pruned.nodes)).graph if len(pruned) else None
        added = graph.nodes[start + 1:] if graph is not None else ()
        added = [n for n in added if n not in roles] + list(highlight.values())
    for n in added:
        roles[n] = "grad"
    return roles


def _fmt_shape(shape: Any) -> str:
    if shape is None:
        return "shape ?"
    dims = ", ".join("?" if d is None else str(d) for d in shape)
    return f"({dims},)" if len(shape) == 1 else f"({dims})"


_SPECIAL = {"sum": ("sum of terms for", "sum of the terms (build_grad)"),
            "zeros": ("zeros for", "zeros (every path cut)")}


def provenance_key(node: Node, entries: Any = None) -> str | None:
    """What built a gradient node: the op type name of the forward node whose bprop built
    it, ``"sum"`` for build_grad's sum of terms, ``"zeros"`` for a zero gradient; None
    for nodes back-propagation did not build (forward nodes, seeds).

    ``entries`` maps each variable to its gradient (a GradTable's entries), which tells
    build_grad's sum apart from nodes that the variable's own bprop built.
    """
    source = node.grad_of
    if source is None:
        return None
    zero = (node.op is None and node.kind == "constant"
            or node.op is not None and node.op.always_zero)
    if source.op is None or (entries is not None and entries.get(source) is node):
        return "zeros" if zero else "sum"
    return type(source.op).__name__


def node_label(node: Node, grad_of: str | None = None) -> str:
    """The name (or op) and the static shape; ``grad_of`` adds a line ``dz/d<grad_of>``."""
    if node.op is None:
        head = node.name or node.kind
        if node.kind == "constant" and node.name is None and node.shape == ():
            head = f"{node._value!r}"
        head = f"{head} [{node.kind}]"
    else:
        head = node.op.label()
        if node.name:
            head = f"{node.name} = {head}"
    tail = f"\ndz/d{grad_of}" if grad_of else ""
    return f"{head}\n{_fmt_shape(node.shape)}{tail}"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(nodes_or_graph: Graph | Node | Iterable[Node], highlight: Any = None,
           terms_of: Node | None = None) -> str:
    """Graphviz DOT text of a graph, labelled with names/ops and static shapes.

    Parameters
    ----------
    nodes_or_graph : Graph, Node or iterable of Nodes
        A whole Graph, or the given nodes together with all their ancestors.
    highlight : GradTable, networkx.DiGraph or iterable of Nodes, optional
        A GradTable (``gd.backprop``) colours the nodes of G' and the gradient nodes
        back-propagation added, with a legend: each gradient node has an orange border
        and is filled with one colour per op type of the forward node whose bprop built
        it (``node.grad_of``), named in its label and tooltip. G' alone (``gd.prune``)
        colours its nodes; other Nodes are drawn in gold.
    terms_of : Node, optional
        With a GradTable as ``highlight``: mark in crimson each term that build_grad
        summed into this node's gradient (``table.terms(node)``) and the consumer whose
        bprop built it, joined by a dashed edge labelled with the input positions.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,)); W = g.parameter(np.ones(3), name="W")
    >>> z = gd.sum(x * W)
    >>> text = gd.to_dot(g, highlight=gd.backprop(z, [W]))
    >>> text.startswith("digraph")
    True
    """
    nodes = _collect(nodes_or_graph)
    roles = _roles(highlight)
    terms: list[tuple[Node, tuple[int, ...], Node]] = []
    if terms_of is not None:
        if not (hasattr(highlight, "terms") and hasattr(highlight, "pruned")):
            raise ValueError("terms_of= needs a GradTable (gd.backprop) as highlight=")
        if not isinstance(terms_of, Node):
            raise TypeError(f"terms_of must be a Node, got {type(terms_of).__name__}")
        terms = highlight.terms(terms_of)
    if highlight is not None:
        # Show every gradient node even when only the forward nodes were asked for.
        have = set(nodes)
        extra = [n for n in roles if n not in have]
        extra += [n for c, _, t in terms for n in (c, t) if n not in have]
        if terms_of is not None and terms_of not in have:
            extra.append(terms_of)
        if extra:
            nodes = _collect(nodes + extra)
    ids = {n: f"n{i}" for i, n in enumerate(nodes)}
    grad_of: dict[Node, str] = {}
    entries: dict = {}
    if hasattr(highlight, "pruned") and hasattr(highlight, "items"):
        # A GradTable builds zero entries on first access; read its stored entries so that
        # drawing never adds nodes to the graph.
        entries = dict(getattr(highlight, "_table", None) or highlight.items())
        for v, dv in entries.items():  # name the table's entries after their variable
            if v.name is not None and dv is not None:
                grad_of.setdefault(dv, v.name)
    # One fill colour per op type of the forward node whose bprop built a gradient node.
    keys = {n: provenance_key(n, entries) for n in nodes if roles.get(n) == "grad"}
    provenance: dict[str, str] = {}
    for key in keys.values():
        if key is not None and key not in provenance:
            provenance[key] = PROVENANCE_COLOURS[len(provenance) % len(PROVENANCE_COLOURS)]
    term_index = {t: k for k, (_, _, t) in enumerate(terms)}
    consumers = {c for c, _, _ in terms}
    target_name = describe(terms_of) if terms_of is not None else ""
    lines = ["digraph graphdiff {", "  rankdir=TB;",
             '  node [fontname="Helvetica", fontsize=10, style=filled, fillcolor=white];',
             '  edge [color="#555555", arrowsize=0.6, fontname="Helvetica", fontsize=9];']
    for n in nodes:
        role = roles.get(n, "forward")
        shape = _KIND_SHAPES.get(n.kind, "ellipse")
        label = node_label(n, grad_of.get(n))
        colour = STYLES[role][0]
        extra_attrs = ""
        key = keys.get(n)
        if key is not None:
            source = n.grad_of
            colour = provenance[key]
            label += f"\n{_SPECIAL.get(key, ('bprop of',))[0]} {describe(source)}"
            tooltip = (f"in the gradient of {formula(source)}, created at "
                       f"{format_site(source.site)}")
            extra_attrs += f", tooltip={_quote(tooltip)}"
        if n in term_index:
            label += f"\nterm {term_index[n] + 1} of d/d{target_name}"
        if n in term_index or n in consumers or n is terms_of:
            extra_attrs += f', color="{TERM_COLOUR}", penwidth=3'
        elif role == "grad":
            extra_attrs += ', color="darkorange", penwidth=1.5'
        lines.append(f"  {ids[n]} [label={_quote(label)}, shape={shape}, "
                     f'fillcolor="{colour}", class="{role}"{extra_attrs}];')
    for n in nodes:
        for i in dict.fromkeys(n.inputs):  # one edge per distinct input, in order
            if i in ids:
                attr = ' [color="darkorange"]' if roles.get(n) == "grad" else ""
                lines.append(f"  {ids[i]} -> {ids[n]}{attr};")
    for k, (c, positions, t) in enumerate(terms):
        where = ", ".join(str(p) for p in positions)
        text = f"term {k + 1}: {target_name} at input{'s' if len(positions) > 1 else ''} {where}"
        lines.append(f'  {ids[c]} -> {ids[t]} [style=dashed, color="{TERM_COLOUR}", '
                     f'fontcolor="{TERM_COLOUR}", constraint=false, label={_quote(text)}];')
    used = sorted(set(roles.values()), key=list(STYLES).index)
    if used:
        lines.append('  subgraph cluster_legend { label="legend"; fontsize=10; style=dashed;')
        for role in ["forward"] + used:
            colour, text = STYLES[role]
            lines.append(f'    legend_{role} [label={_quote(text)}, shape=box, '
                         f'fillcolor="{colour}", class="legend"];')
        for j, (key, colour) in enumerate(provenance.items()):
            text = _SPECIAL[key][1] if key in _SPECIAL else f"gradient built by {key}.bprop"
            lines.append(f'    legend_op{j} [label={_quote(text)}, shape=box, '
                         f'fillcolor="{colour}", class="legendop", color="darkorange"];')
        if terms_of is not None:
            text = f"terms summed into d/d{target_name}"
            lines.append(f'    legend_terms [label={_quote(text)}, shape=box, fillcolor="white", '
                         f'class="legendterm", color="{TERM_COLOUR}", penwidth=3];')
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- rendering

_NODE_RE = re.compile(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)".*?fillcolor="([^"]*)", class="(\w+)"')
_EDGE_RE = re.compile(r"^\s*(\w+) -> (\w+)")
_BORDER_RE = re.compile(r'class="\w+", color="([^"]*)"')
_EDGE_LABEL_RE = re.compile(r'label="((?:[^"\\]|\\.)*)"')


def _unquote(text: str) -> str:
    return text.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


def _parse_dot(text: str) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str]]]:
    """Nodes (id, label, colour, role) and edges of DOT text written by ``to_dot``."""
    nodes, edges = [], []
    for line in text.splitlines():
        if m := _NODE_RE.match(line):
            nodes.append((m.group(1), _unquote(m.group(2)), m.group(3), m.group(4)))
        elif m := _EDGE_RE.match(line):
            edges.append((m.group(1), m.group(2)))
    return nodes, edges


def _parse_extras(text: str) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Border colours of nodes and labels of (term) edges, for the matplotlib drawing."""
    borders, labels = {}, {}
    for line in text.splitlines():
        if (m := _NODE_RE.match(line)) and (b := _BORDER_RE.search(line)):
            borders[m.group(1)] = b.group(1)
        elif (m := _EDGE_RE.match(line)) and (lab := _EDGE_LABEL_RE.search(line)):
            labels[(m.group(1), m.group(2))] = _unquote(lab.group(1))
    return borders, labels


def _layered_layout(G: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """(x, y) per node, y = -layer: a light Sugiyama-style layout, all in loops.

    A node's layer is its longest path from a leaf; leaves sit just above their first
    consumer. Within a layer nodes are ordered by the mean x of their neighbours above
    (leaves: below), then spaced one unit apart.
    """
    layer: dict[str, int] = {}
    for nid in G.nodes:  # DOT lines come in creation order, a topological order
        layer[nid] = 1 + max((layer[p] for p in G.predecessors(nid)), default=-1)
    for nid in G.nodes:
        if G.in_degree(nid) == 0 and G.out_degree(nid):
            layer[nid] = max(0, min(layer[s] for s in G.successors(nid)) - 1)
    rows: dict[int, list[str]] = {}
    for nid in G.nodes:
        rows.setdefault(layer[nid], []).append(nid)
    x: dict[str, float] = {}
    for k in sorted(rows):
        want = {}
        for nid in rows[k]:
            above = [x[p] for p in G.predecessors(nid) if p in x]
            want[nid] = sum(above) / len(above) if above else None
        placed = [n for n in rows[k] if want[n] is not None]
        free = [n for n in rows[k] if want[n] is None]  # leaves: near their consumers later
        base = max((want[n] for n in placed), default=0.0)
        for j, n in enumerate(free):
            want[n] = base + 1.0 + j
        order = sorted(rows[k], key=lambda n: want[n])
        centre = sum(want.values()) / len(order)
        for i, n in enumerate(order):
            x[n] = centre + i - (len(order) - 1) / 2
    for k in sorted(rows, reverse=True):  # pull leaves toward the nodes that use them
        leaves = [n for n in rows[k] if G.in_degree(n) == 0 and G.out_degree(n)]
        for n in leaves:
            below = [x[s] for s in G.successors(n)]
            x[n] = sum(below) / len(below)
        order = sorted(rows[k], key=lambda n: x[n])
        for a, b in itertools.pairwise(order):  # keep one unit between neighbours
            x[b] = max(x[b], x[a] + 1.0)
    return {n: (x[n], -float(layer[n])) for n in G.nodes}


def _draw_matplotlib(text: str, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    nodes, edges = _parse_dot(text)
    borders, edge_labels = _parse_extras(text)
    legend = [n for n in nodes if n[3].startswith("legend")]
    nodes = [n for n in nodes if not n[3].startswith("legend")]
    G = nx.DiGraph()
    G.add_nodes_from(nid for nid, *_ in nodes)
    G.add_edges_from(edges)
    pos = _layered_layout(G)
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    fig = Figure(figsize=(min(3 + 1.7 * (max(xs) - min(xs)), 60),
                          min(2 + 0.8 * (max(ys) - min(ys)), 80)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.axis("off")
    role_of = {nid: role for nid, _, _, role in nodes}
    for a, b in edges:
        term = edge_labels.get((a, b))
        edge = TERM_COLOUR if term else "darkorange" if role_of.get(b) == "grad" else "#777777"
        ax.annotate("", xy=pos[b], xytext=pos[a],
                    arrowprops={"arrowstyle": "-|>", "color": edge, "lw": 1.4 if term else 0.8,
                                "linestyle": "--" if term else "-",
                                "shrinkA": 14, "shrinkB": 14})
        if term:
            mid = ((pos[a][0] + pos[b][0]) / 2, (pos[a][1] + pos[b][1]) / 2)
            ax.text(*mid, term, ha="center", va="center", fontsize=6, color=TERM_COLOUR)
    for nid, label, colour, _ in nodes:
        border = borders.get(nid, "#333333")
        ax.text(*pos[nid], label, ha="center", va="center", fontsize=7,
                bbox={"boxstyle": "round", "fc": colour, "ec": border,
                      "lw": 2.0 if border == TERM_COLOUR else 1.0})
    if legend:
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(fc=c, ec=borders.get(nid, "#333333"), label=lbl)
                           for nid, lbl, c, _ in legend], loc="upper right", fontsize=8)
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.5, max(ys) + 0.5)
    fig.savefig(path, bbox_inches="tight", dpi=110)


def render(dot_or_nodes: str | Graph | Node | Iterable[Node], path: str | Path,
           highlight: Any = None, backend: str = "auto") -> Path:
    """Write a picture of a graph to ``path`` (format from the suffix: .png, .svg, .pdf).

    Uses Graphviz's ``dot`` program when it is on PATH, else draws with matplotlib
    (layered layout by networkx); raises RuntimeError when neither is available.

    Parameters
    ----------
    dot_or_nodes : str, Graph, Node or iterable of Nodes
        DOT text from ``to_dot``, or what ``to_dot`` accepts.
    path : str or Path
    highlight : GradTable or iterable of Nodes, optional
        Passed to ``to_dot`` when nodes are given.
    backend : {"auto", "dot", "matplotlib"}

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> gd.render(gd.to_dot(gd.sum(x * 2.0)), "/tmp/graph.png")    # doctest: +SKIP
    PosixPath('/tmp/graph.png')
    """
    text = dot_or_nodes if isinstance(dot_or_nodes, str) else to_dot(dot_or_nodes, highlight)
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("png", "svg", "pdf"):
        raise ValueError(f"render writes .png, .svg or .pdf files, not {path.name!r}")
    if backend not in ("auto", "dot", "matplotlib"):
        raise ValueError(f"backend must be 'auto', 'dot' or 'matplotlib', got {backend!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    dot = shutil.which("dot")
    if backend == "dot" or (backend == "auto" and dot):
        if not dot:
            raise RuntimeError("render(backend='dot') needs Graphviz's `dot` program on PATH")
        subprocess.run([dot, f"-T{fmt}", "-o", str(path)], input=text.encode(), check=True)
        return path
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise RuntimeError("render needs Graphviz's `dot` program on PATH or matplotlib "
                           "(pip install matplotlib); to_dot() text works without either") from None
    _draw_matplotlib(text, path)
    return path
