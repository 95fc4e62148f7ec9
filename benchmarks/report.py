"""RESULTS.md and results.png from the rows every benchmark returns."""

from __future__ import annotations

from pathlib import Path

from benchmarks.targets import SPECS, verdict


def _fmt(row: dict | None) -> str:
    if row is None:
        return "-"
    v, unit = row["value"], row["unit"]
    if v != v:
        return "n/a"
    text = f"{v:.3g}" if abs(v) >= 100 or unit in ("", "x") else f"{v:.2f}"
    return text + ("x" if unit == "x" else "")


def _blas_line(meta: dict) -> str:
    parts = []
    for lib in meta["blas"]:
        arch, layer = lib.get("architecture", "n/a"), lib.get("threading_layer", "n/a")
        parts.append(
            f"{lib.get('internal_api')} {lib.get('version') or ''} ({lib.get('prefix')}, "
            f"kernel/core type {arch}, threading {layer})"
        )
    return "; ".join(parts) or "threadpoolctl not installed"


def markdown(results: dict) -> str:
    meta, runs = results["meta"], results["runs"]
    threads = list(runs)
    lines = [
        "# graphdiff benchmark results (issue 4)",
        "",
        f"Command: `{results['command']}` (reproduce with "
        "`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks`)  ",
        f"Date: {results['date']}, total wall time {results['wall_s']:.0f} s"
        + (" (**--quick**: tiny sizes, figures meaningless)" if results["quick"] else ""),
        "",
        "## Machine",
        "",
        f"- CPU: {meta['cpu']}, {meta['cores']} cores; threads pinned with threadpoolctl: "
        + ", ".join(threads),
        f"- Python {meta['python']}, NumPy {meta['numpy']}, "
        f"PyTorch {meta['torch'] or 'not installed'}, "
        f"HIPS autograd {meta['autograd'] or 'not installed'}, "
        f"graphdiff {meta['graphdiff'] or 'NOT IMPORTABLE'}"
        + (f" (commit {meta['commit']})" if meta["commit"] else ""),
        f"- BLAS: {_blas_line(meta)}",
        f"- OPENBLAS_CORETYPE={meta['env']['OPENBLAS_CORETYPE']}, "
        f"OPENBLAS_L2_SIZE={meta['env']['OPENBLAS_L2_SIZE']} "
        "(both should be None for benchmark runs)",
        "",
        "Every comparison runs interleaved in one process (A B, B A, ...) after warm-up; "
        "figures are medians; ratios are time(row) / time(reference) in the same run. "
        "deep_chain runs each (framework, size) in a fresh process so that peak memory is its own.",
        "",
        "## Figures and targets",
        "",
        "| benchmark | anchors (issue 4) | target | "
        + " | ".join(f"{t} thread{'s' * (t != '1')}" for t in threads)
        + " | verdict |",
        "|---" * (4 + len(threads)) + "|",
    ]
    order: list[str] = []
    by_key: dict[str, dict[str, dict]] = {}
    for t, benches in runs.items():
        for res in benches.values():
            for row in res.get("rows", []):
                if row["key"] not in by_key:
                    order.append(row["key"])
                    by_key[row["key"]] = {}
                by_key[row["key"]][t] = row
    for key in order:
        cells = by_key[key]
        any_row = next(iter(cells.values()))
        spec = SPECS[any_row["spec"]]
        per_thread = {t: verdict(r["spec"], r["value"]) for t, r in cells.items()}
        if len(set(per_thread.values())) == 1:
            v = next(iter(per_thread.values()))
        else:  # the 1-thread figure is the steadier one; show both
            v = ", ".join(f"{t} thr: {x}" for t, x in per_thread.items() if x)
        lines.append(
            f"| {any_row['label']} | {spec.anchor} | {spec.target} | "
            + " | ".join(_fmt(cells.get(t)) for t in threads)
            + f" | {v} |"
        )
    lines += [
        "",
        "`-` in a thread column: run once (thread-independent) or not run.",
        "",
        "## Notes",
        "",
    ]
    for t, benches in runs.items():
        for name, res in benches.items():
            for note in res.get("notes", []):
                lines.append(f"- {name} ({t} thr): {note}")
            if "error" in res:
                lines.append(f"- **{name} ({t} thr) FAILED**:\n\n```\n{res['error'].strip()}\n```")
    lines += ["", "## Machine load", "", _load_text(runs)]
    if results.get("plot"):
        lines += ["", f"![benchmarks]({results['plot']})"]
    return "\n".join(lines) + "\n"


def _load_text(runs: dict) -> str:
    """1-minute load average around each benchmark; above the thread count means contention."""
    cells, busy = [], False
    for t, benches in runs.items():
        for name, res in benches.items():
            before, after = res.get("load", (float("nan"),) * 2)
            busy |= max(before, after) > int(t) + 0.5
            cells.append(f"{name} ({t} thr) {before:.1f} -> {after:.1f}")
    text = "1-minute load average before -> after each benchmark: " + "; ".join(cells) + "."
    if busy:
        text += (
            "\n\n**Other processes were running during some benchmarks (load above the pinned "
            "thread count)**: those figures, 2-thread ones above all, are less reliable."
        )
    return text


def plot(results: dict, path: Path) -> bool:
    """Four panels; returns False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    first = next(iter(results["runs"].values()))
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    ax = axes[0][0]
    mlp = [r for r in first.get("mlp_step", {}).get("rows", []) if r["unit"] == "x"]
    ax.barh([r["label"].replace("mlp_step ", "") for r in mlp], [r["value"] for r in mlp])
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_title("mlp_step time ratios (1st thread setting)")
    ax = axes[0][1]
    ops = [r for r in first.get("op_overhead", {}).get("rows", []) if r["unit"] == "us"]
    ax.barh([r["label"].replace("op_overhead ", "") for r in ops], [r["value"] for r in ops])
    ax.set_xlabel("us per op, forward + backward")
    ax.set_title("op_overhead")
    ax = axes[1][0]
    sizes = first.get("deep_chain", {}).get("sizes", {})
    for fw in ("graphdiff", "torch"):
        pts = [(int(n), d[fw]["total"]) for n, d in sizes.items() if d.get(fw)]
        if pts:
            ax.loglog(*zip(*sorted(pts), strict=True), "o-", label=fw)
    ax.set_xlabel("ops")
    ax.set_ylabel("s")
    ax.set_title("deep_chain total time")
    if ax.get_lines():
        ax.legend()
    ax = axes[1][1]
    fd = first.get("fd_vs_backprop", {}).get("points", {})
    if fd:
        ps = sorted(int(p) for p in fd)
        ax.loglog(ps, [fd[str(p)]["fd_full_s"] / fd[str(p)]["backprop_s"] for p in ps], "o-")
    ax.set_xlabel("parameters P")
    ax.set_title("full FD gradient / backprop")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
