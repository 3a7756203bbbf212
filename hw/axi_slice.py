"""`AXIReadSlice`: a register slice on the AXI read-data channel (R), between a master and its slave.

Why: without it, the master's ``r.ready`` (a DMA reader's decision, through the read arbiter) reaches the slave's
memory address logic in the same cycle — on the FPGA that was the design's critical path (load unit → arbiter →
block-RAM next address → 64 EBR address pins). Behind the slice, every signal the slave sees on R comes from a
flip-flop, and so does every R signal the master sees. A two-entry FIFO keeps one beat per cycle; the cost is one
cycle of latency per burst. The other channels pass straight through.
"""

from amaranth.hdl import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .interfaces import AXI4Signature

__all__ = ["AXIReadSlice"]


class AXIReadSlice(wiring.Component):
    """``master`` faces the core (it is the slave side of the slice), ``slave`` faces the memory."""

    def __init__(self, *, addr_width=32, data_width=64):
        sig = AXI4Signature(addr_width=addr_width, data_width=data_width)
        self.data_width = data_width
        super().__init__({"master": In(sig), "slave": Out(sig)})

    def elaborate(self, platform):
        m = Module()
        master, slave = self.master, self.slave
        for name in ("ar", "aw", "w", "b"):      # pass-through: the master's outputs drive the slave's
            wiring.connect(m, wiring.flipped(getattr(master, name)), wiring.flipped(getattr(slave, name)))

        m.submodules.r_fifo = fifo = SyncFIFO(width=self.data_width + 3, depth=2)
        m.d.comb += [
            fifo.w_data.eq(Cat(slave.r.data, slave.r.resp, slave.r.last)),
            fifo.w_en.eq(slave.r.valid),
            slave.r.ready.eq(fifo.w_rdy),
            Cat(master.r.data, master.r.resp, master.r.last).eq(fifo.r_data),
            master.r.valid.eq(fifo.r_rdy),
            fifo.r_en.eq(master.r.ready),
        ]
        return m
