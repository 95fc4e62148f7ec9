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
    return [full for full, obj in names.items() if not (inspect.getdoc(obj) or "").strip()]


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
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
