"""Independent numpy references for the operator tests (plain int64 arithmetic, written from the operator
definitions, sharing nothing with vta.jit)."""

import numpy as np


def wrap32(v):
    return ((np.asarray(v, dtype=np.int64) + (1 << 31)) % (1 << 32)) - (1 << 31)


def shr(v, k):
    """The ALU's SHR by a constant: arithmetic right shift, a negative amount shifts left (wrapping to 32 bits)."""
    v = np.asarray(v, dtype=np.int64)
    return v >> k if k >= 0 else wrap32(v << (-k))


def clip8(v, relu):
    return np.clip(v, 0 if relu else -128, 127).astype(np.int8)


def conv2d(x, w, bias=None, stride=1, padding=0, shift=0, relu=False, mult=1):
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), dtype=np.int64)
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    acc = np.zeros((n, o, oh, ow), dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            acc += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j].astype(np.int64))
    if bias is not None:
        acc = acc + bias.astype(np.int64)[None, :, None, None]
    return clip8(wrap32(wrap32(acc) * mult) >> shift, relu)


def dense(x, w, bias=None, shift=0, relu=False, mult=1):
    acc = x.astype(np.int64) @ w.astype(np.int64).T
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    return clip8(wrap32(wrap32(acc) * mult) >> shift, relu)


def add(a, b, a_shift=0, b_shift=0, shift=0, relu=False):
    return clip8(shr(wrap32(shr(a, a_shift) + shr(b, b_shift)), shift), relu)


def requantize(x, shift=0, scale=1, offset=0, relu=False):
    return clip8(wrap32(wrap32(x.astype(np.int64) * scale) + offset) >> shift, relu)


def max_pool2d(x, k, stride, padding):
    n, c, h, w = x.shape
    oh, ow = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    out = np.full((n, c, oh, ow), -1000, dtype=np.int64)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride - padding, j * stride - padding
            win = x[:, :, max(r0, 0):r0 + k, max(c0, 0):c0 + k]
            out[:, :, i, j] = win.reshape(n, c, -1).max(axis=2)
    return out.astype(np.int8)
