"""Data the compiler must refuse with a message naming the input and the sample: NaN/Inf, no samples, an empty
model file. A poisoned scale (NaN calibration compiled to exponent 0) or a finite answer to a NaN input would be
silent wrong results."""

import numpy as np
import pytest

import vta
from vta.compiler.datasets import load, model_path


@pytest.fixture(scope="module")
def digits():
    x_train, _, _, _ = load("digits")
    return model_path("digits"), x_train[:32].astype(np.float32)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_calibration_names_input_and_sample(digits, value):
    path, x = digits
    x = x.copy()
    x[5, 0, 3, 3] = value
    x[9, 0, 0, 0] = value
    with pytest.raises(vta.VTAError, match=r"calibration for input '\w+' holds NaN or Inf in 2 of 32 samples "
                                           r"\(first: sample 5\)"):
        vta.compile(path, calibration=x, search=False)


def test_zero_calibration_samples(digits):
    path, x = digits
    with pytest.raises(vta.VTAError, match=r"calibration for input '\w+' has 0 samples"):
        vta.compile(path, calibration=x[:0], search=False)


def test_non_finite_run_input_is_refused(digits):
    path, x = digits
    cm = vta.compile(path, calibration=x, search=False)
    bad = x[:4].copy()
    bad[2, 0, 1, 1] = np.nan
    with pytest.raises(vta.VTAError, match=r"run data for input '\w+' holds NaN or Inf in 1 of 4 samples "
                                           r"\(first: sample 2\)"):
        cm.run(bad)
    assert np.all(np.isfinite(cm.run(x[:4])[0]))   # finite inputs still run


@pytest.mark.parametrize("content", [b"", b"\x08\x07"])   # empty, and a header-only protobuf
def test_empty_model_file(tmp_path, content):
    path = tmp_path / "empty.onnx"
    path.write_bytes(content)
    with pytest.raises(vta.VTAError, match="holds no ONNX graph .*empty or truncated"):
        vta.compile(str(path), calibration=np.zeros((1, 1, 8, 8), np.float32))
