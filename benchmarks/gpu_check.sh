#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU, CuPy, NumPy, PyTorch CUDA and networkx
# (no network, nothing installed): runs tests/test_cupy.py and benchmarks/gpu_mlp.py
# (MLP 784-512-512-10 training step, batch 128 and 4096, float32: graphdiff on CuPy vs
# PyTorch CUDA eager vs graphdiff on NumPy) and writes gpu_check.log and RESULTS-gpu.md
# into OUTDIR. Each part has its own time limit; the whole stays under 6 minutes.
#
# Usage, from the repository root: bash benchmarks/gpu_check.sh OUTDIR
set -u
OUT=${1:?usage: gpu_check.sh OUTDIR}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
LOG="$OUT/gpu_check.log"
: > "$LOG"

section() { echo "=== $* ($(date -u +%H:%M:%S))" | tee -a "$LOG"; }

section "device"
DEVICE=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 \
         | head -1)
echo "$DEVICE" | tee -a "$LOG"
VERSIONS=$(timeout 60 python3 - 2>&1 <<'PY'
import numpy
print(f"Python {__import__('sys').version.split()[0]}, NumPy {numpy.__version__}")
try:
    import cupy
    print(f"CuPy {cupy.__version__} (CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()})")
except Exception as exc:
    print(f"CuPy unavailable: {type(exc).__name__}: {exc}")
try:
    import torch
    print(f"PyTorch {torch.__version__} (CUDA {torch.version.cuda}, "
          f"available: {torch.cuda.is_available()})")
except Exception as exc:
    print(f"PyTorch unavailable: {type(exc).__name__}: {exc}")
PY
)
echo "$VERSIONS" | tee -a "$LOG"

section "tests/test_cupy.py"
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_cupy.py 2>&1 | tee -a "$LOG"
TEST_RC=${PIPESTATUS[0]}
TEST_SUMMARY=$(grep -E "passed|failed|skipped|error" "$LOG" | tail -1)

section "benchmarks/gpu_mlp.py"
timeout 180 python3 benchmarks/gpu_mlp.py --batches 128 4096 --dtype float32 \
    --json "$OUT/gpu_mlp.json" 2>&1 | tee "$OUT/gpu_mlp.txt" | tee -a "$LOG"
BENCH_RC=${PIPESTATUS[0]}

section "done (tests rc $TEST_RC, benchmark rc $BENCH_RC)"
{
    echo "# GPU check"
    echo
    echo "- Date (UTC): $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- Device (nvidia-smi): $DEVICE"
    echo "$VERSIONS" | sed 's/^/- /'
    echo "- Commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo
    echo "## tests/test_cupy.py (exit status $TEST_RC)"
    echo
    echo "    $TEST_SUMMARY"
    echo
    echo "## MLP 784-512-512-10 training step, float32 (exit status $BENCH_RC)"
    echo
    echo "Median time per step (forward, gradients, SGD update); ratios from the same run."
    echo
    echo '```'
    cat "$OUT/gpu_mlp.txt"
    echo '```'
} > "$OUT/RESULTS-gpu.md"
echo "wrote $OUT/RESULTS-gpu.md and $LOG"
[ "$TEST_RC" -eq 0 ] && [ "$BENCH_RC" -eq 0 ]
