"""The device's integer arithmetic in numpy, bit for bit: the golden model of every VTA step.

The quantization search scores plans with these functions, and tests demand that the device's outputs equal them,
so they must reproduce exactly what the GEMM core and the tensor ALU compute: int8 operands, int32 accumulation
(exact here in int64 / float sums that stay below 2^24 or 2^53), arithmetic (floor) shifts, clipping to int8.

Speed: GEMMs run as float32 BLAS products (single precision is twice as fast as double and the products of
int8 operands are exact integers). A float32 sum is exact while every partial sum stays below 2^24 in magnitude,
whatever order BLAS adds in; every partial sum of an output is bounded by ``max|x| · Σ_k |w_ok|``, so
`_k_chunks` cuts the reduction axis into pieces whose bound stays below 2^24 and the pieces are added in int64.
"""

import numpy as np

from .ops import conv_nchw

__all__ = ["alu_shift", "clip8", "conv_int8", "dense_int8", "matmul_int8", "matmul_column_bias", "add_int8",
           "maxpool_int8", "affine_clip_int8", "leaky_relu_int8", "hard_swish_int8", "global_avg_pool_int8",
           "channel_mul_int8", "prelu_int8"]


def alu_shift(v, k):
    """ALU SHR semantics on int64 data: k ≥ 0 arithmetic right shift, k < 0 left shift."""
    return v >> k if k >= 0 else v << (-k)


def clip8(v, relu):
    return np.clip(v, 0 if relu else -128, 127).astype(np.int8)


def _exact_dtype(k):
    """float32 sums of ≤ k int8 products are exact while k·128·128 < 2^24; float64 beyond (exact to 2^53)."""
    return np.float32 if k * 128 * 128 < (1 << 24) else np.float64


F32_EXACT = 1 << 24


