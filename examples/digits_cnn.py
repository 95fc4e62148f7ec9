"""A small convolutional network on scikit-learn's 8x8 handwritten digits (bundled).

Two conv-relu-pool blocks and a dense layer, trained with Adam (learning rate on a cosine
schedule) on float32 minibatches of randomly shifted images; each training step (loss,
gradients and Adam's update) is one compiled function, ``g.function(..., updates=)``:

    (1, 16, 16) -> conv 3x3 (32) -> relu -> max-pool 2 -> (32, 8, 8)
                -> conv 3x3 (64) -> relu -> max-pool 2 -> (64, 4, 4)
                -> flatten (1024) -> dense 10 (logits) -> softmax cross-entropy

The 8x8 images are upsampled to 16x16 (each pixel repeated 2x2) so that two 2x2 pools
still leave a 4x4 map. The data are split into training, validation and test sets with
a fixed seed; the validation loss and accuracy are recorded after every epoch, and the
test set is used once, at the end. Loss and accuracy curves go to the output folder
(``--out``, default ``./graphdiff-out/digits_cnn`` in the current directory) when
matplotlib is installed.

Run: python examples/digits_cnn.py              (30 epochs, about 15 CPU seconds)
     python examples/digits_cnn.py --epochs 3   (a quicker run)
Needs: pip install "graphdiff[examples]"        (scikit-learn; tqdm and matplotlib optional)
"""

import os

# One BLAS thread unless the caller chose: this model's matrices are small (at most
# 64 x 288 by 4,096), so threads cost more in synchronisation than they gain, and on a
# busy machine OpenBLAS's waiting threads spin (4 epochs took 3.0 s with one thread and
# 39 s with two, on 2 shared cores). Set before NumPy loads its BLAS.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import graphdiff as gd  # noqa: E402


def load(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train / validation / test splits (70 / 10 / 20 %) as float32 (N, 1, 16, 16) images."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit("digits_cnn.py needs scikit-learn for its bundled digits: "
                         "pip install 'graphdiff[examples]'") from None

    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 1, 8, 8) / 16.0  # pixel values are 0..16
    X = np.repeat(np.repeat(X, 2, axis=2), 2, axis=3)
    # One scale for every pixel (not per pixel as for the MLP): a convolution shares its
    # filter across positions, so the positions must share their units too.
    order = np.random.default_rng(seed).permutation(len(X))
    n_test, n_val = len(X) // 5, len(X) // 10
    parts = {"test": order[:n_test], "val": order[n_test:n_test + n_val],
             "train": order[n_test + n_val:]}
    mean, std = X[parts["train"]].mean(), X[parts["train"]].std()
    X = ((X - mean) / std).astype(np.float32)
    return {name: (X[idx], y[idx]) for name, idx in parts.items()}


def build(g: gd.Graph, rng: np.random.Generator, c1: int = 32,
          c2: int = 64) -> gd.nn.Sequential:
    """The network: torch's default initialisation for the convolutions' weights."""
    return gd.nn.Sequential(
        gd.nn.Conv2d(g, 1, c1, 3, padding=1, activation=gd.relu, rng=rng, dtype="float32",
                     name="1"),
        gd.nn.MaxPool2d(2),
        gd.nn.Conv2d(g, c1, c2, 3, padding=1, activation=gd.relu, rng=rng, dtype="float32",
                     name="2"),
        gd.nn.MaxPool2d(2),
        gd.nn.Flatten(),
        gd.nn.Dense(g, c2 * 4 * 4, 10, rng=rng, dtype="float32", name="3"),
    )


def shifted(X: np.ndarray, rng: np.random.Generator, most: int) -> np.ndarray:
    """Each image moved by its own random offset of at most ``most`` pixels per axis.

    Data augmentation: a digit drawn a little off centre is still that digit, and the
    1,259 training images are few for a CNN. Uncovered pixels take the background value
    (the images' minimum, 0 before standardising).
    """
    n, _, h, w = X.shape
    pad = np.pad(X, ((0, 0), (0, 0), (most, most), (most, most)), constant_values=X.min())
    dy, dx = rng.integers(0, 2 * most + 1, size=(2, n))
    rows = dy[:, None] + np.arange(h)  # (n, h): the padded rows each image reads
    cols = dx[:, None] + np.arange(w)
    return pad[np.arange(n)[:, None, None], 0, rows[:, :, None], cols[:, None, :]][:, None]


