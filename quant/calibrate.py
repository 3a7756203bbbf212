"""Calibration: run the float graph on calibration data, keep statistics per tensor, and turn them into ranges
(thresholds) by max, average-of-batch-max (HAGO's "avg range"), percentile, KL divergence (TensorRT's entropy
method) or quantization MSE; then into power-of-two exponents (``scale = 2**exp``) by ceil or nearest rounding.

Statistics per tensor: exact |x| max and signed minimum, the max of every calibration batch, and up to `SAMPLES`
values drawn with a fixed seed (so results are deterministic and memory stays bounded for large activations). Per
channel of the last axis (a transformer's hidden dimension, where activation outliers live) also the |x| max overall
and per batch, and each sample's channel: enough for `TensorStats.scaled` to give the exact statistics of the tensor
divided by per-channel factors (SmoothQuant's migration, `vta.quant.smooth`; the minimum becomes a bound) without
running the model again.
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
    chan_batch_max: list = dataclasses.field(default_factory=list)   # per batch: |x| max per last-axis channel
    sample_ch: list = dataclasses.field(default_factory=list)        # the last-axis channel of every sample
    minimum: float = 0.0          # the smallest signed value (the range a zero-point offset covers, quant.offsets)

    def add(self, x, rng):
        x = np.asarray(x, np.float32)
        a = np.abs(x).reshape(-1)
        if a.size == 0:
            return
        m = float(a.max())
        self.minimum = min(self.minimum, float(x.min())) if self.count else float(x.min())
        self.absmax = max(self.absmax, m)
        self.batch_max.append(m)
        self.count += a.size
        c = x.shape[-1] if x.ndim else 1
        self.chan_batch_max.append(np.abs(x).reshape(-1, c).max(axis=0))
        take = min(a.size, SAMPLES)
        idx = np.arange(a.size) if take == a.size else rng.choice(a.size, take, replace=False)
        self.samples.append(a[idx])
        self.sample_ch.append((idx % c).astype(np.uint16 if c <= 1 << 16 else np.int64))

    @property
    def channels(self):
        """The number of last-axis channels (0 before any data; fixed by the first batch)."""
        return len(self.chan_batch_max[0]) if self.chan_batch_max else 0

    @property
    def chan_absmax(self):
        """|x| max per channel of the last axis, over all calibration data."""
        return np.max(self.chan_batch_max, axis=0) if self.chan_batch_max else np.zeros(0, np.float32)

    def values(self):
        return self._draw()[0]

    def _draw(self):
        """(samples, their channels), at most `SAMPLES`, drawn with a fixed seed when there are more."""
        if not self.samples:
            return np.zeros(1, np.float32), np.zeros(1, np.int32)
        v, ch = np.concatenate(self.samples), np.concatenate(self.sample_ch)
        if v.size > SAMPLES:
            keep = np.random.default_rng(0).choice(v.size, SAMPLES, replace=False)
            v, ch = v[keep], ch[keep]
        return v, ch

    def reduce(self):
        """Keep one draw of at most `SAMPLES` samples (what `collect` stores)."""
        if self.samples:
            v, ch = self._draw()
            self.samples, self.sample_ch = [v], [ch]

    def scaled(self, inv):
        """The statistics of this tensor with channel ``j`` of its last axis multiplied by ``inv[j]`` (> 0):
        exact for max, per-batch max and every sample (each sample knows its channel)."""
        inv = np.asarray(inv, np.float32)
        if inv.shape != (self.channels,):
            raise ValueError(f"per-channel factors must have {self.channels} entries, not shape {inv.shape}")
        cbm = [m * inv for m in self.chan_batch_max]
        return TensorStats(absmax=float(max((m.max() for m in cbm), default=0.0)),
                           batch_max=[float(m.max()) for m in cbm],
                           samples=[v * inv[ch] for v, ch in zip(self.samples, self.sample_ch)], count=self.count,
                           chan_batch_max=cbm, sample_ch=list(self.sample_ch),
                           minimum=min(self.minimum * float(inv.max()), self.minimum * float(inv.min())))


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
        s.reduce()
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
