"""FunctionalSim GEMM: loop nests, reset, repeated acc entries, int32 wrap, every vectorization path, chunking."""

import contextlib

import numpy as np
import pytest
from fsim_helpers import Image, assert_same_state, execute, load_tiles, load_uops, rand_tiles

import vta.sim.fsim
from vta.isa import Gemm, Uop


def resident(cfg, img, rng, n_inp=32, n_wgt=8, n_acc=32, acc_range=(-1000, 1000)):
    """Loads of random inp, wgt and acc tiles; returns (insns, inp, wgt, acc)."""
    inp, wgt = rand_tiles(cfg, rng, "inp", n_inp), rand_tiles(cfg, rng, "wgt", n_wgt)
    acc = rand_tiles(cfg, rng, "acc", n_acc, *acc_range)
    return [load_tiles(cfg, img, "inp", inp), load_tiles(cfg, img, "wgt", wgt),
            load_tiles(cfg, img, "acc", acc)], inp, wgt, acc


def test_single_gemm_literal(cfg):
    """acc[d] += inp[s] @ wgt[w].T for one uop, checked against an explicit int64 product."""
    rng = np.random.default_rng(0)
    img = Image(cfg)
    insns, inp, wgt, acc = resident(cfg, img, rng)
    insns += [load_uops(cfg, img, [Uop(3, 5, 2)]), Gemm(uop_bgn=0, uop_end=1)]
    sim, stats, *_ = execute(cfg, img, insns)
    expect = acc[3] + inp[5] @ wgt[2].T
    np.testing.assert_array_equal(sim.acc[3], expect)
    np.testing.assert_array_equal(sim.out[3], (expect + 128) % 256 - 128)
    np.testing.assert_array_equal(sim.acc[4:32], acc[4:32])  # untouched
    assert not sim.out[4:].any()
    assert stats.macs == cfg.batch * cfg.block_in * cfg.block_out


NESTS = [  # (iter_out, iter_in, dst_out, dst_in, src_out, src_in, wgt_out, wgt_in)
    (1, 1, 0, 0, 0, 0, 0, 0),
    (2, 3, 6, 2, 4, 1, 2, 1),
    (3, 1, 1, 0, 2, 0, 1, 0),
    (1, 4, 0, 1, 0, 3, 0, 1),
    (4, 4, 0, 0, 1, 1, 1, 0),   # every iteration accumulates into the same few entries
    (2, 2, 8, 0, 0, 8, 0, 0),
    (0, 3, 1, 1, 1, 1, 1, 1),   # empty outer loop
    (3, 0, 1, 1, 1, 1, 1, 1),   # empty inner loop
]


@pytest.mark.parametrize("nest", NESTS, ids=[f"nest{i}-{n[0]}x{n[1]}" for i, n in enumerate(NESTS)])
@pytest.mark.parametrize("reset", [False, True])
def test_gemm_loop_nests(cfg, nest, reset):
    rng = np.random.default_rng(NESTS.index(nest) + 100 * reset)
    io, ii, do, di, so, si, wo, wi = nest
    img = Image(cfg)
    insns, *_ = resident(cfg, img, rng)
    uops = [Uop(int(rng.integers(0, 4)), int(rng.integers(0, 8)), int(rng.integers(0, 3))) for _ in range(5)]
    insns += [load_uops(cfg, img, uops),
              Gemm(reset_reg=reset, uop_bgn=1, uop_end=5, iter_out=io, iter_in=ii, dst_factor_out=do,
                   dst_factor_in=di, src_factor_out=so, src_factor_in=si, wgt_factor_out=wo, wgt_factor_in=wi)]
    sim, stats, dram, ref, dram_ref = execute(cfg, img, insns)
    assert_same_state(sim, ref, dram, dram_ref)
    iters = io * ii * 4
    assert stats.uops == iters
    assert stats.macs == (0 if reset else iters * cfg.batch * cfg.block_in * cfg.block_out)


