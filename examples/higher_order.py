"""Second derivatives: Hessian-vector products and Newton steps, against closed forms.

Gradients in graphdiff are graphs of ordinary ops, so they can be differentiated again.

1. A quadratic f(x) = 1/2 x'Ax - b'x has Hessian A: the Hessian-vector product must
   equal A v, and one Newton step x - H^-1 grad f lands exactly on the minimum A^-1 b.
2. L2-regularised logistic regression, f(w) = sum softplus(Xw) - y'Xw + lam/2 |w|^2,
   has Hessian X' diag(s(1-s)) X + lam I with s = sigmoid(Xw). A Newton step computed
   with Hessian-vector products only (conjugate gradient, never forming H) matches the
   step solved with the closed-form Hessian.

Run: python examples/higher_order.py
"""

import numpy as np

import graphdiff as gd


def quadratic() -> None:
    A = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, -0.5], [0.5, -0.5, 2.0]])
    b = np.array([1.0, -2.0, 0.5])
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    f = 0.5 * gd.sum(x * (A @ x)) - gd.sum(b * x)
    v = np.array([1.0, 0.0, -1.0])
    hvp = gd.hessian_vector_product(f, x, v)
    grad, H = gd.grad(f, x), gd.hessian(f, x)

    x0 = np.zeros(3)
    hv, g0, H0 = g.run([hvp, grad, H], feed={x: x0})
    print("1. quadratic f(x) = 1/2 x'Ax - b'x")
    print(f"   Hv (graphdiff) = {hv}\n   Av (closed form) = {A @ v}")
    assert np.allclose(hv, A @ v, rtol=1e-12) and np.allclose(H0, A, rtol=1e-12)
    x1 = x0 - np.linalg.solve(H0, g0)
    print(f"   Newton step from 0: x1 = {x1}")
    print(f"   closed-form minimum A^-1 b = {np.linalg.solve(A, b)}")
    print(f"   |grad f(x1)| = {np.linalg.norm(g.run(grad, feed={x: x1})):.2e}")
    assert np.allclose(x1, np.linalg.solve(A, b), rtol=1e-12)


def conjugate_gradient(hvp, rhs: np.ndarray, iters: int) -> np.ndarray:
    """Solve H d = rhs for a positive-definite H given only d -> H d."""
    d = np.zeros_like(rhs)
    r = rhs.copy()
    p = r.copy()
    for _ in range(iters):
        Hp = hvp(p)
        alpha = (r @ r) / (p @ Hp)
        d += alpha * p
        r_new = r - alpha * Hp
        if np.linalg.norm(r_new) < 1e-14:
            break
        p = r_new + (r_new @ r_new) / (r @ r) * p
        r = r_new
    return d


def logistic_regression() -> None:
    rng = np.random.default_rng(0)
    n, k, lam = 50, 4, 0.1
    X = rng.standard_normal((n, k))
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 * rng.standard_normal(n) > 0).astype(float)

    g = gd.Graph()
    w = g.input("w", shape=(k,))
    v = g.input("v", shape=(k,))
    logits = X @ w
    f = gd.losses.binary_cross_entropy_with_logits(logits, y, reduction="sum") \
        + 0.5 * lam * gd.sum(w * w)
    grad = gd.grad(f, w)
    hvp = g.function([w, v], gd.hessian_vector_product(f, w, v))
    fg = g.function([w], [f, grad])

    w0 = np.full(k, 0.1)
    s = 1.0 / (1.0 + np.exp(-X @ w0))
    H_closed = X.T @ ((s * (1 - s))[:, None] * X) + lam * np.eye(k)
    g_closed = X.T @ (s - y) + lam * w0
    f0, g0 = fg(w0)
    u = rng.standard_normal(k)
    print("\n2. logistic regression with L2, Hessian X' diag(s(1-s)) X + lam I")
    print(f"   Hu (graphdiff)   = {hvp(w0, u)}\n   Hu (closed form) = {H_closed @ u}")
    assert np.allclose(g0, g_closed, rtol=1e-10)
    assert np.allclose(hvp(w0, u), H_closed @ u, rtol=1e-10)

    step_cg = conjugate_gradient(lambda p: hvp(w0, p), -g0, iters=k)
    step_closed = -np.linalg.solve(H_closed, g_closed)
    print(f"   Newton step by CG on Hessian-vector products: {step_cg}")
    print(f"   Newton step with the closed-form Hessian:     {step_closed}")
    assert np.allclose(step_cg, step_closed, rtol=1e-8, atol=1e-12)
    w1 = w0 + step_cg
    f1, _ = fg(w1)
    print(f"   f: {float(f0):.6f} -> {float(f1):.6f} after one Newton step")
    assert f1 < f0


if __name__ == "__main__":
    quadratic()
    logistic_regression()
    print("\nall second-order results match their closed forms")
