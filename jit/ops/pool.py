"""max_pool2d on the tensor ALU: MAX over the window taps with acc-to-acc tensor operations.

x (int8 NCHW) is packed as ``(N', C', H, W)`` elements of BATCH×BLOCK_OUT lanes and read with LOAD ACC_8BIT.
A tile is ``tile_h``×``tile_w`` output pixels of one (batch block, channel block): the input window it needs is
loaded without padding (only the rows and columns inside the image), the outputs are set to −128 (one ALU MOV of
the immediate), then one ALU MAX whose micro-ops list every (output, tap) pair
whose tap lies inside the image. Padding therefore never wins, as in PyTorch, without a pad value. Kernels are
cached by the window's clipping pattern, so interior tiles share one kernel.
"""

import functools

import numpy as np

from ...errors import VTAError
from ...isa.insn import Uop
from ...isa.opcodes import AluOp, MemId
from ..builder import Stage
from ..kernels import UopKernel
from ..layout import pack_nchw, unpack_nchw
from ..results import OpResult
from ..schedule import PoolGeometry, check_pool, default_pool_schedule
from .common import alu_flat, check_array

__all__ = ["max_pool2d"]

C, S_ = Stage.COMPUTE, Stage.STORE


def max_pool2d(rt, x, kernel_size, stride, padding, schedule):
    cfg = rt.cfg
    check_array(x, "x", np.int8, 4)
    n, c, h, w = x.shape
    g = PoolGeometry.of(cfg, n, c, h, w, kernel_size, kernel_size if stride is None else stride, padding)
    s = default_pool_schedule(cfg, g) if schedule is None else schedule
    check_pool(cfg, g, s)
    t0 = rt.begin()
    xp = pack_nchw(x, cfg.batch, cfg.block_out)
    eb = cfg.out_elem_bytes
    bufs = []
    try:
        xb = rt.upload(xp, eb, "max_pool2d input")
        bufs.append(xb)
        out_shape = (g.nb, g.cb, g.oh, g.ow, cfg.batch, cfg.block_out)
        yb = rt.empty(int(np.prod(out_shape)), eb, "max_pool2d output")
        bufs.append(yb)
        X, Y = xb.elem(eb), yb.elem(eb)
        def emit(st):   # reads the key's values (and the runtime state run_stream checks)
            S = s.n_vthreads
            (sh, sw), (ph, pw) = g.stride, g.padding
            in_slot = min(g.h, (s.tile_h - 1) * sh + g.kh) * min(g.w, (s.tile_w - 1) * sw + g.kw)
            slot_size = in_slot + s.tile_h * s.tile_w
            tiles = [(nb, cb, h0, w0) for nb in range(g.nb) for cb in range(g.cb)
                     for h0 in range(0, g.oh, s.tile_h) for w0 in range(0, g.ow, s.tile_w)]
            for j, (nb, cb, h0, w0) in enumerate(tiles):
                th, tw = min(s.tile_h, g.oh - h0), min(s.tile_w, g.ow - w0)
                ibase = (j % S) * slot_size
                obase = ibase + in_slot
                r0, c0 = h0 * sh - ph, w0 * sw - pw
                rv0, rv1 = max(r0, 0), min(r0 + (th - 1) * sh + g.kh, g.h)
                cv0, cv1 = max(c0, 0), min(c0 + (tw - 1) * sw + g.kw, g.w)
                plane = (nb * g.cb + cb) * g.h * g.w
                st.load(MemId.ACC_8BIT, ibase, X + plane + rv0 * g.w + cv0, rv1 - rv0, cv1 - cv0, g.w)
                if j >= S:
                    st.pop(S_, C)                       # the store of tile j-S has read this out slot
                alu_flat(rt, st, AluOp.MOV, obase, th * tw, imm=-128)
                sig = ("maxpool", ibase, obase, th, tw, g.kh, g.kw, sh, sw, rv0 - r0, rv1 - r0, cv0 - c0, cv1 - c0)
                taps = functools.partial(_taps, sig, g, ibase, obase, th, tw, r0, rv0, rv1, c0, cv0, cv1)
                kern = rt.kernel(st, sig, taps)
                st.alu(kern, AluOp.MAX)
                st.push(C, S_)
                st.pop(C, S_)
                dram = Y + ((nb * g.cb + cb) * g.oh + h0) * g.ow + w0
                st.store(obase, dram, th, tw, g.ow)
                if j + S < len(tiles):
                    st.push(S_, C)
        stats = rt.run_stream(("max_pool2d", g, s, X, Y), emit, "max_pool2d", schedule=s, build_start=t0)
        out = rt.download(yb, np.int8, out_shape)
    finally:
        for b in bufs:
            rt.alloc.free(b)
    return OpResult(unpack_nchw(out, n, c), stats)


def _taps(sig, g, ibase, obase, th, tw, r0, rv0, rv1, c0, cv0, cv1):
    """One uop per (output pixel, tap inside the image): dst = output, src = input; taps outer so consecutive
    uops write different outputs."""
    pitch = cv1 - cv0
    uops = []
    for kh in range(g.kh):
        for kw in range(g.kw):
            for oh in range(th):
                ih = r0 + oh * g.stride[0] + kh
                if not rv0 <= ih < rv1:
                    continue
                for ow in range(tw):
                    iw = c0 + ow * g.stride[1] + kw
                    if cv0 <= iw < cv1:
                        uops.append(Uop(obase + oh * tw + ow, ibase + (ih - rv0) * pitch + (iw - cv0), 0))
    if not uops:
        raise VTAError("internal error: a pool tile with no tap inside the image")
    return UopKernel(sig, tuple(uops))
