"""The tensor ALU datapath: element-wise int32 MIN, MAX, ADD, SHR and MOV on BATCH×BLOCK_OUT lanes.

Purely combinational. ``b`` is the sign-extended immediate when ``use_imm``, else the src accumulator lane.
SHR: the amount is the low 6 bits of b as a signed number a ∈ [−32, 31]; a ≥ 0 shifts right arithmetically,
a < 0 shifts left by −a, wrapped to 32 bits. MOV is b itself (one more mux input: a tile's accumulator starts at its
bias in one pass). SETQ never reaches the datapath (the compute stage issues no uops for it). MUL is not here: a
32-bit multiply does not fit in one cycle next to the compute stage's operand forwarding at the FPGA clock, so it
has its own pipelined datapath (`MulCore`); this core's ``result`` is 0 for MUL.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..isa.opcodes import AluOp

__all__ = ["AluCore", "alu_operand_members", "lane_count", "operand_lanes"]


def lane_count(cfg, lanes):
    """``lanes`` (an int ≥ 1), or all BATCH×BLOCK_OUT lanes of ``cfg`` when None."""
    if lanes is None:
        return cfg.batch * cfg.block_out
    if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
        raise ValueError(f"lanes must be a positive integer, not {lanes!r}")
    return lanes


def alu_operand_members(cfg, lanes):
    """The operand ports shared by `AluCore` and `MulCore`: ``dst``, ``src`` (``lanes`` int32 lanes) and the
    immediate (the ISA's ALU ``imm`` field) that replaces src when ``use_imm``."""
    return {
        "use_imm": In(1),
        "imm": In(cfg.isa.alu["imm"].shape),
        "dst": In(cfg.acc_width * lanes),
        "src": In(cfg.acc_width * lanes),
    }


def operand_lanes(m, core, cfg, lanes):
    """``[(a, b), …]`` per lane: a = dst lane, b = the src lane or the sign-extended immediate (``use_imm``)."""
    aw = cfg.acc_width
    out = []
    for i in range(lanes):
        a = Signal(signed(aw), name=f"a{i}")
        b = Signal(signed(aw), name=f"b{i}")
        m.d.comb += [a.eq(core.dst.word_select(i, aw)),
                     b.eq(Mux(core.use_imm, core.imm, core.src.word_select(i, aw)))]
        out.append((a, b))
    return out


class AluCore(wiring.Component):
    """All BATCH×BLOCK_OUT lanes of ``cfg``, or ``lanes`` of them (the compute stage uses one core per lane, each
    with its own copy of the control registers, so no control net fans out to the whole datapath)."""

    def __init__(self, cfg, lanes=None):
        self.cfg = cfg
        self.lanes = lane_count(cfg, lanes)
        super().__init__({"op": In(AluOp), **alu_operand_members(cfg, self.lanes),
                          "result": Out(cfg.acc_width * self.lanes)})

    def elaborate(self, platform):
        m = Module()
        aw = self.cfg.acc_width
        lanes = []
        for i, (a, b) in enumerate(operand_lanes(m, self, self.cfg, self.lanes)):
            amt = Signal(signed(6), name=f"amt{i}")
            r = Signal(aw, name=f"r{i}")
            m.d.comb += amt.eq(b[:6])
            with m.Switch(self.op):
                with m.Case(AluOp.MIN):
                    m.d.comb += r.eq(Mux(a < b, a, b))
                with m.Case(AluOp.MAX):
                    m.d.comb += r.eq(Mux(a > b, a, b))
                with m.Case(AluOp.ADD):
                    m.d.comb += r.eq(a + b)
                with m.Case(AluOp.SHR):
                    with m.If(amt >= 0):
                        m.d.comb += r.eq(a >> amt[:5])
                    with m.Else():
                        # a << n for n = −amt ∈ [1, 32], as a 64-bit right shift (a << 32) >> (32 − n): keeps the
                        # simulated operand at 64 bits instead of a 95-bit variable left shift.
                        m.d.comb += r.eq((Cat(Const(0, aw), a) >> (amt + aw)[:6])[:aw])
                with m.Case(AluOp.MOV):
                    m.d.comb += r.eq(b)
            lanes.append(r)
        m.d.comb += self.result.eq(Cat(*lanes))
        return m
