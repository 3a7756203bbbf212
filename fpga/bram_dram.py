"""`BRAMDram`: the board's "DRAM" as on-chip block RAM behind an AXI4 slave, plus a host port for the UART bridge.

Why block RAM: the ULX3S SDRAM (and any external memory) needs a controller that is out of scope for now, while
the FPGA's block RAM is fast, simple and big enough for test programs once sized to the preset (see
`vta.fpga.presets`). The core sees it exactly as it sees DRAM in co-simulation: an AXI4 slave with INCR bursts.

- AXI side: one read burst and one write burst at a time, one beat per cycle, full-width beats (``size`` is
  ignored: the core always moves ``data_width``-bit beats), byte strobes honoured. Beats whose word address is
  outside the memory answer ``SLVERR`` (reads return 0, writes are dropped) instead of wrapping around.
- Host side (``host``): single-word reads and byte-strobed writes for the UART bridge. A request is served when
  both AXI channels are between bursts (``host.ack``, at the earliest the cycle after the request is raised); new
  bursts are held off while the host asks, so the host never waits longer than one burst. Read data is valid the
  cycle after ``ack``; a write lands in the memory that cycle (writes go through a register, see below), and no
  request is acked while it does.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..hw.interfaces import AXI4Signature

__all__ = ["BRAMDram", "HostMemSignature"]

AXI_OKAY, AXI_SLVERR = 0, 2


class HostMemSignature(wiring.Signature):
    """Word-addressed memory port from the requester's side: ``r_en`` or ``w_en`` (byte strobes) until ``ack``."""

    def __init__(self, *, addr_width, data_width):
        self.addr_width = addr_width
        self.data_width = data_width
        super().__init__({
            "addr": Out(addr_width), "r_en": Out(1), "w_en": Out(data_width // 8), "w_data": Out(data_width),
            "ack": In(1), "r_data": In(data_width),
        })

    def __eq__(self, other):
        return (isinstance(other, HostMemSignature) and self.addr_width == other.addr_width
                and self.data_width == other.data_width)

    def __hash__(self):
        return hash((HostMemSignature, self.addr_width, self.data_width))


class BRAMDram(wiring.Component):
    """``size_bytes`` of block RAM (a power of two) as an AXI4 slave of ``data_width`` bits."""

    def __init__(self, size_bytes, data_width=64):
        if data_width not in (32, 64, 128, 256, 512):
            self._MustUse__silence = True
            raise ValueError(f"data_width must be 32, 64, 128, 256 or 512, not {data_width}")
        if isinstance(size_bytes, bool) or not isinstance(size_bytes, int) or size_bytes < data_width // 8 \
                or size_bytes & (size_bytes - 1):
            self._MustUse__silence = True
            raise ValueError(f"size_bytes must be a power of two ≥ {data_width // 8}, not {size_bytes!r}")
        self.size_bytes = size_bytes
        self.data_width = data_width
        self.bus_bytes = data_width // 8
        self.depth = size_bytes // self.bus_bytes
        self.log_bus_bytes = self.bus_bytes.bit_length() - 1
        super().__init__({
            "axi": In(AXI4Signature(addr_width=32, data_width=data_width)),
            "host": In(HostMemSignature(addr_width=max(1, (self.depth - 1).bit_length()), data_width=data_width)),
        })

    def elaborate(self, platform):
        m = Module()
        axi, host = self.axi, self.host
        m.submodules.mem = mem = Memory(shape=self.data_width, depth=self.depth, init=[])
        wp = mem.write_port(granularity=8)
        rp = mem.read_port()
        word_bits = 32 - self.log_bus_bytes

        # The AXI side sees the host's request a cycle late (`host_req` is registered), so the bridge's state
        # machine never reaches the core's AXI handshakes combinationally; an ack needs the request both now and
        # a cycle ago, and no burst can start while `host_req` is high, so the two sides never collide.
        host_req_now = host.r_en | host.w_en.any()
        host_req = Signal()
        m.d.sync += host_req.eq(host_req_now)
        rd_idle = Signal(init=1)
        wr_idle = Signal(init=1)
        m.d.comb += host.r_data.eq(rp.data)

        # -- read channel: `pending` beats still to read from memory, `valid` = rp.data holds an unsent beat -------
        r_addr = Signal(word_bits)
        pending = Signal(9)
        r_valid = Signal()
        r_last = Signal()
        r_err = Signal()
        advance = ~r_valid | axi.r.ready    # rp.data may change: its beat is taken (or there is none)
        # The read port's address is chosen by a flip-flop alone (between bursts the host's, during one the
        # burst's; ``rp.en`` decides whether a read happens): the address fans out to every block RAM of the
        # DRAM, and with the read handshake and the host's ack in front of it, it was the critical path.
        m.d.comb += rp.addr.eq(Mux(rd_idle, host.addr, r_addr))
        m.d.comb += [
            rp.en.eq(0),                    # hold rp.data while a beat waits for r.ready
            axi.ar.ready.eq(rd_idle & ~host_req),
            axi.r.valid.eq(r_valid), axi.r.last.eq(r_last),
            axi.r.resp.eq(Mux(r_err, AXI_SLVERR, AXI_OKAY)), axi.r.data.eq(Mux(r_err, 0, rp.data)),
        ]
        with m.If(rd_idle):
            with m.If(axi.ar.valid & axi.ar.ready):
                m.d.sync += [r_addr.eq(axi.ar.addr >> self.log_bus_bytes), pending.eq(axi.ar.len + 1),
                             rd_idle.eq(0)]
        with m.Elif(advance):
            with m.If(pending != 0):
                m.d.comb += rp.en.eq(1)
                m.d.sync += [r_valid.eq(1), r_last.eq(pending == 1), r_err.eq(r_addr >= self.depth),
                             r_addr.eq(r_addr + 1), pending.eq(pending - 1)]
            with m.Else():                  # the last beat was taken this cycle
                m.d.sync += [r_valid.eq(0), r_last.eq(0), rd_idle.eq(1)]

        # -- write channel ---------------------------------------------------------------------------------------
        # Writes reach the memory a cycle after they are accepted: the write port's address, data and byte enables
        # come straight from flip-flops (`wq_*`), because the port fans out to every block RAM of the DRAM and on
        # the FPGA the handshake logic in front of it was the critical path. The B response rises with the last
        # beat's write, so a master that waits for B (or the host, which waits for ``wr_idle``) sees the data.
        w_addr = Signal(word_bits)
        w_err = Signal()
        b_valid = Signal()
        wq_addr = Signal(len(wp.addr))
        wq_data = Signal(self.data_width)
        wq_en = Signal(self.bus_bytes)
        m.d.comb += [wp.addr.eq(wq_addr), wp.data.eq(wq_data), wp.en.eq(wq_en)]
        m.d.sync += wq_en.eq(0)
        m.d.comb += [axi.aw.ready.eq(wr_idle & ~host_req), axi.w.ready.eq(~wr_idle & ~b_valid),
                     axi.b.valid.eq(b_valid), axi.b.resp.eq(w_err * AXI_SLVERR)]
        with m.If(wr_idle):
            with m.If(axi.aw.valid & axi.aw.ready):
                m.d.sync += [w_addr.eq(axi.aw.addr >> self.log_bus_bytes), wr_idle.eq(0), w_err.eq(0)]
        with m.Elif(~b_valid):
            with m.If(axi.w.valid):
                in_range = w_addr < self.depth
                m.d.sync += [wq_addr.eq(w_addr), wq_data.eq(axi.w.data)]
                with m.If(in_range):
                    m.d.sync += wq_en.eq(axi.w.strb)
                with m.Else():
                    m.d.sync += w_err.eq(1)
                m.d.sync += w_addr.eq(w_addr + 1)
                with m.If(axi.w.last):
                    m.d.sync += b_valid.eq(1)
        with m.Elif(axi.b.ready):
            m.d.sync += [b_valid.eq(0), wr_idle.eq(1)]

        # -- host port (only between bursts: rd_idle & wr_idle) ----------------------------------------------------
        # A host write, like an AXI one, reaches the memory the cycle after its ack; a host read acked in that
        # cycle would read the old word (the read port is not transparent), so no ack while a write is queued.
        m.d.comb += host.ack.eq(host_req & host_req_now & rd_idle & wr_idle & ~wq_en.any())
        with m.If(host.ack):
            m.d.comb += rp.en.eq(host.r_en)
            m.d.sync += [wq_addr.eq(host.addr), wq_data.eq(host.w_data), wq_en.eq(host.w_en)]
        return m
