"""GEMM requantization by a multiplier (``mult``: the scale ``mult / 2^shift`` is not a power of two): every tile's
last GEMM writes acc only and one ALU MUL by the immediate, requantizing, follows (`vta.jit.ops.conv2d`). Checked
against the independent numpy reference on edge tiles in both acc slots for conv2d, dense and group_conv2d, the
shape of the program, its extra work (one pass), and the refusals: a multiplier outside the immediate and one
whose product with the largest possible sum would wrap int32."""

import jit_reference as ref
import numpy as np
import pytest
from jit_helpers import make_runtime, randint8

import vta
from vta.errors import VTAError
from vta.isa import Alu, AluOp, Gemm
from vta.jit import Conv2dSchedule


@pytest.fixture(scope="module", params=["small", "default"])
def rt(request):
    return make_runtime(vta.load_config(request.param))


def muls(prog):
    return [i for i in prog if isinstance(i, Alu) and i.alu_opcode == AluOp.MUL]


def work(prog):
    return sum(max(0, i.uop_end - i.uop_bgn) * i.iter_out * i.iter_in for i in prog if isinstance(i, (Gemm, Alu)))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("vt", [1, 2])
def test_conv2d_mult_exact_on_edge_tiles(rt, bias, relu, vt):
    rng = np.random.default_rng(30 + vt + 2 * relu + 4 * bias)
    b = rt.cfg.block_out
    o, c = 2 * b + 3, rt.cfg.block_in + 2
    x, w = randint8(rng, (1, c, 9, 7)), randint8(rng, (o, c, 3, 3))
    bv = rng.integers(-40000, 40000, o, dtype=np.int32) if bias else None
    s = Conv2dSchedule(1, 4, 5, 1, 2, vt)
    y, st = rt.conv2d(x, w, bv, padding=1, shift=20, relu=relu, schedule=s, mult=1237)
    want = ref.conv2d(x, w, bv, 1, 1, 20, relu, mult=1237)
    np.testing.assert_array_equal(y, want)
    assert len(np.unique(want)) > 40                      # the result is not all clipped
    prog = list(st.program)
    tiles = 3 * 2 * 2
    m = muls(prog)
    assert len(m) == tiles and all(i.requant and i.use_imm and i.imm == 1237 for i in m)
    assert not any(i.requant for i in prog if isinstance(i, Gemm))


def test_mult_costs_one_pass_and_mult_one_none(rt):
    """A 1×1 layer of one input block: GEMM + bias MOV per output element, plus the MUL pass with a multiplier;
    ``mult=1`` emits the program without one (and equals the plain shift)."""
    rng = np.random.default_rng(41)
    x, w = randint8(rng, (1, 8, 8, 8)), randint8(rng, (20, 8, 1, 1))
    bias = rng.integers(-300, 300, 20, dtype=np.int32)
    s = Conv2dSchedule(1, 2, 8, 1, 1, 2)
    n_acc = -(-20 // rt.cfg.block_out) * 8 * 8
    y1, st1 = rt.conv2d(x, w, bias, shift=3, schedule=s, mult=1)
    np.testing.assert_array_equal(y1, ref.conv2d(x, w, bias, 1, 0, 3, False))
    assert work(st1.program) == 2 * n_acc and not muls(st1.program)
    y, st = rt.conv2d(x, w, bias, shift=9, schedule=s, mult=301)
    np.testing.assert_array_equal(y, ref.conv2d(x, w, bias, 1, 0, 9, False, mult=301))
    assert work(st.program) == 3 * n_acc


def test_dense_and_group_conv2d_with_mult(rt):
    rng = np.random.default_rng(43)
    x, w = randint8(rng, (5, 40)), randint8(rng, (19, 40))
    bias = rng.integers(-3000, 3000, 19, dtype=np.int32)
    y, st = rt.dense(x, w, bias, shift=12, relu=True, mult=2900)
    np.testing.assert_array_equal(y, ref.dense(x, w, bias, 12, True, mult=2900))
    assert muls(st.program)
    xg, wg = randint8(rng, (1, 12, 6, 6)), randint8(rng, (12, 3, 3, 3))
    bg = rng.integers(-500, 500, 12, dtype=np.int32)
    y, _ = rt.group_conv2d(xg, wg, bg, groups=4, padding=1, shift=11, mult=777)
    want = np.concatenate([ref.conv2d(xg[:, 3 * k:3 * k + 3], wg[3 * k:3 * k + 3], bg[3 * k:3 * k + 3], 1, 1, 11,
                                      False, mult=777) for k in range(4)], axis=1)
    np.testing.assert_array_equal(y, want)


def test_mult_refusals(rt):
    """Outside the signed 16-bit immediate, or a product that could pass int32 for some int8 input: refused
    before anything runs, naming the limit. At the limit it runs exactly."""
    rng = np.random.default_rng(47)
    x, w = randint8(rng, (4, 64)), randint8(rng, (16, 64))
    for bad in (0, -3, 32768, 2.5, True):
        with pytest.raises(VTAError, match="mult must be an integer in 1..32767"):
            rt.dense(x, w, None, shift=5, mult=bad)
    bound = 128 * int(np.abs(w.astype(np.int64)).sum(axis=1).max()) + 1000
    bias = np.full(16, -1000, np.int32)
    top = ((1 << 31) - 1) // bound
    with pytest.raises(VTAError, match=f"exceeds int32.*mult must be ≤ {top}"):
        rt.dense(x, w, bias, shift=20, mult=top + 1)
    # the worst input for channel 0 reaches the bound: exact at the limit
    x[0] = np.where(w[0] >= 0, -128, 127).astype(np.int8)
    x[0][w[0] < 0] = 127
    y, _ = rt.dense(x, w, bias, shift=24, mult=top)
    np.testing.assert_array_equal(y, ref.dense(x, w, bias, 24, False, mult=top))
