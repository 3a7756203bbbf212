"""matmul on VTA: batched products of two run-time int8 tensors (attention's Q·Kᵀ and P·V, one per head).

Unlike `dense`, whose right operand is a layer's constant weights, both operands here are activations: the right
one is written to DRAM by the call itself in the wgt layout and streamed into the weight buffer like weights are.
``G`` independent products ``a[g] (N, K) · b[g] (K, M)`` are one block-grouped 1×1 convolution
(`ConvGeometry.groups` = G): rows of ``a`` go to the batch axis (BATCH rows per inp element), each group's K
to its own input-channel blocks and its M to its own output-channel blocks, so an output block only ever reads its
own group's blocks — no block-diagonal zeros, only the padding of K and M to whole blocks. The conv2d machinery
(`run_conv`) does the tiling, double buffering and the bias/shift/clip epilogue. The result is a view in the
device's (N, G, M) row order.
"""

from typing import NamedTuple

import numpy as np

from ...errors import VTAError
from ..layout import ceil_div, pack_nchw, pack_oihw, unpack_nchw
from ..results import OpResult
from ..schedule import ConvGeometry
from .common import check_array
from .conv2d import run_conv

__all__ = ["MatmulShape", "matmul_geometry", "matmul"]


class MatmulShape(NamedTuple):
    """``(G, N, K, M)``: G products of (N, K) · (K, M)."""
    g: int
    n: int
    k: int
    m: int


def matmul_geometry(cfg, shape):
    """The block-grouped `ConvGeometry` the device runs for a `MatmulShape`."""
    kp = ceil_div(shape.k, cfg.block_in) * cfg.block_in
    mp = ceil_div(shape.m, cfg.block_out) * cfg.block_out
    return ConvGeometry.of(cfg, shape.n, kp, 1, 1, mp, 1, 1, groups=shape.g)


def _operands(a, b, transpose_b):
    """``a`` as (G, N, K) and ``b`` as (G, M, K) (its rows are output columns, the wgt layout's rows)."""
    check_array(a, "a", np.int8)
    check_array(b, "b", np.int8)
    if a.ndim not in (2, 3) or b.ndim != a.ndim:
        raise VTAError(f"a and b must both be 2-D (N, K) · (K, M) or 3-D (G, N, K) · (G, K, M), not shapes "
                       f"{a.shape} and {b.shape}")
    a3, b3 = (a[None], b[None]) if a.ndim == 2 else (a, b)
    bt = b3 if transpose_b else b3.transpose(0, 2, 1)
    what = "(G, M, K)" if transpose_b else "(G, K, M)"
    if bt.shape[0] != a3.shape[0]:
        raise VTAError(f"a has {a3.shape[0]} products (shape {a.shape}), b has {bt.shape[0]} (shape {b.shape}); "
                       f"they must match")
    if bt.shape[2] != a3.shape[2]:
        raise VTAError(f"the inner dimensions must match: a {a.shape} has K = {a3.shape[2]}, b {b.shape} (as "
                       f"{what}) has K = {bt.shape[2]}")
    return a3, bt


def matmul(rt, a, b, bias, shift, relu, transpose_b, schedule):
    """See `Runtime.matmul`. ``bias`` (M,) is added to every product, (G, M) per product: a left operand stored
    with an offset (softmax probabilities, `vta.compiler.steps.MatMul`) needs its own column sums of each b."""
    a3, bt = _operands(a, b, transpose_b)
    cfg = rt.cfg
    shape = MatmulShape(a3.shape[0], a3.shape[1], a3.shape[2], bt.shape[1])
    if shape.k * 128 * 128 >= 1 << 31:
        raise VTAError(f"the inner dimension K = {shape.k} could overflow the int32 accumulator "
                       f"(K · 128 · 128 must stay below 2^31)")
    g = matmul_geometry(cfg, shape)
    kp, mp = g.c, g.o
    x = np.zeros((shape.n, shape.g, kp), np.int8)
    x[:, :, :shape.k] = a3.transpose(1, 0, 2)
    w = np.zeros((shape.g, mp, kp), np.int8)
    w[:, :shape.m, :shape.k] = bt
    bp = None
    if bias is not None:
        check_array(bias, "bias", np.int32)
        if bias.shape not in ((shape.m,), (shape.g, shape.m)):
            raise VTAError(f"bias must have shape ({shape.m},) (one per output column) or ({shape.g}, {shape.m}) "
                           f"(one per product and column), not {bias.shape}")
        bp = np.zeros((shape.g, mp), np.int32)
        bp[:, :shape.m] = bias
        bp = bp.reshape(-1)
    useful = shape.g * shape.n * shape.k * shape.m
    packed, stats = run_conv(rt, g, pack_nchw(x.reshape(shape.n, shape.g * kp, 1, 1), cfg.batch, cfg.block_in),
                             pack_oihw(w.reshape(shape.g * mp, kp, 1, 1), cfg.block_out, cfg.block_in), bp, shift,
                             relu, schedule, "matmul", useful_macs=useful)
    # (G, N, M) as a view of the device's (N, G, M) row order: attention's next step transposes heads back
    # next to each other ((B, h, T, d) → (B, T, h·d)), which is then a view too, not a host copy
    y = unpack_nchw(packed, shape.n, shape.g * mp).reshape(shape.n, shape.g, mp)[:, :, :shape.m].transpose(1, 0, 2)
    return OpResult(y if a.ndim == 3 else y[0], stats)
