"""The package's layout: graphdiff's modules import each other one way only.

Every ``import`` statement is read with ``ast`` (module level and inside functions); the
edges between graphdiff's own modules must form no cycle, except the one facade edge that
``Graph.run`` and ``Graph.function`` need (graph -> runtime).
"""

from __future__ import annotations

import ast
import pathlib

import networkx as nx

import graphdiff

PACKAGE = pathlib.Path(graphdiff.__file__).parent
ALLOWED = {("graphdiff.graph", "graphdiff.runtime")}


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom, modules) -> list[str]:
    """The modules an ``from X import a, b`` reads: X.a where that is a module, else X."""
    if node.level == 0:
        base = node.module or ""
    else:
        parts = module.split(".")
        keep = len(parts) - node.level + (1 if is_package else 0)
        base = ".".join(parts[:keep] + ([node.module] if node.module else []))
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import statements under ``if TYPE_CHECKING:`` (they never run)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skipped


def import_graph() -> nx.DiGraph:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(f): f for f in files}
    G = nx.DiGraph()
    G.add_nodes_from(modules)
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        skipped = _type_checking_only(tree)
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                targets = _resolve(name, is_package, node, modules)
            else:
                continue
            for target in targets:
                if target in modules and target != name and name != "graphdiff":
                    G.add_edge(name, target)
    return G


def test_the_import_graph_is_read():
    G = import_graph()
    assert G.has_edge("graphdiff.backprop", "graphdiff.graph")
    assert G.has_edge("graphdiff.ops.reduce", "graphdiff.ops.elementwise")
    assert len(G) >= 20


def test_no_import_cycles():
    G = import_graph()
    G.remove_edges_from(ALLOWED)
    cycles = list(nx.simple_cycles(G))
    assert not cycles, "import cycles among graphdiff's modules: " + "; ".join(
        " -> ".join(c + [c[0]]) for c in cycles[:10])


def test_the_cycle_check_can_fail():
    G = nx.DiGraph([("a", "b"), ("b", "a")])
    assert list(nx.simple_cycles(G))


def test_ops_import_downward():
    """Rules import only lower op modules: index -> shape -> elementwise -> special ->
    reduce -> sort -> linalg -> contract -> decomp -> nn -> conv -> random (never functional,
    backprop or the tools)."""
    order = ["index", "shape", "elementwise", "special", "reduce", "sort", "linalg",
             "contract", "decomp", "nn", "conv", "random"]
    G = import_graph()
    for k, name in enumerate(order):
        module = f"graphdiff.ops.{name}"
        for target in G.successors(module):
            if target.startswith("graphdiff.ops."):
                assert target.split(".")[-1] in order[:k], f"{module} imports {target}"
            else:
                assert target in {"graphdiff.op", "graphdiff.graph", "graphdiff.shapes",
                                  "graphdiff.errors", "graphdiff.site", "graphdiff.backends",
                                  "graphdiff.ops"}, f"{module} imports {target}"
