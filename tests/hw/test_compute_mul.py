"""ALU MUL in the compute pipeline (small config, whole core in Amaranth's simulator): MUL uops issue one per cycle
unless one reads an acc entry a MUL fewer than ``MulCore.LATENCY + 1`` cycles ahead of it writes (then R holds it),
and a one-cycle op never follows a MUL that closely. Results against an independent numpy computation and the
functional simulator; issue rate from the compute-busy counter."""

import numpy as np
import pytest
from hw_helpers import LAST_REGS, low8, simulate_core, staged_operands, wrap32

from vta.config import load_config
from vta.hw.mul import MulCore
from vta.hw.regs import Reg
from vta.isa import Alu, AluOp, Finish, Store, Uop, encode_program
from vta.sim.fsim import FunctionalSim

CFG = load_config("small")
OUT = 6144


def run(uops, n_acc, work, rng_seed=0):
    """Stage random acc entries and ``uops``, run ``work`` (a list of GEMM/ALU instructions; the last pushes to
    store), store ``n_acc`` entries; returns (acc before, out bytes, compute-busy cycles). Checked against fsim.
    (out holds only what GEMM/ALU wrote: rows no op wrote stay zero.)"""
    dram, _, _, acc, loads = staged_operands(CFG, np.random.default_rng(rng_seed), 1, 1, n_acc, uops)
    prog = [*loads, *work,
            Store(sram_base=0, dram_base=OUT // CFG.elem_bytes["out"], y_size=1, x_size=n_acc, x_stride=n_acc,
                  pop_prev_dep=True),
            Finish()]
    dram[:len(prog) * 16] = encode_program(CFG, prog)
    ref = dram.copy()
    FunctionalSim(CFG).run(ref, 0, len(prog))
    simulate_core(CFG, dram, [(0, len(prog))], max_cycles=8000)
    assert np.array_equal(dram, ref), "RTL DRAM image differs from the functional simulator's"
    lanes = CFG.batch * CFG.block_out
    out = dram[OUT:OUT + n_acc * lanes].view(np.int8).reshape(n_acc, lanes)
    return acc.reshape(n_acc, lanes).astype(np.int64), out, LAST_REGS[Reg.COMPUTE_BUSY]


@pytest.mark.parametrize("period", [1, 2, 3, 4, 5, 8])
def test_mul_issue_rate_follows_the_distance_to_the_same_entry(period):
    """MUL by an immediate over ``period`` entries in turn (0, 1, …, period − 1, 0, …): a uop reads the entry the
    uop ``period`` ahead wrote, so a round takes max(period, LATENCY + 1) cycles — one uop per cycle from period
    LATENCY + 1 on, a hold for the MUL's result below it — and every product is exact. The rate is the difference
    of compute-busy cycles between 32 and 16 rounds (loads and sequencing cancel)."""
    uops = [Uop(dst_idx=k, src_idx=k, wgt_idx=0) for k in range(period)]
    busy = {}
    for rounds in (16, 32):
        work = [Alu(alu_opcode=AluOp.MUL, use_imm=True, imm=-3, uop_bgn=0, uop_end=period, iter_out=1,
                    iter_in=rounds, push_next_dep=True)]
        acc, out, busy[rounds] = run(uops, period, work)
        want = acc.copy()
        for _ in range(rounds):
            want = wrap32(want * -3)
        assert np.array_equal(out, low8(want))
    assert busy[32] - busy[16] == 16 * max(period, MulCore.LATENCY + 1), busy


def test_mul_reading_src_just_multiplied_waits_for_it():
    """MUL without an immediate, each uop's src the entry the uop before it wrote (a[k+1] ·= a[k], in order): the
    src hazard holds each uop until the product it reads has been written."""
    n = 8
    uops = [Uop(dst_idx=k + 1, src_idx=k, wgt_idx=0) for k in range(n - 1)]
    work = [Alu(alu_opcode=AluOp.MUL, use_imm=False, uop_bgn=0, uop_end=n - 1, iter_out=1, iter_in=1,
                push_next_dep=True)]
    acc, out, _ = run(uops, n, work, rng_seed=3)
    want = acc.copy()
    for k in range(n - 1):
        want[k + 1] = wrap32(want[k + 1] * want[k])
    written = slice(1, n)
    assert np.array_equal(out[written], low8(want[written]))


@pytest.mark.parametrize("follower", ["same entry", "other entry", "reads the product"])
def test_one_cycle_op_right_after_a_held_mul(follower):
    """A MUL chain on entry 0 (each uop held for the one before it), then at once an ADD by an immediate: on entry
    0 (must land after the last product), on entry 1 (must not share W with a MUL), or entry 1 += entry 0 (must
    read the last product)."""
    uops = [Uop(dst_idx=0, src_idx=0, wgt_idx=0), Uop(dst_idx=1, src_idx=1, wgt_idx=0),
            Uop(dst_idx=1, src_idx=0, wgt_idx=0)]
    add = {"same entry": Alu(alu_opcode=AluOp.ADD, use_imm=True, imm=5, uop_bgn=0, uop_end=1, push_next_dep=True),
           "other entry": Alu(alu_opcode=AluOp.ADD, use_imm=True, imm=5, uop_bgn=1, uop_end=2, push_next_dep=True),
           "reads the product": Alu(alu_opcode=AluOp.ADD, use_imm=False, uop_bgn=2, uop_end=3,
                                    push_next_dep=True)}[follower]
    work = [Alu(alu_opcode=AluOp.MUL, use_imm=True, imm=7, uop_bgn=0, uop_end=1, iter_out=1, iter_in=4), add]
    acc, out, _ = run(uops, 2, work, rng_seed=5)
    want = acc.copy()
    want[0] = wrap32(want[0] * 7**4)
    written = [0, 1]
    if follower == "same entry":
        want[0] = wrap32(want[0] + 5)
        written = [0]
    elif follower == "other entry":
        want[1] = wrap32(want[1] + 5)
    else:
        want[1] = wrap32(want[1] + want[0])
    assert np.array_equal(out[written], low8(want[written]))
