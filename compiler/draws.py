"""Comparing int8 quantizers over several calibration draws instead of one, so a table says how much of a gap is
noise.

On a 1,000-image held-out split one image is 0.1 point, and two quantizers calibrated on one set of images differ
by a few images either way. ``benchmarks/accuracy.py --draws K`` therefore calibrates every quantizer on K
disjoint blocks of the train split (`calibration_draws`) and summarises each over the draws (`mean_and_sem`), and
compares two of them image by image (`paired_counts`: the images one gets right and the other wrong, pooled over
the draws) with an exact two-sided sign test (`sign_test`, McNemar's exact test: under "equally good" each
discordant image is a fair coin).

The pooled test counts every (draw, image) pair as one trial; the draws share the same held-out images, so an
image that is hard for one quantizer on every draw counts K times — read the p-value as a guide, not a proof.
"""

import math

import numpy as np

from ..errors import VTAError

__all__ = ["calibration_draws", "mean_and_sem", "paired_counts", "sign_test"]


def calibration_draws(n_train, n_calib, k):
    """``k`` disjoint ``slice``\\ s of ``n_calib`` images each into a train split of ``n_train`` images: draw 0 is the
    first ``n_calib`` (the single-draw calibration set), draw i the i-th following block."""
    for what, v in (("the number of calibration images", n_calib), ("the number of draws", k)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise VTAError(f"{what} must be a positive integer, not {v!r}")
    if k * n_calib > n_train:
        raise VTAError(f"draws × calibration images must be at most the {n_train} images of the train split, "
                       f"not {k} × {n_calib} = {k * n_calib}")
    return [slice(i * n_calib, (i + 1) * n_calib) for i in range(k)]


def mean_and_sem(values):
    """Mean of ``values`` and its standard error (sample standard deviation / √n); the error is NaN for one value."""
    v = np.asarray(values, np.float64)
    if v.size == 0:
        raise VTAError("mean_and_sem needs at least one value, not none")
    sem = float(np.std(v, ddof=1) / math.sqrt(v.size)) if v.size > 1 else float("nan")
    return float(np.mean(v)), sem


def paired_counts(top1_a, top1_b, labels):
    """``(a_only, b_only)``: how many images predictor A classifies correctly and B not, and the reverse (the
    discordant pairs of McNemar's test; images both get right or both get wrong say nothing about which is
    better)."""
    a, b, y = (np.asarray(v).ravel() for v in (top1_a, top1_b, labels))
    if not a.shape == b.shape == y.shape:
        raise VTAError(f"paired_counts needs equally many predictions and labels, not {a.size}, {b.size} and "
                       f"{y.size}")
    ra, rb = a == y, b == y
    return int(np.sum(ra & ~rb)), int(np.sum(rb & ~ra))


def sign_test(a_only, b_only):
    """Exact two-sided sign test (McNemar's exact test) p-value of ``a_only`` vs ``b_only`` discordant images;
    1.0 when there are none."""
    for v in (a_only, b_only):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise VTAError(f"discordant counts must be integers ≥ 0, not {v!r}")
    n = int(a_only) + int(b_only)
    if n == 0:
        return 1.0
    from scipy.stats import binomtest
    return float(binomtest(int(a_only), n, 0.5, alternative="two-sided").pvalue)
