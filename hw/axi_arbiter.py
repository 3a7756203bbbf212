"""Shares the AXI read channels (AR, R) among the core's DMA readers, switching between them at request boundaries.

Why not hand the bus to one reader for a whole transfer: a 2-D LOAD of the load stage is hundreds of beats, and the
compute stage's small reads (a few uop or acc beats) used to wait for all of them. Here every request (one DMA row)
is arbitrated on its own, so a small read waits only for the bursts already issued ahead of it.

How R beats stay correct without AXI IDs: the slave answers bursts in AR order (one ID; the Verilator harness, the
Amaranth and cocotb DRAM models and the board's `BRAMDram` all do), so the arbiter records, per issued burst, which
client it belongs to in a small queue (one entry per burst in flight, ``max_outstanding`` deep) and hands every R
beat to the client at the queue's head; a burst's last beat retires the head. A client's requests go through the
one `BurstSplitter` in the order it makes them, so its beats come back in its own order too.

Policy: the splitter is offered one request at a time, chosen round robin among the clients with a request, the
``urgent`` clients first (the core lists compute's and fetch's small readers there, so they overtake the load
stage's rows). The choice is registered (made from the previous cycle's request flags), which keeps the
priority logic off the handshake paths at the cost of a cycle between a client's first request and its offer.
At most ``max_outstanding`` bursts and — when ``max_beats`` is set — about ``max_beats`` beats are in flight: a burst
is issued while fewer than ``max_beats`` beats are outstanding, so the queue a newly issued small read waits behind
stays short while the bus still has enough in flight to cover the DRAM latency.

Timing: R ``ready`` is the end of the DMA readers' handshake chain (it was the FPGA's critical path once), so
nothing counts behind it in the same cycle: a burst's end (and, for the beat budget, each beat) is registered and
the queue's read pointer moves a cycle late. The beat's owner is a one-hot register decided a cycle ahead (the head,
or the entry after it when this beat ends its burst), so R valid/ready reach the clients through one gate each and
back-to-back bursts of different clients lose no cycle.
"""

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from .burst import MAX_BEATS, BurstSplitter
from .interfaces import AXI4Signature
from .ports import ReadClientSignature

__all__ = ["ReadArbiter"]


def _positive_int(what, v):
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{what} must be a positive integer, not {v!r}")


