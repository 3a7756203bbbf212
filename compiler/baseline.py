"""The peer VTA int8 is compared with: onnxruntime's static int8 quantization (``quantize_static``), in QDQ format,
int8 activations and weights, symmetric, per-tensor, calibrated by MinMax / Entropy / Percentile — and the same
models with every scale rounded up to a power of two (`force_pow2`: weights and biases re-quantized to the new
scales, bias scale = input scale × weight scale), the constraint VTA's shift-only requantization imposes.

Used by the model demo (`vta.mnist_demo`) and ``benchmarks/accuracy.py``; both give onnxruntime exactly the
calibration images the VTA compiler gets.
"""

import contextlib
import io
import logging
import os
import tempfile

import numpy as np

from ..errors import VTAError

__all__ = ["METHODS", "ort_session", "ort_predict", "ort_accuracy", "ort_quantize", "force_pow2", "ort_int8_table"]

METHODS = ("MinMax", "Entropy", "Percentile")


def ort_session(model_bytes):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def ort_predict(model_bytes, x):
    """Top-1 class per image of an ONNX model (bytes) run by onnxruntime on images ``x``."""
    s = ort_session(model_bytes)
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x[i:i + 256]})[0].argmax(1) for i in range(0, len(x), 256)])


def ort_accuracy(model_bytes, x, y):
    """Top-1 accuracy of an ONNX model (bytes) run by onnxruntime on images ``x`` with labels ``y``."""
    return float(np.mean(ort_predict(model_bytes, x) == y))


def ort_quantize(path, calib, method):
    """onnxruntime static int8 QDQ, symmetric per-tensor, with calibration ``method``; returns model bytes."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    if len(calib) == 0:
        raise VTAError("onnxruntime's static quantization needs at least one calibration image, not 0")
    name = onnx.load(path).graph.input[0].name
    # batches of one size: onnxruntime's histogram calibrators (Entropy, Percentile) stack the batches' outputs
    # and fail on a short last batch, so the batch is the largest divisor of the image count up to 50
    batch = max(d for d in range(1, min(50, len(calib)) + 1) if len(calib) % d == 0)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{name: calib[i:i + batch]} for i in range(0, len(calib), batch)])

        def get_next(self):
            return next(self.it, None)

    logging.getLogger().setLevel(logging.ERROR)    # onnxruntime's "consider pre-processing" notices
    with tempfile.TemporaryDirectory() as d, contextlib.redirect_stdout(io.StringIO()):
        out = os.path.join(d, "q.onnx")
        quantize_static(path, out, Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, per_channel=False,
                        calibrate_method=getattr(CalibrationMethod, method),
                        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
        with open(out, "rb") as f:
            return f.read()


def force_pow2(model_bytes):
    """Round every Q/DQ scale of a QDQ model up to a power of two; re-quantize weights and biases to match."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load_from_string(model_bytes)
    init = {t.name: t for t in m.graph.initializer}
    val = {k: numpy_helper.to_array(t) for k, t in init.items()}
    new = {}
    p2 = lambda s: np.exp2(np.ceil(np.log2(s))).astype(s.dtype)
    producer = {o: n for n in m.graph.node for o in n.output}
    dq_of = lambda t: producer.get(t) if producer.get(t) is not None and producer[t].op_type == "DequantizeLinear" \
        else None
    bias_dq = set()
    for n in m.graph.node:
        if n.op_type in ("Conv", "Gemm", "MatMul") and len(n.input) > 2 and dq_of(n.input[2]) is not None:
            bias_dq.add(dq_of(n.input[2]).name)
    for n in m.graph.node:      # activations and weights
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear") or n.name in bias_dq:
            continue
        s_name = n.input[1]
        s_new = p2(val[s_name])
        if n.op_type == "DequantizeLinear" and n.input[0] in val:
            q = val[n.input[0]]
            zp = val[n.input[2]].astype(np.float64) if len(n.input) > 2 and n.input[2] else 0.0
            v = (q.astype(np.float64) - zp) * val[s_name]
            new[n.input[0]] = np.clip(np.rint(v / s_new + zp), -127, 127).astype(q.dtype)
        new[s_name] = s_new
    for n in m.graph.node:      # biases at input scale × weight scale
        if n.op_type in ("Conv", "Gemm", "MatMul") and len(n.input) > 2 and dq_of(n.input[2]) is not None:
            bd, xd, wd = dq_of(n.input[2]), dq_of(n.input[0]), dq_of(n.input[1])
            if xd is None or wd is None:
                continue
            q = val[bd.input[0]]
            v = q.astype(np.float64) * val[bd.input[1]]
            s_b = (new[xd.input[1]] * new[wd.input[1]]).astype(val[bd.input[1]].dtype)
            new[bd.input[0]] = np.rint(v / s_b).astype(q.dtype)
            new[bd.input[1]] = s_b
    for k, v in new.items():
        init[k].CopyFrom(numpy_helper.from_array(np.asarray(v, val[k].dtype).reshape(val[k].shape), k))
    return m.SerializeToString()


def ort_int8_table(path, calib, x, y, methods=METHODS):
    """{f"{method}": accuracy, f"{method}, pow2 scales": accuracy} for every calibration method."""
    res = {}
    for method in methods:
        q = ort_quantize(path, calib, method)
        res[method] = ort_accuracy(q, x, y)
        res[f"{method}, pow2 scales"] = ort_accuracy(force_pow2(q), x, y)
    return res
