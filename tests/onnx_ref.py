"""The references the compiler tests compare against: an ONNX model run by onnxruntime FP32 on the CPU (warnings
silenced), and the cosine similarity of two outputs."""

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
