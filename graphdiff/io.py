"""Saving and loading: parameter values (``save``/``load``) and whole graphs
(``Graph.save``/``Graph.load``), as .npz files written atomically and read without pickle.

A graph file holds a JSON description of every node plus its arrays. Loading never
imports or runs code named by the file: op types are looked up in a registry of
graphdiff's own op classes (``Op.builtin``) and of the classes the user registered with
``register_op``; each op is rebuilt through its constructor from its declared parameters
(``__props__``) only, and flags derived from values (``Node.ones``, ``Node.weak``) are
recomputed, never read.

Files are untrusted input. Only the members the format names are read; before a byte of
a member is decompressed, its zip entry (stored or deflate only, never encrypted) and its
.npy header (a numeric dtype, a shape whose size agrees with the entry's) are checked
against what it loads into: the parameter's shape and dtype, or the node record's shape.
The arrays of one graph file may hold at most ``max_bytes`` bytes (``MAX_BYTES``, 2**31,
by default). Every problem with a file raises ``gd.FileFormatError`` naming the file.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import secrets
import stat
import struct
import time
import zipfile
import zlib
from typing import Any, Callable, Sequence

import numpy as np

from .errors import FileFormatError, GraphdiffError
from .graph import Graph, Node, describe
from .op import Op, make_node

FORMAT = "graphdiff-graph/1"
# The most bytes the arrays of one loaded graph file may take (JSON text included).
MAX_BYTES = 2**31
# JSON nesting deeper than this is refused before parsing: the format needs about ten.
MAX_DEPTH = 64
# Deflate cannot shrink data more than about 1032:1; a larger claimed ratio is a lie.
_DEFLATE_RATIO = 1032
# The most JSON text a parameter file may hold per parameter (names included).
_PARAM_TEXT = 1 << 16
# A temp file of a crashed save is removed by a later save of the same target after this.
STALE_SECONDS = 600
_USER_OPS: dict[str, type] = {}
_ARRAY_KEY = re.compile(r"a[0-9]{1,9}")
# What a malformed file can make the standard library or NumPy raise while reading it.
_READ_ERRORS = (OSError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
                OverflowError, RuntimeError, zipfile.BadZipFile, zlib.error, struct.error,
                SyntaxError)


def register_op(cls: type) -> type:
    """Allow ``Graph.load`` to rebuild nodes of a custom Op class (usable as a decorator).

    Only the attributes named in ``__props__`` are saved; loading passes them to the
    constructor (by name) when its arguments are exactly those, else sets them on a bare
    instance. Saving refuses an op holding other state it could not rebuild.

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


def registry() -> dict[str, type]:
    """The op classes a graph file may name: graphdiff's own and the registered ones.

    Examples
    --------
    >>> import graphdiff as gd
    >>> gd.io.registry()["graphdiff:Add"] is gd.ops.elementwise.Add
    True
    """
    found: dict[str, type] = {}
    seen: set[type] = set()
    stack = [Op]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                if sub.builtin:
                    found[_op_key(sub)] = sub
                stack.append(sub)
    found.update(_USER_OPS)
    return found


# ---------------------------------------------------------------- writing
def temp_prefix(path: str | os.PathLike) -> str:
    """The name prefix of the temporary files a save of ``path`` writes beside its target.

    Examples
    --------
    >>> import graphdiff as gd
    >>> gd.io.temp_prefix("/tmp/model.npz")
    '.model.npz.graphdiff-'
    """
    return "." + os.path.basename(os.path.realpath(os.fspath(path))) + ".graphdiff-"


def _remove_stale(folder: str, prefix: str) -> None:
    """Remove temp files of earlier crashed saves of this target (a recent one may be a
    concurrent save in flight, so only old ones go)."""
    cutoff = time.time() - STALE_SECONDS
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(prefix) and entry.name.endswith(".tmp"):
            try:
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
            except OSError:
                pass  # gone already, or not ours to remove


