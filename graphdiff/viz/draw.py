"""Drawing a Scene with matplotlib (no Graphviz needed), and ``render`` to a file.

Boxes are sized to their labels, measured by matplotlib's own renderer; the layout works
in points and the figure is exactly as large as the layout (times a scale that keeps huge
graphs within a cap), so that one unit of the axes is one point and nothing overlaps.
The legend sits outside the axes, on the right.
"""

from __future__ import annotations

import html
import io
import re
import shutil
import subprocess
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..graph import Graph, Node
from .dot import DotText, scene_of, write_dot
from .scene import Scene, build_scene, layout

FONT_SIZE = 8.0  # points, at scale 1
PAD_X, PAD_Y = 5.0, 3.5  # points between a label and its box
MARGIN = 10.0  # points around the drawing
MAX_WIDTH_IN, MAX_HEIGHT_IN = 40.0, 60.0  # the figure's cap, in inches
MIN_SCALE = 0.35  # past this the figure grows beyond the cap rather than shrink further
DEFAULT_MAX_NODES = 300  # pictures of larger graphs draw G' (or one gradient's terms)
DPI = 110
DOT_TIMEOUT_S = 60  # seconds Graphviz may take before render(backend="auto") falls back


def as_scene(what: Any, highlight: Any = None, terms_of: Node | None = None,
             group: Any = None, max_nodes: int | None = DEFAULT_MAX_NODES) -> Scene:
    """A Scene from DOT text (``to_dot``), a Scene, or what ``to_dot`` accepts."""
    if isinstance(what, Scene):
        return what.limited(max_nodes)
    if isinstance(what, str):
        return scene_of(what).limited(max_nodes)
    return build_scene(what, highlight, terms_of, group, max_nodes)


def _measure(scene: Scene, fontsize: float) -> dict[str, tuple[float, float]]:
    """(width, height) in points of each box: its label's extent plus padding."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    fig = Figure(dpi=72)  # at 72 dpi a pixel is a point
    renderer = FigureCanvasAgg(fig).get_renderer()
    sizes = {}
    cache: dict[str, tuple[float, float]] = {}
    for n in scene.nodes:
        got = cache.get(n.label)
        if got is None:
            t = Text(0, 0, n.label, fontsize=fontsize, ha="center", va="center",
                     multialignment="center", figure=fig)
            bb = t.get_window_extent(renderer)
            got = cache[n.label] = (bb.width + 2 * PAD_X, bb.height + 2 * PAD_Y)
        sizes[n.id] = got
    return sizes


def _legend_width(scene: Scene, fontsize: float) -> float:
    """The legend's width in points (an estimate from its longest text)."""
    if not scene.legend:
        return 0.0
    longest = max(len(e.text) for e in scene.legend)
    return 0.55 * fontsize * longest + 4.5 * fontsize


def _route_path(points: list[tuple[float, float]]):
    """Vertical pieces inside layers joined by S-curves across the gaps."""
    from matplotlib.path import Path as MplPath

    verts, codes = [points[0]], [MplPath.MOVETO]
    for k in range(1, len(points)):
        (xa, ya), (xb, yb) = points[k - 1], points[k]
        if k % 2 == 1:  # inside a layer: straight down
            if abs(yb - ya) > 1e-6:  # (a zero-length piece would leave no arrow direction)
                verts.append((xb, yb))
                codes.append(MplPath.LINETO)
        else:  # across a gap: a cubic S-curve, vertical at both ends
            mid = (ya + yb) / 2
            verts += [(xa, mid), (xb, mid), (xb, yb)]
            codes += [MplPath.CURVE4] * 3
    return MplPath(verts, codes)


