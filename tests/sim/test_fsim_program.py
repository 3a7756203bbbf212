"""The simulator's program cache (`vta.sim.fsim_program`): the same instruction bytes run again — with other data,
after a reset, against a smaller DRAM, or failing — behave exactly as on their first run."""

import numpy as np
import pytest
from fsim_helpers import Image, RefVTA, assert_same_state, load_tiles, load_uops, rand_tiles

from vta import ProgramError
from vta.isa import Alu, AluOp, Finish, Gemm, Load, MemId, Store, Uop, encode_program
from vta.sim import FunctionalSim


def program(cfg, seed):
    """A program touching every static check the cache keeps: padded and strided loads (a zero-stride one too),
    GEMM, ALU, a strided store; its data from ``seed`` (the bytes of the instructions do not depend on it).
    Returns ``(dram, insns, insn_addr, insn_count)``."""
    rng = np.random.default_rng(seed)
    img = Image(cfg)
    n = 9
    inp = rand_tiles(cfg, rng, "inp", 24)
    wgt = rand_tiles(cfg, rng, "wgt", 4)
    acc = rand_tiles(cfg, rng, "acc", 8, -1000, 1000)
    inp_at = img.data("inp", inp)
    uops = [Uop(u, u + 1, u % 4) for u in range(4)]
    insns = [
        Load(memory_type=MemId.INP, sram_base=0, dram_base=inp_at, y_size=3, x_size=2, x_stride=5,
             y_pad_0=1, y_pad_1=0, x_pad_0=1, x_pad_1=1),                       # 4 rows × 4 = 16 elements
        Load(memory_type=MemId.INP, sram_base=16, dram_base=inp_at + 2, y_size=2, x_size=3, x_stride=0),
        load_tiles(cfg, img, "wgt", wgt),
        load_tiles(cfg, img, "acc", acc),
        load_uops(cfg, img, uops),
        Gemm(uop_bgn=0, uop_end=4, iter_out=2, dst_factor_out=4, src_factor_out=n),
        Alu(alu_opcode=AluOp.SHR, uop_bgn=0, uop_end=4, iter_out=2, dst_factor_out=4, use_imm=True, imm=3),
        Store(sram_base=0, dram_base=img.reserve("out", 16), y_size=2, x_size=3, x_stride=7),
        Finish(),
    ]
    addr, count = img.insns(insns)
    return img.build(extra=64), insns, addr, count


def test_a_program_run_again_on_new_data_matches_the_reference(cfg):
    sim = FunctionalSim(cfg)
    images = [program(cfg, seed) for seed in (1, 2, 3)]
    code = [d[a:a + 16 * c].tobytes() for d, _, a, c in images]
    assert code[0] == code[1] == code[2]                   # one program, three data sets
    counts = []
    for dram, insns, addr, count in images:
        ref, dram_ref = RefVTA(cfg), dram.copy()
        ref.run(dram_ref, insns)
        stats = sim.run(dram, addr, count)
        assert_same_state(sim, ref, dram, dram_ref)
        counts.append((stats.insns, stats.bytes, stats.macs, stats.alu_ops, stats.uops))
    assert len(sim._programs) == 1 and counts[0] == counts[1] == counts[2] and counts[0][2] > 0


def test_a_reset_between_runs_changes_nothing(cfg):
    sim = FunctionalSim(cfg)
    dram, insns, addr, count = program(cfg, 4)
    sim.run(dram.copy(), addr, count)
    sim.reset()
    ref, dram_ref = RefVTA(cfg), dram.copy()
    ref.run(dram_ref, insns)
    sim.run(dram, addr, count)
    assert_same_state(sim, ref, dram, dram_ref)


def test_the_same_bytes_against_a_smaller_dram_are_checked_again(cfg):
    """The bounds of a LOAD are checked per DRAM size: the program that ran is refused on a DRAM that ends
    inside its data."""
    img = Image(cfg, start=1024)                 # the data after the instructions, which sit at byte 0
    inp_at = img.data("inp", rand_tiles(cfg, np.random.default_rng(6), "inp", 24))
    code = encode_program(cfg, [Load(memory_type=MemId.INP, sram_base=0, dram_base=inp_at, y_size=1, x_size=24,
                                     x_stride=24), Finish()])
    dram = img.build()
    dram[:code.size] = code
    sim = FunctionalSim(cfg)
    sim.run(dram.copy(), 0, 2)
    short = dram[:1024 + 10 * cfg.elem_bytes["inp"]].copy()   # ends after 10 of the 24 elements
    with pytest.raises(ProgramError, match=r"^instruction 0: LOAD INP: .*DRAM holds only"):
        sim.run(short, 0, 2)
    assert len(sim._programs) == 2


def test_a_failing_instruction_fails_again_and_what_ran_before_it_ran(cfg):
    """An out-of-range LOAD (checked once, when first executed) fails on every run, after the STORE before it."""
    img = Image(cfg)
    out_at = img.reserve("out", 4, fill=0x5A)
    insns = [Store(sram_base=0, dram_base=out_at, y_size=1, x_size=4, x_stride=4),
             Load(memory_type=MemId.ACC, sram_base=cfg.acc_depth - 1, dram_base=0, y_size=1, x_size=2, x_stride=2),
             Finish()]
    addr, count = img.insns(insns)
    sim = FunctionalSim(cfg)
    for _ in range(2):
        dram = img.build(extra=64)
        with pytest.raises(ProgramError, match=r"^instruction 1: LOAD ACC: .*past the acc buffer depth") as e:
            sim.run(dram, addr, count)
        assert e.value.index == 1
        nbytes = cfg.elem_bytes["out"]
        assert not dram[out_at * nbytes:(out_at + 4) * nbytes].any()   # the STORE wrote the (zero) out buffer
