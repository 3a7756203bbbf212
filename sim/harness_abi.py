"""The C ABI between `vta.sim.verilator` and the C++ harness (``harness/harness.cpp``), defined once, in Python.

Why here: the ctypes structures below are what Python passes to ``vh_run``; `abi_header` turns the same definitions
into the C declarations and ``#define``s of the generated header the harness includes (``vh_gen.h``, written by
`vta.sim.build`), so the two sides cannot drift apart.
"""

import ctypes
import enum

from ..hw.regs import CTRL_FAULT, Fault
from ..toolchain import c_defines, c_struct

__all__ = ["Status", "Params", "Result", "abi_header"]


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


def abi_header():
    """C text of `Status` (as ``VH_*`` defines), the fault bit of CTRL and the `Fault` codes (``VH_CTRL_FAULT``,
    ``VH_FAULT_*``), `Params` (``vh_params``) and `Result` (``vh_result``)."""
    return "\n".join([c_defines(Status, "VH_"), f"#define VH_CTRL_FAULT {CTRL_FAULT:#x}u",
                      c_defines(Fault, "VH_FAULT_"), c_struct(Params, "vh_params"),
                      c_struct(Result, "vh_result")]) + "\n"
