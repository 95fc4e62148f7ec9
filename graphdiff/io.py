"""Saving and loading: parameter values (``save``/``load``) and whole graphs
(``Graph.save``/``Graph.load``), as .npz files written atomically and read without pickle.

A graph file holds a JSON description of every node plus its arrays. Loading never
imports or runs code named by the file: op types are looked up in a registry of
graphdiff's primitives and of the classes the user registered with ``register_op``.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from typing import Any, Sequence

import numpy as np

from .errors import FileFormatError, GraphdiffError
from .graph import Graph, Node, describe
from .op import Op

FORMAT = "graphdiff-graph/1"
_USER_OPS: dict[str, type] = {}


def register_op(cls: type) -> type:
    """Allow ``Graph.load`` to rebuild nodes of a custom Op class (usable as a decorator).

    Examples
    --------
    >>> import graphdiff as gd
    >>> @gd.register_op
    ... class Twice(gd.Op):
    ...     def forward(self, x):
    ...         return 2 * x
    ...     def bprop(self, inputs, wrt, output, grad):
    ...         return 2 * grad
    """
    if not (isinstance(cls, type) and issubclass(cls, Op)):
        raise TypeError(f"register_op takes an Op subclass, got {cls!r}")
    _USER_OPS[_op_key(cls)] = cls
    return cls


def _op_key(cls: type) -> str:
    if cls.builtin:
        return "graphdiff:" + cls.__name__
    return f"{cls.__module__}:{cls.__qualname__}"


def _registry() -> dict[str, type]:
    found: dict[str, type] = {}
    stack = [Op]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub.builtin:
                found[_op_key(sub)] = sub
            stack.append(sub)
    found.update(_USER_OPS)
    return found


def _atomic_savez(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write to a temporary file beside ``path`` and rename: a crash never leaves half a file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".graphdiff-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    try:
        with open(path, "rb") as f:
            data = np.load(f, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("it holds a single array, not a .npz archive")
            with data:
                return {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, AttributeError) as exc:
        raise FileFormatError(f"{os.fspath(path)!r} is not a readable graphdiff file: {exc}") \
            from exc


# ---------------------------------------------------------------- parameters
def save(path: str | os.PathLike, params: Sequence[Node]) -> None:
    """Save parameter values to ``path`` (.npz), atomically.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd, tempfile, os
    >>> g = gd.Graph(); W = g.parameter(np.ones(2), name="W")
    >>> path = os.path.join(tempfile.mkdtemp(), "w.npz")
    >>> gd.save(path, [W]); W.value = np.zeros(2); gd.load(path, [W]); W.value
    array([1., 1.])
    """
    params = list(params)
    meta = [{"name": p.name, "shape": list(p.shape), "dtype": p.dtype.str} for p in params]
    arrays = {f"p{k}": np.asarray(p.value) for k, p in enumerate(params)}
    arrays["__params__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    _atomic_savez(path, arrays)


def load(path: str | os.PathLike, params: Sequence[Node]) -> None:
    """Load values saved by ``save`` into ``params`` (in place), checking count, shapes, dtypes.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd, tempfile, os
    >>> g = gd.Graph(); b = g.parameter(np.arange(3.0), name="b")
    >>> path = os.path.join(tempfile.mkdtemp(), "b.npz"); gd.save(path, [b])
    >>> b.value[:] = 0.0; gd.load(path, [b]); b.value
    array([0., 1., 2.])
    """
    params = list(params)
    data = _read_npz(path)
    try:
        meta = json.loads(data.pop("__params__").tobytes().decode())
    except (KeyError, ValueError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{os.fspath(path)!r} holds no graphdiff parameter list") from exc
    if len(meta) != len(params):
        raise FileFormatError(f"{os.fspath(path)!r} holds {len(meta)} parameters, but "
                              f"{len(params)} were given to load into")
    values = []
    for k, (p, m) in enumerate(zip(params, meta)):
        arr = data.get(f"p{k}")
        if arr is None:
            raise FileFormatError(f"{os.fspath(path)!r} lacks the array of parameter {k}")
        if tuple(arr.shape) != p.shape:
            raise FileFormatError(f"parameter {k} ({describe(p)}) has shape {p.shape}, but the "
                                  f"file holds {tuple(arr.shape)} (saved as {m.get('name')!r})")
        if not np.can_cast(arr.dtype, p.dtype, "same_kind"):
            raise FileFormatError(f"parameter {k} ({describe(p)}) is {p.dtype}, but the file "
                                  f"holds {arr.dtype}")
        values.append(arr)
    for p, arr in zip(params, values):   # all checked first: nothing half-loaded
        np.copyto(p._value, arr, casting="same_kind")


# ---------------------------------------------------------------- graphs
class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, a: Any) -> dict:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = np.asarray(a)
        return {"array": key}

    def value(self, v: Any, where: str) -> Any:
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, (int, float)) and not isinstance(v, np.generic):
            return {"float": repr(v)} if isinstance(v, float) else v
        if isinstance(v, np.ndarray):
            return self.array(v)
        if isinstance(v, np.generic):
            return {"scalar": self.array(v)}
        if isinstance(v, np.dtype):
            return {"dtype": v.str}
        if isinstance(v, tuple):
            return {"tuple": [self.value(x, where) for x in v]}
        if isinstance(v, list):
            return {"list": [self.value(x, where) for x in v]}
        if isinstance(v, slice):
            return {"slice": [self.value(x, where) for x in (v.start, v.stop, v.step)]}
        if v is Ellipsis:
            return {"ellipsis": True}
        raise GraphdiffError(f"cannot save {where}: a value of type {type(v).__name__}")


def _decode(v: Any, arrays: dict[str, np.ndarray]) -> Any:
    if not isinstance(v, dict):
        return v
    if "array" in v:
        return arrays[v["array"]]
    if "scalar" in v:
        return _decode(v["scalar"], arrays)[()]
    if "float" in v:
        return float(v["float"])
    if "dtype" in v:
        return _numeric_dtype(v["dtype"])
    if "tuple" in v:
        return tuple(_decode(x, arrays) for x in v["tuple"])
    if "list" in v:
        return [_decode(x, arrays) for x in v["list"]]
    if "slice" in v:
        return slice(*(_decode(x, arrays) for x in v["slice"]))
    if "ellipsis" in v:
        return Ellipsis
    raise FileFormatError(f"unknown value record {v!r}")


def _numeric_dtype(text: str) -> np.dtype:
    dtype = np.dtype(text)
    if dtype.kind not in "biufc":
        raise FileFormatError(f"non-numeric dtype {text!r} in graph file")
    return dtype


def save_graph(graph: Graph, path: str | os.PathLike) -> None:
    """Write every node of ``graph`` (gradient nodes too) as JSON plus arrays, atomically."""
    enc = _Encoder()
    index = {id(n): k for k, n in enumerate(graph._nodes)}
    records = []
    for n in graph._nodes:
        where = f"node {describe(n)}"
        rec: dict[str, Any] = {
            "kind": n.kind, "name": n.name,
            "shape": None if n.shape is None else list(n.shape),
            "dtype": None if n.dtype is None else n.dtype.str,
            "inputs": [index[id(i)] for i in n.inputs],
            "grad_of": None if n.grad_of is None else index.get(id(n.grad_of)),
            "ones": n.ones, "weak": n.weak,
        }
        if n.kind in ("parameter", "constant"):
            rec["value"] = enc.value(n._value, where)
        if n.op is not None:
            key = _op_key(type(n.op))
            if key not in _registry():
                raise GraphdiffError(f"cannot save {where}: op {type(n.op).__name__} is not "
                                     "registered (gd.register_op) and could not be loaded")
            rec["op"] = {"type": key, "state": {k: enc.value(v, where)
                                                for k, v in vars(n.op).items()}}
        records.append(rec)
    doc = json.dumps({"format": FORMAT, "nodes": records})
    enc.arrays["__graph__"] = np.frombuffer(doc.encode(), dtype=np.uint8)
    _atomic_savez(path, enc.arrays)


def load_graph(path: str | os.PathLike) -> Graph:
    """Rebuild a graph saved by ``Graph.save``, checking op names, inputs and shapes."""
    arrays = _read_npz(path)
    try:
        doc = json.loads(arrays.pop("__graph__").tobytes().decode())
        records = doc["nodes"]
        if doc.get("format") != FORMAT:
            raise ValueError(f"format {doc.get('format')!r}")
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ValueError("'nodes' must be a list of node records")
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{os.fspath(path)!r} is not a graphdiff graph file: {exc}") \
            from exc
    registry = _registry()
    g = Graph()
    nodes: list[Node] = []
    for k, rec in enumerate(records):
        try:
            nodes.append(_load_node(g, k, rec, nodes, arrays, registry))
        except FileFormatError:
            raise
        except (KeyError, ValueError, TypeError, IndexError, GraphdiffError) as exc:
            raise FileFormatError(f"{os.fspath(path)!r}: node {k} is corrupt: "
                                  f"{type(exc).__name__}: {exc}") from exc
    for k, (n, rec) in enumerate(zip(nodes, records)):
        source = rec.get("grad_of")
        if source is not None:
            if not isinstance(source, int) or not 0 <= source < len(nodes):
                raise FileFormatError(f"{os.fspath(path)!r}: node {k} names grad_of {source!r}, "
                                      "which is not a node of the file")
            n.grad_of = nodes[source]
    return g


def _load_node(g, k, rec, nodes, arrays, registry) -> Node:
    kind, name = rec["kind"], rec["name"]
    shape = None if rec["shape"] is None else tuple(rec["shape"])
    dtype = None if rec["dtype"] is None else _numeric_dtype(rec["dtype"])
    if kind == "input":
        node = g.input(name, shape=shape, dtype=dtype)
    elif kind in ("parameter", "constant"):
        value = _decode(rec["value"], arrays)
        node = g.parameter(value, name=name) if kind == "parameter" else g.constant(value, name)
        if node.shape != shape:
            raise FileFormatError(f"node {k} ({name!r}) declares shape {shape} but its value "
                                  f"has shape {node.shape}")
    elif kind == "op":
        spec = rec["op"]
        cls = registry.get(spec["type"])
        if cls is None:
            raise FileFormatError(f"node {k} uses op {spec['type']!r}, which is not a graphdiff "
                                  "op nor registered with gd.register_op")
        op = cls.__new__(cls)
        op.__dict__.update({a: _decode(v, arrays) for a, v in spec["state"].items()})
        if any(not isinstance(i, int) or not 0 <= i < k for i in rec["inputs"]):
            raise FileFormatError(f"node {k} names inputs {rec['inputs']} that do not precede it")
        from .op import make_node

        node = make_node(op, *(nodes[i] for i in rec["inputs"]), name=name)
        if node.shape != shape or node.dtype != dtype:
            raise FileFormatError(f"node {k} ({op.label()}) infers shape {node.shape} and dtype "
                                  f"{node.dtype} from its inputs, but the file says {shape}, "
                                  f"{dtype}")
    else:
        raise FileFormatError(f"node {k} has unknown kind {kind!r}")
    node.ones = bool(rec.get("ones", False))
    return node


# ---------------------------------------------------------------- Graph.save / Graph.load
# Attached here, as functional.py attaches the Node operators, so graph.py needs no import
# of this module.
def _graph_save(self: Graph, path: str) -> None:
    """Save every node (gradient nodes too) as JSON plus arrays, atomically.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd, tempfile, os
    >>> g = gd.Graph(); x = g.input("x", shape=(2,)); y = gd.sum(x * 2.0)
    >>> path = os.path.join(tempfile.mkdtemp(), "g.npz"); g.save(path)
    >>> h = gd.Graph.load(path)
    >>> float(h.run(h.nodes[-1], feed={h.find("x"): np.ones(2)}))
    4.0
    """
    save_graph(self, path)


def _graph_load(path: str) -> Graph:
    """Load a graph saved by ``Graph.save``; never unpickles or imports anything."""
    return load_graph(path)


_graph_save.__name__ = _graph_save.__qualname__ = "save"
_graph_load.__name__ = _graph_load.__qualname__ = "load"
Graph.save = _graph_save
Graph.load = staticmethod(_graph_load)
