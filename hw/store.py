"""The store stage: STORE instructions copy out-buffer elements to DRAM, ordered by the g2s/s2g tokens.

Per instruction (the token handshake is a `TokenStage`): pop g2s if ``pop_prev_dep``, stream ``y_size·x_size``
consecutive out elements from ``sram_base`` (a short FIFO absorbs the SRAM read latency) into the `DMAWrite`
engine, wait for every write response, then push s2g if ``push_prev_dep`` — so compute only reuses the out buffer
after the data is in DRAM.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import Out

from .dma_write import DMAWrite
from .insn_check import InsnCheck
from .interfaces import AXI4Signature, dma_command
from .ports import SRAMReadSignature
from .token_stage import TokenStage, stage_members

__all__ = ["Store"]

READ_FIFO_DEPTH = 4


class Store(wiring.Component):
    """``busy``: holding an instruction; ``stall``: waiting for a g2s token (also shown in ``wait_g2s``)."""

    def __init__(self, cfg):
        self.cfg = cfg
        axi = AXI4Signature(addr_width=32, data_width=cfg.bus_width)
        super().__init__({
            **stage_members("store"),
            "out_rd": Out(SRAMReadSignature(cfg.log_out_depth, cfg.out_elem_bits)),
            "aw": axi.members["aw"],
            "w": axi.members["w"],
            "b": axi.members["b"],
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.dma = dma = DMAWrite(elem_bits=cfg.out_elem_bits, bus_width=cfg.bus_width)
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=cfg.out_elem_bits, depth=READ_FIFO_DEPTH)
        for name in ("aw", "w", "b"):
            wiring.connect(m, wiring.flipped(getattr(self, name)), getattr(dma, name))

        m.submodules.stage = stage = TokenStage.of_stage(cfg.isa.mem, "store")
        m.submodules.check = check = InsnCheck(cfg, "store")
        stage.connect_owner(m, self, check)
        insn = stage.insn
        start = stage.start
        m.d.comb += dma_command(dma, start, insn)

        # -- out SRAM → FIFO → DMAWrite ----------------------------------------------------------------------------
        rd_active = Signal()
        rd_addr = Signal(cfg.log_out_depth)
        rd_col = Signal(len(insn.x_size))
        rd_row = Signal(len(insn.y_size))
        in_flight = Signal()
        issue = Signal()
        m.d.comb += [
            issue.eq(rd_active & (fifo.level + in_flight < READ_FIFO_DEPTH)),
            self.out_rd.addr.eq(rd_addr),
            fifo.w_data.eq(self.out_rd.data),
            fifo.w_en.eq(in_flight),
            dma.elem.payload.eq(fifo.r_data),
            dma.elem.valid.eq(fifo.r_rdy),
            fifo.r_en.eq(dma.elem.ready),
        ]
        m.d.sync += in_flight.eq(issue)
        with m.If(issue):
            m.d.sync += rd_addr.eq(rd_addr + 1)
            with m.If(rd_col == insn.x_size - 1):
                m.d.sync += [rd_col.eq(0), rd_row.eq(rd_row + 1)]
                with m.If(rd_row == insn.y_size - 1):
                    m.d.sync += rd_active.eq(0)
            with m.Else():
                m.d.sync += rd_col.eq(rd_col + 1)
        nonempty = (insn.x_size != 0) & (insn.y_size != 0)
        with m.If(start & nonempty):
            m.d.sync += [rd_active.eq(1), rd_addr.eq(insn.sram_base), rd_col.eq(0), rd_row.eq(0)]

        m.d.comb += stage.done.eq(~dma.busy & ~rd_active & ~in_flight & (fifo.level == 0))
        # the performance counters' "dram": no element into the DMA engine and no W beat out this cycle (the bus
        # holds AW/W back or the write responses are outstanding)
        m.d.comb += stage.mem_wait.eq(~(dma.elem.valid & dma.elem.ready) & ~(dma.w.valid & dma.w.ready))
        return m
