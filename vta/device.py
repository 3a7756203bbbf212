"""The `Device` protocol: the one way host code talks to a VTA, simulated or real.

A device runs the instruction stream at byte address ``insn_addr`` (``insn_count`` 16-byte instructions, ending at
FINISH) against ``dram``, a 1-D ``np.uint8`` array that the run mutates in place — exactly upstream's host
interface (DRAM is a byte array; a run is an instruction address and a count). The functional simulator, the
Verilator co-simulation and an FPGA behind a serial link all implement it, so the runtime and the CLI never know
which one they drive.
"""

import dataclasses
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Device", "RunStats", "Closing"]


@dataclasses.dataclass
class RunStats:
    """What a run did. Fields a device cannot measure stay ``None`` (the functional simulator has no cycles).

    - ``insns``: instructions executed per opcode name ("LOAD", "STORE", "GEMM", "ALU", "FINISH").
    - ``bytes``: bytes moved per buffer ("uop", "inp", "wgt", "acc", "out", "insn"), DRAM→SRAM or SRAM→DRAM.
    - ``macs``: multiply-accumulates performed by GEMM (reset GEMMs do none); ``alu_ops``: ALU lane operations.
    - ``cycles``: clock cycles from launch to done; ``busy``/``stall``: per-module cycle counts.
    - ``states``: ``{stage: {state: cycles}}`` from the core's state counters (`vta.hw.regs.MODULE_STATES`; per
      stage they add up to ``cycles``), ``stage_insns``: instructions each stage took; ``timeline``: the run's
      `vta.sim.trace.RunTimeline` when the device records them.
    """
    insns: dict = dataclasses.field(default_factory=dict)
    bytes: dict = dataclasses.field(default_factory=dict)
    macs: int = 0
    alu_ops: int = 0
    uops: int = 0
    cycles: int | None = None
    busy: dict | None = None
    stall: dict | None = None
    wall_seconds: float | None = None
    states: dict | None = None
    stage_insns: dict | None = None
    timeline: object = dataclasses.field(default=None, repr=False)

    def as_dict(self):
        d = dataclasses.asdict(dataclasses.replace(self, timeline=None))
        d.pop("timeline")
        return d


@runtime_checkable
class Device(Protocol):
    """Anything that runs VTA programs. ``cfg`` is its `VTAConfig`; `close` releases what it holds (a Verilator
    model, a serial port), so every owner can close every device the same way."""

    cfg: object

    def run(self, dram: np.ndarray, insn_addr: int, insn_count: int) -> RunStats:
        """Run ``insn_count`` instructions from byte address ``insn_addr``; mutate ``dram``; return stats.

        Raises `vta.ProgramError` (or its subclass `vta.DeadlockError`) on a program that cannot complete.
        """
        ...

    def close(self) -> None:
        """Release the device's resources (a device without any does nothing); its owner runs nothing after it."""
        ...


class Closing:
    """``with thing: ...`` calls ``thing.close()`` at the end: the context manager of every device, runtime and
    compiled model (each owns a model, a serial link or runtimes behind its ``close``)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
