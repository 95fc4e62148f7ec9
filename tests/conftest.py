"""Test-wide settings.

Compiled functions run interpreted until generating code has paid off (see
``graphdiff.compile.codegen.Tiered``); most tests call a function once or twice, so
they would never reach the generated code. Here every function generates its code on
the first call, as before tiering, so the whole suite keeps exercising generated code,
in-place reuse and scalar constants; tests/test_planner.py tests the tiering itself.
"""

import pytest

from graphdiff.compile import codegen


@pytest.fixture(autouse=True)
def _generate_code_on_the_first_call(monkeypatch):
    monkeypatch.setattr(codegen, "CODEGEN_S_PER_STEP", 0.0)
