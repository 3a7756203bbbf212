"""benchmarks/perturbation.py's rounding — the null reference of the accuracy comparison, so it must be what it
says: on the per-tensor grid, within one step, unbiased — and its refusal of impossible arguments."""

import numpy as np
import pytest
from bench_import import benchmark_module


@pytest.fixture
def bench():
    pytest.importorskip("onnxruntime", reason="benchmarks/perturbation.py imports vta.compiler.baseline's onnxruntime")
    with benchmark_module("perturbation.py") as mod:
        yield mod


@pytest.mark.parametrize("bits", [8, 6, 3])
def test_stochastic_rounding_is_on_the_grid_within_a_step_and_unbiased(bench, bits):
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.3, size=400)
    q = 2 ** (bits - 1) - 1
    step = np.abs(w).max() / q
    draws = np.stack([bench.stochastic_round(w, bits, rng) for _ in range(4000)])
    k = draws / step
    assert np.allclose(k, np.round(k), atol=1e-9)                        # multiples of the step
    assert np.abs(k).max() <= q + 1e-9                                   # inside the symmetric range
    assert np.all(np.abs(draws - w) < step + 1e-12)                      # the grid point below or above
    # unbiased: each element's mean over the draws is w within 5 standard errors (Bernoulli variance ≤ step²/4)
    assert np.all(np.abs(draws.mean(0) - w) <= 5 * (step / 2) / np.sqrt(len(draws)))
    assert np.array_equal(bench.stochastic_round(np.zeros(5), bits, rng), np.zeros(5))


@pytest.mark.parametrize("args, message", [(["--bits", "1"], "--bits in 2..16"),
                                           (["--seeds", "0"], "--seeds must be ≥ 1"),
                                           (["--models", "digits"], "holds out MNIST images only")])
def test_benchmark_refuses_impossible_requests(bench, capsys, args, message):
    with pytest.raises(SystemExit) as e:
        bench.main(args)
    assert e.value.code == 2
    assert message in capsys.readouterr().err
