"""The fast choice path of the shipped cost model (`vta.jit.tune.tophub`) picks exactly what the old one did.

The old path, written out here as the reference: enumerate every (layout, schedule) of the task with
``itertools.product`` and `check_conv2d`, one `features` vector per point, one ``predict`` over them, the top
scores within 1e-6, the lowest `estimate` among those (the first in order on a tie). The new path
(`space.candidates`, `features.feature_table`, `tophub.best_point`) must give the same candidates in the same
order, bit-identical feature rows and the same point — including shapes where the model ties. Then the choices
kept in memory and on disk (`choice_cache`): reused without scoring (or loading the model), and a stale or
corrupt entry ignored, never trusted.
"""

import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("xgboost", reason="the cost model is an XGBoost ranker (pip install xgboost-cpu)")

from vta import load_config
from vta.jit.schedule import Conv2dSchedule, ScheduleError, _tile_sizes, check_conv2d
from vta.jit.tune import Space, Task, tophub
from vta.jit.tune.features import estimate, feature_table, features
from vta.jit.tune.layout import LAYOUTS, layout_pays, layout_task
from vta.jit.tune.space import Point, candidates
from vta.jit.tune.tophub import ModelSchedules, best_point

# a stem (im2col and fold_kw pay), 3×3, strided 1×1 (row skip), dense, and two shapes where the shipped model's
# top score is shared by several points (the estimate decides)
SHAPES = [Task.conv2d(1, 3, 32, 32, 16, 7, 7, 2, 3), Task.conv2d(1, 64, 14, 14, 64, 3, 3, 1, 1),
          Task.conv2d(1, 64, 14, 14, 128, 1, 1, 2, 0), Task.dense(1, 512, 1000),
          Task.conv2d(2, 16, 8, 8, 16, 1, 1, 1, 0), Task.conv2d(2, 32, 8, 8, 32, 1, 1, 1, 0)]
TIED = SHAPES[4:]


@pytest.fixture(scope="module")
def cfg():
    return load_config("default")


@pytest.fixture(scope="module")
def shipped(cfg):
    return ModelSchedules.load(cfg, cache=False).model


def reference_points(cfg, task):
    """[(point, geometry)] in the old enumeration order, each accepted by `check_conv2d` itself."""
    out = []
    for lay in LAYOUTS:
        if not layout_pays(cfg, task, lay):
            continue
        g = layout_task(task, lay).geometry(cfg)
        axes = [_tile_sizes(g.nb), _tile_sizes(g.oh), _tile_sizes(g.ow), _tile_sizes(g.cb), _tile_sizes(g.ob), [1, 2]]
        for combo in itertools.product(*axes):
            s = Conv2dSchedule(*combo)
            try:
                check_conv2d(cfg, g, s)
            except ScheduleError:
                continue
            out.append((Point(s, lay), g))
    return out


def reference_choice(cfg, model, task):
    """(point, how many points share the top score) by the old scoring path."""
    pts = reference_points(cfg, task)
    X = np.array([features(cfg, g, p) for p, g in pts], np.float32)
    scores = np.asarray(model.predict_rows(X), np.float64)
    top = np.flatnonzero(scores >= scores.max() - 1e-6)
    best = min((pts[i] for i in top), key=lambda pg: estimate(cfg, pg[1], pg[0].schedule))
    return best[0], len(top)


@pytest.mark.parametrize("name", ["default", "small"])
def test_candidates_are_what_check_conv2d_accepts_in_the_old_order(name):
    cfg = load_config(name)
    for task in SHAPES[:4] + [Task.conv2d(3, 5, 9, 11, 40, 3, 5, (2, 1), (1, 2))]:
        got = [(Point(s, lay), g) for lay, g, t in candidates(cfg, task) for s in t.schedules()]
        ref = reference_points(cfg, task)
        assert [p for p, _ in got] == [p for p, _ in ref], task
        assert Space(cfg, task).points == [p for p, _ in ref]
        assert all(type(v) is int for p, _ in got[:5] for v in vars(p.schedule).values())


@pytest.mark.parametrize("name", ["default", "small"])
def test_feature_table_is_bit_identical_to_features(name):
    cfg = load_config(name)
    for task in SHAPES[:4] + [Task.conv2d(3, 5, 9, 11, 40, 3, 5, (2, 1), (1, 2))]:
        for lay, g, tiles in candidates(cfg, task):
            X, est = feature_table(cfg, g, tiles, lay != "nchw")
            pts = [Point(s, lay) for s in tiles.schedules()]
            ref = np.array([features(cfg, g, p) for p in pts], np.float32).reshape(-1, X.shape[1])
            assert X.dtype == np.float32 and X.shape == ref.shape
            np.testing.assert_array_equal(X.view(np.uint32), ref.view(np.uint32), err_msg=f"{task} {lay}")
            assert est.tolist() == [float(estimate(cfg, g, p.schedule)) for p in pts]


