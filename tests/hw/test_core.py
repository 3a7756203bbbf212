"""Whole-core runs in Amaranth's simulator (small config) checked against the functional simulator's DRAM image
and an independent numpy computation of the same kernel."""

import numpy as np
import pytest

from hw_helpers import simulate_core
from vta.config import load_config
from vta.isa import Alu, AluOp, Finish, Gemm, Load, MemId, Store, Uop, encode_program, encode_uops
from vta.sim.fsim import FunctionalSim

CFG = load_config("small")


def tiny_program(cfg, rng):
    """LOAD uop/inp/wgt, GEMM (reset, then two uops accumulating into the same acc entry), ALU relu, STORE."""
    dram = np.zeros(8192, dtype=np.uint8)
    inp = rng.integers(-128, 128, size=(4, *cfg.inp_shape), dtype=np.int8)
    wgt = rng.integers(-128, 128, size=(2, *cfg.wgt_shape), dtype=np.int8)
    uops = [Uop(dst_idx=0, src_idx=0, wgt_idx=0), Uop(dst_idx=0, src_idx=1, wgt_idx=1)]
    UOP, INP, WGT, OUT = 1024, 2048, 4096, 6144
    dram[UOP:UOP + 8] = encode_uops(cfg, uops)
    dram[INP:INP + inp.size] = inp.view(np.uint8).ravel()
    dram[WGT:WGT + wgt.size] = wgt.view(np.uint8).ravel()
    ob = cfg.out_elem_bytes
    prog = [
        Load(memory_type=MemId.UOP, sram_base=0, dram_base=UOP // 4, y_size=1, x_size=2, x_stride=2),
        Load(memory_type=MemId.INP, sram_base=0, dram_base=INP // cfg.inp_elem_bytes, y_size=1, x_size=4,
             x_stride=4),
        Load(memory_type=MemId.WGT, sram_base=0, dram_base=WGT // cfg.wgt_elem_bytes, y_size=1, x_size=2,
             x_stride=2, push_next_dep=True),
        Gemm(reset_reg=True, uop_bgn=0, uop_end=1, iter_out=2, iter_in=1, dst_factor_out=1, pop_prev_dep=True),
        Gemm(uop_bgn=0, uop_end=2, iter_out=2, iter_in=1, dst_factor_out=1, src_factor_out=2),
        Alu(alu_opcode=AluOp.MAX, use_imm=True, imm=0, uop_bgn=0, uop_end=1, iter_out=2, dst_factor_out=1,
            src_factor_out=1, push_next_dep=True),
        Store(sram_base=0, dram_base=OUT // ob, y_size=1, x_size=2, x_stride=2, pop_prev_dep=True),
        Finish(),
    ]
    dram[:len(prog) * 16] = encode_program(cfg, prog)
    # Independent expectation: out[i] = low8(relu(inp[2i]·w0ᵀ + inp[2i+1]·w1ᵀ)).
    acc = np.stack([inp[2 * i].astype(np.int64) @ wgt[0].T.astype(np.int64)
                    + inp[2 * i + 1].astype(np.int64) @ wgt[1].T.astype(np.int64) for i in range(2)])
    out = np.maximum(acc, 0).astype(np.uint32).astype(np.uint8)
    return dram, len(prog), (OUT, out.ravel())


def test_tiny_program_matches_fsim_and_numpy():
    rng = np.random.default_rng(1)
    dram, count, (out_addr, expected) = tiny_program(CFG, rng)
    ref = dram.copy()
    FunctionalSim(CFG).run(ref, 0, count)
    cycles, model = simulate_core(CFG, dram, [(0, count)], max_cycles=5000)
    assert np.array_equal(dram[out_addr:out_addr + expected.size], expected)
    assert np.array_equal(dram, ref)
    assert 0 < cycles[0] < 5000


@pytest.mark.slow
def test_tiny_program_with_bus_stalls_and_relaunch():
    rng = np.random.default_rng(2)
    dram, count, (out_addr, expected) = tiny_program(CFG, rng)
    ref = dram.copy()
    fs = FunctionalSim(CFG)
    fs.run(ref, 0, count)
    fs.run(ref, 0, count)
    simulate_core(CFG, dram, [(0, count), (0, count)], stall=0.3, max_cycles=10000)
    assert np.array_equal(dram, ref)
