"""The learned cost model: XGBoost ranking schedules of a task by measured cycles (AutoTVM's XGB tuner model).

Why a ranker: the tuner only needs the order of candidates within one task on one config, and cycles of different
layers differ by orders of magnitude; a pairwise rank objective (``rank:pairwise``, one query group per (config,
task)) learns the order without having to fit those scales. Labels are throughput relative to the group's best
(best / cycles, in (0, 1]). The features (`vta.jit.tune.features`) carry the config, so records of other configs
train the same model: `CostModel.fit` with ``transfer`` records warm-starts a tuner on a new config.

Before the first fit the model falls back to the analytic estimate (`features.estimate`), the prior.

A saved model loads lazily (``CostModel.load(path, lazy=True)``): importing xgboost costs ~0.9 s, which a compile
whose every layer's choice is already cached (`vta.jit.tune.choice_cache`) need not pay.
"""

import json
import os

import numpy as np

from ...errors import VTAError
from .features import FEATURE_NAMES, estimate, features

__all__ = ["CostModel", "AnalyticModel"]


class AnalyticModel:
    """The prior: scores are minus the log of the analytic cycle estimate."""
    trained = False

    def score(self, cfg, space, points):
        return np.array([-np.log(estimate(cfg, space.geometry(p), p.schedule)) for p in points])


class CostModel:
    """An `xgboost.XGBRanker` over `FEATURE_NAMES`; `score` (higher = faster) falls back to the analytic prior
    until `fit` has seen a group with two different cycle counts."""

    def __init__(self, n_estimators=200, max_depth=6, learning_rate=0.1, seed=0):
        self.params = dict(n_estimators=n_estimators, max_depth=max_depth, learning_rate=learning_rate,
                           random_state=seed, objective="rank:pairwise", tree_method="hist", n_jobs=1)
        self._booster = None
        self._path = None        # a saved model not read yet (`load` with lazy=True)
        self.prior = AnalyticModel()

    @property
    def booster(self):
        if self._booster is None and self._path is not None:
            import xgboost
            booster = xgboost.XGBRanker()
            booster.load_model(self._path)
            self._booster, self._path = booster, None
        return self._booster

    @booster.setter
    def booster(self, value):
        self._booster, self._path = value, None

    @property
    def trained(self):
        return self._booster is not None or self._path is not None

    @property
    def loaded(self):
        """Whether the booster is in memory (False for a lazily loaded model not asked yet)."""
        return self._booster is not None

    @staticmethod
    def rows(groups):
        """``groups``: iterable of (cfg, space, [(point, cycles), …]) → (X, y, qid) for XGBoost, sorted by qid."""
        X, y, q = [], [], []
        for gi, (cfg, space, meas) in enumerate(groups):
            meas = [(p, c) for p, c in meas if c]
            if len({c for _, c in meas}) < 2:
                continue
            best = min(c for _, c in meas)
            for p, c in meas:
                X.append(features(cfg, space.geometry(p), p))
                y.append(best / c)
                q.append(gi)
        return (np.array(X, np.float32).reshape(-1, len(FEATURE_NAMES)), np.array(y, np.float32),
                np.array(q, np.int64))

    def fit(self, groups, transfer=(), transfer_weight=0.5):
        """Train on ``groups`` (this config's measurements) and ``transfer`` (other configs' records, weighted
        ``transfer_weight`` per group). No-op when no group has two distinct cycle counts."""
        import xgboost
        groups, transfer = list(groups), list(transfer)
        X, y, q = self.rows(groups + transfer)
        if len(y) == 0:
            return self
        weights = np.array([1.0] * len(groups) + [transfer_weight] * len(transfer))
        present = np.unique(q)
        model = xgboost.XGBRanker(**self.params)
        model.fit(X, y, qid=q, sample_weight=weights[present])
        self.booster = model
        return self

    def score(self, cfg, space, points):
        """Higher is faster. Before training: the analytic prior."""
        if self.booster is None:
            return self.prior.score(cfg, space, points)
        X = np.array([features(cfg, space.geometry(p), p) for p in points], np.float32)
        return self.predict_rows(X)

    def predict_rows(self, X):
        """Scores of feature rows ``X`` (float32, `FEATURE_NAMES` columns) in one call. Needs a trained model."""
        if not self.trained:
            raise VTAError("the cost model is untrained: it has no scores of feature rows")
        return self.booster.predict(X)

    def save(self, path):
        """Write the trained booster (XGBoost's JSON format) — e.g. the model shipped for the default config."""
        if self.booster is None:
            raise VTAError("the cost model is untrained: nothing to save")
        self.booster.save_model(path)
        with open(path + ".features.json", "w") as f:
            json.dump(list(FEATURE_NAMES), f)

    @classmethod
    def load(cls, path, lazy=False):
        """The model saved at ``path`` (refused when its feature names are not `FEATURE_NAMES`); ``lazy``: read
        the booster (and import xgboost) only when first asked for a score."""
        try:
            with open(path + ".features.json") as f:
                names = json.load(f)
        except OSError:
            names = None
        if names is not None and tuple(names) != FEATURE_NAMES:
            raise VTAError(f"cost model {path} was trained on other features ({len(names)} names, "
                           f"{len(FEATURE_NAMES)} now): retrain it")
        if not os.path.exists(path):
            raise VTAError(f"no cost model at {path}")
        m = cls()
        m._path = path
        if not lazy:
            m.booster  # noqa: B018  (reads it now)
        return m
