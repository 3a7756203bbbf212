"""Test fixtures for the FPGA host link: a stand-in core and a byte pipe into Amaranth's Python simulator.

`AmaranthUARTPort` runs an `FPGATop` in Amaranth's simulator on a background thread and exposes its UART as a
pyserial-like port (``write``/``read`` bytes): a byte-level UART model turns bytes into line levels on ``rx``
and decodes ``tx``. So `SerialLink`/`SerialDevice` talk to the simulated gateware through their normal code path.
"""

import queue
import threading

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from vta.hw.host_regs import HostRegs
from vta.hw.interfaces import AXI4Signature, CSRSignature
from vta.hw.perf import PROBE, PerfCounters
from vta.hw.regs import MODULE_STATES


class RegsOnlyCore(wiring.Component):
    """The real host register block with a fake datapath: "finished" ``finish_after`` cycles after launch
    (never if ``None``, with ``wait_bits`` shown in Reg.WAIT), no AXI traffic. With ``states``, also the real
    state counters and a ``probe`` port (as `VTACore` has): compute is busy while running, load and store idle."""

    def __init__(self, cfg, *, finish_after=20, wait_bits=0, states=False):
        self.finish_after = finish_after
        self.wait_bits = wait_bits
        self.states = states
        members = {"axi": Out(AXI4Signature(addr_width=32, data_width=cfg.bus_width)), "csr": In(CSRSignature())}
        if states:
            members["probe"] = Out(PROBE)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.regs = regs = HostRegs()
        wiring.connect(m, wiring.flipped(self.csr), regs.csr)
        count = Signal(16)
        with m.If(regs.launch):
            m.d.sync += count.eq(0)
        with m.Elif(regs.running):
            m.d.sync += count.eq(count + 1)
        if self.finish_after is not None:
            m.d.comb += regs.finished.eq(regs.running & (count >= self.finish_after))
        m.d.comb += [regs.wait.eq(self.wait_bits), regs.compute_busy.eq(regs.running)]
        if self.states:
            m.submodules.perf = perf = PerfCounters()
            busy = MODULE_STATES["compute"].index("busy")
            m.d.comb += [perf.launch.eq(regs.launch), perf.running.eq(regs.running), perf.addr.eq(self.csr.addr),
                         regs.perf_data.eq(perf.r_data), perf.compute_state.eq(Mux(regs.running, busy, 0))]
        return m


class AmaranthUARTPort:
    """A pyserial-like port into ``top`` (an `FPGATop`) simulated by Amaranth; ``timeout`` in wall seconds."""

    def __init__(self, top, *, timeout=20.0):
        self.top = top
        self.divisor = top.divisor
        self.timeout = timeout
        self._in = queue.Queue()
        self._out = queue.Queue()
        self._stop = threading.Event()
        self.error = None
        sim = Simulator(top)
        sim.add_clock(1e-6)
        sim.add_testbench(self._drive)
        sim.add_testbench(self._monitor, background=True)
        self._thread = threading.Thread(target=self._run, args=(sim,), daemon=True)
        self._thread.start()

    def _run(self, sim):
        try:
            sim.run()
        except BaseException as e:  # noqa: BLE001  (any failure of the simulation thread is surfaced by read())
            self.error = e

    async def _drive(self, ctx):
        d = self.divisor
        ctx.set(self.top.rx, 1)
        while not self._stop.is_set():
            try:
                byte = self._in.get_nowait()
            except queue.Empty:
                await ctx.tick().repeat(2 * d)
                continue
            if isinstance(byte, tuple):          # ("idle", cycles): hold the line idle
                await ctx.tick().repeat(byte[1])
                continue
            for bit in [0] + [byte >> i & 1 for i in range(8)] + [1]:
                ctx.set(self.top.rx, bit)
                await ctx.tick().repeat(d)

    async def _monitor(self, ctx):
        d = self.divisor
        tx = self.top.tx
        while True:
            while ctx.get(tx):
                await ctx.tick()
            await ctx.tick().repeat(d // 2)
            byte = 0
            for i in range(8):
                await ctx.tick().repeat(d)
                byte |= ctx.get(tx) << i
            await ctx.tick().repeat(d)          # the stop bit
            self._out.put(byte)

    def write(self, data):
        for byte in bytes(data):
            self._in.put(byte)
        return len(data)

    def idle(self, cycles):
        """Keep the rx line idle for ``cycles`` clock cycles after the bytes written so far."""
        self._in.put(("idle", cycles))

    def read(self, n):
        out = bytearray()
        while len(out) < n:
            try:
                out.append(self._out.get(timeout=self.timeout))
            except queue.Empty:
                if self.error is not None:
                    raise self.error from None
                break
        return bytes(out)

    def close(self):
        self._stop.set()
        self._thread.join(timeout=10)
