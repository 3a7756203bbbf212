"""Accuracy table: FP32 vs VTA int8 (compiled by vta.compiler, run on a device) vs onnxruntime static int8.

    python benchmarks/accuracy.py                       # both shipped models, VTA on fsim
    python benchmarks/accuracy.py --models mnist --device verilator --limit 10

Same calibration images (the first ``--calib`` of the train split, with their labels for the VTA search) and
the same held-out test split (`vta.compiler.datasets.load`) for every row. onnxruntime rows
(`vta.compiler.baseline`): ``quantize_static`` in QDQ format, int8 activations and weights, symmetric, per-tensor,
calibrated by MinMax / Entropy / Percentile; "pow2" rows are the same models with every scale rounded up to a power
of two (weights and biases re-quantized to the new scales, bias scale = input scale × weight scale) — the
constraint VTA's shift-only requantization imposes. The VTA search also uses the calibration labels (onnxruntime
uses none); the "no labels" row searches against agreement with the FP32 model instead. Compile time is reported
per model. Needs onnx, onnxruntime, mlxtend, scikit-learn.
"""

import argparse
import sys
import time

import numpy as np
from results import write_json

from vta.compiler.baseline import METHODS, force_pow2, ort_accuracy, ort_quantize


def run(models, device, n_calib, limit, log=print):
    import vta
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
        cm = vta.compile(path, calibration=calib, labels=clab, device=device)
        res["compile_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        out = cm.run(xte, progress=True)[0]
        res["run_seconds"] = time.perf_counter() - t
        res[f"VTA int8 ({device}, searched)"] = float(np.mean(out.argmax(1) == yte))
        sim = cm.simulate(xte)[0]
        res["device_equals_simulation"] = bool(np.array_equal(sim, out))
        for label, kw in (("VTA int8 (simulated, searched without bias correction / rounding fit)",
                           dict(labels=clab, refine=False)),
                          ("VTA int8 (simulated, searched with no labels: agreement with FP32)", dict()),
                          ("VTA int8 (simulated, no search: percentile/ceil)", dict(search=False)),
                          ("VTA int8 (simulated, upstream-style: max, first layer on CPU)",
                           dict(search=False, act_calibration=("max", "ceil"), first_layer_host=True))):
            c2 = vta.compile(path, calibration=calib, **kw)
            res[label] = float(np.mean(c2.simulate(xte)[0].argmax(1) == yte))
        for method in METHODS:
            q = ort_quantize(path, calib, method)
            res[f"onnxruntime int8 QDQ {method}"] = ort_accuracy(q, xte, yte)
            res[f"onnxruntime int8 QDQ {method}, pow2 scales"] = ort_accuracy(force_pow2(q), xte, yte)
        vta = res[f"VTA int8 ({device}, searched)"]
        best = max((v, k) for k, v in res.items() if k.startswith("onnxruntime"))
        fp32 = res["FP32 (onnxruntime)"]
        res["acceptance"] = dict(vta=vta, best_onnxruntime=best[0], best_onnxruntime_variant=best[1], fp32=fp32,
                                 met=bool(vta >= best[0] and vta >= fp32 - 0.005))
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
                lines.append(f"  {k:<72} {100 * v:6.2f} %")
        lines.append(f"  device result == bit-exact simulation: {r['device_equals_simulation']}")
        a = r["acceptance"]
        lines.append(f"  VTA int8 − best onnxruntime ({a['best_onnxruntime_variant']}): "
                     f"{100 * (a['vta'] - a['best_onnxruntime']):+.2f} points; VTA int8 − FP32: "
                     f"{100 * (a['vta'] - a['fp32']):+.2f} points → acceptance (≥ best onnxruntime, within 0.5 of "
                     f"FP32): {'met' if a['met'] else 'NOT met'}")
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
    write_json(a.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
