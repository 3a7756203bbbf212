"""A 2-D strided DMA reader: ``y_size`` rows of ``x_size`` elements from DRAM, streamed out one element at a time.

Elements and bus beats are both powers of two and DRAM addresses are element-aligned, so an element is either a
whole number of aligned beats ("wide": beats are shifted into an element register) or a slice of one beat
("narrow": the element is selected out of the beat by its slot; a beat is released after its last used slot).
Each row is one bus request; rows are requested ahead of the data so several bursts can be in flight.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import Out

from .interfaces import DMACommandSignature
from .ports import ReadClientSignature

__all__ = ["DMARead", "check_dma_widths", "request_rows", "row_request"]


def _log2(x):
    return x.bit_length() - 1


def check_dma_widths(engine, *, elem_bits, bus_width):
    """The constructor check of both DMA engines: `row_request`'s shift arithmetic needs element and beat widths
    that are powers of two of at least a byte. Raises ``ValueError`` naming the bad width (after silencing the
    "created but never used" warning of the rejected ``engine``)."""
    for what, v in (("elem_bits", elem_bits), ("bus_width", bus_width)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 8 or v & (v - 1):
            engine._MustUse__silence = True
            raise ValueError(f"{what} must be a power of two ≥ 8, not {v!r}")


def row_request(elem_addr, x_size, *, elem_bits, bus_width):
    """(beat-aligned byte address, beat count) covering ``x_size`` elements from element index ``elem_addr``."""
    log_eb = _log2(elem_bits // 8)
    log_bb = _log2(bus_width // 8)
    byte = (elem_addr << log_eb)[:32]
    if elem_bits >= bus_width:
        return byte, (x_size << (log_eb - log_bb))
    log_slots = log_bb - log_eb
    slot0 = elem_addr[:log_slots]
    return Cat(Const(0, log_bb), byte[log_bb:32]), (slot0 + x_size + (1 << log_slots) - 1) >> log_slots


def request_rows(m, req, xs, ys, stride, *, elem_bits, bus_width):
    """The request side of both engines: drive ``req`` (a stream of `ReadRequest`) with one `row_request` per row,
    running ahead of the data; row ``y`` of ``ys`` rows of ``xs`` elements starts ``y·stride`` elements after row 0.

    Returns ``(active, begin)``: ``active`` is high until the last row has been requested; ``begin(elem_addr)`` is
    the list of statements that starts the rows at element ``elem_addr`` (for the caller's sync domain, on start).
    """
    active = Signal(name="rq_active")
    row = Signal(len(ys), name="rq_row")
    elem_addr = Signal(32, name="rq_addr")
    addr, beats = row_request(elem_addr, xs, elem_bits=elem_bits, bus_width=bus_width)
    m.d.comb += [
        req.valid.eq(active),
        req.payload.addr.eq(addr),
        req.payload.beats.eq(beats),
    ]
    with m.If(req.valid & req.ready):
        m.d.sync += [row.eq(row + 1), elem_addr.eq(elem_addr + stride)]
        with m.If(row == ys - 1):
            m.d.sync += active.eq(0)
    return active, lambda start_addr: [active.eq(1), row.eq(0), elem_addr.eq(start_addr)]


class DMARead(wiring.Component):
    """Streams ``y_size × x_size`` elements read from DRAM element ``elem_addr + y·x_stride + x`` (row-major).

    Commanded through the `DMACommandSignature` members; ``busy`` is high from the cycle after ``start`` until the
    last element has been handed out.
    """

    def __init__(self, *, elem_bits, bus_width):
        check_dma_widths(self, elem_bits=elem_bits, bus_width=bus_width)
        self.elem_bits = elem_bits
        self.bus_width = bus_width
        super().__init__({
            **DMACommandSignature().flip().members,     # start, elem_addr, x_size, x_stride, y_size; busy
            "elem": Out(stream.Signature(elem_bits)),
            "bus": Out(ReadClientSignature(bus_width)),
        })

    def elaborate(self, platform):
        m = Module()
        eb, bb = self.elem_bits, self.bus_width
        busy = self.busy
        xs = Signal(len(self.x_size))
        ys = Signal(len(self.y_size))
        stride = Signal(len(self.x_stride))

        # -- request generator: one request per row, running ahead of the data ---------------------------------
        _, begin_requests = request_rows(m, self.bus.req, xs, ys, stride, elem_bits=eb, bus_width=bb)

        # -- unpacker: beats → elements ---------------------------------------------------------------------------
        col = Signal(len(xs))
        row = Signal(len(ys))
        row_addr = Signal(len(self.elem_addr))
        row_last = Signal()         # col == xs - 1, kept as a register a step ahead: it gates `data.ready` (narrow
        #                             elements), which must not start with a subtract and a compare on the FPGA
        take = Signal()
        m.d.comb += take.eq(self.elem.valid & self.elem.ready)
        data = self.bus.data

        if eb < bb:
            log_slots = _log2(bb // eb)
            slot = Signal(log_slots)
            m.d.comb += [
                self.elem.payload.eq(data.payload.word_select(slot, eb)),
                self.elem.valid.eq(busy & data.valid),
                data.ready.eq(busy & self.elem.ready & ((slot == (1 << log_slots) - 1) | row_last)),
            ]
            next_row_addr = Signal(32)
            m.d.comb += next_row_addr.eq(row_addr + stride)
            with m.If(take):
                with m.If(row_last):
                    m.d.sync += slot.eq(next_row_addr[:log_slots])
                with m.Else():
                    m.d.sync += slot.eq(slot + 1)
        else:
            n = eb // bb
            if n == 1:
                m.d.comb += [
                    self.elem.payload.eq(data.payload),
                    self.elem.valid.eq(busy & data.valid),
                    data.ready.eq(busy & self.elem.ready),
                ]
            else:
                k = Signal(range(n))
                sr = Signal((n - 1) * bb)
                last_beat = Signal()
                m.d.comb += [
                    last_beat.eq(k == n - 1),
                    self.elem.payload.eq(Cat(sr, data.payload)),
                    self.elem.valid.eq(busy & data.valid & last_beat),
                    data.ready.eq(busy & (self.elem.ready | ~last_beat)),
                ]
                with m.If(data.valid & data.ready):
                    m.d.sync += [k.eq(Mux(last_beat, 0, k + 1)), sr.eq(Cat(sr[bb:], data.payload))]

        with m.If(take):
            with m.If(row_last):
                m.d.sync += [col.eq(0), row.eq(row + 1), row_addr.eq(row_addr + stride), row_last.eq(xs == 1)]
                with m.If(row == ys - 1):
                    m.d.sync += busy.eq(0)
            with m.Else():
                m.d.sync += [col.eq(col + 1), row_last.eq(col + 2 == xs)]

        # -- start ------------------------------------------------------------------------------------------------
        with m.If(self.start & ~busy & (self.x_size != 0) & (self.y_size != 0)):
            m.d.sync += [
                busy.eq(1), *begin_requests(self.elem_addr),
                xs.eq(self.x_size), ys.eq(self.y_size), stride.eq(self.x_stride),
                col.eq(0), row.eq(0), row_addr.eq(self.elem_addr), row_last.eq(self.x_size == 1),
            ]
            if eb < bb:
                m.d.sync += slot.eq(self.elem_addr[:log_slots])
            elif eb // bb > 1:
                m.d.sync += k.eq(0)
        return m
