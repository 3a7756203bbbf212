"""The onnx wheel's light_* model-zoo graphs (structure-only: every weight is 0.02) compile; the small ones run on
the functional simulator and agree with onnxruntime. The large ones are slow (marked slow) and covered by
benchmarks/zoo.py."""

import os

import onnx
import pytest

ort = pytest.importorskip("onnxruntime", reason="comparing with onnxruntime needs onnxruntime")

LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
FAST = ["squeezenet", "shufflenet"]
SLOW = ["bvlc_alexnet", "zfnet512", "inception_v1", "inception_v2", "resnet50", "densenet121", "vgg19"]


def _check(name, runtime):
    """Compile one light graph (no search; one uniform-random image calibrates), run it on fsim, compare with
    onnxruntime FP32 on that image; returns the VTA MAC fraction and the host layers' reasons."""
    import numpy as np

    import vta
    model = onnx.load(os.path.join(LIGHT, f"light_{name}.onnx"))
    x = np.random.default_rng(0).uniform(0, 1, (1, 3, 224, 224)).astype(np.float32)
    cm = vta.compile(model, calibration=x, search=False, runtime=runtime)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    ref = session.run(None, {cm.input_names[0]: x})[0]
    out = cm.run(x)[0]
    assert np.array_equal(out, cm.simulate(x)[0]), "the device result differs from the bit-exact simulation"
    rel = float(np.max(np.abs(out - ref)) / max(np.max(np.abs(ref)), 1e-30))
    assert rel < 0.05, f"{name}: largest difference from onnxruntime is {rel:.3f} of the largest output"
    report = cm.report()
    reasons = sorted({f"{layer['op']}: {layer['reason']}" for layer in report.layers
                      if layer["placement"] != "VTA" and layer["macs"]})
    return {"vta_frac": report.summary["vta_mac_fraction"], "host_reasons": reasons}


@pytest.mark.parametrize("name", FAST)
def test_light_zoo_runs_on_fsim(name, fsim_runtime):
    r = _check(name, fsim_runtime)
    # shufflenet: its group-3 and depthwise convolutions run block-diagonally packed on the GEMM core too
    assert r["vta_frac"] == 1.0, r["host_reasons"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_light_zoo_slow(name):
    r = _check(name, None)        # a runtime of its own: the compiled model sizes DRAM for its largest layer
    assert r["vta_frac"] == 1.0


def test_every_light_graph_is_present():
    names = sorted(f[6:-5] for f in os.listdir(LIGHT) if f.startswith("light_") and f.endswith(".onnx"))
    assert names == sorted(FAST + SLOW)
