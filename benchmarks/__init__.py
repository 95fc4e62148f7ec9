"""graphdiff's benchmark suite (issue 4): ``python -m benchmarks`` writes RESULTS.md.

Each benchmark module exposes ``run(cfg) -> dict`` returning ``{"rows": [...], ...}``;
``benchmarks.run`` pins threads, calls them and hands the rows to ``benchmarks.report``.
"""
