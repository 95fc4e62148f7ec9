"""Issue 5, saving and loading: round trips lose nothing (gradient nodes and their grad_of
provenance included), writes are atomic, and corrupt, mismatched or hostile files raise
gd.FileFormatError without executing anything."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import graphdiff as gd

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------- parameters
def _params():
    g = gd.Graph()
    W = g.parameter(np.arange(6.0).reshape(2, 3), name="W")
    b = g.parameter(np.array([1.5, -2.5, 0.0], dtype=np.float32), name="b")
    k = g.parameter(np.array([3, 4], dtype=np.int64), name="k")
    return g, [W, b, k]


def test_parameter_round_trip(tmp_path):
    g, params = _params()
    saved = [np.array(p.value) for p in params]
    path = tmp_path / "params.npz"
    gd.save(path, params)
    for p in params:
        p.value = np.zeros_like(p.value)
    gd.load(path, params)
    for p, v in zip(params, saved, strict=True):
        np.testing.assert_array_equal(p.value, v)
        assert p.value.dtype == v.dtype
    # into a fresh graph of the same structure
    _, fresh = _params()
    for p in fresh:
        p.value = np.zeros_like(p.value)
    gd.load(str(path), fresh)
    for p, v in zip(fresh, saved, strict=True):
        np.testing.assert_array_equal(p.value, v)


def test_parameter_load_mismatch_changes_nothing(tmp_path):
    g, params = _params()
    path = tmp_path / "params.npz"
    gd.save(path, params)
    g2 = gd.Graph()
    W = g2.parameter(np.zeros((2, 3)), name="W")
    b = g2.parameter(np.zeros(4, dtype=np.float32), name="b")  # wrong shape
    k = g2.parameter(np.zeros(2, dtype=np.int64), name="k")
    with pytest.raises(gd.FileFormatError, match=r"\(4,\).*\(3,\)|\(3,\).*\(4,\)"):
        gd.load(path, [W, b, k])
    assert np.all(W.value == 0)  # checked before anything is written
    with pytest.raises(gd.FileFormatError, match="3 parameters"):
        gd.load(path, [W, b])
    # float into an int parameter is not same_kind
    g3 = gd.Graph()
    wi = g3.parameter(np.zeros((2, 3), dtype=np.int64))
    bi = g3.parameter(np.zeros(3, dtype=np.float32))
    ki = g3.parameter(np.zeros(2, dtype=np.int64))
    with pytest.raises(gd.FileFormatError):
        gd.load(path, [wi, bi, ki])


# ---------------------------------------------------------------- graphs
def _rich_graph():
    g = gd.Graph()
    x = g.input("x", shape=(None, 3))
    m = g.input("mask", shape=(None, 3), dtype=bool)
    labels = g.input("labels", shape=(None,), dtype="int64")
    W = g.parameter(np.random.default_rng(0).normal(size=(3, 3)), name="W")
    b = g.parameter(np.array([0.1, -0.2, 0.3]), name="b")
    two = g.constant(np.float32(2.0), name="two")
    h = gd.tanh(x @ W + b)
    picked = h[np.array([0, 0, 1])]
    clipped = gd.clip(h, -0.5, 0.5)
    masked = gd.where(m, clipped, -h)
    cols = masked[:, np.array([2, 0])]
    loss = (gd.losses.softmax_cross_entropy(masked, labels)
            + gd.losses.mse(picked, np.zeros((3, 3)))
            + gd.losses.binary_cross_entropy_with_logits(h, (x > 0) * 1.0)
            + gd.mean(gd.softmax(cols)) * two + gd.sum(gd.logsumexp(h, axis=1)) * 0.1)
    loss = gd.stop_gradient(gd.sqrt(gd.square(b[0]))) + loss
    dW, dx = gd.grad(loss, [W, x])
    dW.name = "dW"
    v = g.constant(np.ones((3, 3)), name="v")
    hvp = gd.grad(gd.sum(dW * v), W)
    hvp.name = "hvp"
    loss.name = "loss"
    dx.name = "dx"
    feed = {
        x: np.random.default_rng(1).normal(size=(4, 3)),
        m: np.array([[1, 0, 1], [0, 0, 1], [1, 1, 1], [0, 1, 0]], dtype=bool),
        labels: np.array([0, 2, 1, 1]),
    }
    return g, feed, ["loss", "dW", "dx", "hvp"]


def test_graph_round_trip_identical_results_and_provenance(tmp_path):
    g, feed, names = _rich_graph()
    fetches = [g.find(n) for n in names]
    want = g.run(fetches, feed=feed)
    path = tmp_path / "graph.npz"
    g.save(path)
    h = gd.Graph.load(path)
    assert len(h.nodes) == len(g.nodes)
    for a, b in zip(g.nodes, h.nodes, strict=True):
        assert (a.kind, a.name, a.shape, a.dtype) == (b.kind, b.name, b.shape, b.dtype)
        assert type(a.op) is type(b.op)
        assert a.op == b.op
        assert [i.index for i in a.inputs] == [i.index for i in b.inputs]
        assert (a.grad_of is None) == (b.grad_of is None)
        if a.grad_of is not None:
            assert a.grad_of.index == b.grad_of.index
    assert sum(1 for n in h.nodes if n.grad_of is not None) > 20
    hfeed = {h.find(k.name): v for k, v in feed.items()}
    got = h.run([h.find(n) for n in names], feed=hfeed)
    for a, b in zip(want, got, strict=True):
        np.testing.assert_array_equal(a, b)
    # the loaded graph is a live graph: differentiate it again and train its parameters
    hW = h.find("W")
    d3 = gd.grad(gd.sum(h.find("hvp")), hW)
    assert np.all(np.isfinite(h.run(d3, feed=hfeed)))
    hW.value = hW.value * 0.5
    g.find("W").value = g.find("W").value * 0.5
    np.testing.assert_array_equal(h.run(h.find("loss"), feed=hfeed),
                                  g.run(g.find("loss"), feed=feed))


def test_graph_round_trip_twice_is_stable(tmp_path):
    g, feed, names = _rich_graph()
    g.save(tmp_path / "a.npz")
    h = gd.Graph.load(tmp_path / "a.npz")
    h.save(tmp_path / "b.npz")
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])


def test_find_raises_key_error_for_unknown_name():
    g = gd.Graph()
    g.input("x", shape=(1,))
    with pytest.raises(KeyError, match="nope"):
        g.find("nope")


# ---------------------------------------------------------------- atomic writes
@pytest.mark.parametrize("which", ["params", "graph"])
def test_crash_mid_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch, which):
    g, params = _params()
    path = tmp_path / "file.npz"
    save = (lambda: gd.save(path, params)) if which == "params" else (lambda: g.save(path))
    save()
    before = path.read_bytes()
    real_savez = np.savez

    def crashing_savez(file, *args, **kwargs):
        real_savez(file, *args, **kwargs)  # half of the work done: bytes are in the temp file
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(np, "savez", crashing_savez)
    for p in params:
        p.value = p.value + 1
    with pytest.raises(OSError, match="simulated"):
        save()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["file.npz"]
    monkeypatch.setattr(np, "savez", real_savez)
    # and a fresh path is not created at all by a crashed write
    monkeypatch.setattr(np, "savez", crashing_savez)
    with pytest.raises(OSError):
        gd.save(tmp_path / "new.npz", params)
    assert sorted(os.listdir(tmp_path)) == ["file.npz"]


def test_keyboard_interrupt_mid_write_leaves_no_temp(tmp_path, monkeypatch):
    g, params = _params()

    def interrupted(file, *args, **kwargs):
        file.write(b"PK\x03\x04partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        gd.save(tmp_path / "p.npz", params)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- corrupt and hostile files
def _graph_file(tmp_path):
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    W = g.parameter(np.ones(2), name="W")
    y = gd.sum(gd.exp(x * W))
    gd.grad(y, x)
    path = tmp_path / "g.npz"
    g.save(path)
    return path


def _rewrite(path, edit_doc=None, extra=None, drop=()):
    """Rewrite a graph file with its JSON edited, extra arrays added or arrays dropped."""
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if k not in drop}
    if edit_doc is not None and "__graph__" in arrays:
        doc = json.loads(arrays["__graph__"].tobytes().decode())
        edit_doc(doc)
        arrays["__graph__"] = np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8)
    arrays.update(extra or {})
    out = path.with_name("edited.npz")
    np.savez(out, **arrays)
    return out


def _first_op(doc):
    return next(r for r in doc["nodes"] if r["kind"] == "op")


CORRUPTIONS = {
    "truncated": lambda p: _write(p, p.read_bytes()[: len(p.read_bytes()) // 2]),
    "truncated_tail": lambda p: _write(p, p.read_bytes()[:-10]),
    "garbage": lambda p: _write(p, os.urandom(300)),
    "empty": lambda p: _write(p, b""),
    "text": lambda p: _write(p, b"hello, I am not an npz"),
    "plain_npy": lambda p: _npy(p),
    "no_graph_json": lambda p: _rewrite(p, drop=("__graph__",)),
    "bad_json": lambda p: _rewrite(p, extra={"__graph__": np.frombuffer(b"{nope", np.uint8)}),
    "not_utf8": lambda p: _rewrite(p, extra={"__graph__": np.frombuffer(b"\xff\xfe", np.uint8)}),
    "json_list": lambda p: _rewrite(p, extra={"__graph__": np.frombuffer(b"[1, 2]", np.uint8)}),
    "wrong_format": lambda p: _rewrite(p, lambda d: d.update(format="other/9")),
    "unregistered_op": lambda p: _rewrite(p, lambda d: _first_op(d)["op"].update(
        type="os:system")),
    "builtin_eval_op": lambda p: _rewrite(p, lambda d: _first_op(d)["op"].update(
        type="builtins:eval")),
    "unknown_kind": lambda p: _rewrite(p, lambda d: d["nodes"][0].update(kind="lambda")),
    "forward_input_ref": lambda p: _rewrite(p, lambda d: _first_op(d).update(inputs=[99])),
    "negative_input_ref": lambda p: _rewrite(p, lambda d: _first_op(d).update(inputs=[-1, 0])),
    "string_input_ref": lambda p: _rewrite(p, lambda d: _first_op(d).update(inputs=["0"])),
    "wrong_shape": lambda p: _rewrite(p, lambda d: _first_op(d).update(shape=[7])),
    "object_dtype": lambda p: _rewrite(p, lambda d: d["nodes"][0].update(dtype="|O")),
    "string_dtype": lambda p: _rewrite(p, lambda d: d["nodes"][0].update(dtype="<U5")),
    "missing_array": lambda p: _rewrite(p, drop=("a0",)),
    "missing_key": lambda p: _rewrite(p, lambda d: d["nodes"][0].pop("kind")),
    "nodes_not_list": lambda p: _rewrite(p, lambda d: d.update(nodes=5)),
    "bad_value_record": lambda p: _rewrite(p, lambda d: [r.update(value={"exec": "x"})
                                                         for r in d["nodes"]
                                                         if r["kind"] == "parameter"]),
    "bad_grad_of": lambda p: _rewrite(p, lambda d: d["nodes"][-1].update(grad_of=10_000)),
    "param_shape_lie": lambda p: _rewrite(p, lambda d: [r.update(shape=[5])
                                                        for r in d["nodes"]
                                                        if r["kind"] == "parameter"]),
}


def _write(p, data):
    out = p.with_name("corrupt.npz")
    out.write_bytes(data)
    return out


def _npy(p):
    out = p.with_name("plain.npy")
    np.save(out, np.ones(3))
    return out


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_graph_files_raise_file_format_error(tmp_path, corruption):
    path = CORRUPTIONS[corruption](_graph_file(tmp_path))
    with pytest.raises(gd.FileFormatError) as info:
        gd.Graph.load(path)
    assert len(str(info.value)) > 15, str(info.value)


@pytest.mark.parametrize("corruption", ["truncated", "garbage", "empty", "text", "plain_npy"])
def test_corrupt_parameter_files_raise_file_format_error(tmp_path, corruption):
    g, params = _params()
    path = tmp_path / "p.npz"
    gd.save(path, params)
    bad = CORRUPTIONS[corruption](path)
    with pytest.raises(gd.FileFormatError):
        gd.load(bad, params)


def test_graph_file_is_not_a_parameter_file_and_vice_versa(tmp_path):
    path = _graph_file(tmp_path)
    g, params = _params()
    with pytest.raises(gd.FileFormatError):
        gd.load(path, params)
    gd.save(tmp_path / "p.npz", params)
    with pytest.raises(gd.FileFormatError):
        gd.Graph.load(tmp_path / "p.npz")


class _Marker:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _pickled_array(marker_path):
    arr = np.empty(1, dtype=object)
    arr[0] = _Marker(str(marker_path))
    return arr


def test_pickled_object_array_in_graph_file_never_runs(tmp_path):
    marker = tmp_path / "PWNED"
    path = _graph_file(tmp_path)
    # replace the parameter's array by a pickled object array
    bad = _rewrite(path, extra={"a0": _pickled_array(marker)})
    with pytest.raises(gd.FileFormatError):
        gd.Graph.load(bad)
    # and as an extra, unreferenced member: never read at all, so the graph loads
    bad2 = _rewrite(path, extra={"zz": _pickled_array(marker)})
    assert gd.Graph.load(bad2).find("W").shape == (2,)
    assert not marker.exists()


def test_pickled_object_array_in_parameter_file_never_runs(tmp_path):
    marker = tmp_path / "PWNED"
    g, params = _params()
    path = tmp_path / "p.npz"
    gd.save(path, params)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["p0"] = _pickled_array(marker)
    np.savez(path, **arrays)
    with pytest.raises(gd.FileFormatError):
        gd.load(path, params)
    assert not marker.exists()


def test_raw_pickle_file_never_runs(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps(_Marker(str(marker))))
    with pytest.raises(gd.FileFormatError):
        gd.Graph.load(path)
    g, params = _params()
    with pytest.raises(gd.FileFormatError):
        gd.load(path, params)
    assert not marker.exists()


def test_zip_with_pickled_npy_member_never_runs(tmp_path):
    marker = tmp_path / "PWNED"
    buf = io.BytesIO()
    np.save(buf, _pickled_array(marker), allow_pickle=True)
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("__graph__.npy", buf.getvalue())
    with pytest.raises(gd.FileFormatError):
        gd.Graph.load(path)
    assert not marker.exists()


# ---------------------------------------------------------------- custom ops
CUSTOM = textwrap.dedent('''
    import numpy as np, graphdiff as gd

    class Cube(gd.Op):
        def forward(self, x):
            return x ** 3
        def bprop(self, inputs, wrt, output, grad):
            return 3.0 * gd.square(inputs[0]) * grad
''')


def test_custom_op_loads_only_after_register_op(tmp_path):
    path = tmp_path / "custom.npz"
    script = CUSTOM + textwrap.dedent(f'''
        import sys
        path = {str(path)!r}
        if sys.argv[1] == "save":
            g = gd.Graph(); x = g.input("x", shape=(2,))
            y = gd.op(Cube())(x); y.name = "y"
            d = gd.grad(gd.sum(y), x); d.name = "d"
            try:
                g.save(path)
            except gd.GraphdiffError as exc:
                print("UNREGISTERED-SAVE-REFUSED", exc)
            gd.register_op(Cube)
            g.save(path)
            print("SAVED")
        else:
            try:
                gd.Graph.load(path)
                print("LOADED-WITHOUT-REGISTER")
            except gd.FileFormatError as exc:
                print("REFUSED", "Cube" in str(exc))
            gd.register_op(Cube)
            h = gd.Graph.load(path)
            y, d = h.run([h.find("y"), h.find("d")], feed={{h.find("x"): np.array([1.0, 2.0])}})
            print("VALUES", [float(v) for v in y], [float(v) for v in d])
    ''')
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    saved = subprocess.run([sys.executable, "-c", script, "save"], capture_output=True,
                           text=True, env=env, timeout=60)
    assert "UNREGISTERED-SAVE-REFUSED" in saved.stdout and "SAVED" in saved.stdout, saved
    loaded = subprocess.run([sys.executable, "-c", script, "load"], capture_output=True,
                            text=True, env=env, timeout=60)
    assert "REFUSED True" in loaded.stdout, loaded
    assert "LOADED-WITHOUT-REGISTER" not in loaded.stdout
    assert "VALUES [1.0, 8.0] [3.0, 12.0]" in loaded.stdout, loaded


def test_register_op_rejects_non_ops():
    with pytest.raises(TypeError):
        gd.register_op(int)
    with pytest.raises(TypeError):
        gd.register_op(lambda x: x)
