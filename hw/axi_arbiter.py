"""Shares the AXI read channels (AR, R) among the core's DMA readers.

Policy: round robin over clients that raise ``lock``; the granted client keeps the bus until it drops ``lock``
(it has then consumed every beat it asked for), so R beats never need IDs or reordering. While granted, its
requests are split into INCR bursts (`BurstSplitter`) that are issued back to back, up to ``max_outstanding``
bursts in flight; R beats go straight to the client (its ``ready`` is the bus's ``ready``).
"""

from amaranth.hdl import Array, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from .burst import BurstSplitter
from .interfaces import AXI4Signature
from .ports import ReadClientSignature

__all__ = ["ReadArbiter"]


class ReadArbiter(wiring.Component):
    """``n_clients`` `ReadClientSignature` ports (``client0`` …) onto one AXI read address/data channel pair."""

    def __init__(self, n_clients, bus_width, *, max_outstanding=16):
        if n_clients < 1:
            raise ValueError(f"n_clients must be at least 1, not {n_clients!r}")
        self.n_clients = n_clients
        self.bus_width = bus_width
        self.max_outstanding = max_outstanding
        axi = AXI4Signature(addr_width=32, data_width=bus_width)
        members = {f"client{i}": In(ReadClientSignature(bus_width)) for i in range(n_clients)}
        members["ar"] = axi.members["ar"]
        members["r"] = axi.members["r"]
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        n = self.n_clients
        clients = [getattr(self, f"client{i}") for i in range(n)]
        m.submodules.splitter = splitter = BurstSplitter(self.bus_width // 8)

        granted = Signal()
        sel = Signal(range(n))
        prio = Signal(range(n))  # the client checked first at the next grant

        locks = Array(c.lock for c in clients)
        with m.If(~granted):
            with m.Switch(prio):
                for p in range(n):
                    with m.Case(p):
                        order = [(p + k) % n for k in range(n)]
                        with m.If(clients[order[0]].lock):
                            m.d.sync += [granted.eq(1), sel.eq(order[0])]
                        for i in order[1:]:
                            with m.Elif(clients[i].lock):
                                m.d.sync += [granted.eq(1), sel.eq(i)]
        with m.Elif(~locks[sel]):
            m.d.sync += [granted.eq(0), prio.eq(sel + 1 if n > 1 else 0)]
            if n > 1:
                with m.If(sel == n - 1):
                    m.d.sync += prio.eq(0)

        # Requests of the granted client into the splitter.
        req_valid = Array(c.req.valid for c in clients)
        req_addr = Array(c.req.payload.addr for c in clients)
        req_beats = Array(c.req.payload.beats for c in clients)
        m.d.comb += [
            splitter.req.valid.eq(granted & req_valid[sel]),
            splitter.req.payload.addr.eq(req_addr[sel]),
            splitter.req.payload.beats.eq(req_beats[sel]),
        ]
        for i, c in enumerate(clients):
            m.d.comb += c.req.ready.eq(granted & (sel == i) & splitter.req.ready)

        # Bursts onto AR, bounded number in flight.
        outstanding = Signal(range(self.max_outstanding + 1))
        room = Signal()
        m.d.comb += [
            room.eq(outstanding != self.max_outstanding),
            self.ar.addr.eq(splitter.burst.payload.addr),
            self.ar.len.eq(splitter.burst.payload.len),
            self.ar.size.eq((self.bus_width // 8).bit_length() - 1),
            self.ar.burst.eq(1),
            self.ar.valid.eq(splitter.burst.valid & room),
            splitter.burst.ready.eq(self.ar.ready & room),
        ]
        # A burst's last beat frees its slot a cycle late (`r_done` is registered): R ready is the end of the DMA
        # readers' handshake chain, and on the FPGA the counter's update behind it was the critical path. The
        # count is then at most one too high for a cycle, which can only hold back an AR at the limit.
        ar_fire = Signal()
        r_done = Signal()
        m.d.comb += ar_fire.eq(self.ar.valid & self.ar.ready)
        m.d.sync += r_done.eq(self.r.valid & self.r.ready & self.r.last)
        with m.If(ar_fire & ~r_done):
            m.d.sync += outstanding.eq(outstanding + 1)
        with m.Elif(r_done & ~ar_fire):
            m.d.sync += outstanding.eq(outstanding - 1)

        # R beats to the granted client.
        data_ready = Array(c.data.ready for c in clients)
        for i, c in enumerate(clients):
            m.d.comb += [
                c.data.payload.eq(self.r.data),
                c.data.valid.eq(self.r.valid & granted & (sel == i)),
            ]
        m.d.comb += self.r.ready.eq(granted & data_ready[sel])
        return m
