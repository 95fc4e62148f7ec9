"""Array libraries: a small protocol, one file per library, and a registry.

Most ops call NumPy functions that dispatch through ``__array_ufunc__`` and
``__array_function__``, so Dask arrays stay lazy Dask arrays and CuPy arrays stay on the
GPU. A backend covers what does not dispatch (scatter-adds with repeated indices, writing
into zeros, fancy indexing that Dask lacks) and what the runtime must ask of an array
library: an array the caller owns (``owned_copy``), whether NumPy's fast paths apply
(``is_plain``), and how to move NumPy leaves into the library (``asarray``).

``backend_of(x)`` tries ``type(x) is np.ndarray`` first, so the NumPy path costs one type
check. Adding a library is one file defining a :class:`Backend` subclass and one line
in ``_REGISTRY`` below (or a call to :func:`register` from outside the package).
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np

from .base import Backend
from .cupy import CupyBackend
from .dask import DaskBackend
from .numpy import NumpyBackend

__all__ = ["Backend", "backend_of", "register", "unregister", "library", "namespace",
           "dtype_of", "asarray_like", "index", "scatter_add", "slice_into", "reshape",
           "take_labels", "onehot", "move_leaves", "on_leaves_moved"]

NUMPY = NumpyBackend()
# Any other type: NumPy's functions, reached through the array's dispatch protocols.
_GENERIC = Backend()

# Top-level module of the array type -> its backend.
_REGISTRY: dict[str, Backend] = {
    "numpy": NUMPY,
    "dask": DaskBackend(),
    "cupy": CupyBackend(),
}


def backend_of(x: Any) -> Backend:
    """The backend for array ``x`` (NumPy's for NumPy arrays and Python or NumPy scalars).

    Examples
    --------
    >>> import numpy as np
    >>> from graphdiff.backends import backend_of
    >>> backend_of(np.zeros(2)).name
    'numpy'
    """
    if type(x) is np.ndarray:
        return NUMPY
    backend = _REGISTRY.get(type(x).__module__.partition(".")[0])
    if backend is not None:
        return backend
    if isinstance(x, (np.ndarray, np.generic, int, float, complex, bool)):
        return NUMPY
    return _GENERIC


def register(module: str, backend: Backend) -> None:
    """Use ``backend`` for arrays whose type is defined in top-level module ``module``.

    Examples
    --------
    >>> from graphdiff import backends
    >>> class Mine(backends.Backend):
    ...     name = "mine"
    >>> backends.register("mine", Mine())
    >>> backends.unregister("mine")
    """
    if module == "numpy":
        raise ValueError("the NumPy backend cannot be replaced")
    _REGISTRY[module] = backend


def unregister(module: str) -> None:
    """Forget the backend registered for ``module`` (see :func:`register`)."""
    if module != "numpy":
        _REGISTRY.pop(module, None)


def library(x: Any) -> str:
    """``"numpy"``, ``"dask"``, ``"cupy"`` or the top-level module of another array type.

    Examples
    --------
    >>> import numpy as np
    >>> from graphdiff.backends import library
    >>> library(np.ones(2)), library(3.0)
    ('numpy', 'numpy')
    """
    if type(x) is np.ndarray or isinstance(x, (np.generic, int, float, complex, bool)):
        return "numpy"
    return type(x).__module__.partition(".")[0]


def namespace(x: Any) -> Any:
    """The array module of ``x``: numpy, dask.array or cupy (numpy for anything else).

    Examples
    --------
    >>> import numpy as np
    >>> from graphdiff.backends import namespace
    >>> namespace(np.ones(2)) is np
    True
    """
    return backend_of(x).namespace


def dtype_of(x: Any) -> Any:
    """What ``np.result_type`` should see for ``x``: a foreign array's dtype (passing the
    array itself would make NumPy convert it), Python scalars as they are (weak).

    Examples
    --------
    >>> import numpy as np
    >>> from graphdiff.backends import dtype_of
    >>> dtype_of(2.0)
    2.0
    """
    return x if library(x) == "numpy" else x.dtype


def asarray_like(like: Any, value: Any, dtype: Any = None) -> Any:
    """``value`` as an array of ``like``'s library (a NumPy array when ``like`` is one).

    Examples
    --------
    >>> import numpy as np
    >>> from graphdiff.backends import asarray_like
    >>> asarray_like(np.ones(2), 3, "float32")
    array(3., dtype=float32)
    """
    if type(like) is np.ndarray:
        return np.asarray(value, dtype=dtype)
    return backend_of(like).asarray_like(value, dtype)


def index(x: Any, key: tuple) -> Any:
    """``x[key]``; Dask's missing nd fancy indexing goes through flat positions.

    Examples
    --------
    >>> import numpy as np
    >>> from graphdiff.backends import index
    >>> index(np.arange(4), (np.array([3, 0]),))
    array([3, 0])
    """
    if type(x) is np.ndarray:
        return x[key]
    return backend_of(x).index(x, key)


def _result_backend(x: Any, ref: Any) -> Backend:
    """The library of a result built from ``x`` into the shape of ``ref``: ref's when it is
    not NumPy's (a gradient of Dask data stays Dask even where it holds no data), else x's."""
    backend = backend_of(ref)
    return backend_of(x) if backend is NUMPY else backend


def scatter_add(g: Any, ref: Any, key: tuple, basic: bool) -> Any:
    """Zeros of ``ref``'s shape and ``g``'s dtype with ``g`` added at ``ref[key]``;
    repeated indices add up (``np.add.at``).

    Examples
    --------
    >>> import numpy as np
    >>> from graphdiff.backends import scatter_add
    >>> scatter_add(np.ones(3), np.zeros(2), (np.array([0, 0, 1]),), basic=False)
    array([2., 1.])
    """
    backend = _result_backend(g, ref)
    return backend.scatter_add(backend.adopt(g), ref, key, basic)


def slice_into(x: Any, ref: Any, axis: int, start: int) -> Any:
    """Zeros of ``ref``'s shape with ``x`` written at ``[start:start + len]`` along ``axis``.

    Examples
    --------
    >>> import numpy as np
    >>> from graphdiff.backends import slice_into
    >>> slice_into(np.ones(2), np.zeros(4), axis=0, start=1)
    array([0., 1., 1., 0.])
    """
    backend = _result_backend(x, ref)
    return backend.slice_into(backend.adopt(x), ref, axis, start)


def broadcast_like(x: Any, ref: Any) -> Any:
    """``np.broadcast_to(x, ref.shape)``, chunked as ``ref`` is when ref is a Dask array:
    the broadcast gradient of a mean over a chunked batch must not be one batch-sized task.

    Examples
    --------
    >>> import numpy as np
    >>> from graphdiff.backends import broadcast_like
    >>> broadcast_like(np.float64(2.0), np.zeros(3))
    array([2., 2., 2.])
    """
    if type(ref) is np.ndarray or not hasattr(ref, "chunks"):
        return np.broadcast_to(x, ref.shape)
    return backend_of(ref).broadcast_like(x, ref)


def reshape(x: Any, shape: tuple) -> Any:
    """``x.reshape(shape)``; Dask refuses reshapes that split a dimension unevenly across
    chunks, so those go through a flat 1-D array (still lazy, still chunked).

    Examples
    --------
    >>> import numpy as np
    >>> from graphdiff.backends import reshape
    >>> reshape(np.arange(4), (2, 2)).shape
    (2, 2)
    """
    if type(x) is np.ndarray:
        return x.reshape(shape)
    if isinstance(x, (int, float, complex, bool, np.generic)):   # a Python-scalar constant
        return np.reshape(x, shape)
    return backend_of(x).reshape(x, shape)


def take_labels(logp: Any, labels: Any) -> Any:
    """``logp[..., labels]`` row by row (``take_along_axis``, which Dask lacks).

    Examples
    --------
    >>> import numpy as np
    >>> from graphdiff.backends import take_labels
    >>> take_labels(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1, 0]))
    array([2., 3.])
    """
    if type(logp) is np.ndarray:
        return np.take_along_axis(logp, np.expand_dims(labels, -1), axis=-1)[..., 0]
    hit = onehot(logp, labels)
    return np.sum(np.where(hit, logp, 0), axis=-1)


def onehot(like: Any, labels: Any) -> Any:
    """Booleans ``labels[..., None] == arange(like.shape[-1])`` in ``like``'s library.

    Examples
    --------
    >>> import numpy as np
    >>> from graphdiff.backends import onehot
    >>> onehot(np.zeros((1, 3)), np.array([2]))
    array([[False, False,  True]])
    """
    xp = namespace(like) if library(like) != "numpy" else namespace(labels)
    return np.expand_dims(labels, -1) == xp.arange(like.shape[-1])


_listeners: list[Callable[[Any], None]] = []
_listeners_lock = threading.Lock()


def on_leaves_moved(callback: Callable[[Any], None]) -> None:
    """Call ``callback(graph)`` after :func:`move_leaves` has moved a graph's leaves.

    The runtime registers the function that drops a graph's cached schedules here (they
    hold the old constant arrays); backends sit below the runtime and cannot import it.

    Examples
    --------
    >>> from graphdiff import backends
    >>> backends.on_leaves_moved(lambda graph: None)
    """
    with _listeners_lock:
        if callback not in _listeners:
            _listeners.append(callback)


def move_leaves(graph: Any, asarray: Any) -> None:
    """Move every parameter and array constant of ``graph`` with ``asarray``
    (``cupy.asarray``: onto the GPU), so that no NumPy array meets a CuPy one.

    CuPy refuses NumPy operands, even 0-d ones such as a gradient's seed, so a graph fed
    CuPy arrays needs its leaves on the device too. ``g.run`` and ``g.function`` do this
    themselves the first time they are fed such arrays; call it to move leaves earlier.
    Cached schedules are dropped. Python-scalar constants stay Python scalars (weakly typed).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> from graphdiff.backends import move_leaves
    >>> g = gd.Graph(); W = g.parameter(np.ones(2), name="W")
    >>> move_leaves(g, lambda a: a * 2)   # cupy.asarray in practice; dtypes are kept
    >>> W.value
    array([2., 2.])
    """
    for node in graph.nodes:
        if node.op is not None or not isinstance(node.stored, (np.ndarray, np.generic)):
            continue
        if node.kind == "parameter":
            node.value = asarray(node.stored)
        elif node.kind == "constant":
            node.replace_array(asarray(node.stored))
    with _listeners_lock:
        listeners = list(_listeners)
    for callback in listeners:
        callback(graph)
