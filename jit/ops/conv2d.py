"""conv2d on VTA: blocked layout, tiles that fit the buffers, double buffering with dependency tokens.

Data layout (see `vta.jit.layout`): x → ``(N', C', H, W)`` inp elements, w → ``(O', C', KH, KW)`` wgt elements,
y ← ``(N', O', OH, OW)`` out elements. A *tile* is ``tile_b`` batch blocks × ``tile_co`` output-channel blocks ×
``tile_h``×``tile_w`` output pixels, accumulated in one acc *slot*; it is computed in *chunks* of ``tile_ci``
input-channel blocks, each loaded into one inp/wgt slot. With ``n_vthreads`` = S, chunk i uses inp/wgt slot
i mod S and tile j acc slot j mod S, and tokens enforce:

- load of chunk i (i ≥ S) waits for compute of chunk i−S (g2l): its slot is free;
- compute of chunk i waits for its load (l2g);
- the first compute instruction of tile j (j ≥ S) waits for the store of tile j−S (s2g): its out slot was read;
- the store of tile j waits for its last GEMM (g2s), which leaves the requantized result in out.

Program order is: one SETQ (the call's shift and relu), loads of the first S chunks, then for each chunk its
compute (and, after a tile's last chunk, its store) followed by the load S chunks ahead. With S = 2 the load of
the next chunk and the store of the previous tile overlap the current GEMMs in hardware.

The epilogue costs one pass. GEMM and ALU share the compute pipeline (one uop per cycle), so an ALU pass cannot
overlap a GEMM: each costs one cycle per acc element, as much as one GEMM step — for a 1×1 layer of 4 input blocks
a bias ADD, SHR, MAX and MIN would cost as much as its GEMM. Instead a tile's acc *starts* at its bias (one ALU
MOV from the bias rows; a reset GEMM without a bias) and its last GEMM carries ``requant``: every out write of
that GEMM is ``clamp(acc >> shift, 0 if relu else −128, 127)`` (the register SETQ set), and its final write of
each acc element is the complete sum, so out holds the requantized result with no pass after the GEMMs
(docs/semantics.md, "Requantizing out writes"). The acc keeps the int32 sums; nothing reads them afterwards.
With a multiplier (``mult`` > 1: a requantization scale that is not a power of two, ``mult / 2^shift``) the last
GEMM writes only acc and one ALU MUL by the immediate, requantizing, follows per tile: one more pass.

SRAM per slot: inp ``[b][ci][in_row][in_col]`` (the input window of the tile, zero padded by LOAD), wgt
``[co][ci][kh][kw]``, acc ``[b][co][oh][ow]``; the bias of the tile's channels sits after the acc slots.
The GEMM kernel's micro-ops walk (kh, kw, b, oh, ow); its outer loop walks input-channel blocks and the inner loop
output-channel blocks, so consecutive GEMM steps never write the same acc element when tile_co > 1.
"""

import numpy as np

from ...errors import VTAError
from ...isa.insn import Uop
from ...isa.opcodes import AluOp, MemId
from ..builder import Stage
from ..kernels import Loop, UopKernel
from ..layout import pack_bias, pack_nchw, pack_oihw, unpack_nchw
from ..results import OpResult
from ..schedule import ConvGeometry, check_conv2d, default_conv2d_schedule
from .common import alu_flat, check_array, check_int, check_mult, gemm_reset

__all__ = ["conv2d", "run_conv"]

L, C, S_ = Stage.LOAD, Stage.COMPUTE, Stage.STORE


def conv2d(rt, x, w, bias, stride, padding, shift, relu, schedule, mult=1):
    check_array(x, "x", np.int8, 4)
    check_array(w, "w", np.int8, 4)
    if schedule is None and rt.schedules is not None:   # a tuning log's best (perhaps with a folded layout)
        x, w, stride, padding, schedule = rt.schedules.conv2d_choice(rt.cfg, x, w, stride, padding)
    n, c, h, wd = x.shape
    o, cw, kh, kw = w.shape
    if cw != c:
        raise VTAError(f"w has {cw} input channels (shape {w.shape}), x has {c} (shape {x.shape})")
    g = ConvGeometry.of(rt.cfg, n, c, h, wd, o, kh, kw, stride, padding)
    packed, stats = run_conv(rt, g, pack_nchw(x, rt.cfg.batch, rt.cfg.block_in),
                             pack_oihw(w, rt.cfg.block_out, rt.cfg.block_in), bias, shift, relu, schedule, "conv2d",
                             mult=mult)
    return OpResult(unpack_nchw(packed, n, o), stats)


