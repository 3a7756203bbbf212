"""The load stage: LOAD INP and LOAD WGT instructions, ordered against compute by the g2l/l2g tokens.

Per instruction: take it from the command queue, pop g2l if ``pop_next_dep``, run the padded 2-D load into the
inp or wgt SRAM, then push l2g if ``push_next_dep``.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..isa.layouts import INSN_BITS
from ..isa.opcodes import MemId
from .load_unit import LoadUnit
from .ports import ReadClientSignature, SRAMWriteSignature, TokenPopSignature, TokenPushSignature

__all__ = ["Load"]


def connect_mem_fields(m, unit, insn):
    """Drive a `LoadUnit`'s field inputs from a ``mem`` instruction view."""
    m.d.comb += [
        unit.sram_base.eq(insn.sram_base), unit.dram_base.eq(insn.dram_base),
        unit.y_size.eq(insn.y_size), unit.x_size.eq(insn.x_size), unit.x_stride.eq(insn.x_stride),
        unit.y_pad_0.eq(insn.y_pad_0), unit.y_pad_1.eq(insn.y_pad_1),
        unit.x_pad_0.eq(insn.x_pad_0), unit.x_pad_1.eq(insn.x_pad_1),
    ]


class Load(wiring.Component):
    """``busy``: holding an instruction; ``stall``: waiting for a g2l token (also shown in ``wait_g2l``)."""

    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "cmd": In(stream.Signature(INSN_BITS)),
            "g2l": Out(TokenPopSignature()),
            "l2g": Out(TokenPushSignature()),
            "busy": Out(1),
            "stall": Out(1),
            "inp_wr": Out(SRAMWriteSignature(cfg.log_inp_depth, cfg.inp_elem_bits)),
            "wgt_wr": Out(SRAMWriteSignature(cfg.log_wgt_depth, cfg.wgt_elem_bits)),
            "inp_bus": Out(ReadClientSignature(cfg.bus_width)),
            "wgt_bus": Out(ReadClientSignature(cfg.bus_width)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        bw = cfg.bus_width
        m.submodules.inp = inp = LoadUnit(elem_bits=cfg.inp_elem_bits, bus_width=bw, addr_width=cfg.log_inp_depth)
        m.submodules.wgt = wgt = LoadUnit(elem_bits=cfg.wgt_elem_bits, bus_width=bw, addr_width=cfg.log_wgt_depth)
        wiring.connect(m, wiring.flipped(self.inp_wr), inp.wr)
        wiring.connect(m, wiring.flipped(self.wgt_wr), wgt.wr)
        wiring.connect(m, wiring.flipped(self.inp_bus), inp.bus)
        wiring.connect(m, wiring.flipped(self.wgt_bus), wgt.bus)

        insn = Signal(cfg.isa.mem)
        for unit in (inp, wgt):
            connect_mem_fields(m, unit, insn)
        is_inp = insn.memory_type == MemId.INP
        is_wgt = insn.memory_type == MemId.WGT

        def push(m):
            """Push the l2g token of the completed instruction and return to IDLE, or wait in PUSH for room."""
            with m.If(~insn.hdr.push_next_dep | self.l2g.ready):
                m.d.comb += self.l2g.push.eq(insn.hdr.push_next_dep)
                m.next = "IDLE"
            with m.Else():
                m.next = "PUSH"

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    m.d.sync += insn.eq(self.cmd.payload)
                    m.next = "POP"
            with m.State("POP"):
                m.d.comb += self.busy.eq(1)
                with m.If(insn.hdr.pop_next_dep & ~self.g2l.valid):
                    m.d.comb += self.stall.eq(1)
                with m.Else():
                    m.d.comb += [
                        self.g2l.pop.eq(insn.hdr.pop_next_dep),
                        inp.start.eq(is_inp),
                        wgt.start.eq(is_wgt),
                    ]
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += self.busy.eq(1)
                with m.If(~inp.busy & ~wgt.busy):
                    push(m)
            with m.State("PUSH"):
                m.d.comb += self.busy.eq(1)
                push(m)
        return m
