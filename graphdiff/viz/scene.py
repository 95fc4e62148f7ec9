"""The picture of a graph as data: which boxes and arrows to draw, and where.

``build_scene`` reads the graph and what each op declares (``short_label``, ``label``,
``node.grad_of``, ``node.made_by``) and decides the boxes (nodes, or groups of nodes),
their labels, tooltips and colours, the arrows and the legend. ``layout`` places the boxes
in layers (a light Sugiyama layout: longest-path layers in creation order, barycentre
ordering to reduce crossings, isotonic x placement so that boxes never overlap) and routes
long arrows between the boxes. Both DOT text (``dot.py``) and matplotlib (``draw.py``)
draw a Scene. Every walk here is a loop: graphs can be deep.
"""

from __future__ import annotations

import bisect
import gc
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import networkx as nx
import numpy as np

from ..graph import Graph, Node, consumers_of, describe, formula
from ..site import format_site

# (fill colour, legend text) of each role a node can play in a picture.
STYLES = {
    "forward": ("white", "forward graph G"),
    "pruned": ("lightskyblue", "G' (prune: on a path target -> z)"),
    "grad": ("orange", "gradient nodes added by backprop"),
    "tangent": ("#e3d0f5", "tangent nodes added by jvp (forward mode)"),
    "highlight": ("gold", "highlighted"),
}
# Border colours: gradient nodes orange, tangent nodes purple, terms of a sum crimson.
GRAD_BORDER = "darkorange"
TANGENT_BORDER = "#7b3294"
TERM_COLOUR = "crimson"
_KIND_SHAPES = {"input": "invhouse", "parameter": "box3d", "constant": "note"}
# Fill colours of gradient nodes, one per op type of the node whose bprop built them
# (ColorBrewer Set3 without its blues, which G' uses), assigned in order of appearance.
PROVENANCE_COLOURS = ("#fdb462", "#b3de69", "#fccde5", "#bc80bd", "#ccebc5", "#ffed6f",
                      "#8dd3c7", "#fb8072", "#bebada", "#d9d9d9", "#e5c494", "#a6d854")
_SPECIAL = {"sum": ("sum of terms for", "sum of the terms (build_grad)"),
            "zeros": ("zeros for", "zeros (every path cut)")}
MAX_LABEL = 30  # characters of a short label; the full op is in the tooltip
GRAD_PREFIX, TANGENT_PREFIX = "\u2207 ", "\u2202 "  # group names of gradient / tangent nodes


class SceneNode:
    """One box: a graph node or a group of them."""

    __slots__ = ("id", "label", "tooltip", "role", "fill", "border", "penwidth", "kind",
                 "members", "term")

    def __init__(self, id: str, label: str, tooltip: str, role: str, fill: str,
                 border: str | None = None, penwidth: float = 1.0, kind: str = "op",
                 members: int = 1, term: bool = False):
        self.id, self.label, self.tooltip, self.role, self.fill = id, label, tooltip, role, fill
        self.border, self.penwidth, self.kind = border, penwidth, kind
        self.members, self.term = members, term


class SceneEdge:
    """One arrow. ``constraint=False`` arrows (the terms of a sum) do not shape the layers."""

    __slots__ = ("src", "dst", "colour", "dashed", "label", "constraint", "count")

    def __init__(self, src: str, dst: str, colour: str | None = None, dashed: bool = False,
                 label: str | None = None, constraint: bool = True, count: int = 1):
        self.src, self.dst, self.colour, self.dashed = src, dst, colour, dashed
        self.label, self.constraint, self.count = label, constraint, count


class LegendEntry:
    __slots__ = ("fill", "border", "text", "cls", "penwidth")

    def __init__(self, fill: str, border: str | None, text: str, cls: str,
                 penwidth: float = 1.0):
        self.fill, self.border, self.text, self.cls, self.penwidth = (
            fill, border, text, cls, penwidth)


