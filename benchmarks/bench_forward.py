"""Forward mode: JVP / forward pass, forward-over-reverse HVP / gradient (and the old
reverse-over-reverse form beside it), and a tall Jacobian forward vs reverse.

Matrix-product floors (784-512-512-10 MLP, ReLU, softmax cross-entropy): the forward pass
runs 3 products; a JVP along every parameter adds x@V1 and two per later layer (the
tangent of h@W is t_h@W + h@V), 8 in all, so about 8/3 = 2.67x the forward pass's
products. An HVP either way round needs about 2.1x the gradient's products.
"""

from __future__ import annotations

import numpy as np

from benchmarks import models
from benchmarks.bench_mlp import _fd_hvp, _row, _shape
from benchmarks.harness import Config, _optional, interleave, load_graphdiff

JVP_PRODUCT_FLOOR = 8 / 3


def _jax_jvp_case(p: models.Problem, vs):
    jax = _optional("jax")
    if jax is None:
        return None
    import jax.numpy as jnp

    def loss(params, X, y):
        h = X
        for k in range(len(params) // 2):
            h = h @ params[2 * k] + params[2 * k + 1]
            if k < len(params) // 2 - 1:
                h = jnp.maximum(h, 0)
        lse = jax.scipy.special.logsumexp(h, axis=1)
        return jnp.mean(lse - h[jnp.arange(h.shape[0]), y])

    f = jax.jit(loss)
    j = jax.jit(lambda params, tans, X, y: jax.jvp(lambda q: loss(q, X, y), (params,), (tans,)))
    params = [jnp.asarray(a) for a in p.params]
    tans = [jnp.asarray(v) for v in vs]
    X, y = jnp.asarray(p.X), jnp.asarray(p.y)
    return (lambda: f(params, X, y).block_until_ready(),
            lambda: j(params, tans, X, y)[1].block_until_ready())


def forward_mode(cfg: Config) -> dict:
    gd = load_graphdiff()
    if gd is None or not hasattr(gd, "jvp"):
        return {"rows": [], "notes": ["gd.jvp missing: skipped"]}
    sizes, batch = _shape(cfg)
    rows, notes, timings = [], [], {}
    p = models.make_problem(sizes, batch, "float64")
    rng = np.random.default_rng(1)
    vs = [rng.standard_normal(a.shape) for a in p.params]

    # JVP / forward pass
    m = models.gd_model(gd, p)
    v_nodes = [m.graph.input(f"v{i}", shape=a.shape, dtype="float64") for i, a in enumerate(vs)]
    before = len(m.graph.nodes)
    jv = gd.jvp(m.loss, m.params, v_nodes)
    notes.append(f"jvp adds {len(m.graph.nodes) - before} nodes to the loss's graph "
                 f"(forward pass: {len(gd.graph.ancestors([m.loss]))} nodes)")
    f_fwd = m.graph.function([m.x, m.y], m.loss)
    f_jvp = m.graph.function([m.x, m.y, *v_nodes], [m.loss, jv])
    eps = 1e-6
    plus = [a + eps * v for a, v in zip(p.params, vs, strict=True)]
    minus = [a - eps * v for a, v in zip(p.params, vs, strict=True)]
    up, down = models.numpy_grads(plus, p.X, p.y)[0], models.numpy_grads(minus, p.X, p.y)[0]
    fd = (up - down) / (2 * eps)
    got = float(f_jvp(p.X, p.y, *vs)[1])
    if abs(got - fd) > 1e-4 * max(1.0, abs(fd)):
        raise AssertionError(f"graphdiff JVP {got} differs from finite differences {fd}")
    cases = {"fwd": lambda: f_fwd(p.X, p.y), "jvp": lambda: f_jvp(p.X, p.y, *vs)}
    jax_cases = _jax_jvp_case(p, vs)
    if jax_cases is not None:
        cases["jax_fwd"], cases["jax_jvp"] = jax_cases
    t = interleave(cases, budget_s=cfg.budget_s, min_reps=3 if cfg.quick else 15)
    timings.update({k: vars(v) for k, v in t.items()})
    ratio = t["jvp"].median / t["fwd"].median
    rows.append(_row("jvp.gd", "jvp f64: graphdiff (loss, JVP) / forward pass", "jvp_gd", ratio))
    rows.append(_row("jvp.floor", "jvp f64: graphdiff ratio / its product floor 2.67",
                     "jvp_vs_floor", ratio / JVP_PRODUCT_FLOOR))
    if jax_cases is not None:
        rows.append(_row("jvp.jax", "jvp f64: JAX jit jvp / JAX jit forward", "jvp_peer",
                         t["jax_jvp"].median / t["jax_fwd"].median))

    # HVP / gradient, both modes, in one interleaved run
    hv_f = gd.hessian_vector_product(m.loss, m.params, v_nodes, mode="forward")
    hv_r = gd.hessian_vector_product(m.loss, m.params, v_nodes, mode="reverse")
    f_grad = m.graph.function([m.x, m.y], m.grads)
    f_hf = m.graph.function([m.x, m.y, *v_nodes], hv_f)
    f_hr = m.graph.function([m.x, m.y, *v_nodes], hv_r)
    want = _fd_hvp(p.params, p.X, p.y, vs)
    for name, f in (("forward", f_hf), ("reverse", f_hr)):
        err = max(float(np.abs(a - b).max() / (np.abs(b).max() + 1e-12))
                  for a, b in zip(f(p.X, p.y, *vs), want, strict=True))
        if err > 1e-3:
            raise AssertionError(f"{name} HVP differs from finite differences: {err:.2e}")
    t = interleave({"grad": lambda: f_grad(p.X, p.y), "hvp_f": lambda: f_hf(p.X, p.y, *vs),
                    "hvp_r": lambda: f_hr(p.X, p.y, *vs)},
                   budget_s=cfg.budget_s, min_reps=3 if cfg.quick else 15)
    timings.update({f"h_{k}": vars(v) for k, v in t.items()})
    rows.append(_row("hvp.fwd", "hvp f64: forward-over-reverse / gradient (floor ~2.1)",
                     "hvp_fwd", t["hvp_f"].median / t["grad"].median))
    rows.append(_row("hvp.rev", "hvp f64: reverse-over-reverse / gradient", "hvp_rev",
                     t["hvp_r"].median / t["grad"].median))

    # Jacobian of a (10,) -> (1000,) tanh map
    n_in, n_out = (4, 40) if cfg.quick else (10, 1000)
    g = gd.Graph()
    x = g.input("x", shape=(n_in,))
    A = g.constant(np.random.default_rng(2).normal(size=(n_out, n_in)))
    y = gd.tanh(A @ x)
    J_f = g.function([x], gd.jacobian(y, x, mode="forward"))
    J_r = g.function([x], gd.jacobian(y, x, mode="reverse"))
    X = np.random.default_rng(3).normal(size=n_in)
    np.testing.assert_allclose(J_f(X), J_r(X), rtol=1e-12, atol=1e-12)
    t = interleave({"f": lambda: J_f(X), "r": lambda: J_r(X)}, budget_s=cfg.budget_s,
                   min_reps=3)
    timings.update({f"jac_{k}": vars(v) for k, v in t.items()})
    rows.append(_row("jac.ratio", f"jacobian ({n_in},) -> ({n_out},) tanh: forward / reverse",
                     "jac_fwd_vs_rev", t["f"].median / t["r"].median))
    return {"rows": rows, "notes": notes, "timings": timings}
