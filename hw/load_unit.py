"""A padded 2-D LOAD into one SRAM: the `DMARead` element stream written row by row with zero padding.

The writer walks every SRAM position of the padded block, one per cycle: padding positions get zero at once,
data positions wait for the next element from DRAM. Pitch = x_pad_0 + x_size + x_pad_1.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..isa.layouts import MEM
from .dma_read import DMARead
from .interfaces import dma_command
from .ports import ReadClientSignature, SRAMWriteSignature

__all__ = ["LoadUnit", "FIELDS"]

# The LOAD fields a unit obeys (opcode, flags and memory_type are its stage's business), one port each, as wide as
# the ISA's field.
FIELDS = ("sram_base", "dram_base", "y_size", "x_size", "x_stride", "y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")


class LoadUnit(wiring.Component):
    """Pulse ``start`` with the LOAD fields while ``busy`` is low; ``busy`` is high from the next cycle until the
    last element is written. Zero ``y_size`` or ``x_size`` is a no-op (``busy`` never rises)."""

    def __init__(self, *, elem_bits, bus_width, addr_width):
        self.elem_bits = elem_bits
        self.bus_width = bus_width
        self.addr_width = addr_width
        super().__init__({
            "start": In(1),
            **{name: In(MEM[name].shape) for name in FIELDS},
            "busy": Out(1),
            "wr": Out(SRAMWriteSignature(addr_width, elem_bits)),
            "bus": Out(ReadClientSignature(bus_width)),
        })

    def connect_fields(self, m, insn):
        """Drive the field ports from ``insn``, a View of the ISA's ``mem`` layout."""
        m.d.comb += [getattr(self, name).eq(getattr(insn, name)) for name in FIELDS]

    def elaborate(self, platform):
        m = Module()
        m.submodules.dma = dma = DMARead(elem_bits=self.elem_bits, bus_width=self.bus_width)
        wiring.connect(m, wiring.flipped(self.bus), dma.bus)

        busy = self.busy
        go = Signal()
        m.d.comb += go.eq(self.start & ~busy & (self.x_size != 0) & (self.y_size != 0))
        m.d.comb += dma_command(dma, go, self)

        span = len(self.y_size) + 1   # a size plus two pads
        pad_w = len(self.y_pad_0)
        yy = Signal(span)
        xx = Signal(span)
        rows_m1 = Signal(span)      # last padded row index
        pitch_m1 = Signal(span)     # last padded column index
        y_lo, y_hi = Signal(pad_w), Signal(span)   # data rows are [y_lo, y_hi)
        x_lo, x_hi = Signal(pad_w), Signal(span)
        addr = Signal(self.addr_width)

        # `pad` = the current position is padding, kept as two registers computed a step ahead (the writer walks
        # positions in a fixed order): on the FPGA the four compares in front of `dma.elem.ready` were the head
        # of the critical path through the DMA's R ready into the read arbiter.
        row_pad = Signal()          # yy outside [y_lo, y_hi)
        col_pad = Signal()          # xx outside [x_lo, x_hi)
        pad = Signal()
        m.d.comb += pad.eq(row_pad | col_pad)
        yy_next, xx_next = Signal(span), Signal(span)
        m.d.comb += [yy_next.eq(yy + 1), xx_next.eq(xx + 1)]
        write = Signal()
        m.d.comb += [
            write.eq(busy & (pad | dma.elem.valid)),
            dma.elem.ready.eq(busy & ~pad),
            self.wr.en.eq(write),
            self.wr.addr.eq(addr),
            self.wr.data.eq(Mux(pad, 0, dma.elem.payload)),
        ]
        with m.If(write):
            m.d.sync += addr.eq(addr + 1)
            with m.If(xx == pitch_m1):
                m.d.sync += [xx.eq(0), yy.eq(yy_next), col_pad.eq(x_lo != 0),
                             row_pad.eq((yy_next < y_lo) | (yy_next >= y_hi))]
                with m.If(yy == rows_m1):
                    m.d.sync += busy.eq(0)
            with m.Else():
                m.d.sync += [xx.eq(xx_next), col_pad.eq((xx_next < x_lo) | (xx_next >= x_hi))]

        with m.If(go):
            m.d.sync += [
                busy.eq(1), yy.eq(0), xx.eq(0), addr.eq(self.sram_base),
                rows_m1.eq(self.y_pad_0 + self.y_size + self.y_pad_1 - 1),
                pitch_m1.eq(self.x_pad_0 + self.x_size + self.x_pad_1 - 1),
                y_lo.eq(self.y_pad_0), y_hi.eq(self.y_pad_0 + self.y_size),
                x_lo.eq(self.x_pad_0), x_hi.eq(self.x_pad_0 + self.x_size),
                row_pad.eq(self.y_pad_0 != 0), col_pad.eq(self.x_pad_0 != 0),   # position (0, 0); sizes are ≥ 1
            ]
        return m
