"""Cross-stage data races: two instructions of different stages that touch the same SRAM element or DRAM byte, one
of them writing, with no chain of dependency tokens ordering them.

The load, compute and store stages run concurrently; only tokens order them. The functional simulator runs the
stream in program order, so a racy program gives the intended answer there and, on the RTL, whatever order the
stages happen to reach — for example a WGT LOAD without a token before the GEMM that reads it can let the GEMM
read stale weights. `find_races` finds such pairs from the instructions alone (docs/semantics.md):

- happens-before is stage order plus token pairs (the k-th push into a queue feeds its k-th pop), kept as vector
  clocks over the three stages;
- SRAM shared across stages: inp and wgt (written by LOAD in the load stage, read by GEMM in compute) and out
  (written by GEMM/ALU, read by STORE); uop and acc belong to compute alone and cannot race;
- DRAM: every byte a STORE writes against every byte a LOAD of another stage reads, and — given ``insn_addr`` —
  against the instruction stream itself.

This is the race half of the differential tester's validity check (``vta.sim.randprog.find_hazard``), kept here so
that the static verifier (`vta.isa.verify`) and ``vta check`` can run it without importing the simulators.
"""

from .insn import Alu, Finish, Gemm, Load, Store, decode_uops
from .opcodes import MemId
from .requant import is_setq
from .stages import INSN_BYTES, MEMORY_TYPES, QUEUE_STAGES, STAGE_QUEUES, STAGES, stage_of

__all__ = ["find_races"]

# (earlier stage, later stage) → (flag the earlier instruction sets, flag the later one sets) to order them
_FIX = {("load", "compute"): ("push_next", "pop_prev"), ("compute", "load"): ("push_prev", "pop_next"),
        ("compute", "store"): ("push_next", "pop_prev"), ("store", "compute"): ("push_prev", "pop_next")}


def _name(insn):
    """An instruction's opcode as people read it: ``LOAD WGT``, ``GEMM``, ``STORE``."""
    name = type(insn).__name__.upper()
    return f"{name} {insn.memory_type.name}" if isinstance(insn, Load) else name


def _clocks(insns):
    """Per instruction, stage → how many instructions of that stage complete before it starts."""
    seen = dict.fromkeys(STAGES, 0)
    pushes = {q: [] for q in QUEUE_STAGES}
    pops = dict.fromkeys(QUEUE_STAGES, 0)
    last, clock, pos = {}, [], []
    for k, insn in enumerate(insns):
        st = stage_of(insn)
        pos.append((st, seen[st]))
        vc = dict(clock[last[st]]) if st in last else dict.fromkeys(STAGES, 0)
        vc[st] = seen[st]
        for flag, q in STAGE_QUEUES[st].items():
            if q is None or not getattr(insn, flag) or not flag.startswith("pop"):
                continue
            if pops[q] < len(pushes[q]):  # a pop with no push is a deadlock, reported by the verifier
                j = pushes[q][pops[q]]
                js, ji = pos[j]
                vc = {s: max(vc[s], clock[j][s]) for s in STAGES}
                vc[js] = max(vc[js], ji + 1)
            pops[q] += 1
        for flag, q in STAGE_QUEUES[st].items():
            if q is not None and flag.startswith("push") and getattr(insn, flag):
                pushes[q].append(k)
        clock.append(vc)
        last[st] = k
        seen[st] += 1
    return clock, pos


def _compute_indices(insn, table):
    """(dst, src, wgt) element indices a GEMM/ALU touches, or None when a uop it uses is unknown."""
    if insn.uop_bgn >= insn.uop_end or not insn.iter_out or not insn.iter_in:
        return set(), set(), set()
    us = table[insn.uop_bgn:insn.uop_end]
    if len(us) < insn.uop_end - insn.uop_bgn or any(u is None for u in us):
        return None
    dst, src, wgt = set(), set(), set()
    for i in range(insn.iter_out):
        for j in range(insn.iter_in):
            for u in us:
                dst.add(u.dst_idx + i * insn.dst_factor_out + j * insn.dst_factor_in)
                src.add(u.src_idx + i * insn.src_factor_out + j * insn.src_factor_in)
                if isinstance(insn, Gemm):
                    wgt.add(u.wgt_idx + i * insn.wgt_factor_out + j * insn.wgt_factor_in)
    return dst, src, wgt


def _dram_rows(cfg, insn):
    """The byte ranges ``[a, b)`` a LOAD reads or a STORE writes in DRAM, one per row."""
    elem = MEMORY_TYPES[insn.memory_type].dram_elem_bytes(cfg)
    return [((insn.dram_base + y * insn.x_stride) * elem, (insn.dram_base + y * insn.x_stride + insn.x_size) * elem)
            for y in range(insn.y_size)]


