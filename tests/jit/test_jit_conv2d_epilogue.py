"""The fused bias epilogue of conv2d (`vta.jit.ops.conv2d`, module docstring): a tile's acc starts at ``bias − k``
through one ALU MIN instead of a reset and a bias ADD. Checked against the independent numpy reference where it
applies (edge tiles, both signs of bias, garbage left in acc SRAM by earlier work) and where it must not (shift 0,
a bias or weights so large that the offset sums could wrap int32)."""

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


def resets(prog):
    return [i for i in prog if isinstance(i, Gemm) and i.reset_reg]


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("vt", [1, 2])
def test_fused_bias_exact_on_edge_tiles(rt, relu, vt):
    """Tiles that do not divide the output (a later tile of a slot larger than its first) in both slots."""
    rng = np.random.default_rng(7 + vt + 2 * relu)
    b = rt.cfg.block_out
    o = 2 * b + 3                      # 3 output blocks: tile_co 2 leaves an edge tile of 1 block
    x, w = randint8(rng, (1, 10, 9, 7)), randint8(rng, (o, 10, 3, 3))
    bias = rng.integers(-40000, 40000, o, dtype=np.int32)
    s = Conv2dSchedule(1, 4, 5, 1, 2, vt)   # 9×7 output: edge tiles along rows and columns too
    y, st = rt.conv2d(x, w, bias, padding=1, shift=7, relu=relu, schedule=s)
    np.testing.assert_array_equal(y, ref.conv2d(x, w, bias, 1, 1, 7, relu))
    ops = alu_ops(st.program)
    assert AluOp.ADD not in ops                       # the bias went in through the MIN that starts each tile
    tiles = 3 * 2 * 2                                 # rows × cols × channel tiles
    assert ops.count(AluOp.MIN) == 2 * tiles          # start (bias − k) and the upper clip
    assert len(resets(st.program)) == vt              # one reset per acc slot, at its first use


def test_fused_bias_ignores_what_acc_held_before(rt):
    """The acc slots are reset once at their first use in the stream, so values left by earlier work (here the
    most negative int32, which a MIN could not replace) do not leak into the result."""
    if not hasattr(rt.device, "acc"):
        pytest.skip("the device does not expose its acc SRAM")
    rng = np.random.default_rng(11)
    x, w = randint8(rng, (1, 5, 6, 6)), randint8(rng, (9, 5, 1, 1))
    bias = rng.integers(-500, 500, 9, dtype=np.int32)
    rt.device.acc[:] = np.iinfo(np.int32).min
    y, _ = rt.conv2d(x, w, bias, shift=4, schedule=Conv2dSchedule(1, 2, 6, 1, 1, 2))
    np.testing.assert_array_equal(y, ref.conv2d(x, w, bias, 1, 0, 4, False))


@pytest.mark.parametrize("case", ["shift0", "huge_bias", "wrap_risk"])
def test_plain_epilogue_where_fusing_is_unsafe(rt, case):
    """Shift 0 (no multiple of 2^shift to hide the offset in), a bias whose offset would not fit the 16-bit clip
    immediates, and sums that could wrap int32 once offset keep the reset + bias ADD epilogue, still exact."""
    rng = np.random.default_rng(13)
    x, w = randint8(rng, (1, 6, 5, 5)), randint8(rng, (7, 6, 3, 3))
    bias = rng.integers(-1000, 1000, 7, dtype=np.int32)
    shift = 5
    if case == "shift0":
        shift = 0
        x, w = (x // 16).astype(np.int8), (w // 16).astype(np.int8)   # small sums: the output is not all clipped
    elif case == "huge_bias":
        bias[0] = 1 << 28                  # m ≈ 2^28 / 2^5 > 2^15: the clip immediates would not fit
    else:
        shift = 30                         # k = 256·2^30 = 2^38: any offset would wrap
        bias[1] = (1 << 30) + 12345
    y, st = rt.conv2d(x, w, bias, padding=1, shift=shift, relu=False)
    np.testing.assert_array_equal(y, ref.conv2d(x, w, bias, 1, 1, shift, False))
    assert AluOp.ADD in alu_ops(st.program)


def test_fused_bias_saves_one_alu_pass_per_output_element(rt):
    """The work of the compute stage (uop-iterations of GEMM and ALU instructions): one GEMM step, then MIN, SHR,
    MAX, MIN per output element plus one reset of each acc slot when fused; reset, GEMM, ADD, SHR, MAX, MIN per
    element in the plain epilogue (forced here by one huge bias)."""
    rng = np.random.default_rng(17)
    x, w = randint8(rng, (1, 8, 8, 8)), randint8(rng, (20, 8, 1, 1))
    bias = rng.integers(-300, 300, 20, dtype=np.int32)
    huge = bias.copy()
    huge[3] = 1 << 28
    s = Conv2dSchedule(1, 2, 8, 1, 1, 2)

    def work(prog):
        return sum((i.uop_end - i.uop_bgn) * i.iter_out * i.iter_in for i in prog if isinstance(i, (Gemm, Alu)))

    y1, fused = rt.conv2d(x, w, bias, shift=3, schedule=s)
    y0, plain = rt.conv2d(x, w, huge, shift=3, schedule=s)
    np.testing.assert_array_equal(y1, ref.conv2d(x, w, bias, 1, 0, 3, False))
    np.testing.assert_array_equal(y0, ref.conv2d(x, w, huge, 1, 0, 3, False))
    n_acc = -(-20 // rt.cfg.block_out) * 8 * 8        # output elements: channel blocks × 8×8 pixels (1 input block)
    slot = 2 * 8                                       # acc elements of one tile (tile_co 1, 2×8 pixels)
    assert work(fused.program) == 5 * n_acc + 2 * slot
    assert work(plain.program) == 6 * n_acc


def test_runtime_can_keep_the_plain_epilogue():
    """``Runtime(fuse_bias=False)`` (for comparisons) keeps reset + bias ADD on a layer that would fuse; same output."""
    rng = np.random.default_rng(19)
    x, w = randint8(rng, (1, 6, 5, 5)), randint8(rng, (7, 6, 3, 3))
    bias = rng.integers(-1000, 1000, 7, dtype=np.int32)
    outs = {}
    for fuse in (True, False):
        rt = make_runtime(vta.load_config("small"), fuse_bias=fuse)
        y, st = rt.conv2d(x, w, bias, padding=1, shift=6, relu=True)
        outs[fuse] = y
        assert (AluOp.ADD in alu_ops(st.program)) is not fuse
    np.testing.assert_array_equal(outs[True], ref.conv2d(x, w, bias, 1, 1, 6, True))
    np.testing.assert_array_equal(outs[False], outs[True])
