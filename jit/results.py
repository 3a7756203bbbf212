"""What an operator call gives back: `OpResult` (the output and its stats) and `OpStats` (what the call did on the
device). Kept apart from the `Runtime` so the operator modules can build results without importing the runtime."""

import dataclasses
from typing import NamedTuple

from ..device import RunStats

__all__ = ["OpStats", "OpResult"]


@dataclasses.dataclass
class OpStats:
    """What one operator call did.

    ``macs`` are the GEMM MACs the device performed (channel padding included); ``useful_macs`` those of the
    unpadded problem. ``kernel_builds``/``kernel_hits`` count uop kernels recorded vs reused from the cache,
    ``uop_loads`` the LOAD UOP instructions emitted. ``program`` is the instruction sequence that ran. ``run`` is the
    device's `RunStats`: ``cycles``/``busy``/``stall``/``wall_seconds`` read from it (``None`` where the device
    cannot measure them, e.g. cycles on the functional simulator). ``build_seconds`` is host time spent building
    the stream (looking it up when ``stream_cached``: the call reused an earlier call's finished stream).
    """
    op: str
    run: RunStats
    macs_per_cycle: int
    useful_macs: int = 0
    insns_by_opcode: dict = dataclasses.field(default_factory=dict)
    noops: int = 0
    kernel_builds: int = 0
    kernel_hits: int = 0
    uop_loads: int = 0
    build_seconds: float = 0.0
    schedule: object = None
    program: list = dataclasses.field(default_factory=list, repr=False)
    stream_cached: bool = False

    macs = property(lambda self: self.run.macs)
    cycles = property(lambda self: self.run.cycles)
    busy = property(lambda self: self.run.busy)
    stall = property(lambda self: self.run.stall)
    wall_seconds = property(lambda self: self.run.wall_seconds)

    @property
    def insns(self):
        return len(self.program)

    @property
    def utilization(self):
        """GEMM utilisation: device MACs / (cycles × peak MACs per cycle); ``None`` without cycles."""
        return None if not self.cycles or not self.macs_per_cycle else self.macs / (self.cycles * self.macs_per_cycle)


class OpResult(NamedTuple):
    """What every operator returns: the output array and the `OpStats` of the call (``y, stats = rt.relu(x)``)."""
    y: object
    stats: OpStats
