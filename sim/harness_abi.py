"""The C ABI between `vta.sim.verilator` and the C++ harness (``harness/harness.cpp``), defined once, in Python.

Why here: the ctypes structures below are what Python passes to ``vh_run``; `abi_header` turns the same definitions
into the C declarations and ``#define``s of the generated header the harness includes (``vh_gen.h``, written by
`vta.sim.build`), so the two sides cannot drift apart.
"""

import ctypes
import enum

from ..hw.regs import CTRL_FAULT, Fault
from ..toolchain import c_defines, c_struct

__all__ = ["Status", "Params", "Result", "TraceRecord", "TRACE_FLAGS", "PROBE_WORDS", "abi_header"]


class Status(enum.IntEnum):
    """What ``vh_run`` returns."""
    OK = 0
    AXI_ERROR = 1   # a bad AXI access or CSR handshake; the message is in vh_error
    DEADLOCK = 2    # a token wait with no progress for stall_window cycles
    TIMEOUT = 3     # not done after max_cycles
    FAULT = 4       # the core halted on a program fault (done with CTRL_FAULT; Reg.FAULT and Reg.FAULT_INDEX say which)


class Params(ctypes.Structure):
    """``vh_params``: the limits and DRAM timing of one run."""
    _fields_ = [("max_cycles", ctypes.c_uint64), ("stall_window", ctypes.c_uint64),
                ("read_latency", ctypes.c_uint32), ("write_latency", ctypes.c_uint32),
                ("dma_base", ctypes.c_uint32), ("dma_limit", ctypes.c_uint32)]
    _comments_ = {"max_cycles": "give up (VH_TIMEOUT) after this many cycles",
                  "stall_window": "VH_DEADLOCK when some module waits on a token and nothing moved for this long",
                  "read_latency": "cycles from an accepted AR to its first R beat",
                  "write_latency": "cycles from the last W beat to its B response",
                  "dma_base": "Reg.DMA_BASE written before launch: the lowest byte any DMA may touch",
                  "dma_limit": "Reg.DMA_LIMIT written before launch: the highest byte any DMA may touch"}


class Result(ctypes.Structure):
    """``vh_result``: what one run did on the bus."""
    _fields_ = [("cycles", ctypes.c_uint64), ("wait_bits", ctypes.c_uint32), ("pad", ctypes.c_uint32),
                ("read_beats", ctypes.c_uint64), ("write_beats", ctypes.c_uint64),
                ("read_bursts", ctypes.c_uint64), ("write_bursts", ctypes.c_uint64)]
    _comments_ = {"cycles": "cycles clocked from launch to done (or to the error)",
                  "wait_bits": "Reg.WAIT when the run stopped"}


PROBE_WORDS = 4   # the ``probe`` port (vta.hw.perf.PROBE) is at most 128 bits
# bits of TraceRecord.flags: what the AXI slave saw in the cycle (the harness knows the bus, the core the stages)
TRACE_FLAGS = {"r_beat": 1 << 0, "w_beat": 1 << 1}


class TraceRecord(ctypes.Structure):
    """``vh_trace_record``: one change of what the core does, recorded only while tracing (``vh_trace_enable``).

    The harness appends a record for the first cycle of a run and for every cycle in which the core's ``probe``
    port or the flags differ from the cycle before; the state holds until the next record."""
    _fields_ = [("cycle", ctypes.c_uint64), ("flags", ctypes.c_uint32),
                *((f"probe{k}", ctypes.c_uint32) for k in range(PROBE_WORDS)), ("pad", ctypes.c_uint32)]
    _comments_ = {"cycle": "cycles since launch (0: the first cycle of the run)",
                  "flags": "TRACE_FLAGS: an R beat / a W beat transferred in this cycle",
                  "probe0": "the probe port, 32 bits per word, least significant word first"}


def abi_header():
    """C text of `Status` (as ``VH_*`` defines), the fault bit of CTRL and the `Fault` codes (``VH_CTRL_FAULT``,
    ``VH_FAULT_*``), `Params` (``vh_params``), `Result` (``vh_result``), `TraceRecord` (``vh_trace_record``) and
    its flags (``VH_TRACE_*``)."""
    return "\n".join([c_defines(Status, "VH_"), f"#define VH_CTRL_FAULT {CTRL_FAULT:#x}u",
                      c_defines(Fault, "VH_FAULT_"), c_struct(Params, "vh_params"),
                      c_struct(Result, "vh_result"), c_struct(TraceRecord, "vh_trace_record"),
                      f"#define VH_PROBE_WORDS {PROBE_WORDS}",
                      c_defines(enum.IntEnum("TraceFlag", {k.upper(): v for k, v in TRACE_FLAGS.items()}),
                                "VH_TRACE_")]) + "\n"
