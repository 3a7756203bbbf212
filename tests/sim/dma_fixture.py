"""A tiny stand-in for the VTA core with the same top-level ports, to test the Verilator harness on its own.

On launch it copies ``INSN_COUNT`` × 16 bytes from ``INSN_ADDR`` to ``INSN_ADDR + dst_offset`` through the AXI
port, in read bursts of up to ``max_beats`` beats (never crossing 4 KiB), each followed by a write burst of the same
beats. The first beat of every write burst has strobe bit 0 cleared, so the byte at each write burst's start is
left untouched: that checks that the harness honours write strobes.

Modes selected by high bits of ``INSN_COUNT`` (the low 13 bits are the count): bit 15 makes it hang with Reg.WAIT =
"compute waits for l2g" (for the deadlock watchdog); bit 14 makes it read 4 beats at 0xFFFF0000 (out of range for
any test DRAM); bit 13 makes it read 4 beats at 0xFF8 (crossing a 4 KiB boundary). ``Reg.LOAD_BUSY`` reads the
cycle counter (a recognisable counter value for read-back tests), ``Reg.LOAD_STALL`` too while it hangs.
"""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from vta.hw.interfaces import AXI4Signature, CSRSignature
from vta.hw.regs import Reg


class DMAFixture(wiring.Component):
    def __init__(self, *, bus_bytes=8, dst_offset=0x8000, max_beats=16):
        self.bus_bytes = bus_bytes
        self.dst_offset = dst_offset
        self.max_beats = max_beats
        super().__init__({
            "axi": Out(AXI4Signature(data_width=8 * bus_bytes)),
            "csr": In(CSRSignature()),
        })

    def elaborate(self, platform):
        m = Module()
        bus = self.bus_bytes
        log_bus = bus.bit_length() - 1
        axi, csr = self.axi, self.csr

        insn_addr = Signal(32)
        insn_count = Signal(32)
        done = Signal()
        busy = Signal()
        cycles = Signal(32)
        wait = Signal(4)
        src = Signal(32)
        dst = Signal(32)
        left = Signal(32)        # bytes left to copy
        beats = Signal(9)        # beats of the current burst
        sent = Signal(9)

        m.submodules.buf = buf = fifo.SyncFIFOBuffered(width=8 * bus, depth=self.max_beats)

        with m.Switch(csr.addr):
            with m.Case(Reg.CTRL):
                m.d.comb += csr.r_data.eq(Cat(Const(0, 1), done, busy))
            with m.Case(Reg.CYCLES):
                m.d.comb += csr.r_data.eq(cycles)
            with m.Case(Reg.INSN_COUNT):
                m.d.comb += csr.r_data.eq(insn_count)
            with m.Case(Reg.INSN_ADDR):
                m.d.comb += csr.r_data.eq(insn_addr)
            with m.Case(Reg.WAIT):
                m.d.comb += csr.r_data.eq(wait)
            with m.Case(Reg.LOAD_BUSY):
                m.d.comb += csr.r_data.eq(cycles)   # a recognisable value for the counter read-back test
            with m.Case(Reg.LOAD_STALL):
                # while hanging, every busy cycle is a stall cycle (as in the core, busy includes token stalls)
                m.d.comb += csr.r_data.eq(Mux(wait != 0, cycles, 0))
        with m.If(csr.w_en):
            with m.Switch(csr.addr):
                with m.Case(Reg.INSN_COUNT):
                    m.d.sync += insn_count.eq(csr.w_data)
                with m.Case(Reg.INSN_ADDR):
                    m.d.sync += insn_addr.eq(csr.w_data)
        with m.If(busy):
            m.d.sync += cycles.eq(cycles + 1)

        # beats to the next 4 KiB boundary, capped by max_beats and the bytes left
        to_page = Signal(13)
        m.d.comb += to_page.eq((4096 - src[:12]) >> log_bus)
        want = Signal(32)
        m.d.comb += want.eq(left >> log_bus)
        capped = Signal(32)
        m.d.comb += capped.eq(self.max_beats)
        with m.If(want < self.max_beats):
            m.d.comb += capped.eq(want)
        nb = Signal(9)
        m.d.comb += nb.eq(capped)
        with m.If(to_page < capped):
            m.d.comb += nb.eq(to_page)

        m.d.comb += [axi.ar.burst.eq(1), axi.aw.burst.eq(1), axi.ar.size.eq(log_bus), axi.aw.size.eq(log_bus)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(csr.w_en & (csr.addr == Reg.CTRL) & csr.w_data[0]):
                    m.d.sync += [done.eq(0), busy.eq(1), cycles.eq(0), src.eq(insn_addr)]
                    with m.If(insn_count[15]):
                        m.d.sync += wait.eq(0b0010)
                        m.next = "HANG"
                    with m.Elif(insn_count[14]):
                        m.d.sync += [src.eq(0xFFFF0000), beats.eq(4)]
                        m.next = "AR"
                    with m.Elif(insn_count[13]):
                        m.d.sync += [src.eq(0xFF8), beats.eq(4)]
                        m.next = "AR"
                    with m.Else():
                        m.d.sync += [dst.eq(insn_addr + self.dst_offset), left.eq(insn_count[:13] << 4)]
                        m.next = "NEXT"
            with m.State("HANG"):
                pass
            with m.State("NEXT"):
                with m.If(left == 0):
                    m.d.sync += [done.eq(1), busy.eq(0)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += beats.eq(nb)
                    m.next = "AR"
            with m.State("AR"):
                m.d.comb += [axi.ar.valid.eq(1), axi.ar.addr.eq(src), axi.ar.len.eq(beats - 1)]
                with m.If(axi.ar.ready):
                    m.next = "R"
            with m.State("R"):
                m.d.comb += [buf.w_data.eq(axi.r.data), buf.w_en.eq(axi.r.valid), axi.r.ready.eq(buf.w_rdy)]
                with m.If(axi.r.valid & buf.w_rdy & axi.r.last):
                    m.next = "AW"
            with m.State("AW"):
                m.d.comb += [axi.aw.valid.eq(1), axi.aw.addr.eq(dst), axi.aw.len.eq(beats - 1)]
                with m.If(axi.aw.ready):
                    m.d.sync += sent.eq(0)
                    m.next = "W"
            with m.State("W"):
                m.d.comb += [axi.w.valid.eq(buf.r_rdy), axi.w.data.eq(buf.r_data),
                             axi.w.strb.eq(Const((1 << bus) - 1, bus)), axi.w.last.eq(sent == beats - 1),
                             buf.r_en.eq(axi.w.ready)]
                with m.If(sent == 0):
                    m.d.comb += axi.w.strb.eq(Const((1 << bus) - 2, bus))
                with m.If(axi.w.valid & axi.w.ready):
                    m.d.sync += sent.eq(sent + 1)
                    with m.If(axi.w.last):
                        m.next = "B"
            with m.State("B"):
                m.d.comb += axi.b.ready.eq(1)
                with m.If(axi.b.valid):
                    m.d.sync += [src.eq(src + (beats << log_bus)), dst.eq(dst + (beats << log_bus)),
                                 left.eq(left - (beats << log_bus))]
                    m.next = "NEXT"
        return m


def fixture_verilog(**kwargs):
    from amaranth.back import verilog
    dut = DMAFixture(**kwargs)
    return verilog.convert(dut, name="vta_core")
