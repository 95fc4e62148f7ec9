"""The documentation: docstring examples run and print what they say, every public name
keeps its real name, signature and docstring in help() and is in the API reference, the
examples of the pages in docs/ run, and nothing points outside the repository.

The Sphinx build itself (``python3 -m sphinx -W --keep-going -b html docs
docs/_build/html``) runs in CI after the tests; its extension ``docs/_ext/gd_api_check.py``
repeats the reference check on what Sphinx documented. These tests need no Sphinx.
"""

import doctest
import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import graphdiff

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))
import gd_api_check  # noqa: E402

MODULES = sorted(m.name for m in pkgutil.walk_packages(graphdiff.__path__, "graphdiff."))
PUBLIC = gd_api_check.public_names()
PAGES = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if "_build" not in p.parts)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
BUILD_COMMAND = "python3 -m sphinx -W --keep-going -b html docs docs/_build/html"


# ---------------------------------------------------------------- examples in docstrings
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=FLAGS)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_every_module_is_doctested():
    """walk_packages finds the subpackages' modules too (ops/, compile/, backends/, ...)."""
    for name in ("graphdiff.ops.elementwise", "graphdiff.compile.plan", "graphdiff.backends.dask",
                 "graphdiff.optim.schedules", "graphdiff.linalg"):
        assert name in MODULES


def test_public_functions_have_examples():
    """Every public function and class of the top-level API documents a tiny example,
    except the op functions, whose one-line docstrings name NumPy's equivalent."""
    missing = []
    for name in graphdiff.__all__:
        obj = getattr(graphdiff, name)
        if not callable(obj) or getattr(obj, "__module__", "").endswith("functional"):
            continue
        if isinstance(obj, type) and issubclass(obj, Exception):
            continue  # error classes: their docstring says when they are raised
        if ">>>" not in (obj.__doc__ or ""):
            missing.append(name)
    assert not missing, missing


# ---------------------------------------------------------------- help() shows the truth
def test_public_names_cover_the_submodules():
    for full in ("graphdiff.grad", "graphdiff.nn.MLP", "graphdiff.optim.Adam",
                 "graphdiff.optim.schedules.cosine", "graphdiff.linalg.svd",
                 "graphdiff.losses.mse", "graphdiff.backends.move_leaves", "graphdiff.nn"):
        assert full in PUBLIC


@pytest.mark.parametrize("modname", ["graphdiff.nn", "graphdiff.losses", "graphdiff.linalg",
                                     "graphdiff.optim.schedules"])
def test_submodules_export_what_they_define(modname):
    """A layer or loss added to its module without an ``__all__`` entry would be missing
    from help(), the reference and its check alike."""
    module = importlib.import_module(modname)
    defined = {name for name, obj in vars(module).items()
               if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
               and obj.__module__ == modname
               and not (inspect.isclass(obj) and issubclass(obj, graphdiff.Op))}
    assert defined <= set(module.__all__), sorted(defined - set(module.__all__))


@pytest.mark.parametrize("full", sorted(PUBLIC))
def test_help_shows_name_docstring_and_signature(full):
    obj = PUBLIC[full]
    assert (obj.__doc__ or "").strip(), f"{full} has no docstring of its own"
    if isinstance(obj, types.ModuleType):
        assert obj.__name__ == full
        return
    public = full.rsplit(".", 1)[1]
    assert obj.__name__ == public, f"help({full}) shows {obj.__name__!r}"
    if callable(obj):
        sig = inspect.signature(obj)  # raises for a signature help() cannot show
        # a default shown as <function ... at 0x...> or <object object at 0x...> tells the
        # reader nothing: give it a name (a string, None) or a repr
        assert " at 0x" not in str(sig), f"{full}{sig}"


def test_the_documented_defaults():
    assert inspect.signature(graphdiff.nn.MLP).parameters["activation"].default == "relu"
    assert str(inspect.signature(graphdiff.stop_gradient)).startswith("(x")
    assert "stop_gradient(x" in pydoc_text(graphdiff.stop_gradient)
    assert "function fn" not in pydoc_text(graphdiff.stop_gradient)


def pydoc_text(obj):
    import pydoc

    return pydoc.render_doc(obj, renderer=pydoc.plaintext)


def test_mlp_takes_an_activation_by_name_or_function():
    import numpy as np

    g = graphdiff.Graph()
    x = g.input("x", shape=(None, 2))
    rng = np.random.default_rng(0)
    by_name = graphdiff.nn.MLP(g, [2, 3, 1], activation="tanh", rng=rng)
    assert by_name.layers[0].activation is graphdiff.tanh
    assert graphdiff.nn.MLP(g, [2, 3, 1], rng=rng).layers[0].activation is graphdiff.relu
    assert graphdiff.nn.MLP(g, [2, 3, 1], "gelu", rng).layers[0].activation is graphdiff.gelu
    assert g.run(by_name(x), feed={x: np.ones((4, 2))}).shape == (4, 1)
    with pytest.raises(graphdiff.GraphError, match="'no_such' is not a graphdiff function"):
        graphdiff.nn.MLP(g, [2, 3, 1], activation="no_such")


# ---------------------------------------------------------------- the API reference
def test_every_public_name_is_in_the_api_reference():
    documented = gd_api_check.documented_in_sources()
    missing = sorted(set(PUBLIC) - documented)
    assert not missing, f"add these to a page of docs/api/: {missing}"


def test_the_reference_check_can_fail(tmp_path):
    (tmp_path / "x.rst").write_text(".. currentmodule:: graphdiff\n\n.. autofunction:: grad\n"
                                    ".. module:: graphdiff.nn\n\n.. autoclass:: Dense\n")
    found = gd_api_check.documented_in_sources(tmp_path)
    assert found == {"graphdiff.grad", "graphdiff.nn", "graphdiff.nn.Dense"}
    assert "graphdiff.tanh" in set(PUBLIC) - found


