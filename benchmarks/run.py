"""Run the issue-4 benchmarks and write RESULTS.md, results.json and results.png.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks

The two variables select slow OpenBLAS kernels on this project's machines; unset them
for benchmark runs only (never in tests).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from benchmarks import (
    bench_chain,
    bench_cnn,
    bench_conv,
    bench_fd,
    bench_forward,
    bench_mlp,
    report,
)
from benchmarks.harness import Config, blas_info, machine_info, pinned_threads

BENCHMARKS: dict[str, Callable[[Config], dict]] = {
    "mlp_step": bench_mlp.mlp_step,
    "op_overhead": bench_chain.op_overhead,
    "deep_chain": bench_chain.deep_chain,
    "hvp": bench_mlp.hvp,
    "forward_mode": bench_forward.forward_mode,
    "fd_vs_backprop": bench_fd.fd_vs_backprop,
    "memory": bench_mlp.memory,
    "conv_step": bench_conv.conv_step,
    "cnn_step": bench_cnn.cnn_step,
}
# Arrays of shape (10,) and tracemalloc byte counts do not change with BLAS threads:
# run these once, under the first thread setting, to keep the suite under 10 minutes.
THREAD_INDEPENDENT = {"deep_chain", "memory"}
# Seconds each benchmark may spend on one timed comparison (full run / --quick).
BUDGET = {
    "mlp_step": (12.0, 0.2),
    "op_overhead": (8.0, 0.2),
    "deep_chain": (300.0, 60.0),
    "hvp": (10.0, 0.2),
    "forward_mode": (8.0, 0.2),
    "fd_vs_backprop": (12.0, 0.4),
    "memory": (0.0, 0.0),
    "conv_step": (10.0, 0.2),
    "cnn_step": (10.0, 0.2),
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test)")
    ap.add_argument(
        "--only", action="append", choices=list(BENCHMARKS), help="run only NAME (repeatable)"
    )
    ap.add_argument(
        "--threads", type=int, help="pin BLAS to N threads (default: 1 then 2; --quick: 1)"
    )
    ap.add_argument("--out", type=Path, default=Path(__file__).parent, help="where RESULTS.md goes")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started, t0 = time.strftime("%Y-%m-%d %H:%M:%S"), time.perf_counter()
    threads = [args.threads] if args.threads else ([1] if args.quick else [1, 2])
    names = args.only or list(BENCHMARKS)
    meta = machine_info()
    for lib in blas_info():
        if lib.get("user_api") != "blas":
            continue
        print(
            f"BLAS: {lib.get('internal_api')} {lib.get('version')} kernel/core type "
            f"{lib.get('architecture')} ({lib.get('num_threads')} threads available)"
        )
    for var, val in meta["env"].items():
        if val is not None:
            print(
                f"warning: {var}={val} is set; it selects slow kernels "
                "(unset it for benchmark runs)"
            )
    runs: dict[str, dict[str, dict]] = {}
    for i, n in enumerate(threads):
        runs[str(n)] = {}
        with pinned_threads(n):
            for name in names:
                if i > 0 and name in THREAD_INDEPENDENT:
                    continue
                cfg = Config(quick=args.quick, threads=n, budget_s=BUDGET[name][args.quick])
                print(f"[{n} thr] {name} ...", flush=True)
                b0, load0 = time.perf_counter(), os.getloadavg()[0]
                try:
                    res = BENCHMARKS[name](cfg)
                except Exception:  # noqa: BLE001 - one failure must not hide the others' figures
                    res = {"rows": [], "error": traceback.format_exc()}
                    print(res["error"], file=sys.stderr)
                res["wall_s"] = time.perf_counter() - b0
                # Other processes on a 2-core machine skew timings: keep the evidence.
                res["load"] = [load0, os.getloadavg()[0]]
                for row in res["rows"]:
                    print(f"    {row['label']}: {row['value']:.3g}")
                runs[str(n)][name] = res
    results = {
        "command": " ".join(
            ["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]
        ),
        "date": started,
        "quick": args.quick,
        "meta": meta,
        "runs": runs,
        "wall_s": time.perf_counter() - t0,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    if report.plot(results, args.out / "results.png"):
        results["plot"] = "results.png"
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (args.out / "RESULTS.md").write_text(report.markdown(results))
    print(f"wrote {args.out / 'RESULTS.md'} in {results['wall_s']:.0f} s")
    failed = [f"{name} ({t})" for t, b in runs.items() for name, r in b.items() if "error" in r]
    if failed:
        print("FAILED: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
