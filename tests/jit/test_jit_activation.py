"""Piecewise-linear activations on the tensor ALU (clip of an affine function, LeakyReLU, HardSwish): the
functional simulator's results equal the compiler steps' numpy semantics (`vta.compiler.arith`) bit for bit, on
random shapes whose sizes are not multiples of the BATCH·BLOCK_OUT lanes; the semantics themselves are checked
against float definitions."""

import numpy as np
import pytest
from jit_helpers import CONFIGS, make_runtime, randint8

import vta
from vta.compiler.arith import affine_clip_int8, hard_swish_int8, leaky_relu_int8
from vta.errors import VTAError


@pytest.fixture(scope="module", params=CONFIGS)
def rt(request):
    return make_runtime(vta.load_config(request.param))


def _shape(rng):
    return tuple(int(d) for d in rng.integers(1, 9, int(rng.integers(1, 5))))


@pytest.mark.parametrize("seed", range(4))
def test_clip_matches_semantics(rt, seed):
    rng = np.random.default_rng(700 + seed)
    x = randint8(rng, _shape(rng))
    scale, offset, shift = int(rng.integers(-300, 300)), int(rng.integers(-3000, 3000)), int(rng.integers(0, 9))
    lo = int(rng.integers(-128, 20))
    hi = int(rng.integers(lo, 128))
    y, _ = rt.clip(x, lo, hi, scale, offset, shift)
    np.testing.assert_array_equal(y, affine_clip_int8(x, scale, offset, shift, lo, hi))
    assert y.min() >= lo and y.max() <= hi


@pytest.mark.parametrize("lo", [-128, 0])
def test_int8_clip_is_the_requantizing_write(rt, lo):
    """Clip to [−128, 127] or [0, 127] after an affine map: its shift and clip are the ADD's requantizing out
    write (MUL and ADD remain, no SHR/MAX/MIN); exact."""
    rng = np.random.default_rng(200 + lo)
    x = randint8(rng, (3, 50, 7))
    y, st = rt.clip(x, lo, 127, 37, -900, 4)
    np.testing.assert_array_equal(y, affine_clip_int8(x, 37, -900, 4, lo, 127))
    ops = {i.alu_opcode for i in st.program if isinstance(i, vta.isa.Alu)}
    assert ops == {vta.isa.AluOp.SETQ, vta.isa.AluOp.MUL, vta.isa.AluOp.ADD}


@pytest.mark.parametrize("seed", range(4))
def test_leaky_relu_matches_semantics(rt, seed):
    rng = np.random.default_rng(800 + seed)
    x = randint8(rng, _shape(rng))
    scale, shift = int(rng.integers(0, 256)), int(rng.integers(0, 9))
    y, _ = rt.leaky_relu(x, scale, shift)
    np.testing.assert_array_equal(y, leaky_relu_int8(x, scale, shift))


def test_leaky_relu_semantics_is_the_slope():
    x = np.arange(-128, 128, dtype=np.int8)
    y = leaky_relu_int8(x, 26, 8).astype(np.float64)   # slope 26/256 ≈ 0.1
    xf = x.astype(np.float64)
    want = np.where(xf >= 0, xf, xf * 26 / 256)
    assert np.max(np.abs(y - want)) <= 0.5


@pytest.mark.parametrize("seed", range(4))
def test_hard_swish_matches_semantics(rt, seed):
    rng = np.random.default_rng(900 + seed)
    x = randint8(rng, _shape(rng))
    args = (int(rng.integers(1, 400)), int(rng.integers(0, 8000)), int(rng.integers(0, 8)), int(rng.integers(1, 129)),
            int(rng.integers(0, 12)))
    y, _ = rt.hard_swish(x, *args)
    np.testing.assert_array_equal(y, hard_swish_int8(x, *args))


def test_hard_swish_semantics_is_x_times_hard_sigmoid():
    # x at 2^-4, h at 2^-7 (one = 128): h = clip((x·2^-4/6 + 0.5)·128) = clip((x·4/3 + 64)), exactly via x·341 >> 8
    x = np.arange(-128, 128, dtype=np.int8)
    y = hard_swish_int8(x, 341, 64 * 256, 8, 128, 7).astype(np.float64) * 2.0 ** -4
    xf = x * 2.0 ** -4
    want = xf * np.clip(xf / 6 + 0.5, 0, 1)
    assert np.max(np.abs(y - want)) <= 2.0 ** -4


def test_activation_errors_name_the_limit(rt):
    x = np.zeros(5, np.int8)
    with pytest.raises(VTAError, match="lo=3 > hi=2"):
        rt.clip(x, 3, 2)
    with pytest.raises(VTAError, match="scale must be an integer in -32768..32767"):
        rt.leaky_relu(x, 40000, 3)
