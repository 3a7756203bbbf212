"""Whole-core runs in Amaranth's simulator (small config) checked against the functional simulator's DRAM image
and an independent numpy computation of the same kernel."""

import dataclasses

import numpy as np
import pytest
from hw_helpers import simulate_core, staged_operands, wrap32

from vta.config import load_config
from vta.hw.mul import MulCore
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


def test_bus_stalls_and_relaunch_keep_sram():
    """Random AXI stalls; then a second launch whose program only STOREs the out buffer left by the first run
    (SRAM persists across runs) to a new place."""
    rng = np.random.default_rng(2)
    dram, count, (out_addr, expected) = tiny_program(CFG, rng)
    second = [Store(sram_base=0, dram_base=7168 // CFG.out_elem_bytes, y_size=1, x_size=2, x_stride=2), Finish()]
    dram[4000 - 4000 % 16:][:32] = encode_program(CFG, second)
    insn2 = 4000 - 4000 % 16
    ref = dram.copy()
    fs = FunctionalSim(CFG)
    fs.run(ref, 0, count)
    fs.run(ref, insn2, 2)
    cycles, _ = simulate_core(CFG, dram, [(0, count), (insn2, 2)], stall=0.3, max_cycles=10000)
    assert np.array_equal(dram[7168:7168 + expected.size], expected)
    assert np.array_equal(dram, ref)
    assert len(cycles) == 2 and cycles[1] < cycles[0]


OUT = 6144  # DRAM byte address of the stored out tiles in the staged programs below


def hazard_program(cfg, rng):
    """GEMM and ALU loops where every uop hits the acc entry the previous uop just wrote (forwarding paths)."""
    uops = [Uop(dst_idx=1, src_idx=0, wgt_idx=0), Uop(dst_idx=2, src_idx=1, wgt_idx=0),
            Uop(dst_idx=2, src_idx=2, wgt_idx=0)]
    dram, inp, wgt, acc, loads = staged_operands(cfg, rng, 4, 4, 4, uops)
    eb = cfg.elem_bytes
    prog = [
        *loads,
        # acc[1] += Σ_j inp[j]·wgt[j]ᵀ: 4 back-to-back uops on acc[1].
        Gemm(uop_bgn=0, uop_end=1, iter_out=1, iter_in=4, src_factor_in=1, wgt_factor_in=1),
        # acc[2] = acc[2] + acc[1], then acc[2] *= acc[2] twice (uop 2: dst = src = 2); operands forwarded.
        Alu(alu_opcode=AluOp.ADD, uop_bgn=1, uop_end=2, iter_out=1, iter_in=1),
        Alu(alu_opcode=AluOp.MUL, uop_bgn=2, uop_end=3, iter_out=1, iter_in=2),
        Alu(alu_opcode=AluOp.SHR, use_imm=True, imm=3, uop_bgn=0, uop_end=1, iter_out=3, iter_in=1,
            dst_factor_out=1, push_next_dep=True),
        Store(sram_base=0, dram_base=OUT // eb["out"], y_size=1, x_size=4, x_stride=4, pop_prev_dep=True),
        Finish(),
    ]
    dram[:len(prog) * 16] = encode_program(cfg, prog)
    # Independent numpy expectation.
    a = acc.astype(np.int64)
    a[1] += sum(inp[j].astype(np.int64) @ wgt[j].T.astype(np.int64) for j in range(4))
    a[2] = wrap32(a[2] + a[1])
    a[2] = wrap32(a[2] * a[2])
    a[2] = wrap32(a[2] * a[2])
    a[1:4] = a[1:4] >> 3
    out = (a & 0xFF).astype(np.uint8)
    return dram, len(prog), (OUT, out[1:4].ravel(), out.ravel())


def test_back_to_back_hazards_forwarded():
    dram, count, (out_addr, expected_123, _) = hazard_program(CFG, np.random.default_rng(3))
    ref = dram.copy()
    FunctionalSim(CFG).run(ref, 0, count)
    simulate_core(CFG, dram, [(0, count)], max_cycles=5000)
    ob = CFG.out_elem_bytes
    assert np.array_equal(dram[out_addr + ob:out_addr + 4 * ob], expected_123)
    assert np.array_equal(dram, ref)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_programs_match_fsim(seed):
    """Random valid programs (padding, strides, hazards, every ALU op, no-op transfers) against the whole DRAM
    image of the functional simulator."""
    from rand_program import random_program
    dram, insn_addr, count = random_program(CFG, np.random.default_rng(100 + seed), rounds=2, dram_bytes=1 << 14)
    ref = dram.copy()
    FunctionalSim(CFG).run(ref, insn_addr, count)
    simulate_core(CFG, dram, [(insn_addr, count)], max_cycles=20000)
    assert np.array_equal(dram, ref)


def test_gemm_and_alu_retire_one_uop_per_cycle():
    """Throughput: a 64-uop GEMM and a 64-uop ALU loop (each uop on the entry the previous one wrote) keep the
    compute stage busy only a few cycles longer than one cycle per uop; the perf counters count every uop."""
    from hw_helpers import LAST_REGS

    from vta.hw.regs import Reg
    cfg = CFG
    dram = np.zeros(8192, dtype=np.uint8)
    dram[1024:1028] = encode_uops(cfg, [Uop(dst_idx=3, src_idx=0, wgt_idx=0)])
    prog = [
        Load(memory_type=MemId.UOP, sram_base=0, dram_base=256, y_size=1, x_size=1, x_stride=1),
        Gemm(uop_bgn=0, uop_end=1, iter_out=8, iter_in=8),
        Alu(alu_opcode=AluOp.ADD, use_imm=True, imm=1, uop_bgn=0, uop_end=1, iter_out=8, iter_in=8),
        Finish(),
    ]
    dram[:len(prog) * 16] = encode_program(cfg, prog)
    simulate_core(cfg, dram, [(0, len(prog))], max_cycles=5000)
    assert LAST_REGS[Reg.GEMM_ACTIVE] == 64
    assert LAST_REGS[Reg.ALU_ACTIVE] == 64
    # Compute busy: the UOP load (bus latency) + 128 uop cycles + a few cycles of sequencing per instruction.
    assert LAST_REGS[Reg.COMPUTE_BUSY] < 128 + 40
    assert LAST_REGS[Reg.CTRL] & 2 and not LAST_REGS[Reg.CTRL] & 4


@pytest.mark.parametrize("alu_op", [None, AluOp.ADD, AluOp.MUL])
def test_distance_two_hazards_forwarded(alu_op):
    """Uops alternating between two acc entries (A, B, A, B, …): each uop needs the result of the uop two ahead,
    which is written after its acc read and before it computes (the distance-2 forwarding path)."""
    cfg = CFG
    uops = [Uop(dst_idx=0, src_idx=0, wgt_idx=0), Uop(dst_idx=1, src_idx=1, wgt_idx=0)]
    dram, inp, wgt, acc, loads = staged_operands(cfg, np.random.default_rng(11), 2, 1, 2, uops)
    eb = cfg.elem_bytes
    if alu_op is None:
        work = Gemm(uop_bgn=0, uop_end=2, iter_out=1, iter_in=6)
    else:
        work = Alu(alu_opcode=alu_op, use_imm=True, imm=-3, uop_bgn=0, uop_end=2, iter_out=1, iter_in=6)
    prog = [
        *loads,
        dataclasses.replace(work, push_next_dep=True),
        Store(sram_base=0, dram_base=OUT // eb["out"], y_size=1, x_size=2, x_stride=2, pop_prev_dep=True),
        Finish(),
    ]
    dram[:len(prog) * 16] = encode_program(cfg, prog)
    a = acc.astype(np.int64)
    for _ in range(6):
        for k in range(2):
            if alu_op is None:
                a[k] = wrap32(a[k] + inp[k].astype(np.int64) @ wgt[0].T.astype(np.int64))
            else:
                a[k] = wrap32(a[k] + (-3)) if alu_op == AluOp.ADD else wrap32(a[k] * -3)
    simulate_core(cfg, dram, [(0, len(prog))], max_cycles=5000)
    assert np.array_equal(dram[OUT:OUT + a.size], (a & 0xFF).astype(np.uint8).ravel())


def test_mul_retires_one_uop_every_latency_plus_one_cycles_and_chains_exactly():
    """ALU MUL takes `MulCore.LATENCY` cycles more than the other ops, so a MUL instruction issues a uop every
    LATENCY + 1 cycles (four today): 32 MUL uops on one acc entry (each multiplies the previous result by 3) keep
    compute busy about 32·(LATENCY + 1) cycles, and an ADD instruction right after it sees the last product."""
    from hw_helpers import LAST_REGS

    from vta.hw.regs import Reg
    cfg = CFG
    lanes = cfg.batch * cfg.block_out
    dram = np.zeros(8192, dtype=np.uint8)
    start = np.arange(1, lanes + 1, dtype=np.int32) * -7
    dram[2048:2048 + 4 * lanes] = start.view(np.uint8)
    dram[1024:1028] = encode_uops(cfg, [Uop(dst_idx=0, src_idx=0, wgt_idx=0)])
    eb = cfg.elem_bytes
    prog = [
        Load(memory_type=MemId.UOP, sram_base=0, dram_base=256, y_size=1, x_size=1, x_stride=1),
        Load(memory_type=MemId.ACC, sram_base=0, dram_base=2048 // eb["acc"], y_size=1, x_size=1, x_stride=1),
        Alu(alu_opcode=AluOp.MUL, use_imm=True, imm=3, uop_bgn=0, uop_end=1, iter_out=4, iter_in=8),
        Alu(alu_opcode=AluOp.ADD, use_imm=False, uop_bgn=0, uop_end=1, iter_out=1, iter_in=1, push_next_dep=True),
        Store(sram_base=0, dram_base=4096 // eb["out"], y_size=1, x_size=1, x_stride=1, pop_prev_dep=True),
        Finish(),
    ]
    dram[:len(prog) * 16] = encode_program(cfg, prog)
    simulate_core(cfg, dram, [(0, len(prog))], max_cycles=5000)
    want = start.astype(np.int64)
    for _ in range(32):
        want = wrap32(want * 3)
    want = wrap32(2 * want)
    assert np.array_equal(dram[4096:4096 + lanes], (want & 0xFF).astype(np.uint8))
    assert LAST_REGS[Reg.ALU_ACTIVE] == 33
    busy = LAST_REGS[Reg.COMPUTE_BUSY]
    per_uop = MulCore.LATENCY + 1
    assert per_uop * 32 <= busy < per_uop * 32 + 60, busy


def test_instructions_after_finish_are_not_executed():
    """The stream is cut at the first FINISH: a STORE and a LOAD after it must leave DRAM and SRAM untouched, and
    the next run starts cleanly from a new address."""
    rng = np.random.default_rng(4)
    dram, count, (out_addr, expected) = tiny_program(CFG, rng)
    prog_len = count
    after = [Store(sram_base=0, dram_base=7680 // CFG.out_elem_bytes, y_size=1, x_size=2, x_stride=2),
             Load(memory_type=MemId.UOP, sram_base=0, dram_base=0, y_size=1, x_size=4, x_stride=4), Finish()]
    dram[prog_len * 16:(prog_len + 3) * 16] = encode_program(CFG, after)
    # Second run: only FINISH-free work visible through a STORE of the (unchanged) out buffer.
    check = [Store(sram_base=0, dram_base=7424 // CFG.out_elem_bytes, y_size=1, x_size=2, x_stride=2), Finish()]
    dram[3072:3104] = encode_program(CFG, check)
    ref = dram.copy()
    fs = FunctionalSim(CFG)
    fs.run(ref, 0, prog_len + 3)
    fs.run(ref, 3072, 2)
    simulate_core(CFG, dram, [(0, prog_len + 3), (3072, 2)], max_cycles=5000)
    assert not dram[7680:7680 + expected.size].any()
    assert np.array_equal(dram[7424:7424 + expected.size], expected)
    assert np.array_equal(dram, ref)