class Scene:
    """Boxes, arrows, legend and a note (what was left out), in drawing order."""

    def __init__(self, nodes: list[SceneNode], edges: list[SceneEdge],
                 legend: list[LegendEntry], note: str | None = None):
        self.nodes, self.edges, self.legend, self.note = nodes, edges, legend, note

    def __repr__(self) -> str:
        return f"<Scene: {len(self.nodes)} boxes, {len(self.edges)} arrows>"

    def limited(self, max_nodes: int | None) -> Scene:
        """This scene cut to at most ``max_nodes`` boxes by the rule of ``choose``."""
        if max_nodes is None or len(self.nodes) <= max_nodes:
            return self
        by_id = {n.id: n for n in self.nodes}
        inputs: dict[str, list[str]] = {}
        for e in self.edges:
            inputs.setdefault(e.dst, []).append(e.src)
        kept, note = choose(self.nodes, lambda n: n.role, lambda n: n.term,
                            lambda n: [by_id[i] for i in inputs.get(n.id, ()) if i in by_id],
                            max_nodes)
        ids = {n.id for n in kept}
        fills = {n.fill for n in kept} | {n.role for n in kept}
        legend = [e for e in self.legend
                  if e.cls == "legend" and (e.fill in fills or e.text == STYLES["forward"][1])
                  or e.cls == "legendop" and e.fill in fills
                  or e.cls == "legendterm" and any(n.term for n in kept)
                  or e.cls == "legendgroup"]
        edges = [e for e in self.edges if e.src in ids and e.dst in ids]
        return Scene(kept, edges, legend, note)


def choose(items: list, role_of: Callable, is_term: Callable, inputs_of: Callable,
           max_nodes: int) -> tuple[list, str]:
    """The boxes a large picture keeps, in order, and a note saying what it left out.

    The terms of one node's gradient (with their inputs) when a sum is marked; else G' when
    it is marked; and when that is still too many, the last ``max_nodes`` of them (the
    nodes nearest the output, since creation order is topological).
    """
    total = len(items)
    if any(is_term(n) for n in items):
        marked = [n for n in items if is_term(n)]
        keep = set(marked)
        for n in marked:
            keep.update(inputs_of(n))
        kept = [n for n in items if n in keep]
        what = "the terms of one gradient and their inputs"
    elif any(role_of(n) == "pruned" for n in items):
        kept = [n for n in items if role_of(n) == "pruned"]
        what = "G' only (the gradient nodes are not drawn)"
    else:
        kept, what = items, ""
    if len(kept) > max_nodes:
        kept = kept[-max_nodes:]
        what = f"the last {max_nodes} nodes" + (f" of {what}" if what else "")
    note = (f"{len(kept)} of {total} nodes drawn: {what}; pass max_nodes=None, or group= "
            "to collapse repeated structure, to draw more")
    return kept, note


# ---------------------------------------------------------------------- reading the graph

def collect(nodes_or_graph: Any) -> list[Node]:
    """The nodes to draw, in creation (topological) order: all of a Graph's, or the given
    nodes with their ancestors."""
    if isinstance(nodes_or_graph, Graph):
        return list(nodes_or_graph.nodes)
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


def is_grad_table(obj: Any) -> bool:
    return hasattr(obj, "terms") and hasattr(obj, "pruned")


def is_tangent_table(obj: Any) -> bool:
    return hasattr(obj, "added") and hasattr(obj, "inputs") and not hasattr(obj, "pruned")


def roles_of(highlight: Any) -> dict[Node, str]:
    """The role (a STYLES key) of every node the highlight marks."""
    if highlight is None:
        return {}
    if isinstance(highlight, nx.Graph):  # G' itself, as gd.prune returns it
        return {n: "pruned" for n in highlight.nodes}
    if is_tangent_table(highlight):
        roles = {n: "highlight" for n in highlight.inputs}
        roles.update((n, "tangent") for n in highlight.added)
        return roles
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


def _role(node: Node, roles: dict[Node, str]) -> str:
    role = roles.get(node)
    if role is not None:
        return role
    # Nodes that back-propagation or forward mode built say so themselves.
    if node.made_by == "tangent":
        return "tangent"
    if node.made_by == "gradient":
        return "grad"
    return "forward"


