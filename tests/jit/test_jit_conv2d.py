"""conv2d and dense on the functional simulator against an independent numpy reference, over seeded random
shapes and schedules on both configs; programs are verified, race-free, and reuse cached kernels."""

import jit_reference as ref
import numpy as np
import pytest
from jit_helpers import CONFIGS, make_runtime, randint8
from jit_racecheck import find_races

import vta
from vta.jit import Conv2dSchedule, ConvGeometry, DenseSchedule, ScheduleError
from vta.jit.schedule import check_conv2d

RESNET = {  # (H, W, Cin, Cout, kernel, pad, stride), ISA.md §7
    "C2": (56, 56, 64, 64, 3, 1, 1), "C3": (56, 56, 64, 128, 3, 1, 2), "C4": (56, 56, 64, 128, 1, 0, 2),
    "C5": (28, 28, 128, 128, 3, 1, 1), "C6": (28, 28, 128, 256, 3, 1, 2), "C7": (28, 28, 128, 256, 1, 0, 2),
    "C8": (14, 14, 256, 256, 3, 1, 1), "C9": (14, 14, 256, 512, 3, 1, 2), "C10": (14, 14, 256, 512, 1, 0, 2),
    "C11": (7, 7, 512, 512, 3, 1, 1)}


@pytest.fixture(scope="module", params=CONFIGS)
def rt(request):
    return make_runtime(vta.load_config(request.param))


def random_schedule(rng, cfg, g):
    """A random schedule that fits (tile sizes uniform over each axis), or None after 200 tries."""
    for _ in range(200):
        s = Conv2dSchedule(int(rng.integers(1, g.nb + 1)), int(rng.integers(1, g.oh + 1)),
                           int(rng.integers(1, g.ow + 1)), int(rng.integers(1, g.cb + 1)),
                           int(rng.integers(1, g.ob + 1)), int(rng.integers(1, 3)))
        try:
            check_conv2d(cfg, g, s)
            return s
        except ScheduleError:
            continue
    return None


def random_case(rng):
    n = int(rng.integers(1, 4))
    c, o = int(rng.integers(1, 41)), int(rng.integers(1, 41))
    k = int(rng.choice([1, 2, 3, 5]))
    stride = int(rng.integers(1, 3))
    pad = int(rng.integers(0, min(k, 3)))
    h, w = int(rng.integers(k, 14)), int(rng.integers(k, 14))
    return n, c, h, w, o, k, stride, pad


@pytest.mark.parametrize("seed", range(8))
def test_conv2d_random(rt, seed):
    rng = np.random.default_rng(1000 + seed + (0 if rt.cfg.name == "small" else 500))
    n, c, h, w, o, k, stride, pad = random_case(rng)
    x, wt = randint8(rng, (n, c, h, w)), randint8(rng, (o, c, k, k))
    bias = rng.integers(-(1 << 16), 1 << 16, o, dtype=np.int32) if seed % 4 else None
    shift, relu = int(rng.integers(0, 14)), bool(seed % 2)
    g = ConvGeometry.of(rt.cfg, n, c, h, w, o, k, k, stride, pad)
    sched = random_schedule(rng, rt.cfg, g) if seed % 3 else None
    y, st = rt.conv2d(x, wt, bias, stride=stride, padding=pad, shift=shift, relu=relu, schedule=sched)
    expect = ref.conv2d(x, wt, bias, stride, pad, shift, relu)
    assert y.dtype == np.int8 and y.shape == expect.shape
    np.testing.assert_array_equal(y, expect, err_msg=f"case {(n, c, h, w, o, k, stride, pad)} schedule {sched}")
    assert st.useful_macs == n * o * c * k * k * expect.shape[2] * expect.shape[3]
    assert st.macs >= st.useful_macs                       # channel padding only adds MACs
    # the program the runtime ran passes the ISA verifier on its own
    from vta.isa import verify
    assert [p for p in verify(rt.cfg, st.program, dram_size=rt.dram.size) if p.severity == "error"] == []


def test_conv2d_rectangular_stride_padding(rt):
    rng = np.random.default_rng(7)
    x, wt = randint8(rng, (2, 10, 9, 13)), randint8(rng, (12, 10, 3, 2))
    y, st = rt.conv2d(x, wt, None, stride=(2, 1), padding=(1, 0), shift=6)
    np.testing.assert_array_equal(y, ref.conv2d(x, wt, None, (2, 1), (1, 0), 6, False))


@pytest.mark.parametrize("stride,tile", [(1, (1, 1)), (2, (1, 1)), (2, (2, 3)), (3, (3, 1)), (3, (2, 2))])
def test_conv2d_window_all_padding(rt, stride, tile):
    """1×1 kernel with padding: border outputs read only padding (the runtime loads zeros for them); with a
    stride the loads also skip the unused input rows."""
    rng = np.random.default_rng(8)
    x, wt = randint8(rng, (1, 5, 7, 8)), randint8(rng, (3, 5, 1, 1))
    bias = np.array([100, -100, 5], np.int32)
    y, st = rt.conv2d(x, wt, bias, stride=stride, padding=2, shift=3,
                  schedule=Conv2dSchedule(1, tile[0], tile[1], 1, 1, 2))
    expect = ref.conv2d(x, wt, bias, stride, 2, 3, False)
    np.testing.assert_array_equal(y, expect)
    assert (y[0, :, 0, 0] == [12, -13, 0]).all()            # bias >> 3 alone at a pure-padding pixel