def draw(what: Any, highlight: Any = None, terms_of: Node | None = None, group: Any = None,
         max_nodes: int | None = DEFAULT_MAX_NODES, fontsize: float = FONT_SIZE):
    """A matplotlib Figure of a graph, laid out in layers without Graphviz.

    Parameters
    ----------
    what : str, Scene, Graph, Node or iterable of Nodes
        DOT text from ``to_dot``, or what ``to_dot`` accepts.
    highlight, terms_of, group
        As for ``to_dot`` (used when ``what`` is not DOT text).
    max_nodes : int or None
        Draw at most this many boxes (default 300): the terms of ``terms_of``, else G',
        else the last nodes, and say so at the top. None draws everything.
    fontsize : float
        Label size in points before any scaling down of a very large figure.

    Returns
    -------
    matplotlib.figure.Figure
        Node boxes are patches whose gid is ``"gdnode-<id>"`` (labels: ``"gdtext-<id>"``).

    Examples
    --------
    >>> import graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> fig = gd.viz.draw(gd.sum(gd.tanh(x)))
    >>> sorted(p.get_gid() for p in fig.axes[0].patches if p.get_gid())
    ['gdnode-n0', 'gdnode-n1', 'gdnode-n2']
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

    scene = as_scene(what, highlight, terms_of, group, max_nodes)
    sizes = _measure(scene, fontsize)
    lay = layout(scene, sizes, hgap=1.6 * fontsize, vgap=3.6 * fontsize)
    w_pt, h_pt = lay.width + 2 * MARGIN, lay.height + 2 * MARGIN
    legend_pt = _legend_width(scene, fontsize)
    note_pt = 2.2 * fontsize if scene.note else 0.0
    scale = min(1.0, MAX_WIDTH_IN * 72 / (w_pt + legend_pt), MAX_HEIGHT_IN * 72 / (h_pt + note_pt))
    scale = max(scale, MIN_SCALE)
    legend_h = (len(scene.legend) * 1.9 + 2) * fontsize
    fig_w = (w_pt + legend_pt) * scale / 72
    fig_h = max(h_pt + note_pt, legend_h + note_pt) * scale / 72
    fig = Figure(figsize=(max(fig_w, 1.0), max(fig_h, 0.6)), dpi=DPI)
    FigureCanvasAgg(fig)
    fw, fh = fig.get_size_inches()
    ax_w, ax_h = w_pt * scale / 72 / fw, h_pt * scale / 72 / fh
    top = 1 - note_pt * scale / 72 / fh
    ax = fig.add_axes((0, top - ax_h, ax_w, ax_h))
    ax.set_xlim(-MARGIN, lay.width + MARGIN)
    ax.set_ylim(lay.height + MARGIN, -MARGIN)  # y grows downward, as the layers do
    ax.axis("off")
    lw = max(0.5, scale)
    for e, route in zip(scene.edges, lay.routes):
        colour = e.colour or "#777777"
        width = lw * (0.8 + min(e.count, 8) * 0.2) if e.count > 1 else 0.8 * lw
        if route is not None:
            arrow = FancyArrowPatch(path=_route_path(route), arrowstyle="-|>",
                                    mutation_scale=7 * scale, color=colour, lw=width,
                                    zorder=1)
            ax.add_patch(arrow)
            continue
        if e.src not in lay.pos or e.dst not in lay.pos:
            continue
        (xa, ya), (xb, yb) = lay.pos[e.src], lay.pos[e.dst]
        arrow = FancyArrowPatch((xa, ya), (xb, yb), arrowstyle="-|>", mutation_scale=8 * scale,
                                color=colour, lw=1.4 * lw if e.dashed else width,
                                linestyle="--" if e.dashed else "-",
                                connectionstyle="arc3,rad=0.25", shrinkA=0, shrinkB=0,
                                patchA=None, zorder=1.5)
        ax.add_patch(arrow)
        if e.label:
            ax.text((xa + xb) / 2, (ya + yb) / 2, e.label, ha="center", va="center",
                    fontsize=0.8 * fontsize * scale, color=colour, zorder=4,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                          "alpha": 0.85})
    for n in scene.nodes:
        (cx, cy), (w, h) = lay.pos[n.id], lay.size[n.id]
        border = n.border or "#333333"
        style = "round,pad=0,rounding_size=%g" % (3.0 if n.kind == "op" else 0.8)
        box = FancyBboxPatch((cx - w / 2, cy - h / 2), w, h, boxstyle=style, fc=n.fill,
                             ec=border, lw=max(0.4, n.penwidth * 0.8 * scale), zorder=2,
                             gid=f"gdnode-{n.id}")
        ax.add_patch(box)
        if n.kind == "group":  # a double border tells a group from a node
            ax.add_patch(FancyBboxPatch((cx - w / 2 + 2, cy - h / 2 + 2), w - 4, h - 4,
                                        boxstyle=style, fc="none", ec=border,
                                        lw=0.6 * scale, zorder=2.1))
        ax.text(cx, cy, n.label, ha="center", va="center", multialignment="center",
                fontsize=fontsize * scale, zorder=3, gid=f"gdtext-{n.id}")
        if n.kind in ("input", "parameter", "constant"):
            # The leaf's kind as a small mark in the box's corner, as dot draws its shape.
            ax.plot([cx - w / 2 + 1.5], [cy - h / 2 + 1.5], marker="v" if n.kind == "input"
                    else "s" if n.kind == "parameter" else "o", ms=2.2 * scale,
                    color=border, zorder=3)
    if scene.legend:
        handles = [Patch(fc=e.fill, ec=e.border or "#333333", lw=e.penwidth * 0.8,
                         label=e.text) for e in scene.legend]
        fig.legend(handles=handles, loc="upper left", fontsize=max(fontsize * scale, 5.5),
                   bbox_to_anchor=(ax_w + 0.2 * fontsize * scale / 72 / fw, top),
                   frameon=True, borderaxespad=0.0, title="legend",
                   title_fontsize=max(fontsize * scale, 5.5))
    if scene.note:
        fig.text(0.005, 1 - 0.4 * fontsize * scale / 72 / fh, scene.note, ha="left",
                 va="top", fontsize=max(fontsize * scale, 5.5), color="#444444",
                 style="italic")
    fig._graphdiff_scene = scene  # the tooltips, for SVG output
    return fig


def figure_svg(fig) -> str:
    """SVG text of a figure from ``draw``, each box carrying its tooltip (``<title>``)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    scene = getattr(fig, "_graphdiff_scene", None)
    if scene is None:
        return text
    tips = {n.id: n.tooltip for n in scene.nodes}

    def add_title(m: re.Match) -> str:
        tip = tips.get(m.group(2))
        return m.group(0) if not tip else f"{m.group(0)}\n   <title>{html.escape(tip)}</title>"

    return re.sub(r'(<g id="gd(?:node|text)-(\w+)">)', add_title, text)


