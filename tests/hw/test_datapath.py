"""The GEMM and tensor-ALU datapaths against numpy, lane by lane, on the small config (MUL: the pipelined
`MulCore`, result `MulCore.LATENCY` clocks after its operands; the others are combinational)."""

import re

import numpy as np
import pytest
from amaranth.sim import Simulator
from hw_helpers import wrap32

from vta.config import load_config
from vta.hw.alu import AluCore
from vta.hw.gemm import GemmCore
from vta.hw.mul import MulCore
from vta.isa import AluOp

CFG = load_config("small")
LANES = CFG.batch * CFG.block_out


def pack(values, width):
    word = 0
    for k, v in enumerate(values):
        word |= (int(v) & ((1 << width) - 1)) << (k * width)
    return word


def unpack_i32(word, n):
    out = []
    for k in range(n):
        v = (word >> (32 * k)) & 0xFFFFFFFF
        out.append(v - (1 << 32) if v >> 31 else v)
    return np.array(out, dtype=np.int64)


def comb_eval(dut, cases):
    """Apply each dict of inputs, collect ``result``."""
    results = []

    async def bench(ctx):
        for inputs in cases:
            for k, v in inputs.items():
                ctx.set(getattr(dut, k), v)
            results.append(ctx.get(dut.result))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return results


def clocked_eval(dut, cases, latency=MulCore.LATENCY):
    """Present each dict of inputs for one clock; ``result`` ``latency`` clocks later belongs to it (the inputs
    are changed before reading it, so a shorter path from the inputs would show)."""
    results = []

    async def bench(ctx):
        for inputs in cases:
            for k, v in inputs.items():
                ctx.set(getattr(dut, k), v)
            await ctx.tick()
            for k, v in inputs.items():
                ctx.set(getattr(dut, k), v ^ 0x5A5A if k in ("dst", "src") else v)
            for _ in range(latency - 1):
                await ctx.tick()
            results.append(ctx.get(dut.result))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return results


def ref_alu(op, a, b):
    a, b = a.astype(np.int64), b.astype(np.int64)
    if op == AluOp.MIN:
        return np.minimum(a, b)
    if op == AluOp.MAX:
        return np.maximum(a, b)
    if op == AluOp.ADD:
        return wrap32(a + b)
    if op == AluOp.MUL:
        return wrap32(a * b)
    if op == AluOp.MOV:
        return b
    amt = (b & 63) - ((b & 32) << 1)  # low 6 bits as signed
    out = []
    for x, s in zip(a, amt):
        out.append(x >> int(s) if s >= 0 else wrap32(int(x) << int(-s)))
    return np.array(out, dtype=np.int64)


EDGES = np.array([0, 1, -1, 2**31 - 1, -2**31, 12345, -9876, 31, 32, -32, -33, 63, 64, 100000, -100000, 7],
                 dtype=np.int64)


@pytest.mark.parametrize("op", [op for op in AluOp if op != AluOp.SETQ])   # SETQ issues no uop: no datapath
def test_alu_op_tensor_and_imm(op):
    rng = np.random.default_rng(int(op.value))
    dut = MulCore(CFG) if op == AluOp.MUL else AluCore(CFG)
    cases, expected = [], []
    for t in range(12):
        if t < 2:
            a = EDGES[(np.arange(LANES) + 3 * t) % len(EDGES)]
            b = EDGES[(np.arange(LANES) * 5 + t) % len(EDGES)]
        else:
            a = rng.integers(-2**31, 2**31, LANES)
            b = rng.integers(-2**31, 2**31, LANES) if t % 2 else rng.integers(-40, 40, LANES)
        use_imm = t % 3 == 2
        imm = int(rng.integers(-2**15, 2**15)) if op != AluOp.SHR else int(rng.integers(-40, 40))
        bb = np.full(LANES, imm) if use_imm else b
        cases.append(dict(use_imm=use_imm, imm=imm, dst=pack(a, 32), src=pack(b, 32)))
        if op != AluOp.MUL:
            cases[-1]["op"] = op
        expected.append(ref_alu(op, a, bb))
    evaluate = clocked_eval if op == AluOp.MUL else comb_eval
    for got, want in zip(evaluate(dut, cases), expected):
        assert np.array_equal(unpack_i32(got, LANES), want)


def test_shr_amount_rule():
    """SHR reads the low 6 bits of b as signed: 33 ≡ −31 (left 31), −32 gives 0, 64 ≡ 0 (copy)."""
    dut = AluCore(CFG)
    a = np.full(LANES, -12345678)
    cases = [dict(op=AluOp.SHR, use_imm=1, imm=imm, dst=pack(a, 32), src=0) for imm in (0, 3, 31, 33, -32, 64, -1)]
    got = [unpack_i32(r, LANES)[0] for r in comb_eval(dut, cases)]
    assert got == [-12345678, -12345678 >> 3, -1, int(wrap32(-12345678 << 31)), 0, -12345678,
                   int(wrap32(-12345678 << 1))]


