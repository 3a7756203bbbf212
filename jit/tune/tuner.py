"""The tuner: AutoTVM's XGB tuner loop over a `Space`, measuring in batches.

Round 0 measures the heuristic's point (so the result is never worse than the default) and the best points under
the prior — the analytic estimate, or a cost model warm-started on other configs' records (transfer). Every later
round refits the `CostModel` on all measurements so far and proposes the next batch by simulated annealing over
the space on the model's scores (`anneal`), leaving out measured points, with a few random points (``epsilon``)
so a wrong model cannot starve a region. `random_search` is the baseline the tuner is judged against.
"""

import dataclasses
import math

import numpy as np

from .cost_model import CostModel
from .space import Space

__all__ = ["Tuner", "TuneResult", "anneal", "random_search"]


@dataclasses.dataclass
class TuneResult:
    """``history``: (point, result dict) in measurement order; ``best``/``best_cycles`` the fastest valid one;
    ``default_cycles`` the heuristic's (None if not measured)."""
    task: object
    history: list
    best: object = None
    best_cycles: int = None
    default: object = None
    default_cycles: int = None

    def curve(self):
        """Best cycles after each trial (None until the first valid measurement)."""
        out, best = [], None
        for _, r in self.history:
            c = r.get("cycles")
            if c is not None and (best is None or c < best):
                best = c
            out.append(best)
        return out


def anneal(space, score, n_out, exclude=(), n_chains=16, n_steps=100, t0=1.0, seed=0, start=()):
    """The ``n_out`` best-scoring points (by ``score(points) → array``, higher better) that simulated annealing
    visits, not in ``exclude``. Chains start at ``start`` points (then random ones) and move to a random neighbour,
    accepting a worse one with probability exp(Δ/T); T falls linearly to 0."""
    rng = np.random.default_rng(seed)
    exclude = set(exclude)
    pts = list(start)[:n_chains]
    while len(pts) < n_chains:
        pts.append(space.points[rng.integers(len(space))])
    cache = {}

    def sc(ps):
        new = [p for p in ps if p not in cache]
        if new:
            for p, s in zip(new, score(new)):
                cache[p] = float(s)
        return np.array([cache[p] for p in ps])

    cur = sc(pts)
    for step in range(n_steps):
        t = t0 * (1 - step / n_steps) + 1e-9
        cand = []
        for p in pts:
            nb = space.neighbours(p)
            cand.append(nb[rng.integers(len(nb))] if nb else space.points[rng.integers(len(space))])
        new = sc(cand)
        accept = (new > cur) | (rng.random(len(pts)) < np.exp(np.minimum(0, new - cur) / t))
        pts = [c if a else p for p, c, a in zip(pts, cand, accept)]
        cur = np.where(accept, new, cur)
    ranked = sorted((p for p in cache if p not in exclude), key=lambda p: -cache[p])
    return ranked[:n_out]


class Tuner:
    """Tune ``task`` on ``cfg`` with ``measurer`` (`vta.jit.tune.measure`). ``transfer``: groups (cfg, space,
    [(point, cycles)]) of other configs/tasks to warm-start the model. ``on_measured(points, results)`` is called
    after every batch (the log writer, the progress bar)."""

    def __init__(self, cfg, task, measurer, *, batch=8, epsilon=0.1, seed=0, transfer=(), model=None,
                 on_measured=None, space=None):
        self.cfg, self.task, self.measurer = cfg, task, measurer
        self.space = space or Space(cfg, task)
        self.batch, self.epsilon, self.seed = batch, epsilon, seed
        self.transfer = list(transfer)
        self.model = model or CostModel(seed=seed)
        if self.transfer and not self.model.trained:
            self.model.fit([], self.transfer)
        self.on_measured = on_measured
        self.rng = np.random.default_rng(seed)

    def _score(self, points):
        return self.model.score(self.cfg, self.space, points)

    def propose(self, measured, n):
        exclude = set(measured)
        n_rand = int(round(self.epsilon * n)) if measured else 0
        if len(self.space) - len(exclude) <= n:
            return [p for p in self.space.points if p not in exclude]
        best_seen = sorted((p for p, c in measured.items() if c), key=lambda p: measured[p])[:4]
        picked = anneal(self.space, self._score, n - n_rand, exclude, seed=int(self.rng.integers(1 << 30)),
                        start=best_seen, n_steps=max(40, min(200, 4 * int(math.sqrt(len(self.space))))))
        free = [p for p in self.space.points if p not in exclude and p not in picked]
        for i in self.rng.permutation(len(free))[:n - len(picked)]:
            picked.append(free[i])
        return picked

    def tune(self, n_trials, check_best=True):
        """Measure up to ``n_trials`` points; return a `TuneResult`. With ``check_best`` the best point is
        re-run with the fsim comparison (``exact`` in its result)."""
        measured, history = {}, []
        default = self.space.default()
        queue = [default]
        while len(history) < min(n_trials, len(self.space)):
            n = min(self.batch, n_trials - len(history))
            pts = (queue + [p for p in self.propose(measured, n) if p != default])[:n] if queue else \
                self.propose(measured, n)
            queue = []
            results = self.measurer.measure(self.cfg, self.task, pts, seed=self.seed)
            for p, r in zip(pts, results):
                measured[p] = r.get("cycles")
                history.append((p, r))
            if self.on_measured:
                self.on_measured(pts, results)
            self.model.fit([(self.cfg, self.space, list(measured.items()))], self.transfer)
        res = TuneResult(self.task, history, default=default, default_cycles=measured.get(default))
        valid = [(p, c) for p, c in measured.items() if c]
        if valid:
            res.best, res.best_cycles = min(valid, key=lambda pc: pc[1])
            if check_best:
                r = self.measurer.measure(self.cfg, self.task, [res.best], seed=self.seed + 1, check=True)[0]
                if self.on_measured:
                    self.on_measured([res.best], [r])
                res.best_check = r
        return res


def random_search(cfg, task, measurer, n_trials, seed=0, space=None, on_measured=None):
    """The baseline: ``n_trials`` distinct points in random order; a `TuneResult`."""
    space = space or Space(cfg, task)
    rng = np.random.default_rng(seed)
    order = [space.points[i] for i in rng.permutation(len(space))[:n_trials]]
    history = []
    for i in range(0, len(order), 8):
        pts = order[i:i + 8]
        rs = measurer.measure(cfg, task, pts, seed=seed)
        history += list(zip(pts, rs))
        if on_measured:
            on_measured(pts, rs)
    res = TuneResult(task, history)
    valid = [(p, r["cycles"]) for p, r in history if r.get("cycles")]
    if valid:
        res.best, res.best_cycles = min(valid, key=lambda pc: pc[1])
    return res
