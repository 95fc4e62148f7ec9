"""Convolution and pooling over the last two axes (N, C, H, W), with their gradients as ops.

A convolution is linear in its input and in its filter, so its two gradients are the
transposes of those linear maps, and each of them is again bilinear:

- ``Conv2d(x, w)``: y = x * w, im2col (copied from a strided view) then a GEMM;
- ``ConvInputGrad(g, w, x)``: dx = the transposed convolution of g with w (a GEMM, then
  col2im: one strided add per kernel offset, or one run per channel at stride 1);
- ``ConvFilterGrad(x, g, w)``: dw = x's windows contracted with g (a GEMM).

Each kernel works through the batch in chunks whose im2col block fits in cache
(``CHUNK_BYTES``): the copy and the GEMM that reads it then stay out of main memory.

The vjps of each of the three are the other two, so gradients of any order stay
within these ops. The last input of each gradient op only gives the run-time shape of
the result (stride and floor division make it ambiguous otherwise); it gets no gradient.

Pools: ``MaxPool2d`` routes the gradient to the first maximum of each window
(``MaxPoolScatter``; its transpose ``MaxPoolGather`` reads the same positions), and
``AvgPool2d`` is linear, with ``AvgPoolGrad`` its transpose.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import GraphError
from ..graph import Node, as_node, graph_of
from ..op import Op, make_node, multilinear_jvp, size_of
from ..shapes import float_dtype, result_dtype
from .elementwise import add
from .shape import expand_dims, reshape, squeeze

Pads = tuple[tuple[int, int], tuple[int, int]]


def _nodes(what: str, *values: Any) -> list[Node]:
    """Operands as nodes of one graph (arrays become constants)."""
    graph = graph_of(values, what)
    return [as_node(v, graph) for v in values]


# ---------------------------------------------------------------- arguments
def _pair(value: Any, what: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each at least ``minimum``, as a pair."""
    items = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(items) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                  for v in items):
        raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}")
    if any(v < minimum for v in items):
        raise ValueError(f"{what} must be at least {minimum}, got {value!r}")
    return int(items[0]), int(items[1])


def _conv_padding(padding: Any, stride: tuple[int, int]) -> Pads | str:
    """Padding as ((top, bottom), (left, right)), or "same" (resolved from the kernel)."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding == "same":
            if stride != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions "
                                 f"(stride {stride}), as in torch")
            return "same"
        raise ValueError(f"padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
    ph, pw = _pair(padding, "padding", 0)
    return ((ph, ph), (pw, pw))


def resolve_pads(padding: Pads | str, kernel: tuple[int, int],
                 dilation: tuple[int, int]) -> Pads:
    """Explicit pads; "same" pads d*(k-1) in all, the odd one at the end (as torch)."""
    if padding != "same":
        return padding
    out = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        out.append((total // 2, total - total // 2))
    return tuple(out)


def _out_size(size: int | None, pads: tuple[int, int], kernel: int | None, stride: int,
              dilation: int) -> int | None:
    """floor((size + pads - d*(k-1) - 1) / s) + 1, None where unknown."""
    if size is None or kernel is None:
        return None
    return (size + pads[0] + pads[1] - dilation * (kernel - 1) - 1) // stride + 1


def _first(*dims: int | None) -> int | None:
    """The first known dimension."""
    for d in dims:
        if d is not None:
            return d
    return None


def _rank(node: Node, rank: int, what: str, role: str) -> None:
    if node.shape is not None and len(node.shape) != rank:
        raise GraphError(f"{what}: the {role} must have {rank} dimensions, got shape "
                         f"{node.shape}")


# ---------------------------------------------------------------- kernels
# A chunk of the batch whose im2col block fits in cache (2 MiB: this machine's L2 is
# 1 MiB a core): the window copy then writes into cache and the GEMM that follows reads
# from it, instead of both streaming a block kH*kW times the input's size through
# memory. Measured on (64, 16, 28, 28) -> 32, 3x3, float32 (process time, one thread,
# against whole-batch blocks in the same run): forward 0.75x, input gradient 0.81x,
# filter gradient 0.72x the time; 1 MiB and 4 MiB chunks were within 5% of 2 MiB.
CHUNK_BYTES = 2 << 20


def _chunks(n: int, bytes_per_item: int) -> list[tuple[int, int]]:
    """[start, stop) spans over the batch, each holding about CHUNK_BYTES."""
    step = max(1, CHUNK_BYTES // max(bytes_per_item, 1))
    # An empty batch is one empty chunk, so the kernels' buffers and results still exist.
    return [(s, min(n, s + step)) for s in range(0, n, step)] or [(0, 0)]


def _pad(x: np.ndarray, pads: Pads, fill: float = 0.0) -> np.ndarray:
    if pads == ((0, 0), (0, 0)):
        return x
    (t, b), (left, r) = pads
    h, w = x.shape[-2:]
    # A filled buffer and one slice copy: 1.25x faster than np.pad at (64, 16, 28, 28).
    out = np.full(x.shape[:-2] + (h + t + b, w + left + r), fill, dtype=x.dtype)
    out[..., t:t + h, left:left + w] = x
    return out


def _windows(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
             dilation: tuple[int, int]) -> np.ndarray:
    """(..., OH, OW, kH, kW): every window of the padded input as a strided view (no copy)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    view = sliding_window_view(xp, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(-2, -1))
    return view[..., ::sh, ::sw, ::dh, ::dw]