@pytest.mark.parametrize("task", SHAPES, ids=str)
def test_the_shipped_models_choice_is_the_old_paths(cfg, shipped, task):
    want, ties = reference_choice(cfg, shipped, task)
    assert best_point(cfg, shipped, task) == want
    if task in TIED:
        assert ties > 1, "this shape was picked for a tie in the model's top score; it no longer ties"


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """An empty disk cache and an empty in-process memory."""
    monkeypatch.setenv("VTA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tophub, "_MEMO", {})
    return tmp_path / "tophub"


def test_a_choice_is_kept_in_memory_and_on_disk(cfg, shipped, cache_dir):
    task = SHAPES[1]
    first = ModelSchedules.load(cfg)
    assert first.choose(task) == best_point(cfg, shipped, task) and first.scored == 1
    assert len(os.listdir(cache_dir)) == 1
    again = ModelSchedules.load(cfg)                       # same process: from memory, no disk read
    assert again.choose(task) == first.choose(task) and again.scored == 0 and again.cache.hits == 0
    tophub._MEMO.clear()                                   # a new process: from disk, the model never read
    fresh = ModelSchedules.load(cfg)
    assert fresh.choose(task) == first.choose(task)
    assert fresh.scored == 0 and fresh.cache.hits == 1 and not fresh.model.loaded


def _tamper(path, edit):
    with open(path) as f:
        entry = json.load(f)
    edit(entry)
    with open(path, "w") as f:
        json.dump(entry, f)


def _other_point(e):
    """Another point that runs (one output row a tile fits wherever more do): only the checksum tells."""
    assert e["point"]["tile_h"] > 1
    e["point"]["tile_h"] = 1


def _other_model(e):
    e["key"]["model"] = "0" * 64


def _unfit_with_checksum(e):
    """A whole entry of this key whose point cannot run (too big for the buffers), checksum recomputed."""
    from vta.jit.tune.choice_cache import _check
    e["point"].update(tile_h=56, tile_w=56, tile_ci=4, tile_co=4, layout="nchw")
    e["check"] = _check(e["key"], e["point"])


BAD = {"truncated": lambda p: open(p, "r+").truncate(30), "not json": lambda p: open(p, "w").write("\x00garbage"),
       "not an object": lambda p: open(p, "w").write("[1, 2]"),
       "point edited": lambda p: _tamper(p, _other_point), "another model's key": lambda p: _tamper(p, _other_model),
       "unfit point": lambda p: _tamper(p, _unfit_with_checksum)}


@pytest.mark.parametrize("how", BAD)
def test_a_stale_or_corrupt_entry_is_ignored_and_rewritten(cfg, shipped, cache_dir, how):
    task = SHAPES[1]
    want = best_point(cfg, shipped, task)
    ModelSchedules.load(cfg).choose(task)
    (entry,) = [cache_dir / f for f in os.listdir(cache_dir)]
    BAD[how](str(entry))
    tophub._MEMO.clear()
    ms = ModelSchedules.load(cfg)
    assert ms.choose(task) == want
    assert ms.cache.ignored == 1 and ms.cache.hits == 0 and ms.scored == 1
    tophub._MEMO.clear()
    again = ModelSchedules.load(cfg)                       # the entry was rewritten whole
    assert again.choose(task) == want and again.cache.hits == 1 and again.scored == 0


def test_an_unwritable_cache_only_costs_time(cfg, shipped, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setattr(tophub, "_MEMO", {})
    ms = ModelSchedules.load(cfg, cache=str(blocker / "tophub"))
    assert ms.choose(SHAPES[3]) == best_point(cfg, shipped, SHAPES[3]) and ms.scored == 1


def test_a_new_process_with_every_choice_cached_never_imports_xgboost(cfg, cache_dir):
    ModelSchedules.load(cfg).choose(SHAPES[3])
    code = ("import sys; from vta import load_config; from vta.jit.tune import Task; "
            "from vta.jit.tune.tophub import default_schedules; "
            "ms = default_schedules(load_config('default')); p = ms.choose(Task.dense(1, 512, 1000)); "
            "print(p, ms.scored, 'xgboost' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "VTA_CACHE_DIR": str(cache_dir.parent)})
    assert out.returncode == 0, out.stderr
    point, scored, imported = out.stdout.split()[-3:]
    assert (scored, imported) == ("0", "False"), out.stdout
