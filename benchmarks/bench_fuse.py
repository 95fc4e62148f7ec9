"""fusion: elementwise fusion (graphdiff/compile/fuse.py), with and without the fast extra.

* the 200-op chain of bench_chain (sin, tanh, * 1.01, + 0.1) fwd+bwd on (10,) arrays,
  steady calls, as ratios to the hand-written NumPy floor: graphdiff unfused, fused in
  NumPy, fused with Numba; JAX jit when installed (PyTensor when importable);
* the same chain's build + grad + compile + first call, graphdiff (fast) vs JAX;
* the MLP step (784-512-512-10) fused vs hand-written NumPy;
* the JIT choice: Numba loops vs numexpr strings on one 16-op chain, compile latency and
  steady time on (10,) and (512, 512), float64 and float32.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks --only fusion
"""

from __future__ import annotations

import contextlib
import os
import time

import numpy as np

from benchmarks import models
from benchmarks.bench_chain import _chain, numpy_floor
from benchmarks.bench_mlp import _shape
from benchmarks.harness import Config, _optional, interleave, load_graphdiff


def _row(key: str, label: str, spec: str, value: float, unit: str = "x") -> dict:
    return {"key": f"fuse.{key}", "label": f"fusion: {label}", "spec": spec,
            "value": float(value), "unit": unit}


@contextlib.contextmanager
def _jit(on: bool):
    """Build compiled functions with the Numba loops on or off."""
    from graphdiff.compile import fuse

    old = os.environ.get("GRAPHDIFF_JIT")
    os.environ["GRAPHDIFF_JIT"] = "1" if on else "0"
    fuse.forget_jit()
    try:
        yield fuse.jit_module() is not None
    finally:
        if old is None:
            os.environ.pop("GRAPHDIFF_JIT", None)
        else:
            os.environ["GRAPHDIFF_JIT"] = old
        fuse.forget_jit()


def _gd_chain_fn(gd, n: int, optimize: bool = True):
    g = gd.Graph()
    x = g.input("x", shape=(10,), dtype="float64")
    z = _chain(gd.sin, gd.tanh, x, n).sum()
    return g.function([x], [z, gd.grad(z, x)], optimize=optimize)


def _jax_fn(jax, n: int):
    jnp = jax.numpy
    return jax.jit(jax.value_and_grad(lambda v: jnp.sum(_chain(jnp.sin, jnp.tanh, v, n))))


