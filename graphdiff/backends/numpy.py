"""NumPy arrays: the reference backend, and the one every fast path tests for first."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Backend


class NumpyBackend(Backend):
    """NumPy: in-place scatter-adds (``np.add.at``) and writes into zeros.

    Examples
    --------
    >>> import numpy as np
    >>> from graphdiff.backends.numpy import NumpyBackend
    >>> NumpyBackend().owned_copy(np.ones(2)).flags.owndata
    True
    """

    name = "numpy"

    def asarray(self, value: Any) -> Any:
        return np.asarray(value)

    def asarray_like(self, value: Any, dtype: Any = None) -> Any:
        return np.asarray(value, dtype=dtype)

    def adopt(self, x: Any) -> Any:
        return x

    def owned_copy(self, value: Any) -> Any:
        # np.array also turns NumPy scalars into 0-d arrays, as results are.
        return np.array(value)

    def scatter_add(self, g: Any, ref: Any, key: tuple, basic: bool) -> Any:
        out = np.zeros(ref.shape, dtype=g.dtype)
        if basic:
            out[key] = g         # basic indices never repeat an element
        else:
            np.add.at(out, key, g)
        return out

    def slice_into(self, x: Any, ref: Any, axis: int, start: int) -> Any:
        axis = axis % len(ref.shape)
        out = np.zeros(ref.shape, dtype=x.dtype)
        out[(slice(None),) * axis + (slice(start, start + x.shape[axis]),)] = x
        return out
