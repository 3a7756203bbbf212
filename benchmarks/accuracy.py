"""Accuracy table: FP32 vs VTA int8 (compiled by vta.compiler, run on a device) vs onnxruntime static int8.

    python benchmarks/accuracy.py                       # both shipped models, VTA on fsim
    python benchmarks/accuracy.py --models mnist --device verilator --limit 10

Same calibration images (the first ``--calib`` of the train split, with their labels for the VTA search) and
the same held-out test split (`vta.compiler.datasets.load`) for every row. onnxruntime rows: ``quantize_static``
in QDQ format, int8 activations and weights, symmetric, per-tensor, calibrated by MinMax / Entropy / Percentile;
"pow2" rows are the same models with every scale rounded up to a power of two (weights and biases re-quantized
to the new scales, bias scale = input scale × weight scale) — the constraint VTA's shift-only requantization
imposes. Compile time is reported per model. Needs onnx, onnxruntime, mlxtend, scikit-learn.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np


def ort_session(model_bytes):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def ort_accuracy(model_bytes, x, y):
    s = ort_session(model_bytes)
    name = s.get_inputs()[0].name
    pred = np.concatenate([s.run(None, {name: x[i:i + 256]})[0].argmax(1) for i in range(0, len(x), 256)])
    return float(np.mean(pred == y))


def ort_quantize(path, calib, method):
    """onnxruntime static int8 QDQ, symmetric per-tensor, with calibration ``method``; returns model bytes."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": calib[i:i + 50]} for i in range(0, len(calib), 50)])

        def get_next(self):
            return next(self.it, None)

    import contextlib
    import io
    import logging
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


def run(models, device, n_calib, limit, log=print):
    import vta.compiler as vc
    from vta.compiler.datasets import load, model_path
    rows = []
    for name in models:
        xtr, ytr, xte, yte = load(name)
        if limit:
            xte, yte = xte[:limit], yte[:limit]
        calib, clab = xtr[:n_calib], ytr[:n_calib]
        path = model_path(name)
        with open(path, "rb") as f:
            raw = f.read()
        res = {"model": name, "test_images": len(xte), "calib_images": len(calib)}
        res["FP32 (onnxruntime)"] = ort_accuracy(raw, xte, yte)
        t = time.perf_counter()
        cm = vc.compile(path, calibration=calib, labels=clab, device=device)
        res["compile_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        out = cm.run(xte, progress=True)[0]
        res["run_seconds"] = time.perf_counter() - t
        res[f"VTA int8 ({device}, searched)"] = float(np.mean(out.argmax(1) == yte))
        sim = cm.simulate(xte)[0]
        res["device_equals_simulation"] = bool(np.array_equal(sim, out))
        for label, kw in (("VTA int8 (simulated, no search: percentile/ceil)", dict(search=False)),
                          ("VTA int8 (simulated, upstream-style: max, first layer on CPU)",
                           dict(search=False, act_calibration=("max", "ceil"), first_layer_host=True))):
            c2 = vc.compile(path, calibration=calib, **kw)
            res[label] = float(np.mean(c2.simulate(xte)[0].argmax(1) == yte))
        for method in ("MinMax", "Entropy", "Percentile"):
            q = ort_quantize(path, calib, method)
            res[f"onnxruntime int8 QDQ {method}"] = ort_accuracy(q, xte, yte)
            res[f"onnxruntime int8 QDQ {method}, pow2 scales"] = ort_accuracy(force_pow2(q), xte, yte)
        res["layers"] = [(l["name"], l["op"], l["placement"]) for l in cm.report().layers]
        rows.append(res)
        log(format_table([res]))
    return rows


def format_table(rows):
    lines = []
    for r in rows:
        lines.append(f"\n{r['model']}: {r['test_images']} held-out test images, {r['calib_images']} calibration "
                     f"images; compile {r['compile_seconds']:.1f} s, device run {r['run_seconds']:.1f} s")
        for k, v in r.items():
            if isinstance(v, float) and "seconds" not in k:
                lines.append(f"  {k:<66} {100 * v:6.2f} %")
        lines.append(f"  device result == bit-exact simulation: {r['device_equals_simulation']}")
        lines.append("  placement: " + ", ".join(f"{n} ({op}) → {p}" for n, op, p in r["layers"]))
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["mnist", "digits"], choices=["mnist", "digits"])
    p.add_argument("--device", default="fsim")
    p.add_argument("--calib", type=int, default=500, help="calibration images from the train split")
    p.add_argument("--limit", type=int, default=0, help="evaluate only the first N test images")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args(argv)
    rows = run(a.models, a.device, a.calib, a.limit)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
