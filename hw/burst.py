"""Splits a contiguous beat range into AXI4 INCR bursts: ≤ 256 beats, never crossing a 4 KiB boundary.

Timing: the splitter sits on the store DMA's and the read arbiter's request handshakes, so its ``req.ready`` and
burst length are built from registers with as little arithmetic as possible. The beats left before the next 4 KiB
boundary are ``PAGE − offset``; one less than that is ``~offset`` (the address bits inverted, no adder), so the
burst cap minus one is a plain mux of inverted address bits and the only carry chains left are the compare of the
beats left against the cap and the address/count updates.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .ports import ReadRequest

__all__ = ["BurstSplitter", "Burst"]

# One AXI burst: byte address and AXI ``len`` (beats − 1).
Burst = data.StructLayout({"addr": 32, "len": 8})

MAX_BEATS = 256
BOUNDARY = 4096


class BurstSplitter(wiring.Component):
    """Takes one request (bus-aligned byte address, beat count ≥ 1) at a time and emits its bursts one per cycle.

    ``idle`` is high when no request is being split. The burst length is the minimum of the beats left, 256 and
    the beats left before the next 4 KiB boundary.
    """

    def __init__(self, bus_bytes):
        if bus_bytes not in (4, 8, 16, 32, 64):
            raise ValueError(f"bus_bytes must be 4, 8, 16, 32 or 64, not {bus_bytes!r}")
        self.bus_bytes = bus_bytes
        super().__init__({
            "req": In(stream.Signature(ReadRequest)),
            "burst": Out(stream.Signature(Burst)),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        log_bb = self.bus_bytes.bit_length() - 1
        page_bits = 12 - log_bb                 # beat offset within a 4 KiB page
        active = Signal()                       # a request is being split
        addr = Signal(32)                       # byte address of the next burst
        left_m1 = Signal(32)                    # beats left in the request, minus one

        # Beats to the boundary minus one: PAGE − 1 − offset = ~offset (0 .. PAGE − 1).
        to_boundary_m1 = Signal(page_bits)
        m.d.comb += to_boundary_m1.eq(~addr[log_bb:12])
        # The burst cap minus one: min(to_boundary, 256) − 1 = min(~offset, 255), a mux on the offset's high bits.
        cap_m1 = Signal(8)
        if page_bits > 8:
            m.d.comb += cap_m1.eq(Mux(to_boundary_m1[8:].any(), MAX_BEATS - 1, to_boundary_m1[:8]))
        else:
            m.d.comb += cap_m1.eq(to_boundary_m1)
        # This burst is the request's last: the beats left fit under the cap.
        last = Signal()
        m.d.comb += last.eq(left_m1 <= cap_m1)
        length_m1 = Signal(8)                   # AXI ``len`` of this burst
        m.d.comb += length_m1.eq(Mux(last, left_m1[:8], cap_m1))
        # ``x − ~length_m1`` (32-bit inversion) is ``x + length_m1 + 1``: one adder with its carry-in set.
        not_len = Cat(~length_m1, Const(-1, 24))

        m.d.comb += [
            self.idle.eq(~active),
            # Ready for the next request when idle or in the cycle the last burst of this one leaves.
            self.req.ready.eq(~active | (self.burst.ready & last)),
            self.burst.valid.eq(active),
            self.burst.payload.addr.eq(addr),
            self.burst.payload.len.eq(length_m1),
        ]
        with m.If(self.burst.valid & self.burst.ready):
            m.d.sync += [
                addr.eq(Cat(Const(0, log_bb), (addr[log_bb:] - not_len)[:32 - log_bb])),
                left_m1.eq(left_m1 + not_len),  # − (length_m1 + 1)
            ]
            with m.If(last):
                m.d.sync += active.eq(0)
        with m.If(self.req.valid & self.req.ready):
            m.d.sync += [
                active.eq(self.req.payload.beats != 0),     # (an empty request is taken and yields nothing)
                addr.eq(Cat(Const(0, log_bb), self.req.payload.addr[log_bb:])),
                left_m1.eq(self.req.payload.beats - 1),
            ]
        return m