@pytest.mark.parametrize("vt", [1, 2])
def test_conv2d_program_is_race_free(rt, vt):
    rng = np.random.default_rng(9)
    x, wt = randint8(rng, (1, 20, 10, 10)), randint8(rng, (20, 20, 3, 3))
    uop0 = rt.device.uop.copy() if hasattr(rt.device, "uop") else None
    g = ConvGeometry.of(rt.cfg, 1, 20, 10, 10, 20, 3, 3, 1, 1)
    s = Conv2dSchedule(1, 3, 4, 1, 1, vt)
    check_conv2d(rt.cfg, g, s)
    y, st = rt.conv2d(x, wt, np.arange(20, dtype=np.int32), padding=1, shift=9, schedule=s)
    np.testing.assert_array_equal(y, ref.conv2d(x, wt, np.arange(20, dtype=np.int32), 1, 1, 9, False))
    uops = None if uop0 is None else vta.isa.decode_uops(rt.cfg, uop0.view(np.uint8))
    prog = st.program
    assert find_races(rt.cfg, prog, rt.dram, uops) == []
    # the checker is not vacuous: without the dependency flags the same program races
    stripped = [i.replace(pop_prev_dep=False, pop_next_dep=False, push_prev_dep=False, push_next_dep=False)
                if not isinstance(i, vta.isa.Finish) else i for i in prog]
    assert find_races(rt.cfg, stripped, rt.dram, uops)
    # ... and dropping just one kind of wait is caught too: loads no longer wait for compute to free a slot,
    # or compute no longer waits for the store of the previous tile in its out slot
    no_g2l = [i.replace(pop_next_dep=False) if isinstance(i, vta.isa.Load) and
              i.memory_type in (vta.isa.MemId.INP, vta.isa.MemId.WGT) else i for i in prog]
    assert any("inp" in r or "wgt" in r for r in find_races(rt.cfg, no_g2l, rt.dram, uops))
    compute_stage = lambda i: isinstance(i, (vta.isa.Gemm, vta.isa.Alu)) or (
        isinstance(i, vta.isa.Load) and i.memory_type not in (vta.isa.MemId.INP, vta.isa.MemId.WGT))
    no_s2g = [i.replace(pop_next_dep=False) if compute_stage(i) else i for i in prog]
    assert any(r.startswith("out") for r in find_races(rt.cfg, no_s2g, rt.dram, uops))
    if vt == 2:   # double buffering: the load stage really runs ahead (two chunks loaded before the first GEMM)
        first_gemm = next(k for k, i in enumerate(prog) if isinstance(i, vta.isa.Gemm) and not i.reset_reg)
        loads = [i for i in prog[:first_gemm] if isinstance(i, vta.isa.Load)
                 and i.memory_type in (vta.isa.MemId.INP, vta.isa.MemId.WGT) and i.x_size]
        assert {i.sram_base for i in loads if i.memory_type == vta.isa.MemId.WGT} == {0, s.tile_co * s.tile_ci * 9}


def test_kernel_cache_second_call_builds_nothing(rt):
    rng = np.random.default_rng(10)
    x, wt = randint8(rng, (1, 16, 8, 8)), randint8(rng, (16, 16, 3, 3))
    s = Conv2dSchedule(1, 4, 4, 1, 1, 2)
    y1, first = rt.conv2d(x, wt, padding=1, shift=8, schedule=s)
    y2, second = rt.conv2d(x, wt, padding=1, shift=8, schedule=s)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(y2, ref.conv2d(x, wt, None, 1, 1, 8, False))
    assert second.kernel_builds == 0 and second.uop_loads == 0
    assert second.kernel_hits > 0 and second.kernel_hits == first.kernel_builds + first.kernel_hits
    assert not any(isinstance(i, vta.isa.Load) and i.memory_type == vta.isa.MemId.UOP and i.x_size
                   for i in second.program)


