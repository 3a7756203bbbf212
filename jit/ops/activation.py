"""Piecewise-linear activations on the tensor ALU, int8 → int8: clip of an affine function (Clip, ReLU6,
HardSigmoid), LeakyReLU and HardSwish.

Each is a fixed sequence of ALU steps with 16-bit immediates over `run_elementwise` tiles, so the lanes stay
int32 between steps (no int8 rounding inside). LeakyReLU and HardSwish load the input twice, into two acc regions,
and combine them: LeakyReLU adds the positive part to the scaled negative part; HardSwish multiplies ``x`` by its
own hard-sigmoid, lane by lane (MUL of two int lanes). A final shift and int8 clip (or a Clip to ``[0, 127]`` or
``[−128, 127]``) is the last step's requantizing out write, not ALU passes (`vta.jit.ops.common.fold_requant`).
"""

import numpy as np

from ...errors import VTAError
from ...isa.opcodes import AluOp, MemId
from .common import check_array, check_int, clip_steps
from .elementwise import IMM_MAX, IMM_MIN, affine_steps, run_elementwise

__all__ = ["affine_clip", "leaky_relu", "hard_swish"]


def _imm(v, name):
    return check_int(v, name, IMM_MIN, IMM_MAX)


def _round_steps(shift, k):
    """ADD 2^(shift−1), SHR shift on region ``k``: a round-half-up right shift (nothing for shift 0)."""
    if not shift:
        return []
    if (1 << (shift - 1)) > IMM_MAX:
        raise VTAError(f"a rounding shift of {shift} needs an immediate 2^{shift - 1} above the 16-bit limit")
    return [("imm", AluOp.ADD, 1 << (shift - 1), k), ("imm", AluOp.SHR, shift, k)]


def affine_clip(rt, x, scale, offset, shift, lo, hi, schedule):
    check_array(x, "x", np.int8)
    scale, offset = _imm(scale, "scale"), _imm(offset, "offset")
    shift = check_int(shift, "shift", 0, 31)
    lo, hi = check_int(lo, "lo", -128, 127), check_int(hi, "hi", -128, 127)
    if lo > hi:
        raise VTAError(f"clip bounds lo={lo} > hi={hi}")
    steps = affine_steps(scale, offset, shift, 0) + [("imm", AluOp.MAX, lo, 0), ("imm", AluOp.MIN, hi, 0)]
    return run_elementwise(rt, [(x, MemId.ACC_8BIT)], steps, schedule, "clip")


def leaky_relu(rt, x, scale, shift, schedule):
    check_array(x, "x", np.int8)
    scale, shift = _imm(scale, "scale"), check_int(shift, "shift", 0, 16)
    steps = [("imm", AluOp.MAX, 0, 0), ("imm", AluOp.MIN, 0, 1)]
    if scale != 1:
        steps.append(("imm", AluOp.MUL, scale, 1))
    steps += _round_steps(shift, 1)
    steps += [("tensor", AluOp.ADD, 1, 0)] + clip_steps()
    return run_elementwise(rt, [(x, MemId.ACC_8BIT), (x, MemId.ACC_8BIT)], steps, schedule, "leaky_relu")


def hard_swish(rt, x, scale, offset, shift, one, out_shift, schedule):
    check_array(x, "x", np.int8)
    scale, offset, one = _imm(scale, "scale"), _imm(offset, "offset"), _imm(one, "one")
    shift, out_shift = check_int(shift, "shift", 0, 31), check_int(out_shift, "out_shift", 0, 16)
    if one < 0:
        raise VTAError(f"one (the integer that stands for 1.0) must be ≥ 0, not {one}")
    steps = affine_steps(scale, offset, shift, 1)
    steps += [("imm", AluOp.MAX, 0, 1), ("imm", AluOp.MIN, one, 1), ("tensor", AluOp.MUL, 1, 0)]
    steps += _round_steps(out_shift, 0) + clip_steps()
    return run_elementwise(rt, [(x, MemId.ACC_8BIT), (x, MemId.ACC_8BIT)], steps, schedule, "hard_swish")
