"""The model demo: compile the shipped MNIST CNN for VTA, run the held-out images on a device and compare
FP32, VTA int8 and onnxruntime int8 accuracy, with where each layer ran.

`main(device="fsim")` returns an exit code (0 when the VTA result equals the bit-exact simulation and the accuracy
is within 1 point of FP32). On ``device="verilator"`` only ``verilator_images`` images run (cycle counts per image
come from that run); the accuracy then uses the functional simulator for the rest.
"""

import sys
import time

import numpy as np

__all__ = ["main"]


def _ort_int8(path, calib, x, y):
    """onnxruntime static int8 (QDQ, symmetric per-tensor, Percentile calibration) accuracy, or None."""
    try:
        import logging
        import os
        import tempfile
        import onnxruntime as ort
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                              quantize_static)
    except ImportError:
        return None

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": calib[i:i + 50]} for i in range(0, len(calib), 50)])

        def get_next(self):
            return next(self.it, None)

    import contextlib
    import io
    logging.getLogger().setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as d, contextlib.redirect_stdout(io.StringIO()):
        out = os.path.join(d, "q.onnx")
        quantize_static(path, out, Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.Percentile,
                        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
        s = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
        pred = s.run(None, {"input": x})[0].argmax(1)
    return float(np.mean(pred == y))


def main(device="fsim", config="default", n_calib=500, verilator_images=1, out=None):
    import vta.compiler as vc
    from vta.compiler.datasets import load, model_path
    out = out or sys.stdout
    p = lambda *a: print(*a, file=out)
    xtr, ytr, xte, yte = load("mnist")
    path = model_path("mnist")
    p(f"MNIST CNN ({path}): {len(xte)} held-out test images, {n_calib} calibration images from the train split")
    t = time.perf_counter()
    cm = vc.compile(path, config=config, calibration=xtr[:n_calib], labels=ytr[:n_calib], device="fsim")
    p(f"compiled in {time.perf_counter() - t:.1f} s ({cm.graph.summary()})")
    fp = cm.run_float(xte)[0]
    t = time.perf_counter()
    q = cm.run(xte, progress=True)[0]
    run_s = time.perf_counter() - t
    sim = cm.simulate(xte)[0]
    exact = bool(np.array_equal(q, sim))
    acc_fp, acc_q = float(np.mean(fp.argmax(1) == yte)), float(np.mean(q.argmax(1) == yte))
    acc_ort = _ort_int8(path, xtr[:n_calib], xte, yte)
    p(f"\n{'':<28}{'accuracy':>10}")
    p(f"{'FP32 (host)':<28}{100 * acc_fp:>9.2f}%")
    p(f"{'VTA int8 (fsim)':<28}{100 * acc_q:>9.2f}%   ({run_s:.1f} s for {len(xte)} images; "
      f"equals bit-exact simulation: {exact})")
    if acc_ort is not None:
        p(f"{'onnxruntime int8 (QDQ)':<28}{100 * acc_ort:>9.2f}%")
    else:
        p("onnxruntime int8: onnxruntime is not installed")
    rep = cm.report()
    if device == "verilator":
        cv = vc.compile(path, config=config, plan=cm.plan, calibration=xtr[:n_calib], search=False,
                        device="verilator")
        qv = cv.run(xte[:verilator_images])[0]
        rv = cv.report()
        same = bool(np.array_equal(qv, q[:verilator_images]))
        cyc = rv.summary["cycles"]
        p(f"\nVerilator: {verilator_images} image(s), {cyc} VTA cycles "
          f"({cyc / verilator_images:.0f} per image); equals fsim: {same}")
        rep = rv
        exact = exact and same
    p("\nwhere each layer ran:")
    p(rep)
    ok = exact and acc_q >= acc_fp - 0.01
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
