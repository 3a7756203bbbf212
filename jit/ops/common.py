"""Pieces every operator uses: argument checks, flat kernels over a contiguous acc range, and ALU step lists whose
shift-and-clip tail becomes a requantizing out write (`fold_requant`)."""

from typing import NamedTuple

import numpy as np

from ...errors import VTAError
from ...isa.insn import Uop
from ...isa.layouts import IMM_BITS
from ...isa.opcodes import AluOp
from ...isa.requant import SHIFT_MAX
from ..kernels import MAX_ITER, Loop, UopKernel

__all__ = ["check_array", "check_int", "check_mult", "acc_bound", "MULT_MAX", "flat", "alu_flat", "gemm_reset",
           "clip_steps", "Steps", "fold_requant", "run_steps"]


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


MULT_MAX = (1 << (IMM_BITS - 1)) - 1       # the ALU immediate is signed


def acc_bound(w_rows, bias_max):
    """The largest |acc| a GEMM with int8 weights ``w_rows`` (one row per output channel) and biases of magnitude
    up to ``bias_max`` can reach for any int8 input: ``128 · max Σ|w| + bias_max``."""
    w_rows = np.asarray(w_rows)
    return 128 * int(np.abs(w_rows.reshape(len(w_rows), -1).astype(np.int64)).sum(axis=1).max(initial=0)) \
        + int(bias_max)


def check_mult(mult, w_rows, bias):
    """``mult`` as an int in 1..`MULT_MAX` (the ALU immediate) whose product with every sum the GEMM can produce
    (`acc_bound`) fits int32: the ALU's MUL keeps the low 32 bits, a larger product would wrap silently.
    ``w_rows``: the weights, one row per output channel; ``bias`` int32 or None."""
    mult = check_int(mult, "mult", 1, MULT_MAX)
    if mult == 1:
        return 1
    bound = acc_bound(w_rows, 0 if bias is None else int(np.abs(bias.astype(np.int64)).max(initial=0)))
    if bound * mult >= 1 << 31:
        raise VTAError(f"mult {mult} times the largest sum these weights and biases can produce ({bound}) "
                       f"exceeds int32 (the ALU MUL would wrap): mult must be ≤ {((1 << 31) - 1) // max(bound, 1)}")
    return mult


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


def alu_flat(rt, stream, op, dst, n, imm=None, src=None, requant=False):
    """ALU ``op`` on acc ``dst .. dst+n-1`` with an immediate or the range from ``src`` (``requant``: its out
    writes are requantized, `vta.jit.builder.CommandStream.setq`)."""
    stream.alu(flat(rt, stream, "alu", dst, n, src), op, imm, requant=requant)


def gemm_reset(rt, stream, dst, n):
    """Zero acc (and out) ``dst .. dst+n-1``."""
    stream.gemm(flat(rt, stream, "gemm", dst, n), reset=True)


def clip_steps(relu=False, region=0):
    """The int8 clip of ``region`` as ALU steps (`fold_requant` turns them into a requantizing out write)."""
    return [("imm", AluOp.MAX, 0 if relu else -128, region), ("imm", AluOp.MIN, 127, region)]


class Steps(NamedTuple):
    """An ALU step list after `fold_requant`: ``q`` the (shift, relu) to SETQ (None: no word requantizes),
    ``steps`` the steps to emit, each ``(kind, op, a, region, requant)`` — kind "imm": region op= a (an
    immediate); kind "tensor": region op= region a —, and ``prior``: the word the caller emits just before the
    steps (it writes the stored region) carries the requant instead."""
    q: tuple | None
    steps: tuple
    prior: bool


def _is(step, op, region, values):
    return step[0] == "imm" and step[1] == op and step[3] == region and step[2] in values


def fold_requant(steps, region=0, prior=False):
    """Replace a trailing ``[SHR s], MAX lo, MIN 127`` on ``region`` (``s`` 0..31, ``lo`` −128 or 0: the int8
    clip, with ReLU when ``lo`` is 0) by a requantizing out write, which computes exactly
    ``clamp(x >> s, lo, 127)`` — 2 or 3 ALU passes fewer.

    ``steps`` are ``(kind, op, a, region)`` tuples (`run_steps`). The word that carries the requant is the last
    one before the tail when it writes ``region``: the step before it, or with an empty rest and ``prior`` the
    caller's own word before the steps; the whole tail folds into it with Q = (s, relu). Otherwise the tail's
    first step stays and carries the requant with Q = (0, relu) (``clamp(x >> s)`` resp. ``clamp(max(x, lo))``
    is the same clip). Step lists without that tail come back unchanged with ``q`` None."""
    steps = [tuple(st) for st in steps]
    if len(steps) < 2 or not (_is(steps[-1], AluOp.MIN, region, (127,))
                              and _is(steps[-2], AluOp.MAX, region, (-128, 0))):
        return Steps(None, tuple(st + (False,) for st in steps), False)
    relu = steps[-2][2] == 0
    tail = 2
    if len(steps) >= 3 and _is(steps[-3], AluOp.SHR, region, range(SHIFT_MAX + 1)):
        tail = 3
    body = [st + (False,) for st in steps[:-tail]]
    shift = steps[-3][2] if tail == 3 else 0
    if body and body[-1][3] == region:
        body[-1] = body[-1][:4] + (True,)
        return Steps((shift, relu), tuple(body), False)
    if not body and prior:
        return Steps((shift, relu), (), True)
    return Steps((0, relu), tuple(body) + (steps[-tail] + (True,),), False)


def run_steps(rt, stream, steps, regions, n):
    """Emit ``steps`` (`Steps.steps`) over ``n`` elements of each acc region (``regions[k]`` its first)."""
    for kind, op, a, r, requant in steps:
        if kind == "imm":
            alu_flat(rt, stream, op, regions[r], n, imm=a, requant=requant)
        else:
            alu_flat(rt, stream, op, regions[r], n, src=regions[a], requant=requant)
