"""Schedule validation: impossible schedules are rejected with the reason; defaults always fit."""

import pytest

import vta
from vta.jit import Conv2dSchedule, ConvGeometry, ScheduleError, default_conv2d_schedule
from vta.jit.schedule import (
    ElementwiseSchedule,
    PoolGeometry,
    PoolSchedule,
    check_conv2d,
    check_elementwise,
    check_pool,
    conv2d_needs,
    default_pool_schedule,
)

RESNET = {  # name: (H, W, Cin, Cout, kernel, pad, stride)   (ISA.md §7)
    "C1": (224, 224, 3, 64, 7, 3, 2), "C2": (56, 56, 64, 64, 3, 1, 1), "C3": (56, 56, 64, 128, 3, 1, 2),
    "C4": (56, 56, 64, 128, 1, 0, 2), "C5": (28, 28, 128, 128, 3, 1, 1), "C6": (28, 28, 128, 256, 3, 1, 2),
    "C7": (28, 28, 128, 256, 1, 0, 2), "C8": (14, 14, 256, 256, 3, 1, 1), "C9": (14, 14, 256, 512, 3, 1, 2),
    "C10": (14, 14, 256, 512, 1, 0, 2), "C11": (7, 7, 512, 512, 3, 1, 1)}


def geom(cfg, name, n=1):
    h, w, ci, co, k, p, s = RESNET[name]
    return ConvGeometry.of(cfg, n, ci, h, w, co, k, k, s, p)


def test_inp_overflow_message():
    cfg = vta.load_config("default")
    g = geom(cfg, "C2")
    # 4 ci blocks × 2 threads × (in rows 8+2) × (in cols 56+2)... pick a tile whose inp need is exactly known
    s = Conv2dSchedule(tile_b=1, tile_h=4, tile_w=14, tile_ci=4, tile_co=1, n_vthreads=2)
    need = 2 * 4 * (4 - 1 + 3) * (14 - 1 + 3)
    assert need == 768
    check_conv2d(cfg, g, s)
    s = Conv2dSchedule(tile_b=1, tile_h=14, tile_w=30, tile_ci=4, tile_co=1, n_vthreads=2)
    need = 2 * 4 * 16 * 32
    with pytest.raises(ScheduleError, match=f"schedule needs {need} inp elements, inp buffer holds 2048"):
        check_conv2d(cfg, g, s)


@pytest.mark.parametrize("field,value,msg", [
    ("tile_h", 0, "tile_h must be a positive integer"),
    ("tile_w", 57, "tile_w=57 exceeds the output width 56"),
    ("tile_ci", 5, "tile_ci=5 exceeds the 4 input-channel blocks"),
    ("tile_co", 2.0, "tile_co must be a positive integer"),
    ("n_vthreads", 3, "n_vthreads must be 1 or 2"),
    ("tile_b", 2, "tile_b=2 exceeds the 1 batch blocks"),
])
def test_bad_values(field, value, msg):
    cfg = vta.load_config("default")
    s = Conv2dSchedule(**{"tile_h": 1, "tile_w": 1, field: value})
    with pytest.raises(ScheduleError, match=msg):
        check_conv2d(cfg, geom(cfg, "C2"), s)


def test_other_buffers_named():
    cfg = vta.load_config("small")     # wgt 256, acc 512, uop 1024
    g = geom(cfg, "C5")                # 16 ci blocks, 16 co blocks of 8 on small
    with pytest.raises(ScheduleError, match="needs 2304 wgt elements, wgt buffer holds 256"):
        check_conv2d(cfg, g, Conv2dSchedule(1, 1, 1, 16, 16, 1))
    g1 = ConvGeometry.of(cfg, 1, 8, 16, 16, 16, 1, 1, 1, 0)    # 1×1: inp tile = output tile
    with pytest.raises(ScheduleError, match="needs 514 acc elements, acc buffer holds 512"):
        check_conv2d(cfg, g1, Conv2dSchedule(1, 16, 16, 1, 2, 1))
    with pytest.raises(ScheduleError, match="needs 1156 uop entries, uop buffer holds 1024"):
        check_conv2d(cfg, g, Conv2dSchedule(1, 8, 8, 1, 1, 2))
    with pytest.raises(ScheduleError, match="must be a Conv2dSchedule"):
        check_conv2d(cfg, g, (1, 1, 1, 1, 1, 1))


def test_padding_beyond_load_field():
    cfg = vta.load_config("small")
    g = ConvGeometry.of(cfg, 1, 8, 4, 4, 8, 33, 33, 1, 16)
    with pytest.raises(ScheduleError, match="padding 16 exceeds 15"):
        check_conv2d(cfg, g, Conv2dSchedule())


@pytest.mark.parametrize("cfgname", ["small", "default"])
@pytest.mark.parametrize("layer", sorted(RESNET))
def test_default_schedule_fits_resnet(cfgname, layer):
    cfg = vta.load_config(cfgname)
    g = geom(cfg, layer)
    s = default_conv2d_schedule(cfg, g)
    needs = check_conv2d(cfg, g, s)
    for buf, n in needs.items():
        assert n <= cfg.depths[buf]
    assert needs == conv2d_needs(g, s)


def test_elementwise_and_pool_checks():
    cfg = vta.load_config("small")
    with pytest.raises(ScheduleError, match="needs 1024 acc elements, acc buffer holds 512"):
        check_elementwise(cfg, 10000, 2, ElementwiseSchedule(256, 2))
    check_elementwise(cfg, 10000, 2, ElementwiseSchedule(128, 2))
    with pytest.raises(ScheduleError, match="tile=11 exceeds the 10 elements"):
        check_elementwise(cfg, 10, 1, ElementwiseSchedule(11, 1))
    g = PoolGeometry.of(cfg, 1, 8, 112, 112, 3, 2, 1)
    check_pool(cfg, g, default_pool_schedule(cfg, g))
    with pytest.raises(ScheduleError, match="acc elements, acc buffer holds 512"):
        check_pool(cfg, g, PoolSchedule(8, 56, 1))
    with pytest.raises(vta.VTAError, match="padding"):
        PoolGeometry.of(cfg, 1, 8, 8, 8, 2, 2, 2)