def provenance_key(node: Node, entries: Any = None) -> str | None:
    """What built a gradient node: the op type name of the forward node whose bprop built
    it, ``"sum"`` for build_grad's sum of terms, ``"zeros"`` for a zero gradient; None
    for nodes back-propagation did not build (forward nodes, seeds).

    ``entries`` maps each variable to its gradient (a GradTable's entries), which tells
    build_grad's sum apart from nodes that the variable's own bprop built.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2,)); h = gd.tanh(x)
    >>> table = gd.backprop(gd.sum(h), [x])
    >>> sorted({provenance_key(n) for n in table.added} - {None})
    ['Sum', 'Tanh']
    """
    source = node.grad_of
    if source is None:
        return None
    zero = (node.op is None and node.kind == "constant"
            or node.op is not None and node.op.always_zero)
    if source.op is None or (entries is not None and entries.get(source) is node):
        return "zeros" if zero else "sum"
    return type(source.op).__name__


def fmt_shape(shape: Any) -> str:
    if shape is None:
        return "shape ?"
    dims = ", ".join("?" if d is None else str(d) for d in shape)
    return f"({dims},)" if len(shape) == 1 else f"({dims})"


def _scalar_text(node: Node) -> str | None:
    """A 0-d constant's value as a reader writes it (``2``, ``0.5``), else None."""
    if node.kind != "constant" or node.shape != () or node.stored is None:
        return None
    try:
        v = np.asarray(node.stored).item()
    except (TypeError, ValueError):
        return None
    return f"{v:g}" if isinstance(v, float) else repr(v)


def _operand(node: Node) -> str | None:
    return node.name if node.name is not None else _scalar_text(node)


def _clip(text: str, limit: int = MAX_LABEL) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def short_label(node: Node) -> str:
    """A node's head line in a picture: its name, its op as a reader writes it (``W.T``,
    ``x[:, 0, :]``, ``sum(axis=1)``: ``Op.short_label``), or both (``h = tanh``)."""
    if node.op is None:
        if node.name is not None:
            return f"{node.name} [{node.kind}]"
        return _scalar_text(node) or node.kind
    try:
        head = node.op.short_label([_operand(i) for i in node.inputs])
    except Exception:  # a custom op's label must never break a picture
        head = node.op.label()
    head = _clip(str(head))
    return f"{node.name} = {head}" if node.name else head


def node_label(node: Node, grad_of: str | None = None) -> str:
    """The short label and the static shape; ``grad_of`` adds a line ``dz/d<grad_of>``.

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(2, 3, 4))
    >>> print(node_label(x[:, 0, :]))
    x[:, 0, :]
    (2, 4)
    """
    tail = f"\ndz/d{grad_of}" if grad_of else ""
    return f"{short_label(node)}\n{fmt_shape(node.shape)}{tail}"


def _brief(node: Node) -> str:
    """``'W'``, ``Tanh node #3``: describe() with the op's type only (its parameters are
    in the tooltip)."""
    if node.name is not None or node.op is None:
        return describe(node)
    return f"{type(node.op).__name__} node #{node.index}"


def node_tooltip(node: Node) -> str:
    """The full op (``formula``) and where the user built the node."""
    return f"{formula(node)}\ncreated at {format_site(node.site)}"


# ---------------------------------------------------------------------- groups

def group_keys(nodes: list[Node], group: Any) -> dict[Node, str]:
    """The group of each node that has one.

    ``group`` is ``"name"`` (a name's prefix before its last ``/``: ``"step3/h"`` is in
    ``"step3"``; an unnamed op joins the group of its first grouped consumer), a function
    from a Node to a group name or None, or a mapping Node -> name. Gradient and tangent
    nodes without a group of their own join ``"\u2207 <group>"`` / ``"\u2202 <group>"`` of the
    forward node whose rule built them.
    """
    keys: dict[Node, str] = {}
    if group == "name":
        for n in nodes:
            if n.name is not None and "/" in n.name:
                keys[n] = n.name.rsplit("/", 1)[0]
        members = set(nodes)
        for n in reversed(nodes):  # consumers come later: they are settled first
            if n in keys or n.op is None or n.grad_of is not None or n.name is not None:
                continue
            best = None
            for c in consumers_of(n):
                if c in keys and c in members and c.grad_of is None and (
                        best is None or c.index < best.index):
                    best = c
            if best is not None:
                keys[n] = keys[best]
    elif callable(group):
        for n in nodes:
            k = group(n)
            if k is not None:
                keys[n] = str(k)
    elif isinstance(group, Mapping):
        keys = {n: str(k) for n, k in group.items() if k is not None}
    else:
        raise TypeError(f"group= takes 'name', a function Node -> name or a dict, "
                        f"got {group!r}")
    for n in nodes:  # creation order: a gradient node's forward node came first
        if n in keys or n.grad_of is None:
            continue
        k = keys.get(n.grad_of)
        if k is None:
            continue
        prefix = TANGENT_PREFIX if n.made_by == "tangent" else GRAD_PREFIX
        keys[n] = k if k.startswith(prefix) else prefix + k
    return keys


