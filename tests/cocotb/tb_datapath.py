"""cocotb tests of the datapaths `GemmCore`, `AluCore` (combinational) and `MulCore` (ALU MUL, result
`MulCore.LATENCY` clocks after its operands) against numpy references.

All three are exported from one wrapper (`harnesses.DatapathHarness`: ``gemm__*``, ``alu__*``, ``mul__*``) so a
single Verilator build covers them. The config comes from the pytest side (BATCH 2 × BLOCK_IN 8 × BLOCK_OUT 4 by
default, so a transposed lane order cannot pass). References are computed here in int64 numpy and wrapped by hand.
"""

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge, Timer
from cocotb_helpers import pack, start_clock_and_reset, tb_config, tb_seed, unpack

from vta.hw.mul import MulCore
from vta.isa.opcodes import AluOp

SETTLE = (1, "ns")


def int32s(rng, shape):
    """Uniformly random int32 values of ``shape`` (an int: that many lanes)."""
    return rng.integers(-(1 << 31), 1 << 31, shape)


def gemm_ref(inp, wgt, acc, reset):
    """acc + inp @ wgt.T per (batch, out) lane, wrapped to int32; zeros on reset."""
    if reset:
        return np.zeros_like(acc)
    r = acc.astype(np.int64) + inp.astype(np.int64) @ wgt.astype(np.int64).T
    return ((r + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int64)


async def gemm_apply(dut, cfg, inp, wgt, acc, reset):
    dut.gemm__inp.value = pack(inp, cfg.inp_width)
    dut.gemm__wgt.value = pack(wgt, cfg.wgt_width)
    dut.gemm__acc.value = pack(acc, cfg.acc_width)
    dut.gemm__reset.value = int(reset)
    await Timer(*SETTLE)
    got = unpack(dut.gemm__result.value, cfg.acc_width, cfg.batch * cfg.block_out)
    return np.array(got, dtype=np.int64).reshape(cfg.acc_shape)


def check(got, want, what):
    if not np.array_equal(got, want):
        raise AssertionError(f"{what}:\n got  {got.tolist()}\n want {want.tolist()}")


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def gemm_random_operands(dut):
    """Random int8 operands and int32 accumulators (wrap-around included) against numpy."""
    cfg = tb_config()
    rng = np.random.default_rng(tb_seed())
    for n in range(300):
        inp = rng.integers(-128, 128, cfg.inp_shape)
        wgt = rng.integers(-128, 128, cfg.wgt_shape)
        acc = int32s(rng, cfg.acc_shape)
        check(await gemm_apply(dut, cfg, inp, wgt, acc, False), gemm_ref(inp, wgt, acc, False), f"vector {n}")


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def gemm_extremes_and_lane_order(dut):
    """-128·-128 sums on top of INT32_MAX (wraps), a one-hot pattern per lane (catches swapped lanes), reset."""
    cfg = tb_config()
    inp = np.full(cfg.inp_shape, -128)
    wgt = np.full(cfg.wgt_shape, -128)
    for a in (2**31 - 1, -(2**31), 0, -1):
        acc = np.full(cfg.acc_shape, a)
        check(await gemm_apply(dut, cfg, inp, wgt, acc, False), gemm_ref(inp, wgt, acc, False), f"acc {a}")
    inp = np.full(cfg.inp_shape, 127)
    wgt = np.full(cfg.wgt_shape, -128)
    acc = np.full(cfg.acc_shape, -(2**31))
    check(await gemm_apply(dut, cfg, inp, wgt, acc, False), gemm_ref(inp, wgt, acc, False), "min acc + negative")
    for b in range(cfg.batch):
        for o in range(cfg.block_out):
            for k in range(cfg.block_in):
                inp = np.zeros(cfg.inp_shape, dtype=np.int64)
                wgt = np.zeros(cfg.wgt_shape, dtype=np.int64)
                acc = np.arange(cfg.batch * cfg.block_out).reshape(cfg.acc_shape) * 1000
                inp[b, k] = 3 + b
                wgt[o, k] = 5 + o + 7 * k
                check(await gemm_apply(dut, cfg, inp, wgt, acc, False), gemm_ref(inp, wgt, acc, False),
                      f"one-hot b={b} o={o} k={k}")
    rng = np.random.default_rng(7)
    for _ in range(10):
        inp = rng.integers(-128, 128, cfg.inp_shape)
        wgt = rng.integers(-128, 128, cfg.wgt_shape)
        acc = int32s(rng, cfg.acc_shape)
        check(await gemm_apply(dut, cfg, inp, wgt, acc, True), np.zeros(cfg.acc_shape, dtype=np.int64), "reset")


# -- ALU -----------------------------------------------------------------------------------------------------------

def w32(x):
    return (int(x) + (1 << 31)) % (1 << 32) - (1 << 31)


def shr_ref(a, b):
    """docs/semantics.md: amount = low 6 bits of b as signed a ∈ [−32, 31]; ≥ 0: arithmetic right shift;
    < 0: left shift by −a, wrapped to 32 bits."""
    amt = b & 63
    if amt >= 32:
        amt -= 64
    return a >> amt if amt >= 0 else w32(a << -amt)


ALU_REF = {
    AluOp.MIN: lambda a, b: min(a, b),
    AluOp.MAX: lambda a, b: max(a, b),
    AluOp.ADD: lambda a, b: w32(a + b),
    AluOp.MUL: lambda a, b: w32(a * b),
    AluOp.SHR: shr_ref,
    AluOp.MOV: lambda a, b: b,
}
LANE_OPS = [op for op in AluOp if op != AluOp.SETQ]   # SETQ issues no uop: it never reaches a datapath


async def alu_apply(dut, cfg, op, dst, src, use_imm, imm):
    """Present the operands to `AluCore` (read back after settling) or, for MUL, to `MulCore` (read back after
    `MulCore.LATENCY` clock edges, with the operands changed after the first, so a shorter path would show)."""
    lanes = cfg.batch * cfg.block_out
    unit = "mul" if op == AluOp.MUL else "alu"
    if unit == "alu":
        dut.alu__op.value = int(op.value)
    operands = dict(use_imm=int(use_imm), imm=imm & 0xFFFF, dst=pack(dst, cfg.acc_width),
                    src=pack(src, cfg.acc_width))
    for name, value in operands.items():
        getattr(dut, f"{unit}__{name}").value = value
    if unit == "mul":                   # `MulCore`: the result LATENCY clocks after its operands
        await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
        dut.mul__dst.value = operands["dst"] ^ 0x5A5A5A5A
        dut.mul__src.value = operands["src"] ^ 0x3C3C3C3C
        for _ in range(MulCore.LATENCY - 1):
            await RisingEdge(dut.clk)
            await FallingEdge(dut.clk)
    await Timer(*SETTLE)
    return unpack(getattr(dut, f"{unit}__result").value, cfg.acc_width, lanes)


def alu_expect(op, dst, src, use_imm, imm):
    b = [imm] * len(dst) if use_imm else list(src)
    return [ALU_REF[op](int(a), int(x)) for a, x in zip(dst, b)]


async def alu_start(dut, seed):
    """Clock and reset (for `MulCore`); returns the config, its lane count and a numpy generator seeded ``seed``."""
    await start_clock_and_reset(dut)
    cfg = tb_config()
    return cfg, cfg.batch * cfg.block_out, np.random.default_rng(seed)


async def alu_case(dut, cfg, op, dst, src, use_imm, imm, what):
    got = await alu_apply(dut, cfg, op, dst, src, use_imm, imm)
    want = alu_expect(op, dst, src, use_imm, imm)
    if got != want:
        raise AssertionError(f"{op.name} {what} use_imm={use_imm} imm={imm}\n dst  {list(map(int, dst))}\n"
                             f" src  {list(map(int, src))}\n got  {got}\n want {want}")


EDGE = [0, 1, -1, 2, 127, -128, 255, 2**15 - 1, -(2**15), 2**31 - 1, -(2**31), 0x12345678, -0x12345678]


@cocotb.test(timeout_time=5, timeout_unit="ms")
async def alu_tensor_operands(dut):
    """Every op with a tensor (src) operand: random int32 lanes, edge values, results wrap to 32 bits."""
    cfg, lanes, rng = await alu_start(dut, tb_seed() + 1)
    for op in LANE_OPS:
        for n in range(60):
            dst = int32s(rng, lanes)
            src = int32s(rng, lanes)
            if n % 3 == 1:
                dst = rng.choice(EDGE, lanes)
                src = rng.choice(EDGE, lanes)
            await alu_case(dut, cfg, op, dst, src, False, 0x5A5A - (1 << 16), f"tensor #{n}")


@cocotb.test(timeout_time=5, timeout_unit="ms")
async def alu_immediate_operands(dut):
    """Every op with a sign-extended 16-bit immediate, including -32768, 32767 and -1; src must be ignored."""
    cfg, lanes, rng = await alu_start(dut, tb_seed() + 2)
    imms = [0, 1, -1, 7, -7, 31, -32, 32767, -32768, 0x7F00, -0x7F01]
    for op in LANE_OPS:
        for n, imm in enumerate(imms + rng.integers(-(1 << 15), 1 << 15, 20).tolist()):
            dst = int32s(rng, lanes)
            if n % 2:
                dst = rng.choice(EDGE, lanes)
            src = int32s(rng, lanes)   # garbage on the unused operand
            await alu_case(dut, cfg, op, dst, src, True, int(imm), f"imm #{n}")


@cocotb.test(timeout_time=5, timeout_unit="ms")
async def alu_shr_every_amount(dut):
    """SHR by every amount b ∈ [-40, 40] plus large b whose low 6 bits decide (64 → 0, 96 → −32, −33 → 31),
    as a tensor operand and as an immediate; -32 shifts everything out (0)."""
    cfg, lanes, rng = await alu_start(dut, tb_seed() + 3)
    amounts = list(range(-40, 41)) + [64, 65, 95, 96, 127, -64, -65, 1000, -1000, 32767, -32768]
    for amt in amounts:
        dst = int32s(rng, lanes)
        dst[0], dst[-1] = -1, -(2**31)
        await alu_case(dut, cfg, AluOp.SHR, dst, [0] * lanes, True, amt, "imm amount")
        src = int32s(rng, lanes)
        src = (src & ~63) | (amt & 63)                      # high bits random, low 6 bits the amount
        await alu_case(dut, cfg, AluOp.SHR, dst, src, False, 0, f"tensor amount {amt}")
    # per-lane different amounts
    for _ in range(20):
        dst = int32s(rng, lanes)
        src = rng.integers(-64, 64, lanes)
        await alu_case(dut, cfg, AluOp.SHR, dst, src, False, 0, "mixed amounts")
