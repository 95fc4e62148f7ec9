"""The backend protocol: what graphdiff asks of an array library.

The defaults suit any array type that dispatches NumPy's functions
(``__array_ufunc__``/``__array_function__``): they call NumPy's functions and the array's
own methods, never convert to NumPy. A library overrides what it does differently.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import GraphdiffError


class Backend:
    """One array library as graphdiff sees it.

    Attributes
    ----------
    name : str
        The library's name in messages.
    mixes_with_numpy : bool
        True when the library's arrays combine with NumPy operands (Dask does); when False
        (CuPy), the runtime moves a graph's NumPy parameters and constants into the library
        the first time it is fed the library's arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from graphdiff.backends import Backend
    >>> Backend().reshape(np.arange(4), (2, 2)).shape
    (2, 2)
    """

    name = "generic"
    mixes_with_numpy = True

    @property
    def namespace(self) -> Any:
        """The library's array module (``numpy``, ``dask.array``, ``cupy``)."""
        return np

    def is_plain(self, x: Any) -> bool:
        """True when ``x`` is a plain NumPy array, where in-place kernels (``out=``) apply."""
        return type(x) is np.ndarray

    def asarray(self, value: Any) -> Any:
        """``value`` (typically a NumPy array) as an array of this library."""
        return self.namespace.asarray(value)

    def asarray_like(self, value: Any, dtype: Any = None) -> Any:
        """A (host) value such as a count or a scalar as an array of this library."""
        return self.asarray(np.asarray(value, dtype=dtype))

    def adopt(self, x: Any) -> Any:
        """``x`` as this library's array: NumPy arrays are moved, the rest pass."""
        if type(x) is np.ndarray and self.namespace is not np:
            return self.asarray(x)
        return x

    def owned_copy(self, value: Any) -> Any:
        """An array equal to ``value`` that no one else holds (the caller may write it)."""
        return value.copy()

    def index(self, x: Any, key: tuple) -> Any:
        """``x[key]``."""
        return x[key]

    def scatter_add(self, g: Any, ref: Any, key: tuple, basic: bool) -> Any:
        """Zeros of ``ref``'s shape and ``g``'s dtype with ``g`` added at ``ref[key]``."""
        raise GraphdiffError(f"IndexGrad (the gradient of indexing) has no scatter-add for "
                             f"{type(g).__module__}.{type(g).__name__} arrays")

    def slice_into(self, x: Any, ref: Any, axis: int, start: int) -> Any:
        """Zeros of ``ref``'s shape with ``x`` at ``[start:start + len]`` along ``axis``."""
        ndim = len(ref.shape)
        axis = axis % ndim
        widths = [(0, 0)] * ndim
        widths[axis] = (start, ref.shape[axis] - start - x.shape[axis])
        # np.pad dispatches (to dask.array.pad, cupy.pad).
        return np.pad(x, widths)

    def broadcast_like(self, x: Any, ref: Any) -> Any:
        """``np.broadcast_to(x, ref.shape)`` (chunked libraries follow ref's chunks)."""
        return np.broadcast_to(x, ref.shape)

    def reshape(self, x: Any, shape: tuple) -> Any:
        """``x.reshape(shape)``."""
        return x.reshape(shape)

    def __repr__(self) -> str:
        return f"<{self.name} backend>"