_NUMBER = re.compile(r"\d+")


def collapse_repeats(order: list[str], members: dict[str, list[Node]], signature: Callable,
                     min_run: int = 4) -> dict[str, str]:
    """Runs of groups that repeat (names equal but for a number, ``step3``/``step4``, and the
    same members' ops) -> one box for the middle of each run, the first and last kept.

    Returns group name -> the name of the box it joins (only for collapsed groups).
    """
    families: dict[tuple, list[tuple[int, str]]] = {}
    for k in order:
        numbers = _NUMBER.findall(k)
        if not numbers:
            continue
        pattern = _NUMBER.sub("#", k)
        families.setdefault((pattern, signature(members[k])), []).append((int(numbers[-1]), k))
    joined: dict[str, str] = {}
    for runs in families.values():
        runs.sort()
        start = 0
        for i in range(1, len(runs) + 1):
            if i < len(runs) and runs[i][0] == runs[i - 1][0] + 1:
                continue
            run = [k for _, k in runs[start:i]]
            if len(run) >= min_run:
                middle = run[1:-1]
                box = f"{middle[0]} \u2026 {middle[-1]}"
                for k in middle:
                    joined[k] = box
            start = i
    return joined


def _signature(nodes: list[Node]) -> tuple:
    return tuple(sorted(Counter((n.kind, type(n.op).__name__, n.made_by)
                                for n in nodes).items()))


def _summary(nodes: list[Node]) -> str:
    """``12 nodes: 2 @, 2 +, tanh``: a group's size and its commonest ops."""
    ops = Counter()
    for n in nodes:
        if n.op is not None:
            try:
                ops[_clip(str(n.op.short_label([None] * len(n.inputs))), 12)] += 1
            except Exception:
                ops[type(n.op).__name__] += 1
    top = ", ".join(f"{c} {k}" if c > 1 else k for k, c in ops.most_common(3))
    more = ", \u2026" if len(ops) > 3 else ""
    return f"{len(nodes)} nodes" + (f": {top}{more}" if top else "")


# ---------------------------------------------------------------------- the scene

def build_scene(nodes_or_graph: Any, highlight: Any = None, terms_of: Node | None = None,
                group: Any = None, max_nodes: int | None = None,
                repeats: bool = True) -> Scene:
    """What to draw: see ``graphdiff.to_dot`` for the parameters."""
    # Tens of thousands of small objects: the cyclic collector would rescan the whole
    # graph many times over (as in forward mode, it is paused while they are made).
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        return _build_scene(nodes_or_graph, highlight, terms_of, group, max_nodes, repeats)
    finally:
        if gc_was_on:
            gc.enable()


