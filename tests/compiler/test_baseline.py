"""The onnxruntime int8 baseline (`vta.compiler.baseline.ort_quantize`) on calibration sets of any size."""

import numpy as np
import pytest

from vta.compiler.baseline import ort_predict, ort_quantize
from vta.compiler.datasets import load, model_path
from vta.errors import VTAError


@pytest.mark.parametrize("n, method", [(64, "Entropy"), (57, "Percentile"), (7, "MinMax")])
def test_quantize_with_a_count_that_is_no_multiple_of_50(n, method):
    # 64 and 57 used to end in a short last batch of the calibration reader, which onnxruntime's histogram
    # calibrators cannot stack (a traceback from inside onnxruntime)
    xtr, ytr, xte, yte = load("digits")
    q = ort_quantize(model_path("digits"), xtr[:n], method)
    acc = np.mean(ort_predict(q, xte[:200]) == yte[:200])
    assert acc > 0.8, f"the int8 digits model should still classify, got {acc:.3f}"


def test_quantize_refuses_an_empty_calibration_set():
    xtr = load("digits")[0]
    with pytest.raises(VTAError, match="at least one calibration image, not 0"):
        ort_quantize(model_path("digits"), xtr[:0], "MinMax")
