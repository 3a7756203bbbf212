"""The load stage: LOAD INP and LOAD WGT instructions, ordered against compute by the g2l/l2g tokens.

Per instruction (the token handshake is a `TokenStage`): take it from the command queue, pop g2l if
``pop_next_dep``, run the padded 2-D load into the inp or wgt SRAM, then push l2g if ``push_next_dep``.
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from ..isa.opcodes import MemId
from .insn_check import InsnCheck
from .load_unit import LoadUnit
from .ports import ReadClientSignature, SRAMWriteSignature
from .token_stage import TokenStage, stage_members

__all__ = ["Load"]


class Load(wiring.Component):
    """``busy``: holding an instruction; ``stall``: waiting for a g2l token (also shown in ``wait_g2l``)."""

    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            **stage_members("load"),
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

        m.submodules.stage = stage = TokenStage.of_stage(cfg.isa.mem, "load")
        m.submodules.check = check = InsnCheck(cfg, "load")
        stage.connect_owner(m, self, check)
        insn = stage.insn
        for unit in (inp, wgt):
            unit.connect_fields(m, insn)
        m.d.comb += [
            inp.start.eq(stage.start & (insn.memory_type == MemId.INP)),
            wgt.start.eq(stage.start & (insn.memory_type == MemId.WGT)),
            stage.done.eq(~inp.busy & ~wgt.busy),
            # the performance counters' "dram": a load running without an SRAM write this cycle waits on the bus
            stage.mem_wait.eq((inp.busy | wgt.busy) & ~inp.wr.en & ~wgt.wr.en),
        ]
        return m
