"""The stream cache (`vta.jit.stream_cache`, `Runtime.run_stream`) on the functional simulator: a repeated call
reuses its finished stream and gives the same bits as a runtime that rebuilds every stream; any change of what
the stream depends on — an operand address, a shape, a schedule, an immediate, a kernel no longer resident, the
zero page moved — builds the stream again; a compiled model gives identical outputs with and without the cache."""

import jit_reference as ref
import numpy as np
import pytest
from jit_helpers import make_runtime, randint8

import vta
from vta.jit import Conv2dSchedule


@pytest.fixture
def rt():
    return make_runtime(vta.load_config("small"))


def op_sequence(rt, rng):
    """One call of every operator kind (conv with and without a bias, a conv reading the zero page,
    element-wise, pooling, dense, reductions): the outputs and each call's `OpStats`."""
    x, w = randint8(rng, (1, 12, 9, 9)), randint8(rng, (20, 12, 3, 3))
    bias = rng.integers(-3000, 3000, 20, dtype=np.int32)
    calls = [
        lambda: rt.conv2d(x, w, bias, stride=1, padding=1, shift=9, relu=True),
        lambda: rt.conv2d(x, w, None, stride=2, padding=1, shift=8),
        # 1×1 kernel, padding 2, one output row per tile: the first tiles read only padding (the zero page)
        lambda: rt.conv2d(x, w[:, :, :1, :1], None, stride=1, padding=2, shift=6,
                          schedule=Conv2dSchedule(1, 1, 13, 1, 1, 2)),
        lambda: rt.add(x, x[:, ::-1].copy(), a_shift=1, shift=1, relu=True),
        lambda: rt.relu(x),
        lambda: rt.max_pool2d(x, 3, 2, 1),
        lambda: rt.dense(x.reshape(3, -1)[:, :100].copy(), randint8(rng, (30, 100)), None, shift=8),
        lambda: rt.requantize(rng.integers(-(1 << 20), 1 << 20, (5, 40), dtype=np.int32), shift=7, offset=33),
        lambda: rt.global_avg_pool(x, 2, 2675, 15),
        lambda: rt.channel_scale(x, randint8(rng, (1, 12, 1, 1)), 7),
        lambda: rt.prelu(x, rng.integers(-300, 300, 12, dtype=np.int32), 8),
    ]
    out = [c() for c in calls]
    return [y for y, _ in out], [st for _, st in out]


def test_repeated_calls_reuse_the_stream_and_match_a_runtime_without_cache(rt):
    plain = make_runtime(rt.cfg, cache_streams=False)
    runs = [op_sequence(rt, np.random.default_rng(5)) for _ in range(3)]
    ref_runs = [op_sequence(plain, np.random.default_rng(5)) for _ in range(3)]
    for (ys, _), (ref_ys, ref_stats) in zip(runs, ref_runs):
        for y, r in zip(ys, ref_ys):
            np.testing.assert_array_equal(y, r)
        assert not any(s.stream_cached for s in ref_stats)
    assert not any(s.stream_cached for s in runs[0][1])
    assert all(s.stream_cached for _, stats in runs[1:] for s in stats)
    assert rt.streams.hits == 2 * len(runs[0][1]) and plain.streams is None
    # the outputs are right in absolute terms too (the first conv against the independent reference)
    rng = np.random.default_rng(5)
    x, w = randint8(rng, (1, 12, 9, 9)), randint8(rng, (20, 12, 3, 3))
    bias = rng.integers(-3000, 3000, 20, dtype=np.int32)
    np.testing.assert_array_equal(runs[2][0][0], ref.conv2d(x, w, bias, 1, 1, 9, True))
    # the sequence's kernels overflow the small config's uop buffer, so both runtimes reload some on every pass;
    # a replayed stream skips the loads of kernels the device still holds, so it loads no more than a fresh
    # build, and does the same GEMM, ALU and STORE work
    for s, r in zip(runs[2][1], ref_runs[2][1]):
        assert s.uop_loads <= r.uop_loads and s.kernel_builds == r.kernel_builds == 0
        work = lambda st: {k: st.insns_by_opcode.get(k, 0) for k in ("GEMM", "ALU", "STORE")}
        assert work(s) == work(r)


def test_reused_stream_is_the_stream_a_fresh_build_gives(rt):
    """The cached program equals, instruction for instruction, the first build (bar uop loads made no-ops), and
    gives the reference result."""
    rng = np.random.default_rng(7)
    x, w = randint8(rng, (1, 16, 8, 8)), randint8(rng, (24, 16, 3, 3))
    bias = rng.integers(-2000, 2000, 24, dtype=np.int32)
    y1, first = rt.conv2d(x, w, bias, padding=1, shift=8, relu=True)
    x2, w2 = randint8(rng, x.shape), randint8(rng, w.shape)       # new data, same stream inputs
    y2, second = rt.conv2d(x2, w2, bias, padding=1, shift=8, relu=True)
    assert second.stream_cached and not first.stream_cached
    np.testing.assert_array_equal(y1, ref.conv2d(x, w, bias, 1, 1, 8, True))
    np.testing.assert_array_equal(y2, ref.conv2d(x2, w2, bias, 1, 1, 8, True))
    assert len(first.program) == len(second.program)
    for a, b in zip(first.program, second.program):
        if a != b:   # only the uop loads differ: now zero-size, the same dependency flags
            assert isinstance(a, vta.isa.Load) and a.memory_type == vta.isa.MemId.UOP and a.x_size > 0
            assert b == a.replace(sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0)
    assert first.uop_loads > 0 and second.uop_loads == 0