def test_gemm_dot_products_and_reset():
    rng = np.random.default_rng(5)
    dut = GemmCore(CFG)
    cases, expected = [], []
    for t in range(6):
        inp = rng.integers(-128, 128, CFG.inp_shape)
        wgt = rng.integers(-128, 128, CFG.wgt_shape)
        if t == 0:
            inp[:] = -128
            wgt[:] = -128  # largest products
        acc = rng.integers(-2**31, 2**31, CFG.acc_shape)
        if t == 1:
            acc[:] = 2**31 - 1  # wraps
        reset = t == 5
        cases.append(dict(inp=pack(inp.ravel(), 8), wgt=pack(wgt.ravel(), 8), acc=pack(acc.ravel(), 32),
                          reset=reset))
        expected.append(np.zeros(LANES, dtype=np.int64) if reset else wrap32(acc + inp @ wgt.T).ravel())
    for got, want in zip(comb_eval(dut, cases), expected):
        assert np.array_equal(unpack_i32(got, LANES), want)


def test_gemm_inp_per_lane_reads_each_lanes_own_copy():
    """``inp_per_lane``: output lane ``o`` multiplies copy ``o`` of the input vector — different random copies per
    lane give, lane by lane, numpy's dot product of that lane's copy (one mixed-up copy would change a lane)."""
    rng = np.random.default_rng(11)
    dut = GemmCore(CFG, inp_per_lane=True)
    cases, expected = [], []
    for _ in range(4):
        copies = rng.integers(-128, 128, (CFG.block_out, *CFG.inp_shape))
        wgt = rng.integers(-128, 128, CFG.wgt_shape)
        acc = rng.integers(-2**31, 2**31, CFG.acc_shape)
        cases.append(dict(inp=pack(copies.ravel(), 8), wgt=pack(wgt.ravel(), 8), acc=pack(acc.ravel(), 32),
                          reset=0))
        want = np.array([[(copies[o][b] @ wgt[o]) for o in range(CFG.block_out)] for b in range(CFG.batch)])
        expected.append(wrap32(acc + want).ravel())
    for got, want in zip(comb_eval(dut, cases), expected):
        assert np.array_equal(unpack_i32(got, LANES), want)


# MUL's operand edges: 0, ±1, the int32 extremes, and the byte and half-word boundaries where `MulCore` splits its
# operands into partial products (carries out of each partial must land in the next).
MUL_EDGES = np.array([0, 1, -1, 2, 2**31 - 1, -2**31, -2**31 + 1, 0xFF, 0x100, 0xFFFF, 0x10000, 0xFFFFFF, 0x1000000,
                      0x7FFF7FFF, -0x100, -0x10000, 0x00FF00FF, -0x00FF00FF, 0x55AA55AA, -0x55AA55AB], dtype=np.int64)


def test_mul_edges_back_to_back_against_numpy():
    """Every pair of MUL_EDGES plus random operands, a new pair every clock (the core is fully pipelined): each
    ``result`` equals numpy's int64 product mod 2³² (as int32), `MulCore.LATENCY` clocks after its operands, within
    a budget of one clock per pair plus the latency."""
    rng = np.random.default_rng(9)
    pairs = np.array(np.meshgrid(MUL_EDGES, MUL_EDGES)).reshape(2, -1).T
    pairs = np.concatenate([pairs, rng.integers(-2**31, 2**31, (64, 2))])
    n = -(-len(pairs) // LANES) * LANES
    pairs = np.concatenate([pairs, pairs[:n - len(pairs)]])
    a, b = pairs[:, 0].reshape(-1, LANES), pairs[:, 1].reshape(-1, LANES)
    want = ((a * b) % (1 << 32) + (1 << 31)) % (1 << 32) - (1 << 31)     # int64: |a·b| ≤ 2⁶², no overflow
    dut = MulCore(CFG)
    results = {}
    budget = len(a) + MulCore.LATENCY

    async def bench(ctx):
        ctx.set(dut.use_imm, 0)
        for cycle in range(budget):
            if cycle < len(a):
                ctx.set(dut.dst, pack(a[cycle], 32))
                ctx.set(dut.src, pack(b[cycle], 32))
            else:
                ctx.set(dut.dst, 0x5A5A5A5A)     # no stale operand can pass for a result
                ctx.set(dut.src, 0x3C3C3C3C)
            if cycle >= MulCore.LATENCY:
                results[cycle - MulCore.LATENCY] = unpack_i32(ctx.get(dut.result), LANES)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(results) == len(a), f"{len(results)} of {len(a)} results within {budget} clocks"
    for k in range(len(a)):
        assert np.array_equal(results[k], want[k]), (k, a[k], b[k], results[k], want[k])


def test_compute_keeps_per_lane_inp_copies_only_for_a_platform():
    """The per-lane inp registers are a place-and-route aid: elaborated for an FPGA platform, compute holds one
    ``e2_inp_<lane>`` copy per output lane; without a platform (Verilator, Amaranth's simulator) a single one."""
    from amaranth.back import rtlil
    from amaranth.hdl import Fragment

    from vta.hw.compute import Compute

    boards = pytest.importorskip("amaranth_boards.ulx3s", reason="needs amaranth-boards for an ECP5 platform")

    def inp_copies(platform):
        text = rtlil.convert_fragment(Fragment.get(Compute(CFG), platform), emit_src=False)[0]
        return {int(n) for n in re.findall(r"\\e2_inp_(\d+)\b", text)}

    assert CFG.block_out > 1
    assert inp_copies(None) == {0}
    assert inp_copies(boards.ULX3S_85F_Platform()) == set(range(CFG.block_out))
