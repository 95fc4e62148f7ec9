"""mlp_step, hvp and memory: the 784-512-512-10 MLP against hand-written NumPy."""

from __future__ import annotations

import tracemalloc

import numpy as np

from benchmarks import models
from benchmarks.harness import Config, Timing, _optional, interleave, load_graphdiff

FULL = ((784, 512, 512, 10), 128)
QUICK = ((32, 16, 16, 4), 8)


def _shape(cfg: Config):
    return QUICK if cfg.quick else FULL


def _assert_grads(name: str, got: list[np.ndarray], want: list[np.ndarray], dtype: str) -> None:
    """Each framework must compute the same gradients before its time means anything."""
    rtol = 2e-3 if dtype == "float32" else 1e-7
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        atol = rtol * float(np.abs(b).max() + 1e-30)
        np.testing.assert_allclose(
            np.asarray(a), b, rtol=rtol, atol=atol, err_msg=f"{name} grad {i}"
        )


def _row(key: str, label: str, spec: str, value: float, unit: str = "x") -> dict:
    return {"key": key, "label": label, "spec": spec, "value": float(value), "unit": unit}


def mlp_step(cfg: Config) -> dict:
    rows: list[dict] = []
    notes: list[str] = []
    detail = {}
    for dtype in ("float32", "float64"):
        detail[dtype] = _mlp_dtype(cfg, dtype, rows, notes)
    sizes, batch = _shape(cfg)
    return {"rows": rows, "notes": notes, "timings": detail, "sizes": sizes, "batch": batch}


def _mlp_cases(cfg: Config, p: models.Problem, notes: list[str]) -> dict:
    """Every framework's step, each checked against the NumPy gradients first."""
    gd, torch = load_graphdiff(), _optional("torch")
    dtype = str(p.X.dtype)
    _, want = models.numpy_grads(models.copy_params(p), p.X, p.y)
    np_params = models.copy_params(p)
    cases = {
        "numpy": lambda: models.numpy_step(np_params, p.X, p.y),
        "floor": models.gemm_floor(p),
    }
    if gd is not None:
        m = models.gd_model(gd, p)
        f = m.graph.function(inputs=[m.x, m.y], outputs=m.grads)
        _assert_grads("graphdiff", f(p.X, p.y), want, dtype)
        cases["graphdiff"], how = models.gd_step(gd, m, p)
        notes.append(f"{dtype}: graphdiff update via {how}")
        if hasattr(gd.optim.SGD, "updates"):
            cases["graphdiff_updates"] = _checked_updates_step(gd, p, dtype)
    else:
        notes.append("graphdiff not importable: its rows are missing")
    if torch is not None:
        cases["torch"], tgrads = models.torch_step(torch, p)
        _assert_grads("torch", tgrads(), want, dtype)
    if _optional("autograd") is not None:
        cases["autograd"], agrads = models.autograd_step(p)
        _assert_grads("autograd", agrads(), want, dtype)
    return cases


def _checked_updates_step(gd, p: models.Problem, dtype: str):
    """The step with SGD inside the compiled function (updates=), checked first: two of
    its steps must leave the parameters where two hand-written NumPy steps do."""
    probe, params = models.gd_updates_step(gd, p)
    want = models.copy_params(p)
    for _ in range(2):
        probe()
        models.numpy_step(want, p.X, p.y)
    _assert_grads("graphdiff updates= parameters", [n.value for n in params], want, dtype)
    step, _ = models.gd_updates_step(gd, p)
    return step


