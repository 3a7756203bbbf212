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
    """The placement of a kernel that visits acc ``dst .. dst+n-1`` once each: one uop in a loop of ``n``.

    ``mode`` "alu": ``src`` is the second operand range (``None``: the same range as dst, for immediates).
    ``mode`` "gemm": for reset GEMMs; src and wgt indices stay 0. ``n`` always fits the 14-bit loop extent: the
    ALU word limits the acc depth to 2^11 elements (4·log acc depth + 20 ≤ 64).
    """
    if not 1 <= n <= MAX_ITER:
        raise VTAError(f"internal error: a flat kernel over {n} elements (1..{MAX_ITER} expected)")
    if mode == "gemm":
        s, sf = 0, 0
    else:
        s, sf = (dst if src is None else src), 1
    sig = ("flat", mode, dst, s, n)
    return rt.kernel(stream, sig, lambda: UopKernel(sig, (Uop(dst, s, 0),), (Loop(n, 1, sf, 0),)))


def alu_flat(rt, stream, op, dst, n, imm=None, src=None):
    """ALU ``op`` on acc ``dst .. dst+n-1`` with an immediate or the range from ``src``."""
    stream.alu(flat(rt, stream, "alu", dst, n, src), op, imm)


def gemm_reset(rt, stream, dst, n):
    """Zero acc (and out) ``dst .. dst+n-1``."""
    stream.gemm(flat(rt, stream, "gemm", dst, n), reset=True)


def clip_epilogue(rt, stream, dst, n, shift, relu):
    """``acc = clip(acc >> shift, 0 if relu else -128, 127)`` on a contiguous range (the out buffer follows)."""
    if shift:
        alu_flat(rt, stream, AluOp.SHR, dst, n, imm=shift)
    alu_flat(rt, stream, AluOp.MAX, dst, n, imm=0 if relu else -128)
    alu_flat(rt, stream, AluOp.MIN, dst, n, imm=127)
