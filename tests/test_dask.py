"""The same graphs and gradient graphs on Dask arrays: lazy results, NumPy's values.

Every graph is run twice, fed NumPy arrays and fed Dask arrays chunked along the batch;
the Dask run must return Dask arrays (no silent conversion: ``__array__`` raises while the
graph runs) whose values, computed by the threads scheduler or a LocalCluster on
loopback, equal NumPy's to rtol 1e-10 in float64.
"""

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from array_graphs import cross_entropy, elementwise, indexing, matmul, mlp, reductions

import graphdiff as gd

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

ROOT = Path(__file__).resolve().parents[1]
RTOL = 1e-10


def chunked(v: np.ndarray, parts: int = 3):
    """A Dask array of v in ``parts`` chunks along the first axis."""
    if v.ndim == 0:
        return da.from_array(v)
    rows = max(1, -(-v.shape[0] // parts))
    return da.from_array(v, chunks=(rows,) + v.shape[1:])


def lazy_run(g, fetches, feed, monkeypatch):
    """g.run with Dask feeds while any conversion of a Dask array to NumPy raises."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("a Dask array was converted to NumPy while the graph ran")

    with monkeypatch.context() as m, warnings.catch_warnings():
        m.setattr(da.Array, "__array__", refuse)
        # Dask warns, then computes, when a NumPy function has no Dask implementation.
        warnings.filterwarnings("error", message=".*is not implemented by Dask",
                                category=FutureWarning)
        return g.run(fetches, feed=feed)


# the graphs: tests/array_graphs.py
GRAPHS = [elementwise, reductions, matmul, indexing, cross_entropy, mlp]


def check_graph(build, monkeypatch, **compute):
    g = gd.Graph()
    z, targets, feed = build(g, np.random.default_rng(0))
    fetches = [z, *gd.grad(z, targets)]
    expected = g.run(fetches, feed=feed)
    out = lazy_run(g, fetches, {n: chunked(v) for n, v in feed.items()}, monkeypatch)
    assert all(isinstance(v, da.Array) for v in out), [type(v) for v in out]
    got = dask.compute(*out, **compute)
    for name, a, b in zip(["z"] + [t.name for t in targets], got, expected, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype, name
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=0, err_msg=name)


@pytest.mark.parametrize("build", GRAPHS, ids=lambda f: f.__name__)
def test_threads_scheduler(build, monkeypatch):
    check_graph(build, monkeypatch, scheduler="threads")


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("dask.distributed")
    # Threads in this process, but real TCP comms on loopback between scheduler and workers.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp", host="127.0.0.1",
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster, set_as_default=False) as c:
        yield c


@pytest.mark.parametrize("build", [indexing, cross_entropy, mlp], ids=lambda f: f.__name__)
def test_local_cluster(build, client, monkeypatch):
    with client.as_current():
        assert dask.base.get_scheduler().__self__ is client   # .compute() goes to the cluster
        check_graph(build, monkeypatch)


def test_parameter_gradient_is_a_reduction_across_chunks(monkeypatch):
    g = gd.Graph()
    loss, params, feed = mlp(g, np.random.default_rng(0))
    x, y = feed
    X, Y = chunked(feed[x], 4), chunked(feed[y], 4)
    dW1, db1 = lazy_run(g, gd.grad(loss, params[:2]), {x: X, y: Y}, monkeypatch)
    # One block each, computed from every one of the four chunks of the batch.
    assert dW1.numblocks == (1, 1) and db1.numblocks == (1,)
    for grad in (dW1, db1):
        tasks = dict(grad.__dask_graph__())
        assert set(X.__dask_keys__()[i][0] for i in range(4)) <= set(tasks)


def test_compiled_function(monkeypatch):
    g = gd.Graph()
    loss, params, feed = mlp(g, np.random.default_rng(2))
    x, y = feed
    f = g.function([x, y], [loss, *gd.grad(loss, params)])
    expected = f(feed[x], feed[y])
    with monkeypatch.context() as m:
        m.setattr(da.Array, "__array__", lambda *a, **k: pytest.fail("converted to NumPy"))
        out = f(chunked(feed[x]), chunked(feed[y]))
    assert all(isinstance(v, da.Array) for v in out)
    for a, b in zip(dask.compute(*out, scheduler="threads"), expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=0)
    # A NumPy call after Dask ones still gets NumPy arrays (and may reuse buffers again).
    again = f(feed[x], feed[y])
    assert all(isinstance(v, np.ndarray) for v in again)
    for a, b in zip(again, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_float32_stays_float32(monkeypatch):
    g = gd.Graph()
    x = g.input("x", shape=(None, 3), dtype="float32")
    W = g.parameter(np.ones((3, 2), dtype=np.float32), name="W")
    z = gd.mean(gd.tanh(x @ W) * 2.0)
    X = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    out = lazy_run(g, [z, gd.grad(z, W)], {x: chunked(X)}, monkeypatch)
    assert [v.dtype for v in out] == [np.float32, np.float32]
    expected = g.run([z, gd.grad(z, W)], feed={x: X})
    for a, b in zip(dask.compute(*out, scheduler="threads"), expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_example_runs():
    pytest.importorskip("dask.distributed")
    pytest.importorskip("sklearn")
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "dask_data_parallel.py"),
                           "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gradients equal to the in-memory NumPy ones: True" in proc.stdout


def test_move_leaves_then_run(monkeypatch):
    """backends.move_leaves (what the CuPy path uses) on Dask: every leaf a Dask array."""
    from graphdiff import backends

    g = gd.Graph()
    z, targets, feed = indexing(g, np.random.default_rng(3))
    fetches = [z, *gd.grad(z, targets)]
    expected = g.run(fetches, feed=feed)
    backends.move_leaves(g, da.asarray)
    assert all(isinstance(n.value, da.Array) for n in g.nodes
               if n.kind in ("parameter", "constant") and not n.weak)
    out = lazy_run(g, fetches, {n: chunked(v) for n, v in feed.items()}, monkeypatch)
    for a, b in zip(dask.compute(*out, scheduler="threads"), expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=0)


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128", "int64"])
def test_scatter_add_with_repeats_matches_add_at(dtype):
    from graphdiff import backends

    rng = np.random.default_rng(4)
    ref = np.zeros((6, 5, 4))
    for key in [(np.array([0, 5, 0, 0]),), (slice(None), np.array([[1, 1], [4, 1]])),
                (np.array([1, 1, 2]), slice(1, 3), np.array([3, 3, 0])),
                (Ellipsis, np.array([2, 2])), (None, np.array([0, 0]), 2)]:
        shape = ref[key].shape
        g = (rng.normal(size=shape) * 10).astype(dtype)
        if dtype == "complex128":
            g = g + 1j * rng.normal(size=shape)
        want = np.zeros(ref.shape, dtype=g.dtype)
        np.add.at(want, key, g)
        got = backends.scatter_add(chunked(g, 2) if g.ndim else da.from_array(g),
                                   chunked(ref, 2), key, basic=False)
        assert isinstance(got, da.Array)
        got = got.compute(scheduler="threads")
        assert got.dtype == want.dtype
        # float32 sums in float64 before rounding: within float32 rounding of add.at.
        rtol = 1e-6 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(got, want, rtol=rtol, err_msg=str(key))


def test_feeds_with_unknown_chunk_sizes_are_accepted():
    g = gd.Graph()
    x = g.input("x", shape=(None, 3))
    X = np.arange(12.0).reshape(4, 3)
    lazy = da.from_array(X, chunks=(2, 3))
    lazy = lazy[lazy[:, 0] >= 0]                    # boolean filter: row count unknown (NaN)
    assert np.isnan(lazy.shape[0])
    out = g.run(gd.sum(x * 2.0), feed={x: lazy})
    np.testing.assert_allclose(out.compute(), 2.0 * X.sum())
