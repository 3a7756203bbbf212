"""channel_scale (a squeeze-and-excitation gate) and prelu (per-channel slopes) on the tensor ALU: fsim results
equal `vta.compiler.arith.channel_mul_int8` / `prelu_int8` bit for bit — channels not a multiple of the block,
batches, planes larger than an acc slot — and those semantics are the rounded functions. Bad arguments are errors
naming the limit."""

import numpy as np
import pytest
from jit_helpers import CONFIGS, make_runtime, randint8

import vta
from vta.compiler.arith import channel_mul_int8, prelu_int8
from vta.errors import VTAError


@pytest.fixture(scope="module", params=CONFIGS)
def rt(request):
    return make_runtime(vta.load_config(request.param))


@pytest.mark.parametrize("shape, shift", [((1, 16, 7, 7), 7), ((2, 40, 8, 8), 0), ((3, 35, 1, 1), 3),
                                          ((1, 3, 56, 56), 9), ((2, 20, 45, 50), 15)])
def test_matches_semantics(rt, shape, shift):
    rng = np.random.default_rng(sum(shape) + shift)
    x, s = randint8(rng, shape), randint8(rng, shape[:2] + (1, 1))
    y, stats = rt.channel_scale(x, s, shift)
    np.testing.assert_array_equal(y, channel_mul_int8(x, s, shift))
    assert stats.insns > 0


def test_semantics_are_the_rounded_product():
    rng = np.random.default_rng(3)
    x, s = randint8(rng, (2, 5, 4, 3)), randint8(rng, (2, 5, 1, 1))
    want = np.clip(np.floor(x.astype(np.float64) * s / 2 ** 6 + 0.5), -128, 127)
    np.testing.assert_array_equal(channel_mul_int8(x, s, 6), want)


def test_bad_arguments_name_the_limit(rt):
    x = np.zeros((2, 4, 3, 3), np.int8)
    with pytest.raises(VTAError, match=r"s must have shape \(2, 4, 1, 1\) .*, not \(1, 4, 1, 1\)"):
        rt.channel_scale(x, np.zeros((1, 4, 1, 1), np.int8), 0)
    with pytest.raises(VTAError, match="shift must be an integer in 0..15, not 16"):
        rt.channel_scale(x, np.zeros((2, 4, 1, 1), np.int8), 16)


@pytest.mark.parametrize("shape, shift, pos_shift", [((1, 16, 7, 7), 15, 0), ((2, 40, 8, 8), 0, 0),
                                                     ((3, 35, 1, 1), 3, 1), ((1, 3, 56, 56), 9, 0),
                                                     ((2, 20, 45, 50), 15, 2)])
def test_prelu_matches_semantics(rt, shape, shift, pos_shift):
    rng = np.random.default_rng(sum(shape) + shift + 1)
    x = randint8(rng, shape)
    a = rng.integers(-40000, 40000, shape[1]).astype(np.int32)
    y, _ = rt.prelu(x, a, shift, pos_shift)
    np.testing.assert_array_equal(y, prelu_int8(x, a, shift, pos_shift))


def test_prelu_semantics_are_the_rounded_function():
    rng = np.random.default_rng(6)
    x = randint8(rng, (2, 3, 4, 4))
    a = np.array([0, 8192, 32768], np.int32)          # slopes 0, 0.25, 1 at 2^-15
    slope = (a / 2 ** 15).reshape(1, 3, 1, 1)
    want = np.clip(np.where(x >= 0, x, np.floor(x * slope + 0.5)), -128, 127)
    np.testing.assert_array_equal(prelu_int8(x, a, 15), want)


def test_prelu_bad_arguments(rt):
    x = np.zeros((1, 4, 3, 3), np.int8)
    with pytest.raises(VTAError, match=r"a must have one slope per channel, shape \(4,\), not \(3,\)"):
        rt.prelu(x, np.zeros(3, np.int32), 0)
    with pytest.raises(VTAError, match="a must be int32, not int64"):
        rt.prelu(x, np.zeros(4, np.int64), 0)
