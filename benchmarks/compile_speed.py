"""Compile speed: ResNet-18 at 224×224 (torchvision architecture, seeded weights: `resnet18_model`) and the
shipped MNIST CNN — compile time with and without the quantization search (wall and CPU seconds of this process;
BLAS threads count as CPU), plans scored by the search, fsim seconds per image (steady state; the first run of
the timed images, which for a dynamic-batch model builds that batch's streams; and the first image alone, which
also builds the kernels and instruction streams the later runs reuse), and the cosine similarity of the VTA int8
outputs to onnxruntime FP32 on held-out inputs.

    python benchmarks/compile_speed.py                         # both models
    python benchmarks/compile_speed.py --models resnet18 --no-search

ResNet-18: 16 calibration pseudo-images (`resnet18_model.images`, seed 1), no labels (the search maximises top-1
agreement with FP32), 4 held-out pseudo-images (seed 2) for the cosine and fsim timing. MNIST: 500 calibration
images with labels (as ``vta demo``), the 1,000 held-out test images for the cosine; fsim on 64 images.
Machine load matters: the CPU column is the steadier number on a shared machine.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _timed(fn):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def _ort(model_bytes, x):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    fixed = sess.get_inputs()[0].shape[0] == 1
    if fixed:
        return np.concatenate([sess.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])
    return sess.run(None, {name: x})[0]


def _cosine(a, b):
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return float(np.mean(np.sum(a * b, 1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1),
                                                       1e-30)))


def bench(name, search, fsim_images):
    import vta
    if name == "resnet18":
        from resnet18_model import images, resnet18_onnx
        model = resnet18_onnx().SerializeToString()
        calib, labels, test = images(16, seed=1), None, images(4, seed=2)
    else:
        from vta.compiler.datasets import load, model_path
        xtr, ytr, test, _ = load(name)
        with open(model_path(name), "rb") as f:
            model = f.read()
        calib, labels = xtr[:500], ytr[:500]
    rows = []
    for s in ([True, False] if search else [False]):
        cm, wall, cpu = _timed(lambda s=s: vta.compile(model, calibration=calib, labels=labels, search=s))
        row = dict(model=name, search=s, wall=wall, cpu=cpu, plans=cm.search_evals)
        n = min(fsim_images, len(test))
        # the first image builds the runtime, the uop kernels and every instruction stream (cold); later runs reuse
        # them (the streams are cached per layer). A dynamic-batch model (MNIST) runs the n images as one batch,
        # whose first run builds that batch size's streams: timed apart, then the steady state
        _, cold_wall, cold_cpu = _timed(lambda cm=cm: cm.run(test[:1]))
        _, first_wall, first_cpu = _timed(lambda cm=cm, n=n: cm.run(test[:n]))
        y, fw, fc = _timed(lambda cm=cm, n=n: cm.run(test[:n])[0])
        row.update(fsim_wall=fw / n, fsim_cpu=fc / n, fsim_images=n, fsim_cold_wall=cold_wall,
                   fsim_cold_cpu=cold_cpu, fsim_first_wall=first_wall / n, fsim_first_cpu=first_cpu / n)
        y = cm.run(test)[0] if n < len(test) else y
        row["cosine"] = _cosine(y, _ort(model, test))
        cm.close()
        rows.append(row)
        print(f"{name:<9} search={'yes' if s else 'no ':<4} compile {wall:7.1f} s wall {cpu:7.1f} s CPU  "
              f"plans scored {row['plans']:4d}  fsim {row['fsim_wall']:.4f} s/image wall "
              f"{row['fsim_cpu']:.4f} CPU ({n} images; their first run {row['fsim_first_wall']:.4f} wall "
              f"{row['fsim_first_cpu']:.4f} CPU; the first image alone {cold_wall:.2f} s wall {cold_cpu:.2f} CPU)  "
              f"cosine vs onnxruntime FP32 {row['cosine']:.4f}", flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["resnet18", "mnist"], choices=["resnet18", "mnist", "digits"])
    p.add_argument("--no-search", action="store_true", help="only compile without the search")
    p.add_argument("--fsim-images", type=int, default=0, help="images timed on fsim (default 2 / 64)")
    a = p.parse_args(argv)
    for m in a.models:
        bench(m, not a.no_search, a.fsim_images or (2 if m == "resnet18" else 64))
    return 0


if __name__ == "__main__":
    sys.exit(main())