def _offsets(kernel, stride, dilation, out_hw):
    """For each kernel offset (i, j): the slice of the padded input its window entries read."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_hw
    for i in range(kh):
        for j in range(kw):
            yield i, j, (Ellipsis, slice(i * dh, i * dh + (oh - 1) * sh + 1, sh),
                         slice(j * dw, j * dw + (ow - 1) * sw + 1, sw))


def _span(n_out: int, n_in: int, pad: int, offset: int, stride: int) -> tuple[slice, slice]:
    """The outputs h whose read position s*h + offset - pad lies inside [0, n_in), and
    those positions: (slice of outputs, slice of the unpadded input)."""
    start = offset - pad
    lo = max(0, -(start // stride))  # ceil(-start / stride): the first read at >= 0
    hi = min(n_out - 1, (n_in - 1 - start) // stride)
    if hi < lo:
        return slice(0, 0), slice(0, 0)
    return slice(lo, hi + 1), slice(lo * stride + start, hi * stride + start + 1, stride)


def _scatter_offsets(kernel, stride, dilation, pads: Pads, out_hw, in_hw):
    """For each kernel offset (i, j): (i, j, output slice, input slice) of the window
    entries that read real input rather than padding. Adding the outputs' shares into
    the unpadded input through these needs no padded buffer and no crop."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    for i in range(kh):
        out_h, in_h = _span(out_hw[0], in_hw[0], pads[0][0], i * dh, sh)
        for j in range(kw):
            out_w, in_w = _span(out_hw[1], in_hw[1], pads[1][0], j * dw, sw)
            yield i, j, (Ellipsis, out_h, out_w), (Ellipsis, in_h, in_w)


