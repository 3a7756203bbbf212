"""The one-pass epilogue of conv2d (`vta.jit.ops.conv2d`, module docstring): one SETQ per call, a tile's acc starts
at its bias through one ALU MOV (a reset GEMM without a bias), and the tile's last GEMM writes out requantized —
no SHR/MAX/MIN passes. Checked against the independent numpy reference on edge tiles in both acc slots, with and
without bias and ReLU, shift 0 and 31, biases and sums near the int32 limits, and garbage left in acc SRAM."""

import jit_reference as ref
import numpy as np
import pytest
from jit_helpers import make_runtime, randint8

import vta
from vta.isa import Alu, AluOp, Gemm
from vta.jit import Conv2dSchedule


@pytest.fixture(scope="module", params=["small", "default"])
def rt(request):
    return make_runtime(vta.load_config(request.param))


def alu_ops(prog):
    return [i.alu_opcode for i in prog if isinstance(i, Alu)]


def work(prog):
    """uop-iterations of the GEMM and ALU words: the compute stage's cycles, one per acc element per pass."""
    return sum(max(0, i.uop_end - i.uop_bgn) * i.iter_out * i.iter_in for i in prog if isinstance(i, (Gemm, Alu)))


def check_shape(prog, tiles, shift, relu, bias):
    """One SETQ (shift, relu) before any requant word; per tile one start (MOV from the bias rows or a reset GEMM)
    and one requantizing GEMM, its last; no other ALU word."""
    setq = [i for i in prog if isinstance(i, Alu) and i.alu_opcode == AluOp.SETQ]
    assert len(setq) == 1 and setq[0].use_imm and setq[0].imm == shift + 32 * relu
    first_requant = next(k for k, i in enumerate(prog) if getattr(i, "requant", False))
    assert prog.index(setq[0]) < first_requant
    ops = alu_ops(prog)
    assert ops.count(AluOp.MOV) == (tiles if bias else 0)
    assert len(ops) == 1 + ops.count(AluOp.MOV)                 # SETQ and the MOVs: no shift or clip pass
    gemms = [i for i in prog if isinstance(i, Gemm)]
    resets = [i for i in gemms if i.reset_reg]
    assert len(resets) == (0 if bias else tiles)
    assert sum(i.requant for i in gemms) == tiles and not any(i.requant for i in resets)
    # each tile: its start, its GEMM chunks, the last one requantizing
    starts = [k for k, i in enumerate(prog) if (isinstance(i, Alu) and i.alu_opcode == AluOp.MOV)
              or (isinstance(i, Gemm) and i.reset_reg)]
    for a, b in zip(starts, starts[1:] + [len(prog)]):
        tile = [i for i in prog[a + 1:b] if isinstance(i, Gemm)]
        assert tile and tile[-1].requant and not any(i.requant for i in tile[:-1])


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("vt", [1, 2])
def test_one_pass_epilogue_exact_on_edge_tiles(rt, bias, relu, vt):
    """Tiles that do not divide the output (a later tile of a slot larger than its first) in both slots, two
    input-channel chunks per tile (only the second GEMM requantizes)."""
    rng = np.random.default_rng(7 + vt + 2 * relu + 4 * bias)
    b = rt.cfg.block_out
    o = 2 * b + 3                      # 3 output blocks: tile_co 2 leaves an edge tile of 1 block
    c = rt.cfg.block_in + 2            # 2 input blocks: tile_ci 1 gives two chunks per tile
    x, w = randint8(rng, (1, c, 9, 7)), randint8(rng, (o, c, 3, 3))
    bv = rng.integers(-40000, 40000, o, dtype=np.int32) if bias else None
    s = Conv2dSchedule(1, 4, 5, 1, 2, vt)   # 9×7 output: edge tiles along rows and columns too
    y, st = rt.conv2d(x, w, bv, padding=1, shift=7, relu=relu, schedule=s)
    np.testing.assert_array_equal(y, ref.conv2d(x, w, bv, 1, 1, 7, relu))
    check_shape(list(st.program), 3 * 2 * 2, 7, relu, bias)      # rows × cols × channel tiles