def test_reset_zeroes_acc_and_out(cfg):
    rng = np.random.default_rng(2)
    img = Image(cfg)
    insns, *_ = resident(cfg, img, rng)
    insns += [load_uops(cfg, img, [Uop(u, u, 0) for u in range(8)]),
              Gemm(uop_bgn=0, uop_end=8),                                   # out gets nonzero values
              # A reset reads neither inp nor wgt: its src/wgt indices may point anywhere.
              Gemm(reset_reg=True, uop_bgn=2, uop_end=6, iter_out=2, src_factor_out=cfg.inp_depth - 1,
                   wgt_factor_out=cfg.wgt_depth - 1)]
    sim, stats, dram, ref, dram_ref = execute(cfg, img, insns)
    assert not sim.acc[2:6].any() and not sim.out[2:6].any()
    assert sim.out[[0, 1, 6, 7]].any()
    assert_same_state(sim, ref)
    assert stats.macs == 8 * cfg.macs_per_cycle and stats.uops == 16


def test_consecutive_uops_same_acc_entry(cfg):
    """Kernel where consecutive uops (and loop iterations) hit the same acc entry: every contribution counts."""
    rng = np.random.default_rng(3)
    img = Image(cfg)
    insns, inp, wgt, acc = resident(cfg, img, rng)
    uops = [Uop(7, 1, 0), Uop(7, 2, 1), Uop(7, 3, 0), Uop(4, 4, 2)]
    insns += [load_uops(cfg, img, uops), Gemm(uop_bgn=0, uop_end=4, iter_in=2, src_factor_in=10)]
    sim, stats, dram, ref, dram_ref = execute(cfg, img, insns)
    expect7 = acc[7] + sum(inp[s + 10 * j] @ wgt[w].T for j in range(2) for s, w in ((1, 0), (2, 1), (3, 0)))
    expect4 = acc[4] + sum(inp[4 + 10 * j] @ wgt[2].T for j in range(2))
    np.testing.assert_array_equal(sim.acc[7], expect7)
    np.testing.assert_array_equal(sim.acc[4], expect4)
    assert_same_state(sim, ref)


def test_accumulator_wraps_at_32_bits(cfg):
    """acc near INT32_MAX plus 127·127·BLOCK_IN wraps to negative; near INT32_MIN minus wraps to positive."""
    img = Image(cfg)
    inp = np.full((1, *cfg.inp_shape), 127)
    wgt = np.stack([np.full(cfg.wgt_shape, 127), np.full(cfg.wgt_shape, -128)])
    acc = np.stack([np.full(cfg.acc_shape, (1 << 31) - 5), np.full(cfg.acc_shape, -(1 << 31) + 5)])
    insns = [load_tiles(cfg, img, "inp", inp), load_tiles(cfg, img, "wgt", wgt), load_tiles(cfg, img, "acc", acc),
             load_uops(cfg, img, [Uop(0, 0, 0), Uop(1, 0, 1)]), Gemm(uop_bgn=0, uop_end=2, iter_out=3)]
    sim, *_ = execute(cfg, img, insns)
    up = (1 << 31) - 5 + 3 * 127 * 127 * cfg.block_in
    down = -(1 << 31) + 5 - 3 * 127 * 128 * cfg.block_in
    assert (sim.acc[0] == up - (1 << 32)).all()
    assert (sim.acc[1] == down + (1 << 32)).all()
    assert (sim.out[0] == (up - (1 << 32) + 128) % 256 - 128).all()


@pytest.mark.parametrize("path", ["one-weight", "grouped", "batched"])
def test_vectorization_paths(cfg, path):
    """The three product strategies (single weight tile, few tiles reused, mostly distinct tiles) agree with the
    reference, with heavy acc reuse."""
    rng = np.random.default_rng(7)
    img = Image(cfg)
    insns, *_ = resident(cfg, img, rng, n_inp=64, n_wgt=32, n_acc=16)
    n = 40
    wgt_of = {"one-weight": lambda u: 3, "grouped": lambda u: u % 2, "batched": lambda u: u % 32}[path]
    uops = [Uop(int(rng.integers(0, 16)), int(rng.integers(0, 64)), wgt_of(u)) for u in range(n)]
    insns += [load_uops(cfg, img, uops), Gemm(uop_bgn=0, uop_end=n)]
    sim, stats, dram, ref, dram_ref = execute(cfg, img, insns)
    assert_same_state(sim, ref)


