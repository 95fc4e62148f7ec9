"""An MLP on scikit-learn's 8x8 handwritten digits (bundled: no download).

The book's shape (section 6.4 and Algorithm 6.4): ReLU hidden layers, a softmax output
trained with cross-entropy, and weight decay, J = L + lambda * Omega with Omega the sum
of squared weights (``gd.losses.l2_penalty``). Inputs are standardised with the training
set's statistics; the loss and its gradients are compiled once and Adam steps on
minibatches. Prints the test accuracy and training time, saves a loss curve when
matplotlib is installed.

Run: python examples/digits_mlp.py            (about 30 epochs, a few seconds)
     python examples/digits_mlp.py --quick    (fewer epochs, for tests)
Needs: pip install "graphdiff[examples]"      (scikit-learn; tqdm and matplotlib optional)
"""

import argparse
from pathlib import Path

import numpy as np

import graphdiff as gd


def load(seed: int) -> tuple[np.ndarray, ...]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit("digits_mlp.py needs scikit-learn for its bundled digits: "
                         "pip install 'graphdiff[examples]'") from None

    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = len(X) // 5
    test, train = order[:n_test], order[n_test:]
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    std[std == 0] = 1.0  # border pixels are always 0 in training
    Xs = (X - mean) / std
    return Xs[train], y[train], Xs[test], y[test]


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--quick", action="store_true", help="10 epochs (for tests)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4,
                    help="lambda of J = L + lambda * Omega")
    ap.add_argument("--hidden", type=int, nargs="+", default=[128, 64])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path.cwd() / "graphdiff-out" / "digits_mlp"),
                    help="folder for the outputs (default: ./graphdiff-out/digits_mlp)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    epochs = 10 if args.quick else args.epochs

    X_train, y_train, X_test, y_test = load(args.seed)
    print(f"digits: {len(X_train)} training and {len(X_test)} test images of 8x8 pixels")

    g = gd.Graph()
    x = g.input("x", shape=(None, 64))
    labels = g.input("labels", shape=(None,), dtype="int64")
    rng = np.random.default_rng(args.seed)
    mlp = gd.nn.MLP(g, [64, *args.hidden, 10], activation=gd.relu, rng=rng)
    logits = mlp(x)
    weights = mlp.params[::2]  # decay the weights W1, W2, ... but not the biases
    loss = gd.losses.softmax_cross_entropy(logits, labels)
    J = loss + args.weight_decay * gd.losses.l2_penalty(weights)
    step = g.function([x, labels], [J, *gd.grad(J, mlp.params)])
    predict = g.function([x], logits)
    print(f"MLP {[64, *args.hidden, 10]}, ReLU hidden units, softmax cross-entropy, "
          f"lambda = {args.weight_decay}, Adam lr = {args.lr}, {epochs} epochs")

    hist = gd.fit(step, (X_train, y_train), epochs=epochs, batch_size=args.batch_size,
                  optimizer=gd.optim.Adam(mlp.params, lr=args.lr), rng=rng,
                  metrics={"test_acc": lambda: gd.accuracy(predict, X_test, y_test)},
                  progress=not args.no_progress)
    acc = gd.accuracy(predict, X_test, y_test)
    print(f"training time {hist.seconds:.2f}s ({len(hist.batch_loss)} steps); "
          f"final training loss J {hist.loss[-1]:.4f}")
    print(f"test accuracy {acc:.4f} ({round(acc * len(X_test))}/{len(X_test)})")

    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print("(install matplotlib to save a loss curve)")
    else:
        fig = Figure(figsize=(6, 3.5))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        steps_per_epoch = len(hist.batch_loss) / max(hist.epochs, 1)
        ax.plot(np.arange(len(hist.batch_loss)) / steps_per_epoch, hist.batch_loss,
                lw=0.5, alpha=0.5, label="minibatch J")
        ax.plot(np.arange(hist.epochs) + 0.5, hist.loss, "o-", label="epoch mean J")
        ax.set(xlabel="epoch", ylabel="J = L + lambda Omega", yscale="log",
               title=f"digits MLP: test accuracy {acc:.3f}")
        ax.legend()
        path = Path(args.out) / "digits_loss.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, bbox_inches="tight")
        print(f"loss curve saved to {path}")
    return acc


if __name__ == "__main__":
    main()
