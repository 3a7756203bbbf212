"""The tensor ALU datapath: element-wise int32 MIN, MAX, ADD, SHR, MUL on BATCH×BLOCK_OUT lanes.

Purely combinational. ``b`` is the sign-extended immediate when ``use_imm``, else the src accumulator lane.
SHR: the amount is the low 6 bits of b as a signed number a ∈ [−32, 31]; a ≥ 0 shifts right arithmetically,
a < 0 shifts left by −a, wrapped to 32 bits. MUL keeps the low 32 bits.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..isa.opcodes import AluOp

__all__ = ["AluCore"]


class AluCore(wiring.Component):
    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "op": In(AluOp),
            "use_imm": In(1),
            "imm": In(signed(16)),
            "dst": In(cfg.acc_elem_bits),
            "src": In(cfg.acc_elem_bits),
            "result": Out(cfg.acc_elem_bits),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        aw = cfg.acc_width
        lanes = []
        for i in range(cfg.batch * cfg.block_out):
            a = Signal(signed(aw), name=f"a{i}")
            b = Signal(signed(aw), name=f"b{i}")
            amt = Signal(signed(6), name=f"amt{i}")
            r = Signal(aw, name=f"r{i}")
            m.d.comb += [
                a.eq(self.dst.word_select(i, aw)),
                b.eq(self.src.word_select(i, aw)),
                amt.eq(b[:6]),
            ]
            with m.If(self.use_imm):
                m.d.comb += b.eq(self.imm)
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
                with m.Case(AluOp.MUL):
                    m.d.comb += r.eq(a * b)
            lanes.append(r)
        m.d.comb += self.result.eq(Cat(*lanes))
        return m