@pytest.mark.parametrize("lanes_per_chunk", [40, 400])
def test_chunked_loop_nest(cfg, monkeypatch, lanes_per_chunk):
    """Tiny chunks force both the split-over-i and the split-over-j paths; results must not change."""
    monkeypatch.setattr(vta.sim.fsim, "MAX_CHUNK_LANES", lanes_per_chunk * cfg.batch * cfg.block_in)
    rng = np.random.default_rng(8)
    img = Image(cfg)
    insns, *_ = resident(cfg, img, rng)
    uops = [Uop(int(rng.integers(0, 8)), int(rng.integers(0, 8)), int(rng.integers(0, 4))) for _ in range(6)]
    insns += [load_uops(cfg, img, uops),
              Gemm(uop_bgn=0, uop_end=6, iter_out=4, iter_in=30, dst_factor_out=3, src_factor_out=2,
                   src_factor_in=0, wgt_factor_in=0, wgt_factor_out=1)]
    sim, stats, dram, ref, dram_ref = execute(cfg, img, insns)
    assert_same_state(sim, ref)
    assert stats.uops == 4 * 30 * 6


def test_random_gemm_programs(cfg):
    """Seeded random GEMM programs (several instructions, resets, random nests) against the loop reference."""
    rng = np.random.default_rng(2024)
    for _trial in range(12):
        img = Image(cfg)
        insns, *_ = resident(cfg, img, rng, n_inp=48, n_wgt=16, n_acc=48, acc_range=(-(1 << 31), 1 << 31))
        uops = [Uop(int(rng.integers(0, 12)), int(rng.integers(0, 16)), int(rng.integers(0, 6)))
                for _ in range(16)]
        insns.append(load_uops(cfg, img, uops))
        for _ in range(int(rng.integers(1, 5))):
            bgn = int(rng.integers(0, 16))
            end = int(rng.integers(bgn, 17))
            insns.append(Gemm(reset_reg=bool(rng.random() < 0.2), uop_bgn=bgn, uop_end=end,
                              iter_out=int(rng.integers(0, 4)), iter_in=int(rng.integers(0, 4)),
                              dst_factor_out=int(rng.integers(0, 6)), dst_factor_in=int(rng.integers(0, 6)),
                              src_factor_out=int(rng.integers(0, 8)), src_factor_in=int(rng.integers(0, 8)),
                              wgt_factor_out=int(rng.integers(0, 3)), wgt_factor_in=int(rng.integers(0, 3))))
        sim, stats, dram, ref, dram_ref = execute(cfg, img, insns)
        assert_same_state(sim, ref)
        expect_macs = sum(i.iter_out * i.iter_in * max(0, i.uop_end - i.uop_bgn)
                          for i in insns if isinstance(i, Gemm) and not i.reset_reg) * cfg.macs_per_cycle
        assert stats.macs == expect_macs


