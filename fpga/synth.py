"""`synth_utilisation`: a design's FPGA resources from Yosys synthesis alone, without place and route.

Why: the design-space exploration (`vta.dse`) needs LUT/FF/block-RAM/DSP counts of many configs. A full build
(`vta.fpga.build`) spends most of its time in nextpnr (20–40 minutes for the ULX3S preset on 2 cores); synthesis
takes a few minutes and already fixes the cell counts, so only the few chosen configs are placed and routed.

The design is exactly what `build` synthesises (`BoardTop` around `FPGATop`, the same Yosys script and synth
options), so the counts are the cells nextpnr then packs. ``lut`` is in nextpnr's unit (TRELLIS_COMB on ECP5: a
LUT4 is one, a CCU2C carry cell and a TRELLIS_DPR16X4 distributed RAM are two each), so it compares with a
routed build's ``utilization["lut"]``; the raw cell counts are kept in ``cells``. Results are cached by
`vta.toolchain` (kind ``fpga-synth``) under a key of the generated design files and the tool versions.
"""

import hashlib
import json
import os
import re

from .. import toolchain
from ..errors import ConfigError
from .boards import BoardTop, get_board
from .build import KEEP_REPLICAS, _run_step, _say, _script_steps, resolve_design, toolchain_versions
from .top import FPGATop

__all__ = ["synth_utilisation", "parse_stat", "utilisation", "BRAM_BLOCK_BITS", "STAT_NAME"]

STAT_NAME = "top.stat"
RESULT_NAME = "synth.json"
BRAM_BLOCK_BITS = {"ecp5": 18432, "ice40": 4096}
# report key → (Yosys cells, weight in the board's unit)
CELL_UNITS = {
    "ecp5": {"lut": {"LUT4": 1, "CCU2C": 2, "TRELLIS_DPR16X4": 2}, "ff": {"TRELLIS_FF": 1},
             "bram": {"DP16KD": 1}, "dsp": {"MULT18X18D": 1}},
    "ice40": {"lut": {"SB_LUT4": 1}, "ff": {r"SB_DFF\w*": 1}, "bram": {"SB_RAM40_4K": 1}, "dsp": {"SB_MAC16": 1}},
}


def parse_stat(text):
    """``{cell type: count}`` from the last statistics table of a Yosys log or ``tee -o`` file of ``stat``."""
    start = text.rfind("Printing statistics")
    section = text[start:] if start >= 0 else text
    cells = {}
    for n, cell in re.findall(r"^\s+(\d+)\s+(?:\S+\s+)?\$?([A-Za-z_][\w$]*)\s*$", section, re.M):
        if cell.lower() in ("cells", "wires", "wire", "bits", "memories", "processes", "ports", "wire_bits"):
            continue
        cells[cell] = cells.get(cell, 0) + int(n)
    return cells


def utilisation(board, cells):
    """``{"lut"|"ff"|"bram"|"dsp": {"used", "available", "percent"}}`` of ``cells`` on ``board``."""
    board = get_board(board)
    avail = {"lut": board.luts, "ff": board.luts, "bram": board.bram_bits // BRAM_BLOCK_BITS[board.family],
             "dsp": board.dsps}
    out = {}
    for key, units in CELL_UNITS[board.family].items():
        used = sum(w * n for pattern, w in units.items() for cell, n in cells.items() if re.fullmatch(pattern, cell))
        a = avail[key]
        out[key] = {"used": used, "available": a, "percent": round(100 * used / a, 1) if a else 0.0}
    return out


def synth_utilisation(board, cfg=None, *, dram_bytes=None, clock_mhz=None, progress=False, use_cache=True):
    """Synthesise the VTA design for ``board`` (name or `Board`) and config ``cfg`` (default: the board preset)
    with Yosys only. Returns ``{"utilization": {...}, "cells": {...}, "fits": bool, "seconds": s, "cached": bool}``.

    ``fits`` says whether every resource is within the device; place and route may still fail on congestion.
    Raises `vta.fpga.build.FPGABuildError` if Yosys fails.
    """
    board, cfg, dram_bytes, clock_mhz = resolve_design(board, cfg, dram_bytes, clock_mhz)
    divisor = max(4, round(clock_mhz * 1e6 / 115200))
    design = BoardTop(board, FPGATop(cfg, dram_bytes=dram_bytes, divisor=divisor), clock_mhz)
    plan = board.platform().build(design, name="top", do_build=False, script_after_read=KEEP_REPLICAS,
                                  synth_opts=board.synth_opts, script_after_synth=f"tee -q -o {STAT_NAME} stat")
    key = hashlib.sha256(json.dumps({"board": board.name, "versions": toolchain_versions()},
                                    sort_keys=True).encode())
    for name in sorted(plan.files):
        if name.endswith((".il", ".ys")):
            content = plan.files[name]
            key.update(name.encode() + b"\0" + (content.encode() if isinstance(content, str) else content))

    def build_in(work):
        for name, content in plan.files.items():
            with open(os.path.join(work, name), "w" if isinstance(content, str) else "wb") as f:
                f.write(content)
        steps = [s for s in _script_steps(os.path.join(work, "build_top.sh"), board) if s[0] == "YOSYS"]
        seconds = _run_step(steps[0][1], work, f"synthesis of {cfg.name} for {board.name}", progress, board)
        with open(os.path.join(work, STAT_NAME)) as f:
            cells = parse_stat(f.read())
        if not cells:
            raise ConfigError(f"Yosys wrote no cell statistics for {cfg.name} (see {work}/top.rpt)")
        with open(os.path.join(work, RESULT_NAME), "w") as f:
            json.dump({"cells": cells, "seconds": round(seconds, 1)}, f)
        for name in ("top.il", "top.json", "top.debug.v"):   # large and not needed again
            try:
                os.remove(os.path.join(work, name))
            except OSError:
                pass

    entry = toolchain.cached_build(toolchain.cache_root("fpga-synth"), key.hexdigest(), build_in,
                                   label=f"synthesis of {cfg.name} for {board.name}",
                                   info={"board": board.name, "config": cfg.to_dict()},
                                   progress=progress and (lambda text: _say(True, text)), rebuild=not use_cache)
    with open(os.path.join(entry.path, RESULT_NAME)) as f:
        result = json.load(f)
    util = utilisation(board, result["cells"])
    return {"utilization": util, "cells": result["cells"], "seconds": result["seconds"], "cached": entry.cached,
            "fits": all(u["used"] <= u["available"] for u in util.values())}
