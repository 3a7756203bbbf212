"""A saved XGBoost ranker's scores computed in numpy from its JSON file, bit-identical to ``Booster.predict``.

Why: importing xgboost costs ~0.9 s (it pulls in scikit-learn and scipy), which was most of the first image of a
model compiled without a tuning log once the scoring itself got fast. The shipped model is 60 trees of depth 4;
walking them in numpy over ~10⁴ candidate rows takes milliseconds. The result is exactly xgboost's: the same
float32 comparisons (``x < split`` goes left), leaf values added in float32 in tree order onto the base score
(tests/jit/test_tune_choose.py compares every bit against ``predict``).

Only the model form this package ships is read: a "gbtree" booster of single-output trees with numerical splits
under a ranking objective (whose score is the raw margin), and rows without missing values. `TreeEnsemble.load`
returns None for anything else, and the caller keeps xgboost's own ``predict``.
"""

import json

import numpy as np

__all__ = ["TreeEnsemble"]


class TreeEnsemble:
    """Trees as arrays: per tree (left, right, feature, threshold/leaf value); ``base``: the float32 base score."""

    def __init__(self, base, trees, n_features):
        self.base, self.trees, self.n_features = np.float32(base), trees, n_features

    @classmethod
    def load(cls, path):
        """The ensemble of the XGBoost JSON model at ``path``, or None when it is of a form this does not read."""
        try:
            with open(path, encoding="utf-8") as f:
                learner = json.load(f)["learner"]
            param = learner["learner_model_param"]
            booster = learner["gradient_booster"]
            if (booster["name"] != "gbtree" or not learner["objective"]["name"].startswith("rank:")
                    or int(param["num_target"]) != 1 or int(param.get("num_class", 0)) > 1
                    or int(booster["model"]["gbtree_model_param"].get("num_parallel_tree", 1)) != 1):
                return None
            base = [float(v) for v in param["base_score"].strip("[]").split(",")]
            if len(base) != 1:
                return None
            trees = []
            for t in booster["model"]["trees"]:
                if any(t["split_type"]) or t["categories"] or int(t["tree_param"]["size_leaf_vector"]) > 1:
                    return None
                trees.append((np.asarray(t["left_children"], np.int64), np.asarray(t["right_children"], np.int64),
                              np.asarray(t["split_indices"], np.int64),
                              np.asarray(t["split_conditions"], np.float32)))
            return cls(base[0], trees, int(param["num_feature"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def predict(self, X):
        """Scores of the float32 rows ``X`` (no NaN: a missing value would take the tree's default branch)."""
        X = np.asarray(X, np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"rows must have {self.n_features} features, not shape {X.shape}")
        rows = np.arange(len(X))
        out = np.full(len(X), self.base, np.float32)
        for left, right, feat, cond in self.trees:
            node = np.zeros(len(X), np.int64)
            inner = left[node] != -1
            while inner.any():
                go_left = X[rows, feat[node]] < cond[node]
                node = np.where(inner, np.where(go_left, left[node], right[node]), node)
                inner = left[node] != -1
            out = out + cond[node]          # a leaf's split_conditions entry holds its value
        return out
