"""How a Graph, a Node and a GradTable show themselves in Jupyter (``_repr_html_``).

A Graph or a Node shows its picture (inline SVG, at most NOTEBOOK_MAX_NODES boxes, so it
stays quick); a GradTable shows the table of its entries and the terms summed into each.
A display hook must never raise: any failure shows the plain text and why.
"""

from __future__ import annotations

import html as _html
from typing import Any

from ..backprop import GradTable
from ..graph import Graph, Node, describe, formula

NOTEBOOK_MAX_NODES = 150  # boxes in a notebook picture; larger graphs are cut (and say so)
TABLE_ROWS = 60  # GradTable rows shown


def _esc(text: str) -> str:
    return _html.escape(text, quote=False)


def _fallback(obj: Any, exc: BaseException) -> str:
    return (f"<pre>{_esc(repr(obj))}</pre><small>(no picture: "
            f"{_esc(type(exc).__name__)}: {_esc(str(exc))})</small>")


def _picture(what: Any, highlight: Any = None) -> str:
    from .draw import draw, figure_svg

    svg = figure_svg(draw(what, highlight, max_nodes=NOTEBOOK_MAX_NODES))
    svg = svg[svg.find("<svg"):]  # drop the XML prologue: the SVG sits inside HTML
    return f'<div style="max-width:100%;overflow:auto">{svg}</div>'


def graph_html(graph: Graph) -> str:
    """A Graph's picture, or its text when the picture cannot be drawn."""
    try:
        if len(graph) == 0:
            return f"<pre>{_esc(repr(graph))}</pre>"
        return _picture(graph)
    except Exception as exc:  # a display hook must never fail
        return _fallback(graph, exc)


def node_html(node: Node) -> str:
    """A Node's picture: it and its ancestors."""
    try:
        return _picture(node)
    except Exception as exc:
        return _fallback(node, exc)


def grad_table_html(table: GradTable) -> str:
    """The entries of a GradTable: each variable, its gradient node and the terms that
    build_grad summed into it (consumer, input positions, term)."""
    try:
        rows = []
        entries = list(table.items())
        first = [v for v in table.targets if v in table] + [table.z]
        ordered = list(dict.fromkeys(first + [v for v, _ in entries]))
        for v in ordered[:TABLE_ROWS]:
            dv = table[v]
            terms = table.terms(v)
            listed = "<br>".join(
                f"{k + 1}. {_esc(formula(t))} from {_esc(describe(c))} "
                f"at input{'s' if len(p) > 1 else ''} {', '.join(map(str, p))}"
                for k, (c, p, t) in enumerate(terms)) or (
                "seed" if v is table.z else "none: every path is cut")
            rows.append(f"<tr><td>{_esc(describe(v))}</td>"
                        f"<td>{_esc(describe(dv))}</td><td>{len(terms)}</td>"
                        f"<td style='text-align:left'>{listed}</td></tr>")
        more = len(ordered) - TABLE_ROWS
        tail = f"<tr><td colspan=4>\u2026 and {more} more entries</td></tr>" if more > 0 else ""
        return (f"<p>{_esc(repr(table))}</p><table><tr><th>variable</th>"
                f"<th>gradient node</th><th>terms</th><th>terms summed (build_grad)</th></tr>"
                + "".join(rows) + tail + "</table>")
    except Exception as exc:
        return _fallback(table, exc)


def install() -> None:
    """Give Graph, Node and GradTable their ``_repr_html_`` (called once, on import)."""
    Graph._repr_html_ = graph_html
    Node._repr_html_ = node_html
    GradTable._repr_html_ = grad_table_html
