"""Grouped / depthwise conv2d (block-diagonal packing) on the functional simulator against an independent numpy
reference (one plain convolution per group), over seeded random shapes — channel counts that are not multiples
of the block, groups that do not fill the last packed block — and random schedules of the packed geometry."""

import jit_reference as ref
import numpy as np
import pytest
from jit_helpers import CONFIGS, make_runtime, randint8
from jit_racecheck import find_races

import vta
from vta.errors import VTAError
from vta.jit import Conv2dSchedule, ScheduleError
from vta.jit.ops.group_conv2d import GroupPacking
from vta.jit.schedule import check_conv2d


@pytest.fixture(scope="module", params=CONFIGS)
def rt(request):
    return make_runtime(vta.load_config(request.param))


def grouped_reference(x, w, bias, groups, stride, pad, shift, relu):
    cg, og = x.shape[1] // groups, w.shape[0] // groups
    parts = [ref.conv2d(x[:, i * cg:(i + 1) * cg], w[i * og:(i + 1) * og],
                        None if bias is None else bias[i * og:(i + 1) * og], stride, pad, shift, relu)
             for i in range(groups)]
    return np.concatenate(parts, axis=1)


def random_case(rng):
    groups = int(rng.integers(1, 41))
    cg, og = int(rng.choice([1, 1, 1, 2, 3, 5, 20])), int(rng.choice([1, 1, 2, 3, 6, 17]))
    if groups * max(cg, og) > 120:
        groups = max(1, 120 // max(cg, og))
    k = int(rng.choice([1, 3, 5]))
    return (int(rng.integers(1, 3)), groups, cg, og, k, int(rng.integers(1, 3)), int(rng.integers(0, k // 2 + 1)),
            int(rng.integers(k, 12)))


@pytest.mark.parametrize("seed", range(10))
def test_group_conv2d_random(rt, seed):
    rng = np.random.default_rng(4000 + seed + (0 if rt.cfg.name == "small" else 100))
    n, groups, cg, og, k, stride, pad, h = random_case(rng)
    x, w = randint8(rng, (n, groups * cg, h, h + 1)), randint8(rng, (groups * og, cg, k, k))
    bias = rng.integers(-(1 << 15), 1 << 15, groups * og, dtype=np.int32) if seed % 3 else None
    shift, relu = int(rng.integers(0, 12)), bool(seed % 2)
    sched = None
    if seed % 2:
        p = GroupPacking.of(rt.cfg, groups * cg, groups * og, groups)
        g = p.geometry(rt.cfg, n, h, h + 1, k, k, stride, pad)
        for _ in range(100):
            s = Conv2dSchedule(1, int(rng.integers(1, g.oh + 1)), int(rng.integers(1, g.ow + 1)),
                               int(rng.integers(1, g.cb + 1)), int(rng.integers(1, g.ob + 1)), int(rng.integers(1, 3)))
            try:
                check_conv2d(rt.cfg, g, s)
                sched = s
                break
            except ScheduleError:
                continue
    y, st = rt.group_conv2d(x, w, bias, groups=groups, stride=stride, padding=pad, shift=shift, relu=relu,
                            schedule=sched)
    expect = grouped_reference(x, w, bias, groups, stride, pad, shift, relu)
    case = (n, groups, cg, og, k, stride, pad, h)
    np.testing.assert_array_equal(y, expect, err_msg=f"case {case} schedule {sched}")
    assert st.useful_macs == n * groups * og * cg * k * k * expect.shape[2] * expect.shape[3]
    assert st.macs >= st.useful_macs


def test_depthwise_uses_one_block_per_tap(rt):
    """Depthwise over C channels: C/BLOCK blocks per tap (block-diagonal), not (C/BLOCK)² (a dense conv)."""
    cfg = rt.cfg
    c = 3 * cfg.block_out
    rng = np.random.default_rng(5)
    x, w = randint8(rng, (1, c, 6, 6)), randint8(rng, (c, 1, 3, 3))
    y, st = rt.group_conv2d(x, w, None, groups=c, padding=1, shift=7)
    np.testing.assert_array_equal(y, grouped_reference(x, w, None, c, 1, 1, 7, False))
    assert st.macs == 3 * 9 * 36 * cfg.batch * cfg.block_in * cfg.block_out      # 3 blocks × 9 taps × 36 pixels
    p = GroupPacking.of(cfg, c, c, c)
    assert (p.k, p.supers) == (cfg.block_out, 3)
    assert p.utilisation == pytest.approx(1 / cfg.block_out)


def test_group_conv2d_program_is_race_free(rt):
    rng = np.random.default_rng(6)
    x, w = randint8(rng, (1, 40, 8, 8)), randint8(rng, (40, 1, 3, 3))
    uop0 = rt.device.uop.copy() if hasattr(rt.device, "uop") else None
    y, st = rt.group_conv2d(x, w, None, groups=40, padding=1, shift=6, schedule=Conv2dSchedule(1, 3, 4, 1, 1, 2))
    np.testing.assert_array_equal(y, grouped_reference(x, w, None, 40, 1, 1, 6, False))
    uops = None if uop0 is None else vta.isa.decode_uops(rt.cfg, uop0.view(np.uint8))
    assert find_races(rt.cfg, st.program, rt.dram, uops) == []


def test_group_conv2d_errors_name_the_limit(rt):
    x = np.zeros((1, 6, 4, 4), np.int8)
    with pytest.raises(VTAError, match="groups=4 must divide both the 6 input"):
        rt.group_conv2d(x, np.zeros((8, 1, 3, 3), np.int8), groups=4)
    with pytest.raises(VTAError, match="2 input channels per group"):
        rt.group_conv2d(x, np.zeros((6, 2, 3, 3), np.int8), groups=6)
    with pytest.raises(VTAError, match="bias must have 6 entries"):
        rt.group_conv2d(x, np.zeros((6, 1, 3, 3), np.int8), np.zeros(5, np.int32), groups=6)
