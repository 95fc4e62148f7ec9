"""The 2-2-1 sigmoid network learning XOR (the book's section 6.1 example, sigmoid units).

A linear model cannot fit XOR; one hidden layer of two units can. Trained by full-batch
gradient descent with momentum on the binary cross-entropy of the four examples, then the
learned truth table is printed. This tiny network has local minima (about one random
initialisation in three ends in one), so a run that gets stuck restarts from a new seed.

Run: python examples/xor.py
"""

import time

import numpy as np

import graphdiff as gd

X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = np.array([[0.0], [1.0], [1.0], [0.0]])


def train(seed: int, epochs: int = 3000, lr: float = 0.5) -> np.ndarray:
    """Train a fresh 2-2-1 network; return its outputs on X."""
    g = gd.Graph()
    x = g.input("x", shape=(None, 2))
    t = g.input("t", shape=(None, 1))
    rng = np.random.default_rng(seed)
    hidden = gd.nn.Dense(g, 2, 2, activation=gd.sigmoid, rng=rng, name="1")
    out = gd.nn.Dense(g, 2, 1, rng=rng, name="2")
    logits = out(hidden(x))
    prob = gd.sigmoid(logits)
    params = hidden.params + out.params
    loss = gd.losses.binary_cross_entropy_with_logits(logits, t)
    step = g.function([x, t], [loss, *gd.grad(loss, params)])

    start = time.perf_counter()
    hist = gd.fit(step, (X, Y), epochs=epochs, batch_size=4, shuffle=False,
                  optimizer=gd.optim.SGD(params, lr=lr, momentum=0.9), progress=False)
    print(f"seed {seed}: {epochs} full-batch steps in {time.perf_counter() - start:.2f}s, "
          f"loss {hist.loss[0]:.4f} -> {hist.loss[-1]:.5f}")
    return g.function([x], prob)(X).reshape(-1)


def main(seed: int = 0, restarts: int = 10) -> float:
    for s in range(seed, seed + restarts):
        p = train(s)
        acc = float(np.mean((p > 0.5) == (Y.reshape(-1) > 0.5)))
        if acc == 1.0:
            break
        print(f"  stuck in a local minimum ({acc:.0%} of the table right); restarting")
    print("\n x1 x2 | XOR | network  rounded")
    for (a, b), want, got in zip(X.astype(int), Y.reshape(-1).astype(int), p, strict=True):
        print(f"  {a}  {b} |  {want}  |  {got:.4f}     {int(got > 0.5)}")
    print(f"\ntruth table correct: {acc == 1.0}")
    return acc


if __name__ == "__main__":
    raise SystemExit(0 if main() == 1.0 else 1)