def _build_scene(nodes_or_graph: Any, highlight: Any, terms_of: Node | None, group: Any,
                 max_nodes: int | None, repeats: bool) -> Scene:
    nodes = collect(nodes_or_graph)
    roles = roles_of(highlight)
    terms: list[tuple[Node, tuple[int, ...], Node]] = []
    if terms_of is not None:
        if not is_grad_table(highlight):
            raise ValueError("terms_of= needs a GradTable (gd.backprop) as highlight=")
        if not isinstance(terms_of, Node):
            raise TypeError(f"terms_of must be a Node, got {type(terms_of).__name__}")
        terms = highlight.terms(terms_of)
    if highlight is not None and not isinstance(highlight, nx.Graph) and roles:
        # Show every gradient (tangent) node even when only the forward nodes were asked for.
        have = set(nodes)
        extra = [n for n in roles if n not in have]
        extra += [n for c, _, t in terms for n in (c, t) if n not in have]
        if terms_of is not None and terms_of not in have:
            extra.append(terms_of)
        if extra:
            nodes = collect(nodes + extra)
    entries: dict = {}
    if is_grad_table(highlight) and hasattr(highlight, "items"):
        entries = dict(highlight.items())  # a read: the table adds no node
    term_index = {t: k for k, (_, _, t) in enumerate(terms)}
    consumers = {c for c, _, _ in terms}
    marked = set(term_index) | consumers | ({terms_of} if terms_of is not None else set())
    note = None
    if max_nodes is not None and group is None and len(nodes) > max_nodes:
        nodes, note = choose(nodes, lambda n: _role(n, roles), marked.__contains__,
                             lambda n: n.inputs, max_nodes)
    # Positions in the drawn list name the boxes (n0, n1, ...): stable ids for tests/tools.
    ids = {n: f"n{i}" for i, n in enumerate(nodes)}
    grad_of: dict[Node, str] = {}
    for v, dv in entries.items():  # name the table's entries after their variable
        if v.name is not None and dv is not None:
            grad_of.setdefault(dv, v.name)
    node_role = {n: _role(n, roles) for n in nodes}
    keys = {n: provenance_key(n, entries) for n in nodes if node_role[n] == "grad"}
    provenance: dict[str, str] = {}
    target_name = describe(terms_of) if terms_of is not None else ""

    # Groups: the boxes that stand for several nodes.
    box_of: dict[Node, str] = {}
    group_nodes: dict[str, list[Node]] = {}
    if group is not None:
        gkeys = group_keys(nodes, group)
        for n in nodes:
            k = gkeys.get(n)
            if k is not None:
                group_nodes.setdefault(k, []).append(n)
        joined = collapse_repeats(list(group_nodes), group_nodes, _signature) if repeats else {}
        runs: dict[str, list[str]] = {}
        for k, box in joined.items():
            runs.setdefault(box, []).append(k)
        merged: dict[str, list[Node]] = {}
        for k, members in group_nodes.items():
            merged.setdefault(joined.get(k, k), []).extend(members)
        group_nodes = {k: sorted(v, key=lambda n: n.index) for k, v in merged.items()}
        gids = {k: f"g{j}" for j, k in enumerate(group_nodes)}
        for k, members in group_nodes.items():
            for n in members:
                box_of[n] = gids[k]
    for n in nodes:
        box_of.setdefault(n, ids[n])

    out_nodes: list[SceneNode] = []
    done_groups: set[str] = set()
    for n in nodes:
        box = box_of[n]
        if box != ids[n]:
            if box in done_groups:
                continue
            done_groups.add(box)
            k = next(k for k in group_nodes if gids[k] == box)
            members = group_nodes[k]
            role = Counter(node_role[m] for m in members).most_common(1)[0][0]
            label = f"{_clip(k, 40)}\n{_summary(members)}"
            if k in runs:
                label += f"\n\u00d7{len(runs[k])} repeated groups"
            tip = "\n".join(formula(m) for m in members[:40])
            if len(members) > 40:
                tip += f"\n\u2026 and {len(members) - 40} more"
            border = GRAD_BORDER if role == "grad" else TANGENT_BORDER if role == "tangent" \
                else "#333333"
            out_nodes.append(SceneNode(box, label, tip, role, STYLES[role][0], border, 2.0,
                                       "group", len(members),
                                       any(m in marked for m in members)))
            continue
        role = node_role[n]
        label = node_label(n, grad_of.get(n))
        tooltip = node_tooltip(n)
        fill = STYLES[role][0]
        border, penwidth = None, 1.0
        key = keys.get(n)
        source = n.grad_of
        if key is not None:
            if key not in provenance:
                provenance[key] = PROVENANCE_COLOURS[len(provenance) % len(PROVENANCE_COLOURS)]
            fill = provenance[key]
            label += f"\n{_SPECIAL.get(key, ('bprop of',))[0]} {_brief(source)}"
            tooltip = (f"in the gradient of {formula(source)}, created at "
                       f"{format_site(source.site)}\n{tooltip}")
        elif role == "tangent" and source is not None:
            label += f"\ntangent of {_brief(source)}"
            tooltip = (f"in the tangent of {formula(source)}, created at "
                       f"{format_site(source.site)}\n{tooltip}")
        if n in term_index:
            label += f"\nterm {term_index[n] + 1} of d/d{target_name}"
        if n in marked:
            border, penwidth = TERM_COLOUR, 3.0
        elif role == "grad":
            border, penwidth = GRAD_BORDER, 1.5
        elif role == "tangent":
            border, penwidth = TANGENT_BORDER, 1.5
        out_nodes.append(SceneNode(ids[n], label, tooltip, role, fill, border, penwidth,
                                   n.kind if n.op is None else "op", 1, n in marked))

    edge_index: dict[tuple[str, str], SceneEdge] = {}
    for n in nodes:
        dst = box_of[n]
        for i in dict.fromkeys(n.inputs):  # one edge per distinct input, in order
            src = box_of.get(i)
            if src is None or src == dst:
                continue
            e = edge_index.get((src, dst))
            if e is not None:
                e.count += 1
                continue
            role = node_role[n]
            colour = GRAD_BORDER if role == "grad" else TANGENT_BORDER if role == "tangent" \
                else None
            edge_index[(src, dst)] = SceneEdge(src, dst, colour)
    edges = list(edge_index.values())
    for k, (c, positions, t) in enumerate(terms):
        if c not in box_of or t not in box_of:
            continue
        where = ", ".join(str(p) for p in positions)
        text = f"term {k + 1}: {target_name} at input{'s' if len(positions) > 1 else ''} {where}"
        edges.append(SceneEdge(box_of[c], box_of[t], TERM_COLOUR, True, text, False))

    legend: list[LegendEntry] = []
    used = {m.role for m in out_nodes}
    if highlight is not None or used - {"forward"}:
        for role in STYLES:
            if role == "forward" or role in used:
                colour, text = STYLES[role]
                border = GRAD_BORDER if role == "grad" else TANGENT_BORDER \
                    if role == "tangent" else None
                legend.append(LegendEntry(colour, border, text, "legend"))
        for key, colour in provenance.items():
            text = _SPECIAL[key][1] if key in _SPECIAL else f"gradient built by {key}.bprop"
            legend.append(LegendEntry(colour, GRAD_BORDER, text, "legendop"))
        if terms_of is not None:
            legend.append(LegendEntry("white", TERM_COLOUR, f"terms summed into d/d{target_name}",
                                      "legendterm", 3.0))
    if group_nodes:
        legend.append(LegendEntry("#f2f2f2", "#333333", "group of nodes (double border)",
                                  "legendgroup", 2.0))
    scene = Scene(out_nodes, edges, legend, note)
    if group is not None and max_nodes is not None:
        scene = scene.limited(max_nodes)
    return scene