def run_conv(rt, g, xp, wp, bias, shift, relu, schedule, op, useful_macs=None, mult=1):
    """Run a packed convolution; returns the packed int8 output ``(N', O', OH, OW, BATCH, BLOCK_OUT)`` and the
    call's `OpStats`. With ``g.groups`` > 1, ``xp`` holds ``groups·cb`` channel blocks, ``wp`` is
    ``(groups·ob, cb, KH, KW, …)`` and the output ``groups·ob`` blocks; ``useful_macs`` (default ``g.macs``) is
    what the stats count as useful work (a block-diagonal packing computes zeros too). ``mult`` > 1: the sums
    are multiplied by it before the shift (`check_mult`), one ALU pass per tile after its GEMMs."""
    cfg = rt.cfg
    if bias is not None:
        check_array(bias, "bias", np.int32, 1)
        if bias.shape[0] != g.o * g.groups:
            raise VTAError(f"bias must have {g.o * g.groups} entries (one per output channel), not {bias.shape[0]}")
    shift = check_int(shift, "shift", 0, 31)
    # packed (O', C', KH, KW, BLOCK_OUT, BLOCK_IN): one row per output channel
    mult = check_mult(mult, np.moveaxis(wp, 4, 1).reshape(wp.shape[0] * wp.shape[4], -1) if mult != 1 else wp, bias)
    s = default_conv2d_schedule(cfg, g) if schedule is None else schedule
    check_conv2d(cfg, g, s)
    t0 = rt.begin()
    bufs = []
    try:
        xb = rt.upload(xp, cfg.inp_elem_bytes, "conv input")
        bufs.append(xb)
        wb = rt.upload(wp, cfg.wgt_elem_bytes, "conv weights")
        bufs.append(wb)
        bb = None
        if bias is not None:
            bb = rt.upload(pack_bias(bias, cfg.batch, cfg.block_out), cfg.acc_elem_bytes, "conv bias")
            bufs.append(bb)
        out_shape = (g.nb, g.groups * g.ob, g.oh, g.ow, cfg.batch, cfg.block_out)
        yb = rt.empty(int(np.prod(out_shape)), cfg.out_elem_bytes, "conv output")
        bufs.append(yb)
        # the emitter reads exactly these (with the config and the runtime state `Runtime.run_stream` checks)
        key = ("conv", g, s, xb.addr, wb.addr, None if bb is None else bb.addr, yb.addr, shift, bool(relu), mult)
        stats = rt.run_stream(key, lambda st: _Emitter(rt, st, g, s, xb, wb, bb, yb, shift, relu, mult).emit(), op,
                              useful_macs=g.macs if useful_macs is None else useful_macs, schedule=s, build_start=t0)
        return rt.download(yb, np.int8, out_shape), stats
    finally:
        for b in bufs:
            rt.alloc.free(b)


