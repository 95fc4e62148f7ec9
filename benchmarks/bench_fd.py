"""fd_vs_backprop: a full central finite-difference gradient vs one back-propagation.

Model: mse(tanh(x @ W1) @ W2, t), batch 16, W1 of n x n, so P = n*n + n grows with n.
A full FD gradient is 2P forward passes; for large P it is timed on a sample of
coordinates and scaled to P (each coordinate costs the same two forward calls).
"""

from __future__ import annotations

import numpy as np

from benchmarks.harness import Config, fit_exponent, interleave, load_graphdiff

BATCH = 16
EPS = 1e-6


def _model(gd, n: int, rng: np.random.Generator):
    g = gd.Graph()
    x = g.input("x", shape=(None, n), dtype="float64")
    t = g.input("t", shape=(None, 1), dtype="float64")
    W1 = g.parameter(rng.standard_normal((n, n)) / np.sqrt(n), name="W1")
    W2 = g.parameter(rng.standard_normal((n, 1)) / np.sqrt(n), name="W2")
    loss = gd.losses.mse(gd.tanh(x @ W1) @ W2, t)
    params = [W1, W2]
    f_loss = g.function(inputs=[x, t], outputs=[loss])
    f_grad = g.function(inputs=[x, t], outputs=gd.grad(loss, params))
    return params, f_loss, f_grad


def fd_vs_backprop(cfg: Config) -> dict:
    gd = load_graphdiff()
    if gd is None:
        return {"rows": [], "notes": ["graphdiff not importable: skipped"]}
    rng = np.random.default_rng(0)
    rows, detail = [], {}
    for target_p in (10**2, 10**3) if cfg.quick else (10**2, 10**3, 10**4, 10**5):
        P, point = _fd_point(cfg, gd, rng, target_p)
        detail[str(P)] = point
        scaled = "" if point["sampled"] == P else f" ({point['sampled']} coords timed, scaled)"
        rows.append(
            {
                "key": f"fd.{target_p}",
                "label": f"fd_vs_backprop P={P}: full FD / backprop{scaled}",
                "spec": "fd_ratio",
                "value": point["fd_full_s"] / point["backprop_s"],
                "unit": "x",
            }
        )
    ps = [int(p) for p in detail]
    ratios = [d["fd_full_s"] / d["backprop_s"] for d in detail.values()]
    rows.append(
        {
            "key": "fd.exp",
            "label": "fd_vs_backprop: exponent of the ratio vs P",
            "spec": "fd_exp",
            "value": fit_exponent(ps, ratios),
            "unit": "",
        }
    )
    return {"rows": rows, "notes": [], "points": detail}


def _fd_point(cfg: Config, gd, rng: np.random.Generator, target_p: int) -> tuple[int, dict]:
    """Time FD (on a sample of coordinates) against one backprop at about target_p params."""
    n = max(2, round(np.sqrt(target_p)))
    params, f_loss, f_grad = _model(gd, n, rng)
    X, T = rng.standard_normal((BATCH, n)), rng.standard_normal((BATCH, 1))
    # Flat views of the live parameter arrays: FD nudges them in place.
    flats = [p.value.reshape(-1) for p in params]
    assert all(np.shares_memory(fl, p.value) for fl, p in zip(flats, params, strict=True))
    coords = [(i, j) for i, fl in enumerate(flats) for j in range(fl.size)]
    P = len(coords)
    k_max = 20 if cfg.quick else 400
    sample = [coords[k] for k in rng.choice(P, size=min(P, k_max), replace=False)]
    fd_vals = np.empty(len(sample))

    def fd() -> None:
        for k, (i, j) in enumerate(sample):
            fl = flats[i]
            old = fl[j]
            fl[j] = old + EPS
            up = f_loss(X, T)[0]
            fl[j] = old - EPS
            down = f_loss(X, T)[0]
            fl[j] = old
            fd_vals[k] = (up - down) / (2 * EPS)

    grads = [a.reshape(-1) for a in f_grad(X, T)]
    fd()
    bp = np.array([grads[i][j] for i, j in sample])
    np.testing.assert_allclose(fd_vals, bp, rtol=1e-4, atol=1e-7, err_msg=f"FD vs backprop, P={P}")
    t = interleave(
        {"fd": fd, "backprop": lambda: f_grad(X, T)},
        budget_s=cfg.budget_s / 4,
        warmup=1,
        min_reps=3,
    )
    fd_full = t["fd"].median / len(sample) * P
    return P, {"fd_full_s": fd_full, "backprop_s": t["backprop"].median, "sampled": len(sample)}