def chain(cfg: Config, rows: list, notes: list) -> dict:
    gd = load_graphdiff()
    jax = _optional("jax")
    n = 40 if cfg.quick else 200
    x0 = np.random.default_rng(0).standard_normal(10)
    want = numpy_floor(x0, n)
    cases = {"numpy": lambda: numpy_floor(x0, n)}
    f_plain = _gd_chain_fn(gd, n, optimize=False)
    with _jit(False):
        f_numpy = _gd_chain_fn(gd, n)
    with _jit(True) as have_jit:
        f_fast = _gd_chain_fn(gd, n)
    for name, f in (("unfused", f_plain), ("fused_numpy", f_numpy), ("fused_fast", f_fast)):
        np.testing.assert_allclose(f(x0)[1], want, rtol=1e-9, err_msg=name)
        cases[name] = lambda f=f: f(x0)
    if not have_jit:
        notes.append("Numba (the fast extra) is not installed: fused_fast runs NumPy")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        jf = _jax_fn(jax, n)
        np.testing.assert_allclose(np.asarray(jf(x0)[1]), want, rtol=1e-9, err_msg="jax")
        cases["jax"] = lambda: jf(x0)[1].block_until_ready()
    else:
        notes.append("JAX not installed: no jax rows")
    if _optional("pytensor") is None:
        notes.append("PyTensor not installed here (its pin would downgrade Numba): anchor "
                     "from the issue, 0.06x the NumPy floor")
    t = interleave(cases, budget_s=cfg.budget_s / 2, min_reps=3 if cfg.quick else 20)
    floor = t["numpy"].median
    for name in cases:
        if name != "numpy":
            rows.append(_row(f"chain{n}.{name}", f"{n}-op chain fwd+bwd (10,), {name} / NumPy "
                             "floor", "fuse_chain_" + ("jax" if name == "jax" else "gd"),
                             t[name].median / floor))
    if "jax" in t:
        rows.append(_row(f"chain{n}.fast_vs_jax", f"{n}-op chain: graphdiff fast / JAX jit, "
                         "steady", "fuse_fast_vs_jax", t["fused_fast"].median / t["jax"].median))
    # Build + grad + compile + first call, each a fresh function (no cache shared).
    latency = {}
    for rep in range(1 if cfg.quick else 3):
        with _jit(False):
            t0 = time.perf_counter()
            _gd_chain_fn(gd, n)(x0 + rep)
            latency.setdefault("gd_numpy", []).append(time.perf_counter() - t0)
        with _jit(True):
            t0 = time.perf_counter()
            _gd_chain_fn(gd, n)(x0 + rep)
            latency.setdefault("gd", []).append(time.perf_counter() - t0)
        if jax is not None:
            t0 = time.perf_counter()
            np.asarray(_jax_fn(jax, n)(x0 + rep)[1])
            latency.setdefault("jax", []).append(time.perf_counter() - t0)
    gd_s = float(np.median(latency["gd"]))
    rows.append(_row(f"chain{n}.first_gd_s", f"{n}-op chain build+grad+compile+first call, "
                     "graphdiff fast, s", "fuse_first_s", gd_s, "s"))
    numpy_s = float(np.median(latency["gd_numpy"]))
    rows.append(_row(f"chain{n}.first_gd_numpy_s", f"{n}-op chain build+grad+compile+first "
                     "call, graphdiff (pure NumPy), s", "fuse_first_s", numpy_s, "s"))
    if "jax" in latency:
        jax_s = float(np.median(latency["jax"]))
        rows.append(_row(f"chain{n}.jax_vs_gd_first", f"{n}-op chain first call: JAX / "
                         "graphdiff fast", "fuse_first_jax_vs_gd", jax_s / gd_s))
        rows.append(_row(f"chain{n}.jax_vs_gd_numpy_first", f"{n}-op chain first call: JAX "
                         "/ graphdiff (pure NumPy)", "fuse_first_jax_vs_gd", jax_s / numpy_s))
    return {k: vars(v) for k, v in t.items()} | {"latency": latency}


def mlp(cfg: Config, rows: list, notes: list) -> dict:
    gd = load_graphdiff()
    sizes, batch = _shape(cfg)
    out = {}
    for dtype in ("float32", "float64"):
        p = models.make_problem(sizes, batch, dtype)
        np_params = models.copy_params(p)
        cases = {"numpy": lambda np_params=np_params, p=p: models.numpy_step(np_params, p.X,
                                                                              p.y)}
        m = models.gd_model(gd, p)
        f0 = m.graph.function(inputs=[m.x, m.y], outputs=[m.loss] + m.grads, optimize=False)
        opt = gd.optim.SGD(m.params, lr=models.LR)
        cases["unfused"] = lambda f0=f0, opt=opt, p=p: opt.step(f0(p.X, p.y)[1:])
        for name, on in (("fused_numpy", False), ("fused_fast", True)):
            with _jit(on):
                m = models.gd_model(gd, p)
                cases[name], _ = models.gd_step(gd, m, p)
        t = interleave(cases, budget_s=cfg.budget_s / 4, min_reps=3 if cfg.quick else 15)
        tag = "f32" if dtype == "float32" else "f64"
        for name in ("unfused", "fused_numpy", "fused_fast"):
            rows.append(_row(f"mlp.{tag}.{name}", f"MLP step {tag}, {name} / hand-written "
                             "NumPy", "fuse_mlp_" + name, t[name].median / t["numpy"].median))
        out[dtype] = {k: vars(v) for k, v in t.items()}
    return out


# ---------------------------------------------------------------- Numba or numexpr


