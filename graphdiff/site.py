"""Where user code created a node, found cheaply by walking frames out of the package."""

from __future__ import annotations

import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# Nodes built in a loop share one site tuple: a 1,000,000-node graph stays small.
_SITES: dict[tuple[str, int], tuple[str, int]] = {}


def creation_site() -> tuple[str, int] | None:
    """(filename, line) of the innermost frame outside graphdiff.

    ``sys._getframe`` costs about a microsecond; ``inspect.stack()`` would read source
    files for every node and make a 100,000-node graph take minutes.
    """
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIR):
            site = (filename, frame.f_lineno)
            return _SITES.setdefault(site, site)
        frame = frame.f_back
    return None


def format_site(site: tuple[str, int] | None) -> str:
    return "unknown location" if site is None else f"{site[0]}:{site[1]}"


def in_package(filename: str) -> bool:
    """True for a source file of graphdiff itself (not a doctest, not user code)."""
    return filename.startswith(_PACKAGE_DIR)
