"""The device's integer arithmetic in numpy, bit for bit: the golden model of every VTA step.

The quantization search scores plans with these functions, and tests demand that the device's outputs equal them,
so they must reproduce exactly what the GEMM core and the tensor ALU compute: int8 operands, int32 accumulation
(exact here in int64 / float sums that stay below 2^24 or 2^53), arithmetic (floor) shifts, clipping to int8.
"""

import numpy as np

from .ops import conv_nchw

__all__ = ["alu_shift", "clip8", "conv_int8", "dense_int8", "add_int8", "maxpool_int8", "affine_clip_int8",
           "leaky_relu_int8", "hard_swish_int8"]


def alu_shift(v, k):
    """ALU SHR semantics on int64 data: k ≥ 0 arithmetic right shift, k < 0 left shift."""
    return v >> k if k >= 0 else v << (-k)


def clip8(v, relu):
    return np.clip(v, 0 if relu else -128, 127).astype(np.int8)


def _exact_dtype(k):
    """float32 sums of ≤ k int8 products are exact while k·128·128 < 2^24; float64 beyond (exact to 2^53)."""
    return np.float32 if k * 128 * 128 < (1 << 24) else np.float64


def _shift_per_channel(shift, ndim):
    return np.asarray(shift).reshape((1, -1) + (1,) * (ndim - 2)) if np.ndim(shift) else int(shift)


def conv_int8(x, w, bias, shift, relu, strides, pads, groups=1):
    """``clip((conv(x, w) + bias) >> shift)`` for int8 NCHW ``x``, OIHW ``w``, int32 ``bias``; ``shift`` an int
    or one per output channel; ``pads`` (t, l, b, r) zero padding."""
    k = int(np.prod(w.shape[1:]))
    acc = np.rint(conv_nchw(x, w, strides, pads, group=groups, dtype=_exact_dtype(k))).astype(np.int64)
    acc += bias.astype(np.int64).reshape(1, -1, 1, 1)
    return clip8(acc >> _shift_per_channel(shift, 4), relu)


def dense_int8(x, w, bias, shift, relu):
    """``clip((x @ wᵀ + bias) >> shift)`` for int8 (N, K) ``x`` and (M, K) ``w``."""
    dt = _exact_dtype(w.shape[1])
    acc = np.rint(x.astype(dt) @ w.astype(dt).T).astype(np.int64)
    acc += bias.astype(np.int64)
    return clip8(acc >> _shift_per_channel(shift, 2), relu)


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
