"""The references the compiler tests compare against: an ONNX model run by onnxruntime FP32 on the CPU (warnings
silenced), the cosine similarity of two outputs, and a model compiled for VTA, run and checked against both."""

import numpy as np


def ort_run(model, feeds):
    """The first output of onnxruntime on ``model`` (an `onnx.ModelProto`) with inputs ``feeds`` ({name: array})."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def cosine(a, b):
    """Cosine similarity of two arrays, flattened."""
    return float(a.ravel() @ b.ravel() / (np.linalg.norm(a) * np.linalg.norm(b)))


def compile_and_run(model, calib, x, runtime):
    """Compile ``model`` for VTA (no search) calibrated on ``calib`` with ``runtime``, run input ``x``, and assert the
    device's output equals the numpy golden path (`CompiledModel.simulate`); returns ``(cm, got, want)`` with
    ``want`` onnxruntime FP32's output for ``x`` (the input is named ``x``)."""
    import vta
    cm = vta.compile(model, calibration=calib, search=False, runtime=runtime)
    got = cm.run(x)[0]
    np.testing.assert_array_equal(got, cm.simulate(x)[0])
    return cm, got, ort_run(model, {"x": x})