class ReadArbiter(wiring.Component):
    """``n_clients`` `ReadClientSignature` ports (``client0`` …) onto one AXI read address/data channel pair.

    ``urgent``: client indices whose requests win over the others' (round robin within each class);
    ``max_outstanding``: bursts in flight at most; ``max_beats``: no new burst while this many beats are in flight
    (``None``: no beat budget).
    """

    def __init__(self, n_clients, bus_width, *, max_outstanding=16, max_beats=None, urgent=()):
        try:
            _positive_int("n_clients", n_clients)
            _positive_int("max_outstanding", max_outstanding)
            if max_beats is not None:
                _positive_int("max_beats", max_beats)
            urgent = tuple(urgent)
            for i in urgent:
                if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n_clients:
                    raise ValueError(f"urgent clients must be indices in 0..{n_clients - 1}, not {i!r}")
            if len(set(urgent)) != len(urgent):
                raise ValueError(f"urgent clients must not repeat, not {urgent!r}")
        except ValueError:
            self._MustUse__silence = True   # a rejected arbiter is never elaborated: no "never used" warning
            raise
        self.n_clients = n_clients
        self.bus_width = bus_width
        self.max_outstanding = max_outstanding
        self.max_beats = max_beats
        self.urgent = urgent
        axi = AXI4Signature(addr_width=32, data_width=bus_width)
        members = {f"client{i}": In(ReadClientSignature(bus_width)) for i in range(n_clients)}
        members["ar"] = axi.members["ar"]
        members["r"] = axi.members["r"]
        super().__init__(members)

    def _choose(self, m, valid, after, default, name):
        """The next client to offer: the first with a request after client ``after`` in round-robin order, urgent
        clients before the others; ``default`` when none has one."""
        n = self.n_clients
        res = Signal(range(n), name=name)
        m.d.comb += res.eq(default)
        with m.Switch(after):
            for a in range(n):
                with m.Case(a):
                    order = [(a + 1 + k) % n for k in range(n)]
                    order = [i for i in order if i in self.urgent] + [i for i in order if i not in self.urgent]
                    for i in reversed(order):       # later assignments win: the first in `order` has the last word
                        with m.If(valid[i]):
                            m.d.comb += res.eq(i)
        return res

    def elaborate(self, platform):
        m = Module()
        n = self.n_clients
        depth = self.max_outstanding
        clients = [getattr(self, f"client{i}") for i in range(n)]
        m.submodules.splitter = splitter = BurstSplitter(self.bus_width // 8)

        # -- requests: one client's request offered to the splitter per cycle ------------------------------------
        pick = Signal(range(n))     # the client offered this cycle (chosen in the previous one)
        last = Signal(range(n))     # the client whose request was taken last: round robin resumes after it
        cur = Signal(range(n))      # the client of the request the splitter is splitting
        req_valid = [c.req.valid for c in clients]
        m.d.comb += [
            splitter.req.valid.eq(Array(req_valid)[pick]),
            splitter.req.payload.addr.eq(Array(c.req.payload.addr for c in clients)[pick]),
            splitter.req.payload.beats.eq(Array(c.req.payload.beats for c in clients)[pick]),
        ]
        for i, c in enumerate(clients):
            m.d.comb += c.req.ready.eq((pick == i) & splitter.req.ready)
        take = Signal()
        m.d.comb += take.eq(splitter.req.valid & splitter.req.ready)
        if n > 1:
            after_take = self._choose(m, req_valid, pick, pick, "next_after_take")
            after_last = self._choose(m, req_valid, last, pick, "next_after_last")
            m.d.sync += pick.eq(Mux(take, after_take, after_last))
        with m.If(take):
            m.d.sync += [cur.eq(pick), last.eq(pick)]

        # -- bursts onto AR, bounded in number (and in beats) --------------------------------------------------------
        outstanding = Signal(range(depth + 1))
        room = Signal()
        m.d.comb += room.eq(outstanding != depth)
        if self.max_beats is not None:
            beats_out = Signal(range(self.max_beats + MAX_BEATS + 1))   # may pass the budget by one burst
            m.d.comb += room.eq((outstanding != depth) & (beats_out < self.max_beats))
        m.d.comb += [
            self.ar.addr.eq(splitter.burst.payload.addr),
            self.ar.len.eq(splitter.burst.payload.len),
            self.ar.size.eq((self.bus_width // 8).bit_length() - 1),
            self.ar.burst.eq(1),
            self.ar.valid.eq(splitter.burst.valid & room),
            splitter.burst.ready.eq(self.ar.ready & room),
        ]
        ar_fire = Signal()
        r_fire = Signal()
        r_beat = Signal()           # a beat was taken in the previous cycle
        r_done = Signal()           # ... and it was its burst's last
        m.d.comb += [ar_fire.eq(self.ar.valid & self.ar.ready), r_fire.eq(self.r.valid & self.r.ready)]
        m.d.sync += [r_beat.eq(r_fire), r_done.eq(r_fire & self.r.last)]
        with m.If(ar_fire & ~r_done):
            m.d.sync += outstanding.eq(outstanding + 1)
        with m.Elif(r_done & ~ar_fire):
            m.d.sync += outstanding.eq(outstanding - 1)
        if self.max_beats is not None:
            m.d.sync += beats_out.eq(beats_out + Mux(ar_fire, self.ar.len + 1, 0) - r_beat)

        # -- the route queue: the client of every burst in flight, in AR order -------------------------------------
        def succ(p):
            return Mux(p == depth - 1, 0, p + 1)

        route_ids = Array(Signal(range(n), name=f"route{k}") for k in range(depth))
        wp = Signal(range(depth))                       # where the next burst's client goes
        rp = Signal(range(depth))                       # the head, as of the last registered burst end
        rp1 = Signal(range(depth), init=1 % depth)      # the entry after it
        with m.If(ar_fire):
            m.d.sync += [route_ids[wp].eq(cur), wp.eq(succ(wp))]
        rp_next, rp1_next = Signal.like(rp), Signal.like(rp1)
        m.d.comb += [rp_next.eq(Mux(r_done, rp1, rp)), rp1_next.eq(Mux(r_done, succ(rp1), rp1))]
        m.d.sync += [rp.eq(rp_next), rp1.eq(rp1_next)]

        # The client of the beat on R, one-hot and registered: decided a cycle ahead from the head and the entry
        # after it as they will be next cycle (an entry written this cycle is taken from `cur` directly), picked
        # by whether this cycle's beat ends its burst. Behind R ready there is only that 2:1 choice.
        def entry(p):
            return Mux(ar_fire & (wp == p), cur, route_ids[p])

        head, after = Signal(n), Signal(n)     # one-hot already, so only the last choice waits for R ready
        m.d.comb += [head.eq(1 << entry(rp_next)), after.eq(1 << entry(rp1_next))]
        route = Signal(n)
        m.d.sync += route.eq(Mux(r_fire & self.r.last, after, head))

        # -- R beats to the head's client ---------------------------------------------------------------------------
        for i, c in enumerate(clients):
            m.d.comb += [
                c.data.payload.eq(self.r.data),
                c.data.valid.eq(self.r.valid & route[i]),
            ]
        m.d.comb += self.r.ready.eq(Cat(*(route[i] & c.data.ready for i, c in enumerate(clients))).any())
        return m