def _conv(rt, x, w, **kw):
    args = dict(bias=None, stride=1, padding=1, shift=8, relu=False)
    args.update(kw)
    return rt.conv2d(x, w, args.pop("bias"), **args)


def test_a_changed_input_of_the_stream_builds_it_again(rt):
    rng = np.random.default_rng(8)
    x, w = randint8(rng, (1, 12, 9, 9)), randint8(rng, (20, 12, 3, 3))
    y, st = _conv(rt, x, w)
    assert not st.stream_cached and _conv(rt, x, w).stats.stream_cached
    # an operand at another DRAM address: a block allocated first moves every operand up
    hold = rt.alloc.alloc(4096, name="test: shifts the operands")
    y2, st2 = _conv(rt, x, w)
    assert not st2.stream_cached
    np.testing.assert_array_equal(y2, y)
    dram_bases = lambda p: [i.dram_base for i in p if isinstance(i, vta.isa.Load) and i.x_size]
    assert dram_bases(st2.program) != dram_bases(st.program)
    rt.alloc.free(hold)
    assert _conv(rt, x, w).stats.stream_cached                    # the old addresses again: the old stream
    # another shape, schedule, immediate, or epilogue
    changed = [
        lambda: _conv(rt, x[:, :, :8], w),
        lambda: _conv(rt, x, w, schedule=Conv2dSchedule(1, 3, 9, 1, 1, 2)),
        lambda: _conv(rt, x, w, shift=7),
        lambda: _conv(rt, x, w, relu=True),
        lambda: _conv(rt, x, w, stride=2),
        lambda: _conv(rt, x, w, bias=np.arange(20, dtype=np.int32)),
    ]
    for call in changed:
        y_new, st_new = call()
        assert not st_new.stream_cached
        assert call().stats.stream_cached
    y_new, _ = _conv(rt, x, w, shift=7)
    np.testing.assert_array_equal(y_new, ref.conv2d(x, w, None, 1, 1, 7, False))


def test_a_stream_relying_on_resident_kernels_is_rebuilt_once_they_are_gone(rt):
    rng = np.random.default_rng(9)
    x, w = randint8(rng, (1, 12, 9, 9)), randint8(rng, (20, 12, 3, 3))
    _conv(rt, x, w)
    rt.streams.clear()
    _, relying = _conv(rt, x, w)            # built while its kernels were resident: it loads none
    assert not relying.stream_cached and relying.uop_loads == 0
    rt.kernels.forget_residency()           # e.g. the device was reset
    y, st = _conv(rt, x, w)
    assert not st.stream_cached and st.uop_loads > 0
    np.testing.assert_array_equal(y, ref.conv2d(x, w, None, 1, 1, 8, False))


def test_a_moved_zero_page_rebuilds_the_streams_reading_it(rt):
    rng = np.random.default_rng(10)
    x, w = randint8(rng, (1, 12, 9, 9)), randint8(rng, (20, 12, 1, 1))
    call = lambda: rt.conv2d(x, w, None, padding=2, shift=6, schedule=Conv2dSchedule(1, 1, 13, 1, 1, 2))
    _, st = call()
    zero = rt._zeros
    assert zero is not None and any(isinstance(i, vta.isa.Load) and i.x_size and i.x_stride == 0
                                    for i in st.program)   # it does read the zero page
    assert call().stats.stream_cached
    rt.zeros_region(rt.cfg.inp_elem_bytes, zero.nbytes)    # a bigger zero page, allocated elsewhere
    assert rt._zeros != zero
    y, st = call()
    assert not st.stream_cached
    np.testing.assert_array_equal(y, ref.conv2d(x, w, None, 1, 2, 6, False))


def test_a_compiled_model_gives_the_same_bits_with_and_without_the_cache():
    """The digits CNN on fsim: three passes over the same images with the cache (the later ones replaying every
    stream) equal one pass of a runtime without it, and the numpy semantics of the program."""
    from vta.compiler.datasets import load, model_path
    xtr, ytr, xte, _ = load("digits")
    with open(model_path("digits"), "rb") as f:
        cm = vta.compile(f.read(), calibration=xtr[:100], labels=ytr[:100], search=False, config="small")
    with cm:
        rt = cm.device_run("fsim").runtime
        cached = [cm.run(xte[:3])[0] for _ in range(3)]
        assert rt.streams.hits > 0 and rt.streams.hits >= 2 * rt.streams.misses
        rt.streams = None
        plain = cm.run(xte[:3])[0]
    for y in cached:
        np.testing.assert_array_equal(y, plain)
    np.testing.assert_array_equal(plain, cm.simulate(xte[:3])[0])


def test_cache_is_bounded(rt):
    rng = np.random.default_rng(11)
    x = randint8(rng, (1, 16, 6, 6))
    rt.streams.max_entries = 3
    for k in range(5):
        rt.relu(x[:, :, : k + 2].copy())
    assert len(rt.streams) == 3
    rt.streams.clear()
    rt.streams.max_entries, rt.streams.max_insns = 100, 12
    sizes = [rt.relu(x[:, :, : k + 2].copy()).stats.insns for k in range(5)]
    assert 0 < rt.streams.insns <= 12 and 0 < len(rt.streams) < 5
    assert rt.streams.insns == sum(sizes[-len(rt.streams):])    # the most recent ones are kept
