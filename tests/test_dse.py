"""`vta.dse`: config enumeration, Pareto extraction, the resumable sweep and its bad-input messages, with a fake
evaluator (the real one — Yosys, Verilator, nextpnr — is exercised by `vta dse` itself and tests/test_dse_real.py).
"""

import csv
import itertools
import os

import pytest
from dse_helpers import DyingEvaluator, FakeEvaluator

from vta.config import VTAConfig
from vta.dse import DSEError, bram_lower_bound, choose, config_label, enumerate_configs, pareto_front, run_dse
from vta.errors import ConfigError, VTAError
from vta.fpga.presets import board_config


def _run(tmp_path, ev, **kw):
    return run_dse("mnist", "ulx3s-85f", str(tmp_path), evaluator=ev, jobs=1, progress=False, log=lambda *a: None,
                   **kw)


# -- enumeration -----------------------------------------------------------------------------------------------------

def test_enumeration_yields_legal_configs_covering_every_axis():
    base, _ = board_config("ulx3s-85f")
    axes = dict(block=(1, 2, 3), batch=(0, 1), bus=(32, 64, 128), buffers=(-1, 0))
    cands = enumerate_configs(base, **axes)
    assert len(cands) == 3 * 2 * 3 * 2          # one candidate per combination, legal or not
    assert len({c.label for c in cands}) == len(cands)
    seen = set()
    for c in cands:
        if c.cfg is None:
            assert "not a legal config" in c.reason
            continue
        assert VTAConfig.from_dict(c.cfg.to_dict()) == c.cfg    # validated again from its keys
        assert c.label == config_label(c.cfg)
        seen.add((c.cfg.log_block_in, c.cfg.log_batch, c.cfg.bus_width,
                  c.cfg.log_inp_buff_size - base.log_inp_buff_size))
        assert c.cfg.log_block_in == c.cfg.log_block_out
        assert all(getattr(c.cfg, f"log_{b}_buff_size") - getattr(base, f"log_{b}_buff_size")
                   == c.cfg.log_inp_buff_size - base.log_inp_buff_size for b in ("uop", "wgt", "acc"))
    for i, values in enumerate(axes.values()):   # every value of every axis occurs in a legal config
        assert {s[i] for s in seen} == set(values)
    # the skipped combinations really are illegal
    for blk, bat, bus, step in itertools.product(*axes.values()):
        if (blk, bat, bus, step) in seen:
            continue
        fields = dict(log_block_in=blk, log_block_out=blk, log_batch=bat, log_bus_width=bus.bit_length() - 1,
                      **{f"log_{b}_buff_size": getattr(base, f"log_{b}_buff_size") + step
                         for b in ("uop", "inp", "wgt", "acc")})
        with pytest.raises(ConfigError):
            VTAConfig(**fields)


def test_enumeration_skips_configs_whose_buffers_exceed_the_block_ram():
    base, _ = board_config("ulx3s-85f")
    small_bram = bram_lower_bound(base, 1024)       # exactly what the preset's buffers + 1 KiB need
    cands = enumerate_configs(base, block=(3,), bus=(64,), buffers=(0, 1), bram_bits=small_bram, dram_bytes=1024)
    fits = [c for c in cands if c.cfg is not None]
    skipped = [c for c in cands if c.cfg is None]
    assert [c.cfg.log_inp_buff_size for c in fits] == [base.log_inp_buff_size]
    assert len(skipped) == 1 and "block RAM" in skipped[0].reason


@pytest.mark.parametrize("axes, message", [
    (dict(bus=(48,)), "bus width (bits) values must be among 32, 64, 128, 256, 512, not 48"),
    (dict(block=()), "the block (log2) axis must list at least one value"),
    (dict(batch=(0.5,)), "batch (log2) values must be integers, not 0.5"),
])
def test_enumeration_bad_axes(axes, message):
    base, _ = board_config("ulx3s-85f")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        enumerate_configs(base, **axes)


# -- Pareto ----------------------------------------------------------------------------------------------------------

def test_pareto_front_on_hand_made_points():
    pts = [dict(n="a", cycles=100, lut=50), dict(n="b", cycles=80, lut=60), dict(n="c", cycles=80, lut=70),
           dict(n="d", cycles=120, lut=40), dict(n="e", cycles=130, lut=45), dict(n="f", cycles=60, lut=90),
           dict(n="g", cycles=None, lut=10), dict(n="h", cycles=100, lut=50)]
    # c is dominated by b (same cycles, more LUTs), e by d; a and h tie (neither dominates); g has no cycles
    assert [p["n"] for p in pareto_front(pts)] == ["f", "b", "a", "h", "d"]
    assert [p["n"] for p in pareto_front(pts, keys=("lut",))] == ["g"]       # with LUTs alone, g counts


