"""Per-channel products on the tensor ALU: `channel_scale` multiplies int8 NCHW ``x`` by a per-(image, channel)
int8 factor ``s`` (N, C, 1, 1), then shifts with rounding — the gate multiply of a squeeze-and-excitation block
(``x · hardsigmoid(…)``); `channel_prelu` is PReLU with one int32 slope per channel (MTCNN's activations):
``max(x, 0) + round_shift(min(x, 0) · a_c, shift)``.

Why it fits VTA: packed as ``(N', C', H, W)`` elements of BATCH×BLOCK_OUT lanes, the factor of a (batch block,
channel block) is a single acc element whose lanes line up with every element of that plane. One ALU MUL whose
micro-op keeps the source fixed (loop source factor 0) while the destination walks the plane multiplies them all,
lane by lane. Then ADD 2^(shift−1), SHR shift, clip to int8 — the shift and clip as the ADD's requantizing out
write (`vta.jit.ops.common.fold_requant`), so two ALU passes in all (one with shift 0). Planes larger than an acc
slot are done in pieces (the factor is loaded again with each). The numpy twin is
`vta.compiler.arith.channel_mul_int8`.
"""

import numpy as np

from ...errors import VTAError
from ...isa.insn import Uop
from ...isa.opcodes import AluOp, MemId
from ..builder import Stage
from ..kernels import Loop, UopKernel
from ..layout import pack_nchw, unpack_nchw
from ..results import OpResult
from .activation import _round_steps
from .common import alu_flat, check_array, check_int, clip_steps, fold_requant, run_steps

__all__ = ["channel_scale", "channel_prelu"]

C, S_ = Stage.COMPUTE, Stage.STORE


def _mul(rt, st, xbase, sbase, planes, cnt, requant=False):
    """acc[xbase + p·cnt + i] *= acc[sbase + p] for every plane p and element i."""
    sig = ("chscale_mul", xbase, sbase, planes, cnt)
    loops = (Loop(planes, cnt, 1), Loop(cnt, 1, 0)) if planes > 1 else (Loop(cnt, 1, 0),)
    kern = rt.kernel(st, sig, lambda: UopKernel(sig, (Uop(xbase, sbase, 0),), loops))
    st.alu(kern, AluOp.MUL, requant=requant)


