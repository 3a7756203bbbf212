"""`vta tune` and the tuning log in `vta.compile` / `Runtime(schedules=…)`: the parts that need no Verilator."""

import numpy as np
import pytest

from vta import load_config
from vta.cli import main
from vta.jit import Runtime
from vta.jit.tune import BestSchedules, Space, Task, TuneError, append_records, make_record

STEM = Task.conv2d(1, 3, 24, 24, 16, 7, 7, 2, 3)


def one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_tune_refuses_an_unknown_model_and_layer(capsys, tmp_path):
    assert main(["tune", "nosuchnet", "-o", str(tmp_path / "l.jsonl")]) == 1
    assert "nosuchnet: no such file, and not a named task list (resnet18)" in one_error_line(capsys)
    assert main(["tune", "resnet18", "--layers", "C99", "-o", str(tmp_path / "l.jsonl")]) == 1
    assert "--layers: 'C99' is not a layer of resnet18" in one_error_line(capsys)


def test_the_runtime_runs_the_logged_schedule_and_folded_layout(tmp_path):
    """A log entry (here a folded stem) is what the runtime runs when the call names no schedule; bit-exact."""
    cfg = load_config("small")
    space = Space(cfg, STEM)
    pick = next(p for p in space.points if p.layout == "fold_kw" and p.schedule.tile_h == 2)
    path = str(tmp_path / "t.jsonl")
    append_records(path, [make_record(cfg, STEM, pick, {"cycles": 10})])
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (1, 3, 24, 24), dtype=np.int8)
    w = rng.integers(-128, 128, (16, 3, 7, 7), dtype=np.int8)
    with Runtime(cfg, "fsim") as plain:
        ref, st0 = plain.conv2d(x, w, stride=2, padding=3, shift=9)
    best = BestSchedules.load(path, cfg)
    with Runtime(cfg, "fsim", schedules=best) as rt:
        y, st = rt.conv2d(x, w, stride=2, padding=3, shift=9)
    assert st.schedule == pick.schedule and best.hits == 1
    assert np.array_equal(y, ref)
    assert st.macs < st0.macs        # the folded stem pads 21 channels to 24, not 3 to 8 seven times


def test_compile_refuses_a_log_of_another_config_before_compiling(tmp_path):
    import vta
    cfg = load_config("small")
    p = Space(cfg, STEM).points[0]
    path = str(tmp_path / "t.jsonl")
    append_records(path, [make_record(cfg, STEM, p, {"cycles": 10})])
    with pytest.raises(TuneError, match="is for config 'small'"):
        vta.compile("/nonexistent.onnx", config="default", tuning_log=path)
