"""Graphviz DOT text of a Scene, and a Scene read back from DOT text that ``to_dot`` wrote."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ..graph import Graph, Node
from .scene import _KIND_SHAPES, STYLES, LegendEntry, Scene, SceneEdge, SceneNode, build_scene


class DotText(str):
    """DOT text that also carries the Scene it was written from (``.scene``), so that
    ``render`` draws it without reading the text back."""

    scene: Scene | None = None


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def write_dot(scene: Scene) -> DotText:
    """DOT text of a scene: boxes with their labels, tooltips and classes (the role),
    arrows, the legend as a cluster and the note as the graph's label."""
    lines = ["digraph graphdiff {", "  rankdir=TB;",
             '  node [fontname="Helvetica", fontsize=10, style=filled, fillcolor=white];',
             '  edge [color="#555555", arrowsize=0.6, fontname="Helvetica", fontsize=9];']
    if scene.note:
        lines.append(f"  labelloc=t; label={_quote(scene.note)};")
    for n in scene.nodes:
        shape = "box" if n.kind == "group" else _KIND_SHAPES.get(n.kind, "ellipse")
        attrs = ""
        if n.border is not None:
            attrs += f', color="{n.border}"'
            if n.penwidth != 1.0:
                attrs += f", penwidth={n.penwidth:g}"
        if n.kind == "group":
            attrs += f", peripheries=2, members={n.members}"
        if n.term:
            attrs += ", term=true"
        lines.append(f"  {n.id} [label={_quote(n.label)}, shape={shape}, "
                     f'fillcolor="{n.fill}", class="{n.role}"{attrs}, '
                     f"tooltip={_quote(n.tooltip)}];")
    for e in scene.edges:
        if not e.constraint:  # the terms of a sum
            lines.append(f'  {e.src} -> {e.dst} [style=dashed, color="{e.colour}", '
                         f'fontcolor="{e.colour}", constraint=false, '
                         f"label={_quote(e.label or '')}];")
            continue
        attrs = []
        if e.colour:
            attrs.append(f'color="{e.colour}"')
        if e.count > 1:
            attrs.append(f"penwidth={min(1 + e.count / 4, 4):g}, count={e.count}")
        lines.append(f"  {e.src} -> {e.dst}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    if scene.legend:
        lines.append('  subgraph cluster_legend { label="legend"; fontsize=10; style=dashed;')
        names = {"legend": 0}
        for entry in scene.legend:
            if entry.cls == "legend":
                role = next((r for r, (c, t) in STYLES.items() if t == entry.text), "role")
                name = f"legend_{role}"
            elif entry.cls == "legendop":
                name = f"legend_op{names.setdefault('op', 0)}"
                names["op"] += 1
            elif entry.cls == "legendterm":
                name = "legend_terms"
            else:
                name = "legend_group"
            border = f', color="{entry.border}"' if entry.border else ""
            pen = f", penwidth={entry.penwidth:g}" if entry.penwidth != 1.0 else ""
            lines.append(f"    {name} [label={_quote(entry.text)}, shape=box, "
                         f'fillcolor="{entry.fill}", class="{entry.cls}"{border}{pen}];')
        lines.append("  }")
    lines.append("}")
    text = DotText("\n".join(lines) + "\n")
    text.scene = scene
    return text


def to_dot(nodes_or_graph: Graph | Node | Iterable[Node], highlight: Any = None,
           terms_of: Node | None = None, group: Any = None,
           max_nodes: int | None = None) -> str:
    """Graphviz DOT text of a graph, labelled with short names/ops and static shapes.

    Labels are what a reader writes: a node's name, ``x[:, 0, :]``, ``W.T``,
    ``sum(axis=1)``, ``h @ W`` (each op's ``short_label``); the full op and where the node
    was built are in its tooltip (shown on hover in SVG).

    Parameters
    ----------
    nodes_or_graph : Graph, Node or iterable of Nodes
        A whole Graph, or the given nodes together with all their ancestors.
    highlight : GradTable, TangentTable, networkx.DiGraph or iterable of Nodes, optional
        A GradTable (``gd.backprop``) colours the nodes of G' and the gradient nodes
        back-propagation added, with a legend: each gradient node has an orange border
        and is filled with one colour per op type of the forward node whose bprop built
        it (``node.grad_of``), named in its label and tooltip. A TangentTable
        (``gd.forward.tangent_table``) colours the tangent nodes forward mode added. G'
        alone (``gd.prune``) colours its nodes; other Nodes are drawn in gold. Without a
        highlight, gradient and tangent nodes are still told apart (``node.made_by``).
    terms_of : Node, optional
        With a GradTable as ``highlight``: mark in crimson each term that build_grad
        summed into this node's gradient (``table.terms(node)``) and the consumer whose
        bprop built it, joined by a dashed edge labelled with the input positions.
    group : "name", callable or dict, optional
        Collapse nodes into group boxes: ``"name"`` groups by the prefix of node names
        before their last ``/`` (``"step3/h"`` is in group ``"step3"``; unnamed ops join
        their consumer's group), a function maps a Node to its group name (or None), a
        dict maps Nodes to names. Gradient (tangent) nodes join ``"\u2207 group"``
        (``"\u2202 group"``) of the node whose rule built them. Runs of four or more groups
        that differ only by a number (``step1``, ``step2``, ...) and hold the same ops
        collapse into one box between the first and the last.
    max_nodes : int, optional
        Draw at most this many boxes (default: all): the terms of ``terms_of``, else G',
        else the last nodes; the picture says what it left out.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,)); W = g.parameter(np.ones(3), name="W")
    >>> z = gd.sum(x * W)
    >>> text = gd.to_dot(g, highlight=gd.backprop(z, [W]))
    >>> text.startswith("digraph")
    True
    """
    return write_dot(build_scene(nodes_or_graph, highlight, terms_of, group, max_nodes))


# ---------------------------------------------------------------------- reading it back

_ATTR_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^,\];\s]+)')
_NODE_RE = re.compile(r"^\s*(\w+) \[(.*)\];\s*$")
_EDGE_RE = re.compile(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?;\s*$")
_NOTE_RE = re.compile(r'^\s*labelloc=t; label=("(?:[^"\\]|\\.)*");')


def _unquote(text: str) -> str:
    if text.startswith('"') and text.endswith('"'):
        text = text[1:-1]
    out, i = [], 0
    while i < len(text):  # one pass, so that "\\n" stays a backslash and an n
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\n" if nxt == "n" else nxt)
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _attrs(text: str | None) -> dict[str, str]:
    return {k: _unquote(v) for k, v in _ATTR_RE.findall(text or "")}


_SHAPE_KINDS = {v: k for k, v in _KIND_SHAPES.items()}


def read_dot(text: str) -> Scene:
    """The Scene of DOT text written by ``to_dot`` (from a file, say), for drawing it with
    matplotlib; lines it does not recognise are skipped."""
    nodes, edges, legend, note = [], [], [], None
    for line in text.splitlines():
        if m := _EDGE_RE.match(line):
            a = _attrs(m.group(3))
            edges.append(SceneEdge(m.group(1), m.group(2), a.get("color"),
                                   a.get("style") == "dashed", a.get("label"),
                                   a.get("constraint") != "false", int(a.get("count", 1))))
        elif (m := _NODE_RE.match(line)) and m.group(1) not in ("node", "edge", "graph"):
            a = _attrs(m.group(2))
            cls = a.get("class", "forward")
            if cls.startswith("legend"):
                legend.append(LegendEntry(a.get("fillcolor", "white"), a.get("color"),
                                          a.get("label", ""), cls,
                                          float(a.get("penwidth", 1.0))))
                continue
            kind = "group" if "peripheries" in a else _SHAPE_KINDS.get(a.get("shape"), "op")
            nodes.append(SceneNode(m.group(1), a.get("label", m.group(1)), a.get("tooltip", ""),
                                   cls, a.get("fillcolor", "white"), a.get("color"),
                                   float(a.get("penwidth", 1.0)), kind,
                                   int(a.get("members", 1)), a.get("term") == "true"))
        elif m := _NOTE_RE.match(line):
            note = _unquote(m.group(1))
    return Scene(nodes, edges, legend, note)


def scene_of(text: str) -> Scene:
    """The scene behind DOT text: the one it carries, else read back from the text."""
    scene = getattr(text, "scene", None)
    return scene if scene is not None else read_dot(text)
