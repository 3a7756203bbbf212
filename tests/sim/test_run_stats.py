"""`vta.sim.stats`: the one counting function behind every device's `RunStats`. The functional simulator counts
while it executes, the RTL devices by decoding the program on the host; both call `count_insn`, and these tests
check that the two paths agree and that the counts mean what RunStats documents."""

import pytest

from vta import load_config
from vta.errors import ProgramError
from vta.isa import Finish, Gemm, Load, MemId, Store, encode_program
from vta.sim import FunctionalSim
from vta.sim.randprog import generate
from vta.sim.stats import count_program


@pytest.mark.parametrize("size", ["small", "medium"])
def test_host_counts_equal_functional_counts(size):
    for seed in range(20):
        p = generate("small", seed, size)
        dram = p.fresh_dram()
        want = FunctionalSim("small").run(dram.copy(), p.insn_addr, p.insn_count)
        got = count_program(load_config("small"), dram[p.insn_addr:p.insn_addr + 16 * p.insn_count])
        for field in ("insns", "bytes", "macs", "alu_ops", "uops"):
            assert getattr(got, field) == getattr(want, field), (seed, field)


def test_counts_of_a_hand_written_program():
    cfg = load_config("small")
    insns = [Load(memory_type=MemId.INP, sram_base=0, dram_base=0, y_size=2, x_size=3, x_stride=3),
             Load(memory_type=MemId.ACC_8BIT, sram_base=0, dram_base=0, y_size=1, x_size=4, x_stride=4),
             Gemm(uop_bgn=0, uop_end=2, iter_out=3, iter_in=5),
             Gemm(uop_bgn=0, uop_end=2, iter_out=3, iter_in=5, reset_reg=True),
             Store(sram_base=0, dram_base=0, y_size=1, x_size=2, x_stride=2), Finish(), Finish()]
    stats = count_program(cfg, encode_program(cfg, insns))
    assert stats.insns == {"LOAD": 2, "STORE": 1, "GEMM": 2, "ALU": 0, "FINISH": 1}  # up to the first FINISH
    assert stats.bytes == {"insn": 6 * 16, "uop": 0, "inp": 6 * cfg.inp_elem_bytes, "wgt": 0,
                           "acc": 4 * cfg.out_elem_bytes, "out": 2 * cfg.out_elem_bytes}
    assert stats.uops == 2 * 30 and stats.macs == 30 * cfg.macs_per_cycle and stats.alu_ops == 0


def test_a_program_without_finish_is_refused():
    cfg = load_config("small")
    with pytest.raises(ProgramError, match="no FINISH among the 1 instructions"):
        count_program(cfg, encode_program(cfg, [Gemm(uop_bgn=0, uop_end=1)]))
