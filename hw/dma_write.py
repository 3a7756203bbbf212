"""A 2-D strided DMA writer: an element stream written as ``y_size`` rows of ``x_size`` elements to DRAM.

Row ``y`` goes to DRAM elements ``elem_addr + y·x_stride …``. Each row is one write request, split into INCR
bursts; AW runs ahead of W (a FIFO of burst lengths tells W where ``last`` goes). Elements at least as wide as
the bus are shifted out beat by beat; narrower elements are packed into beats at their slot with byte strobes, a
beat leaving when its last slot is filled or the row ends. Completion waits for every B response.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In

from .burst import BurstSplitter
from .dma_read import check_dma_widths, request_rows
from .interfaces import AXI4Signature, DMACommandSignature

__all__ = ["DMAWrite"]


class DMAWrite(wiring.Component):
    """Commanded through the `DMACommandSignature` members; ``busy`` stays high from the cycle after ``start`` until
    every beat is written and acknowledged."""

    def __init__(self, *, elem_bits, bus_width, max_outstanding=16):
        check_dma_widths(self, elem_bits=elem_bits, bus_width=bus_width)
        self.elem_bits = elem_bits
        self.bus_width = bus_width
        self.max_outstanding = max_outstanding
        axi = AXI4Signature(addr_width=32, data_width=bus_width)
        super().__init__({
            **DMACommandSignature().flip().members,     # start, elem_addr, x_size, x_stride, y_size; busy
            "elem": In(stream.Signature(elem_bits)),
            "aw": axi.members["aw"],
            "w": axi.members["w"],
            "b": axi.members["b"],
        })

    def elaborate(self, platform):
        m = Module()
        eb, bb = self.elem_bits, self.bus_width
        log_bb = (bb // 8).bit_length() - 1
        xs = Signal(len(self.x_size))
        ys = Signal(len(self.y_size))
        stride = Signal(len(self.x_stride))
        go = Signal()
        m.d.comb += go.eq(self.start & ~self.busy & (self.x_size != 0) & (self.y_size != 0))

        # -- row requests → bursts → AW -------------------------------------------------------------------------
        m.submodules.splitter = splitter = BurstSplitter(bb // 8)
        m.submodules.lens = lens = SyncFIFO(width=8, depth=self.max_outstanding)
        rq_active, begin_requests = request_rows(m, splitter.req, xs, ys, stride, elem_bits=eb, bus_width=bb)

        b_out = Signal(range(self.max_outstanding + 1))
        room = Signal()
        m.d.comb += [
            room.eq((b_out != self.max_outstanding) & lens.w_rdy),
            self.aw.addr.eq(splitter.burst.payload.addr),
            self.aw.len.eq(splitter.burst.payload.len),
            self.aw.size.eq(log_bb),
            self.aw.burst.eq(1),
            self.aw.valid.eq(splitter.burst.valid & room),
            splitter.burst.ready.eq(self.aw.ready & room),
            lens.w_data.eq(splitter.burst.payload.len),
            lens.w_en.eq(self.aw.valid & self.aw.ready),
            self.b.ready.eq(1),
        ]
        aw_fire = Signal()
        b_fire = Signal()
        m.d.comb += [aw_fire.eq(self.aw.valid & self.aw.ready), b_fire.eq(self.b.valid & self.b.ready)]
        with m.If(aw_fire & ~b_fire):
            m.d.sync += b_out.eq(b_out + 1)
        with m.Elif(b_fire & ~aw_fire):
            m.d.sync += b_out.eq(b_out - 1)

        # -- elements → beats (beat_valid/beat_data/beat_strb, consumed by W) ------------------------------------
        beat_valid = Signal()
        beat_data = Signal(bb)
        beat_strb = Signal(bb // 8)
        beat_take = Signal()
        pk_active = Signal()
        col = Signal(len(xs))
        row = Signal(len(ys))
        row_last = Signal()
        m.d.comb += row_last.eq(col == xs - 1)
        take = Signal()
        m.d.comb += take.eq(self.elem.valid & self.elem.ready)

        with m.If(take):
            with m.If(row_last):
                m.d.sync += [col.eq(0), row.eq(row + 1)]
                with m.If(row == ys - 1):
                    m.d.sync += pk_active.eq(0)
            with m.Else():
                m.d.sync += col.eq(col + 1)

        if eb < bb:
            log_slots = (bb // eb).bit_length() - 1
            n_slots = 1 << log_slots
            eb_bytes = eb // 8
            slot = Signal(log_slots)
            row_addr = Signal(32)
            work = Signal(bb)
            work_strb = Signal(bb // 8)
            new_data = Cat(*[Mux(slot == s, self.elem.payload, work.word_select(s, eb)) for s in range(n_slots)])
            new_strb = Cat(*[Mux(slot == s, Const((1 << eb_bytes) - 1, eb_bytes), work_strb.word_select(s, eb_bytes))
                             for s in range(n_slots)])
            completes = Signal()
            m.d.comb += [
                completes.eq((slot == n_slots - 1) | row_last),
                self.elem.ready.eq(pk_active & (~completes | ~beat_valid | beat_take)),
            ]
            with m.If(beat_take):
                m.d.sync += beat_valid.eq(0)
            next_row_addr = Signal(32)
            m.d.comb += next_row_addr.eq(row_addr + stride)
            with m.If(take):
                with m.If(completes):
                    m.d.sync += [beat_valid.eq(1), beat_data.eq(new_data), beat_strb.eq(new_strb),
                                 work.eq(0), work_strb.eq(0)]
                with m.Else():
                    m.d.sync += [work.eq(new_data), work_strb.eq(new_strb)]
                with m.If(row_last):
                    m.d.sync += [slot.eq(next_row_addr[:log_slots]), row_addr.eq(next_row_addr)]
                with m.Else():
                    m.d.sync += slot.eq(slot + 1)
            with m.If(go):
                m.d.sync += [slot.eq(self.elem_addr[:log_slots]), row_addr.eq(self.elem_addr),
                             work.eq(0), work_strb.eq(0)]
        else:
            n = eb // bb
            k = Signal(range(max(n, 2)))  # (never a zero-width signal: n may be 1)
            sr = Signal(eb)
            last_k = Signal()
            m.d.comb += [
                last_k.eq(k == n - 1),
                beat_data.eq(sr[:bb]),
                beat_strb.eq(Const(-1, bb // 8)),
                self.elem.ready.eq(pk_active & (~beat_valid | (beat_take & last_k))),
            ]
            with m.If(beat_take):
                m.d.sync += [sr.eq(sr >> bb), k.eq(k + 1)]
                with m.If(last_k):
                    m.d.sync += [beat_valid.eq(0), k.eq(0)]
            with m.If(take):
                m.d.sync += [sr.eq(self.elem.payload), beat_valid.eq(1), k.eq(0)]

        # -- W: beats with ``last`` at each burst end ------------------------------------------------------------
        w_cnt = Signal(8)
        w_last = Signal()
        m.d.comb += [
            w_last.eq(w_cnt == lens.r_data),
            self.w.valid.eq(beat_valid & lens.r_rdy),
            self.w.data.eq(beat_data),
            self.w.strb.eq(beat_strb),
            self.w.last.eq(w_last),
            beat_take.eq(self.w.valid & self.w.ready),
            lens.r_en.eq(beat_take & w_last),
        ]
        with m.If(beat_take):
            m.d.sync += w_cnt.eq(Mux(w_last, 0, w_cnt + 1))

        m.d.comb += self.busy.eq(rq_active | ~splitter.idle | pk_active | beat_valid | lens.r_rdy | (b_out != 0))

        with m.If(go):
            m.d.sync += [
                xs.eq(self.x_size), ys.eq(self.y_size), stride.eq(self.x_stride),
                *begin_requests(self.elem_addr),
                pk_active.eq(1), col.eq(0), row.eq(0),
            ]
        return m
