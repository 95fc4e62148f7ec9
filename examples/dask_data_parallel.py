"""Data-parallel training with Dask: the digits MLP on a LocalCluster of several workers.

The graph and its gradient graph are the ordinary ones; only the arrays change. The
training set is a ``dask.array`` chunked along the batch and persisted on the workers, so
``g.run`` returns lazy Dask arrays: every chunk's forward and backward pass runs on a
worker, and the parameter gradients of the batch-mean loss (``x.T @ delta`` and the bias
sums) are reductions across chunks. Only the small gradients come back to this process,
where Adam updates the NumPy parameters. Before training, the script checks that the
distributed gradients equal the in-memory NumPy ones.

Run: python examples/dask_data_parallel.py            (2 worker processes, 40 steps)
     python examples/dask_data_parallel.py --quick    (fewer steps, for tests)
Needs: pip install "graphdiff[dask,examples]"        (dask.distributed, scikit-learn)
"""

import argparse
import time

import numpy as np
from digits_mlp import load  # the same digits split and standardisation

import graphdiff as gd


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40, help="full-batch Adam steps")
    ap.add_argument("--quick", action="store_true", help="10 steps (for tests)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes on loopback")
    ap.add_argument("--chunks", type=int, default=4, help="chunks along the batch")
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    steps = 10 if args.quick else args.steps

    try:
        import dask
        import dask.array as da
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise SystemExit("dask_data_parallel.py needs dask.distributed: "
                         "pip install 'graphdiff[dask]'") from None

    X_train, y_train, X_test, y_test = load(args.seed)
    rows = -(-len(X_train) // args.chunks)

    g = gd.Graph()
    x = g.input("x", shape=(None, 64))
    labels = g.input("labels", shape=(None,), dtype="int64")
    net = gd.nn.MLP(g, [64, args.hidden, 10], rng=np.random.default_rng(args.seed))
    logits = net(x)
    loss = gd.losses.softmax_cross_entropy(logits, labels)  # the batch mean
    step = g.function([x, labels], [loss, *gd.grad(loss, net.params)])
    predict = g.function([x], logits)

    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        print(f"LocalCluster: {len(client.scheduler_info()['workers'])} workers on loopback; "
              f"{len(X_train)} training rows in {args.chunks} chunks of up to {rows}")
        # The data lives on the workers from now on; each step ships only the parameters.
        X_d = da.from_array(X_train, chunks=(rows, 64)).persist()
        y_d = da.from_array(y_train, chunks=rows).persist()

        lazy = step(X_d, y_d)
        assert all(isinstance(v, da.Array) for v in lazy), "expected lazy Dask results"
        distributed = dask.compute(*lazy)
        in_memory = step(X_train, y_train)
        worst = max(float(np.max(np.abs(a - b) / (np.abs(b) + 1e-300)))
                    for a, b in zip(distributed[1:], in_memory[1:], strict=True))
        same = all(np.allclose(a, b, rtol=1e-10, atol=1e-14)
                   for a, b in zip(distributed, in_memory, strict=True))
        print(f"gradients equal to the in-memory NumPy ones: {same} "
              f"(largest relative difference {worst:.1e})")
        if not same:
            raise SystemExit("distributed gradients differ from the NumPy ones")

        opt = gd.optim.Adam(net.params, lr=args.lr)
        start = time.perf_counter()
        for k in range(steps):
            loss_value, *grads = dask.compute(*step(X_d, y_d))
            opt.step(grads)
            if k == 0 or (k + 1) % 10 == 0 or k + 1 == steps:
                print(f"step {k + 1:3d}: loss {float(loss_value):.4f}")
        seconds = time.perf_counter() - start

    accuracy = float(np.mean(np.argmax(predict(X_test), axis=1) == y_test))
    print(f"{steps} data-parallel steps in {seconds:.1f} s; test accuracy {accuracy:.3f}")
    return accuracy


if __name__ == "__main__":
    main()
