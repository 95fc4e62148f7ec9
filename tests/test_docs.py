"""The examples in graphdiff's docstrings run and print what they say."""

import doctest
import importlib
import pkgutil

import pytest

import graphdiff

MODULES = sorted(m.name for m in pkgutil.walk_packages(graphdiff.__path__, "graphdiff."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


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