def test_the_summary_tables_list_every_public_name():
    """docs/api/summary.rst's tables (the gd-public-names directive) are made from
    __all__, so every public name has a row with its docstring's first paragraph."""
    text = (DOCS / "api" / "summary.rst").read_text()
    tables = {m: gd_api_check.names_table_rst(m)
              for m in re.findall(r"^\.\. gd-public-names:: (\S+)$", text, re.MULTILINE)}
    for full in PUBLIC:
        owner = full.rpartition(".")[0]
        if owner in tables:
            assert f"<{full}>`" in tables[owner], full
    assert "Elementwise tangent" in tables["graphdiff"]


def test_the_reference_names_only_real_objects():
    """A directive naming something that does not exist would fail the Sphinx build; say
    so here too, where the build is not run."""
    for full in sorted(gd_api_check.documented_in_sources()):
        module, _, name = full.rpartition(".")
        try:
            obj = importlib.import_module(full)
        except ImportError:
            obj = getattr(importlib.import_module(module), name, None)
        assert obj is not None, f"docs/api names {full}, which does not exist"


# ---------------------------------------------------------------- the pages
@pytest.mark.parametrize("page", PAGES)
def test_page_examples(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a page's example that writes, writes here
    result = doctest.testfile(str(DOCS / page), module_relative=False, optionflags=FLAGS,
                              encoding="utf-8")
    assert result.failed == 0, f"{result.failed} example(s) failed in docs/{page}"


def test_the_pages_exist():
    for page in ("index.md", "install.md", "tutorial.md", "contributing.md", "howto/training.md",
                 "howto/custom_op.md", "howto/higher_order.md", "howto/explain.md",
                 "howto/dask.md", "howto/cupy.md", "howto/saving.md", "howto/benchmarks.md"):
        assert page in PAGES, page


def test_pictures_the_pages_show_exist():
    for page in PAGES:
        for target in re.findall(r"```\{image\}\s+(\S+)", (DOCS / page).read_text()):
            assert (DOCS / Path(page).parent / target).is_file(), f"docs/{page}: {target}"


def _texts():
    yield "README.md", (ROOT / "README.md").read_text()
    yield "CONTRIBUTING.md", (ROOT / "CONTRIBUTING.md").read_text()
    for path in sorted(DOCS.rglob("*")):
        if path.suffix in (".md", ".rst", ".py") and "_build" not in path.parts:
            yield str(path.relative_to(ROOT)), path.read_text()
    for path in sorted((ROOT / "graphdiff").rglob("*.py")):
        yield str(path.relative_to(ROOT)), path.read_text()


def test_nothing_points_outside_the_repository():
    """Users have the repository, not the files its developers keep beside it."""
    bad = re.compile(r"\.\./shared|/work/shared|\bAPI\.md\b")
    offenders = [name for name, text in _texts() if bad.search(text)]
    assert not offenders, offenders


def test_readme_and_ci_build_the_docs():
    readme = (ROOT / "README.md").read_text()
    assert BUILD_COMMAND in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert BUILD_COMMAND in ci and "docs]" in ci
    # two set-up commands, each one line of install && run
    assert len(re.findall(r"^python3 -m pip install .*&&", readme, re.MULTILINE)) == 2


def test_docs_extra_is_declared():
    text = (ROOT / "pyproject.toml").read_text()
    line = next(line for line in text.splitlines() if line.startswith("docs = ["))
    for package in ("sphinx>=", "pydata-sphinx-theme>=", "numpydoc>=", "myst-parser>="):
        assert package in line, package


# ---------------------------------------------------------------- examples' outputs
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.py"))
WRITES = re.compile(r"savefig|write_text|write_bytes|open\([^)]*['\"][wa]|\brender\(|np\.save")


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_write_under_a_folder_they_are_given(name):
    """An example that writes files takes --out, defaults to a folder under the current
    directory and never to its own folder (the installed package's tree)."""
    text = (ROOT / "examples" / name).read_text()
    if not WRITES.search(text):
        return
    assert '"--out"' in text, f"examples/{name} writes files but takes no --out"
    assert "Path(__file__)" not in text, f"examples/{name} writes beside itself"


def test_an_example_writes_into_the_current_directory_by_default(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    before = sorted(p.name for p in (ROOT / "examples").iterdir())
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "show_graph.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = tmp_path / "graphdiff-out" / "show_graph"
    assert (out / "forward.dot").read_text().startswith("digraph")
    assert str(out / "forward.dot") in proc.stdout  # it says where it wrote
    assert sorted(p.name for p in (ROOT / "examples").iterdir()) == before


def test_the_tutorial_pictures_script_runs(tmp_path):
    """docs/_scripts/tutorial_pictures.py redraws the tutorial's committed pictures."""
    pytest.importorskip("matplotlib")
    sys.path.insert(0, str(DOCS / "_scripts"))
    try:
        import tutorial_pictures
    finally:
        sys.path.remove(str(DOCS / "_scripts"))
    tutorial_pictures.main(["--out", str(tmp_path), "--backend", "matplotlib"])
    for name in ("tutorial_forward.png", "tutorial_pruned.png", "tutorial_gradient.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
        assert (DOCS / "_static" / name).is_file()
    dot = tutorial_pictures.legend_as_column(
        'digraph g {\n  subgraph cluster_legend { label="legend";\n'
        '    legend_a [label="a"];\n    legend_b [label="b"];\n  }\n}\n')
    assert "legend_a -> legend_b [style=invis];" in dot
