"""The float32-BLAS integer GEMMs of `vta.compiler.arith` against an int64 reference, including operands that
force the reduction to be split (sums beyond 2^24) and grouped convolutions."""

import numpy as np
import pytest

from vta.compiler.arith import _k_chunks, conv_int8, dense_int8


def _ref_conv(x, w, bias, shift, relu, strides, pads, groups):
    x, w = x.astype(np.int64), w.astype(np.int64)
    t, l, b, r = pads
    xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
    n, c, h, wd = xp.shape
    o, cg, kh, kw = w.shape
    sh, sw = strides
    oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
    og = o // groups
    acc = np.zeros((n, o, oh, ow), np.int64)
    for oi in range(o):
        gi = oi // og
        for i in range(kh):
            for j in range(kw):
                xs = xp[:, gi * cg:(gi + 1) * cg, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
                acc[:, oi] += np.tensordot(w[oi, :, i, j], xs, axes=([0], [1]))
    acc += bias.astype(np.int64).reshape(1, -1, 1, 1)
    s = np.asarray(shift).reshape(1, -1, 1, 1) if np.ndim(shift) else shift
    return np.clip(acc >> s, 0 if relu else -128, 127).astype(np.int8)


@pytest.mark.parametrize("extreme", [False, True])
@pytest.mark.parametrize("groups", [1, 2])
def test_conv_int8_exact(extreme, groups):
    rng = np.random.default_rng(3)
    c, o = 160, 8
    if extreme:      # |x|·Σ|w| ≈ 128·127·1440 > 2^24: the float32 product must be split
        x = np.full((2, c, 5, 6), -128, np.int8)
        x[:, ::7] = 127
        w = rng.choice(np.array([-127, 127], np.int8), (o, c // groups, 3, 3))
    else:
        x = rng.integers(-128, 128, (2, c, 5, 6), dtype=np.int8)
        w = rng.integers(-127, 128, (o, c // groups, 3, 3), dtype=np.int8)
    bias = rng.integers(-1 << 20, 1 << 20, o).astype(np.int32)
    shift = rng.integers(8, 20, o) if extreme else 12
    for strides, pads in (((1, 1), (1, 1, 1, 1)), ((2, 1), (0, 1, 2, 0))):
        got = conv_int8(x, w, bias, shift, False, strides, pads, groups)
        assert np.array_equal(got, _ref_conv(x, w, bias, shift, False, strides, pads, groups))


@pytest.mark.parametrize("k", [1, 700, 3000])
def test_dense_int8_exact(k):
    rng = np.random.default_rng(k)
    x = rng.integers(-128, 128, (5, k), dtype=np.int8)
    x[0] = -128
    w = rng.integers(-127, 128, (9, k), dtype=np.int8)
    w[1] = 127
    bias = rng.integers(-1 << 20, 1 << 20, 9).astype(np.int32)
    acc = x.astype(np.int64) @ w.astype(np.int64).T + bias
    for relu in (False, True):
        want = np.clip(acc >> 10, 0 if relu else -128, 127).astype(np.int8)
        assert np.array_equal(dense_int8(x, w, bias, 10, relu), want)


def test_k_chunks_bound_each_piece():
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (4, 5000), dtype=np.int8)
    pieces = _k_chunks(128, w)
    assert pieces[0][0] == 0 and pieces[-1][1] == 5000 and len(pieces) > 1
    for k0, k1 in pieces:
        assert 128 * np.abs(w[:, k0:k1].astype(np.int64)).sum(1).max() < 1 << 24
