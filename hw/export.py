"""Verilog export of the VTA core (`generate_verilog`), for Verilator simulation and FPGA flows."""

import re

from amaranth.back import verilog

from ..config import load_config
from ..errors import VTAError
from .core import VTACore

__all__ = ["generate_verilog"]

# Verilog-2005 reserved words (IEEE 1364-2005 Annex B): not usable as a module name
_KEYWORDS = frozenset("""always and assign automatic begin buf bufif0 bufif1 case casex casez cell cmos config deassign
default defparam design disable edge else end endcase endconfig endfunction endgenerate endmodule endprimitive
endspecify endtable endtask event for force forever fork function generate genvar highz0 highz1 if ifnone incdir
include initial inout input instance integer join large liblist library localparam macromodule medium module nand
negedge nmos nor noshowcancelled not notif0 notif1 or output parameter pmos posedge primitive pull0 pull1 pulldown
pullup pulsestyle_onevent pulsestyle_ondetect rcmos real realtime reg release repeat rnmos rpmos rtran rtranif0
rtranif1 scalared showcancelled signed small specify specparam strong0 strong1 supply0 supply1 table task time tran
tranif0 tranif1 tri tri0 tri1 triand trior trireg unsigned use uwire vectored wait wand weak0 weak1 while wire wor
xnor xor""".split())


def generate_verilog(cfg, name="vta_core"):
    """Verilog source of `VTACore` for ``cfg`` (a `VTAConfig` or anything `load_config` accepts), top ``name``.

    Ports: ``clk``, ``rst`` (synchronous, active high), the flattened ``axi__*`` / ``csr__*`` signals and ``probe``
    (`vta.hw.perf.PROBE`: what each stage does, for the co-simulation's timelines; leave it unconnected).
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", name) or name in _KEYWORDS:
        raise VTAError(f"the module name must be a Verilog identifier (a letter or _, then letters, digits, _ or $; "
                       f"not a keyword), not {name!r}")
    cfg = load_config(cfg)
    core = VTACore(cfg)
    return verilog.convert(core, name=name, emit_src=False)
