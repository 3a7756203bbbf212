"""Integer forms of piecewise-linear activations at power-of-two scales, and the check that they are exact enough.

Given the input exponent ``ex`` (and the output's ``ey`` where it may differ), each function returns the fields of
the compiler step (`AffineClip`, `LeakyRelu`, `HardSwish`) and ``err``: the largest difference, in output steps,
between the step's integer result and the float activation of the dequantized input (rounded and saturated to
int8), over all 256 int8 inputs. The builder runs a step on VTA only when ``err ≤ MAX_STEPS_ERROR`` (one
quantization step); otherwise the activation stays on the host in float32 with that error as the reason.
"""

import math

import numpy as np

from ..compiler.arith import affine_clip_int8, hard_swish_int8, leaky_relu_int8

__all__ = ["MAX_STEPS_ERROR", "clip_params", "leaky_params", "hard_sigmoid_params", "hard_swish_params"]

MAX_STEPS_ERROR = 1
IMM = (1 << 15) - 1
HSWISH_BITS = 7         # hard-sigmoid inside HardSwish: 1.0 = 2^7 (so x · h stays within 15 bits)
_X = np.arange(-128, 128, dtype=np.int8)


def _err(y_int, f, ex, ey):
    want = np.clip(np.rint(f(_X.astype(np.float64) * 2.0 ** ex) * 2.0 ** -ey), -128, 127)
    return float(np.max(np.abs(y_int.astype(np.float64) - want)))


def clip_params(lo, hi, ex):
    lo_q = -128 if lo is None else max(-128, math.ceil(lo * 2.0 ** -ex))
    hi_q = 127 if hi is None else min(127, math.floor(hi * 2.0 ** -ex))
    lo_f = -np.inf if lo is None else lo
    hi_f = np.inf if hi is None else hi
    if lo_q > hi_q:
        return None, math.inf
    fields = dict(lo=lo_q, hi=hi_q)
    return fields, _err(affine_clip_int8(_X, 1, 0, 0, lo_q, hi_q), lambda v: np.clip(v, lo_f, hi_f), ex, ex)


def leaky_params(alpha, ex):
    k = -math.log2(alpha) if alpha > 0 else None
    if k is not None and k == int(k) and 0 <= k <= 16:
        scale, shift = 1, int(k)                      # a power-of-two slope is a plain rounding shift
    else:
        scale, shift = int(round(alpha * 256)), 8
    y = leaky_relu_int8(_X, scale, shift)
    return dict(scale=scale, shift=shift), _err(y, lambda v: np.where(v >= 0, v, alpha * v), ex, ex)


def _affine(alpha, beta, ex, ey):
    """(scale, offset, shift): ``(x·scale + offset) >> shift`` ≈ ``(alpha·x·2^ex + beta) / 2^ey``, rounded, with
    the finest shift whose immediates fit 16 bits."""
    for s in range(24, -1, -1):
        m = round(alpha * 2.0 ** (ex - ey + s))
        b = round(beta * 2.0 ** (s - ey)) + ((1 << (s - 1)) if s else 0)
        if abs(m) <= IMM and abs(b) <= IMM:
            return m, b, s
    return None


def hard_sigmoid_params(alpha, beta, ex, ey):
    p = _affine(alpha, beta, ex, ey)
    if p is None:
        return None, math.inf
    m, b, s = p
    hi = min(127, math.floor(2.0 ** -ey))
    y = affine_clip_int8(_X, m, b, s, 0, hi)
    return dict(scale=m, offset=b, shift=s, lo=0, hi=hi), _err(y, lambda v: np.clip(alpha * v + beta, 0, 1), ex, ey)


def hard_swish_params(ex, ey):
    """``ey`` is raised to ``ex − HSWISH_BITS`` at least (the product's shift cannot be negative) and lowered to at
    most 16 bits of shift; the returned fields include the ``ey`` used."""
    ey = min(max(ey, ex - HSWISH_BITS), ex - HSWISH_BITS + 16)
    p = _affine(1 / 6, 0.5, ex, -HSWISH_BITS)
    if p is None:
        return None, math.inf, ey
    m, b, s = p
    fields = dict(scale=m, offset=b, shift=s, one=1 << HSWISH_BITS, out_shift=HSWISH_BITS + ey - ex)
    y = hard_swish_int8(_X, **fields)
    return fields, _err(y, lambda v: v * np.clip(v / 6 + 0.5, 0, 1), ex, ey), ey
