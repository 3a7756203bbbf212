"""The onnx wheel's light_* model-zoo graphs (structure-only: every weight is 0.02) compile; the small ones run on
the functional simulator and agree with onnxruntime. The large ones are slow and covered by benchmarks/zoo.py."""

import os

import onnx
import pytest

ort = pytest.importorskip("onnxruntime", reason="comparing with onnxruntime needs onnxruntime")

LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
FAST = ["squeezenet", "shufflenet"]
SLOW = ["bvlc_alexnet", "zfnet512", "inception_v1", "inception_v2", "resnet50", "densenet121", "vgg19"]


def _check(name, runtime):
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
    try:
        from zoo import run_one
    finally:
        sys.path.pop(0)
    r = run_one(os.path.join(LIGHT, f"light_{name}.onnx"), runtime=runtime)
    assert r["equals_simulation"]
    assert r["max_rel_err"] < 0.05, r
    return r


@pytest.mark.parametrize("name", FAST)
def test_light_zoo_runs_on_fsim(name, fsim_runtime):
    r = _check(name, fsim_runtime)
    if name == "squeezenet":
        assert r["vta_frac"] == 1.0
    else:   # shufflenet: group-4 convolutions run as 4 VTA calls; depthwise ones stay on the host, saying why
        assert 0.5 < r["vta_frac"] < 1.0
        assert any("grouped convolution (group=112" in s for s in r["host_reasons"])


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_light_zoo_slow(name):
    r = _check(name, None)        # a runtime of its own: the compiled model sizes DRAM for its largest layer
    assert r["vta_frac"] == 1.0


def test_every_light_graph_is_present():
    names = sorted(f[6:-5] for f in os.listdir(LIGHT) if f.startswith("light_") and f.endswith(".onnx"))
    assert names == sorted(FAST + SLOW)
