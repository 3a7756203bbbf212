"""The tensor ALU's MUL (`vta.hw.mul.MulCore`) out of context on the ULX3S's ECP5: resources and the worst
register-to-register path, today's structure against the one it replaced.

    python benchmarks/mul_timing.py [--lanes 1] [--freq 50] [--seed 1] [--json PATH]

Each design is one or more MUL lanes alone: Yosys ``synth_ecp5 -nodsp`` (the board's options: multipliers in LUTs
and carry chains) then ``nextpnr-ecp5 --out-of-context`` (no IO buffers) on the LFE5U-85F. Printed per design:
LUT4, CCU2C (carry cells, two bits each), flip-flops, nextpnr's Fmax estimate, and its critical path split into
``logic_ns`` (cell delays with clock-to-out and setup) and ``routing_ns``, with the number of logic cells on it.
Out of context the routing is short (the lane sits alone); in the full core the operand register was placed
9.7 ns away, so the logic part is the number to compare.
``previous``: the three-cycle MulCore this one replaced (operands registered; three 16×16 products registered;
summed into the user's register), rebuilt here as the baseline.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

from amaranth.back import rtlil
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from results import write_json

from vta.fpga.boards import get_board
from vta.fpga.presets import board_config
from vta.fpga.synth import parse_stat
from vta.hw.alu import alu_operand_members, lane_count, operand_lanes
from vta.hw.mul import MulCore


class PreviousMulCore(wiring.Component):
    """The structure `MulCore` had before the 16×8 split (LATENCY 2): three 16×16 products in one cycle."""

    LATENCY = 2

    def __init__(self, cfg, lanes=None):
        self.cfg = cfg
        self.lanes = lane_count(cfg, lanes)
        super().__init__({**alu_operand_members(cfg, self.lanes),
                          "result": wiring.Out(cfg.acc_width * self.lanes)})

    def elaborate(self, platform):
        m = Module()
        out = []
        for i, (a, b) in enumerate(operand_lanes(m, self, self.cfg, self.lanes)):
            ar, br = Signal(32, name=f"a_reg{i}"), Signal(32, name=f"b_reg{i}")
            m.d.sync += [ar.eq(a), br.eq(b)]
            low, c0, c1 = Signal(32, name=f"low{i}"), Signal(16, name=f"c0_{i}"), Signal(16, name=f"c1_{i}")
            m.d.sync += [low.eq(ar[:16] * br[:16]), c0.eq(ar[16:] * br[:16]), c1.eq(ar[:16] * br[16:])]
            out.append(low + Cat(Signal(16), c0 + c1))
        m.d.comb += self.result.eq(Cat(*[v[:32] for v in out]))
        return m


class Registered(wiring.Component):
    """A MUL core with its ``result`` registered, as the compute stage's W register does (so the last add is timed)."""

    def __init__(self, core):
        self.core = core
        super().__init__({name: member for name, member in core.signature.members.items()})

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        for name in ("use_imm", "imm", "dst", "src"):
            m.d.comb += getattr(core, name).eq(getattr(self, name))
        m.d.sync += self.result.eq(core.result)
        return m


def measure(design, board, freq, seed, work):
    """Synthesise and place-and-route ``design`` out of context; returns the table row's numbers."""
    with open(os.path.join(work, "top.il"), "w") as f:
        f.write(rtlil.convert(design, name="top"))
    yosys = os.environ.get("YOSYS") or board.tools["YOSYS"]
    nextpnr = os.environ.get("NEXTPNR_ECP5") or board.tools["NEXTPNR_ECP5"]
    script = f"read_rtlil top.il; synth_ecp5 -top top {board.synth_opts} -json top.json; tee -o stat.txt stat"
    subprocess.run([yosys, "-q", "-p", script], cwd=work, check=True, capture_output=True)
    subprocess.run([nextpnr, "--85k", "--package", "CABGA381", "--out-of-context", "--json", "top.json",
                    "--freq", str(freq), "--seed", str(seed), "--report", "report.json"],
                   cwd=work, check=True, capture_output=True)
    with open(os.path.join(work, "stat.txt")) as f:
        stat = f.read()
    with open(os.path.join(work, "report.json")) as f:
        report = json.load(f)

    cells = parse_stat(stat)
    path = max(report["critical_paths"], key=lambda p: sum(s["delay"] for s in p["path"]))["path"]
    logic = [s for s in path if s["type"] == "logic"]
    return {"lut4": cells.get("LUT4", 0), "ccu2c": cells.get("CCU2C", 0), "ff": cells.get("TRELLIS_FF", 0),
            "fmax_mhz": round(max(v["achieved"] for v in report["fmax"].values()), 1),
            "path_ns": round(sum(s["delay"] for s in path), 2),
            "logic_ns": round(sum(s["delay"] for s in path if s["type"] in ("logic", "clk-to-q", "setup")), 2),
            "routing_ns": round(sum(s["delay"] for s in path if s["type"] == "routing"), 2),
            "logic_cells": len(logic),
            "from": path[0]["from"]["cell"], "to": path[-1]["to"]["cell"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="ulx3s-85f")
    ap.add_argument("--lanes", type=int, default=1, help="MUL lanes per design (1 … BATCH×BLOCK_OUT)")
    ap.add_argument("--freq", type=float, default=50, help="nextpnr's clock constraint in MHz")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="also write the table as JSON here")
    args = ap.parse_args(argv)
    board = get_board(args.board)
    cfg, _ = board_config(board.preset)
    most = cfg.batch * cfg.block_out
    if not 1 <= args.lanes <= most:
        ap.error(f"--lanes must be 1 … {most} (BATCH×BLOCK_OUT of {cfg.name}), not {args.lanes}")
    rows = {}
    for name, core in (("previous (LATENCY 2)", PreviousMulCore(cfg, lanes=args.lanes)),
                       (f"MulCore (LATENCY {MulCore.LATENCY})", MulCore(cfg, lanes=args.lanes))):
        with tempfile.TemporaryDirectory(prefix="vta-mul-timing-") as work:
            rows[name] = measure(Registered(core), board, args.freq, args.seed, work)
        print(f"{name}: done", file=sys.stderr)
    cols = ("lut4", "ccu2c", "ff", "fmax_mhz", "path_ns", "logic_ns", "routing_ns", "logic_cells")
    print(f"{'design':24s}" + "".join(f"{c:>12s}" for c in cols) + "  critical path")
    for name, r in rows.items():
        print(f"{name:24s}" + "".join(f"{r[c]:>12}" for c in cols) + f"  {r['from']} → {r['to']}")
    write_json(args.json, {"board": board.name, "lanes": args.lanes, "freq": args.freq, "seed": args.seed,
                           "rows": rows})


if __name__ == "__main__":
    main()
