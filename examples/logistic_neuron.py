"""One sigmoid neuron with squared error: graphdiff's gradients next to the chain rule.

    a = w . x + b,   y_hat = sigmoid(a),   J = (y_hat - y)**2

By the chain rule (the book's section 6.5.2), with s = sigmoid(a):

    dJ/dy_hat = 2 (y_hat - y),  dy_hat/da = s (1 - s),  da/dw = x,  da/db = 1

so dJ/dw = 2 (y_hat - y) s (1 - s) x and dJ/db = 2 (y_hat - y) s (1 - s).
Then one gradient-descent step w <- w - lr dJ/dw lowers J.

Run: python examples/logistic_neuron.py
"""

import numpy as np

import graphdiff as gd


def main() -> None:
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    y = g.input("y", shape=())
    w = g.parameter(np.array([0.5, -1.0, 2.0]), name="w")
    b = g.parameter(np.array(0.25), name="b")
    a = gd.sum(x * w) + b
    y_hat = gd.sigmoid(a)
    J = (y_hat - y) ** 2
    dw, db = gd.grad(J, [w, b])

    X, Y = np.array([1.0, 0.5, -0.2]), np.array(0.0)
    feed = {x: X, y: Y}
    J0, dw_v, db_v, s = g.run([J, dw, db, y_hat], feed=feed)

    # The same numbers by hand, factor by factor.
    dJ_dyhat = 2.0 * (s - Y)
    dyhat_da = s * (1.0 - s)
    hand_dw = dJ_dyhat * dyhat_da * X
    hand_db = dJ_dyhat * dyhat_da

    print(f"a = w.x + b = {X @ w.value + b.value:.6f}, y_hat = sigmoid(a) = {s:.6f}, "
          f"y = {Y}, J = {J0:.6f}")
    print(f"dJ/dy_hat = 2(y_hat - y) = {dJ_dyhat:.6f};  dy_hat/da = s(1-s) = {dyhat_da:.6f}")
    print(f"{'':8}{'graphdiff':>14}{'chain rule':>14}")
    for i in range(3):
        print(f"dJ/dw[{i}]{dw_v[i]:14.8f}{hand_dw[i]:14.8f}")
    print(f"dJ/db   {float(db_v):14.8f}{hand_db:14.8f}")
    assert np.allclose(dw_v, hand_dw, rtol=1e-12) and np.allclose(db_v, hand_db, rtol=1e-12)
    print("graphdiff agrees with the chain rule")

    lr = 1.0
    gd.optim.SGD([w, b], lr=lr).step([dw_v, db_v])
    J1 = g.run(J, feed=feed)
    print(f"\none gradient-descent step (lr = {lr}): w = {np.round(w.value, 6)}, "
          f"b = {float(b.value):.6f}")
    print(f"J before {J0:.6f} -> after {J1:.6f}")
    assert J1 < J0


if __name__ == "__main__":
    main()
