"""A Sphinx extension: every public name of graphdiff is in the API reference and has a
docstring, or the build warns (and ``-W`` turns the warning into a failure).

The public names are ``graphdiff.__all__`` and the ``__all__`` of the public
submodules (``gd.nn``, ``gd.optim``, ``gd.optim.schedules``, ``gd.linalg``, ``gd.losses``,
``gd.backends``). ``tests/test_docs.py`` runs the same check on the ``.rst`` sources
without Sphinx, through :func:`public_names` and :func:`documented_in_sources`.
"""

from __future__ import annotations

import importlib
import inspect
import re
import types
from pathlib import Path

PUBLIC_MODULES = ("graphdiff", "graphdiff.nn", "graphdiff.optim", "graphdiff.optim.schedules",
                  "graphdiff.linalg", "graphdiff.losses", "graphdiff.backends")

API_DIR = Path(__file__).resolve().parents[1] / "api"

_DIRECTIVE = re.compile(r"^\.\.\s+(auto)?(function|class|exception|module|data|currentmodule)"
                        r"::\s+(\S+)")


def public_names() -> dict[str, object]:
    """Full dotted name -> object, for every public name (a submodule by its own name)."""
    names: dict[str, object] = {}
    for modname in PUBLIC_MODULES:
        module = importlib.import_module(modname)
        if modname != "graphdiff":
            names[modname] = module
        for name in module.__all__:
            obj = getattr(module, name)
            full = obj.__name__ if isinstance(obj, types.ModuleType) else f"{modname}.{name}"
            names[full] = obj
    return names


def documented_in_sources(api_dir: Path = API_DIR) -> set[str]:
    """The names that ``.. autofunction::``-style directives of the reference pages name."""
    found: set[str] = set()
    for path in sorted(api_dir.glob("*.rst")):
        current = ""  # as Sphinx: ``module``/``currentmodule`` set the prefix of short names
        for line in path.read_text().splitlines():
            m = _DIRECTIVE.match(line)
            if not m:
                continue
            kind, name = m.group(2), m.group(3)
            if kind in ("module", "currentmodule"):
                current = name
                if kind == "module":  # ``module`` and ``automodule`` document the module
                    found.add(name)
            else:
                found.add(name if name.startswith("graphdiff.") else f"{current}.{name}")
    return found


def missing_docstrings(names: dict[str, object]) -> list[str]:
    """The names whose object has no docstring of its own (``__doc__``: a class does not
    count its base class's)."""
    return [full for full, obj in names.items() if not (obj.__doc__ or "").strip()]


def summary(obj: object) -> str:
    """The first sentence of an object's docstring (its first paragraph, on one line)."""
    paragraph = (inspect.getdoc(obj) or "").strip().split("\n\n")[0]
    return " ".join(paragraph.split())


def names_table_rst(modname: str) -> str:
    """A list-table of the public names of one module: a link to each, and its summary."""
    rows = [".. list-table::", "   :header-rows: 1", "   :widths: 25 75", "",
            "   * - name", "     - what it is"]
    for full, obj in public_names().items():
        owner, _, name = full.rpartition(".")
        if isinstance(obj, types.ModuleType):
            if owner != modname:
                continue
            role, name = "mod", full.rpartition(".")[2]
        elif owner != modname:
            continue
        else:
            role = "obj"
        rows += [f"   * - :py:{role}:`{name} <{full}>`", f"     - {summary(obj) or '-'}"]
    return "\n".join(rows) + "\n"


def _names_table_directive():
    from docutils import nodes
    from docutils.parsers.rst import Directive
    from docutils.statemachine import StringList

    class PublicNames(Directive):
        """``.. gd-public-names:: MODULE``: a table of every public name of MODULE, made
        from ``__all__`` and the docstrings, so it lists a new name the day it is added."""

        required_arguments = 1

        def run(self):
            container = nodes.container()
            lines = names_table_rst(self.arguments[0]).splitlines()
            self.state.nested_parse(StringList(lines, source="gd-public-names"),
                                    self.content_offset, container)
            return container.children

    return PublicNames


def _check(app, env) -> None:
    from sphinx.util import logging

    logger = logging.getLogger("gd_api_check")
    domain = env.get_domain("py")
    documented = set(domain.objects) | set(domain.modules)
    names = public_names()
    for full in sorted(set(names) - documented):
        logger.warning(f"public name {full} is not in the API reference: add it to one of "
                       f"the pages in docs/api/", type="gd_api_check")
    for full in missing_docstrings(names):
        logger.warning(f"public name {full} has no docstring", type="gd_api_check")


def setup(app):
    app.connect("env-check-consistency", _check)
    app.add_directive("gd-public-names", _names_table_directive())
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