def _gemm_loop(acc, inp, wgt, d, s, w):
    """The sequential definition with int64 arithmetic (reference for `gemm_accumulate`)."""
    acc = acc.astype(np.int64)
    for dn, sn, wn in zip(d.tolist(), s.tolist(), w.tolist()):
        acc[dn] = (acc[dn] + inp[sn].astype(np.int64) @ wgt[wn].T.astype(np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)
    return acc.astype(np.int32)


@pytest.mark.parametrize("k, patterns, batch, extreme", [(9, 1, 1, False), (36, 4, 1, False), (27, 3, 2, False),
                                                         (100, 2, 1, True), (65, 1, 2, True), (64, 1, 1, True)])
def test_gemm_im2col_patterns_exact(k, patterns, batch, extreme):
    """Conv-shaped GEMMs (every target gets k contributions, a few weight-tile sequences reading the same input
    rows) take the im2col path — the rows gathered once, one BLAS product for all sequences, exact float32 up to
    2^10 lanes, float64 chunks beyond — and match the int64 loop bit for bit, including the largest products
    (-128·-128) and accumulators about to wrap."""
    from vta.sim import compute
    rng = np.random.default_rng(k)
    block, pixels = 16, 40
    n_inp, n_wgt, n_acc = pixels + k, patterns * k, patterns * pixels
    if extreme:
        inp = np.full((n_inp, batch, block), -128, dtype=np.int8)
        wgt = np.full((n_wgt, block, block), -128, dtype=np.int8)
        acc = np.full((n_acc, batch, block), (1 << 31) - 7, dtype=np.int32)
    else:
        inp = rng.integers(-128, 128, (n_inp, batch, block), dtype=np.int8)
        wgt = rng.integers(-128, 128, (n_wgt, block, block), dtype=np.int8)
        acc = rng.integers(-(1 << 31), 1 << 31, (n_acc, batch, block), dtype=np.int32)
    # loop order as the conv kernels emit it: pixel outer, then (pattern, contribution) uops
    p, c = np.meshgrid(np.arange(patterns), np.arange(k), indexing="ij")
    pix = np.arange(pixels)[:, None]
    d = (p.ravel()[None, :] * pixels + pix).ravel()
    s = (c.ravel()[None, :] + pix).ravel()
    w = np.broadcast_to((p * k + c).ravel(), (pixels, patterns * k)).ravel()
    plan = compute.gemm_plan(d, s, w)
    assert plan is not None
    assert plan[1].shape == (pixels, k)   # the patterns read the same rows: gathered once, one product for all
    expect = _gemm_loop(acc, inp, wgt, d, s, w)
    # BLAS limited to one thread (as during a simulator run: one call per product) and not (stacked row blocks)
    from vta.sim import fsim_blas
    for one_thread in (True, False):
        got, out, memo = acc.copy(), np.zeros_like(acc, dtype=np.int8), {}
        with fsim_blas.one_blas_thread() if one_thread else contextlib.nullcontext():
            compute.gemm_accumulate(got, out, inp, wgt, d, s, w, memo)
        assert memo["span"] == (0, n_acc)      # the targets, pattern by pattern, are one acc range: added in place
        np.testing.assert_array_equal(got, expect)
        np.testing.assert_array_equal(out, expect.astype(np.int8))


def test_one_blas_thread_is_active_only_inside():
    from vta.sim import fsim_blas
    assert not fsim_blas.active
    with fsim_blas.one_blas_thread():
        assert fsim_blas.active == bool(fsim_blas._blas())   # threadpoolctl found numpy's BLAS (or there is none)
        with fsim_blas.one_blas_thread():                     # nested: stays limited
            assert fsim_blas.active == bool(fsim_blas._blas())
        assert fsim_blas.active == bool(fsim_blas._blas())
    assert not fsim_blas.active


@pytest.mark.parametrize("k, patterns, batch", [(9, 3, 1), (70, 2, 2)])
def test_gemm_patterns_reading_their_own_rows_exact(k, patterns, batch):
    """Patterns whose targets read different input rows keep one product per pattern (no shared gather), also
    exact (float64 chunks past 2^10 lanes)."""
    from vta.sim import compute
    rng = np.random.default_rng(100 + k)
    block, pixels = 16, 30
    inp = rng.integers(-128, 128, (pixels + k + 3 * patterns, batch, block), dtype=np.int8)
    wgt = rng.integers(-128, 128, (patterns * k, block, block), dtype=np.int8)
    acc = rng.integers(-(1 << 31), 1 << 31, (patterns * pixels, batch, block), dtype=np.int32)
    p, c = np.meshgrid(np.arange(patterns), np.arange(k), indexing="ij")
    pix = np.arange(pixels)[:, None]
    d = (p.ravel()[None, :] * pixels + pix).ravel()
    s = (c.ravel()[None, :] + 3 * p.ravel()[None, :] + pix).ravel()
    w = np.broadcast_to((p * k + c).ravel(), (pixels, patterns * k)).ravel()
    plan = compute.gemm_plan(d, s, w)
    assert plan is not None and plan[1].shape == (patterns * pixels, k)
    expect = _gemm_loop(acc, inp, wgt, d, s, w)
    out = np.zeros_like(acc, dtype=np.int8)
    compute.gemm_accumulate(acc, out, inp, wgt, d, s, w)
    np.testing.assert_array_equal(acc, expect)
    np.testing.assert_array_equal(out, expect.astype(np.int8))


def test_gemm_irregular_targets_fall_back():
    """Targets with different contribution counts, or too many weight sequences, use the generic path."""
    from vta.sim import compute
    rng = np.random.default_rng(3)
    inp = rng.integers(-128, 128, (8, 1, 16), dtype=np.int8)
    wgt = rng.integers(-128, 128, (8, 16, 16), dtype=np.int8)
    d, s, w = np.array([0, 0, 1]), np.array([1, 2, 3]), np.array([0, 1, 2])
    assert compute.gemm_plan(d, s, w) is None
    d, s, w = np.repeat(np.arange(4), 2), np.arange(8), np.arange(8)   # 4 targets, 4 distinct sequences
    assert compute.gemm_plan(d, s, w) is None
    acc = rng.integers(-1000, 1000, (4, 1, 16), dtype=np.int32)
    expect = _gemm_loop(acc, inp, wgt, d, s, w)
    compute.gemm_accumulate(acc, np.zeros((4, 1, 16), np.int8), inp, wgt, d, s, w)
    np.testing.assert_array_equal(acc, expect)


def test_loop_nests_are_reused_only_for_identical_uops_and_fields(cfg):
    """The simulator keeps a GEMM/ALU loop nest's indices under its uop words and loop fields: the same
    instruction after the uops were reloaded with other words, or with another factor, gets fresh indices (and a
    fresh bounds check), and every run matches the reference."""
    from vta.errors import ProgramError
    from vta.isa import Alu, AluOp, Finish
    rng = np.random.default_rng(11)
    img = Image(cfg)
    insns, *_ = resident(cfg, img, rng, n_inp=32, n_wgt=8, n_acc=32)
    conv = [Uop(u % 4, u, u % 8) for u in range(8)]
    other = [Uop((u + 1) % 4, 31 - u, 7 - u % 8) for u in range(8)]
    gemm = Gemm(uop_bgn=0, uop_end=8, iter_out=3, dst_factor_out=4, src_factor_out=2)
    alu = Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=8, iter_out=3, dst_factor_out=4, src_factor_out=1)
    insns += [load_uops(cfg, img, conv), gemm, alu, gemm, load_uops(cfg, img, other), gemm, alu,
              gemm.replace(dst_factor_out=5), load_uops(cfg, img, conv), gemm, alu]
    sim, stats, dram, ref, dram_ref = execute(cfg, img, insns)
    assert_same_state(sim, ref)
    assert len(sim._nests) == 5   # conv GEMM, conv ALU, other GEMM, other ALU, the dst_factor_out=5 GEMM
    for idx, _memo in next(iter(sim._nests.values())):
        assert not any(a.flags.writeable for a in idx.values())
    far = gemm.replace(dst_factor_out=cfg.acc_depth // 2)   # same uops as a cached nest, a factor out of range
    img2 = Image(cfg)
    addr, count = img2.insns([load_uops(cfg, img2, conv), gemm, far, Finish()])
    with pytest.raises(ProgramError, match="acc index reaches") as e:
        sim.run(img2.build(), addr, count)   # the simulator that holds the conv GEMM's nest
    assert e.value.index == 2