@pytest.mark.parametrize("seed", range(4))
def test_dense_random(rt, seed):
    rng = np.random.default_rng(2000 + seed)
    n, k, m = int(rng.integers(1, 20)), int(rng.integers(1, 100)), int(rng.integers(1, 70))
    x, w = randint8(rng, (n, k)), randint8(rng, (m, k))
    bias = rng.integers(-5000, 5000, m, dtype=np.int32)
    shift, relu = int(rng.integers(0, 12)), bool(seed % 2)
    sched = None
    if seed % 2:
        cfg = rt.cfg
        nb, kb, mb = -(-n // cfg.batch), -(-k // cfg.block_in), -(-m // cfg.block_out)
        sched = DenseSchedule(int(rng.integers(1, nb + 1)), int(rng.integers(1, kb + 1)),
                              int(rng.integers(1, mb + 1)), 2)
    y, st = rt.dense(x, w, bias, shift=shift, relu=relu, schedule=sched)
    np.testing.assert_array_equal(y, ref.dense(x, w, bias, shift, relu))


def test_dense_128(rt):
    rng = np.random.default_rng(3)
    x, w = randint8(rng, (128, 128)), randint8(rng, (128, 128))
    y, st = rt.dense(x, w, None, shift=10)
    np.testing.assert_array_equal(y, ref.dense(x, w, None, 10, False))
    assert st.macs == 128 ** 3


def test_bad_arguments(rt):
    x, w = np.zeros((1, 4, 5, 5), np.int8), np.zeros((4, 4, 3, 3), np.int8)
    with pytest.raises(vta.VTAError, match="x must be int8, not int32"):
        rt.conv2d(x.astype(np.int32), w)
    with pytest.raises(vta.VTAError, match="w has 3 input channels"):
        rt.conv2d(x, w[:, :3])
    with pytest.raises(vta.VTAError, match="bias must have 4 entries"):
        rt.conv2d(x, w, np.zeros(5, np.int32))
    with pytest.raises(vta.VTAError, match="shift must be an integer in 0..31"):
        rt.conv2d(x, w, shift=40)
    with pytest.raises(ScheduleError, match="exceeds the output height 3"):
        rt.conv2d(x, w, schedule=Conv2dSchedule(1, 4, 1, 1, 1, 1))
    with pytest.raises(vta.VTAError, match="does not fit"):
        rt.conv2d(x, np.zeros((4, 4, 7, 7), np.int8))


@pytest.mark.parametrize("cfgname", ["default", pytest.param("small", marks=pytest.mark.slow)])
@pytest.mark.parametrize("layer", sorted(RESNET, key=lambda s: int(s[1:])))
def test_resnet18_layer_full(cfgname, layer):
    """The full ResNet-18 layers C2–C11 (batch 1) with bias, shift and relu; the small config (many more
    instructions) is marked slow and also covered by benchmarks/resnet18_layers.py --config small."""
    h, w, ci, co, k, p, s = RESNET[layer]
    rt = make_runtime(vta.load_config(cfgname))
    rng = np.random.default_rng(int(layer[1:]))
    x, wt = randint8(rng, (1, ci, h, w)), randint8(rng, (co, ci, k, k))
    bias = rng.integers(-(1 << 14), 1 << 14, co, dtype=np.int32)
    y, st = rt.conv2d(x, wt, bias, stride=s, padding=p, shift=11, relu=True)
    np.testing.assert_array_equal(y, ref.conv2d(x, wt, bias, s, p, 11, True))


@pytest.mark.parametrize("seed", range(6))
def test_conv2d_batched_rectangular_block_config(seed):
    """A config with BATCH=2 and BLOCK_IN ≠ BLOCK_OUT (2×8×16): batch blocking and both channel paddings."""
    cfg = vta.VTAConfig(log_batch=1, log_block_in=3, log_block_out=4, log_uop_buff_size=12, log_inp_buff_size=12,
                        log_wgt_buff_size=15, log_acc_buff_size=15, name="batch2")
    rt = make_runtime(cfg)
    rng = np.random.default_rng(4000 + seed)
    n, c, h, w, o, k, stride, pad = random_case(rng)
    x, wt = randint8(rng, (n, c, h, w)), randint8(rng, (o, c, k, k))
    bias = rng.integers(-9999, 9999, o, dtype=np.int32)
    g = ConvGeometry.of(cfg, n, c, h, w, o, k, k, stride, pad)
    sched = random_schedule(rng, cfg, g) if seed % 2 else None
    y, st = rt.conv2d(x, wt, bias, stride=stride, padding=pad, shift=5, relu=bool(seed % 3 == 0), schedule=sched)
    np.testing.assert_array_equal(y, ref.conv2d(x, wt, bias, stride, pad, 5, seed % 3 == 0))


def test_uop_eviction_mid_stream():
    """Tiles whose kernels do not all fit uop SRAM at once (small config: 1024 entries): kernels are evicted and
    reloaded within one stream, and the result and the race check still hold."""
    rt = make_runtime(vta.load_config("small"))
    rng = np.random.default_rng(21)
    x, wt = randint8(rng, (1, 8, 11, 11)), randint8(rng, (8, 8, 3, 3))
    s = Conv2dSchedule(1, 6, 6, 1, 1, 2)           # GEMM kernels of 9·36 = 324 uops per slot; edge tiles differ
    evictions = rt.kernels.evictions
    y, st = rt.conv2d(x, wt, padding=1, shift=8, schedule=s)
    np.testing.assert_array_equal(y, ref.conv2d(x, wt, None, 1, 1, 8, False))
    assert rt.kernels.evictions > evictions
    assert find_races(rt.cfg, st.program, rt.dram) == []
    # the next call starts from whatever is resident and still computes the right thing
    y, st = rt.conv2d(x, wt, padding=1, shift=8, schedule=s)
    np.testing.assert_array_equal(y, ref.conv2d(x, wt, None, 1, 1, 8, False))