def _window_view(x: np.ndarray, kernel, stride, pads, dilation, groups) -> np.ndarray:
    """(N, G, Cg, kH, kW, OH, OW): x's windows, a strided view that im2col copies from."""
    win = _windows(_pad(x, pads), kernel, stride, dilation)  # (N, C, OH, OW, kH, kW)
    n, c, oh, ow = win.shape[:4]
    win = win.transpose(0, 1, 4, 5, 2, 3)
    return win.reshape(n, groups, c // groups, kernel[0], kernel[1], oh, ow)


def conv2d_forward(x, w, stride, padding, dilation, groups):
    """y[n, o] = sum_{c, i, j} xp[n, c, s*h + d*i, s*w' + d*j] w[o, c, i, j], per group.

    im2col then GEMM, a chunk of the batch at a time: cols (nb, G, Cg*kH*kW, OH*OW) is
    copied from the window view into one reused buffer, and (Og, K) @ cols writes the
    chunk's output in place.
    """
    o, cg, kh, kw = w.shape
    pads = resolve_pads(padding, (kh, kw), dilation)
    win = _window_view(x, (kh, kw), stride, pads, dilation, groups)
    n, _, _, _, _, oh, ow = win.shape
    k, L = cg * kh * kw, oh * ow
    dtype = np.result_type(x, w)
    wg = w.reshape(groups, o // groups, k).astype(dtype, copy=False)
    y = np.empty((n, groups, o // groups, L), dtype=dtype)
    spans = _chunks(n, groups * k * L * dtype.itemsize)
    buf = np.empty((spans[0][1] - spans[0][0],) + win.shape[1:], dtype=dtype)
    for s, e in spans:
        cols = buf[:e - s]
        np.copyto(cols, win[s:e])
        np.matmul(wg, cols.reshape(e - s, groups, k, L), out=y[s:e])
    return y.reshape(n, o, oh, ow)


def _input_grad_flat(g, wt, hw, pads, dilation, groups, cg, kernel):
    """Stride 1: col2im on the padded width, where each kernel offset's adds are runs.

    With the output rows laid on the padded input's width Wp (g padded with zero
    columns to Wp), the entries of offset (i, j) land at flat position q + d(i Wp + j)
    of the padded input for output position q: one contiguous run of OH*Wp per channel
    instead of OH rows of OW, so numpy's inner loops are about OH times longer. The
    extra columns carry exact zeros (w is finite), wherever they land. Measured against
    the strided adds, same run: 0.88x at (64, 16, 28, 28), 0.73x at (32, 8, 56, 56).
    """
    (kh, kw), (dh, dw) = kernel, dilation
    (top, bottom), (left, right) = pads
    n, _, oh, ow = g.shape
    og = g.shape[1] // groups
    hp, wp = hw[0] + top + bottom, hw[1] + left + right
    q = oh * wp
    dtype = wt.dtype
    g5 = g.reshape(n, groups, og, oh, ow)
    spans = _chunks(n, groups * kh * kw * cg * q * dtype.itemsize)
    nb = spans[0][1] - spans[0][0]
    gp = np.zeros((nb, groups, og, oh, wp), dtype=dtype)  # the extra columns stay 0
    buf = np.empty((nb, groups, kh * kw * cg, q), dtype=dtype)
    dxp = np.zeros((n, groups, cg, hp * wp), dtype=dtype)
    offsets = [dh * i * wp + dw * j for i in range(kh) for j in range(kw)]
    for s, e in spans:
        m = e - s
        gp[:m, ..., :ow] = g5[s:e]
        cols = np.matmul(wt, gp[:m].reshape(m, groups, og, q), out=buf[:m])
        cols = cols.reshape(m, groups, kh * kw, cg, q)
        into = dxp[s:e]
        for t, off in enumerate(offsets):
            # Runs of the last rows reach past the end only with extra columns: cut them.
            run = min(q, hp * wp - off)
            into[..., off:off + run] += cols[:, :, t, :, :run]
    dx = dxp.reshape(n, groups * cg, hp, wp)[..., top:top + hw[0], left:left + hw[1]]
    return np.ascontiguousarray(dx)


def conv2d_input_grad(g, w, hw, stride, padding, dilation, groups):
    """col2im of w^T g: every window entry adds its share back where it was read.

    A chunk of the batch at a time, so the columns w^T g of the chunk stay in cache for
    the kH*kW strided adds that follow (no np.add.at: each kernel offset's adds touch
    distinct positions).
    """
    o, cg, kh, kw = w.shape
    pads = resolve_pads(padding, (kh, kw), dilation)
    n, _, oh, ow = g.shape
    og = o // groups
    dtype = np.result_type(g, w)
    # Rows ordered (kH, kW, Cg): each kernel offset's share is then one block per group,
    # which the strided adds below read about 1.3x faster than rows ordered (Cg, kH, kW).
    wt = w.reshape(groups, og, cg, kh, kw).transpose(0, 3, 4, 2, 1).reshape(groups, -1, og)
    wt = wt.astype(dtype, copy=False)
    if stride == (1, 1) and np.isfinite(w).all():
        return _input_grad_flat(g, wt, hw, pads, dilation, groups, cg, (kh, kw))
    g4 = g.reshape(n, groups, og, oh * ow)
    dx = np.zeros((n, groups * cg) + tuple(hw), dtype=dtype)
    by_group = dx.reshape(n, groups, cg, hw[0], hw[1])  # a view: the adds land in dx
    offsets = list(_scatter_offsets((kh, kw), stride, dilation, pads, (oh, ow), hw))
    spans = _chunks(n, groups * kh * kw * cg * oh * ow * dtype.itemsize)
    buf = np.empty((spans[0][1] - spans[0][0], groups, kh * kw * cg, oh * ow), dtype=dtype)
    for s, e in spans:
        cols = np.matmul(wt, g4[s:e], out=buf[:e - s])
        cols = cols.reshape(e - s, groups, kh, kw, cg, oh, ow)
        into_chunk = by_group[s:e]
        for i, j, out, into in offsets:
            into_chunk[into] += cols[:, :, i, j][out]
    return dx


def conv2d_filter_grad(x, g, kernel, stride, padding, dilation, groups):
    """dw[o, c, i, j] = sum_{n, h, w'} g[n, o, h, w'] xp[n, c, s*h + d*i, s*w' + d*j].

    One GEMM per chunk of the batch, (G, K, nb*L) @ (G, nb*L, Og), summed over chunks:
    the chunk's im2col block is built in cache as in the forward.
    """
    pads = resolve_pads(padding, kernel, dilation)
    win = _window_view(x, kernel, stride, pads, dilation, groups)  # (N, G, Cg, kH, kW, ...)
    n, _, cg, kh, kw, oh, ow = win.shape
    o = g.shape[1]
    og, k, L = o // groups, cg * kh * kw, oh * ow
    dtype = np.result_type(x, g)
    g4 = g.reshape(n, groups, og, L)
    order = (1, 2, 3, 4, 0, 5, 6)  # (G, Cg, kH, kW, nb, OH, OW): the chunk's columns
    spans = _chunks(n, groups * k * L * dtype.itemsize)
    nb = spans[0][1] - spans[0][0]
    # Flat buffers, viewed per chunk: a shorter last chunk stays contiguous.
    buf = np.empty(groups * k * nb * L, dtype=dtype)
    gbuf = np.empty(groups * og * nb * L, dtype=dtype)
    dwt = np.empty((groups, k, og), dtype=dtype)
    part = np.empty_like(dwt)
    for s, e in spans:
        m = e - s
        cols = buf[:groups * k * m * L].reshape(groups, cg, kh, kw, m, oh, ow)
        np.copyto(cols, win[s:e].transpose(order))
        gch = gbuf[:groups * og * m * L].reshape(groups, og, m, L)
        np.copyto(gch, g4[s:e].transpose(1, 2, 0, 3))
        # (G, K, Og), transposed after: BLAS runs this orientation of the long (nb*L)
        # contraction faster than g @ cols^T (about 1.6x at nb*L = 50,000).
        a = cols.reshape(groups, k, m * L)
        b = gch.reshape(groups, og, m * L).transpose(0, 2, 1)
        if s == 0:
            np.matmul(a, b, out=dwt)
        else:
            dwt += np.matmul(a, b, out=part)
    return dwt.transpose(0, 2, 1).reshape(o, cg, kh, kw)


# ---------------------------------------------------------------- convolution ops
class _ConvOp(Op):
    """Shared parameters of the three convolution ops."""

    __props__ = ("stride", "padding", "dilation", "groups")

    def __init__(self, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def params(self) -> tuple:
        return self.stride, self.padding, self.dilation, self.groups

    def _spatial(self, hw, kernel) -> tuple:
        """Output (OH, OW) from input (H, W) and kernel (kH, kW), None where unknown."""
        if self.padding == "same":
            return tuple(hw)
        return tuple(_out_size(hw[a], self.padding[a], kernel[a], self.stride[a],
                               self.dilation[a]) for a in (0, 1))

    def _check(self, x: Node, w: Node, what: str) -> None:
        """Channels and kernel of input x and filter w agree (where statically known)."""
        _rank(x, 4, what, "input")
        _rank(w, 4, what, "weight")
        for node, role in ((x, "input"), (w, "weight")):
            if node.dtype is not None and node.dtype.kind != "f":
                raise GraphError(f"{what}: the {role} must be floating point (as in torch), got "
                                 f"dtype {node.dtype} (input shape {x.shape}, weight shape "
                                 f"{w.shape})")
        if w.shape is None:
            return
        o, cg = w.shape[:2]
        if o is not None and o % self.groups:
            raise GraphError(f"{what}: weight of shape {w.shape} has {o} output channels, "
                             f"not divisible by groups={self.groups}")
        if x.shape is not None and x.shape[1] is not None and cg is not None \
                and x.shape[1] != cg * self.groups:
            raise GraphError(f"{what}: input of shape {x.shape} has {x.shape[1]} channels but "
                             f"weight of shape {w.shape} expects {cg} x groups={self.groups}"
                             f" = {cg * self.groups}")
        if x.shape is not None and self.padding != "same":
            out = self._spatial(x.shape[2:], w.shape[2:])
            if any(d is not None and d < 1 for d in out):
                raise GraphError(f"{what}: kernel of weight shape {w.shape} (dilation "
                                 f"{self.dilation}) is larger than the padded input of shape "
                                 f"{x.shape} (padding {self.padding})")

    def _flops(self, g_shape, w_shape) -> int:
        n, o, oh, ow = g_shape
        return 2 * n * o * oh * ow * w_shape[1] * w_shape[2] * w_shape[3]


class Conv2d(_ConvOp):
    """y[n, o, h, v] = sum_{c, i, j} xp[n, G(o) Cg + c, s*h + d*i, s*v + d*j] w[o, c, i, j].

    x is (N, C, H, W) (xp: x padded with zeros), w is (O, C/groups, kH, kW); as
    ``torch.nn.functional.conv2d`` without the bias. Use :func:`conv2d`.
    """

    def forward(self, x, w):
        return conv2d_forward(x, w, *self.params())

    def infer(self, x, w):
        self._check(x, w, "conv2d")
        xs = x.shape or (None,) * 4
        ws = w.shape or (None,) * 4
        return (xs[0], ws[0]) + self._spatial(xs[2:], ws[2:]), \
            float_dtype(result_dtype(x, w))

    def flops(self, input_shapes, output_shape):
        return self._flops(output_shape, input_shapes[1])

    def vjp(self, i, inputs, output, grad):
        x, w = inputs
        if i == 0:
            return make_node(ConvInputGrad(*self.params()), grad, w, x)
        return make_node(ConvFilterGrad(*self.params()), x, grad, w)

    def jvp(self, inputs, tangents, output):
        return multilinear_jvp(self, inputs, tangents, (0, 1))


class ConvInputGrad(_ConvOp):
    """Transposed convolution: dxp[n, c, s*h + d*i, s*v + d*j] += g[n, o, h, v] w[o, c, i, j].

    Inputs (g, w, ref): ref (the convolution's input) gives dx's shape. Linear in g and in
    w: its vjps are ``Conv2d(h, w)`` for g and ``ConvFilterGrad(h, g, w)`` for w.
    """

    def same_shape_as(self, g, w, ref):
        return ref

    def forward(self, g, w, ref):
        return conv2d_input_grad(g, w, ref.shape[-2:], *self.params())

    def infer(self, g, w, ref):
        _rank(g, 4, "conv2d input gradient", "gradient")
        self._check(ref, w, "conv2d input gradient")
        rs = ref.shape or (None,) * 4
        gs = g.shape or (None,) * 4
        ws = w.shape or (None,) * 4
        channels = None if ws[1] is None else ws[1] * self.groups
        return (_first(rs[0], gs[0]), _first(rs[1], channels), rs[2], rs[3]), \
            float_dtype(result_dtype(g, w))

    def flops(self, input_shapes, output_shape):
        return self._flops(input_shapes[0], input_shapes[1])

    def vjp(self, i, inputs, output, grad):
        g, w, _ = inputs
        if i == 0:
            return make_node(Conv2d(*self.params()), grad, w)
        if i == 1:
            return make_node(ConvFilterGrad(*self.params()), grad, g, w)
        return None  # ref: only its shape is read

    def jvp(self, inputs, tangents, output):
        return multilinear_jvp(self, inputs, tangents, (0, 1))


class ConvFilterGrad(_ConvOp):
    """dw[o, c, i, j] = sum_{n, h, v} g[n, o, h, v] xp[n, G(o) Cg + c, s*h + d*i, s*v + d*j].

    Inputs (x, g, ref): ref (the filter) gives the kernel size. Linear in x and in g: its
    vjps are ``ConvInputGrad(g, h, x)`` for x and ``Conv2d(x, h)`` for g.
    """

    def same_shape_as(self, x, g, ref):
        return ref

    def forward(self, x, g, ref):
        return conv2d_filter_grad(x, g, ref.shape[-2:], *self.params())

    def infer(self, x, g, ref):
        _rank(g, 4, "conv2d filter gradient", "gradient")
        self._check(x, ref, "conv2d filter gradient")
        rs = ref.shape or (None,) * 4
        gs = g.shape or (None,) * 4
        xs = x.shape or (None,) * 4
        cg = None if xs[1] is None else xs[1] // self.groups
        return (_first(rs[0], gs[1]), _first(rs[1], cg), rs[2], rs[3]), \
            float_dtype(result_dtype(x, g))

    def flops(self, input_shapes, output_shape):
        return self._flops(input_shapes[1], output_shape)

    def vjp(self, i, inputs, output, grad):
        x, g, _ = inputs
        if i == 0:
            return make_node(ConvInputGrad(*self.params()), g, grad, x)
        if i == 1:
            return make_node(Conv2d(*self.params()), x, grad)
        return None  # ref: only its shape is read

    def jvp(self, inputs, tangents, output):
        return multilinear_jvp(self, inputs, tangents, (0, 1))


def _add_bias(y: Node, b: Any, w: Node, what: str) -> Node:
    b = as_node(b, y.graph)
    if b.shape is not None and (len(b.shape) != 1 or (
            w.shape is not None and None not in (b.shape[0], w.shape[0])
            and b.shape[0] != w.shape[0])):
        raise GraphError(f"{what}: bias of shape {b.shape} does not match weight of shape "
                         f"{w.shape}: it needs shape (out_channels,)")
    extra = (1,) * (len(y.shape) - 2) if y.shape is not None else (1, 1)
    return add(y, reshape(b, (-1,) + extra))


def conv2d(x: Any, w: Any, b: Any = None, stride: int | tuple[int, int] = 1,
           padding: int | tuple[int, int] | str = 0, dilation: int | tuple[int, int] = 1,
           groups: int = 1) -> Node:
    """2-D convolution (cross-correlation) as ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    x : Node
        Input of shape (N, C, H, W).
    w : Node
        Filters of shape (O, C / groups, kH, kW).
    b : Node, optional
        Bias of shape (O,), added to every position.
    stride, dilation : int or (int, int)
    padding : int, (int, int), "valid" or "same"
        Zeros added on both sides of H and W; "same" keeps H and W (stride 1 only; an odd
        total puts the extra zero at the end, as torch does).
    groups : int
        Channels split into ``groups`` independent convolutions.

    Returns
    -------
    Node of shape (N, O, OH, OW), OH = floor((H + 2p - d (kH - 1) - 1) / s) + 1.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(None, 1, 3, 3))
    >>> y = gd.conv2d(x, np.ones((1, 1, 2, 2)), padding=0)
    >>> y.shape
    (None, 1, 2, 2)
    >>> g.run(y, feed={x: np.arange(9.0).reshape(1, 1, 3, 3)})
    array([[[[ 8., 12.],
             [20., 24.]]]])
    """
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    stride = _pair(stride, "stride", 1)
    op = Conv2d(stride, _conv_padding(padding, stride), _pair(dilation, "dilation", 1),
                int(groups))
    x, w = _nodes("conv2d", x, w)
    y = make_node(op, x, w)
    return y if b is None else _add_bias(y, b, w, "conv2d")


def conv1d(x: Any, w: Any, b: Any = None, stride: int = 1, padding: int | tuple | str = 0,
           dilation: int = 1, groups: int = 1) -> Node:
    """1-D convolution as ``torch.nn.functional.conv1d``: conv2d with H = 1.

    x is (N, C, W), w is (O, C / groups, kW), b is (O,) or None; ``padding`` an int, a
    1-tuple, "valid" or "same".

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(1, 1, 4))
    >>> y = gd.conv1d(x, np.array([[[1.0, -1.0]]]))
    >>> g.run(y, feed={x: np.array([[[1.0, 3.0, 6.0, 10.0]]])})
    array([[[-2., -3., -4.]]])
    """
    x, w = _nodes("conv1d", x, w)
    _rank(x, 3, f"conv1d of weight shape {w.shape}", "input")
    _rank(w, 3, f"conv1d of input shape {x.shape}", "weight")
    if isinstance(padding, (tuple, list)):
        if len(padding) != 1:
            raise ValueError(f"conv1d padding must be an int, a 1-tuple, 'valid' or 'same', "
                             f"got {padding!r}")
        padding = padding[0]
    if not isinstance(padding, str):
        padding = (0, padding)
    s, d = (_pair(v[0] if isinstance(v, (tuple, list)) and len(v) == 1 else v, what, 1)[1]
            for v, what in ((stride, "stride"), (dilation, "dilation")))
    y = conv2d(expand_dims(x, (2,)), expand_dims(w, (2,)), None, (1, s), padding, (1, d),
               groups)
    y = squeeze(y, (2,))
    return y if b is None else _add_bias(y, b, w, "conv1d")


# ---------------------------------------------------------------- pooling
def _pool_args(kernel_size: Any, stride: Any, padding: Any, what: str) -> tuple:
    kernel = _pair(kernel_size, "kernel_size", 1)
    stride = kernel if stride is None else _pair(stride, "stride", 1)
    pad = _pair(padding, "padding", 0)
    if any(p > k // 2 for p, k in zip(pad, kernel)):
        raise ValueError(f"{what}: padding {padding!r} must be at most half the kernel size "
                         f"{kernel_size!r}, as in torch")
    return kernel, stride, pad


class _PoolOp(Op):
    """A pool over the last two axes of an input of rank 3 or 4 (C, H, W or N, C, H, W)."""

    # Not "kernel": the runtime calls an op's ``kernel`` attribute in place of forward.
    __props__ = ("kernel_size", "stride", "padding")

    def __init__(self, kernel, stride, padding):
        self.kernel_size, self.stride, self.padding = kernel, stride, padding

    def params(self) -> tuple:
        return self.kernel_size, self.stride, self.padding

    def pads(self) -> Pads:
        return tuple((p, p) for p in self.padding)

    def out_hw(self, hw) -> tuple:
        return tuple(_out_size(hw[a], (self.padding[a],) * 2, self.kernel_size[a],
                               self.stride[a], 1) for a in (0, 1))

    def pooled_shape(self, x: Node) -> tuple | None:
        what = type(self).__name__
        if x.shape is None:
            return None
        if len(x.shape) not in (3, 4):
            raise GraphError(f"{what}: the input must have 3 or 4 dimensions, got shape "
                             f"{x.shape}")
        out = self.out_hw(x.shape[-2:])
        if any(d is not None and d < 1 for d in out):
            raise GraphError(f"{what}: kernel {self.kernel_size} is larger than the padded input "
                             f"of shape {x.shape} (padding {self.padding})")
        return x.shape[:-2] + out

    def windows_flops(self, pooled_shape) -> int:
        return size_of(pooled_shape) * self.kernel_size[0] * self.kernel_size[1]

    def offsets(self, pooled_hw):
        return _offsets(self.kernel_size, self.stride, (1, 1), pooled_hw)

    def scatter_offsets(self, pooled_hw, in_hw):
        return _scatter_offsets(self.kernel_size, self.stride, (1, 1), self.pads(), pooled_hw,
                                in_hw)


def _lowest(dtype: np.dtype) -> Any:
    if dtype.kind == "b":
        return False
    return -np.inf if dtype.kind in "fc" else np.iinfo(dtype).min


def _claim_first(eqs: list[np.ndarray]) -> None:
    """Keep, in place, only each window's first True across the offsets (row-major).

    ``eqs[k]`` marks the windows whose entry at offset k equals their maximum; after
    this call exactly one offset claims each window, the first, which is torch's rule
    for ties (and ReLU's zeros make ties common).
    """
    seen = eqs[0].copy()
    for k in range(1, len(eqs)):
        eq = eqs[k]
        if k + 1 < len(eqs):
            claimed = np.greater(eq, seen)  # equal to the max, no earlier offset was
            seen |= eq
            eq[...] = claimed
        else:
            np.greater(eq, seen, out=eq)


def _first_max_masks(op: _PoolOp, x: np.ndarray) -> list[np.ndarray]:
    """For each window offset k (row-major), where each window's first maximum sits:
    boolean arrays of the pooled shape, exactly one True per window across k."""
    xp = _pad(x, op.pads(), _lowest(x.dtype))
    wheres = [where for _, _, where in op.offsets(op.out_hw(x.shape[-2:]))]
    best = xp[wheres[0]].copy()
    for where in wheres[1:]:
        np.maximum(best, xp[where], out=best)
    masks = [np.equal(xp[where], best) for where in wheres]
    _claim_first(masks)
    return masks


def _select(values: np.ndarray, mask: np.ndarray, finite: bool,
            out: np.ndarray | None = None) -> np.ndarray:
    """``values`` where ``mask`` else 0, exactly (into ``out`` when given).

    A product with the boolean mask is 5-8x faster than ``np.where`` on these shapes but
    would turn an infinite value outside the mask into NaN (inf * 0); ``finite`` (all of
    ``values`` finite, checked once by the caller) says when the product is exact.
    """
    if finite:
        return np.multiply(values, mask, out=out)
    picked = np.where(mask, values, np.zeros((), values.dtype))
    if out is None:
        return picked
    out[...] = picked
    return out


class MaxPool2d(_PoolOp):
    """y[..., h, w] = max_{i,j} xp[..., s*h + i, s*w + j], xp padded with -inf.

    The gradient goes to the first maximal entry of each window (in row-major window
    order), as torch does; see :func:`max_pool2d`.
    """

    def forward(self, x):
        xp = _pad(x, self.pads(), _lowest(x.dtype))
        out = None
        for _, _, where in self.offsets(self.out_hw(x.shape[-2:])):
            out = xp[where].copy() if out is None else np.maximum(out, xp[where], out=out)
        return out

    def infer(self, x):
        return self.pooled_shape(x), x.dtype

    def flops(self, input_shapes, output_shape):
        return self.windows_flops(output_shape)

    def vjp(self, i, inputs, output, grad):
        return make_node(MaxPoolScatter(*self.params()), inputs[0], grad)

    def jvp(self, inputs, tangents, output):
        # The max is the entry at each window's arg-max: its tangent is read there.
        return make_node(MaxPoolGather(*self.params()), inputs[0], tangents[0])


class MaxPoolScatter(_PoolOp):
    """dx[..., s*h + i*, s*w + j*] += g[..., h, w] at each window's first arg-max (i*, j*).

    Inputs (x, g): x only locates the maxima (piecewise constant: no gradient); linear in
    g, whose vjp is ``MaxPoolGather(x, h)``.
    """

    def same_shape_as(self, x, g):
        return x

    def forward(self, x, g):
        masks = _first_max_masks(self, x)
        dx = np.zeros(x.shape, dtype=np.result_type(g, 0))  # where(.., g, 0): bool -> int
        finite = bool(np.isfinite(g).all())
        # Windows that do not overlap (stride >= kernel) write disjoint parts of dx.
        disjoint = all(s >= k for s, k in zip(self.stride, self.kernel_size))
        for k, (_, _, out, into) in enumerate(self.scatter_offsets(g.shape[-2:],
                                                                   x.shape[-2:])):
            if disjoint:
                _select(g[out], masks[k][out], finite, out=dx[into])
            else:
                dx[into] += _select(g[out], masks[k][out], finite)
        return dx

    def infer(self, x, g):
        self.pooled_shape(x)
        return x.shape, None if g.dtype is None else np.result_type(g.dtype, 0)

    def flops(self, input_shapes, output_shape):
        return 2 * self.windows_flops(input_shapes[1])

    def vjp(self, i, inputs, output, grad):
        if i == 0:
            return None
        return make_node(MaxPoolGather(*self.params()), inputs[0], grad)

    def jvp(self, inputs, tangents, output):
        return multilinear_jvp(self, inputs, tangents, (1,))


class MaxPoolGather(_PoolOp):
    """y[..., h, w] = hp[..., s*h + i*, s*w + j*]: h read at each window's first arg-max of x.

    Inputs (x, h): the transpose of ``MaxPoolScatter`` (its vjp for h is the scatter); x
    gets no gradient.
    """

    def forward(self, x, h):
        masks = _first_max_masks(self, x)
        hp = _pad(h, self.pads())
        finite = bool(np.isfinite(h).all())
        out = None
        for k, (_, _, where) in enumerate(self.offsets(masks[0].shape[-2:])):
            # Exactly one offset claims each window: the sum reads h at its maximum.
            picked = _select(hp[where], masks[k], finite)
            out = picked if out is None else np.add(out, picked, out=out)
        return out

    def infer(self, x, h):
        return self.pooled_shape(x), h.dtype

    def flops(self, input_shapes, output_shape):
        return self.windows_flops(output_shape)

    def vjp(self, i, inputs, output, grad):
        if i == 0:
            return None
        return make_node(MaxPoolScatter(*self.params()), inputs[0], grad)

    def jvp(self, inputs, tangents, output):
        return multilinear_jvp(self, inputs, tangents, (1,))


class AvgPool2d(_PoolOp):
    """y[..., h, w] = sum_{i,j} xp[..., s*h + i, s*w + j] / (kH kW), xp padded with zeros.

    Padding counts in the average (torch's default ``count_include_pad=True``). Linear:
    its vjp is ``AvgPoolGrad``.
    """

    def forward(self, x):
        xp = _pad(x, self.pads())
        out = None
        for _, _, where in self.offsets(self.out_hw(x.shape[-2:])):
            out = xp[where].astype(float_dtype(x.dtype)) if out is None else \
                np.add(out, xp[where], out=out)
        out /= self.kernel_size[0] * self.kernel_size[1]
        return out

    def infer(self, x):
        return self.pooled_shape(x), float_dtype(x.dtype)

    def flops(self, input_shapes, output_shape):
        return self.windows_flops(output_shape)

    def vjp(self, i, inputs, output, grad):
        return make_node(AvgPoolGrad(*self.params()), grad, inputs[0])

    def jvp(self, inputs, tangents, output):
        return multilinear_jvp(self, inputs, tangents, (0,))


class AvgPoolGrad(_PoolOp):
    """dx[..., s*h + i, s*w + j] += g[..., h, w] / (kH kW): the transpose of ``AvgPool2d``.

    Inputs (g, ref): ref (the pool's input) gives dx's shape. Linear in g: its vjp is
    ``AvgPool2d`` again.
    """

    def same_shape_as(self, g, ref):
        return ref

    def forward(self, g, ref):
        # An average of integers is float64, as np.mean's (the forward's dtype rule).
        dx = np.zeros(g.shape[:-2] + ref.shape[-2:], dtype=float_dtype(np.result_type(g)))
        share = g / (self.kernel_size[0] * self.kernel_size[1])
        for _, _, out, into in self.scatter_offsets(g.shape[-2:], ref.shape[-2:]):
            dx[into] += share[out]
        return dx

    def infer(self, g, ref):
        self.pooled_shape(ref)
        if ref.shape is None:
            return None, float_dtype(g.dtype)
        lead = ref.shape[:-2] if g.shape is None else tuple(
            _first(a, b) for a, b in zip(ref.shape[:-2], g.shape[:-2]))
        return lead + ref.shape[-2:], float_dtype(g.dtype)

    def flops(self, input_shapes, output_shape):
        return self.windows_flops(input_shapes[0])

    def vjp(self, i, inputs, output, grad):
        if i == 1:
            return None  # ref: only its shape is read
        return make_node(AvgPool2d(*self.params()), grad)

    def jvp(self, inputs, tangents, output):
        return multilinear_jvp(self, inputs, tangents, (0,))


def max_pool2d(x: Any, kernel_size: int | tuple[int, int], stride: Any = None,
               padding: int | tuple[int, int] = 0) -> Node:
    """Max over sliding windows of the last two axes, as ``torch.nn.functional.max_pool2d``.

    Padding is -inf (never the maximum); ``stride`` defaults to ``kernel_size``. The
    gradient goes to the first maximum of each window in row-major order (torch's rule
    for ties); windows that overlap add their gradients.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(1, 1, 4, 4))
    >>> y = gd.max_pool2d(x, 2)
    >>> g.run(y, feed={x: np.arange(16.0).reshape(1, 1, 4, 4)})
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """
    (x,) = _nodes("max_pool2d", x)
    return make_node(MaxPool2d(*_pool_args(kernel_size, stride, padding, "max_pool2d")), x)


def avg_pool2d(x: Any, kernel_size: int | tuple[int, int], stride: Any = None,
               padding: int | tuple[int, int] = 0) -> Node:
    """Mean over sliding windows of the last two axes, as ``torch.nn.functional.avg_pool2d``.

    Zero padding counts in the mean (torch's ``count_include_pad=True``); ``stride``
    defaults to ``kernel_size``.

    Examples
    --------
    >>> import numpy as np, graphdiff as gd
    >>> g = gd.Graph(); x = g.input("x", shape=(1, 1, 2, 2))
    >>> g.run(gd.avg_pool2d(x, 2), feed={x: np.array([[[[1.0, 2.0], [3.0, 6.0]]]])})
    array([[[[3.]]]])
    """
    (x,) = _nodes("avg_pool2d", x)
    return make_node(AvgPool2d(*_pool_args(kernel_size, stride, padding, "avg_pool2d")), x)