@pytest.mark.parametrize("case", ["shift0", "shift31", "huge_bias", "wrap"])
def test_requant_extremes(rt, case):
    """Shift 0 (a plain clip), shift 31, a bias near 2^30 and sums that wrap int32 (the acc wraps; the reference
    wraps the same way before its shift): out is the reference's clip of the int32 result."""
    rng = np.random.default_rng(13)
    x, w = randint8(rng, (1, 6, 5, 5)), randint8(rng, (7, 6, 3, 3))
    bias = rng.integers(-1000, 1000, 7, dtype=np.int32)
    shift, relu = 5, case == "huge_bias"
    if case == "shift0":
        shift = 0
        x, w = (x // 16).astype(np.int8), (w // 16).astype(np.int8)   # small sums: the output is not all clipped
    elif case == "shift31":
        shift = 31
        bias[:] = np.where(np.arange(7) % 2, (1 << 31) - 1, -(1 << 31) + 50000)   # ±2^31 >> 31: 0 and -1
    elif case == "huge_bias":
        bias[0], bias[1] = (1 << 30) + 12345, -(1 << 30)
        shift = 22
    else:
        bias[:] = (1 << 31) - 100          # Σ + bias wraps past 2^31 for positive sums
        shift = 20
    y, st = rt.conv2d(x, w, bias, padding=1, shift=shift, relu=relu)
    np.testing.assert_array_equal(y, ref.conv2d(x, w, bias, 1, 1, shift, relu))
    assert AluOp.SHR not in alu_ops(st.program)
    if case == "shift31":
        assert set(np.unique(y)) <= {0, -1} and (y == 0).any() and (y == -1).any()


def test_epilogue_ignores_what_acc_held_before(rt):
    """Every tile's acc starts with a MOV (or reset) that overwrites it, so values left by earlier work (here the
    most negative int32) do not leak into the result."""
    if not hasattr(rt.device, "acc"):
        pytest.skip("the device does not expose its acc SRAM")
    rng = np.random.default_rng(11)
    x, w = randint8(rng, (1, 5, 6, 6)), randint8(rng, (9, 5, 1, 1))
    bias = rng.integers(-500, 500, 9, dtype=np.int32)
    for b in (bias, None):
        rt.device.acc[:] = np.iinfo(np.int32).min
        y, _ = rt.conv2d(x, w, b, shift=4, schedule=Conv2dSchedule(1, 2, 6, 1, 1, 2))
        np.testing.assert_array_equal(y, ref.conv2d(x, w, b, 1, 0, 4, False))


def test_epilogue_costs_one_pass_per_output_element(rt):
    """The work of the compute stage: one GEMM step and one bias MOV per output element of a 1×1 layer of one
    input block (the SETQ iterates nothing); without a bias the reset GEMM instead of the MOV."""
    rng = np.random.default_rng(17)
    x, w = randint8(rng, (1, 8, 8, 8)), randint8(rng, (20, 8, 1, 1))
    bias = rng.integers(-300, 300, 20, dtype=np.int32)
    s = Conv2dSchedule(1, 2, 8, 1, 1, 2)
    n_acc = -(-20 // rt.cfg.block_out) * 8 * 8        # output elements: channel blocks × 8×8 pixels (1 input block)
    for b in (bias, None):
        y, st = rt.conv2d(x, w, b, shift=3, schedule=s)
        np.testing.assert_array_equal(y, ref.conv2d(x, w, b, 1, 0, 3, False))
        assert work(st.program) == 2 * n_acc


def test_dense_and_matmul_use_the_one_pass_epilogue(rt):
    """dense and matmul run through the same conv machinery: exact, and no shift or clip pass."""
    rng = np.random.default_rng(23)
    x, w = randint8(rng, (5, 40)), randint8(rng, (19, 40))
    bias = rng.integers(-3000, 3000, 19, dtype=np.int32)
    y, st = rt.dense(x, w, bias, shift=6, relu=True)
    np.testing.assert_array_equal(y, ref.dense(x, w, bias, 6, True))
    assert set(alu_ops(st.program)) == {AluOp.SETQ, AluOp.MOV}
    a, bm = randint8(rng, (3, 4, 20)), randint8(rng, (3, 20, 9))
    y, st = rt.matmul(a, bm, shift=5)
    want = np.clip((np.einsum("gnk,gkm->gnm", a.astype(np.int64), bm.astype(np.int64))) >> 5, -128, 127)
    np.testing.assert_array_equal(y, want)
    assert set(alu_ops(st.program)) == {AluOp.SETQ}
