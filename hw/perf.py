"""`PerfCounters`: the module-state and instruction counters behind `vta.hw.regs.STATE_COUNTERS`.

Why its own block: the counters are many (one per stage and `MODULE_STATES` state, one instruction count per
stage) and 32 bits wide, so they sit behind a register stage — the stages' state codes and "took an instruction"
pulses are registered before they select a counter — which keeps the stages' FSM logic and the counters' adders in
separate cycles (FPGA timing). The one-cycle delay shifts the counted window by a cycle; a run starts and ends with
every stage idle (launch and the done cycle), so every count is still that of the cycles from launch to done, and
per stage the state counts add up to ``Reg.CYCLES``.

Reads: ``r_data`` is the counter at ``addr`` (0 for any other address); `HostRegs` shows it for the offsets it
does not own.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..isa.stages import STAGES
from .regs import INDEX_BITS, INSN_COUNTERS, MODULE_STATES, STATE_BITS, STATE_COUNTERS

__all__ = ["PerfCounters", "PROBE"]

# The core's ``probe`` output: what every stage does this cycle (its `MODULE_STATES` code and the index of the
# instruction it holds) and whether fetch is busy. Nothing inside the core reads it; the Verilator harness records
# its changes when a trace is requested (`vta.sim.trace`), a synthesis flow leaves it unconnected.
PROBE = data.StructLayout({"fetch_busy": 1, **{f"{stage}_{field}": width for stage in STAGES
                                              for field, width in (("state", STATE_BITS), ("held", INDEX_BITS))}})


class PerfCounters(wiring.Component):
    """``launch`` clears every counter; while ``running`` each stage's registered ``<stage>_state`` code adds one to
    its (stage, state) counter and its registered ``<stage>_taken`` pulse one to its instruction count."""

    def __init__(self, addr_width=8):
        members = {"launch": In(1), "running": In(1), "addr": In(addr_width), "r_data": Out(32)}
        for stage in STAGES:
            members[f"{stage}_state"] = In(STATE_BITS)
            members[f"{stage}_taken"] = In(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        reads = {}
        for stage in STAGES:
            state = Signal(STATE_BITS, name=f"{stage}_state_r")
            taken = Signal(name=f"{stage}_taken_r")
            m.d.sync += [state.eq(getattr(self, f"{stage}_state")), taken.eq(getattr(self, f"{stage}_taken"))]
            for code, name in enumerate(MODULE_STATES[stage]):
                reads[STATE_COUNTERS[stage, name]] = self._counter(m, f"{stage}_{name}", state == code)
            reads[INSN_COUNTERS[stage]] = self._counter(m, f"{stage}_insns", taken)
        with m.Switch(self.addr):
            for addr, counter in reads.items():
                with m.Case(addr):
                    m.d.comb += self.r_data.eq(counter)
        return m

    def _counter(self, m, name, cond):
        counter = Signal(32, name=f"count_{name}")
        with m.If(self.launch):
            m.d.sync += counter.eq(0)
        with m.Elif(self.running & cond):
            m.d.sync += counter.eq(counter + 1)
        return counter
