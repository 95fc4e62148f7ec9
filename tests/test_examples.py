"""Every example runs as `python examples/NAME.py` and shows what it promises."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_example(name, *args, timeout=120):
    env = dict(os.environ)
    # Import the checkout's graphdiff even when the package is not installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_logistic_neuron():
    out = run_example("logistic_neuron.py")
    assert "graphdiff agrees with the chain rule" in out
    before, after = map(float, re.search(r"J before ([\d.]+) -> after ([\d.]+)", out).groups())
    assert after < before


def test_xor():
    out = run_example("xor.py")
    assert "truth table correct: True" in out
    rows = re.findall(r"^\s+(\d)\s+(\d) \|\s+(\d)\s+\|\s+[\d.]+\s+(\d)$", out, re.MULTILINE)
    assert len(rows) == 4 and all(int(a) ^ int(b) == int(want) == int(got)
                                  for a, b, want, got in rows)


def test_higher_order():
    out = run_example("higher_order.py")
    assert "all second-order results match their closed forms" in out


def test_digits_quick(tmp_path):
    pytest.importorskip("sklearn")
    out = run_example("digits_mlp.py", "--quick", "--no-progress", "--out", str(tmp_path))
    acc = float(re.search(r"test accuracy ([\d.]+)", out).group(1))
    assert acc >= 0.93, out  # 10 epochs; the full 30-epoch run reaches >= 0.95
    assert "training time" in out
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "digits_loss.png").read_bytes()[:4] == b"\x89PNG"


def test_show_graph(tmp_path):
    out = run_example("show_graph.py", "--out", str(tmp_path))
    for name in ("forward", "pruned", "gradient"):
        text = (tmp_path / f"{name}.dot").read_text()
        assert text.startswith("digraph")
    gradient = (tmp_path / "gradient.dot").read_text()
    assert 'class="grad"' in gradient and 'class="pruned"' in gradient
    assert 'class="grad"' not in (tmp_path / "forward.dot").read_text()
    assert "G':" in out
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "gradient.png").read_bytes()[:4] == b"\x89PNG"


def test_digits_cnn(tmp_path):
    pytest.importorskip("sklearn")
    # The full default run (about 15 CPU seconds): the accuracy it promises is the assert.
    out = run_example("digits_cnn.py", "--no-progress", "--out", str(tmp_path), timeout=600)
    acc = float(re.search(r"test accuracy ([\d.]+)", out).group(1))
    assert acc >= 0.985, out
    val = float(re.search(r"validation accuracy ([\d.]+)", out).group(1))
    assert val >= 0.95, out
    assert str(tmp_path) in out
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "digits_cnn.png").read_bytes()[:4] == b"\x89PNG"


def test_digits_cnn_default_out_is_cwd(tmp_path):
    pytest.importorskip("sklearn")
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "digits_cnn.py"),
                           "--epochs", "1", "--no-progress"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"test accuracy 0\.\d+", proc.stdout)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "graphdiff-out" / "digits_cnn" / "digits_cnn.png").is_file()
    assert not (ROOT / "examples" / "graphdiff-out").exists()