class _Emitter:
    def __init__(self, rt, stream, g, s, xb, wb, bb, yb, shift, relu, mult=1):
        self.rt, self.st, self.g, self.s, self.cfg = rt, stream, g, s, rt.cfg
        cfg = rt.cfg
        self.x = xb.elem(cfg.inp_elem_bytes)
        self.w = wb.elem(cfg.wgt_elem_bytes)
        self.b = None if bb is None else bb.elem(cfg.acc_elem_bytes)
        self.y = yb.elem(cfg.out_elem_bytes)
        self.shift, self.relu, self.mult = shift, relu, mult
        self.cb_all, self.ob_all = g.groups * g.cb, g.groups * g.ob   # channel blocks in DRAM, all groups
        S = s.n_vthreads
        kk = g.kh * g.kw
        self.inp_slot = s.tile_b * s.tile_ci * g.in_rows(s.tile_h) * g.in_cols(s.tile_w)
        self.wgt_slot = s.tile_co * s.tile_ci * kk
        self.acc_slot = s.tile_b * s.tile_co * s.tile_h * s.tile_w
        self.bias_base = S * self.acc_slot
        # residency of slot contents within this stream (inp/wgt written only by loads; bias by LOAD ACC)
        self.inp_key = [None] * S
        self.wgt_key = [None] * S
        self.bias_key = None
        # tile channel blocks (co0) and chunk channel blocks (ci0) are absolute: group gi owns output blocks
        # [gi·ob, (gi+1)·ob) and input blocks [gi·cb, (gi+1)·cb)
        tiles = []
        for gi in range(g.groups):
            for b0 in range(0, g.nb, s.tile_b):
                for h0 in range(0, g.oh, s.tile_h):
                    for w0 in range(0, g.ow, s.tile_w):
                        for co0 in range(0, g.ob, s.tile_co):
                            tiles.append((b0, min(s.tile_b, g.nb - b0), h0, min(s.tile_h, g.oh - h0),
                                          w0, min(s.tile_w, g.ow - w0), gi * g.ob + co0, min(s.tile_co, g.ob - co0)))
        self.tiles = tiles
        self.chunks = []
        for j, t in enumerate(tiles):
            cis = list(range(0, g.cb, s.tile_ci))
            c0 = (t[6] // g.ob) * g.cb
            for k, ci0 in enumerate(cis):
                self.chunks.append((j, t, c0 + ci0, min(s.tile_ci, g.cb - ci0), k == 0, k == len(cis) - 1))

    def emit(self):
        S, n = self.s.n_vthreads, len(self.chunks)
        self.st.setq(self.shift, self.relu)   # every tile's last GEMM (or its MUL pass) requantizes with it
        for i in range(min(S, n)):
            self.load(i)
        for i in range(n):
            self.compute(i)
            if i + S < n:
                self.load(i + S)

    # -- load stage ---------------------------------------------------------------------------------------------

    def load(self, i):
        g, st, S = self.g, self.st, self.s.n_vthreads
        j, (b0, tb, h0, th, w0, tw, co0, tco), ci0, tci, first, last = self.chunks[i]
        slot = i % S
        if i >= S:
            st.pop(C, L)                     # compute has finished reading this slot
        ih, iw = g.in_rows(th), g.in_cols(tw)
        ibase = slot * self.inp_slot
        ikey = (b0, tb, h0, th, w0, tw, ci0, tci)
        if self.inp_key[slot] != ikey:
            self.inp_key[slot] = ikey
            self.load_window(ibase, b0, tb, ci0, tci, h0 * g.stride[0] - g.padding[0],
                             w0 * g.stride[1] - g.padding[1], ih, iw)
        wkey = (co0, tco, ci0, tci)
        if self.wgt_key[slot] != wkey:
            self.wgt_key[slot] = wkey
            kk = g.kh * g.kw
            ci_in_group = ci0 - (co0 // g.ob) * g.cb
            st.load(MemId.WGT, slot * self.wgt_slot, self.w + (co0 * g.cb + ci_in_group) * kk, tco, tci * kk,
                    g.cb * kk)
        st.push(L, C)

    def load_window(self, base, b0, tb, ci0, tci, r0, c0, ih, iw):
        """Input rows [r0, r0+ih) × cols [c0, c0+iw) of each (batch block, channel block), zero outside (with
        `ConvGeometry.row_skip`: rows r0, r0+stride, … only, one per output row)."""
        g, st = self.g, self.st
        hw = g.h * g.w
        if r0 == 0 and c0 == 0 and ih == g.h and iw == g.w and not g.row_skip:
            # the window is the whole image: one 2-D load covers every batch and channel block
            st.load(MemId.INP, base, self.x + (b0 * self.cb_all + ci0) * hw, tb, tci * hw, self.cb_all * hw)
            return
        if g.row_skip:
            sh = g.stride[0]
            lo = min(ih, max(0, -(r0 // sh)))                   # first output row whose input row is ≥ 0
            hi = max(lo, min(ih, -((r0 - g.h) // sh)))          # one past the last whose input row is < H
            row0, rows, pad_top, pad_bottom, row_stride = r0 + lo * sh, hi - lo, lo, ih - hi, sh * g.w
        else:
            rv0, rv1 = max(r0, 0), min(r0 + ih, g.h)
            row0, rows, pad_top, pad_bottom, row_stride = rv0, rv1 - rv0, rv0 - r0, r0 + ih - rv1, g.w
        cv0, cv1 = max(c0, 0), min(c0 + iw, g.w)
        for b in range(tb):
            for ci in range(tci):
                sram = base + (b * tci + ci) * ih * iw
                if rows <= 0 or cv1 <= cv0:
                    # all padding: copy zeros from the zero page (a zero-size LOAD would do nothing)
                    z = self.rt.zeros_region(self.cfg.inp_elem_bytes, iw)
                    st.load(MemId.INP, sram, z.elem(self.cfg.inp_elem_bytes), ih, iw, 0)
                    continue
                dram = self.x + ((b0 + b) * self.cb_all + ci0 + ci) * hw + row0 * g.w + cv0
                st.load(MemId.INP, sram, dram, rows, cv1 - cv0, row_stride,
                        (pad_top, pad_bottom, cv0 - c0, c0 + iw - cv1))

    # -- compute stage ------------------------------------------------------------------------------------------

    def compute(self, i):
        g, st, S, rt = self.g, self.st, self.s.n_vthreads, self.rt
        j, (b0, tb, h0, th, w0, tw, co0, tco), ci0, tci, first, last = self.chunks[i]
        slot, aslot = i % S, j % S
        abase = aslot * self.acc_slot
        n_acc = tb * tco * th * tw
        if first:
            if j >= S:
                st.pop(S_, C)                # the store of tile j-S has read this out slot
            if self.b is None:
                gemm_reset(rt, st, abase, n_acc)
            else:
                st.alu(self.bias_kernel(abase, tb, th, tw, co0, tco), AluOp.MOV)   # acc = bias
        ibase, wbase = slot * self.inp_slot, slot * self.wgt_slot
        sig = ("conv", ibase, wbase, abase, tb, th, tw, tci, tco, g.kh, g.kw, g.stride)
        placed = rt.kernel(st, sig, lambda: self.gemm_kernel(sig, ibase, wbase, abase, tb, th, tw, tci, tco))
        st.pop(L, C)                         # inputs of this chunk are in SRAM
        st.gemm(placed, requant=last and self.mult == 1)   # the tile's last GEMM leaves the result in out
        if last and self.mult != 1:          # ... or acc ·= mult, requantized into out
            alu_flat(rt, st, AluOp.MUL, abase, n_acc, imm=self.mult, requant=True)
        if i + S < len(self.chunks):
            st.push(C, L)
        if last:
            st.push(C, S_)
            self.store(j, abase, b0, tb, h0, th, w0, tw, co0, tco)

    def gemm_kernel(self, sig, ibase, wbase, abase, tb, th, tw, tci, tco):
        g = self.g
        ih, iw = g.in_rows(th), g.in_cols(tw)
        sh, sw = g.stride
        row_step = 1 if g.row_skip else sh
        kk = g.kh * g.kw
        oh, ow = np.meshgrid(np.arange(th), np.arange(tw), indexing="ij")
        uops = []
        for kh in range(g.kh):
            for kw in range(g.kw):
                for b in range(tb):
                    dst = abase + b * tco * th * tw + oh * tw + ow
                    src = ibase + b * tci * ih * iw + (oh * row_step + kh) * iw + ow * sw + kw
                    wgt = wbase + kh * g.kw + kw
                    uops += [Uop(int(d), int(s_), wgt) for d, s_ in zip(dst.ravel(), src.ravel())]
        loops = (Loop(tci, 0, ih * iw, kk), Loop(tco, th * tw, 0, tci * kk))
        return UopKernel(sig, tuple(uops), loops)

    def bias_kernel(self, abase, tb, th, tw, co0, tco):
        """The tile's bias channels resident after the acc slots, and the placed kernel that pairs every acc
        element of the tile with its channel's bias element."""
        rt, st = self.rt, self.st
        if self.bias_key != (co0, tco):
            self.bias_key = (co0, tco)
            st.load(MemId.ACC, self.bias_base, self.b + co0, 1, tco, tco)
        sig = ("bias", abase, self.bias_base, tb, tco, th, tw)

        def build():
            uops = tuple(Uop(abase + (b * tco + co) * th * tw, self.bias_base + co, 0)
                         for b in range(tb) for co in range(tco))
            return UopKernel(sig, uops, (Loop(th * tw, 1, 0),))   # th·tw ≤ acc depth ≤ 2^11
        return rt.kernel(st, sig, build)

    # -- store stage --------------------------------------------------------------------------------------------

    def store(self, j, abase, b0, tb, h0, th, w0, tw, co0, tco):
        g, st, S = self.g, self.st, self.s.n_vthreads
        st.pop(C, S_)
        ohw = g.oh * g.ow
        if th == g.oh and tw == g.ow:
            st.store(abase, self.y + (b0 * self.ob_all + co0) * ohw, tb, tco * ohw, self.ob_all * ohw)
        else:
            for b in range(tb):
                for co in range(tco):
                    sram = abase + (b * tco + co) * th * tw
                    dram = self.y + ((b0 + b) * self.ob_all + co0 + co) * ohw + h0 * g.ow + w0
                    if tw == g.ow:
                        st.store(sram, dram, 1, th * tw, th * tw)
                    else:
                        st.store(sram, dram, th, tw, g.ow)
        if j + S < len(self.tiles):
            st.push(S_, C)
