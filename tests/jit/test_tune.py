"""vta.jit.tune: the space, the folded stem layout, simulated annealing and the tuner on planted optima, and the
tuning log (round trip, refusals, named skips). Measurements here are synthetic or on fsim; the Verilator ones
are in benchmarks/tune.py."""

import importlib.util
import json
import warnings

import numpy as np
import pytest
from jit_reference import conv2d as ref_conv2d

from vta import load_config
from vta.jit import Runtime, check_conv2d
from vta.jit.tune import (
    BestSchedules,
    Point,
    Space,
    Task,
    TuneError,
    Tuner,
    anneal,
    append_records,
    fold_pays,
    layout_pays,
    layout_task,
    load_records,
    make_record,
)
from vta.jit.tune.log import tool_versions

STEM = Task.conv2d(1, 3, 24, 24, 16, 7, 7, 2, 3)


@pytest.fixture(scope="module")
def small():
    return load_config("small")


def test_every_point_of_a_space_passes_the_jit_check_and_the_heuristic_is_in_it(small):
    space = Space(small, Task.conv2d(1, 16, 10, 10, 16, 3, 3, 1, 1))
    assert len(space) > 50
    for p in space.points:
        check_conv2d(small, space.geometry(p), p.schedule)
    assert space.default() in space.index
    assert all(q in space.index for q in space.neighbours(space.points[len(space) // 2]))


def test_fold_is_offered_only_where_it_cuts_gemm_steps(small):
    assert fold_pays(small, STEM)                                   # 3·7 = 21 → 3 blocks of 8 < 7 blocks
    assert not fold_pays(small, Task.conv2d(1, 64, 8, 8, 64, 3, 3))  # 64·3 → 24 blocks = 3·8: no gain
    assert "fold_kw" in Space(small, STEM).tasks


def test_folded_stem_is_bit_exact_on_fsim(small):
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (1, 3, 24, 24), dtype=np.int8)
    w = rng.integers(-128, 128, (16, 3, 7, 7), dtype=np.int8)
    space = Space(small, STEM)
    folded = next(p for p in space.points if p.layout == "fold_kw" and p.schedule.n_vthreads == 2)
    from vta.jit.tune.measure import run_point
    with Runtime(small, "fsim") as rt:
        y, _ = run_point(rt, STEM, folded, x, w, 9)
    assert np.array_equal(y, ref_conv2d(x, w, None, 2, 3, 9, False))


def test_im2col_is_offered_only_where_it_cuts_gemm_steps(small):
    assert layout_pays(small, STEM, "im2col")                                 # 147 → 19 blocks of 8 < 49
    assert not layout_pays(small, Task.conv2d(1, 64, 8, 8, 64, 3, 3), "im2col")   # 576 → 72 blocks = 9·8
    assert not layout_pays(small, Task.conv2d(1, 3, 8, 8, 64, 1, 1), "im2col")    # nothing to unroll
    assert set(Space(small, STEM).tasks) == {"nchw", "fold_kw", "im2col"}
    assert layout_task(STEM, "im2col") == Task.conv2d(1, 147, 12, 12, 16, 1, 1, 1, 0)


@pytest.mark.parametrize("stride,pad,k", [((2, 2), (3, 3), (7, 7)), ((1, 2), (0, 1), (3, 2))])
def test_im2col_is_bit_exact_on_fsim(small, stride, pad, k):
    """Unrolled on the host, run as a 1×1 convolution (with a bias: the bias MOV epilogue), equal to the plain
    convolution's numpy reference; also through a tuning log's choice (`BestSchedules.conv2d_choice`)."""
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (2, 3, 13, 11), dtype=np.int8)
    w = rng.integers(-128, 128, (10, 3, *k), dtype=np.int8)
    bias = rng.integers(-5000, 5000, 10, dtype=np.int32)
    task = Task.conv2d(2, 3, 13, 11, 10, *k, stride, pad)
    space = Space(small, task)
    pt = next(p for p in space.points if p.layout == "im2col" and p.schedule.n_vthreads == 2)
    from vta.jit.tune.measure import run_point
    expect = ref_conv2d(x, w, bias, stride, pad, 8, False)
    with Runtime(small, "fsim") as rt:
        y, _ = run_point(rt, task, pt, x, w, 8, bias)
        np.testing.assert_array_equal(y, expect)
        rt.schedules = BestSchedules(small, [{"task": task, "point": pt, "cycles": 100, "exact": True}])
        y2, st = rt.conv2d(x, w, bias, stride=stride, padding=pad, shift=8)
    np.testing.assert_array_equal(y2, expect)
    assert st.schedule == pt.schedule and rt.schedules.hits == 1


def test_annealing_finds_a_planted_optimum(small):
    space = Space(small, Task.conv2d(1, 32, 16, 16, 32, 3, 3, 1, 1))
    target = space.points[len(space) // 3]
    key = lambda p: np.array([p.schedule.tile_h, p.schedule.tile_w, p.schedule.tile_ci, p.schedule.tile_co,
                              p.schedule.n_vthreads], float)
    score = lambda ps: np.array([-np.abs(key(p) - key(target)).sum() for p in ps])
    assert anneal(space, score, 1, n_chains=8, n_steps=200, seed=1)[0] == target


class Planted:
    """A synthetic measurer: cycles grow with the distance from a planted best point (tile sizes in log2)."""

    def __init__(self, space, best):
        self.space, self.best, self.calls = space, best, 0

    def cycles(self, p):
        a, b = p.schedule, self.best.schedule
        d = sum(abs(np.log2(getattr(a, f)) - np.log2(getattr(b, f)))
                for f in ("tile_h", "tile_w", "tile_ci", "tile_co")) + 2 * (a.n_vthreads != b.n_vthreads)
        return int(1000 * (1 + d))

    def measure(self, cfg, task, points, seed=0, check=False):
        self.calls += len(points)
        return [{"cycles": self.cycles(p), "error": None, "exact": True if check else None} for p in points]


def test_tuner_finds_the_planted_optimum_in_few_trials(small):
    pytest.importorskip("xgboost")
    task = Task.conv2d(1, 32, 16, 16, 32, 3, 3, 1, 1)
    space = Space(small, task)
    best = next(p for p in space.points if p.schedule.tile_h == 4 and p.schedule.tile_w == 8
                and p.schedule.tile_ci == 2 and p.schedule.tile_co == 1 and p.schedule.n_vthreads == 2)
    m = Planted(space, best)
    res = Tuner(small, task, m, space=space, seed=0).tune(48)
    assert res.best == best, (res.best, res.best_cycles)
    assert len(res.history) == 48 and len({p for p, _ in res.history}) == 48   # no point measured twice
    assert res.default_cycles is not None                                       # the heuristic is a baseline


def test_log_round_trip_and_best_schedule(tmp_path, small):
    task = Task.conv2d(1, 16, 10, 10, 16, 3, 3, 1, 1)
    space = Space(small, task)
    a, b = space.points[:2]
    path = str(tmp_path / "t.jsonl")
    append_records(path, [make_record(small, task, a, {"cycles": 500}), make_record(small, task, b, {"cycles": 400}),
                          make_record(small, task, space.points[2], {"cycles": None, "error": "boom"})])
    recs = load_records(path, small)
    assert [r["point"] for r in recs] == [a, b, space.points[2]] and recs[0]["task"] == task
    best = BestSchedules.load(path, small)
    assert best.lookup(task) == b
    x = np.zeros((1, 16, 10, 10), np.int8)
    w = np.zeros((16, 16, 3, 3), np.int8)
    assert best.conv2d_choice(small, x, w, 1, 1)[4] == b.schedule


def test_a_log_of_another_config_or_version_is_refused(tmp_path, small):
    task = Task.conv2d(1, 16, 10, 10, 16, 3, 3, 1, 1)
    p = Space(small, task).points[0]
    path = str(tmp_path / "t.jsonl")
    append_records(path, [make_record(small, task, p, {"cycles": 500})])
    with pytest.raises(TuneError, match="for config 'small'.*not 'default'"):
        load_records(path, load_config("default"))
    rec = make_record(small, task, p, {"cycles": 500})
    rec["versions"] = dict(tool_versions(), amaranth_vta="0.0.1")
    path2 = str(tmp_path / "v.jsonl")
    append_records(path2, [rec])
    with pytest.raises(TuneError, match="measured with amaranth_vta '0.0.1'"):
        load_records(path2, small)


def test_a_corrupt_line_is_skipped_by_name(tmp_path, small):
    task = Task.conv2d(1, 16, 10, 10, 16, 3, 3, 1, 1)
    p = Space(small, task).points[0]
    path = tmp_path / "t.jsonl"
    append_records(str(path), [make_record(small, task, p, {"cycles": 500})])
    with open(path, "a") as f:
        f.write('{"v": 1, "config": "x"\n')
        f.write(json.dumps({**json.loads(path.read_text().splitlines()[0]), "cycles": -3}) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recs = load_records(str(path), small)
    assert len(recs) == 1
    msgs = [str(w.message) for w in caught]
    assert any("line 2: skipped" in m for m in msgs) and any("line 3: skipped" in m and "-3" in m for m in msgs)


def test_records_of_an_older_format_are_skipped_with_one_warning(tmp_path, small):
    """Cycles measured under an older JIT (formats v2 and v3: before the one-pass epilogue) are not comparable:
    all are skipped, with one warning for the file rather than one per line."""
    task = Task.conv2d(1, 16, 10, 10, 16, 3, 3, 1, 1)
    pts = Space(small, task).points[:3]
    path = tmp_path / "old.jsonl"
    append_records(str(path), [make_record(small, task, p, {"cycles": 500 + i}) for i, p in enumerate(pts)])
    lines = path.read_text().splitlines()
    path.write_text("\n".join(json.dumps({**json.loads(x), "v": v}) for x, v in zip(lines[:2], (2, 3))) + "\n"
                    + lines[2] + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recs = load_records(str(path), small)
    assert [r["cycles"] for r in recs] == [502]
    assert len(caught) == 1 and "2 record(s) of an older format skipped" in str(caught[0].message)


def test_a_shape_missing_from_the_log_warns_by_name(small):
    best = BestSchedules(small, [], source="my.jsonl")
    with pytest.warns(UserWarning, match="my.jsonl has no tuned schedule for conv2d 1x16x10x10"):
        out = best.conv2d_choice(small, np.zeros((1, 16, 10, 10), np.int8), np.zeros((16, 16, 3, 3), np.int8), 1, 1)
    assert out[4] is None


def test_point_json_round_trip():
    p = Point.from_json({"layout": "fold_kw", "tile_b": 1, "tile_h": 2, "tile_w": 3, "tile_ci": 1, "tile_co": 2,
                         "n_vthreads": 2})
    assert Point.from_json(p.to_json()) == p
    assert Task.from_json(STEM.to_json()) == STEM


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="Ray is installed; this checks its absence")
def test_ray_missing_is_a_tune_error():
    from vta.jit.tune.measure import RayMeasurer, TuneError
    with pytest.raises(TuneError, match=r"--ray needs Ray: pip install 'amaranth-vta\[tune\]'"):
        RayMeasurer("auto")
