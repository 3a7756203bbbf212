"""Schedules without a tuning log: a cost model trained on a tuning run ships with the package (TopHub-like), and
`vta.compile` without ``tuning_log`` asks it instead of the old heuristic.

The model is the tuner's own XGBoost ranker (`CostModel`), trained on every measurement of a `vta tune` run of
ResNet-18 on the config and saved in XGBoost's JSON format as ``models/<config digest>.json`` inside this
package (`train_shipped_model`, used by ``benchmarks/tune.py ship``). `ModelSchedules` answers the runtime's
questions (``conv2d_choice`` / ``dense_choice``, as `BestSchedules` does for a log): for a shape it has not seen
it builds the task's `Space`, scores every point and takes the best — the heuristic's own point is in the space,
so only the ranking decides, and every candidate passed the same buffer check the JIT applies.

Configs without a shipped model (or machines without xgboost) keep the heuristic: `default_schedules` says which.
"""

import os

import numpy as np

from ...errors import VTAError
from .cost_model import CostModel
from .features import estimate
from .layout import apply_layout
from .log import config_digest
from .space import Space
from .task import Task

__all__ = ["ModelSchedules", "shipped_model_path", "default_schedules", "train_shipped_model", "MODEL_DIR"]

MODEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")


def shipped_model_path(cfg):
    """The path of the model shipped for ``cfg`` (by its upstream keys), or None."""
    path = os.path.join(MODEL_DIR, f"{config_digest(cfg)}.json")
    return path if os.path.exists(path) else None


class ModelSchedules:
    """The model's best point per task, as `vta.jit.Runtime` asks for it (``Runtime(schedules=…)``). ``hits``
    counts the choices made (the report's "tuned schedules used"); ``choices`` maps task → point."""

    def __init__(self, cfg, model, source="shipped cost model"):
        if not getattr(model, "trained", False):
            raise VTAError("ModelSchedules needs a trained CostModel (an untrained one would rank by the prior)")
        self.cfg, self.model, self.source = cfg, model, source
        self.choices = {}
        self.hits = 0
        self.misses = set()      # BestSchedules' field: the model has an answer for every shape

    @classmethod
    def load(cls, cfg, path=None):
        path = path or shipped_model_path(cfg)
        if path is None:
            raise VTAError(f"no cost model ships for config {cfg.name} (digest {config_digest(cfg)})")
        return cls(cfg, CostModel.load(path), source=path)

    def choose(self, task):
        """The best-scoring point of ``task``'s space (ties: the lower analytic estimate)."""
        got = self.choices.get(task)
        if got is None:
            space = Space(self.cfg, task)
            scores = np.asarray(self.model.score(self.cfg, space, space.points), np.float64)
            top = np.flatnonzero(scores >= scores.max() - 1e-6)
            got = min((space.points[i] for i in top),
                      key=lambda p: estimate(self.cfg, space.geometry(p), p.schedule))
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
    try:
        import xgboost  # noqa: F401  (the model needs it to predict)
    except ImportError:
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
