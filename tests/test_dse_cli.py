"""``vta dse`` on the command line: argument parsing, the files it writes and its one-line errors, with the fake
evaluator of tests/test_dse.py standing in for Yosys/Verilator/nextpnr."""

import csv
import importlib.util

import pytest
from dse_helpers import FakeEvaluator

import vta.dse_eval
from vta.cli import main

made = []


def _fake(*args, **kwargs):
    made.append((args, kwargs))
    return FakeEvaluator()


@pytest.fixture
def fake(monkeypatch):
    made.clear()
    monkeypatch.setattr(vta.dse_eval, "Evaluator", _fake)
    return made


def test_cli_writes_csv_and_png(tmp_path, fake, capsys):
    out = tmp_path / "out"
    assert main(["dse", "--model", "mnist", "--board", "ulx3s-85f", "-o", str(out), "--jobs", "1",
                 "--blocks", "3", "--bus", "32,64", "--buffers", "1", "--trials", "3", "--pnr", "1"]) == 0
    (args, kwargs), = fake
    assert args[:2] == ("mnist", "ulx3s-85f") and kwargs["trials"] == 3
    with open(out / "pareto.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["config"] for r in rows] == ["b1x8x8-bus32-u13i13w15a15", "b1x8x8-bus64-u13i13w15a15"]
    assert rows[1]["preset"] == "True" and all(r["cycles"] and r["lut"] for r in rows)
    assert sum(r["chosen"] == "True" for r in rows) == 1
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = capsys.readouterr().out
    assert "b1x8x8-bus64-u13i13w15a15" in text and "pareto.csv" in text


@pytest.mark.parametrize("argv, message", [
    (["--bus", "48"], "bus width (bits) values must be among 32, 64, 128, 256, 512, not 48"),
    (["--blocks", "a,b"], "--blocks must be comma-separated integers, not 'a,b'"),
    (["--buffers", "0.5,3"], "--buffers must be comma-separated powers of two (0.25, 0.5, 1, 2 …), not '3'"),
    (["--pnr", "-2"], "--pnr must be a whole number ≥ 0, not -2"),
    (["--max-util", "0"], "--max-util must be a percentage in (0, 100], not 0.0"),
    (["--board", "de10"], "unknown board 'de10'; known boards are ulx3s-85f, icebreaker"),
    (["--model", "nope.onnx"], "--model must be an ONNX file or a shipped model (mnist, digits), not 'nope.onnx'"),
])
def test_cli_bad_input_is_one_line(tmp_path, argv, message, capsys):
    base = {"--model": "mnist", "--board": "ulx3s-85f", "-o": str(tmp_path / "o")}
    for k, v in zip(argv[::2], argv[1::2]):
        base[k] = v
    code = main(["dse", *[x for kv in base.items() for x in kv], "--jobs", "1"])
    err = capsys.readouterr().err
    assert code in (1, 2)
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="Ray is installed; this checks its absence")
def test_ray_missing_is_a_clear_error():
    from vta.dse import DSEError, make_pool
    with pytest.raises(DSEError, match=r"--ray needs Ray: pip install 'amaranth-vta\[tune\]'"):
        make_pool(ray="auto")
