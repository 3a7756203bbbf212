"""global_avg_pool on the tensor ALU: the mean over H×W of int8 NCHW as sums of ADDs, then integer rescaling.

Why this shape: VTA has no divider, but a mean is a sum times 1/(H·W). The sum is exact in the int32 acc (at most
2^24 positions of |x| ≤ 128); the rescale is ``((round_shift(sum, pre_shift) · scale) round_shift shift)`` with a
16-bit ``scale`` — exact when H·W is a power of two (``scale`` 1, one rounding shift), otherwise a
multiply-by-reciprocal whose error the compiler bounds before it chooses VTA (`vta.quant.reduce`). The numpy
twin is `vta.compiler.arith.global_avg_pool_int8`.

x is packed as ``(N', C', H, W)`` elements of BATCH×BLOCK_OUT lanes, so one (batch block, channel block) is a
*plane* of H·W consecutive acc elements. A tile holds ``planes`` planes (or, for planes larger than the acc
slot, one plane in ``chunk``-element pieces). Each piece is loaded with LOAD ACC_8BIT and halved in place by ADDs
(the upper half onto the lower: ⌈log2 L⌉ ALU instructions, each hazard-free and one uop in a plane × element
loop), then its first element is added onto the plane's output element (set to 0 first by an ALU MOV). The
rescale's final shift and int8 clip are the requantizing out write of its last step (of the last gather when
there is no rescale: `vta.jit.ops.common.fold_requant`), not ALU passes. Two virtual threads
alternate acc slots, so a tile's store overlaps the next tile's loads and ADDs, as in `run_elementwise`.
"""

import numpy as np

from ...errors import VTAError
from ...isa.insn import Uop
from ...isa.opcodes import AluOp, MemId
from ..builder import Stage
from ..kernels import Loop, UopKernel
from ..layout import ceil_div, pack_nchw, unpack_nchw
from ..results import OpResult
from .activation import _round_steps
from .common import alu_flat, check_array, check_int, clip_steps, fold_requant, run_steps
from .elementwise import IMM_MAX

__all__ = ["global_avg_pool", "MAX_POSITIONS"]

C, S_ = Stage.COMPUTE, Stage.STORE
MAX_POSITIONS = 1 << 24     # |sum| ≤ 128 · 2^24 = 2^31: the int32 acc never wraps


def _halve(rt, st, base, planes, pitch, length):
    """ADD the upper half of each of ``planes`` runs of ``length`` elements (``pitch`` apart) onto the lower half,
    until one element per run holds its sum."""
    while length > 1:
        h = length // 2
        src = base + length - h
        sig = ("gap_halve", base, src, planes, pitch, h)
        loops = (Loop(planes, pitch, pitch), Loop(h, 1, 1)) if planes > 1 else (Loop(h, 1, 1),)
        kern = rt.kernel(st, sig, lambda sig=sig, src=src, loops=loops: UopKernel(sig, (Uop(base, src, 0),), loops))
        st.alu(kern, AluOp.ADD)
        length -= h


def _gather(rt, st, obase, ibase, planes, pitch, requant=False):
    """out[p] += in[p · pitch] for each plane p."""
    sig = ("gap_gather", obase, ibase, planes, pitch)
    kern = rt.kernel(st, sig, lambda: UopKernel(sig, (Uop(obase, ibase, 0),), (Loop(planes, 1, pitch),)))
    st.alu(kern, AluOp.ADD, requant=requant)


def global_avg_pool(rt, x, pre_shift, scale, shift):
    """``clip(round_shift(round_shift(Σ_hw x, pre_shift) · scale, shift), -128, 127)`` per (n, c) → (N, C, 1, 1)
    int8, where ``round_shift(v, s) = (v + 2^(s−1)) >> s``."""
    cfg = rt.cfg
    check_array(x, "x", np.int8, 4)
    pre_shift = check_int(pre_shift, "pre_shift", 0, 15)
    shift = check_int(shift, "shift", 0, 15)
    scale = check_int(scale, "scale", 1, IMM_MAX)
    n, c, h, w = x.shape
    hw = h * w
    if hw > MAX_POSITIONS:
        raise VTAError(f"global_avg_pool over {hw} positions: at most {MAX_POSITIONS} (the int32 sum could wrap)")
    bound = ceil_div(128 * hw, 1 << pre_shift) + 1
    if bound * scale + (1 << max(shift - 1, 0)) >= 1 << 31:
        raise VTAError(f"global_avg_pool: the sum of {hw} positions >> {pre_shift}, times scale {scale}, could "
                       f"exceed int32")
    t0 = rt.begin()
    xp = pack_nchw(x, cfg.batch, cfg.block_out)
    nb, cb = xp.shape[:2]
    n_planes = nb * cb
    eb = cfg.out_elem_bytes
    S = 2 if n_planes > 1 else 1
    slot = cfg.acc_depth // S
    if hw + 1 <= slot:
        chunk, planes = hw, min(n_planes, slot // (hw + 1))
    else:
        chunk, planes = slot - 1, 1
    in_size = planes * chunk
    steps = _round_steps(pre_shift, 0) + ([("imm", AluOp.MUL, scale, 0)] if scale != 1 else [])
    epilogue = fold_requant(steps + _round_steps(shift, 0) + clip_steps(), prior=True)   # the last gather's word
    bufs = []
    try:
        xb = rt.upload(xp, eb, "global_avg_pool input")
        bufs.append(xb)
        yb = rt.empty(n_planes * eb, eb, "global_avg_pool output")
        bufs.append(yb)
        X, Y = xb.elem(eb), yb.elem(eb)
        def emit(st):   # reads the key's values (and the runtime state run_stream checks)
            tiles = ceil_div(n_planes, planes)
            if epilogue.q is not None:
                st.setq(*epilogue.q)
            for j in range(tiles):
                p0, pc = j * planes, min(planes, n_planes - j * planes)
                ibase = (j % S) * slot
                obase = ibase + in_size
                for k, e0 in enumerate(range(0, hw, chunk)):
                    cnt = min(chunk, hw - e0)
                    # acc only, not out
                    st.load(MemId.ACC_8BIT, ibase, X + p0 * hw + e0, pc, cnt, hw if pc > 1 else cnt)
                    if k == 0:
                        if j >= S:
                            st.pop(S_, C)                   # the store of tile j-S has read this slot's out
                        alu_flat(rt, st, AluOp.MOV, obase, pc, imm=0)
                    _halve(rt, st, ibase, pc, cnt, cnt)
                    _gather(rt, st, obase, ibase, pc, cnt, requant=epilogue.prior and e0 + cnt == hw)
                run_steps(rt, st, epilogue.steps, [obase], pc)
                st.push(C, S_)
                st.pop(C, S_)
                st.store(obase, Y + p0, 1, pc, pc)
                if j + S < tiles:
                    st.push(S_, C)
        stats = rt.run_stream(("global_avg_pool", x.shape, pre_shift, scale, shift, X, Y), emit, "global_avg_pool",
                              build_start=t0)
        out = rt.download(yb, np.int8, (nb, cb, 1, 1, cfg.batch, cfg.block_out))
    finally:
        for b in bufs:
            rt.alloc.free(b)
    return OpResult(unpack_nchw(out, n, c), stats)
