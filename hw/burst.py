"""Splits a contiguous beat range into AXI4 INCR bursts: ≤ 256 beats, never crossing a 4 KiB boundary."""

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
        addr = Signal(32)
        left = Signal(32)

        # Beats until the next 4 KiB boundary (1 .. 4096/bus_bytes).
        to_boundary = Signal(range(BOUNDARY // self.bus_bytes + 1))
        m.d.comb += to_boundary.eq((BOUNDARY >> log_bb) - addr[log_bb:12])
        n = Signal(range(MAX_BEATS + 1))
        cap = Signal(range(MAX_BEATS + 1))
        m.d.comb += cap.eq(Mux(to_boundary < MAX_BEATS, to_boundary, MAX_BEATS))
        m.d.comb += n.eq(Mux(left < cap, left, cap))

        m.d.comb += [
            self.idle.eq(left == 0),
            # Ready for the next request when idle or in the cycle the last burst of this one leaves.
            # (``n == left`` is ``left <= cap``: one compare less after the boundary distance)
            self.req.ready.eq((left == 0) | (self.burst.ready & (left <= cap))),
            self.burst.valid.eq(left != 0),
            self.burst.payload.addr.eq(addr),
            self.burst.payload.len.eq(n - 1),
        ]
        with m.If(self.burst.valid & self.burst.ready):
            m.d.sync += [
                addr.eq(addr + (n << log_bb)),
                left.eq(left - n),
            ]
        with m.If(self.req.valid & self.req.ready):
            m.d.sync += [
                addr.eq(Cat(Const(0, log_bb), self.req.payload.addr[log_bb:])),
                left.eq(self.req.payload.beats),
            ]
        return m