def test_choose_prefers_the_fastest_point_with_room():
    front = [dict(cycles=10, lut=90, percent={"lut": 95.0, "bram": 10.0}),
             dict(cycles=20, lut=60, percent={"lut": 70.0, "bram": 85.0}),
             dict(cycles=30, lut=50, percent={"lut": 60.0, "bram": 20.0})]
    assert choose(front, max_util=80)["cycles"] == 30
    assert choose(front, max_util=90)["cycles"] == 20
    assert choose(front, max_util=50)["cycles"] == 30       # none has room: the least utilised
    assert choose([]) is None


# -- the sweep -------------------------------------------------------------------------------------------------------

def test_sweep_writes_the_front_and_resumes_from_its_cache(tmp_path):
    ev = FakeEvaluator()
    rows = _run(tmp_path, ev, pnr=2)
    legal = [r for r in rows if r.get("lut") is not None]
    assert len(legal) == 6
    assert sorted(k for k, _ in ev.calls) == ["cycles"] * 6 + ["pnr"] * 2 + ["synth"] * 6
    with open(tmp_path / "pareto.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["config"] for r in table] == [r["config"] for r in rows]
    assert (tmp_path / "pareto.png").stat().st_size > 10000
    front = [r for r in table if r["pareto"] == "True"]
    # by the fake's formulas: cycles fall and LUTs rise with MACs and bus width, so the front is ordered by both
    pts = [dict(config=r["config"], cycles=int(r["cycles"]), lut=int(r["lut"])) for r in table if r["cycles"]]
    assert {r["config"] for r in front} == {p["config"] for p in pareto_front(pts)}
    chosen = [r for r in table if r["chosen"] == "True"]
    assert len(chosen) == 1 and chosen[0]["pareto"] == "True"
    assert float(chosen[0]["latency_us"]) == pytest.approx(int(chosen[0]["cycles"]) / float(chosen[0]["fmax_mhz"]),
                                                           abs=0.01)
    assert sum(1 for r in table if r["fmax_mhz"]) == 2
    assert sum(1 for r in table if r["preset"] == "True") == 1
    # a second run measures nothing; deleting one cached result re-measures only that job
    ev2 = FakeEvaluator()
    rows2 = _run(tmp_path, ev2, pnr=2)
    assert ev2.calls == []
    assert [(r["config"], r.get("cycles"), r.get("fmax_mhz")) for r in rows2] == \
        [(r["config"], r.get("cycles"), r.get("fmax_mhz")) for r in rows]
    victim = next(f for f in os.listdir(tmp_path / "cache") if f.startswith("cycles-b1x4x4-bus64"))
    os.remove(tmp_path / "cache" / victim)
    ev3 = FakeEvaluator()
    _run(tmp_path, ev3, pnr=2)
    assert ev3.calls == [("cycles", "b1x4x4-bus64-u12i12w14a14")]


def test_a_config_the_model_does_not_compile_for_is_skipped_with_its_reason(tmp_path):
    bad = "b1x8x8-bus128-u12i12w14a14"
    ev = FakeEvaluator(fail_cycles={bad}, crash_cycles={"b1x4x4-bus64-u12i12w14a14"})
    rows = _run(tmp_path, ev, pnr=0)
    row = next(r for r in rows if r["config"] == bad)
    assert row.get("cycles") is None and not row["pareto"]
    assert "does not compile for" in row["note"] and "VTAError" in row["note"]
    with open(tmp_path / "pareto.csv") as f:
        assert any(r["config"] == bad and "does not compile" in r["note"] for r in csv.DictReader(f))
    # the compile failure is a result (cached); the crash is not, so a re-run retries only the crash
    ev2 = FakeEvaluator()
    _run(tmp_path, ev2, pnr=0)
    assert ev2.calls == [("cycles", "b1x4x4-bus64-u12i12w14a14")]


def test_a_board_no_config_fits_names_the_smallest_configs_utilisation(tmp_path):
    ev = FakeEvaluator(lut_limit=5000)
    with pytest.raises(DSEError, match=r"no config fits ulx3s-85f: the smallest one swept, b1x4x4-bus64-u12i12w14a14 "
                                       r"\(16 MACs/cycle\), needs LUT 17\d\d\d \(3\d\d %\)"):
        _run(tmp_path, ev)
    assert ("cycles", "b1x4x4-bus64-u12i12w14a14") not in ev.calls


def test_configs_that_do_not_fit_are_listed_but_not_simulated(tmp_path):
    ev = FakeEvaluator(lut_limit=30000)           # the 4×4 configs fit, the 8×8 ones do not
    rows = _run(tmp_path, ev, pnr=0)
    for r in rows:
        if r.get("macs_per_cycle") == 64:
            assert "does not fit: LUT over 100 %" in r["note"] and r.get("cycles") is None
    assert {name for kind, name in ev.calls if kind == "cycles"} == \
        {r["config"] for r in rows if r.get("macs_per_cycle") == 16}


def test_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match="unknown board 'nope'"):
        run_dse("mnist", "nope", str(tmp_path), progress=False)
    with pytest.raises(ConfigError, match="pnr must be a whole number ≥ 0, not -1"):
        _run(tmp_path, FakeEvaluator(), pnr=-1)
    with pytest.raises(DSEError, match="no config of the sweep can be built for ulx3s-85f"):
        _run(tmp_path, FakeEvaluator(), axes={"block": (2,), "buffers": (3,)})
    with pytest.raises(VTAError, match="--model must be an ONNX file or a shipped model"):
        run_dse("no-such-model", "ulx3s-85f", str(tmp_path), progress=False, log=lambda *a: None)


