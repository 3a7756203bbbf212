"""matmul of two run-time int8 operands (attention's Q·Kᵀ and P·V per head) on the functional simulator against a
plain int64 numpy product with the same epilogue, over shapes that are and are not multiples of the block, and
its argument errors."""

import numpy as np
import pytest
from jit_helpers import CONFIGS, make_runtime, randint8

import vta
from vta.errors import VTAError


@pytest.fixture(scope="module", params=CONFIGS)
def rt(request):
    return make_runtime(vta.load_config(request.param))


def reference(a, b, bias, shift, relu):
    """clip(((a @ b) + bias) >> shift) in int64, one product per leading index."""
    acc = np.matmul(a.astype(np.int64), b.astype(np.int64))
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    return np.clip(acc >> shift, 0 if relu else -128, 127).astype(np.int8)


@pytest.mark.parametrize("g,n,k,m", [(1, 16, 16, 16), (4, 16, 16, 16), (3, 5, 7, 9), (2, 33, 20, 17),
                                     (12, 7, 64, 7)])
def test_matmul_matches_integer_product(rt, g, n, k, m):
    rng = np.random.default_rng(g * 1000 + n * 100 + k * 10 + m)
    a, b = randint8(rng, (g, n, k)), randint8(rng, (g, k, m))
    shift = int(rng.integers(6, 12))
    y, st = rt.matmul(a, b, shift=shift)
    np.testing.assert_array_equal(y, reference(a, b, None, shift, False))
    assert st.useful_macs == g * n * k * m
    assert st.macs >= st.useful_macs           # padding of K and M to whole blocks is computed too
    if m % rt.cfg.block_out == 0:                  # heads side by side per row: merging them is a view
        assert y.transpose(1, 0, 2).flags.c_contiguous


def test_matmul_transposed_b_bias_relu_2d(rt):
    rng = np.random.default_rng(7)
    a, bt = randint8(rng, (10, 24)), randint8(rng, (19, 24))
    bias = rng.integers(-5000, 5000, 19, dtype=np.int32)
    y, _ = rt.matmul(a, bt, bias=bias, shift=8, relu=True, transpose_b=True)
    np.testing.assert_array_equal(y, reference(a, bt.T, bias, 8, True))
    assert y.shape == (10, 19) and y.min() >= 0


def test_matmul_bias_per_product(rt):
    """A (G, M) bias: each head's product gets its own row (the column sums of an offset left operand)."""
    rng = np.random.default_rng(11)
    a, b = randint8(rng, (3, 9, 20)), randint8(rng, (3, 20, 13))
    bias = rng.integers(-300000, 300000, (3, 13), dtype=np.int32)
    y, _ = rt.matmul(a, b, bias=bias, shift=9)
    np.testing.assert_array_equal(y, reference(a, b, bias[:, None, :], 9, False))
    assert not np.array_equal(y[0], reference(a, b, bias[1], 9, False)[0])   # rows are not interchangeable


def test_matmul_bad_input_names_the_problem(rt):
    a = np.zeros((2, 4, 8), np.int8)
    with pytest.raises(VTAError, match="inner dimensions must match"):
        rt.matmul(a, np.zeros((2, 9, 5), np.int8))
    with pytest.raises(VTAError, match="products"):
        rt.matmul(a, np.zeros((3, 8, 5), np.int8))
    with pytest.raises(VTAError, match="int8"):
        rt.matmul(a.astype(np.int16), np.zeros((2, 8, 5), np.int8))
    with pytest.raises(VTAError, match="2-D .* or 3-D"):
        rt.matmul(a, np.zeros((8, 5), np.int8))
    with pytest.raises(VTAError, match=r"bias must have shape \(5,\) .* or \(2, 5\) .*not \(4,\)"):
        rt.matmul(a, np.zeros((2, 8, 5), np.int8), bias=np.zeros(4, np.int32))
    with pytest.raises(VTAError, match=r"not \(3, 5\)"):
        rt.matmul(a, np.zeros((2, 8, 5), np.int8), bias=np.zeros((3, 5), np.int32))
