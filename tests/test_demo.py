"""The README demo (`vta.demo.main`): by default the MNIST model demo — which still prints its accuracy table, and
says why cycles are missing, when Verilator cannot run — and the matmul demo, whose program computes
clip((x @ wᵀ) >> shift) bit for bit on every preset."""

import io
import sys

import numpy as np
import pytest

from vta import VTAError, load_config
from vta.demo import build_matmul, main, matmul_main, read_output
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


def test_matmul_demo_reports_success():
    lines = []
    assert matmul_main("small", "fsim", out=lines.append) == 0
    assert any("matches numpy bit for bit" in line for line in lines)
    buf = io.StringIO()
    assert main("matmul", "small", out=buf) == 0
    assert "matches numpy bit for bit" in buf.getvalue()


def test_default_demo_is_mnist_and_survives_missing_verilator(monkeypatch):
    """With Verilator unusable (its module made unimportable) the model demo still prints the accuracy table,
    says why the cycles are missing, and exits 0: the VTA results themselves are right."""
    for mod in ("onnx", "onnxruntime", "mlxtend"):
        pytest.importorskip(mod, reason=f"the model demo needs {mod} (pip install {mod})")
    monkeypatch.setitem(sys.modules, "vta.sim.verilator", None)
    buf = io.StringIO()
    assert main(images=16, n_calib=100, out=buf) == 0
    text = buf.getvalue()
    assert "16 held-out test images" in text and "100 training images" in text
    assert "VTA int8 (fsim)" in text and "FP32" in text
    assert "onnxruntime int8 QDQ MinMax" in text
    assert "VTA cycles per image: not measured — Verilator cannot run here (VTAError: Verilator co-simulation is " \
           "not available" in text
    assert "where each layer ran" in text and "(fsim)" in text


def test_unknown_demo_model():
    with pytest.raises(VTAError, match="demo model must be one of mnist, matmul, not 'lenet'"):
        main("lenet")
