"""The host register block (map in `vta.hw.regs`): launch/done control, cycle and performance counters.

A write of ``CTRL_LAUNCH`` to ``CTRL`` while idle pulses ``launch``, clears done and every counter; the run ends
(done set, busy cleared, counters frozen) in the first cycle after launch in which ``finished`` is high.
Reads are combinational on ``csr.addr``. DMA_BASE/DMA_LIMIT (the DMA window, written like INSN_* only while idle)
default to the whole 32-bit address space. A run that a fault halts ends done with ``CTRL_FAULT`` set and the fault
in FAULT / FAULT_INDEX (``halted``, ``fault_*`` inputs from the `FaultLatch`).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .interfaces import CSRSignature
from .regs import CTRL_LAUNCH, FAULT_CODE_BITS, FAULT_FIELD_BITS, INDEX_BITS, PERF_COUNTERS, WAIT_BITS, Reg

__all__ = ["HostRegs", "PERF_INPUTS"]

# Input name of each performance counter, e.g. "load_busy" → Reg.LOAD_BUSY.
PERF_INPUTS = {f"{unit}_{kind}": reg for kind, regs in PERF_COUNTERS.items() for unit, reg in regs.items()}


class HostRegs(wiring.Component):
    def __init__(self):
        members = {
            "csr": In(CSRSignature()),
            "launch": Out(1),
            "running": Out(1),
            "insn_addr": Out(32),
            "insn_count": Out(32),
            "finished": In(1),
            "wait": In(len(WAIT_BITS)),
            "dma_base": Out(32),
            "dma_limit": Out(32, init=0xFFFF_FFFF),
            "halted": In(1),
            "fault_code": In(FAULT_CODE_BITS),
            "fault_field": In(FAULT_FIELD_BITS),
            "fault_index": In(INDEX_BITS),
            "perf_data": In(32),    # the `PerfCounters` register at csr.addr (shown for the offsets not listed here)
        }
        members.update({name: In(1) for name in PERF_INPUTS})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        done = Signal()
        cycles = Signal(32)
        counters = {name: Signal(32, name=f"perf_{name}") for name in PERF_INPUTS}
        running = self.running

        write_ctrl = self.csr.w_en & (self.csr.addr == Reg.CTRL)
        m.d.comb += self.launch.eq(write_ctrl & (self.csr.w_data & CTRL_LAUNCH).any() & ~running)

        with m.If(self.csr.w_en & (self.csr.addr == Reg.INSN_COUNT) & ~running):
            m.d.sync += self.insn_count.eq(self.csr.w_data)
        with m.If(self.csr.w_en & (self.csr.addr == Reg.INSN_ADDR) & ~running):
            m.d.sync += self.insn_addr.eq(self.csr.w_data)
        with m.If(self.csr.w_en & (self.csr.addr == Reg.DMA_BASE) & ~running):
            m.d.sync += self.dma_base.eq(self.csr.w_data)
        with m.If(self.csr.w_en & (self.csr.addr == Reg.DMA_LIMIT) & ~running):
            m.d.sync += self.dma_limit.eq(self.csr.w_data)

        with m.If(running):
            m.d.sync += cycles.eq(cycles + 1)
            for name, counter in counters.items():
                with m.If(getattr(self, name)):
                    m.d.sync += counter.eq(counter + 1)
            with m.If(self.finished):
                m.d.sync += [running.eq(0), done.eq(1)]
        with m.If(self.launch):
            m.d.sync += [running.eq(1), done.eq(0), cycles.eq(0)]
            m.d.sync += [c.eq(0) for c in counters.values()]

        regs = {
            Reg.CTRL: (self.halted << 3) | (running << 2) | (done << 1),
            Reg.CYCLES: cycles,
            Reg.INSN_COUNT: self.insn_count,
            Reg.INSN_ADDR: self.insn_addr,
            Reg.WAIT: self.wait,
            Reg.DMA_BASE: self.dma_base,
            Reg.DMA_LIMIT: self.dma_limit,
            Reg.FAULT: (self.fault_field << FAULT_CODE_BITS) | self.fault_code,
            Reg.FAULT_INDEX: self.fault_index,
        }
        regs.update({reg: counters[name] for name, reg in PERF_INPUTS.items()})
        with m.Switch(self.csr.addr):
            for reg, value in regs.items():
                with m.Case(int(reg)):
                    m.d.comb += self.csr.r_data.eq(value)
            with m.Default():
                m.d.comb += self.csr.r_data.eq(self.perf_data)
        return m
