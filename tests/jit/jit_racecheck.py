"""A data-race checker for VTA programs, independent of the runtime that built them.

It models the hardware: three stages (load, compute, store) each running its own instructions in order, and
dependency tokens matched first-in first-out per queue (docs/semantics.md routing and flags). Happens-before is
tracked with vector clocks. Two instructions of different stages that touch overlapping parts of one SRAM buffer,
one of them writing, must be ordered by happens-before — otherwise some concurrent schedule could give a result
other than program order. Micro-op ranges are read from the program's own LOAD UOP instructions and the DRAM.
"""

import numpy as np

from vta.isa import Alu, Finish, Gemm, Load, MemId, Store, decode_uops
from vta.isa.stages import MEMORY_TYPES, QUEUE_STAGES, STAGE_POPS, STAGE_PUSHES, STAGES, UOP_BYTES, stage_of

# The routing the checker models is the ISA's own table (test_jit_builder imports these names too).
POPS, PUSHES, stage = STAGE_POPS, STAGE_PUSHES, stage_of


def _nest_range(insn, uops, which):
    """(lo, hi) over the whole GEMM/ALU loop nest of uop field ``which`` (dst, src or wgt)."""
    idx = np.array([getattr(u, f"{which}_idx") for u in uops[insn.uop_bgn:insn.uop_end]], dtype=np.int64)
    lo, hi = idx.min(), idx.max()
    for loop, it in (("out", insn.iter_out), ("in", insn.iter_in)):
        f = getattr(insn, f"{which}_factor_{loop}") * (it - 1)
        lo, hi = lo + min(f, 0), hi + max(f, 0)
    return int(lo), int(hi)


def accesses(cfg, insn, uops):
    """(buffer, lo, hi, is_write) tuples of SRAM element ranges an instruction touches."""
    out = []
    if isinstance(insn, (Load, Store)):
        if insn.y_size == 0 or insn.x_size == 0:
            return out
        rows = insn.y_pad_0 + insn.y_size + insn.y_pad_1
        pitch = insn.x_pad_0 + insn.x_size + insn.x_pad_1
        n = rows * pitch if isinstance(insn, Load) else insn.y_size * insn.x_size
        buf = MEMORY_TYPES[insn.memory_type].buffer
        out.append((buf, insn.sram_base, insn.sram_base + n - 1, isinstance(insn, Load)))
    elif isinstance(insn, (Gemm, Alu)):
        if insn.uop_bgn >= insn.uop_end or insn.iter_out == 0 or insn.iter_in == 0:
            return out
        out.append(("uop", insn.uop_bgn, insn.uop_end - 1, False))
        d = _nest_range(insn, uops, "dst")
        out += [("acc", *d, True), ("out", *d, True)]
        if isinstance(insn, Gemm) and not insn.reset_reg:
            out += [("acc", *d, False), ("inp", *_nest_range(insn, uops, "src"), False),
                    ("wgt", *_nest_range(insn, uops, "wgt"), False)]
        if isinstance(insn, Alu):
            out += [("acc", *d, False)]
            if not insn.use_imm:
                out.append(("acc", *_nest_range(insn, uops, "src"), False))
    return out


def find_races(cfg, insns, dram, uop_sram=None):
    """List of human-readable races (empty if the program is race-free). ``uop_sram``: initial uop SRAM words."""
    uops = list(uop_sram) if uop_sram is not None else [None] * cfg.uop_depth
    queues = {q: [] for q in QUEUE_STAGES}                   # FIFO of vector clocks at push
    pos = {s: -1 for s in STAGES}
    clock = {s: {t: -1 for t in STAGES} for s in STAGES}    # what each stage knows is complete
    events = []                                              # (stage, position, start clock, accesses, index)
    for k, insn in enumerate(insns):
        s = stage(insn)
        for flag, q in POPS[s].items():
            if getattr(insn, flag):
                if not queues[q]:
                    return [f"instruction {k}: pops empty queue {q} (not causal)"]
                vc = queues[q].pop(0)
                for t in STAGES:
                    clock[s][t] = max(clock[s][t], vc[t])
        pos[s] += 1
        start = dict(clock[s])
        if isinstance(insn, Load) and insn.memory_type == MemId.UOP and insn.x_size and insn.y_size:
            words = dram[insn.dram_base * UOP_BYTES:(insn.dram_base + insn.x_size) * UOP_BYTES]
            uops[insn.sram_base:insn.sram_base + insn.x_size] = decode_uops(cfg, words)
        events.append((s, pos[s], start, accesses(cfg, insn, uops), k))
        clock[s][s] = pos[s]
        for flag, q in PUSHES[s].items():
            if getattr(insn, flag):
                queues[q].append(dict(clock[s]))
        if isinstance(insn, Finish):
            break
    races = []
    by_buf = {}
    for ev in events:
        for buf, lo, hi, wr in ev[3]:
            by_buf.setdefault(buf, []).append((lo, hi, wr, ev))
    for buf, acc in by_buf.items():
        for a in range(len(acc)):
            lo1, hi1, w1, e1 = acc[a]
            for b in range(a + 1, len(acc)):
                lo2, hi2, w2, e2 = acc[b]
                if e1[0] == e2[0] or not (w1 or w2) or hi1 < lo2 or hi2 < lo1:
                    continue
                # e1 precedes e2 in program order; it must happen before e2 in every schedule
                if e2[2][e1[0]] < e1[1]:
                    races.append(f"{buf}[{max(lo1, lo2)}..{min(hi1, hi2)}]: instruction {e1[4]} ({e1[0]}) and "
                                 f"{e2[4]} ({e2[0]}) are unordered")
                    if len(races) > 20:
                        return races
    return races
