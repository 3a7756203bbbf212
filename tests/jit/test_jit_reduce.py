"""global_avg_pool on the tensor ALU: the functional simulator's results equal the compiler step's numpy semantics
(`vta.compiler.arith.global_avg_pool_int8`) bit for bit — channel counts that are not multiples of the block,
batches, planes larger than an acc slot (summed in pieces) — and those semantics equal the rounded float mean when
H·W is a power of two. Bad arguments are errors naming the argument and its limit."""

import numpy as np
import pytest
from jit_helpers import CONFIGS, make_runtime, randint8

import vta
from vta.compiler.arith import global_avg_pool_int8
from vta.errors import VTAError


@pytest.fixture(scope="module", params=CONFIGS)
def rt(request):
    return make_runtime(vta.load_config(request.param))


@pytest.mark.parametrize("shape, pre, scale, shift", [
    ((1, 16, 7, 7), 2, 2675, 15),      # 1/49 as a reciprocal (the SE block of a MobileNet at 7×7)
    ((2, 40, 8, 8), 0, 1, 6),          # a power of two: one rounding shift
    ((3, 5, 1, 1), 0, 3, 1),           # 1×1: a rescale only
    ((1, 3, 56, 56), 8, 2675, 15),     # 3136 positions: larger than an acc slot of either config
    ((1, 20, 45, 50), 3, 747, 12),
    ((2, 17, 6, 5), 0, 1, 0),          # sums saturate at the int8 limits
])
def test_matches_semantics(rt, shape, pre, scale, shift):
    rng = np.random.default_rng(sum(shape) + shift)
    x = randint8(rng, shape)
    y, stats = rt.global_avg_pool(x, pre, scale, shift)
    assert y.shape == shape[:2] + (1, 1) and y.dtype == np.int8
    np.testing.assert_array_equal(y, global_avg_pool_int8(x, pre, scale, shift))
    assert stats.insns > 0


def test_power_of_two_is_the_rounded_mean(rt):
    rng = np.random.default_rng(5)
    x = randint8(rng, (2, 33, 16, 8))
    y, _ = rt.global_avg_pool(x, 0, 1, 7)
    want = np.floor(x.astype(np.float64).mean(axis=(2, 3), keepdims=True) + 0.5)   # round half up
    np.testing.assert_array_equal(y, want.astype(np.int8))


def test_bad_arguments_name_the_limit(rt):
    x = np.zeros((1, 4, 3, 3), np.int8)
    with pytest.raises(VTAError, match="shift must be an integer in 0..15, not 16"):
        rt.global_avg_pool(x, 0, 1, 16)
    with pytest.raises(VTAError, match="scale must be an integer in 1..32767, not 0"):
        rt.global_avg_pool(x, 0, 0, 0)
    with pytest.raises(VTAError, match="x must be int8, not int32"):
        rt.global_avg_pool(x.astype(np.int32), 0, 1, 0)
    with pytest.raises(VTAError, match="could exceed int32"):
        rt.global_avg_pool(np.zeros((1, 1, 1024, 1024), np.int8), 0, 32767, 15)
