"""The benchmark suite runs end to end at tiny sizes, so it cannot rot.

Never asserts on wall time: only that every benchmark ran and gave finite, positive figures.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = ["mlp_step", "op_overhead", "deep_chain", "hvp", "fd_vs_backprop", "memory"]
RATIO_ROWS = {
    "mlp_step": "mlp.f64.gd_vs_numpy",
    "op_overhead": "op.40.gd_vs_numpy",
    "hvp": "hvp.gd",
    "memory": "mem.f64.gd_vs_numpy",
    "fd_vs_backprop": "fd.100",
}


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("bench")
    # OPENBLAS_* stay as the environment has them: only real benchmark runs unset them.
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads((out / "results.json").read_text()), out


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_gives_finite_positive_rows(results, name: str) -> None:
    data, _ = results
    res = data["runs"]["1"][name]
    assert "error" not in res, res.get("error")
    assert res["rows"], f"{name} produced no rows: {res.get('notes')}"
    for row in res["rows"]:
        assert {"key", "label", "spec", "value", "unit"} <= row.keys()
        if row["unit"] == "":  # fitted exponents may be any sign at tiny sizes
            assert math.isfinite(row["value"]), row
        else:
            assert math.isfinite(row["value"]) and row["value"] > 0, row
    if name in RATIO_ROWS:
        assert RATIO_ROWS[name] in {r["key"] for r in res["rows"]}


def test_report_files_written(results) -> None:
    data, out = results
    text = (out / "RESULTS.md").read_text()
    assert "## Figures and targets" in text and "BLAS" in text
    assert data["meta"]["blas"] is not None
