"""The integer form of GlobalAveragePool (`vta.quant.reduce`): over every attainable int32 sum, the chosen
shifts and multiplier land within the stated error bound of the exact mean (so within one step of its rounding),
a power-of-two H·W is exact, and impossible rescales are refused."""

import math

import numpy as np
import pytest

from vta.compiler.arith import global_avg_pool_int8
from vta.quant.reduce import MAX_ERROR, global_avg_pool_params


def _apply(s, f):
    rs = lambda v, k: (v + (1 << (k - 1))) >> k if k else v
    return rs(rs(s, f["pre_shift"]) * f["scale"], f["shift"])


@pytest.mark.parametrize("positions, e_x, e_y", [(49, 0, 0), (196, -3, -5), (3136, -2, -3), (7, 0, 0), (100, -4, -4),
                                                 (12544, 0, -2), (3, -1, 0)])
def test_error_bound_holds_for_every_sum(positions, e_x, e_y):
    f, err = global_avg_pool_params(positions, e_x, e_y)
    assert f is not None and err <= MAX_ERROR
    s = np.arange(-128 * positions, 127 * positions + 1, dtype=np.int64)
    got = _apply(s, f)
    exact = s * math.ldexp(1.0, e_x - e_y) / positions
    miss = np.abs(got - exact)
    assert miss.max() <= 0.5 + err + 1e-9
    assert np.abs(got - np.floor(exact + 0.5)).max() <= 1


@pytest.mark.parametrize("positions, e_x, e_y", [(64, 0, 0), (1, 0, 0), (4096, -3, -1), (16, 0, -4)])
def test_power_of_two_is_exact(positions, e_x, e_y):
    f, err = global_avg_pool_params(positions, e_x, e_y)
    assert err == 0 and f["scale"] == 1 and f["pre_shift"] == 0
    s = np.arange(-128 * positions, 127 * positions + 1, dtype=np.int64)
    np.testing.assert_array_equal(_apply(s, f), np.floor(s * math.ldexp(1.0, e_x - e_y) / positions + 0.5))


def test_arith_uses_the_same_numbers():
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (2, 9, 7, 7), dtype=np.int8)
    f, _ = global_avg_pool_params(49, 0, 0)
    want = np.clip(_apply(x.astype(np.int64).sum(axis=(2, 3), keepdims=True), f), -128, 127)
    np.testing.assert_array_equal(global_avg_pool_int8(x, **f), want)


def test_impossible_rescale_is_refused():
    assert global_avg_pool_params(1, 0, -20) == (None, math.inf)     # ×2^20 does not fit a 16-bit multiplier
    with pytest.raises(ValueError, match="positions must be ≥ 1, not 0"):
        global_avg_pool_params(0, 0, 0)
