"""Running a program's VTA steps on a device: `VTAExecutor` holds the `vta.jit.Runtime` the steps lower onto
(`vta.compiler.steps.VTAStep.lower`) and adds up, per graph node, what their JIT calls did — calls, MACs,
instructions and (on Verilator) cycles — for the report.
"""

import dataclasses

__all__ = ["VTAExecutor", "NodeStats", "step_kind", "HOST_KINDS"]

HOST_KINDS = ("host subgraph (onnxruntime)", "host float op", "int8 layout", "quantize/dequantize")


def step_kind(step):
    """Where a step's time goes in the report: "VTA" (device call with its packing) or one of `HOST_KINDS`."""
    if step.on_vta:
        return "VTA"
    name = type(step).__name__
    if name == "HostSubgraph":
        return HOST_KINDS[0]
    if name in ("Layout", "Concat"):
        return HOST_KINDS[2]
    if name in ("Quantize", "Dequantize"):
        return HOST_KINDS[3]
    return HOST_KINDS[1]


@dataclasses.dataclass
class NodeStats:
    calls: int = 0
    macs: int = 0
    useful_macs: int = 0
    insns: int = 0
    cycles: int = 0
    cycles_known: bool = True
    wall_seconds: float = 0.0
    host_fallbacks: int = 0
    note: str = ""
    busy: dict = dataclasses.field(default_factory=dict)   # per-module busy cycles (Verilator: gemm, alu, load, …)


class VTAExecutor:
    """The device side of `vta.compiler.program.run_program`: ``rt`` runs the JIT calls; ``stats`` maps node name
    → `NodeStats`."""

    def __init__(self, runtime):
        self.rt = runtime
        self.stats = {}
        self.seconds = {}         # step kind ("vta", "host subgraph", "int8 layout", …) → wall seconds, all runs

    def timed(self, step, seconds):
        """Add one step's wall time (host work included: packing for a VTA step) under its kind (`step_kind`)."""
        k = step_kind(step)
        self.seconds[k] = self.seconds.get(k, 0.0) + seconds

    def record(self, step, result):
        """Add the `OpStats` of one JIT call (an `OpResult`) to ``step``'s node; return the call's output."""
        y, ls = result
        s = self.stats.setdefault(step.node.name, NodeStats())
        s.calls += 1
        s.macs += ls.macs
        s.useful_macs += ls.useful_macs
        s.insns += ls.insns
        s.wall_seconds += ls.wall_seconds or 0.0
        if ls.cycles is None:
            s.cycles_known = False
        else:
            s.cycles += ls.cycles
        for k, v in (ls.busy or {}).items():
            s.busy[k] = s.busy.get(k, 0) + int(v)
        return y

    def host_fallback(self, step, note):
        """Count that ``step`` ran on the host after all, and why (shown in the report)."""
        s = self.stats.setdefault(step.node.name, NodeStats())
        s.host_fallbacks += 1
        s.note = note