def test_the_tuned_layers_of_the_shipped_mnist_model():
    """`vta dse` tunes what `vta tune` would: the convolutions and dense layers, not the pools VTA also runs."""
    from vta.compiler.datasets import model_path
    from vta.tune_cli import model_tasks
    tasks = model_tasks(model_path("mnist"), board_config("ulx3s-85f")[0])
    assert [(t.op, t.c, t.o, t.kh) for t in tasks.values()] == \
        [("conv2d", 1, 16, 3), ("conv2d", 16, 32, 3), ("dense", 1568, 64, 1), ("dense", 64, 10, 1)]


def test_an_interrupted_sweep_resumes_where_it_stopped(tmp_path):
    ev = FakeEvaluator(interrupt_at=9)          # Ctrl-C in the 9th job: 6 syntheses and 2 cycle runs are done
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, ev, pnr=1)
    assert not (tmp_path / "pareto.csv").exists()
    ev2 = FakeEvaluator()
    rows = _run(tmp_path, ev2, pnr=1)
    assert ev2.calls[0] == ev.calls[-1]         # the interrupted job runs again, the finished ones do not
    assert sorted(k for k, _ in ev2.calls) == ["cycles"] * 4 + ["pnr"]
    assert sum(1 for r in rows if r.get("cycles") is not None) == 6


def test_a_worker_process_that_dies_ends_the_sweep_with_a_message(tmp_path):
    with pytest.raises(DSEError, match=r"a worker process died during synth of b1x4x4-bus64-u12i12w14a14 .*run the "
                                       r"same command again to resume"):
        run_dse("mnist", "ulx3s-85f", str(tmp_path), evaluator=DyingEvaluator(), jobs=2, progress=False,
                log=lambda *a: None, axes={"block": (2,), "bus": (64,), "buffers": (-1,)})


def test_pnr_reuses_a_report_that_missed_timing(tmp_path, monkeypatch):
    """`vta.fpga.build` caches only builds that meet timing; the Fmax of one that missed is in its report.json, so
    the evaluator reuses that report (same config, clock, DRAM, tools) instead of placing and routing again."""
    import importlib
    import json

    from vta.dse_eval import Evaluator
    from vta.fpga.build import toolchain_versions
    cfg, dram = board_config("ulx3s-85f")
    ev = Evaluator("mnist", "ulx3s-85f", str(tmp_path), dram_bytes=dram)
    out = tmp_path / "pnr" / "x"
    out.mkdir(parents=True)
    report = {"config": cfg.to_dict(), "clock_mhz": 50.0, "dram_bytes": dram, "toolchain": toolchain_versions(),
              "fmax_mhz": 47.25, "timing_met": False, "utilization": {"lut": {"used": 49000}},
              "seconds": {"place and route": 1.0}}
    (out / "report.json").write_text(json.dumps(report))
    built = []
    build_module = importlib.import_module("vta.fpga.build")    # vta.fpga.build is also the function's name
    monkeypatch.setattr(build_module, "build", lambda *a, **k: built.append(a) or (_ for _ in ()).throw(
        RuntimeError("would place and route")))
    r = ev.pnr(cfg.to_dict(), "x")
    assert r["fmax_mhz"] == 47.25 and r["timing_met"] is False and built == []
    report["clock_mhz"] = 40.0                      # another clock: not reused
    (out / "report.json").write_text(json.dumps(report))
    with pytest.raises(RuntimeError, match="would place and route"):
        ev.pnr(cfg.to_dict(), "x")
