"""amaranth-vta: the Versatile Tensor Accelerator as one Python package.

Subpackages: `vta.isa` (instruction set), `vta.hw` (Amaranth RTL), `vta.sim` (functional simulator and
Verilator co-simulation), `vta.jit` (runtime and operators), `vta.compiler`, `vta.quant`, `vta.fpga`.
"""

from .config import PRESETS, VTAConfig, load_config
from .errors import ConfigError, DeadlockError, ISAError, ProgramError, VTAError

__version__ = "0.1.0"
from .api import compile

__all__ = ["VTAConfig", "PRESETS", "load_config", "VTAError", "ConfigError", "ISAError", "ProgramError",
           "DeadlockError", "compile", "__version__"]
