"""Layers compiled onto the tensor ALU: a squeeze-and-excitation block (conv, ReLU, GlobalAveragePool, 1×1 convs,
HardSigmoid, x · gate) with 7×7 (reciprocal) and 8×8 (shift) maps runs entirely on VTA, and so do per-channel
PReLUs; bit-identical to the program's own numpy simulation and close to onnxruntime FP32."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_ref import compile_and_run, cosine

pytest.importorskip("onnxruntime", reason="comparing with onnxruntime needs onnxruntime")


def se_model(c=24, hw=7, seed=4):
    rng = np.random.default_rng(seed)
    shapes = {"w0": (c, 3, 3, 3), "w1": (c // 4, c, 1, 1), "w2": (c, c // 4, 1, 1)}
    inits = [numpy_helper.from_array(rng.normal(0, np.sqrt(2 / np.prod(s[1:])), s).astype(np.float32), k)
             for k, s in shapes.items()]
    inits += [numpy_helper.from_array(rng.normal(0, 0.1, n).astype(np.float32), k)
              for k, n in (("b0", c), ("b1", c // 4), ("b2", c))]
    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["h"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["p"], name="gap"),
             helper.make_node("Conv", ["p", "w1", "b1"], ["s1"], name="fc1"),
             helper.make_node("Relu", ["s1"], ["s1r"], name="relu_se"),
             helper.make_node("Conv", ["s1r", "w2", "b2"], ["s2"], name="fc2"),
             helper.make_node("HardSigmoid", ["s2"], ["gate"], name="hsig", alpha=1 / 6, beta=0.5),
             helper.make_node("Mul", ["r", "gate"], ["y"], name="scale")]
    g = helper.make_graph(nodes, "se", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, hw, hw])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, c, hw, hw])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("hw", [7, 8])
def test_squeeze_excitation_pool_on_vta(fsim_runtime, hw):
    m = se_model(hw=hw)
    rng = np.random.default_rng(hw)
    calib = rng.normal(0, 1, (6, 3, hw, hw)).astype(np.float32)
    x = rng.normal(0, 1, (3, 3, hw, hw)).astype(np.float32)
    cm, got, want = compile_and_run(m, calib, x, fsim_runtime)
    cos = cosine(got, want)
    assert cos > 0.99
    assert np.max(np.abs(got - want)) < 0.1
    rep = cm.report()
    rows = {r["name"]: r for r in rep.layers}
    assert rows["gap"]["placement"] == "VTA", rows["gap"]["reason"]
    assert ("reciprocal" in rows["gap"]["reason"]) == (hw == 7)
    assert rows["scale"]["placement"] == "VTA", rows["scale"]["reason"]
    assert rep.summary["host_subgraphs"] == []


def test_prelu_per_channel_on_vta(fsim_runtime):
    """PRelu with (C, 1, 1) slopes after a conv, (C,) slopes after a dense layer and slopes of 1.5 (a coarser
    output exponent) runs on the ALU; slopes beyond ±256 stay on the host, saying why."""
    rng = np.random.default_rng(7)
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (12, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.uniform(0, 0.6, (12, 1, 1)).astype(np.float32), "a4"),
             numpy_helper.from_array(rng.normal(0, 0.1, (10, 12 * 6 * 6)).astype(np.float32), "wd"),
             numpy_helper.from_array(rng.uniform(0, 0.6, 10).astype(np.float32), "a2"),
             numpy_helper.from_array(np.full(10, 1.5, np.float32), "big"),
             numpy_helper.from_array(np.full(10, 300.0, np.float32), "huge")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("PRelu", ["c", "a4"], ["p4"], name="prelu4"),
             helper.make_node("Flatten", ["p4"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "wd"], ["d"], name="fc", transB=1),
             helper.make_node("PRelu", ["d", "a2"], ["p2"], name="prelu2"),
             helper.make_node("PRelu", ["p2", "big"], ["pb"], name="prelu_big"),
             helper.make_node("PRelu", ["pb", "huge"], ["y"], name="prelu_huge")]
    g = helper.make_graph(nodes, "prelu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 10])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    calib = rng.normal(0, 1, (8, 3, 8, 8)).astype(np.float32)
    x = rng.normal(0, 1, (3, 3, 8, 8)).astype(np.float32)
    cm, got, want = compile_and_run(m, calib, x, fsim_runtime)
    assert cosine(got, want) > 0.99
    rows = {r["name"]: r for r in cm.report().layers}
    assert rows["prelu4"]["placement"] == "VTA" and rows["prelu2"]["placement"] == "VTA"
    assert rows["prelu_big"]["placement"] == "VTA"
    assert rows["prelu_huge"]["placement"] == "CPU-fp32" and "beyond ±256" in rows["prelu_huge"]["reason"]
