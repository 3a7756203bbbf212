"""A MobileNet-v2 inverted-residual block (expand 1×1 + ReLU6, depthwise 3×3 + ReLU6, project 1×1, residual add)
with channel counts that are not multiples of the block: compiled with ≥ 95 % of its MACs on VTA (the depthwise
convolution packed block-diagonally, ReLU6 as an ALU clip), bit-identical to its own simulation and within
quantization error of onnxruntime FP32."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_ref import compile_and_run, cosine

pytest.importorskip("onnxruntime", reason="comparing with onnxruntime needs onnxruntime")


def block_model(c=12, t=6, hw=10, seed=3):
    rng = np.random.default_rng(seed)
    e = c * t
    shapes = {"w1": (e, c, 1, 1), "w2": (e, 1, 3, 3), "w3": (c, e, 1, 1)}
    inits = [numpy_helper.from_array(rng.normal(0, np.sqrt(2 / np.prod(s[1:])), s).astype(np.float32), k)
             for k, s in shapes.items()]
    inits += [numpy_helper.from_array(rng.normal(0, 0.1, n).astype(np.float32), k)
              for k, n in (("b1", e), ("b2", e), ("b3", c))]
    inits += [numpy_helper.from_array(np.array(v, np.float32), k) for k, v in (("lo", 0.0), ("hi", 6.0))]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["e"], name="expand"),
             helper.make_node("Clip", ["e", "lo", "hi"], ["e6"], name="relu6_a"),
             helper.make_node("Conv", ["e6", "w2", "b2"], ["d"], name="depthwise", group=e, pads=[1, 1, 1, 1]),
             helper.make_node("Clip", ["d", "lo", "hi"], ["d6"], name="relu6_b"),
             helper.make_node("Conv", ["d6", "w3", "b3"], ["p"], name="project"),
             helper.make_node("Add", ["x", "p"], ["y"], name="residual")]
    g = helper.make_graph(nodes, "mbv2_block", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                              [1, c, hw, hw])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, hw, hw])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def test_mobilenet_v2_block_runs_on_vta(fsim_runtime):
    m = block_model()
    rng = np.random.default_rng(0)
    calib = rng.normal(0, 1, (4, 12, 10, 10)).astype(np.float32)
    x = rng.normal(0, 1, (1, 12, 10, 10)).astype(np.float32)
    cm, got, want = compile_and_run(m, calib, x, fsim_runtime)
    assert np.max(np.abs(got - want)) <= 0.05 * np.max(np.abs(want))
    cos = cosine(got, want)
    assert cos > 0.995
    rep = cm.report()
    assert rep.summary["vta_mac_fraction"] >= 0.95
    rows = {r["name"]: r for r in rep.layers}
    for name in ("expand", "depthwise", "project", "relu6_a", "relu6_b", "residual"):
        assert rows[name]["placement"] == "VTA", (name, rows[name]["reason"])
    assert rows["depthwise"]["macs"] == 72 * 9 * 100                  # 72 channels × 3×3 × 10×10
    # block-diagonal: ceil(72 / 16) = 5 GEMM blocks of 16×16 per tap and pixel (not 5 × 5 as a dense conv)
    assert rows["depthwise"]["device_macs"] == 5 * 9 * 100 * 16 * 16
