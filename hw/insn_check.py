"""`InsnCheck`: the rules of docs/semantics.md that one instruction word breaks on its own, for one stage.

Combinational, on the word a stage is about to take (the stage registers the verdict with the word). Which
instructions reach the stage, the buffer and DRAM element size of each memory_type, which flags name a queue of the
stage: all read from `vta.isa.stages`; field widths and positions from the ``cfg.isa`` layouts. The rules, in the
order `vta.sim.FunctionalSim` applies them:

- *early* (before any token is popped): a malformed word (unknown opcode, enum value with no meaning, reserved bit
  set) → MALFORMED; a LOAD of a type LOAD cannot fill → LOAD_TYPE; a dependency flag naming a queue the stage has
  not → FLAG_QUEUE;
- *late* (when the instruction would start): STORE of a type STORE cannot drain → STORE_TYPE; pads where none are
  allowed → PAD; the SRAM block past its buffer → SRAM_RANGE; the DRAM block outside the DMA window
  ``[dma_base, dma_limit]`` → DMA_RANGE (so no DMA is ever issued outside it); ALU with reset_reg → ALU_RESET;
  uop_end past the uop buffer → UOP_RANGE. Empty blocks and empty loop nests are not range-checked.
"""

from amaranth.hdl import Cat, Module, Signal
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
    the word breaks a rule; ``early`` when that rule comes before the token checks."""

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
            # SRAM: the last element written (read) must be < the buffer depth.
            rows = Signal(len(mem.y_size) + 1)
            pitch = Signal(len(mem.x_size) + 1)
            sram_end = Signal(len(mem.sram_base) + len(rows) + len(pitch))
            depth = Signal(range(max(cfg.depths.values()) + 1))
            shift = Signal(range(max(cfg.elem_bytes.values()).bit_length()))
            m.d.comb += [
                rows.eq(mem.y_pad_0 + mem.y_size + mem.y_pad_1),
                pitch.eq(mem.x_pad_0 + mem.x_size + mem.x_pad_1),
                sram_end.eq(mem.sram_base + rows * pitch),
            ]
            with m.Switch(mem.memory_type):
                for t in types:
                    with m.Case(t):
                        mt = MEMORY_TYPES[t]
                        m.d.comb += [depth.eq(cfg.depths[mt.buffer]),
                                     shift.eq(mt.dram_elem_bytes(cfg).bit_length() - 1)]
            rules.append((mem_op & nonempty & (sram_end > depth), 0, Fault.SRAM_RANGE, mem.memory_type))
            # DRAM: every byte of the block inside [dma_base, dma_limit].
            last_elem = Signal(len(mem.dram_base) + 2)
            m.d.comb += last_elem.eq(mem.dram_base + (mem.y_size - 1) * mem.x_stride + mem.x_size)  # one past
            first_byte = mem.dram_base << shift
            end_byte = last_elem << shift   # one past the last byte
            outside = (first_byte < self.dma_base) | (end_byte > self.dma_limit + 1)
            rules.append((mem_op & nonempty & outside, 0, Fault.DMA_RANGE, mem.memory_type))

        # -- late: GEMM / ALU --------------------------------------------------------------------------------------
        if stage == "compute":
            is_alu = op == Opcode.ALU
            tensor = (op == Opcode.GEMM) | is_alu
            rules.append((is_alu & alu.reset_reg, 0, Fault.ALU_RESET, 0))
            nest = (gemm.uop_bgn < gemm.uop_end) & (gemm.iter_out != 0) & (gemm.iter_in != 0)
            rules.append((tensor & nest & (gemm.uop_end > cfg.uop_depth), 0, Fault.UOP_RANGE, 0))

        # The first rule broken wins.
        for cond, early, code, field in reversed(rules):
            with m.If(cond):
                m.d.comb += [self.error.eq(1), self.early.eq(early), self.code.eq(code), self.field.eq(field)]
        return m