def _atomic_savez(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write to a temporary file beside the target and rename: a crash never leaves half a
    file. The target is the symlink's target when ``path`` is one; a new file gets
    0666 & ~umask like ``np.save``, an existing one keeps its mode."""
    target = os.path.realpath(os.fspath(path))
    folder = os.path.dirname(target)
    prefix = temp_prefix(target)
    _remove_stale(folder, prefix)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None
    while True:
        tmp = os.path.join(folder, prefix + secrets.token_hex(6) + ".tmp")
        try:
            # 0o666: the process umask then applies, as for open() and np.save.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------- reading
class _Archive:
    """An .npz file read member by member, each checked before it is decompressed."""

    def __init__(self, path: str | os.PathLike, budget: int | None):
        self.name = repr(os.fspath(path))
        self.budget = budget
        self._cache: dict[str, np.ndarray] = {}
        self._file = open(path, "rb")
        try:
            self._zip = zipfile.ZipFile(self._file)
        except BaseException:
            self._file.close()
            raise

    def __enter__(self) -> _Archive:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._zip.close()
        self._file.close()

    def fail(self, what: str) -> FileFormatError:
        return FileFormatError(f"{self.name}: {what}")

    def read(self, key: str, check: Callable[[tuple, np.dtype], str | None] | None = None
             ) -> np.ndarray:
        """The array of member ``key``.npy; ``check(shape, dtype)`` may refuse it (a message)
        from its header alone, before its data is decompressed."""
        if key in self._cache:
            array = self._cache[key]
            problem = check and check(array.shape, array.dtype)
            if problem:
                raise self.fail(f"member {key!r}: {problem}")
            return array
        try:
            info = self._zip.getinfo(key + ".npy")
        except KeyError:
            raise self.fail(f"lacks the member {key!r}") from None
        what = f"member {key!r}"
        if info.flag_bits & 0x1:
            raise self.fail(f"{what} is encrypted, which graphdiff files never are")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.compress_size != info.file_size:
                raise self.fail(f"{what} is stored uncompressed, yet its sizes differ "
                                f"({info.compress_size} and {info.file_size} bytes)")
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            if info.file_size > _DEFLATE_RATIO * info.compress_size + 1024:
                raise self.fail(f"{what} claims {info.file_size} bytes from "
                                f"{info.compress_size} compressed: more than deflate can do")
        else:
            raise self.fail(f"{what} uses zip compression method {info.compress_type}; only "
                            "stored and deflate members are read")
        with self._zip.open(info) as f:
            shape, fortran, dtype = self._header(f, what)
            header = f.tell()
            if dtype.hasobject:
                raise self.fail(f"{what} holds Python objects (dtype {dtype}); graphdiff "
                                "files never do, and they are never unpickled")
            if dtype.kind not in "biufc" or dtype.names is not None or dtype.subdtype:
                raise self.fail(f"{what} has the non-numeric dtype {dtype}")
            if any(type(d) is not int or d < 0 for d in shape):
                raise self.fail(f"{what} has the invalid shape {shape}")
            nbytes = math.prod(shape) * dtype.itemsize
            problem = check and check(tuple(shape), dtype)
            if problem:
                raise self.fail(f"{what}: {problem}")
            if header + nbytes != info.file_size:
                raise self.fail(f"{what} declares {info.file_size} bytes, but its header's "
                                f"shape {shape} of {dtype} needs {header + nbytes}")
            if self.budget is not None:
                if nbytes > self.budget:
                    raise self.fail(f"{what} of shape {shape} ({dtype}, {nbytes} bytes) "
                                    f"exceeds the size limit of this file ({self.budget} "
                                    "bytes left; see max_bytes)")
                self.budget -= nbytes
            raw = np.empty(nbytes, dtype=np.uint8)
            view, pos = memoryview(raw), 0
            while pos < nbytes:
                got = f.readinto(view[pos:pos + (1 << 24)])
                if not got:
                    raise self.fail(f"{what} ends after {pos} of {nbytes} bytes")
                pos += got
            if f.read(1):
                raise self.fail(f"{what} holds more bytes than its header says")
        array = raw.view(dtype)
        if fortran and len(shape) > 1:
            array = array.reshape(shape[::-1]).T
        else:
            array = array.reshape(shape)
        self._cache[key] = array
        return array

    def _header(self, f: Any, what: str) -> tuple[tuple, bool, np.dtype]:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                return np.lib.format.read_array_header_1_0(f)
            if version == (2, 0):
                return np.lib.format.read_array_header_2_0(f)
        except MemoryError:
            raise
        except Exception as exc:  # NumPy parses the header text with ast and tokenize
            raise self.fail(f"{what} has no readable .npy header: {type(exc).__name__}: "
                            f"{exc}") from exc
        raise self.fail(f"{what} is an .npy of unsupported version {version}")

    def json(self, key: str) -> Any:
        raw = self.read(key, lambda shape, dtype: None if len(shape) == 1 and dtype == np.uint8
                        else f"is not JSON text (shape {shape}, dtype {dtype})")
        text = raw.tobytes()
        depth = nesting_depth(text)
        if depth > MAX_DEPTH:
            raise self.fail(f"member {key!r} nests JSON {depth} levels deep (at most "
                            f"{MAX_DEPTH}): not a graphdiff file")
        try:
            return json.loads(text.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise self.fail(f"member {key!r} is not valid JSON: {exc}") from None


def nesting_depth(text: bytes) -> int:
    """How deep ``[`` and ``{`` nest in JSON text (outside strings), counted without parsing.

    Examples
    --------
    >>> import graphdiff as gd
    >>> gd.io.nesting_depth(b'{"a": [[1], "]]]"]}')
    3
    """
    # Strings may hold brackets: drop them first (an unterminated one stays and can only
    # make the count larger, and then json.loads would refuse the text anyway).
    bare = _STRING.sub(b"", text)
    kept = bare.translate(None, _NOT_BRACKETS)
    if not kept:
        return 0
    codes = np.frombuffer(kept, dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
# A JSON string, written as an unrolled loop: linear time even when it never ends.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


def _open(path: str | os.PathLike, budget: int | None) -> _Archive:
    try:
        return _Archive(path, budget)
    except _READ_ERRORS as exc:
        raise FileFormatError(f"{os.fspath(path)!r} is not a readable graphdiff file: "
                              f"{type(exc).__name__}: {exc}") from exc


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


def load(path: str | os.PathLike, params: Sequence[Node], max_bytes: int | None = None
         ) -> None:
    """Load values saved by ``save`` into ``params`` (in place), checking count, shapes, dtypes.

    Each array is checked against its parameter's shape and dtype before it is read, and
    nothing is written unless every one loads. The parameter list's JSON text may take at
    most 64 KiB per parameter, and at most ``max_bytes`` (default ``MAX_BYTES``).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd, tempfile, os
    >>> g = gd.Graph(); b = g.parameter(np.arange(3.0), name="b")
    >>> path = os.path.join(tempfile.mkdtemp(), "b.npz"); gd.save(path, [b])
    >>> b.value[:] = 0.0; gd.load(path, [b]); b.value
    array([0., 1., 2.])
    """
    params = list(params)
    for k, p in enumerate(params):
        if not isinstance(p, Node):
            raise TypeError(f"gd.load loads into parameter Nodes, got {type(p).__name__} "
                            f"{p!r} at position {k}")
        if p.kind != "parameter":
            raise FileFormatError(f"cannot load {os.fspath(path)!r} into {describe(p)}: it is "
                                  f"{'an' if p.kind == 'input' else 'a'} {p.kind}, not a "
                                  "parameter (loading never overwrites other nodes)")
    # The list's JSON takes about 60 bytes per parameter: a generous bound per entry.
    budget = _PARAM_TEXT * (len(params) + 1)
    with _open(path, min(budget, MAX_BYTES if max_bytes is None else max_bytes)) as archive:
        try:
            values = _load_params(archive, params)
        except FileFormatError:
            raise
        except _READ_ERRORS as exc:
            raise archive.fail(f"cannot be read: {type(exc).__name__}: {exc}") from exc
    for p, arr in zip(params, values):   # all checked first: nothing half-loaded
        np.copyto(p.value, arr, casting="same_kind")


def _load_params(archive: _Archive, params: list[Node]) -> list[np.ndarray]:
    meta = archive.json("__params__")
    if not isinstance(meta, list) or not all(isinstance(m, dict) for m in meta):
        raise archive.fail("holds no graphdiff parameter list")
    if len(meta) != len(params):
        raise archive.fail(f"holds {len(meta)} parameters, but {len(params)} were given to "
                           "load into")
    archive.budget = None  # the parameters themselves bound what is read from here on
    return [archive.read(f"p{k}", _fits(k, p, m.get("name")))
            for k, (p, m) in enumerate(zip(params, meta))]


def _fits(k: int, p: Node, saved: Any) -> Callable[[tuple, np.dtype], str | None]:
    """The header check of parameter k's member: its shape, a dtype castable to p's."""
    def check(shape: tuple, dtype: np.dtype) -> str | None:
        if shape != p.shape:
            return (f"parameter {k} ({describe(p)}) has shape {p.shape}, but the file "
                    f"holds {shape} (saved as {_clip(saved)})")
        if not np.can_cast(dtype, p.dtype, "same_kind"):
            return f"parameter {k} ({describe(p)}) is {p.dtype}, but the file holds {dtype}"
        return None
    return check


# ---------------------------------------------------------------- values
class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, a: Any) -> dict:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = np.asarray(a)
        return {"array": key}

    def value(self, v: Any, where: str) -> Any:
        """The JSON form of an op parameter or leaf value (walked with a stack: values nest)."""
        out: list = []
        todo: list = [("visit", v)]
        while todo:
            action, item = todo.pop()
            if action == "build":
                tag, n = item
                start = len(out) - n
                parts = out[start:]
                del out[start:]
                out.append({tag: parts})
            elif isinstance(item, (tuple, list, slice)):
                parts = (item.start, item.stop, item.step) if isinstance(item, slice) else item
                tag = type(item).__name__
                todo.append(("build", (tag, len(parts))))
                todo.extend(("visit", x) for x in reversed(parts))
            else:
                out.append(self.leaf(item, where))
        return out[0]

    def leaf(self, v: Any, where: str) -> Any:
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
        if v is Ellipsis:
            return {"ellipsis": True}
        raise GraphdiffError(f"cannot save {where}: a value of type {type(v).__name__}")


def _decode(v: Any, array: Callable[[str], np.ndarray]) -> Any:
    """The value a JSON record describes; only the forms ``_Encoder`` writes are accepted."""
    out: list = []
    todo: list = [("visit", v)]
    while todo:
        action, item = todo.pop()
        if action == "build":
            tag, n = item
            start = len(out) - n
            parts = out[start:]
            del out[start:]
            if tag == "scalar":
                if not isinstance(parts[0], np.ndarray) or parts[0].shape != ():
                    raise ValueError("a scalar record must name a 0-d array")
                out.append(parts[0][()])
            elif tag == "slice":
                if not all(p is None or type(p) is int for p in parts):
                    raise ValueError(f"a slice holds integers or None, got {parts!r}")
                out.append(slice(*parts))
            else:
                out.append(tuple(parts) if tag == "tuple" else parts)
            continue
        if item is None or type(item) in (bool, int, float, str):
            out.append(item)
            continue
        if not isinstance(item, dict) or len(item) != 1:
            raise ValueError(f"unknown value record {_clip(item)}")
        ((tag, body),) = item.items()
        if tag in ("tuple", "list", "slice"):
            if not isinstance(body, list) or (tag == "slice" and len(body) != 3):
                raise ValueError(f"malformed {tag} record {_clip(item)}")
            todo.append(("build", (tag, len(body))))
            todo.extend(("visit", x) for x in reversed(body))
        elif tag == "scalar":
            todo.append(("build", (tag, 1)))
            todo.append(("visit", body))
        elif tag == "array":
            if not isinstance(body, str) or not _ARRAY_KEY.fullmatch(body):
                raise ValueError(f"an array record names a member a<number>, got {_clip(body)}")
            out.append(array(body))
        elif tag == "float" and isinstance(body, str):
            out.append(float(body))
        elif tag == "dtype" and isinstance(body, str):
            out.append(_numeric_dtype(body))
        elif tag == "ellipsis" and body is True:
            out.append(Ellipsis)
        else:
            raise ValueError(f"unknown value record {_clip(item)}")
    return out[0]


def _clip(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _numeric_dtype(text: Any) -> np.dtype:
    if not isinstance(text, str):
        raise ValueError(f"a dtype is a string, got {_clip(text)}")
    try:
        dtype = np.dtype(text)
    except TypeError as exc:
        raise ValueError(f"unknown dtype {text!r}") from exc
    if dtype.kind not in "biufc" or dtype.names is not None or dtype.subdtype:
        raise FileFormatError(f"non-numeric dtype {text!r} in graph file")
    return dtype


def _tokens(v: Any) -> list:
    """A flat, comparable form of a value (arrays by content, floats by repr)."""
    out, todo = [], [v]
    while todo:
        x = todo.pop()
        if isinstance(x, (tuple, list)):
            out.append((type(x).__name__, len(x)))
            todo.extend(reversed(x))
        elif isinstance(x, slice):
            out.append("slice")
            todo.extend((x.step, x.stop, x.start))
        elif isinstance(x, (np.ndarray, np.generic)):
            out.append(("array", x.shape, x.dtype.str, x.tobytes()))
        else:
            out.append((type(x).__name__, repr(x)))
    return out


# ---------------------------------------------------------------- ops
_MISSING = object()


def _build_op(cls: type, props: dict[str, Any]) -> Op:
    """An op of ``cls`` with parameters ``props``: through the constructor when its
    arguments are exactly parameters, else a bare instance with only the parameters set."""
    try:
        signature = inspect.signature(cls)
        arguments = list(signature.parameters.values())
    except (TypeError, ValueError):
        arguments = None
    usable = arguments is not None and all(
        a.kind in (a.POSITIONAL_OR_KEYWORD, a.KEYWORD_ONLY)
        and (a.name in props or a.default is not a.empty) for a in arguments)
    if usable:
        names = {a.name for a in arguments}
        op = cls(**{k: v for k, v in props.items() if k in names})
        rest = {k: v for k, v in props.items() if k not in names}
    else:
        op = cls.__new__(cls)
        rest = props
    for k, v in rest.items():
        setattr(op, k, v)
    return op


def _op_state(op: Op, where: str) -> dict[str, Any]:
    """What a file must hold to rebuild ``op``: its declared parameters, plus attributes its
    constructor leaves as None to be set later (a mask's dtype). Anything else must be
    what the constructor derives, or the op cannot be saved faithfully."""
    cls = type(op)
    state = {p: getattr(op, p) for p in cls.__props__ or ()}
    try:
        fresh = _build_op(cls, state)
    except Exception as exc:
        raise GraphdiffError(f"cannot save {where}: {cls.__name__} cannot be rebuilt from its "
                             f"__props__ {tuple(state)}: {type(exc).__name__}: {exc}") from exc
    for name, v in vars(op).items():
        if name in state:
            continue
        rebuilt = getattr(fresh, name, _MISSING)
        if rebuilt is None and v is not None:
            state[name] = v
        elif rebuilt is _MISSING or _tokens(rebuilt) != _tokens(v):
            raise GraphdiffError(f"cannot save {where}: attribute {name!r} of {cls.__name__} is "
                                 "not declared in __props__, so loading could not rebuild it")
    return state


def _load_op(cls: type, state: Any, arrays: Callable[[str], np.ndarray]) -> Op:
    if not isinstance(state, dict):
        raise ValueError(f"op state must be a record, got {_clip(state)}")
    props = cls.__props__ or ()
    missing = [p for p in props if p not in state]
    if missing:
        raise ValueError(f"the state of {cls.__name__} lacks its parameters {missing}")
    values = {k: _decode(v, arrays) for k, v in state.items()}
    op = _build_op(cls, {p: values[p] for p in props})
    for name, v in values.items():
        if name in props:
            continue
        rebuilt = getattr(op, name, _MISSING)
        if rebuilt is None:
            setattr(op, name, v)  # a placeholder the constructor leaves (a mask's dtype)
        elif rebuilt is _MISSING:
            raise ValueError(f"{cls.__name__} has no parameter {name!r} (its parameters: "
                             f"{tuple(props)})")
        elif _tokens(rebuilt) != _tokens(v):
            # Earlier versions saved derived attributes too: one that agrees is harmless.
            raise ValueError(f"{cls.__name__}'s {name!r} is derived from its parameters "
                             f"({_clip(rebuilt)}), but the file says {_clip(v)}")
    return op


# ---------------------------------------------------------------- graphs
def save_graph(graph: Graph, path: str | os.PathLike) -> None:
    """Write every node of ``graph`` (gradient nodes too) as JSON plus arrays, atomically.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd, tempfile, os
    >>> g = gd.Graph(); x = g.input("x", shape=(2,)); y = gd.exp(x)
    >>> path = os.path.join(tempfile.mkdtemp(), "g.npz"); gd.io.save_graph(g, path)
    >>> len(gd.io.load_graph(path).nodes)
    2
    """
    enc = _Encoder()
    nodes = graph.nodes
    index = {id(n): k for k, n in enumerate(nodes)}
    known = registry()
    records = []
    for n in nodes:
        where = f"node {describe(n)}"
        rec: dict[str, Any] = {
            "kind": n.kind, "name": n.name,
            "shape": None if n.shape is None else list(n.shape),
            "dtype": None if n.dtype is None else n.dtype.str,
            "inputs": [index[id(i)] for i in n.inputs],
            "grad_of": None if n.grad_of is None else index.get(id(n.grad_of)),
        }
        if n.made_by == "tangent":
            rec["made_by"] = "tangent"
        if n.kind in ("parameter", "constant"):
            rec["value"] = enc.value(n.value, where)
        if n.op is not None:
            key = _op_key(type(n.op))
            if key not in known:
                raise GraphdiffError(f"cannot save {where}: op {type(n.op).__name__} is not "
                                     "registered (gd.register_op) and could not be loaded")
            rec["op"] = {"type": key, "state": {k: enc.value(v, where)
                                                for k, v in _op_state(n.op, where).items()}}
        records.append(rec)
    doc = json.dumps({"format": FORMAT, "nodes": records})
    enc.arrays["__graph__"] = np.frombuffer(doc.encode(), dtype=np.uint8)
    _atomic_savez(path, enc.arrays)


def load_graph(path: str | os.PathLike, max_bytes: int | None = None) -> Graph:
    """Rebuild a graph saved by ``Graph.save``, checking op names, inputs and shapes.

    ``max_bytes`` (default ``MAX_BYTES``, 2**31) bounds the bytes of the file's arrays.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd, tempfile, os
    >>> g = gd.Graph(); W = g.parameter(np.ones(3), name="W")
    >>> path = os.path.join(tempfile.mkdtemp(), "g.npz"); g.save(path)
    >>> gd.io.load_graph(path, max_bytes=1000).find("W").shape
    (3,)
    """
    with _open(path, MAX_BYTES if max_bytes is None else max_bytes) as archive:
        try:
            return _load_graph(archive)
        except FileFormatError:
            raise
        except _READ_ERRORS as exc:
            raise archive.fail(f"cannot be read: {type(exc).__name__}: {exc}") from exc


def _load_graph(archive: _Archive) -> Graph:
    doc = archive.json("__graph__")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise archive.fail(f"is not a graphdiff graph file (format {_clip(found)})")
    records = doc.get("nodes")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise archive.fail("is not a graphdiff graph file: 'nodes' must be a list of records")
    known = registry()
    g = Graph()
    nodes: list[Node] = []
    for k, rec in enumerate(records):
        try:
            nodes.append(_load_node(g, k, rec, nodes, archive, known))
        except FileFormatError as exc:
            if str(exc).startswith(archive.name):
                raise
            raise archive.fail(f"node {k}: {exc}") from exc
        except MemoryError:
            raise
        except Exception as exc:  # op constructors and rules: anything the file makes fail
            raise archive.fail(f"node {k} is corrupt: {type(exc).__name__}: {exc}") from exc
    for k, (n, rec) in enumerate(zip(nodes, records)):
        source = rec.get("grad_of")
        if source is not None:
            if type(source) is not int or not 0 <= source < len(nodes):
                raise archive.fail(f"node {k} names grad_of {_clip(source)}, which is not a "
                                   "node of the file")
            n.grad_of = nodes[source]
            made_by = rec.get("made_by", "gradient")
            if made_by not in ("gradient", "tangent"):
                raise archive.fail(f"node {k} says it was made by {_clip(made_by)}, not by "
                                   "'gradient' or 'tangent'")
            n.made_by = made_by
    return g


def _shape(value: Any, known: bool) -> tuple | None:
    """A record's shape: None or a list of sizes (None entries only where ``not known``)."""
    if value is None and not known:
        return None
    if not isinstance(value, list):
        raise ValueError(f"a shape is a list of sizes, got {_clip(value)}")
    for d in value:
        if not (d is None and not known) and not (type(d) is int and 0 <= d < 2**62):
            raise ValueError(f"invalid size {_clip(d)} in shape {_clip(value)}")
    return tuple(value)


def _load_node(g: Graph, k: int, rec: dict, nodes: list[Node], archive: _Archive,
               known: dict[str, type]) -> Node:
    kind, name, inputs = rec["kind"], rec["name"], rec["inputs"]
    if name is not None and not isinstance(name, str):
        raise ValueError(f"a node name is a string, got {_clip(name)}")
    if not isinstance(inputs, list) or (kind != "op" and inputs):
        raise ValueError(f"inputs {_clip(inputs)} for a node of kind {_clip(kind)}")
    dtype = None if rec["dtype"] is None else _numeric_dtype(rec["dtype"])
    if kind == "input":
        if dtype is None:
            raise ValueError("an input has a dtype")
        node = g.input(name, shape=_shape(rec["shape"], known=False), dtype=dtype)
    elif kind in ("parameter", "constant"):
        shape = _shape(rec["shape"], known=True)
        size = math.prod(shape) * (1 if dtype is None else dtype.itemsize)

        def array(key: str) -> np.ndarray:
            # A leaf's own array must have the record's shape and dtype: checked first.
            def check(s, d):
                if rec["value"] == {"array": key} and (s != shape or d != dtype):
                    return (f"node {k} ({name!r}) declares shape {shape} of {dtype}, but its "
                            f"array has shape {s} of {d}")
                return None
            return archive.read(key, check)

        if archive.budget is not None and size > archive.budget:
            raise archive.fail(f"node {k} ({name!r}) declares shape {shape} ({size} bytes), "
                               "beyond the size limit (max_bytes)")
        value = _decode(rec["value"], array)
        node = g.parameter(value, name=name) if kind == "parameter" else g.constant(value, name)
        if node.shape != shape or node.dtype != dtype:
            raise FileFormatError(f"node {k} ({name!r}) declares shape {shape} and dtype "
                                  f"{dtype} but its value has shape {node.shape} and dtype "
                                  f"{node.dtype}")
        if kind == "constant" and not node.weak and node.dtype.kind in "biufc":
            # Derived from the value, never read from the file: bprops skip `grad * 1`.
            node.ones = bool(np.all(node.value == 1))
    elif kind == "op":
        spec = rec["op"]
        if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
            raise ValueError(f"an op record names its type, got {_clip(spec)}")
        cls = known.get(spec["type"])
        if cls is None:
            raise FileFormatError(f"node {k} uses op {spec['type']!r}, which is not a graphdiff "
                                  "op nor registered with gd.register_op")
        op = _load_op(cls, spec.get("state"), lambda key: archive.read(key))
        if any(type(i) is not int or not 0 <= i < k
                                                for i in inputs):
            raise FileFormatError(f"node {k} names inputs {_clip(inputs)} that do not precede "
                                  "it")
        shape = _shape(rec["shape"], known=False)
        node = make_node(op, *(nodes[i] for i in inputs), name=name)
        if node.shape != shape or node.dtype != dtype:
            raise FileFormatError(f"node {k} ({op.label()}) infers shape {node.shape} and dtype "
                                  f"{node.dtype} from its inputs, but the file says {shape}, "
                                  f"{dtype}")
    else:
        raise FileFormatError(f"node {k} has unknown kind {_clip(kind)}")
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
