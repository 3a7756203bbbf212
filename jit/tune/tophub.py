"""Schedules without a tuning log: a cost model trained on a tuning run ships with the package (TopHub-like), and
`vta.compile` without ``tuning_log`` asks it instead of the old heuristic.

The model is the tuner's own XGBoost ranker (`CostModel`), trained on every measurement of a `vta tune` run of
ResNet-18 on the config and saved in XGBoost's JSON format as ``models/<config digest>.json`` inside this
package (`train_shipped_model`, used by ``benchmarks/tune.py ship``). `ModelSchedules` answers the runtime's
questions (``conv2d_choice`` / ``dense_choice``, as `BestSchedules` does for a log): for a shape it has not seen
it builds the task's `Space`, scores every point and takes the best — the heuristic's own point is in the space,
so only the ranking decides, and every candidate passed the same buffer check the JIT applies.

Configs without a shipped model (or machines without xgboost) keep the heuristic: `default_schedules` says which.

A choice is made once per (model, config, task): `choose` featurises every candidate of a shape as numpy columns
(`space.candidates`, `features.feature_table` — bit-identical to the per-point `features`) and scores them in one
call of xgboost's ``predict``; the choice is remembered in the process (every `ModelSchedules` of the same model
file shares it) and, for a model loaded from a file, on disk (`choice_cache`), where the next process finds it
without scoring or importing xgboost (which costs ~0.9 s with scikit-learn). xgboost must still be installed for
the model to be used at all, as before.
"""

import importlib.util
import os

import numpy as np

from ...errors import VTAError
from ..schedule import ScheduleError
from .choice_cache import ChoiceCache, file_digest
from .cost_model import CostModel
from .features import feature_table
from .layout import apply_layout
from .log import config_digest
from .space import Point, Space, candidates
from .task import Task

__all__ = ["ModelSchedules", "shipped_model_path", "default_schedules", "train_shipped_model", "MODEL_DIR",
           "best_point"]

MODEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")

_MEMO = {}   # (model file digest, config digest, task) → Point: choices this process made


def best_point(cfg, model, task):
    """The best-scoring candidate of ``task`` on ``cfg`` under the trained ``model`` (ties within 1e-6: the lower
    analytic estimate, then the earlier point in `Space` order), scoring every candidate in one call."""
    tables = [(lay, tiles, *feature_table(cfg, g, tiles, lay != "nchw"))
              for lay, g, tiles in candidates(cfg, task) if len(tiles)]
    if not tables:
        raise ScheduleError(f"no schedule of {task} fits config {cfg.name}")
    X = np.concatenate([x for _, _, x, _ in tables])
    est = np.concatenate([e for _, _, _, e in tables])
    scores = np.asarray(model.predict_rows(X), np.float64)
    top = np.flatnonzero(scores >= scores.max() - 1e-6)
    i = int(top[np.argmin(est[top])])
    for lay, tiles, x, _ in tables:
        if i < len(x):
            return Point(tiles.schedule(i), lay)
        i -= len(x)
    raise AssertionError("unreachable: the index lies in one of the tables")


def shipped_model_path(cfg):
    """The path of the model shipped for ``cfg`` (by its upstream keys), or None."""
    path = os.path.join(MODEL_DIR, f"{config_digest(cfg)}.json")
    return path if os.path.exists(path) else None


class ModelSchedules:
    """The model's best point per task, as `vta.jit.Runtime` asks for it (``Runtime(schedules=…)``). ``hits``
    counts the choices made (the report's "tuned schedules used"); ``choices`` maps task → point."""

    def __init__(self, cfg, model, source="shipped cost model", *, model_digest=None, cache=None):
        if not getattr(model, "trained", False):
            raise VTAError("ModelSchedules needs a trained CostModel (an untrained one would rank by the prior)")
        self.cfg, self.model, self.source = cfg, model, source
        self.choices = {}
        self.hits = 0
        self.misses = set()      # BestSchedules' field: the model has an answer for every shape
        self.scored = 0          # shapes this object had the model score (not found in memory or on disk)
        # memory and disk are keyed on the model file's digest: an in-memory model has neither
        self._memo_key = (model_digest, config_digest(cfg)) if model_digest else None
        self.cache = cache

    @classmethod
    def load(cls, cfg, path=None, cache=True):
        """The model at ``path`` (default: the one shipped for ``cfg``), read when a shape first needs scoring.
        ``cache``: keep choices on disk (`ChoiceCache`; a directory to put them elsewhere, False: not at all)."""
        path = path or shipped_model_path(cfg)
        if path is None:
            raise VTAError(f"no cost model ships for config {cfg.name} (digest {config_digest(cfg)})")
        model = CostModel.load(path, lazy=True)
        digest = file_digest(path)
        disk = None
        if cache is not False:
            disk = ChoiceCache(cfg, digest, config_digest(cfg), root=None if cache is True else cache)
        return cls(cfg, model, source=path, model_digest=digest, cache=disk)

    def choose(self, task):
        """The best-scoring point of ``task``'s candidates (`best_point`), from memory or disk when known."""
        got = self.choices.get(task)
        if got is None:
            key = self._memo_key and (*self._memo_key, task)
            got = _MEMO.get(key) if key else None
            if got is None and self.cache is not None:
                got = self.cache.get(task)
            if got is None:
                got = best_point(self.cfg, self.model, task)
                self.scored += 1
                if self.cache is not None:
                    self.cache.put(task, got)
            if key:
                _MEMO[key] = got
            self.choices[task] = got
        self.hits += 1
        return got

    def conv2d_choice(self, cfg, x, w, stride, padding):
        self._same(cfg)
        n, c, h, wd = x.shape
        o, _, kh, kw = w.shape
        task = Task.conv2d(n, c, h, wd, o, kh, kw, stride, padding)
        p = self.choose(task)
        x, w, stride, padding = apply_layout(p.layout, x, w, task.stride, task.padding)
        return x, w, stride, padding, p.schedule

    def dense_choice(self, cfg, n, k, m):
        self._same(cfg)
        return self.choose(Task.dense(n, k, m)).schedule

    def _same(self, cfg):
        if cfg != self.cfg:
            raise VTAError(f"the cost model {self.source} is for config {self.cfg.name}, the runtime runs {cfg.name}")


def default_schedules(cfg):
    """`ModelSchedules` of the model shipped for ``cfg``, or None (no model for this config, or no xgboost —
    then the heuristic runs, as before the model shipped)."""
    path = shipped_model_path(cfg)
    if path is None:
        return None
    if importlib.util.find_spec("xgboost") is None:   # (not imported here: a cached choice needs no model)
        return None
    return ModelSchedules.load(cfg, path)


def train_shipped_model(cfg, records, path=None, n_estimators=60, max_depth=4):
    """Train a small ranker on ``records`` (`load_records` output, this config only) and save it where
    `shipped_model_path` finds it (or at ``path``). Returns the path."""
    groups = {}
    for r in records:
        if r["cycles"] and r.get("exact") is not False:
            groups.setdefault(r["task"], []).append((r["point"], r["cycles"]))
    spaces = [(cfg, Space(cfg, t), meas) for t, meas in groups.items()]
    model = CostModel(n_estimators=n_estimators, max_depth=max_depth).fit(spaces)
    if not model.trained:
        raise VTAError("the records hold no task with two different cycle counts: nothing to train on")
    path = path or os.path.join(MODEL_DIR, f"{config_digest(cfg)}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model.save(path)
    return path
