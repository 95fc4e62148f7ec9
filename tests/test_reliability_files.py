"""Reliability round two: untrusted files and malformed inputs.

Saved files are read member by member, each member's .npy header and zip sizes checked
before a byte of it is decompressed; op state in a graph file is limited to each op's
declared parameters; every failure is a gd.FileFormatError naming the file. Malformed
arguments to the losses, check_grad and size_report get errors that say what is wrong.
"""

from __future__ import annotations

import io
import json
import os
import stat
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphdiff as gd
from graphdiff import io as gio


# ---------------------------------------------------------------- helpers
def _graph_file(path):
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    W = g.parameter(np.ones(2), name="W")
    y = gd.sum(gd.exp(x * W))
    gd.grad(y, x)
    g.save(path)
    return path


def _members(path):
    """name -> raw bytes of every member, as stored (decompressed)."""
    with zipfile.ZipFile(path) as z:
        return {info.filename: z.read(info) for info in z.infolist()}


def _zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data, compress_type=compression)
    return path


def _npy(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _fake_npy(shape, descr="<f8", data=b""):
    """An .npy member whose header says anything, followed by ``data``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def _doc(members):
    return json.loads(np.load(io.BytesIO(members["__graph__.npy"])).tobytes().decode())


def _with_doc(members, doc):
    out = dict(members)
    out["__graph__.npy"] = _npy(np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8))
    return out


def _with_text(members, text):
    out = dict(members)
    out["__graph__.npy"] = _npy(np.frombuffer(text.encode(), dtype=np.uint8))
    return out


def _param_key(doc):
    rec = next(r for r in doc["nodes"] if r["kind"] == "parameter")
    return rec["value"]["array"] + ".npy"


def _peak_bytes(fn):
    """The peak of Python and NumPy allocations while fn runs (NumPy reports its buffers)."""
    tracemalloc.start()
    try:
        fn()
    except gd.FileFormatError:
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


# ---------------------------------------------------------------- 1. memory bombs
def test_bzip2_member_is_refused_before_decompressing(tmp_path):
    members = _members(_graph_file(tmp_path / "g.npz"))
    key = _param_key(_doc(members))
    members[key] = _npy(np.zeros(20_000_000))          # 160 MB, a few hundred bytes in bzip2
    bad = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bad, "w") as z:
        for name, data in members.items():
            z.writestr(name, data, compress_type=zipfile.ZIP_BZIP2 if name == key
                       else zipfile.ZIP_STORED)
    assert bad.stat().st_size < 10_000
    with pytest.raises(gd.FileFormatError, match="compress") as info:
        gd.Graph.load(bad)
    assert str(bad) in str(info.value)
    assert _peak_bytes(lambda: gd.Graph.load(bad)) < 5_000_000


def test_deflate_bomb_member_is_checked_against_the_graph_before_decompressing(tmp_path):
    members = _members(_graph_file(tmp_path / "g.npz"))
    key = _param_key(_doc(members))
    members[key] = _npy(np.zeros(12_500_000))          # 100 MB for a parameter of shape (2,)
    bad = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bad, "w") as z:
        for name, data in members.items():
            z.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    with pytest.raises(gd.FileFormatError, match=r"\(12500000,\)"):
        gd.Graph.load(bad)
    assert _peak_bytes(lambda: gd.Graph.load(bad)) < 5_000_000


def test_member_declaring_a_huge_shape_is_a_file_format_error(tmp_path):
    members = _members(_graph_file(tmp_path / "g.npz"))
    doc = _doc(members)
    key = _param_key(doc)
    members[key] = _fake_npy((10**12,))
    for r in doc["nodes"]:
        if r["kind"] == "parameter":
            r["shape"] = [10**12]
    bad = _zip(tmp_path / "huge.npz", _with_doc(members, doc))
    with pytest.raises(gd.FileFormatError, match="limit|size|bytes"):
        gd.Graph.load(bad)


def test_parameter_file_member_with_huge_shape(tmp_path):
    g = gd.Graph()
    W = g.parameter(np.ones(2), name="W")
    path = tmp_path / "p.npz"
    gd.save(path, [W])
    members = _members(path)
    members["p0.npy"] = _fake_npy((10**12,))
    bad = _zip(tmp_path / "bad.npz", members)
    with pytest.raises(gd.FileFormatError, match=r"\(1000000000000,\)"):
        gd.load(bad, [W])
    np.testing.assert_array_equal(W.value, np.ones(2))


def test_parameter_member_of_the_wrong_shape_is_refused_before_reading(tmp_path):
    g = gd.Graph()
    W = g.parameter(np.ones(2), name="W")
    path = tmp_path / "p.npz"
    gd.save(path, [W])
    members = _members(path)
    members["p0.npy"] = _npy(np.zeros(12_500_000))
    bad = _zip(tmp_path / "bad.npz", members, zipfile.ZIP_DEFLATED)
    with pytest.raises(gd.FileFormatError, match="shape"):
        gd.load(bad, [W])
    assert _peak_bytes(lambda: gd.load(bad, [W])) < 5_000_000


def test_member_size_must_match_its_header(tmp_path):
    members = _members(_graph_file(tmp_path / "g.npz"))
    key = _param_key(_doc(members))
    members[key] = members[key] + b"\x00" * 800        # trailing bytes past the header's shape
    bad = _zip(tmp_path / "long.npz", members)
    with pytest.raises(gd.FileFormatError, match="size|bytes"):
        gd.Graph.load(bad)


def test_encrypted_member_is_refused(tmp_path):
    path = _graph_file(tmp_path / "g.npz")
    data = bytearray(path.read_bytes())
    # Set the "encrypted" flag bit in every local and central header.
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (at := data.find(sig, start)) >= 0:
            data[at + offset] |= 0x1
            start = at + 4
    bad = tmp_path / "enc.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(gd.FileFormatError, match="encrypt"):
        gd.Graph.load(bad)


def test_members_the_format_does_not_name_are_never_read(tmp_path):
    members = _members(_graph_file(tmp_path / "g.npz"))
    members["zz.npy"] = b"garbage, not an npy member at all"
    ok = _zip(tmp_path / "extra.npz", members)
    h = gd.Graph.load(ok)
    assert h.find("W").shape == (2,)


def test_size_limit_is_stated_and_enforced(tmp_path):
    g = gd.Graph()
    g.parameter(np.ones(10_000), name="big")
    path = tmp_path / "big.npz"
    g.save(path)
    assert gio.MAX_BYTES == 2**31
    with pytest.raises(gd.FileFormatError, match="limit"):
        gio.load_graph(path, max_bytes=50_000)
    assert gio.load_graph(path, max_bytes=100_000).find("big").shape == (10_000,)


def test_object_dtype_member_never_loads(tmp_path):
    members = _members(_graph_file(tmp_path / "g.npz"))
    key = _param_key(_doc(members))
    members[key] = _fake_npy((2,), "|O", b"\x00" * 16)
    bad = _zip(tmp_path / "obj.npz", members)
    with pytest.raises(gd.FileFormatError, match="dtype"):
        gd.Graph.load(bad)


# ---------------------------------------------------------------- 2. tampered op state
def _op_record(doc, type_name):
    return next(r for r in doc["nodes"] if r.get("op", {}).get("type") == type_name)


def _reshape_file(tmp_path):
    g = gd.Graph()
    x = g.input("x", shape=(2, 3))
    y = gd.reshape(x, (3, 2))
    y.name = "y"
    path = tmp_path / "r.npz"
    g.save(path)
    return path


def test_unknown_op_attribute_is_refused(tmp_path):
    members = _members(_reshape_file(tmp_path))
    doc = _doc(members)
    _op_record(doc, "graphdiff:Reshape")["op"]["state"]["fresh"] = True
    bad = _zip(tmp_path / "bad.npz", _with_doc(members, doc))
    with pytest.raises(gd.FileFormatError, match="fresh"):
        gd.Graph.load(bad)


def test_derived_op_attribute_is_recomputed_not_loaded(tmp_path):
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    y = gd.sum(x[np.array([0, 0, 1])])
    d = gd.grad(y, x)
    d.name = "d"
    path = tmp_path / "i.npz"
    g.save(path)
    members = _members(path)
    doc = _doc(members)
    assert "basic" not in _op_record(doc, "graphdiff:IndexGrad")["op"]["state"]
    _op_record(doc, "graphdiff:IndexGrad")["op"]["state"]["basic"] = True
    bad = _zip(tmp_path / "bad.npz", _with_doc(members, doc))
    with pytest.raises(gd.FileFormatError, match="basic"):
        gd.Graph.load(bad)
    h = gd.Graph.load(path)
    np.testing.assert_array_equal(h.run(h.find("d"), feed={h.find("x"): np.zeros(3)}),
                                  [2.0, 1.0, 0.0])


def test_files_of_the_previous_version_still_load(tmp_path):
    """Earlier saves wrote every attribute plus ones/weak: a derived attribute that agrees
    with what the constructor derives is accepted, one that disagrees is refused."""
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    d = gd.grad(gd.sum(x[np.array([0, 0, 1])]), x)
    d.name = "d"
    path = tmp_path / "old.npz"
    g.save(path)
    members = _members(path)
    doc = _doc(members)
    _op_record(doc, "graphdiff:IndexGrad")["op"]["state"]["basic"] = False
    for r in doc["nodes"]:
        r.update(ones=False, weak=False)
    old = _zip(tmp_path / "old2.npz", _with_doc(members, doc))
    h = gd.Graph.load(old)
    np.testing.assert_array_equal(h.run(h.find("d"), feed={h.find("x"): np.zeros(3)}),
                                  [2.0, 1.0, 0.0])


def test_ones_flag_is_derived_never_loaded(tmp_path):
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    c = g.constant(np.full(2, 5.0), name="c")
    (x + c).name = "y"
    path = tmp_path / "c.npz"
    g.save(path)
    members = _members(path)
    doc = _doc(members)
    assert all("ones" not in r and "weak" not in r for r in doc["nodes"])
    next(r for r in doc["nodes"] if r["name"] == "c")["ones"] = True
    tampered = _zip(tmp_path / "t.npz", _with_doc(members, doc))
    h = gd.Graph.load(tampered)
    hx, hc = h.find("x"), h.find("c")
    np.testing.assert_array_equal(h.run(hx * hc, feed={hx: np.ones(2)}), [5.0, 5.0])


def test_weak_python_scalars_stay_weak_after_loading(tmp_path):
    g = gd.Graph()
    x = g.input("x", shape=(2,), dtype="float32")
    (x * 3.0).name = "y"
    path = tmp_path / "w.npz"
    g.save(path)
    h = gd.Graph.load(path)
    three = h.find("y").inputs[1]
    assert three.weak and not h.find("x").weak
    assert (h.find("x") * three).dtype == np.float32


def test_bad_op_state_values_are_refused(tmp_path):
    members = _members(_reshape_file(tmp_path))
    for bad_state in ({"shape": [3, 2]},                  # a bare JSON list: never written
                      {"shape": {"exec": "print(1)"}},
                      {},                                 # the declared parameter is missing
                      5):
        doc = _doc(members)
        _op_record(doc, "graphdiff:Reshape")["op"]["state"] = bad_state
        bad = _zip(tmp_path / "bad.npz", _with_doc(members, doc))
        with pytest.raises(gd.FileFormatError) as info:
            gd.Graph.load(bad)
        assert str(tmp_path / "bad.npz") in str(info.value)


def test_round_trip_rebuilds_ops_through_their_constructors(tmp_path):
    g = gd.Graph()
    x = g.input("x", shape=(None, 3))
    labels = g.input("labels", shape=(None,), dtype="int64")
    loss = gd.losses.softmax_cross_entropy(gd.clip(x, -1.0, 1.0) * 2.0, labels)
    loss.name = "loss"
    d = gd.grad(loss, x)
    d.name = "d"
    path = tmp_path / "s.npz"
    g.save(path)
    h = gd.Graph.load(path)
    for a, b in zip(g.nodes, h.nodes, strict=True):
        assert type(a.op) is type(b.op) and a.op == b.op
        if a.op is not None:
            assert vars(a.op).keys() == vars(b.op).keys()
    feed = {x: np.random.default_rng(0).normal(size=(4, 3)), labels: np.array([0, 2, 1, 1])}
    hfeed = {h.find(k.name): v for k, v in feed.items()}
    for a, b in zip(g.run([loss, d], feed=feed), h.run([h.find("loss"), h.find("d")],
                                                      feed=hfeed), strict=True):
        np.testing.assert_array_equal(a, b)


def test_custom_op_with_undeclared_state_cannot_be_saved(tmp_path):
    @gd.register_op
    class Scale(gd.Op):
        def __init__(self, k):
            self.k = k

        def forward(self, x):
            return self.k * x

    @gd.register_op
    class Scale2(gd.Op):
        __props__ = ("k",)

        def __init__(self, k):
            self.k = k

        def forward(self, x):
            return self.k * x

    g = gd.Graph()
    x = g.input("x", shape=(2,))
    gd.op(Scale(3.0))(x)
    with pytest.raises(gd.GraphdiffError, match="__props__"):
        g.save(tmp_path / "s.npz")
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    gd.op(Scale2(3.0))(x).name = "y"
    g.save(tmp_path / "s.npz")
    h = gd.Graph.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(h.run(h.find("y"), feed={h.find("x"): np.ones(2)}), [3, 3])


# ---------------------------------------------------------------- 3. no raw exceptions
def test_deeply_nested_json_is_a_file_format_error(tmp_path):
    members = _members(_graph_file(tmp_path / "g.npz"))
    for depth in (600, 100_000):
        text = '{"format": "graphdiff-graph/1", "nodes": ' + "[" * depth + "]" * depth + "}"
        bad = _zip(tmp_path / "deep.npz", _with_text(members, text))
        with pytest.raises(gd.FileFormatError, match="nest"):
            gd.Graph.load(bad)
    doc = _doc(members)
    rec = next(r for r in doc["nodes"] if r["kind"] == "parameter")
    rec["value"] = "HOLE"
    text = json.dumps(doc).replace('"HOLE"', '{"tuple": [' * 600 + "1" + "]}" * 600)
    bad = _zip(tmp_path / "deep2.npz", _with_text(members, text))
    with pytest.raises(gd.FileFormatError):
        gd.Graph.load(bad)


@pytest.mark.parametrize("edit", [
    lambda d: d["nodes"][0].update(shape=[float("inf")]),          # 1e400 in JSON
    lambda d: d["nodes"][0].update(shape=[-3]),
    lambda d: d["nodes"][0].update(shape="ab"),
    lambda d: d["nodes"][0].update(name=5),
    lambda d: d["nodes"][0].update(dtype=None),
    lambda d: d["nodes"][0].update(dtype=7),
    lambda d: d["nodes"][0].update(inputs=5),
    lambda d: d["nodes"][0].update(grad_of="x"),
    lambda d: next(r for r in d["nodes"] if "op" in r)["op"].update(state=[]),
    lambda d: next(r for r in d["nodes"] if "op" in r).update(op=5),
    lambda d: next(r for r in d["nodes"] if "op" in r)["op"].update(type=5),
    lambda d: d.update(nodes=[5]),
    lambda d: d["nodes"].__setitem__(slice(None), [["input"]]),
    lambda d: next(r for r in d["nodes"] if r["kind"] == "parameter").update(
        value={"scalar": {"array": "a0"}, "x": 1}),
    lambda d: next(r for r in d["nodes"] if r["kind"] == "parameter").update(
        value={"slice": [1]}),
    lambda d: next(r for r in d["nodes"] if r["kind"] == "parameter").update(
        value={"array": "__graph__"}),
    lambda d: next(r for r in d["nodes"] if r["kind"] == "parameter").update(
        value={"array": 3}),
    lambda d: next(r for r in d["nodes"] if r["kind"] == "parameter").update(
        value={"float": "not a float"}),
    lambda d: next(r for r in d["nodes"] if r["kind"] == "parameter").update(
        value={"dtype": "<U3"}),
])
def test_malformed_records_raise_file_format_error(tmp_path, edit):
    members = _members(_graph_file(tmp_path / "g.npz"))
    doc = _doc(members)
    edit(doc)
    bad = _zip(tmp_path / "bad.npz", _with_doc(members, doc))
    with pytest.raises(gd.FileFormatError) as info:
        gd.Graph.load(bad)
    assert str(tmp_path / "bad.npz") in str(info.value)


def test_json_with_huge_number_literal(tmp_path):
    members = _members(_graph_file(tmp_path / "g.npz"))
    text = json.dumps(_doc(members)).replace('"shape": [2]', '"shape": [1e400]', 1)
    assert "1e400" in text
    bad = _zip(tmp_path / "bad.npz", _with_text(members, text))
    with pytest.raises(gd.FileFormatError):
        gd.Graph.load(bad)


def test_op_constructor_failure_is_a_file_format_error(tmp_path):
    @gd.register_op
    class Picky(gd.Op):
        __props__ = ("k",)

        def __init__(self, k):
            if k != 1:
                raise NotImplementedError("only k = 1")
            self.k = k

        def forward(self, x):
            return x

    g = gd.Graph()
    x = g.input("x", shape=(2,))
    gd.op(Picky(1))(x)
    path = tmp_path / "p.npz"
    g.save(path)
    members = _members(path)
    doc = _doc(members)
    next(r for r in doc["nodes"] if "op" in r)["op"]["state"]["k"] = 2
    bad = _zip(tmp_path / "bad.npz", _with_doc(members, doc))
    with pytest.raises(gd.FileFormatError, match="only k = 1"):
        gd.Graph.load(bad)


def test_loading_parameters_into_an_input_or_a_constant_is_an_error(tmp_path):
    g = gd.Graph()
    W = g.parameter(np.ones(2), name="W")
    path = tmp_path / "p.npz"
    gd.save(path, [W])
    c = g.constant(np.zeros(2), name="c")
    x = g.input("x", shape=(2,))
    for node in (c, x):
        with pytest.raises(gd.FileFormatError, match="parameter"):
            gd.load(path, [node])
    np.testing.assert_array_equal(c.value, np.zeros(2))
    with pytest.raises(TypeError, match="str"):
        gd.load(path, ["W"])


def test_parameter_list_json_errors(tmp_path):
    g = gd.Graph()
    W = g.parameter(np.ones(2), name="W")
    path = tmp_path / "p.npz"
    gd.save(path, [W])
    members = _members(path)
    for text in ("[" * 100_000, "5", '{"a": 1}', "[5]"):
        members["__params__.npy"] = _npy(np.frombuffer(text.encode(), dtype=np.uint8))
        bad = _zip(tmp_path / "bad.npz", members)
        with pytest.raises(gd.FileFormatError):
            gd.load(bad, [W])


def test_parameter_list_text_is_bounded_by_the_parameter_count(tmp_path):
    g = gd.Graph()
    W = g.parameter(np.ones(2), name="W")
    path = tmp_path / "p.npz"
    gd.save(path, [W])
    members = _members(path)
    text = json.dumps([{"name": "W" * 1_000_000, "shape": [2], "dtype": "<f8"}])
    members["__params__.npy"] = _npy(np.frombuffer(text.encode(), dtype=np.uint8))
    bad = _zip(tmp_path / "bad.npz", members, zipfile.ZIP_DEFLATED)
    with pytest.raises(gd.FileFormatError, match="limit"):
        gd.load(bad, [W])
    assert _peak_bytes(lambda: gd.load(bad, [W])) < 500_000


# ---------------------------------------------------------------- 4. how files are written
def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("which", ["params", "graph"])
def test_saved_files_get_the_usual_permissions(tmp_path, which):
    g = gd.Graph()
    W = g.parameter(np.ones(2), name="W")
    path = tmp_path / "f.npz"
    gd.save(path, [W]) if which == "params" else g.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()
    os.chmod(path, 0o640)                 # an existing file keeps its mode, as np.save does
    gd.save(path, [W]) if which == "params" else g.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_saving_through_a_symlink_writes_its_target(tmp_path):
    g = gd.Graph()
    W = g.parameter(np.ones(2), name="W")
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "w.npz"
    link = tmp_path / "link.npz"
    gd.save(target, [W])
    link.symlink_to(target)
    W.value = np.full(2, 7.0)
    gd.save(link, [W])
    assert link.is_symlink()
    W.value = np.zeros(2)
    gd.load(target, [W])
    np.testing.assert_array_equal(W.value, [7.0, 7.0])
    assert sorted(os.listdir(tmp_path)) == ["link.npz", "real"]


def test_a_save_removes_stale_temp_files_of_its_target(tmp_path):
    g = gd.Graph()
    W = g.parameter(np.ones(2), name="W")
    path = tmp_path / "w.npz"
    prefix = gio.temp_prefix(path)
    stale = tmp_path / (prefix + "crashed.tmp")
    fresh = tmp_path / (prefix + "inflight.tmp")       # another process may be writing it
    other = tmp_path / (gio.temp_prefix(tmp_path / "other.npz") + "old.tmp")
    for p in (stale, fresh, other):
        p.write_bytes(b"half a file")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    gd.save(path, [W])
    assert not stale.exists()
    assert fresh.exists() and other.exists()


# ---------------------------------------------------------------- 5. the op registry
def test_registry_reads_the_builtin_declaration():
    class Fake(gd.Op):
        def forward(self, x):
            return x

    Fake.__module__ = "graphdiff.ops.fake"
    Fake.builtin = False                  # what the op declares is what counts, not its module
    assert not any(cls is Fake for cls in gio.registry().values())
    from graphdiff.losses import CheckLabels

    assert gio.registry()["graphdiff:CheckLabels"] is CheckLabels


# ---------------------------------------------------------------- fuzzing saved files
def _valid_files(folder):
    g = gd.Graph()
    x = g.input("x", shape=(None, 3))
    labels = g.input("labels", shape=(None,), dtype="int64")
    W = g.parameter(np.arange(9.0).reshape(3, 3), name="W")
    b = g.parameter(np.array([0.5, -1.0, 2.0], dtype=np.float32), name="b")
    h = gd.tanh(x @ W + b)
    loss = gd.losses.softmax_cross_entropy(gd.clip(h[:, np.array([2, 0, 1])], -0.5, 0.5),
                                           labels) + gd.sum(gd.reshape(h, (-1,))) * 0.5
    gd.grad(loss, [W, b])
    files = {}
    for name, compressed in (("stored", False), ("deflate", True)):
        path = folder / f"g-{name}.npz"
        g.save(path)
        if compressed:
            _zip(path, _members(path), zipfile.ZIP_DEFLATED)
        files["graph-" + name] = path.read_bytes()
        ppath = folder / f"p-{name}.npz"
        gd.save(ppath, [W, b])
        if compressed:
            _zip(ppath, _members(ppath), zipfile.ZIP_DEFLATED)
        files["params-" + name] = ppath.read_bytes()
    return files, (W, b)


FUZZ_LIMIT = 1 << 16


@st.composite
def _mutations(draw):
    kind = draw(st.sampled_from(["flip", "flip", "truncate", "swap", "splice"]))
    which = draw(st.sampled_from(["graph-stored", "graph-deflate", "params-stored",
                                  "params-deflate"]))
    return kind, which, draw(st.integers(0, 2**32)), draw(st.integers(1, 8))


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_mutations())
def test_fuzzed_files_raise_only_file_format_error(tmp_path, mutation):
    kind, which, seed, count = mutation
    if "files" not in _FUZZ_CACHE:
        _FUZZ_CACHE["files"] = _valid_files(tmp_path)
    files, params = _FUZZ_CACHE["files"]
    rng = np.random.default_rng(seed)
    data = bytearray(files[which])
    path = tmp_path / "fuzz.npz"
    if kind == "flip":
        for _ in range(count):
            data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
        path.write_bytes(bytes(data))
    elif kind == "truncate":
        path.write_bytes(bytes(data[: int(rng.integers(len(data)))]))
    else:
        src = tmp_path / "src.npz"
        src.write_bytes(bytes(data))
        members = _members(src)
        names = sorted(members)
        a, b = (names[int(i)] for i in rng.integers(len(names), size=2))
        if kind == "swap":
            members[a], members[b] = members[b], members[a]
        else:                             # one member's bytes, cut and glued into another's
            cut = int(rng.integers(len(members[b]) + 1))
            members[a] = members[a][:cut] + members[b][cut:]
        _zip(path, members, zipfile.ZIP_DEFLATED if "deflate" in which else zipfile.ZIP_STORED)

    def attempt():
        if which.startswith("graph"):
            gio.load_graph(path, max_bytes=FUZZ_LIMIT)
        else:
            fresh = [gd.Graph().parameter(np.zeros_like(p.value)) for p in params]
            gio.load(path, fresh, max_bytes=FUZZ_LIMIT)

    tracemalloc.start()
    try:
        attempt()
    except gd.FileFormatError as exc:
        assert str(path) in str(exc)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    # The limit bounds the arrays; JSON parsing and the graph itself add a little.
    assert peak < FUZZ_LIMIT + 4_000_000


_FUZZ_CACHE: dict = {}


# ---------------------------------------------------------------- 7. check_grad
def test_check_grad_rejects_non_node_arguments():
    g = gd.Graph()
    x = g.input("x", shape=(2,))
    z = gd.sum(x * x)
    with pytest.raises(TypeError, match="target.*Node.*str"):
        gd.check_grad(z, "x", feed={x: np.ones(2)})
    with pytest.raises(TypeError, match="target.*Node"):
        gd.check_grad(z, [x, 3], feed={x: np.ones(2)})
    with pytest.raises(TypeError, match="z.*Node"):
        gd.check_grad("z", x, feed={x: np.ones(2)})
    with pytest.raises(TypeError, match="feed"):
        gd.check_grad(z, x, feed=[np.ones(2)])
    assert gd.check_grad(z, x, feed={x: np.ones(2)}) < 1e-6


# ---------------------------------------------------------------- 8. size_report
def test_size_report_is_linear_and_leaves_the_graph_alone():
    g = gd.Graph()
    x = g.input("x", shape=(3,))
    h = x
    for _ in range(20_000):
        h = gd.tanh(h)
    z = gd.sum(h)
    before = len(g.nodes)
    report = gd.size_report(z, x)
    assert len(g.nodes) == before         # the gradient was built on a scratch copy
    assert report["forward"] == 20_002 and report["pruned"] == 20_002
    assert report["gradient_added"] >= 20_000
    assert gd.size_report(z, x) == report
    assert len(g.nodes) == before


def test_size_report_counts_match_building_the_gradient():
    g = gd.Graph()
    x = g.input("x", shape=(3, 4))
    W = g.parameter(np.ones((4, 2)), name="W")
    z = gd.sum(gd.tanh(x @ W)) + gd.sum(gd.tanh(x @ W)) * 2.0
    report = gd.size_report(z, [x, W])
    n = len(g.nodes)
    grads = gd.grad(z, [x, W])
    from graphdiff.explain import cse

    seen, stack = {}, list(grads)
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen[id(node)] = node
            stack.extend(node.inputs)
    added = [m for m in seen.values() if m.index >= n]
    assert report["gradient_added"] == len(added)
    merged = cse(sorted(seen.values(), key=lambda m: m.index))
    assert report["gradient_added_after_cse"] == len({id(merged[m]) for m in added})