def _accesses(cfg, insns, uops, dram):
    """SRAM accesses {buffer: {element: [(k, write)]}} and DRAM (reads, writes) as [(k, a, b)]."""
    table = list(uops or []) + [None] * max(0, cfg.uop_depth - len(uops or []))
    access = {"inp": {}, "wgt": {}, "out": {}}
    reads, writes = [], []

    def touch(buf, elems, k, write):
        for e in elems:
            access[buf].setdefault(e, []).append((k, write))

    for k, insn in enumerate(insns):
        if isinstance(insn, (Load, Store)):
            if not insn.y_size or not insn.x_size or (isinstance(insn, Load) and insn.memory_type == MemId.OUT):
                continue
            rows = _dram_rows(cfg, insn)
            if isinstance(insn, Store):
                touch("out", range(insn.sram_base, insn.sram_base + insn.y_size * insn.x_size), k, False)
                writes += [(k, a, b) for a, b in rows]
                continue
            reads += [(k, a, b) for a, b in rows]
            n = (insn.y_pad_0 + insn.y_size + insn.y_pad_1) * (insn.x_pad_0 + insn.x_size + insn.x_pad_1)
            if insn.memory_type in (MemId.INP, MemId.WGT):
                touch(insn.memory_type.name.lower(), range(insn.sram_base, insn.sram_base + n), k, True)
            elif insn.memory_type == MemId.UOP and dram is not None:  # follow uop reloads when DRAM is known
                for y, (a, b) in enumerate(rows):
                    if b <= len(dram):
                        for x, u in enumerate(decode_uops(cfg, dram[a:b])):
                            if insn.sram_base + y * insn.x_size + x < len(table):
                                table[insn.sram_base + y * insn.x_size + x] = u
        elif isinstance(insn, (Gemm, Alu)):
            if isinstance(insn, Alu) and is_setq(insn.alu_opcode):
                continue   # sets the requantization register: touches no buffer
            idx = _compute_indices(insn, table)
            if idx is None:
                continue
            dst, src, wgt = idx
            if isinstance(insn, Gemm) and not insn.reset_reg:
                touch("inp", src, k, False)
                touch("wgt", wgt, k, False)
            touch("out", dst, k, True)
    return access, reads, writes


def _message(insns, pos, a, b, what):
    sa, sb = pos[a][0], pos[b][0]
    fix = (f"give instruction {a} {_FIX[(sa, sb)][0]} and instruction {b} {_FIX[(sa, sb)][1]}" if (sa, sb) in _FIX
           else "order them by a token chain through the compute stage")
    return (f"instruction {a} ({_name(insns[a])}, {sa} stage) and instruction {b} ({_name(insns[b])}, {sb} stage) "
            f"{what} with no dependency token ordering them, so the hardware may run them in either order; {fix}")


def find_races(cfg, insns, uops=None, *, dram=None, insn_addr=None):
    """Every cross-stage race of a program, as ``(index, message)`` pairs (index: the later instruction).

    ``insns`` are instruction objects (run up to the first FINISH); ``uops`` the initial uop SRAM (a list of
    `Uop`); with ``dram`` (the DRAM image, ``np.uint8``) LOAD UOPs are followed. A GEMM/ALU whose uops are not known
    touches nothing here (so without a uop table only DRAM races are found). One finding per instruction pair.
    """
    end = next((k for k, i in enumerate(insns) if isinstance(i, Finish)), len(insns) - 1)
    insns = list(insns[:end + 1])
    clock, pos = _clocks(insns)

    def ordered(a, b):  # a before b in program order: does a complete before b starts?
        return clock[b][pos[a][0]] > pos[a][1]

    found = {}
    access, reads, writes = _accesses(cfg, insns, uops, dram)
    for buf, elems in access.items():
        for e, acc in sorted(elems.items()):
            for x, (a, wa) in enumerate(acc):
                for b, wb in acc[x + 1:]:
                    if (wa or wb) and pos[a][0] != pos[b][0] and (a, b) not in found and not ordered(a, b):
                        verb = f"{'write' if wa else 'read'} and {'write' if wb else 'read'}"
                        found[(a, b)] = _message(insns, pos, a, b, f"{verb} {buf}[{e}]")
    for k, a, b in writes:
        for r, c, d in reads:
            lo, hi = (r, k) if r < k else (k, r)
            if a < d and c < b and pos[r][0] != "store" and (lo, hi) not in found and not ordered(lo, hi):
                found[(lo, hi)] = _message(insns, pos, lo, hi, f"touch DRAM bytes {max(a, c)}..{min(b, d) - 1} "
                                                               f"(the STORE writes what the LOAD reads)")
        if insn_addr is not None and a < insn_addr + INSN_BYTES * len(insns) and insn_addr < b:
            found[(k, k)] = (f"instruction {k} (STORE) writes DRAM bytes {a}..{b - 1}, which overlap the instruction "
                             f"stream at {insn_addr}..{insn_addr + INSN_BYTES * len(insns) - 1}")
    return [(b, msg) for (a, b), msg in sorted(found.items(), key=lambda item: (item[0][1], item[0][0]))]

