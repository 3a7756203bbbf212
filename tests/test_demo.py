"""The README demo: its program computes clip((x @ wᵀ) >> shift) bit for bit, on every preset."""

import numpy as np
import pytest

from vta import load_config
from vta.demo import build_matmul, main, read_output
from vta.sim import FunctionalSim


@pytest.mark.parametrize("preset", ["default", "small"])
@pytest.mark.parametrize("shift", [0, 5, 9])
def test_demo_program_matches_numpy(preset, shift):
    cfg = load_config(preset)
    rng = np.random.default_rng(shift)
    M, K, N = 4 * cfg.batch, 2 * cfg.block_in, 2 * cfg.block_out
    x = rng.integers(-128, 128, size=(M, K), dtype=np.int8)
    w = rng.integers(-128, 128, size=(N, K), dtype=np.int8)
    dram, insns, _ = build_matmul(cfg, x, w, shift)
    stats = FunctionalSim(cfg).run(dram, 0, len(insns))
    acc = x.astype(np.int64) @ w.astype(np.int64).T
    expected = np.clip(acc >> shift, -128, 127)
    assert np.array_equal(read_output(cfg, dram, M, N), expected)
    assert stats.macs == M * K * N


def test_demo_main_reports_success():
    lines = []
    assert main("small", "fsim", out=lines.append) == 0
    assert any("matches numpy bit for bit" in line for line in lines)