def _mlp_dtype(cfg: Config, dtype: str, rows: list[dict], notes: list[str]) -> dict:
    sizes, batch = _shape(cfg)
    p = models.make_problem(sizes, batch, dtype)
    cases = _mlp_cases(cfg, p, notes)
    reps = 3 if cfg.quick else 15
    # Two groups, each interleaved: the peers' own parameter copies would otherwise evict
    # the core group's arrays from cache between its steps and blur graphdiff / floor.
    core = {k: v for k, v in cases.items()
            if k in ("numpy", "floor", "graphdiff", "graphdiff_updates")}
    t = interleave(core, budget_s=cfg.budget_s * 0.6, min_reps=reps)
    peers = {k: v for k, v in cases.items() if k not in core}
    if peers:
        tp = interleave(
            {"numpy": cases["numpy"], **peers}, budget_s=cfg.budget_s * 0.4, min_reps=reps
        )
        t.update(
            {
                k: Timing(v.median * t["numpy"].median / tp["numpy"].median, v.reps, v.iqr_rel)
                for k, v in tp.items()
                if k in peers
            }
        )
    base, floor = t["numpy"].median, t["floor"].median
    tag = "f32" if dtype == "float32" else "f64"

    def row(key: str, label: str, spec: str, value: float, unit: str = "x") -> None:
        rows.append(_row(f"mlp.{tag}.{key}", f"mlp_step {tag}: {label}", spec, value, unit))

    row("numpy_ms", "hand-written NumPy, ms", "mlp_ms", base * 1e3, "ms")
    row("numpy_vs_floor", "NumPy / GEMM floor", "mlp_numpy_vs_floor", base / floor)
    if "graphdiff" in t:
        row("gd_vs_numpy", "graphdiff / NumPy", "mlp_gd_vs_numpy", t["graphdiff"].median / base)
        row(
            "gd_vs_floor",
            "graphdiff / GEMM floor",
            "mlp_gd_vs_floor",
            t["graphdiff"].median / floor,
        )
    if "graphdiff_updates" in t:
        row(
            "gd_updates_vs_numpy",
            "graphdiff, SGD inside the compiled function (updates=) / NumPy",
            "mlp_updates_vs_numpy",
            t["graphdiff_updates"].median / base,
        )
    if "torch" in t:
        row(
            "torch_vs_numpy",
            "PyTorch eager / NumPy",
            "mlp_torch_vs_numpy",
            t["torch"].median / base,
        )
    if "autograd" in t:
        ratio = t["autograd"].median / base
        row("autograd_vs_numpy", "HIPS autograd / NumPy", "mlp_autograd_vs_numpy", ratio)
    return {k: vars(v) for k, v in t.items()}


def _fd_hvp(
    params: list[np.ndarray], X, y, vs: list[np.ndarray], eps: float = 1e-6
) -> list[np.ndarray]:
    """Central difference of NumPy gradients along v: an independent check of Hv."""
    plus = [a + eps * v for a, v in zip(params, vs, strict=True)]
    minus = [a - eps * v for a, v in zip(params, vs, strict=True)]
    gp, gm = models.numpy_grads(plus, X, y)[1], models.numpy_grads(minus, X, y)[1]
    return [(a - b) / (2 * eps) for a, b in zip(gp, gm, strict=True)]


def hvp(cfg: Config) -> dict:
    """Hessian-vector product time / gradient time, float64, both compiled."""
    gd, torch = load_graphdiff(), _optional("torch")
    if gd is None:
        return {"rows": [], "notes": ["graphdiff not importable: skipped"]}
    if not hasattr(gd, "hessian_vector_product"):
        return {"rows": [], "notes": ["gd.hessian_vector_product missing: skipped"]}
    sizes, batch = _shape(cfg)
    p = models.make_problem(sizes, batch, "float64")
    rng = np.random.default_rng(1)
    vs = [rng.standard_normal(a.shape) for a in p.params]
    m = models.gd_model(gd, p)
    v_nodes = [m.graph.input(f"v{i}", shape=a.shape, dtype="float64") for i, a in enumerate(vs)]
    hv_nodes = gd.hessian_vector_product(m.loss, m.params, v_nodes)
    f_grad = m.graph.function(inputs=[m.x, m.y], outputs=m.grads)
    f_hvp = m.graph.function(inputs=[m.x, m.y, *v_nodes], outputs=hv_nodes)
    got, want = f_hvp(p.X, p.y, *vs), _fd_hvp(p.params, p.X, p.y, vs)
    err = max(
        float(np.abs(a - b).max() / (np.abs(b).max() + 1e-12))
        for a, b in zip(got, want, strict=True)
    )
    if err > 1e-3:
        raise AssertionError(
            f"graphdiff HVP differs from finite differences of gradients: rel err {err:.2e}"
        )
    cases = {"gd_grad": lambda: f_grad(p.X, p.y), "gd_hvp": lambda: f_hvp(p.X, p.y, *vs)}
    if torch is not None:
        cases.update(_torch_hvp_cases(torch, p, vs))
    t = interleave(cases, budget_s=cfg.budget_s, min_reps=3 if cfg.quick else 15)
    rows = [
        _row(
            "hvp.gd",
            "hvp f64: graphdiff HVP / gradient",
            "hvp_gd",
            t["gd_hvp"].median / t["gd_grad"].median,
        )
    ]
    if torch is not None:
        rows.append(
            _row(
                "hvp.torch",
                "hvp f64: PyTorch double backward / gradient",
                "hvp_torch",
                t["torch_hvp"].median / t["torch_grad"].median,
            )
        )
    return {
        "rows": rows,
        "notes": [f"HVP checked against finite differences (rel err {err:.1e})"],
        "timings": {k: vars(v) for k, v in t.items()},
    }


