"""Dilated convolutions on VTA as batches of phase images (`vta.compiler.dilation`): the split and merge equal the
dilated convolution exactly, a model with dilations 2 and 6 (CRAFT's fc6) runs them on VTA bit-identical to its
numpy simulation and close to onnxruntime FP32, and a strided dilated conv stays on the host saying why."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_ref import compile_and_run, cosine

import vta
from vta.compiler.dilation import PhaseSplit
from vta.compiler.ops import conv_nchw

pytest.importorskip("onnxruntime", reason="comparing with onnxruntime needs onnxruntime")


@pytest.mark.parametrize("h, w, kh, kw, ph, pw, dh, dw", [(16, 16, 3, 3, 6, 6, 6, 6), (20, 13, 3, 3, 2, 1, 2, 3),
                                                          (7, 9, 2, 3, 0, 1, 3, 2), (5, 5, 3, 3, 0, 0, 2, 2)])
def test_phase_split_is_the_dilated_conv(h, w, kh, kw, ph, pw, dh, dw):
    rng = np.random.default_rng(h * w)
    x = rng.integers(-128, 128, (2, 3, h, w)).astype(np.float64)
    k = rng.integers(-128, 128, (4, 3, kh, kw)).astype(np.float64)
    want = conv_nchw(x, k, (1, 1), (ph, pw, ph, pw), (dh, dw), dtype=np.float64)
    ps = PhaseSplit((h, w), (kh, kw), (ph, pw), (dh, dw))
    got = ps.merge(conv_nchw(ps.split(x), k, (1, 1), (0, 0, 0, 0), dtype=np.float64), 2)
    np.testing.assert_array_equal(got, want)


def _model(stride=1, seed=1):
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (16, 3, 3, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.normal(0, 0.1, (24, 16, 3, 3)).astype(np.float32), "w2"),
             numpy_helper.from_array(rng.normal(0, 0.1, 24).astype(np.float32), "b2")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], name="dil2", pads=[2, 2, 2, 2], dilations=[2, 2]),
             helper.make_node("Relu", ["a"], ["r"], name="relu"),
             helper.make_node("Conv", ["r", "w2", "b2"], ["y"], name="dil6", pads=[6, 6, 6, 6], dilations=[6, 6],
                              strides=[stride, stride])]
    out = 12 if stride == 1 else 6
    g = helper.make_graph(nodes, "dilated", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 12, 12])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 24, out, out])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def test_dilated_convs_run_on_vta(fsim_runtime):
    m = _model()
    rng = np.random.default_rng(0)
    calib = rng.normal(0, 1, (4, 3, 12, 12)).astype(np.float32)
    x = rng.normal(0, 1, (2, 3, 12, 12)).astype(np.float32)
    cm, got, want = compile_and_run(m, calib, x, fsim_runtime)
    cos = cosine(got, want)
    assert cos > 0.99
    rows = {r["name"]: r for r in cm.report().layers}
    for name in ("dil2", "dil6"):
        assert rows[name]["placement"] == "VTA", rows[name]["reason"]
    assert "36 phase images" in rows["dil6"]["reason"]
    assert cm.report().summary["vta_mac_fraction"] == 1.0


def test_strided_dilated_conv_stays_on_host(fsim_runtime):
    m = _model(stride=2)
    calib = np.random.default_rng(0).normal(0, 1, (2, 3, 12, 12)).astype(np.float32)
    cm = vta.compile(m, calibration=calib, search=False, runtime=fsim_runtime)
    rows = {r["name"]: r for r in cm.report().layers}
    assert rows["dil6"]["placement"] == "CPU-fp32"
    assert "only stride 1, one group, symmetric pads" in rows["dil6"]["reason"]
    assert rows["dil2"]["placement"] == "VTA"