def _pieces(cfg, n_planes, hw, copies):
    """How the planes are cut to fit the acc buffer: ``(S, slot, planes, chunk, pieces)`` — S slots (two, double
    buffered, unless there is one element in all), each ``slot`` elements holding ``copies`` acc copies of
    ``planes`` planes × ``chunk`` positions plus one factor per plane; ``pieces`` the (first plane, first position)
    of each piece in order."""
    S = 2 if n_planes > 1 or hw > 1 else 1
    slot = cfg.acc_depth // S
    if copies * hw + 1 <= slot:
        chunk, planes = hw, min(n_planes, slot // (copies * hw + 1))
    else:
        chunk, planes = (slot - 1) // copies, 1
    pieces = [(p0, e0) for p0 in range(0, n_planes, planes) for e0 in range(0, hw, chunk)]
    return S, slot, planes, chunk, pieces


def _run_pieces(rt, what, key, xp, fp, f_bytes, f_label, n_planes, hw, copies, load, compute, t0, q=None):
    """The shared body of `channel_scale` and `channel_prelu`: upload the packed input ``xp`` (int8) and the
    per-plane factors ``fp`` (``f_bytes`` per element), walk the `_pieces` double-buffered through the acc slots
    and store each piece's result, freeing the buffers whatever happens.

    Per piece, ``load(st, base, x_src, f_src, planes, pc, cnt, stride)`` issues its loads into the slot at ``base``
    (``planes`` × chunk positions per acc copy), then ``compute(st, base, planes, pc, cnt)`` its ALU work and
    returns the acc base whose rows the store reads; ``q`` (shift, relu) is set by one SETQ first, for the
    requantizing words of ``compute``. The stream is cached under ``key + (X, F, Y, q)``."""
    cfg = rt.cfg
    eb = cfg.out_elem_bytes
    S, slot, planes, chunk, pieces = _pieces(cfg, n_planes, hw, copies)
    bufs = []
    try:
        xb = rt.upload(xp, eb, f"{what} input")
        bufs.append(xb)
        fb = rt.upload(fp, f_bytes, f"{what} {f_label}")
        bufs.append(fb)
        yb = rt.empty(xp.size // (cfg.batch * cfg.block_out) * eb, eb, f"{what} output")
        bufs.append(yb)
        X, F, Y = xb.elem(eb), fb.elem(f_bytes), yb.elem(eb)
        def emit(st):   # reads the key's values (and the runtime state run_stream checks)
            if q is not None:
                st.setq(*q)
            for j, (p0, e0) in enumerate(pieces):
                pc, cnt = min(planes, n_planes - p0), min(chunk, hw - e0)
                base, stride = (j % S) * slot, hw if pc > 1 else cnt
                load(st, base, X + p0 * hw + e0, F + p0, planes * chunk, pc, cnt, stride)
                if j >= S:
                    st.pop(S_, C)                       # the store of piece j-S has read this slot's out
                out = compute(st, base, planes * chunk, pc, cnt)
                st.push(C, S_)
                st.pop(C, S_)
                st.store(out, Y + p0 * hw + e0, pc, cnt, stride)
                if j + S < len(pieces):
                    st.push(S_, C)
        stats = rt.run_stream(key + (X, F, Y, q), emit, key[0], build_start=t0)
        return rt.download(yb, np.int8, xp.shape), stats
    finally:
        for b in bufs:
            rt.alloc.free(b)


def channel_scale(rt, x, s, shift):
    """``clip((x · s + 2^(shift−1)) >> shift, -128, 127)`` with ``s`` (N, C, 1, 1) broadcast over H×W; int8."""
    cfg = rt.cfg
    check_array(x, "x", np.int8, 4)
    check_array(s, "s", np.int8, 4)
    n, c, h, w = x.shape
    if s.shape != (n, c, 1, 1):
        raise VTAError(f"s must have shape {(n, c, 1, 1)} (one factor per image and channel), not {s.shape}")
    shift = check_int(shift, "shift", 0, 15)
    t0 = rt.begin()
    xp, sp = pack_nchw(x, cfg.batch, cfg.block_out), pack_nchw(s, cfg.batch, cfg.block_out)
    nb, cb = xp.shape[:2]
    folded = fold_requant(_round_steps(shift, 0) + clip_steps(), prior=True)   # with shift 0 the MUL requantizes

    def load(st, xbase, x_src, s_src, span, pc, cnt, stride):
        st.load(MemId.ACC_8BIT, xbase, x_src, pc, cnt, stride)   # acc only
        st.load(MemId.ACC_8BIT, xbase + span, s_src, 1, pc, pc)

    def compute(st, xbase, span, pc, cnt):
        _mul(rt, st, xbase, xbase + span, pc, cnt, requant=folded.prior)
        run_steps(rt, st, folded.steps, [xbase], pc * cnt)
        return xbase

    out, stats = _run_pieces(rt, "channel_scale", ("channel_scale", x.shape, shift), xp, sp, cfg.out_elem_bytes,
                             "factors", nb * cb, h * w, 1, load, compute, t0, folded.q)
    return OpResult(unpack_nchw(out, n, c), stats)


def channel_prelu(rt, x, a, shift, pos_shift=0):
    """``clip(round_shift(max(x, 0), pos_shift) + round_shift(min(x, 0) · a_c, shift), -128, 127)`` for int8 NCHW
    ``x`` and int32 slopes ``a`` (C,) (``round_shift(v, s) = (v + 2^(s−1)) >> s``; ``pos_shift`` > 0 makes room
    for slopes above 1): two acc copies of each piece (positive and negative part), the slopes loaded as int32 acc
    elements (one per plane) and multiplied in with a fixed uop source, as in `channel_scale`."""
    cfg = rt.cfg
    check_array(x, "x", np.int8, 4)
    check_array(a, "a", np.int32, 1)
    n, c, h, w = x.shape
    if a.shape != (c,):
        raise VTAError(f"a must have one slope per channel, shape {(c,)}, not {a.shape}")
    if np.abs(a.astype(np.int64)).max() > (1 << 23):
        raise VTAError(f"slopes must be within ±2^23 (min(x, 0)·a must fit int32), not {int(np.abs(a).max())}")
    shift = check_int(shift, "shift", 0, 15)
    pos_shift = check_int(pos_shift, "pos_shift", 0, 15)
    t0 = rt.begin()
    xp = pack_nchw(x, cfg.batch, cfg.block_out)
    ap = pack_nchw(np.broadcast_to(a.reshape(1, c, 1, 1), (n, c, 1, 1)), cfg.batch, cfg.block_out)
    nb, cb = xp.shape[:2]
    steps = _round_steps(pos_shift, 0) + _round_steps(shift, 1)
    folded = fold_requant(steps + [("tensor", AluOp.ADD, 1, 0)] + clip_steps())

    def load(st, base, x_src, a_src, span, pc, cnt, stride):
        for r in (base, base + span):   # the positive and the negative part
            st.load(MemId.ACC_8BIT, r, x_src, pc, cnt, stride)
        st.load(MemId.ACC, base + 2 * span, a_src, 1, pc, pc)

    def compute(st, base, span, pc, cnt):
        region = [base, base + span]
        alu_flat(rt, st, AluOp.MAX, region[0], pc * cnt, imm=0)
        alu_flat(rt, st, AluOp.MIN, region[1], pc * cnt, imm=0)
        _mul(rt, st, region[1], base + 2 * span, pc, cnt)
        run_steps(rt, st, folded.steps, region, pc * cnt)   # the final ADD requantizes: no clip passes
        return region[0]

    out, stats = _run_pieces(rt, "prelu", ("prelu", x.shape, shift, pos_shift), xp, ap, cfg.acc_elem_bytes,
                             "slopes", nb * cb, h * w, 2, load, compute, t0, folded.q)
    return OpResult(unpack_nchw(out, n, c), stats)
