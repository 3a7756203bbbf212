"""add, relu, requantize and max_pool2d on the functional simulator against independent numpy references."""

import jit_reference as ref
import numpy as np
import pytest
from jit_helpers import CONFIGS, make_runtime, randint8
from jit_racecheck import find_races

import vta
from vta.jit import ElementwiseSchedule, PoolSchedule, ScheduleError


@pytest.fixture(scope="module", params=CONFIGS)
def rt(request):
    return make_runtime(vta.load_config(request.param))


@pytest.mark.parametrize("seed", range(6))
def test_add_random(rt, seed):
    rng = np.random.default_rng(300 + seed)
    shape = tuple(int(v) for v in rng.integers(1, 9, int(rng.integers(1, 5))))
    a, b = randint8(rng, shape), randint8(rng, shape)
    sa, sb, s = (int(v) for v in rng.integers(-3, 4, 3))
    relu = bool(seed % 2)
    sched = None
    if seed % 3 == 0:
        n = -(-a.size // (rt.cfg.batch * rt.cfg.block_out))
        sched = ElementwiseSchedule(int(rng.integers(1, n + 1)), int(rng.integers(1, 3)))
    y, st = rt.add(a, b, a_shift=sa, b_shift=sb, shift=s, relu=relu, schedule=sched)
    assert y.shape == shape and y.dtype == np.int8
    np.testing.assert_array_equal(y, ref.add(a, b, sa, sb, s, relu))


@pytest.mark.parametrize("shift,relu,passes,q", [(0, False, 1, 0), (3, True, 1, 3 + 32), (-2, False, 2, 0),
                                                 (0, True, 1, 32)])
def test_add_shift_and_clip_are_the_requantizing_write(rt, shift, relu, passes, q):
    """add's shift and int8 clip cost no ALU pass: one SETQ, then per tile the ADD writes out requantized (a left
    shift stays an SHR pass, which then requantizes with shift 0); exact over tiles in both slots."""
    rng = np.random.default_rng(40 + shift)
    a, b = randint8(rng, (4000,)), randint8(rng, (4000,))
    y, st = rt.add(a, b, shift=shift, relu=relu, schedule=ElementwiseSchedule(9, 2))
    np.testing.assert_array_equal(y, ref.add(a, b, 0, 0, shift, relu))
    alus = [i for i in st.program if isinstance(i, vta.isa.Alu)]
    tiles = -(-4000 // (rt.cfg.batch * rt.cfg.block_out * 9))
    assert alus[0].alu_opcode == vta.isa.AluOp.SETQ and alus[0].imm == q
    assert len(alus) == 1 + passes * tiles
    assert [i.requant for i in alus[1:1 + passes]] == [False] * (passes - 1) + [True]


def test_add_saturates(rt):
    a = np.array([127, -128, 100, -100, 5], np.int8)
    b = np.array([1, -1, 100, -100, -6], np.int8)
    np.testing.assert_array_equal(rt.add(a, b).y, [127, -128, 127, -128, -1])
    np.testing.assert_array_equal(rt.add(a, b, relu=True).y, [127, 0, 127, 0, 0])


def test_add_many_tiles_race_free(rt):
    rng = np.random.default_rng(4)
    a, b = randint8(rng, (3000,)), randint8(rng, (3000,))
    uop0 = rt.device.uop.copy() if hasattr(rt.device, "uop") else None
    y, st = rt.add(a, b, shift=1, schedule=ElementwiseSchedule(7, 2))
    np.testing.assert_array_equal(y, ref.add(a, b, 0, 0, 1))
    uops = None if uop0 is None else vta.isa.decode_uops(rt.cfg, uop0.view(np.uint8))
    assert find_races(rt.cfg, st.program, rt.dram, uops) == []


def test_relu(rt):
    rng = np.random.default_rng(5)
    x = randint8(rng, (8, 10, 16))
    np.testing.assert_array_equal(rt.relu(x).y, np.maximum(x, 0))


@pytest.mark.parametrize("shift,scale,offset,relu", [(0, 1, 0, False), (8, 1, 0, True), (4, 3, -7, False),
                                                     (12, -5, 1000, True), (31, 1, 0, False)])
def test_requantize(rt, shift, scale, offset, relu):
    rng = np.random.default_rng(6)
    x = rng.integers(-(1 << 24), 1 << 24, (7, 33), dtype=np.int32)
    x[0, :4] = [np.iinfo(np.int32).max, np.iinfo(np.int32).min, 0, -1]
    y, st = rt.requantize(x, shift=shift, scale=scale, offset=offset, relu=relu)
    np.testing.assert_array_equal(y, ref.requantize(x, shift, scale, offset, relu))


def test_elementwise_errors(rt):
    a = np.zeros((4, 4), np.int8)
    with pytest.raises(vta.VTAError, match="one shape"):
        rt.add(a, np.zeros((4, 5), np.int8))
    with pytest.raises(vta.VTAError, match="b must be int8"):
        rt.add(a, a.astype(np.int16))
    with pytest.raises(vta.VTAError, match="scale must be an integer in -32768..32767"):
        rt.requantize(np.zeros(3, np.int32), scale=1 << 16)
    with pytest.raises(ScheduleError, match="acc buffer holds"):
        rt.add(np.zeros(1 << 16, np.int8), np.zeros(1 << 16, np.int8),
               schedule=ElementwiseSchedule(rt.cfg.acc_depth, 1))


@pytest.mark.parametrize("shape,k,s,p", [((1, 16, 8, 8), 2, 2, 0), ((2, 20, 11, 9), 3, 2, 1),
                                         ((1, 5, 7, 7), 3, 1, 1), ((1, 8, 6, 10), 1, 1, 0),
                                         ((3, 9, 13, 5), 4, 3, 2)])
def test_max_pool2d(rt, shape, k, s, p):
    rng = np.random.default_rng(sum(shape) + k)
    x = randint8(rng, shape)
    x.reshape(-1)[::7] = -128                                     # padding must never win over -128
    y, st = rt.max_pool2d(x, k, s, p)
    np.testing.assert_array_equal(y, ref.max_pool2d(x, k, s, p))


def test_max_pool2d_schedules_race_free(rt):
    rng = np.random.default_rng(11)
    x = randint8(rng, (1, 10, 12, 12))
    for sched in (PoolSchedule(1, 1, 1), PoolSchedule(2, 5, 2), PoolSchedule(6, 6, 2)):
        uop0 = rt.device.uop.copy() if hasattr(rt.device, "uop") else None
        y, st = rt.max_pool2d(x, 3, 2, 1, schedule=sched)
        np.testing.assert_array_equal(y, ref.max_pool2d(x, 3, 2, 1))
        uops = None if uop0 is None else vta.isa.decode_uops(rt.cfg, uop0.view(np.uint8))
        assert find_races(rt.cfg, st.program, rt.dram, uops) == []


@pytest.mark.slow
def test_resnet18_maxpool_full(rt):
    rng = np.random.default_rng(12)
    x = randint8(rng, (1, 64, 112, 112))
    np.testing.assert_array_equal(rt.max_pool2d(x, 3, 2, 1).y, ref.max_pool2d(x, 3, 2, 1))


def test_upstream_alu_shapes():
    """Upstream's ALU tests (ISA.md §6) as operators on the default config: relu of (8,10,1,16) int32 in
    [−256, 256) → min(max(a, 0), 127), and shift-and-scale (a + s) >> k clipped to int8."""
    rt = make_runtime(vta.load_config("default"))
    rng = np.random.default_rng(13)
    a = rng.integers(-256, 256, (8, 10, 1, 16), dtype=np.int32)
    np.testing.assert_array_equal(rt.requantize(a, relu=True).y, np.minimum(np.maximum(a, 0), 127).astype(np.int8))
    b = rng.integers(-16, 16, (8, 8, 1, 16), dtype=np.int32) * 64
    np.testing.assert_array_equal(rt.requantize(b, shift=3, offset=24).y, np.clip((b + 24) >> 3, -128, 127))