def _k_chunks(xmax, w2):
    """Boundaries along the reduction axis of ``w2`` (O, K) (int8 weights) for exact float32 partial products
    with inputs of magnitude ≤ ``xmax``: one piece when ``xmax · max_o Σ_k |w_ok| < 2^24`` (the usual case),
    else equal pieces of ``⌊(2^24 − 1) / (xmax · max|w|)⌋`` columns (a per-element bound, always ≥ 1040 columns
    for int8)."""
    k = w2.shape[1]
    a = np.abs(w2.astype(np.int64))
    if xmax * int(a.sum(axis=1).max(initial=0)) < F32_EXACT:
        return [(0, k)]
    step = max(1, (F32_EXACT - 1) // max(xmax * int(a.max()), 1))
    return [(k0, min(k, k0 + step)) for k0 in range(0, k, step)]


def _absmax(x):
    return int(max(-int(x.min(initial=0)), int(x.max(initial=0))))


def _shift_per_channel(shift, ndim):
    return np.asarray(shift).reshape((1, -1) + (1,) * (ndim - 2)) if np.ndim(shift) else int(shift)


def _epilogue(acc, bias, shift, relu, bound, ndim, mult=1):
    """``clip(((acc + bias) · mult) >> shift)`` in int32 when ``bound`` (of |acc|) plus |bias|, times ``mult``,
    stays below 2^31 (as the builder guarantees; half the memory traffic of int64), in int64 otherwise; in place
    where possible."""
    b64 = bias.astype(np.int64)
    dt = np.int32 if (bound + int(np.abs(b64).max(initial=0))) * mult < (1 << 31) else np.int64
    acc = acc.astype(dt, copy=acc.dtype != dt)
    acc += b64.astype(dt).reshape((1, -1) + (1,) * (ndim - 2))
    if mult != 1:
        acc *= dt(mult)
    acc >>= np.asarray(_shift_per_channel(shift, ndim), dt)
    np.clip(acc, 0 if relu else -128, 127, out=acc)
    return acc.astype(np.int8)


def conv_int8(x, w, bias, shift, relu, strides, pads, groups=1, dil=(1, 1), mult=1):
    """``clip(((conv(x, w) + bias) · mult) >> shift)`` for int8 NCHW ``x``, OIHW ``w``, int32 ``bias``; ``shift``
    an int or one per output channel; ``pads`` (t, l, b, r) zero padding; ``dil`` the kernel's dilations."""
    k = int(np.prod(w.shape[1:]))
    o, c, kh, kw = w.shape
    xmax = _absmax(x)
    bound = xmax * int(np.abs(w.reshape(o, -1).astype(np.int64)).sum(axis=1).max(initial=0))
    chunks = _k_chunks(xmax, w.reshape(o, -1)) if groups == 1 else None
    if chunks is None or (len(chunks) > 1 and chunks[0][1] - chunks[0][0] < kh * kw):
        acc = np.rint(conv_nchw(x, w, strides, pads, dil, group=groups, dtype=_exact_dtype(k))).astype(np.int64)
    elif len(chunks) == 1:
        acc = conv_nchw(x, w, strides, pads, dil, dtype=np.float32)      # exact integers (see `_k_chunks`)
    else:
        # split the input channels so that each float32 partial convolution is exact (see `_k_chunks`)
        step = max(1, (chunks[0][1] - chunks[0][0]) // (kh * kw))
        acc = None
        for c0 in range(0, c, step):
            part = conv_nchw(x[:, c0:c0 + step], w[:, c0:c0 + step], strides, pads, dil, dtype=np.float32)
            acc = part.astype(np.int64) if acc is None else acc + part.astype(np.int64)
    return _epilogue(acc, bias, shift, relu, bound, 4, mult)


def dense_int8(x, w, bias, shift, relu, mult=1):
    """``clip(((x @ wᵀ + bias) · mult) >> shift)`` for int8 (N, K) ``x`` and (M, K) ``w``."""
    xmax = _absmax(x)
    xf, acc = x.astype(np.float32), None
    for k0, k1 in _k_chunks(xmax, w):
        part = (xf[:, k0:k1] @ w[:, k0:k1].astype(np.float32).T).astype(np.int64)
        acc = part if acc is None else acc + part
    if acc is None:                                   # K = 0
        acc = np.zeros((x.shape[0], w.shape[0]), np.int64)
    bound = xmax * int(np.abs(w.astype(np.int64)).sum(axis=1).max(initial=0))
    return _epilogue(acc, bias, shift, relu, bound, 2, mult)


def matmul_int8(a, b, bias, shift, relu, a_offset=0):
    """``clip((a' @ b + bias) >> shift)`` for int8 ``a (…, N, K)``, ``b (…, K, M)`` (leading axes broadcast as in
    numpy's matmul) and int32 ``bias`` (M,) (or ``None``) added to every product: attention's Q·Kᵀ and P·V.
    ``a' = a + a_offset``: an operand stored with an offset (softmax probabilities ``P ∈ [0, 1]`` as ``q − 128``,
    `matmul_column_bias`), whose product is ``a @ b`` plus ``a_offset`` times the column sums of ``b``. The
    products are summed in float32 while K·128·128 < 2^24 (exact), in float64 beyond (exact to 2^53)."""
    k = a.shape[-1]
    dt = _exact_dtype(k)
    acc = np.rint(np.matmul(a.astype(dt), b.astype(dt))).astype(np.int64)
    if a_offset:
        acc += matmul_column_bias(b, a_offset)[..., None, :]
    if bias is not None:
        acc += np.asarray(bias, np.int64)
    return clip8(acc >> int(shift), relu)


def matmul_column_bias(b, a_offset):
    """``a_offset · Σ_k b[…, k, m]`` as int64 (…, M): what a left operand stored as ``a − a_offset`` misses of
    ``a @ b``, the same for every row of the product — so on VTA it is one bias per output column (per head),
    added by the GEMM epilogue's bias load at no extra pass."""
    return int(a_offset) * np.sum(b, axis=-2, dtype=np.int64)


def add_int8(a, b, a_shift, b_shift, shift, relu):
    """``clip(((a >> a_shift) + (b >> b_shift)) >> shift)`` with the ALU's shifts (negative = left)."""
    s = alu_shift(a.astype(np.int64), a_shift) + alu_shift(b.astype(np.int64), b_shift)
    return clip8(alu_shift(s, shift), relu)


def maxpool_int8(x, kernel, stride, padding):
    """Max pooling of int8 NCHW ``x``; padding never wins (it is −128, the int8 minimum)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-128) if ph or pw else x
    oh = (x.shape[2] + 2 * ph - kh) // sh + 1
    ow = (x.shape[3] + 2 * pw - kw) // sw + 1
    out = None
    for i in range(kh):
        for j in range(kw):
            v = xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            out = v.copy() if out is None else np.maximum(out, v)
    return out.astype(np.int8)


def _round_shift(v, shift):
    """``(v + 2^(shift−1)) >> shift`` (round half up; the ALU's ADD of an immediate, then SHR); shift 0: ``v``."""
    return (v + (1 << (shift - 1))) >> shift if shift > 0 else v


def affine_clip_int8(x, scale, offset, shift, lo, hi):
    """``clip((x·scale + offset) >> shift, lo, hi)`` on int8 ``x`` (Clip, ReLU6, HardSigmoid on the tensor ALU:
    MUL, ADD, SHR by immediates, then MAX ``lo``, MIN ``hi``)."""
    v = (x.astype(np.int64) * scale + offset) >> shift
    return np.clip(v, lo, hi).astype(np.int8)


def leaky_relu_int8(x, scale, shift):
    """``max(x, 0) + round((min(x, 0)·scale) / 2^shift)``, clipped to int8: LeakyReLU with slope ≈
    ``scale / 2^shift`` (two ALU regions: MAX 0 | MIN 0, MUL, ADD, SHR; then ADD of the regions)."""
    v = x.astype(np.int64)
    return clip8(np.maximum(v, 0) + _round_shift(np.minimum(v, 0) * scale, shift), False)


def hard_swish_int8(x, scale, offset, shift, one, out_shift):
    """HardSwish ``x · hsig(x)``: ``h = clip((x·scale + offset) >> shift, 0, one)`` (``one`` stands for 1.0), then
    ``round((x·h) / 2^out_shift)`` clipped to int8 (the ALU's MUL of two int lanes, then SHR)."""
    v = x.astype(np.int64)
    h = np.clip((v * scale + offset) >> shift, 0, one)
    return clip8(_round_shift(v * h, out_shift), False)


def global_avg_pool_int8(x, pre_shift, scale, shift):
    """The ALU's mean over H×W of int8 NCHW ``x``: the exact int32 sum ``s`` per (n, c), then
    ``clip(round_shift(round_shift(s, pre_shift) · scale, shift))`` → int8 (N, C, 1, 1). ``scale / 2^(pre_shift +
    shift)`` approximates ``1 / (H·W)`` (times the exponent change); `vta.quant.reduce` picks the numbers."""
    s = x.astype(np.int64).sum(axis=(2, 3), keepdims=True)
    return clip8(_round_shift(_round_shift(s, pre_shift) * scale, shift), False)


def channel_mul_int8(x, s, shift):
    """int8 NCHW ``x`` times int8 ``s`` (N, C, 1, 1) broadcast over H×W, ``round((x·s) / 2^shift)`` (round half
    up) clipped to int8: the ALU's MUL of two lanes, ADD 2^(shift−1), SHR."""
    return clip8(_round_shift(x.astype(np.int64) * s.astype(np.int64), shift), False)


def prelu_int8(x, a, shift, pos_shift=0):
    """PReLU on int8 NCHW ``x`` with int slopes ``a`` (C,) at ``2^-shift``: ``round(max(x, 0) / 2^pos_shift) +
    round((min(x, 0)·a_c) / 2^shift)`` (round half up), clipped to int8 — the ALU's MAX/MIN regions, lane MUL,
    ADD, SHR and ADD. ``pos_shift`` > 0 coarsens the output exponent for slopes above 1."""
    v = x.astype(np.int64)
    neg = np.minimum(v, 0) * np.asarray(a, np.int64).reshape((1, -1) + (1,) * (x.ndim - 2))
    return clip8(_round_shift(np.maximum(v, 0), pos_shift) + _round_shift(neg, shift), False)
