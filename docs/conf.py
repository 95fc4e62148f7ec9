"""Sphinx configuration of graphdiff's documentation.

Build (warnings are errors, so a broken reference or an undocumented public name fails):

    python3 -m sphinx -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # document the checkout, installed or not
sys.path.insert(0, str(HERE / "_ext"))

import graphdiff  # noqa: E402

project = "graphdiff"
author = "the graphdiff developers"
copyright = "the graphdiff developers"
release = version = getattr(graphdiff, "__version__", "0.1.0")

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "gd_api_check",  # every public name documented, with a docstring (docs/_ext)
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**/generated"]
templates_path: list[str] = []

# Unresolved Python references are warnings, and warnings are errors: a misspelt
# :func:`gd.grad` fails the build. Names from other libraries have no inventory here
# (the build needs no network), so they are exempt.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|networkx|nx|dask|cupy|torch|jax|scipy|collections|typing|"
               r"builtins|pathlib|os|io|contextlib|threading)(\..*)?"),
    (r"py:.*", r"(Any|Callable|Sequence|Mapping|Iterable|Iterator|ArrayLike|DTypeLike|"
               r"Path|PathLike|str|int|float|bool|bytes|tuple|list|dict|None|object|type|"
               r"Exception|ValueError|TypeError|KeyError|RuntimeError|optional|callable|"
               r"array|array-like|ndarray|default)"),
]

# Signatures show defaults as written in the source (``activation='relu'``) and no type
# hints: the numpydoc Parameters sections describe the types in words, as NumPy's do.
autodoc_preserve_defaults = True
autodoc_typehints = "none"
autodoc_member_order = "bysource"

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

myst_enable_extensions = ["colon_fence", "dollarmath", "deflist"]
myst_heading_anchors = 3

html_theme = "pydata_sphinx_theme"
html_title = "graphdiff"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_depth": 2,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_show_sourcelink = False


# Pages that another part of the work adds (the pictures page, docs/pictures.md) are listed
# in the index's toctree already; until such a page exists its entry is dropped here, so
# that the build passes both before and after it lands, and lists it once it does.
OPTIONAL_PAGES = ("pictures",)


def _drop_missing_optional_pages(app, docname, source):
    if docname != "index":
        return
    for page in OPTIONAL_PAGES:
        if not any((HERE / f"{page}{suffix}").exists() for suffix in source_suffix):
            source[0] = source[0].replace(f"\n{page}\n", "\n")


def setup(app):
    app.connect("source-read", _drop_missing_optional_pages)
