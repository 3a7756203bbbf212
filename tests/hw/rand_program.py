"""Random *valid* VTA programs for differential tests of the RTL against the functional simulator.

A program is a series of rounds; each round is a load phase (LOAD INP/WGT with random padding and strides), a
compute phase (LOAD UOP/ACC/ACC_8BIT, GEMM with hazards on purpose, ALU) and a store phase. Tokens serialise the
phases where they share SRAM (load→compute l2g, compute→store g2s, store→next compute s2g, compute→next load
g2l), so every concurrent schedule gives the program-order result. DRAM regions: instructions, uops, inputs (inp,
wgt, acc, acc8 sources) and an output region only STOREs write.
"""

import numpy as np

from vta.isa import Alu, AluOp, Finish, Gemm, Load, MemId, Store, Uop, encode_program, encode_uops


def random_program(cfg, rng, *, rounds=2, dram_bytes=1 << 16, max_insns_per_phase=4, small=True):
    """Returns (dram, insn_addr, insn_count). ``small`` keeps loop and transfer sizes tiny (Python simulation)."""
    eb = cfg.elem_bytes
    depth = cfg.depths
    dram = np.zeros(dram_bytes, dtype=np.uint8)
    # Layout: [0, 4K) instructions, [4K, 8K) uops, [8K, 3/4) inputs, [3/4, end) outputs.
    in_lo, in_hi = 8192, dram_bytes * 3 // 4
    out_lo, out_hi = dram_bytes * 3 // 4, dram_bytes
    dram[in_lo:in_hi] = rng.integers(0, 256, in_hi - in_lo, dtype=np.uint8)
    lim = 4 if small else 16

    def rint(lo, hi):  # inclusive
        return int(rng.integers(lo, hi + 1))

    def mem_insn(cls, kind, sram_depth, lo, hi, pads, **flags):
        """A random 2-D transfer of ``kind`` elements inside DRAM [lo, hi) and SRAM depth."""
        for _ in range(100):
            y, x = rint(1, lim), rint(1, lim)
            stride = rint(max(0, x - 2), x + 3) if y > 1 else rint(x, x + 2)
            yp0, yp1, xp0, xp1 = (rint(0, 2) for _ in range(4)) if pads else (0, 0, 0, 0)
            pitch = xp0 + x + xp1
            n_sram = (yp0 + y + yp1) * pitch if cls is Load else y * x
            if n_sram > sram_depth:
                continue
            sram = rint(0, sram_depth - n_sram)
            span = ((y - 1) * stride + x) * eb[kind]
            first = -(-lo // eb[kind])
            last = (hi - span) // eb[kind]
            if last < first:
                continue
            dram_base = rint(first, last)
            if rng.random() < 0.1:
                x = 0  # a no-op carrying tokens
            mt = {"inp": MemId.INP, "wgt": MemId.WGT, "acc": MemId.ACC, "out": MemId.OUT,
                  "uop": MemId.UOP}[kind] if kind != "acc8" else MemId.ACC_8BIT
            return cls(memory_type=mt, sram_base=sram, dram_base=dram_base, y_size=y, x_size=x, x_stride=stride,
                       y_pad_0=yp0, y_pad_1=yp1, x_pad_0=xp0, x_pad_1=xp1, **flags)
        raise RuntimeError("could not place a transfer")

    prog = []
    uop_cursor = 0  # uops live in DRAM [4K, 8K); each compute phase loads a fresh kernel
    uop_dram = 4096 // 4
    for r in range(rounds):
        # -- load phase
        n = rint(1, max_insns_per_phase)
        phase = []
        for _k in range(n):
            kind = "inp" if rng.random() < 0.5 else "wgt"
            phase.append(mem_insn(Load, kind, depth[kind], in_lo, in_hi, pads=kind == "inp"))
        phase[0] = phase[0].replace(pop_next_dep=r > 0)
        phase[-1] = phase[-1].replace(push_next_dep=True)
        prog += phase

        # -- compute phase
        phase = []
        n_uops = rint(1, 6)
        uops = [Uop(dst_idx=rint(0, 7), src_idx=rint(0, 7), wgt_idx=rint(0, 7)) for _ in range(n_uops)]
        if rng.random() < 0.5:  # consecutive uops on the same acc entry
            uops = [Uop(dst_idx=uops[0].dst_idx, src_idx=u.src_idx, wgt_idx=u.wgt_idx) for u in uops]
        ubase = rint(0, depth["uop"] - n_uops)
        if uop_cursor + n_uops > 1024:
            uop_cursor = 0
        dram[4096 + 4 * uop_cursor:4096 + 4 * (uop_cursor + n_uops)] = encode_uops(cfg, uops)
        phase.append(Load(memory_type=MemId.UOP, sram_base=ubase, dram_base=uop_dram + uop_cursor, y_size=1,
                          x_size=n_uops, x_stride=n_uops))
        uop_cursor += n_uops
        for _k in range(rint(1, max_insns_per_phase + 2)):
            choice = rng.random()
            if choice < 0.2:
                kind = "acc" if rng.random() < 0.5 else "acc8"
                ek = "out" if kind == "acc8" else "acc"
                t = mem_insn(Load, ek, depth["acc"], in_lo, in_hi, pads=True)
                if kind == "acc8":
                    t = t.replace(memory_type=MemId.ACC_8BIT)
                phase.append(t)
                continue
            bgn = ubase + rint(0, n_uops - 1)
            end = rint(bgn, ubase + n_uops)  # may be empty
            io, ii = rint(1, 3), rint(1, 3)
            if rng.random() < 0.05:
                io = 0
            f = {name: rint(0, 4) for name in ("dst_factor_out", "dst_factor_in", "src_factor_out",
                                                 "src_factor_in")}
            if choice < 0.6:
                g = Gemm(reset_reg=rng.random() < 0.2, uop_bgn=bgn, uop_end=end, iter_out=io, iter_in=ii,
                         wgt_factor_out=rint(0, 4), wgt_factor_in=rint(0, 4), **f)
                phase.append(g)
            else:
                op = AluOp(rint(0, 4))
                use_imm = rng.random() < 0.5
                imm = rint(-40, 40) if op == AluOp.SHR else rint(-(1 << 15), (1 << 15) - 1)
                phase.append(Alu(alu_opcode=op, use_imm=use_imm, imm=imm, uop_bgn=bgn, uop_end=end, iter_out=io,
                                 iter_in=ii, **f))
        phase[0] = phase[0].replace(pop_prev_dep=True, pop_next_dep=r > 0)
        phase[-1] = phase[-1].replace(push_prev_dep=True, push_next_dep=True)
        prog += phase

        # -- store phase
        phase = [mem_insn(Store, "out", depth["out"], out_lo, out_hi, pads=False)
                 for _ in range(rint(1, max_insns_per_phase))]
        phase[0] = phase[0].replace(pop_prev_dep=True)
        phase[-1] = phase[-1].replace(push_prev_dep=True)
        prog += phase
    prog.append(Finish())
    image = encode_program(cfg, prog)
    assert len(image) <= 4096
    dram[:len(image)] = image
    return dram, 0, len(prog)
