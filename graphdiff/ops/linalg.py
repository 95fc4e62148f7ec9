"""Matrix product with NumPy's matmul rules (1-D operands, broadcast batch dimensions),
and ``gd.matmul``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import GradError, GraphError
from ..graph import Node, consumers_of, describe_full
from ..op import Op, add_n, make_node, size_of, wrap
from ..shapes import broadcast, result_dtype
from .elementwise import multiply
from .shape import Transpose, expand_dims, squeeze, swap_last

ArrayLike = Any


class MatMul(Op):
    """d(A @ B) = dA @ B + A @ dB: the gradient is G @ B^T for A and A^T @ G for B."""

    __props__ = ()
    infix = "@"

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
            return multiply(grad, b if i == 0 else a)
        if i == 0:
            if len(b.shape) == 1:                    # (..., n, k) @ (k,)
                term = multiply(expand_dims(grad, (-1,)), b)
            elif len(a.shape) == 1:                  # (k,) @ (..., k, m)
                term = matmul(b, expand_dims(grad, (-1,)))
                term = squeeze(term, (-1,))
            else:
                term = matmul(grad, swap_last(b))
        else:
            if len(a.shape) == 1:                    # (k,) @ (..., k, m)
                term = multiply(expand_dims(a, (-1,)), expand_dims(grad, (-2,)))
            elif len(b.shape) == 1:                  # (..., n, k) @ (k,)
                if len(a.shape) == 2:
                    term = matmul(swap_last(a), grad)
                else:                                # a batch of matrix-vector products
                    term = matmul(swap_last(a), expand_dims(grad, (-1,)))
                    term = squeeze(term, (-1,))
            else:
                term = matmul(swap_last(a), grad)
        return term

    def jvp(self, inputs, tangents, output):
        a, b = inputs
        ta, tb = tangents
        terms = [matmul(ta, b)] if ta is not None else []
        if tb is not None:
            terms.append(matmul(a, tb))
        return add_n(terms)

    def broadcasts(self, inputs):
        # Batch dimensions broadcast; products of vectors and matrices never do.
        return any(x.shape is None or len(x.shape) > 2 for x in inputs)

    def transposed(self, node):
        """(A @ B).T as B.T @ A.T when A @ B is a fresh gradient node nothing else uses yet:
        the product then comes out in the wanted layout instead of as a strided view that
        later elementwise ops (AddN of Hessian-vector products) read slowly."""
        a, b = node.inputs
        if node.grad_of is not None and not consumers_of(node) and a.ndim == 2 == b.ndim:
            return matmul(make_node(Transpose(None), b), make_node(Transpose(None), a))
        return None


class _Shaped:
    """A stand-in carrying a shape, so broadcast() can check batch dimensions."""

    weak = False

    def __init__(self, shape, node):
        self.shape = shape
        self.node = node

    def __repr__(self):
        return repr(self.node)


def matmul(a: ArrayLike, b: ArrayLike) -> Node:
    """Matrix product with NumPy's rules (1-D operands, broadcast batch dimensions).

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(None, 3))
    >>> W = g.parameter(np.ones((3, 2)), name="W")
    >>> (x @ W).shape
    (None, 2)
    """
    return make_node(_MATMUL, *wrap("matmul", a, b))


_MATMUL = MatMul()
