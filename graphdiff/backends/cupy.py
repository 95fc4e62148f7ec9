"""CuPy arrays (NVIDIA GPUs). CuPy refuses NumPy operands, so keys move to the device and
a graph's NumPy leaves are moved there before it runs (``mixes_with_numpy = False``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Backend


class CupyBackend(Backend):
    """CuPy: scatter-adds through ``cupyx.scatter_add``, integer keys on the device.

    Examples
    --------
    >>> from graphdiff.backends.cupy import CupyBackend
    >>> CupyBackend().mixes_with_numpy
    False
    """

    name = "cupy"
    mixes_with_numpy = False

    @property
    def namespace(self) -> Any:
        import cupy

        return cupy

    def _device_key(self, key: tuple) -> tuple:
        """CuPy indexes with CuPy arrays: move a key's integer arrays to the device."""
        import cupy

        return tuple(cupy.asarray(k) if isinstance(k, np.ndarray) else k for k in key)

    def index(self, x: Any, key: tuple) -> Any:
        return x[self._device_key(key)]

    def scatter_add(self, g: Any, ref: Any, key: tuple, basic: bool) -> Any:
        import cupy
        import cupyx

        out = cupy.zeros(ref.shape, dtype=g.dtype)
        key = self._device_key(key)
        if basic:
            out[key] = g
        else:
            cupyx.scatter_add(out, key, g)
        return out