def render(dot_or_nodes: str | Graph | Node | Iterable[Node], path: str | Path,
           highlight: Any = None, backend: str = "auto", terms_of: Node | None = None,
           group: Any = None, max_nodes: int | None = DEFAULT_MAX_NODES) -> Path:
    """Write a picture of a graph to ``path`` (format from the suffix: .png, .svg, .pdf).

    Uses Graphviz's ``dot`` program when it is on PATH, else draws with matplotlib
    (``draw``: a layered layout, boxes sized to their labels); raises RuntimeError when
    neither is available. In SVG each box's tooltip holds the full op and where it was
    built.

    Parameters
    ----------
    dot_or_nodes : str, Graph, Node or iterable of Nodes
        DOT text from ``to_dot``, or what ``to_dot`` accepts.
    path : str or Path
    highlight, terms_of, group : optional
        Passed to ``to_dot`` when nodes are given.
    backend : {"auto", "dot", "matplotlib"}
    max_nodes : int or None
        Draw at most this many boxes (default 300): the terms of ``terms_of``, else G',
        else the last nodes; the picture says so. None draws everything.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(3,))
    >>> gd.render(gd.to_dot(gd.sum(x * 2.0)), "/tmp/graph.png")    # doctest: +SKIP
    PosixPath('/tmp/graph.png')
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("png", "svg", "pdf"):
        raise ValueError(f"render writes .png, .svg or .pdf files, not {path.name!r}")
    if backend not in ("auto", "dot", "matplotlib"):
        raise ValueError(f"backend must be 'auto', 'dot' or 'matplotlib', got {backend!r}")
    dot = shutil.which("dot")
    use_dot = backend == "dot" or (backend == "auto" and dot)
    if use_dot and not dot:
        raise RuntimeError("render(backend='dot') needs Graphviz's `dot` program on PATH")
    if not use_dot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise RuntimeError("render needs Graphviz's `dot` program on PATH or matplotlib "
                               "(pip install matplotlib); to_dot() text works without "
                               "either") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    if use_dot:
        if isinstance(dot_or_nodes, str) and not isinstance(dot_or_nodes, DotText):
            text = dot_or_nodes  # someone's DOT text: passed through as it is
        else:
            text = write_dot(as_scene(dot_or_nodes, highlight, terms_of, group, max_nodes))
        try:
            subprocess.run([dot, f"-T{fmt}", "-o", str(path)], input=text.encode(),
                           check=True, timeout=DOT_TIMEOUT_S, capture_output=True)
            return path
        except (subprocess.TimeoutExpired, subprocess.CalledProcessError) as exc:
            # Graphviz can take minutes on large graphs with many long edges: auto falls
            # back to the matplotlib drawing rather than hang.
            if backend == "dot":
                raise RuntimeError(f"Graphviz's dot failed on this graph: {exc}") from None
            warnings.warn(f"Graphviz's dot failed ({type(exc).__name__}); drawing with "
                          "matplotlib instead", RuntimeWarning, stacklevel=2)
    fig = draw(dot_or_nodes, highlight, terms_of, group, max_nodes)
    if fmt == "svg":
        path.write_text(figure_svg(fig))
    else:
        fig.savefig(path, bbox_inches="tight", dpi=DPI)
    return path