def _ne_expr(n: int) -> str:
    """The chain as a numexpr string."""
    e = "x"
    for i in range(n):
        k = i % 4
        e = f"sin({e})" if k == 0 else f"tanh({e})" if k == 1 else f"({e} * 1.01)" if k == 2 \
            else f"({e} + 0.1)"
    return e


def jit_choice(cfg: Config, rows: list, notes: list) -> dict:
    gd = load_graphdiff()
    ne = _optional("numexpr")
    n = 16
    out: dict = {}
    with _jit(True) as have_jit:
        if not have_jit:
            notes.append("Numba not installed: no JIT-choice rows")
            return out
        from graphdiff.compile import fuse

        # The loop on every size here, large ones included: this is what sets JIT_MAX_SIZE.
        max_size, fuse.JIT_MAX_SIZE = fuse.JIT_MAX_SIZE, 1 << 40
        try:
            _jit_rows(gd, ne, n, fuse, cfg, rows, out)
        finally:
            fuse.JIT_MAX_SIZE = max_size
    if ne is None:
        notes.append("numexpr not installed: no numexpr rows")
    return out


def _jit_rows(gd, ne, n, fuse, cfg, rows, out) -> None:
    """Numba, numexpr and the NumPy fused kernel on one chain, per dtype and size."""
    for dtype in ("float64",) if cfg.quick else ("float64", "float32"):
        for shape in ((10,),) if cfg.quick else ((10,), (512, 512)):
            tag = f"{dtype[-2:]}.{'x'.join(map(str, shape))}"
            x0 = np.random.default_rng(1).standard_normal(shape).astype(dtype)
            g = gd.Graph()
            x = g.input("x", shape=shape, dtype=dtype)
            t0 = time.perf_counter()
            f = g.function([x], [_chain(gd.sin, gd.tanh, x, n)])
            f(x0)
            first = time.perf_counter() - t0
            [k] = [s.op for s in f.fused.nodes if isinstance(s.op, fuse.FusedKernel)]
            loop = k.run
            args = [e.value if e.weak else x0 for e in k.externals]
            cases = {"numpy_fused": lambda k=k, a=args: k.numpy(*a),
                     "numba": lambda loop=loop, a=args: loop(*a)}
            if ne is not None:
                ne.set_num_threads(1)
                expr = _ne_expr(n)
                t0 = time.perf_counter()
                r = ne.evaluate(expr, local_dict={"x": x0})
                ne_first = time.perf_counter() - t0
                np.testing.assert_allclose(r, loop(*args), atol=1e-5 if dtype ==
                                           "float32" else 1e-12)
                rows.append(_row(f"jit.{tag}.numexpr_dtype_ok", f"JIT choice {tag}: "
                                 "numexpr keeps the dtype (1 yes, 0 no)", "fuse_jit",
                                 1.0 if r.dtype == x0.dtype else 1e-9, ""))
                cases["numexpr"] = lambda expr=expr, x0=x0: ne.evaluate(
                    expr, local_dict={"x": x0})
                rows.append(_row(f"jit.{tag}.numexpr_first_s", f"JIT choice {tag}: "
                                 "numexpr first call, s", "fuse_jit", ne_first, "s"))
            rows.append(_row(f"jit.{tag}.numba_first_s", f"JIT choice {tag}: Numba "
                             "build+compile+first call, s", "fuse_jit", first, "s"))
            t = interleave(cases, budget_s=cfg.budget_s / 8, min_reps=3 if cfg.quick
                           else 10)
            base = t["numpy_fused"].median
            for name in cases:
                if name != "numpy_fused":
                    rows.append(_row(f"jit.{tag}.{name}", f"JIT choice {tag}: {name} / "
                                     "NumPy fused kernel", "fuse_jit",
                                     t[name].median / base))
            out[tag] = {k: vars(v) for k, v in t.items()}


def fusion(cfg: Config) -> dict:
    rows: list[dict] = []
    notes: list[str] = []
    detail = {"chain": chain(cfg, rows, notes), "mlp": mlp(cfg, rows, notes),
              "jit": jit_choice(cfg, rows, notes)}
    return {"rows": rows, "notes": notes, "timings": detail}
