"""Calibration: run the float graph on calibration data, keep statistics per tensor, and turn them into ranges
(thresholds) by max, average-of-batch-max (HAGO's "avg range"), percentile, KL divergence (TensorRT's entropy
method) or quantization MSE; then into power-of-two exponents (``scale = 2**exp``) by ceil or nearest rounding.

Statistics per tensor: exact |x| max, the max of every calibration batch, and up to `SAMPLES` values drawn with a
fixed seed (so results are deterministic and memory stays bounded for large activations).
"""

import dataclasses
import math

import numpy as np

__all__ = ["TensorStats", "collect", "threshold", "exponent", "METHODS", "ROUNDINGS", "SAMPLES"]

SAMPLES = 1 << 17
METHODS = ("max", "avg", "percentile", "kl", "mse")
ROUNDINGS = ("ceil", "nearest")


@dataclasses.dataclass
class TensorStats:
    absmax: float = 0.0
    batch_max: list = dataclasses.field(default_factory=list)
    samples: list = dataclasses.field(default_factory=list)
    count: int = 0

    def add(self, x, rng):
        a = np.abs(np.asarray(x, np.float32)).reshape(-1)
        if a.size == 0:
            return
        m = float(a.max())
        self.absmax = max(self.absmax, m)
        self.batch_max.append(m)
        self.count += a.size
        take = min(a.size, SAMPLES)
        self.samples.append(a if take == a.size else a[rng.choice(a.size, take, replace=False)])

    def values(self):
        v = np.concatenate(self.samples) if self.samples else np.zeros(1, np.float32)
        if v.size > SAMPLES:
            v = v[np.random.default_rng(0).choice(v.size, SAMPLES, replace=False)]
        return v


def collect(run_float, batches, tensors, seed=0):
    """Stats for every name in ``tensors``. ``run_float(batch)`` returns a dict name → float array."""
    rng = np.random.default_rng(seed)
    stats = {t: TensorStats() for t in tensors}
    for b in batches:
        env = run_float(b)
        for t in tensors:
            if t in env:
                stats[t].add(env[t], rng)
    for s in stats.values():
        if s.samples:
            s.samples = [s.values()]
    return stats


def _kl_threshold(v, absmax, bins=2048, levels=128):
    """TensorRT-style: the clipping threshold whose 128-level quantized histogram is closest (KL) to the data."""
    if absmax <= 0:
        return 0.0
    hist, edges = np.histogram(v, bins=bins, range=(0, absmax))
    hist = hist.astype(np.float64)
    best, best_i = np.inf, bins
    for i in range(levels, bins + 1, 16):
        p = hist[:i].copy()
        p[-1] += hist[i:].sum()
        if p.sum() == 0:
            continue
        # quantize the first i bins into `levels` groups, spread each group's mass over its nonzero bins
        idx = (np.arange(i) * levels) // i
        nz = (hist[:i] > 0).astype(np.float64)
        gsum = np.bincount(idx, weights=hist[:i], minlength=levels)
        gcnt = np.bincount(idx, weights=nz, minlength=levels)
        q = np.where(nz > 0, gsum[idx] / np.maximum(gcnt[idx], 1), 0.0)
        ps, qs = p / p.sum(), q / max(q.sum(), 1e-30)
        mask = ps > 0
        kl = np.sum(ps[mask] * np.log(ps[mask] / np.maximum(qs[mask], 1e-12)))
        if kl < best:
            best, best_i = kl, i
    return float(edges[best_i]) if best_i < len(edges) else float(absmax)


def _mse_exponent(v, qmax):
    """The power-of-two exponent minimising the mean squared quantization error of the samples."""
    if v.size == 0 or v.max() <= 0:
        return 0
    e0 = math.ceil(math.log2(float(v.max()) / qmax))
    best, best_e = np.inf, e0
    for e in range(e0 - 4, e0 + 1):
        s = 2.0 ** e
        err = np.mean((np.clip(np.rint(v / s), 0, qmax) * s - v) ** 2)
        if err < best:
            best, best_e = err, e
    return best_e


def threshold(stats, method, percentile=99.99):
    """The |x| range to represent, by ``method`` (see `METHODS`)."""
    if method == "max":
        return stats.absmax
    if method == "avg":
        return float(np.mean(stats.batch_max)) if stats.batch_max else 0.0
    v = stats.values()
    if method == "percentile":
        return float(np.percentile(v, percentile))
    if method == "kl":
        return _kl_threshold(v, stats.absmax)
    raise ValueError(f"calibration method must be one of {', '.join(METHODS)}, not {method!r}")


def exponent(stats, method="max", rounding="ceil", qmax=127):
    """Power-of-two exponent e (scale 2**e) for a tensor: ``ceil`` never clips the threshold, ``nearest`` rounds
    log2 to the nearest integer (may clip up to ~41 %, keeps finer resolution)."""
    if method == "mse":
        return _mse_exponent(stats.values(), qmax)
    t = threshold(stats, method)
    if not t > 0 or not math.isfinite(t):
        return -7 if t == 0 else 0
    r = math.log2(t / qmax)
    if rounding == "ceil":
        return math.ceil(r - 1e-9)
    if rounding == "nearest":
        return int(round(r))
    raise ValueError(f"scale rounding must be one of {', '.join(ROUNDINGS)}, not {rounding!r}")
