"""Pieces every operator uses: argument checks, flat kernels over a contiguous acc range, the clip epilogue, and
the store→compute handshake that protects the out buffer of a virtual thread."""

import numpy as np

from ...errors import VTAError
from ...isa.insn import Uop
from ...isa.opcodes import AluOp
from ..kernels import MAX_ITER, Loop, UopKernel

__all__ = ["check_array", "check_int", "flat", "alu_flat", "gemm_reset", "clip_epilogue"]


def check_array(x, name, dtype, ndim=None):
    """``x`` as a numpy array of exactly ``dtype`` (no silent casts: values outside the type are an error)."""
    if not isinstance(x, np.ndarray):
        raise VTAError(f"{name} must be a numpy array, not {type(x).__name__}")
    if x.dtype != np.dtype(dtype):
        raise VTAError(f"{name} must be {np.dtype(dtype).name}, not {x.dtype.name}")
    if ndim is not None and x.ndim != ndim:
        raise VTAError(f"{name} must have {ndim} dimensions, not shape {x.shape}")
    if x.size == 0:
        raise VTAError(f"{name} must not be empty (shape {x.shape})")
    return x


def check_int(v, name, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= int(v) <= hi:
        raise VTAError(f"{name} must be an integer in {lo}..{hi}, not {v!r}")
    return int(v)


def flat(rt, stream, mode, dst, n, src=None):
    """Placements of kernels that visit acc ``dst .. dst+n-1`` once each (one uop, one or two loops).

    ``mode`` "alu": ``src`` is the second operand range (``None``: the same range as dst, for immediates).
    ``mode`` "gemm": for reset GEMMs; src and wgt indices stay 0.
    """
    out = []
    start = 0
    while start < n:
        count = n - start
        if count > MAX_ITER:
            q = min(count // MAX_ITER, MAX_ITER)
            count = q * MAX_ITER
            shape = ((q, MAX_ITER), (MAX_ITER, 1))
        else:
            shape = ((count, 1),)
        d = dst + start
        if mode == "gemm":
            s, sf = 0, 0
        else:
            s, sf = (d if src is None else src + start), 1
        sig = ("flat", mode, d, s, shape)

        def build(d=d, s=s, sf=sf, shape=shape, sig=sig):
            loops = tuple(Loop(ext, f, f * sf, 0) for ext, f in shape)
            return UopKernel(sig, (Uop(d, s, 0),), loops)
        out.append(rt.kernel(stream, sig, build))
        start += count
    return out


def alu_flat(rt, stream, op, dst, n, imm=None, src=None):
    """ALU ``op`` on acc ``dst .. dst+n-1`` with an immediate or the range from ``src``."""
    for p in flat(rt, stream, "alu", dst, n, src):
        stream.alu(p, op, imm)


def gemm_reset(rt, stream, dst, n):
    """Zero acc (and out) ``dst .. dst+n-1``."""
    for p in flat(rt, stream, "gemm", dst, n):
        stream.gemm(p, reset=True)


def clip_epilogue(rt, stream, dst, n, shift, relu):
    """``acc = clip(acc >> shift, 0 if relu else -128, 127)`` on a contiguous range (the out buffer follows)."""
    if shift:
        alu_flat(rt, stream, AluOp.SHR, dst, n, imm=shift)
    alu_flat(rt, stream, AluOp.MAX, dst, n, imm=0 if relu else -128)
    alu_flat(rt, stream, AluOp.MIN, dst, n, imm=127)
