"""Element-wise operators on the tensor ALU: add (with shifts), relu, requantize (scale, offset, shift, clip).

Tensors of any shape are flattened and cut into acc elements of BATCH·BLOCK_OUT lanes (layout does not matter
element-wise). int8 operands are loaded with LOAD ACC_8BIT (sign-extended), int32 with LOAD ACC — both run in the
compute stage. A trailing shift and int8 clip (``[SHR s], MAX lo, MIN 127``) is not run as ALU passes: the step
before it writes out requantized (`vta.jit.ops.common.fold_requant`), so ``add`` costs one ALU pass per element
(plus its input shifts). With two virtual threads the acc/out space is split into two slots: the store of tile j
overlaps the loads and ALU work of tile j+1, and the first out-writing instruction of tile j+2 waits (s2g) for
that store.
"""

import numpy as np

from ...errors import VTAError
from ...isa.opcodes import AluOp, MemId
from ...isa.stages import MEMORY_TYPES
from ..builder import Stage
from ..layout import ceil_div, pack_flat, unpack_flat
from ..results import OpResult
from ..schedule import check_elementwise, default_elementwise_schedule
from .common import check_array, check_int, clip_steps, fold_requant, run_steps

__all__ = ["add", "relu", "requantize", "run_elementwise"]

C, S_ = Stage.COMPUTE, Stage.STORE
IMM_MIN, IMM_MAX = -(1 << 15), (1 << 15) - 1


def add(rt, a, b, a_shift, b_shift, shift, relu, schedule):
    check_array(a, "a", np.int8)
    check_array(b, "b", np.int8)
    if a.shape != b.shape:
        raise VTAError(f"add needs operands of one shape, not {a.shape} and {b.shape}")
    steps = []
    for name, v, k in (("a_shift", a_shift, 0), ("b_shift", b_shift, 1)):
        v = check_int(v, name, -31, 31)
        if v:
            steps.append(("imm", AluOp.SHR, v, k))
    steps.append(("tensor", AluOp.ADD, 1, 0))
    shift = check_int(shift, "shift", -31, 31)
    if shift:
        steps.append(("imm", AluOp.SHR, shift, 0))
    steps += clip_steps(relu)
    return run_elementwise(rt, [(a, MemId.ACC_8BIT), (b, MemId.ACC_8BIT)], steps, schedule, "add")


def relu(rt, x, schedule):
    check_array(x, "x", np.int8)
    return run_elementwise(rt, [(x, MemId.ACC_8BIT)], [("imm", AluOp.MAX, 0, 0)], schedule, "relu")


def requantize(rt, x, shift, scale, offset, relu, schedule):
    check_array(x, "x", np.int32)
    shift = check_int(shift, "shift", 0, 31)
    scale = check_int(scale, "scale", IMM_MIN, IMM_MAX)
    offset = check_int(offset, "offset", IMM_MIN, IMM_MAX)
    steps = affine_steps(scale, offset, shift, 0) + clip_steps(relu)
    return run_elementwise(rt, [(x, MemId.ACC)], steps, schedule, "requantize")


def affine_steps(scale, offset, shift, k):
    """ALU steps computing ``(x · scale + offset) >> shift`` on acc region ``k``; identity parts are left out."""
    steps = []
    if scale != 1:
        steps.append(("imm", AluOp.MUL, scale, k))
    if offset:
        steps.append(("imm", AluOp.ADD, offset, k))
    if shift:
        steps.append(("imm", AluOp.SHR, shift, k))
    return steps


def run_elementwise(rt, inputs, steps, schedule, op):
    """Load each input tile into its acc region, apply ``steps`` in order, store input 0's region as int8.

    A step is ``("imm", op, value, k)`` (region k op= value) or ``("tensor", op, k, m)`` (region m op= region k);
    a trailing shift and int8 clip of region 0 becomes a requantizing out write (`fold_requant`).
    Returns an `OpResult`.
    """
    folded = fold_requant(steps)
    cfg = rt.cfg
    lanes = cfg.batch * cfg.block_out
    shape = inputs[0][0].shape
    packed = [pack_flat(x, lanes) for x, _ in inputs]
    n = packed[0].shape[0]
    s = default_elementwise_schedule(cfg, n, len(inputs)) if schedule is None else schedule
    check_elementwise(cfg, n, len(inputs), s)
    t0 = rt.begin()
    bufs = []
    try:
        srcs = []
        for p, (_x, mem) in zip(packed, inputs):
            eb = MEMORY_TYPES[mem].dram_elem_bytes(cfg)
            buf = rt.upload(p, eb, f"{op} operand")
            bufs.append(buf)
            srcs.append((buf.elem(eb), mem))
        yb = rt.empty(n * cfg.out_elem_bytes, cfg.out_elem_bytes, f"{op} output")
        bufs.append(yb)
        y = yb.elem(cfg.out_elem_bytes)
        def emit(st):   # reads the key's values (and the runtime state run_stream checks)
            S, T, k = s.n_vthreads, s.tile, len(inputs)
            tiles = ceil_div(n, T)
            if folded.q is not None:
                st.setq(*folded.q)
            for j in range(tiles):
                e0, cnt = j * T, min(T, n - j * T)
                base = (j % S) * k * T
                region = [base + r * T for r in range(k)]
                for r, (dram, mem) in enumerate(srcs):
                    st.load(mem, region[r], dram + e0, 1, cnt, cnt)   # writes acc only, never out
                if j >= S:
                    st.pop(S_, C)                                     # the store of tile j-S has read out
                run_steps(rt, st, folded.steps, region, cnt)
                st.push(C, S_)
                st.pop(C, S_)
                st.store(region[0], y + e0, 1, cnt, cnt)
                if j + S < tiles:
                    st.push(S_, C)
        stats = rt.run_stream(("elementwise", n, s, tuple(srcs), y, folded), emit, op, schedule=s, build_start=t0)
        out = rt.download(yb, np.int8, (n, lanes))
    finally:
        for b in bufs:
            rt.alloc.free(b)
    return OpResult(unpack_flat(out, shape), stats)
