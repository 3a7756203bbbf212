"""Verilog export of the VTA core (`generate_verilog`), for Verilator simulation and FPGA flows."""

import re

from amaranth.back import verilog

from ..config import load_config
from ..errors import VTAError
from .core import VTACore

__all__ = ["generate_verilog"]


def generate_verilog(cfg, name="vta_core"):
    """Verilog source of `VTACore` for ``cfg`` (a `VTAConfig` or anything `load_config` accepts), top ``name``.

    Ports: ``clk``, ``rst`` (synchronous, active high) and the flattened ``axi__*`` / ``csr__*`` signals.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", name):
        raise VTAError(f"the module name must be a Verilog identifier (a letter or _, then letters, digits, _ or $), "
                       f"not {name!r}")
    cfg = load_config(cfg)
    core = VTACore(cfg)
    return verilog.convert(core, name=name, emit_src=False)
