"""`check_cost`: the FPGA resources of the instruction checks, from a quick out-of-context synthesis of each block.

The core's checks live in two blocks: `vta.hw.insn_check.InsnCheck` (one per stage: load, compute, store) and
`vta.hw.fault_latch.FaultLatch` (one per core, four reporters). The full build flattens the design, so its numbers
cannot be split per block; instead each block is synthesised on its own with the board family's Yosys command (and
the board's synth options, e.g. ``-nodsp`` on ECP5) and Yosys' ``stat`` is read: LUT4s, carry cells and flip-flops.
Out of context the counts are an upper bound on what the block adds to the full design (constant inputs such as
the DMA window are not folded away); the token and uop-index rules inside the stages are not included. It takes a
few seconds per block (`build` runs it for the report's ``check_logic``).
"""

import os
import re
import tempfile

from amaranth.back import rtlil

from .. import toolchain

__all__ = ["check_cost", "check_blocks"]

# Yosys cell names → report keys, per family
CELLS = {
    "ecp5": {"lut": r"LUT4", "carry": r"CCU2C", "mux": r"PFUMX|L6MUX21", "ff": r"TRELLIS_FF"},
    "ice40": {"lut": r"SB_LUT4", "carry": r"SB_CARRY", "ff": r"SB_DFF\w*"},
}


def check_blocks(cfg):
    """The check blocks of a core for ``cfg``: ``{name: elaboratable}``."""
    from ..hw.fault_latch import FaultLatch
    from ..hw.insn_check import InsnCheck
    blocks = {f"InsnCheck({stage})": InsnCheck(cfg, stage) for stage in ("load", "compute", "store")}
    blocks["FaultLatch(4)"] = FaultLatch(4)
    return blocks


def check_cost(board, cfg, *, work=None):
    """``{block: {"lut": n, "carry": n, "ff": n}, ..., "total": {...}}`` for ``board``'s family (a `Board`)."""
    cells = CELLS[board.family]
    yosys = os.environ.get("YOSYS") or board.tools["YOSYS"]
    result = {}
    with tempfile.TemporaryDirectory(prefix="vta-check-cost-", dir=work) as tmp:
        for name, block in check_blocks(cfg).items():
            il = os.path.join(tmp, "block.il")
            with open(il, "w") as f:
                f.write(rtlil.convert(block, name="block"))
            script = f"read_rtlil block.il; synth_{board.family} -top block {board.synth_opts}; stat"
            code, out = toolchain.run_tool([yosys, "-q", "-p", script, "-l", "block.log"], cwd=tmp)
            with open(os.path.join(tmp, "block.log")) as f:
                log = f.read()
            if code != 0:
                raise RuntimeError(f"yosys failed on {name} (exit {code}): {(out or log)[-2000:]}")
            result[name] = {key: _count(log, pattern) for key, pattern in cells.items()}
    result["total"] = {key: sum(v[key] for v in result.values()) for key in cells}
    return result


def _count(log, pattern):
    """Sum of the cells matching ``pattern`` in the last ``stat`` table of a Yosys log."""
    section = log[log.rfind("Printing statistics"):]
    return sum(int(n) for n, cell in re.findall(r"^\s+(\d+)\s+(\S+)\s*$", section, re.M)
               if re.fullmatch(pattern, cell))
