"""`InsnCheck`: the rules of docs/semantics.md that one instruction word breaks on its own, for one stage.

Pipelined, off the stage's path: the verdict on the word presented on ``insn`` comes out of registers `LATENCY`
cycles later (the next cycle for a word with no LOAD/STORE block: ``slow`` low), so the stage feeds it the word
waiting at its command queue's head (checked while the previous instruction runs) and then the word it holds, and
starts the instruction only once the verdict on it is out. The
block's extents are multiplied as 4-bit-digit partial products (S2) summed in S3 and compared in S4: no long
multiplier or compare on any one cycle. Which
instructions reach the stage, the buffer and DRAM element size of each memory_type, which flags name a queue of the
stage: all read from `vta.isa.stages`; field widths and positions from the ``cfg.isa`` layouts. The rules, in the
order `vta.sim.FunctionalSim` applies them:

- *early* (before any token is popped): a malformed word (unknown opcode, enum value with no meaning, reserved bit
  set, an ALU SETQ without use_imm, with imm bits above bit 5 or with requant set) → MALFORMED; a LOAD of a type
  LOAD cannot fill → LOAD_TYPE; a dependency flag naming a queue the stage has not → FLAG_QUEUE;
- *late* (when the instruction would start): STORE of a type STORE cannot drain → STORE_TYPE; pads where none are
  allowed → PAD; the SRAM block past its buffer → SRAM_RANGE; the DRAM block outside the DMA window
  ``[dma_base, dma_limit]`` → DMA_RANGE (so no DMA is ever issued outside it); ALU with reset_reg → ALU_RESET;
  uop_end past the uop buffer → UOP_RANGE. Empty blocks and empty loop nests are not range-checked.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..isa.insn import Alu, Finish, Gemm, Load, Store
from ..isa.layouts import DEP_FLAGS, INSN_BITS
from ..isa.opcodes import AluOp, MemId, Opcode
from ..isa.stages import LOAD_TYPES, MEMORY_TYPES, STAGE_QUEUES, STAGES, STORE_TYPES, stage_of_fields
from .regs import FAULT_CODE_BITS, FAULT_FIELD_BITS, Fault

__all__ = ["InsnCheck"]

KIND_OF_OPCODE = {cls.opcode: cls.kind for cls in (Load, Store, Gemm, Alu, Finish)}
PADS = ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")


class InsnCheck(wiring.Component):
    """``insn``: the word; ``dma_base``/``dma_limit``: the window (inclusive). ``error`` with ``code``/``field`` when
    the word breaks a rule; ``early`` when that rule comes before the token checks. ``slow``: the word presented in
    the previous cycle is a nonempty LOAD/STORE block, whose verdict is out `LATENCY` cycles after it was presented;
    for any other word the verdict is out the next cycle (``slow`` low): a stage waits for it only on blocks."""

    LATENCY = 4

    def __init__(self, cfg, stage):
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")
        self.cfg = cfg
        self.stage = stage
        super().__init__({
            "insn": In(INSN_BITS),
            "dma_base": In(32),
            "dma_limit": In(32),
            "error": Out(1),
            "early": Out(1),
            "slow": Out(1),
            "code": Out(FAULT_CODE_BITS),
            "field": Out(FAULT_FIELD_BITS),
        })

    def _mem_types(self):
        """The memory types of the LOADs (or STOREs) this stage receives and must range-check."""
        if self.stage == "store":
            return list(STORE_TYPES)
        return [m for m in LOAD_TYPES if MEMORY_TYPES[m].load_stage == self.stage]

    def elaborate(self, platform):
        m = Module()
        cfg, isa, stage = self.cfg, self.cfg.isa, self.stage
        insn = data.View(isa.insn, self.insn)
        op = insn.hdr.opcode
        mem, alu, gemm = insn.mem, insn.alu, insn.gemm
        rules = []   # (condition, early, code, field), highest priority first

        # -- early: malformed words, LOAD types, flags --------------------------------------------------------------
        # (opcodes that never reach this stage are left out: fetch dispatches by `vta.isa.stages`)
        reaching = [o for o in Opcode if o != Opcode.LOAD and stage_of_fields(o) == stage]
        if stage == "compute" or any(t.load_stage == stage for t in MEMORY_TYPES.values()):
            reaching.append(Opcode.LOAD)
        bad = []
        if stage == "compute":  # fetch sends every word no stage claims to compute
            bad.append(~Cat(*(op == o for o in Opcode)).any())
        for o in reaching:
            kind = KIND_OF_OPCODE[o]
            reserved = ~isa.used_mask[kind] & ((1 << INSN_BITS) - 1)
            bad.append((op == o) & (self.insn & reserved).any())
        is_mem = Cat(*(op == o for o in (Opcode.LOAD, Opcode.STORE) if o in reaching)).any()
        bad.append(is_mem & ~Cat(*(mem.memory_type == t for t in MemId)).any())
        if Opcode.ALU in reaching:
            bad.append((op == Opcode.ALU) & ~Cat(*(alu.alu_opcode == a for a in AluOp)).any())
            # SETQ's operand is its immediate only: use_imm set, imm bits above the 6 of Q clear, never requantized.
            setq = (op == Opcode.ALU) & (alu.alu_opcode == AluOp.SETQ)
            bad.append(setq & (~alu.use_imm | alu.imm[6:].any() | alu.requant))
        rules.append((Cat(*bad).any(), 1, Fault.MALFORMED, 0))
        if Opcode.LOAD in reaching:
            loadable = Cat(*(mem.memory_type == t for t in LOAD_TYPES)).any()
            rules.append(((op == Opcode.LOAD) & ~loadable, 1, Fault.LOAD_TYPE, mem.memory_type))
        for i, flag in enumerate(DEP_FLAGS):
            if STAGE_QUEUES[stage][flag] is None:
                rules.append((getattr(insn.hdr, flag), 1, Fault.FLAG_QUEUE, i))

        # -- late: LOAD/STORE blocks -----------------------------------------------------------------------------
        types = self._mem_types()
        nonempty = (mem.y_size != 0) & (mem.x_size != 0)
        any_pad = Cat(*(getattr(mem, p) != 0 for p in PADS)).any()
        if stage == "store":
            mem_op = op == Opcode.STORE
            rules.append((mem_op & ~Cat(*(mem.memory_type == t for t in STORE_TYPES)).any(), 0, Fault.STORE_TYPE,
                          mem.memory_type))
            rules.append((mem_op & any_pad, 0, Fault.PAD, mem.memory_type))
        else:
            mem_op = op == Opcode.LOAD
            no_pad = Cat(*(mem.memory_type == t for t in types if not MEMORY_TYPES[t].paddable)).any()
            rules.append((mem_op & nonempty & any_pad & no_pad, 0, Fault.PAD, mem.memory_type))
        if types:
            # S1 (from the word): the block's shape. S2: partial products (4-bit digits of one factor). S3: their
            # sums, the block's end in SRAM and in DRAM bytes. S4 (the verdict): the compares.
            rows = Signal(len(mem.y_size) + 1)
            pitch = Signal(len(mem.x_size) + 1)
            ym1 = Signal(len(mem.y_size))
            depth = Signal(range(max(cfg.depths.values()) + 1))
            shift = Signal(range(max(cfg.elem_bytes.values()).bit_length()))
            with m.Switch(mem.memory_type):
                for t in types:
                    with m.Case(t):
                        mt = MEMORY_TYPES[t]
                        m.d.comb += [depth.eq(cfg.depths[mt.buffer]),
                                     shift.eq(mt.dram_elem_bytes(cfg).bit_length() - 1)]
            s1 = {name: Signal.like(sig, name=f"s1_{name}") for name, sig in (
                ("rows", rows), ("pitch", pitch), ("ym1", ym1), ("x_stride", mem.x_stride), ("x_size", mem.x_size),
                ("sram_base", mem.sram_base), ("dram_base", mem.dram_base), ("depth", depth), ("shift", shift))}
            m.d.comb += [
                rows.eq(mem.y_pad_0 + mem.y_size + mem.y_pad_1),
                pitch.eq(mem.x_pad_0 + mem.x_size + mem.x_pad_1),
                ym1.eq(mem.y_size - 1),
            ]
            m.d.sync += [s1["rows"].eq(rows), s1["pitch"].eq(pitch), s1["ym1"].eq(ym1),
                         s1["x_stride"].eq(mem.x_stride), s1["x_size"].eq(mem.x_size),
                         s1["sram_base"].eq(mem.sram_base), s1["dram_base"].eq(mem.dram_base),
                         s1["depth"].eq(depth), s1["shift"].eq(shift)]
            sram_parts = _partials(m, s1["rows"], s1["pitch"], "sram")
            dram_parts = _partials(m, s1["x_stride"], s1["ym1"], "dram")
            s2 = {name: Signal.like(s1[name], name=f"s2_{name}")
                  for name in ("sram_base", "dram_base", "x_size", "depth", "shift")}
            m.d.sync += [s2[name].eq(s1[name]) for name in s2]
            sram_end = Signal(len(mem.sram_base) + len(rows) + len(pitch) + 1)
            last_elem = Signal(len(mem.dram_base) + 2)                      # one past the block's last element
            first_byte = Signal(len(mem.dram_base) + (1 << len(shift)) - 1)
            end_byte = Signal(len(last_elem) + (1 << len(shift)) - 1)        # one past the last byte
            s3_depth = Signal.like(depth)
            m.d.sync += [
                sram_end.eq(s2["sram_base"] + sum(sram_parts)),
                last_elem.eq(s2["dram_base"] + sum(dram_parts) + s2["x_size"]),
                s3_depth.eq(s2["depth"]),
                first_byte.eq(s2["dram_base"] << s2["shift"]),
            ]
            s3_shift = Signal.like(shift)
            m.d.sync += s3_shift.eq(s2["shift"])
            m.d.comb += end_byte.eq(last_elem << s3_shift)
            limit1 = Signal(33)
            m.d.sync += limit1.eq(self.dma_limit + 1)
            outside = (first_byte < self.dma_base) | (end_byte > limit1)
            rules.append((mem_op & nonempty, 0, Fault.SRAM_RANGE, mem.memory_type, sram_end > s3_depth))
            rules.append((mem_op & nonempty, 0, Fault.DMA_RANGE, mem.memory_type, outside))

        # -- late: GEMM / ALU --------------------------------------------------------------------------------------
        if stage == "compute":
            is_alu = op == Opcode.ALU
            tensor = (op == Opcode.GEMM) | is_alu
            rules.append((is_alu & alu.reset_reg, 0, Fault.ALU_RESET, 0))
            nest = (gemm.uop_bgn < gemm.uop_end) & (gemm.iter_out != 0) & (gemm.iter_in != 0)
            rules.append((tensor & nest & (gemm.uop_end > cfg.uop_depth), 0, Fault.UOP_RANGE, 0))

        # The first rule broken wins. Each rule's condition (and field) on the word is registered (S1) and delayed to
        # the range compares (S2, S3); the full verdict is a priority select into registers (S4). A word no range
        # rule applies to (``slow`` low: not a nonempty LOAD/STORE block) has its verdict from S1 already (``fast``).
        full = [Signal(), Signal(), Signal.like(self.code), Signal.like(self.field)]
        fast = [Signal(), Signal(), Signal.like(self.code), Signal.like(self.field)]
        full_r = [Signal.like(v, name=f"verdict_{n}") for v, n in zip(full, ("error", "early", "code", "field"))]
        fast_rules, gates = [], []
        for i, (cond, is_early, rule_code, rule_field, *late) in enumerate(rules):
            hit, fld = cond, rule_field
            for k in range(self.LATENCY - 1):
                hit_r = Signal(name=f"rule{i}_hit{k + 1}")
                fld_r = Signal(FAULT_FIELD_BITS, name=f"rule{i}_field{k + 1}")
                m.d.sync += [hit_r.eq(hit), fld_r.eq(fld)]
                if k == 0:
                    (gates if late else fast_rules).append((hit_r, is_early, rule_code, fld_r))
                hit, fld = hit_r, fld_r
            rules[i] = (hit & late[0] if late else hit, is_early, rule_code, fld)
        for verdict, rule_list in ((full, rules), (fast, fast_rules)):
            for cond, is_early, rule_code, fld in reversed(rule_list):
                with m.If(cond):
                    m.d.comb += [verdict[0].eq(1), verdict[1].eq(is_early), verdict[2].eq(rule_code),
                                 verdict[3].eq(fld)]
        m.d.sync += [r.eq(v) for r, v in zip(full_r, full)]
        m.d.comb += self.slow.eq(Cat(*(g for g, *_ in gates)).any())
        outs = (self.error, self.early, self.code, self.field)
        m.d.comb += [o.eq(Mux(self.slow, r, f)) for o, r, f in zip(outs, full_r, fast)]
        return m


def _partials(m, a, b, name, digit=4):
    """The registered partial products ``a · b[k·digit:(k+1)·digit] << k·digit`` (sum them for ``a · b``)."""
    parts = []
    for k, lo in enumerate(range(0, len(b), digit)):
        d = b[lo:lo + digit]
        p = Signal(len(a) + len(d), name=f"{name}_part{k}")
        m.d.sync += p.eq(a * d)
        parts.append(p << lo)
    return parts