def _torch_hvp_cases(torch, p: models.Problem, vs: list[np.ndarray]) -> dict:
    F = torch.nn.functional
    params = [torch.tensor(a, requires_grad=True) for a in p.params]
    tv = [torch.from_numpy(v) for v in vs]
    X, y = torch.from_numpy(p.X), torch.from_numpy(p.y)

    def loss():
        h = X
        for k in range(len(params) // 2):
            h = h @ params[2 * k] + params[2 * k + 1]
            if k < len(params) // 2 - 1:
                h = torch.relu(h)
        return F.cross_entropy(h, y)

    def grad():
        return torch.autograd.grad(loss(), params)

    def hvp_():
        gs = torch.autograd.grad(loss(), params, create_graph=True)
        return torch.autograd.grad(sum((g * v).sum() for g, v in zip(gs, tv, strict=True)), params)

    return {"torch_grad": grad, "torch_hvp": hvp_}


def _peak_bytes(step, warmup: int = 3) -> int:
    """tracemalloc peak of one step above what was live before it (after warm-up).

    tracemalloc is started before warm-up, so buffers a compiled function keeps across
    calls count (they are live at the step's start, and included in the peak) while the
    parameters and data, made earlier, do not.
    """
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(warmup):
            step()
        tracemalloc.reset_peak()
        step()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def memory(cfg: Config) -> dict:
    """Peak memory of one training step: graphdiff vs hand-written NumPy."""
    gd = load_graphdiff()
    if gd is None:
        return {"rows": [], "notes": ["graphdiff not importable: skipped"]}
    rows: list[dict] = []
    for dtype in ("float32", "float64"):
        _memory_dtype(cfg, gd, dtype, rows)
    note = (
        "tracemalloc peak above live memory before compiling; includes "
        "buffers the compiled function keeps between calls"
    )
    return {"rows": rows, "notes": [note]}


def _memory_dtype(cfg: Config, gd, dtype: str, rows: list[dict]) -> None:
    sizes, batch = _shape(cfg)
    tag = "f32" if dtype == "float32" else "f64"
    p = models.make_problem(sizes, batch, dtype)
    params = models.copy_params(p)
    np_peak = _peak_bytes(lambda: models.numpy_step(params, p.X, p.y))
    m = models.gd_model(gd, p)
    holder = {}

    def gd_step() -> None:
        if "step" not in holder:  # compile under tracemalloc: its buffers count
            holder["step"] = models.gd_step(gd, m, p)[0]
        holder["step"]()

    gd_peak = _peak_bytes(gd_step)
    for key, label, spec, value, unit in (
        ("numpy_mb", "NumPy step peak, MB", "mem_mb", np_peak / 2**20, "MB"),
        ("gd_mb", "graphdiff step peak, MB", "mem_mb", gd_peak / 2**20, "MB"),
        ("gd_vs_numpy", "graphdiff / NumPy peak", "mem_gd_vs_numpy", gd_peak / np_peak, "x"),
    ):
        rows.append(_row(f"mem.{tag}.{key}", f"memory {tag}: {label}", spec, value, unit))
