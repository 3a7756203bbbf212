"""vta.sim: simulators implementing the `vta.device.Device` protocol.

`FunctionalSim` is the bit-exact functional golden model (docs/semantics.md as numpy). `VerilatorSim` (the RTL
co-simulation) is imported lazily on first access, so importing `vta.sim` never needs Verilator.
"""

from .fsim import FunctionalSim

__all__ = ["FunctionalSim", "VerilatorSim"]


def __getattr__(name):
    if name == "VerilatorSim":
        from .verilator import VerilatorSim
        return VerilatorSim
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