# ---------------------------------------------------------------------- layout

class Layout:
    """Box centres and sizes (points, y growing downward), arrow routes, the extent.

    ``routes[k]`` is the path of ``scene.edges[k]``: points alternating between vertical
    pieces inside a layer and S-curves across the gap between layers; None for an arrow
    drawn straight (the terms of a sum, and arrows that go back up).
    """

    def __init__(self, pos, size, routes, width, height):
        self.pos, self.size, self.routes, self.width, self.height = (
            pos, size, routes, width, height)


def _isotonic(targets: list[float]) -> list[float]:
    """The non-decreasing sequence nearest to ``targets`` (least squares): pool adjacent
    violators, O(n)."""
    blocks: list[list[float]] = []  # [mean, count]
    for t in targets:
        blocks.append([t, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, c2 = blocks.pop()
            m1, c1 = blocks[-1]
            blocks[-1] = [(m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2]
    out: list[float] = []
    for m, c in blocks:
        out.extend([m] * int(c))
    return out


def _crossings(upper: list[str], lower_pos: dict[str, int], down: dict[str, list[str]]) -> int:
    """Edge crossings between two adjacent layers: inversions, counted with a Fenwick tree."""
    seq = [lower_pos[v] for u in upper for v in sorted(down.get(u, ()), key=lower_pos.get)]
    if not seq:
        return 0
    size = max(seq) + 2
    tree = [0] * (size + 1)
    count = 0
    for seen, p in enumerate(seq):
        i, below = p + 1, 0
        while i > 0:  # how many earlier edges end at or left of p
            below += tree[i]
            i -= i & -i
        count += seen - below
        i = p + 1
        while i <= size:
            tree[i] += 1
            i += i & -i
    return count


def layout(scene: Scene, sizes: Mapping[str, tuple[float, float]], hgap: float = 14.0,
           vgap: float = 30.0, dummy_width: float = 4.0, sweeps: int = 8,
           max_dummies: int = 20_000) -> Layout:
    """Place the boxes of ``scene``; ``sizes`` maps a box id to its (width, height).

    Longest-path layers in the scene's order (creation order, so arrows point down; an
    input sits just above its first consumer); arrows that span several layers pass
    through dummy points so that they go between boxes, never through one; layers are
    ordered by barycentre sweeps, keeping the order with the fewest crossings; x places
    each layer as near its neighbours as the separations allow (isotonic regression).
    """
    ids = [n.id for n in scene.nodes]
    order = {v: k for k, v in enumerate(ids)}
    preds: dict[str, list[str]] = {v: [] for v in ids}
    succs: dict[str, list[str]] = {v: [] for v in ids}
    for e in scene.edges:
        if e.constraint and e.src in order and e.dst in order and order[e.src] < order[e.dst]:
            preds[e.dst].append(e.src)
            succs[e.src].append(e.dst)
    layer: dict[str, int] = {}
    for v in ids:
        layer[v] = 1 + max((layer[p] for p in preds[v]), default=-1)
    for v in ids:
        if not preds[v] and succs[v]:
            layer[v] = max(0, min(layer[s] for s in succs[v]) - 1)
    n_layers = 1 + max(layer.values(), default=0)
    # Dummy points for long arrows, the longest left straight past the budget.
    chains: dict[int, list[str]] = {}
    width = {v: sizes[v][0] for v in ids}
    dummy_layer: dict[str, int] = {}
    up: dict[str, list[str]] = {v: [] for v in ids}
    down: dict[str, list[str]] = {v: [] for v in ids}
    budget = max_dummies
    for k, e in enumerate(scene.edges):
        if not (e.constraint and e.src in order and e.dst in order
                and order[e.src] < order[e.dst]):
            continue
        span = layer[e.dst] - layer[e.src]
        if span > 1 and span - 1 > budget:
            continue  # drawn straight
        chain = [e.src]
        for j in range(1, span):
            d = f"~{k}.{j}"
            dummy_layer[d] = layer[e.src] + j
            width[d] = dummy_width
            up[d], down[d] = [], []
            chain.append(d)
        budget -= span - 1
        chain.append(e.dst)
        chains[k] = chain
        for a, b in zip(chain, chain[1:]):
            down[a].append(b)
            up[b].append(a)
    rows: list[list[str]] = [[] for _ in range(n_layers)]
    for v in ids:
        rows[layer[v]].append(v)
    for d, k in dummy_layer.items():
        rows[k].append(d)

    def positions() -> dict[str, int]:
        return {v: i for row in rows for i, v in enumerate(row)}

    def total_crossings(pos: dict[str, int]) -> int:
        return sum(_crossings(rows[k], pos, down) for k in range(n_layers - 1))

    pos = positions()
    best, best_count = [list(r) for r in rows], total_crossings(pos)
    for sweep in range(sweeps):
        downward = sweep % 2 == 0
        ks = range(1, n_layers) if downward else range(n_layers - 2, -1, -1)
        nbrs_of = up if downward else down
        for k in ks:
            rows[k].sort(key=lambda v: (sum(pos[u] for u in nbrs_of[v]) / len(nbrs_of[v])
                                        if nbrs_of[v] else float(pos[v]), pos[v]))
            for i, v in enumerate(rows[k]):
                pos[v] = i
        count = total_crossings(pos)
        if count < best_count:
            best, best_count = [list(r) for r in rows], count
    rows = best
    # x: pack, then pull each layer toward its neighbours without overlaps.
    real = set(ids)
    x: dict[str, float] = {}
    seps: list[list[float]] = []
    for row in rows:
        sep = [0.0]
        for a, b in zip(row, row[1:]):
            gap = hgap if a in real and b in real else hgap / 3
            sep.append(sep[-1] + (width[a] + width[b]) / 2 + gap)
        seps.append(sep)
        for v, c in zip(row, sep):
            x[v] = c
    for it in range(10):
        mode = ("down", "up")[it % 2] if it < 6 else "both"
        ks = range(n_layers) if mode != "up" else range(n_layers - 1, -1, -1)
        for k in ks:
            row, sep = rows[k], seps[k]
            targets = []
            for v, c in zip(row, sep):
                nbrs = up[v] if mode == "down" else down[v] if mode == "up" else up[v] + down[v]
                want = sum(x[u] for u in nbrs) / len(nbrs) if nbrs else x[v]
                targets.append(want - c)
            for v, c, y in zip(row, sep, _isotonic(targets)):
                x[v] = y + c
    left = min((x[v] - width[v] / 2 for v in x), default=0.0)
    for v in x:
        x[v] -= left
    right = max((x[v] + width[v] / 2 for v in x), default=0.0)
    # y: layer bands as tall as their tallest box.
    band_top, band_bottom, y = [], [], 0.0
    for row in rows:
        h = max((sizes[v][1] for v in row if v in real), default=8.0)
        band_top.append(y)
        band_bottom.append(y + h)
        y += h + vgap
    height = max(y - vgap, 0.0)
    pos_xy = {v: (x[v], (band_top[layer[v]] + band_bottom[layer[v]]) / 2) for v in ids}
    size = {v: tuple(sizes[v]) for v in ids}
    # Ports: arrows into (out of) a box are spread along its top (bottom) edge in the
    # order of where they come from (go to), so they do not cross at the box.
    port_in: dict[tuple[int, str], float] = {}
    port_out: dict[tuple[int, str], float] = {}
    ins: dict[str, list[tuple[float, int]]] = {}
    outs: dict[str, list[tuple[float, int]]] = {}
    for k, chain in chains.items():
        ins.setdefault(chain[-1], []).append((x[chain[-2]], k))
        outs.setdefault(chain[0], []).append((x[chain[1]], k))
    for table, spread in ((ins, port_in), (outs, port_out)):
        for v, lst in table.items():
            lst.sort()
            m = len(lst)
            step = min(10.0, (width[v] - 8.0) / max(m - 1, 1)) if m > 1 else 0.0
            for j, (_, k) in enumerate(lst):
                spread[(k, v)] = x[v] + (j - (m - 1) / 2) * max(step, 0.0)
    routes: list[list[tuple[float, float]] | None] = []
    for k, e in enumerate(scene.edges):
        chain = chains.get(k)
        if chain is None:
            if e.src in pos_xy and e.dst in pos_xy and e.constraint \
                    and order[e.src] < order[e.dst]:
                (xa, ya), (xb, yb) = pos_xy[e.src], pos_xy[e.dst]
                routes.append([(xa, ya + size[e.src][1] / 2), (xa, ya + size[e.src][1] / 2),
                               (xb, yb - size[e.dst][1] / 2), (xb, yb - size[e.dst][1] / 2)])
            else:
                routes.append(None)
            continue
        src, dst = chain[0], chain[-1]
        xs = port_out[(k, src)]
        pts = [(xs, pos_xy[src][1] + size[src][1] / 2), (xs, band_bottom[layer[src]])]
        for d in chain[1:-1]:
            kk = dummy_layer[d]
            pts += [(x[d], band_top[kk]), (x[d], band_bottom[kk])]
        xe = port_in[(k, dst)]
        pts += [(xe, band_top[layer[dst]]), (xe, pos_xy[dst][1] - size[dst][1] / 2)]
        routes.append(pts)
    return Layout(pos_xy, size, routes, right, height)


def boxes_overlap(boxes: Iterable[tuple[float, float, float, float]]) -> list[tuple[int, int]]:
    """Pairs of (x0, y0, x1, y1) boxes that intersect (sort and sweep), for checks."""
    items = sorted(enumerate(boxes), key=lambda kv: kv[1][0])
    starts = [b[0] for _, b in items]
    found = []
    for a, (i, bi) in enumerate(items):
        stop = bisect.bisect_left(starts, bi[2])
        for j, bj in items[a + 1:stop]:
            if bj[1] < bi[3] and bi[1] < bj[3]:
                found.append((i, j))
    return found
