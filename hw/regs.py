"""The host register map of the VTA core (byte offsets on the `CSRSignature` port; 32-bit registers).

Modelled on upstream's VCR block: launch/done, a cycle counter, instruction count and base address. Offsets past
0x10 are this product's own: debug status and per-module performance counters. The RTL, the Verilator harness,
the UART bridge driver and the docs all read this one table.
"""

from enum import IntEnum

from ..isa.stages import STAGE_POPS, STAGES

__all__ = ["Reg", "CTRL_LAUNCH", "CTRL_DONE", "CTRL_BUSY", "WAIT_BITS", "PERF_COUNTERS"]


class Reg(IntEnum):
    CTRL = 0x00         # W bit0: launch (starts a run; clears done). R bit1: done (FINISH executed), bit2: busy.
    CYCLES = 0x04       # R: cycles from launch to done (frozen at done).
    INSN_COUNT = 0x08   # RW: number of 16-byte instructions to fetch.
    INSN_ADDR = 0x0C    # RW: byte address of the first instruction (16-byte aligned).
    WAIT = 0x10         # R: which module waits on which token queue right now (see WAIT_BITS), for deadlock reports.
    # Performance counters, all cleared on launch, each counting cycles of one condition.
    FETCH_BUSY = 0x20   # fetch has instructions left to read or dispatch
    LOAD_BUSY = 0x24    # load module executing an instruction (including its memory waits)
    COMPUTE_BUSY = 0x28  # compute module executing an instruction
    STORE_BUSY = 0x2C   # store module executing an instruction
    LOAD_STALL = 0x30   # load module holding an instruction but waiting for a dependency token
    COMPUTE_STALL = 0x34
    STORE_STALL = 0x38
    GEMM_ACTIVE = 0x3C  # cycles in which the GEMM core performed a (non-reset) uop's MACs
    ALU_ACTIVE = 0x40   # cycles in which the tensor ALU retired a uop


CTRL_LAUNCH = 1 << 0
CTRL_DONE = 1 << 1
CTRL_BUSY = 1 << 2

# Bits of Reg.WAIT: (module, queue it waits to pop), one per queue a stage pops, in stage and flag order:
# 0 load/g2l, 1 compute/l2g, 2 compute/s2g, 3 store/g2s. The stage modules drive each as ``wait_<queue>``.
WAIT_BITS = dict(enumerate((stage, queue) for stage in STAGES for queue in STAGE_POPS[stage].values()))

PERF_COUNTERS = {
    "busy": {"fetch": Reg.FETCH_BUSY, "load": Reg.LOAD_BUSY, "compute": Reg.COMPUTE_BUSY, "store": Reg.STORE_BUSY},
    "stall": {"load": Reg.LOAD_STALL, "compute": Reg.COMPUTE_STALL, "store": Reg.STORE_STALL},
    "active": {"gemm": Reg.GEMM_ACTIVE, "alu": Reg.ALU_ACTIVE},
}