def plot(hist: gd.History, test_acc: float, out: Path) -> Path | None:
    """Loss (training and validation) and validation accuracy per epoch, as one PNG."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(10, 3.8))
    FigureCanvasAgg(fig)
    loss_ax, acc_ax = fig.subplots(1, 2)
    epochs = np.arange(1, hist.epochs + 1)
    steps_per_epoch = len(hist.batch_loss) / max(hist.epochs, 1)
    loss_ax.plot(np.arange(1, len(hist.batch_loss) + 1) / steps_per_epoch, hist.batch_loss,
                 lw=0.5, alpha=0.4, label="minibatch")
    loss_ax.plot(epochs, hist.loss, "o-", label="training (shifted images, epoch mean)")
    loss_ax.plot(epochs, hist.val_loss, "s-", label="validation")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="loss")
    loss_ax.legend()
    acc_ax.plot(epochs, hist.metrics["train_acc"], "o-", label="training")
    acc_ax.plot(epochs, hist.metrics["val_acc"], "s-", label="validation")
    acc_ax.axhline(test_acc, color="k", ls=":", label=f"test (end) {test_acc:.3f}")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0.8, 1.0))
    acc_ax.legend(loc="lower right")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "digits_cnn.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--shift", type=int, default=2,
                    help="largest random shift of a training image, in 16x16 pixels")
    ap.add_argument("--channels", type=int, nargs=2, default=[32, 64],
                    help="output channels of the two convolutions")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path.cwd() / "graphdiff-out" / "digits_cnn"),
                    help="folder for the plots (default: ./graphdiff-out/digits_cnn)")
    ap.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    args = ap.parse_args(argv)
    started = time.perf_counter()

    data = load(args.seed)
    (X_train, y_train), (X_val, y_val), (X_test, y_test) = (
        data["train"], data["val"], data["test"])
    print(f"digits: {len(X_train)} training, {len(X_val)} validation and {len(X_test)} test "
          "images, upsampled to 16x16")

    g = gd.Graph()
    x = g.input("x", shape=(None, 1, 16, 16), dtype="float32")
    labels = g.input("labels", shape=(None,), dtype="int64")
    net = build(g, np.random.default_rng(args.seed), *args.channels)
    logits = net(x, training=True)
    loss = gd.losses.softmax_cross_entropy(logits, labels)
    opt = gd.optim.Adam(net.params, lr=args.lr)
    # The whole training step, loss, gradients and Adam's update, is one compiled call.
    step = g.function([x, labels], loss, updates=opt.updates(gd.grad(loss, net.params)))
    evaluate = g.function([x, labels], loss)
    predict = g.function([x], net(x, training=False))
    n_params = sum(p.value.size for p in net.params)
    print(f"{net}\n{n_params} parameters (float32), softmax cross-entropy, Adam lr = "
          f"{args.lr} (cosine), batch {args.batch_size}, {args.epochs} epochs, random shifts "
          f"of up to {args.shift} pixels")

    augment = np.random.default_rng(args.seed + 1)

    def train_step(xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
        return step(shifted(xb, augment, args.shift) if args.shift else xb, yb)

    steps = args.epochs * -(-len(X_train) // args.batch_size)
    hist = gd.fit(train_step, (X_train, y_train), epochs=args.epochs,
                  batch_size=args.batch_size, optimizer=opt,
                  schedule=gd.optim.schedules.cosine(args.lr, steps),
                  rng=np.random.default_rng(args.seed), validation=(X_val, y_val),
                  validation_step=evaluate,
                  metrics={"train_acc": lambda: gd.accuracy(predict, X_train, y_train, 256),
                           "val_acc": lambda: gd.accuracy(predict, X_val, y_val, 256)},
                  progress=not args.no_progress)
    acc = gd.accuracy(predict, X_test, y_test, 256)
    print(f"training time {hist.seconds:.1f}s ({len(hist.batch_loss)} steps); final "
          f"training loss {hist.loss[-1]:.4f}, validation loss {hist.val_loss[-1]:.4f}, "
          f"validation accuracy {hist.metrics['val_acc'][-1]:.4f}")
    print(f"test accuracy {acc:.4f} ({round(acc * len(X_test))}/{len(X_test)})")
    path = plot(hist, acc, Path(args.out))
    if path is None:
        print("(install matplotlib to save the loss and accuracy curves)")
    else:
        print(f"loss and accuracy curves saved to {path.resolve()}")
    print(f"total time {time.perf_counter() - started:.1f}s")
    return acc


if __name__ == "__main__":
    main()
