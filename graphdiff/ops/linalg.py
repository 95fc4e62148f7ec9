"""Matrix product with NumPy's matmul rules (1-D operands, broadcast batch dimensions)."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..errors import GradError, GraphError
from ..graph import describe_full
from ..op import Op, size_of
from ..shapes import broadcast, result_dtype


class MatMul(Op):
    """d(A @ B) = dA @ B + A @ dB: the gradient is G @ B^T for A and A^T @ G for B."""

    __props__ = ()

    def forward(self, a, b):
        return np.matmul(a, b)

    def flops(self, input_shapes, output_shape):
        a = input_shapes[0]
        return 2 * size_of(output_shape) * (a[-1] if a else 1)

    def infer(self, a, b):
        dtype = result_dtype(a, b)
        if a.shape is None or b.shape is None:
            return None, dtype
        if len(a.shape) == 0 or len(b.shape) == 0:
            raise GraphError(f"matmul: operands must not be scalars, got shapes {a.shape} and "
                             f"{b.shape} ({describe_full(a)} and {describe_full(b)})")
        k_a = a.shape[-1]
        k_b = b.shape[0] if len(b.shape) == 1 else b.shape[-2]
        if k_a is not None and k_b is not None and k_a != k_b:
            raise GraphError(f"matmul: shapes {a.shape} and {b.shape} do not align "
                             f"({k_a} != {k_b}): {describe_full(a)} @ {describe_full(b)}")
        batch_a, batch_b = a.shape[:-2], b.shape[:-2]
        probe = [_Shaped(batch_a, a), _Shaped(batch_b, b)]
        batch = broadcast("matmul", *probe)
        rows = (a.shape[-2],) if len(a.shape) >= 2 else ()
        cols = (b.shape[-1],) if len(b.shape) >= 2 else ()
        return batch + rows + cols, dtype

    def vjp(self, i, inputs, output, grad):
        a, b = inputs
        if a.shape is None or b.shape is None:
            raise GradError(f"the gradient of matmul needs operands of known rank: "
                            f"{describe_full(a)} @ {describe_full(b)}")
        if len(a.shape) == 1 and len(b.shape) == 1:
            return F.multiply(grad, b if i == 0 else a)
        if i == 0:
            if len(b.shape) == 1:                    # (..., n, k) @ (k,)
                term = F.multiply(F.expand_dims(grad, (-1,)), b)
            elif len(a.shape) == 1:                  # (k,) @ (..., k, m)
                term = F.matmul(b, F.expand_dims(grad, (-1,)))
                term = F.squeeze(term, (-1,))
            else:
                term = F.matmul(grad, F.swap_last(b))
            target = a
        else:
            if len(a.shape) == 1:                    # (k,) @ (..., k, m)
                term = F.multiply(F.expand_dims(a, (-1,)), F.expand_dims(grad, (-2,)))
            elif len(b.shape) == 1:                  # (..., n, k) @ (k,)
                if len(a.shape) == 2:
                    term = F.matmul(F.swap_last(a), grad)
                else:                                # a batch of matrix-vector products
                    term = F.matmul(F.swap_last(a), F.expand_dims(grad, (-1,)))
                    term = F.squeeze(term, (-1,))
            else:
                term = F.matmul(F.swap_last(a), grad)
            target = b
        if term.shape is not None and term.shape == target.shape and None not in target.shape:
            return term
        if term.shape is not None and len(term.shape) == len(target.shape) <= 2:
            return term                              # no batch dimensions to undo
        return F.sum_to(term, target)


class _Shaped:
    """A stand-in carrying a shape, so broadcast() can check batch dimensions."""

    weak = False

    def __init__(self, shape, node):
        self.shape = shape
        self.node = node

    def __repr__(self):
        return repr(self.node)
