"""ONNX import and graph passes, checked against onnxruntime's FP32 results on the same models."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_ref import ort_run

import vta
import vta.compiler as vc
from vta.compiler.datasets import model_path
from vta.compiler.onnx_import import from_onnx
from vta.compiler.ops import run_graph
from vta.compiler.passes import optimize

pytest.importorskip("onnxruntime", reason="comparing with onnxruntime needs onnxruntime")


def conv_bn_model(seed=0, extra=None):
    """Conv → BatchNormalization → Relu → [extra op] → Conv → GlobalAveragePool → Flatten → Gemm."""
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in [
        ("w1", rng.normal(0, 0.3, (8, 3, 3, 3))), ("b1", rng.normal(0, 0.1, 8)),
        ("g", rng.uniform(0.5, 1.5, 8)), ("beta", rng.normal(0, 0.1, 8)), ("mean", rng.normal(0, 0.1, 8)),
        ("var", rng.uniform(0.5, 2, 8)), ("w2", rng.normal(0, 0.2, (16, 8, 3, 3))),
        ("fc", rng.normal(0, 0.3, (10, 16))), ("fcb", rng.normal(0, 0.1, 10))]]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
             helper.make_node("BatchNormalization", ["c1", "g", "beta", "mean", "var"], ["bn"], name="bn1"),
             helper.make_node("Relu", ["bn"], ["r1"], name="relu1")]
    src = "r1"
    if extra:
        nodes.append(helper.make_node(extra, ["r1"], ["e1"], name="odd"))
        src = "e1"
    nodes += [helper.make_node("Conv", [src, "w2"], ["c2"], strides=[2, 2], pads=[1, 1, 1, 1], name="conv2"),
              helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
              helper.make_node("GlobalAveragePool", ["r2"], ["gap"], name="gap"),
              helper.make_node("Flatten", ["gap"], ["flat"], name="flat"),
              helper.make_node("Gemm", ["flat", "fc", "fcb"], ["y"], transB=1, name="fc")]
    g = helper.make_graph(nodes, "convbn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 12, 12])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def test_batchnorm_folding_and_fusion_keep_fp32_results():
    m = conv_bn_model()
    g = from_onnx(m)
    optimize(g)
    ops = [n.op for n in g.nodes]
    assert "BatchNormalization" not in ops and "Relu" not in ops and "Gemm" not in ops
    assert ops == ["Conv", "Conv", "GlobalAveragePool", "Flatten", "Dense"]
    assert g.nodes[0].attr("_act") == "relu" and g.nodes[0].attr("_folded")
    x = np.random.default_rng(1).normal(size=(5, 3, 12, 12)).astype(np.float32)
    ours = run_graph(g, {"x": x}, keep=False)["y"]
    np.testing.assert_allclose(ours, ort_run(m, {"x": x}), rtol=1e-4, atol=1e-4)


def test_shipped_mnist_model_imports_and_matches_onnxruntime():
    m = onnx.load(model_path("mnist"))
    g = from_onnx(m)
    optimize(g)
    assert g.summary() == "Conv×2, Dense×2, Flatten×1, MaxPool×2"
    assert g.shapes[g.outputs[0]] == (1, 10) and g.dynamic_batch
    x = np.random.default_rng(0).uniform(0, 1, (4, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(run_graph(g, {"input": x}, keep=False)[g.outputs[0]], ort_run(m, {"input": x}),
                               rtol=1e-4, atol=1e-4)


def test_op_without_numpy_or_vta_runs_in_onnxruntime(fsim_runtime):
    """Erf has neither a VTA operator nor a numpy implementation: it runs on the host in onnxruntime."""
    m = conv_bn_model(extra="Erf")
    rng = np.random.default_rng(3)
    cm = vta.compile(m, calibration=rng.normal(size=(32, 3, 12, 12)).astype(np.float32), search=False,
                     runtime=fsim_runtime)
    x = rng.normal(size=(4, 3, 12, 12)).astype(np.float32)
    want = ort_run(m, {"x": x})
    np.testing.assert_allclose(cm.run_float(x)[0], want, rtol=1e-4, atol=1e-5)
    assert np.max(np.abs(cm.run(x)[0] - want)) <= 0.05 * np.max(np.abs(want))
    subs = cm.report().summary["host_subgraphs"]
    assert any(s["ops"] == ["Erf"] for s in subs)


def test_op_onnxruntime_cannot_run_is_named():
    m = conv_bn_model(extra="NoSuchOp")
    with pytest.raises(vc.CompileError, match=r"NoSuchOp node 'odd': onnxruntime cannot run it: .*NoSuchOp"):
        vta.compile(m, calibration=np.zeros((1, 3, 12, 12), np.float32))


def test_unsupported_attribute_is_named():
    m = conv_bn_model()
    m.graph.node[0].attribute.append(helper.make_attribute("auto_pad", "BOGUS"))
    with pytest.raises(vc.CompileError, match=r"conv1.*onnxruntime cannot run it.*AutoPad"):
        vta.compile(m, calibration=np.zeros((1, 3, 12, 12), np.float32))


def test_cpu_fallback_runs_and_is_reported(fsim_runtime):
    """A Sigmoid between the convolutions has no VTA operator: it runs in float on the host, and the model still
    gives FP32-like results."""
    m = conv_bn_model(extra="Sigmoid")
    rng = np.random.default_rng(2)
    calib = rng.normal(size=(32, 3, 12, 12)).astype(np.float32)
    cm = vta.compile(m, calibration=calib, search=False, runtime=fsim_runtime)
    x = rng.normal(size=(8, 3, 12, 12)).astype(np.float32)
    got = cm.run(x)[0]
    want = ort_run(m, {"x": x})
    assert np.max(np.abs(got - want)) <= 0.05 * np.max(np.abs(want))
    rows = {r["name"]: r for r in cm.report().layers}
    assert rows["odd"]["placement"] == "CPU-fp32" and "no Sigmoid operator" in rows["odd"]["reason"]
    assert rows["conv1"]["placement"] == "VTA" and rows["conv2"]["placement"] == "VTA"
    assert rows["gap"]["placement"] == "VTA"          # GlobalAveragePool: ADDs and a rescale on the tensor ALU
    assert "CPU-fp32" in str(cm.report())


def test_calibration_is_required_for_float_models():
    with pytest.raises(vc.CompileError, match="calibration"):
        vta.compile(conv_bn_model())


def test_bad_calibration_shape_is_named():
    with pytest.raises(vc.CompileError, match=r"calibration.*\(N, 3, 12, 12\)"):
        vta.compile(conv_bn_model(), calibration=np.zeros((2, 3, 10, 10), np.float32))


def test_grouped_and_depthwise_convs_run_block_diagonally_on_vta(fsim_runtime):
    rng = np.random.default_rng(4)
    w = numpy_helper.from_array(rng.normal(0, 0.2, (32, 16, 3, 3)).astype(np.float32), "w")
    dw = numpy_helper.from_array(rng.normal(0, 0.2, (32, 1, 3, 3)).astype(np.float32), "dw")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], group=2, pads=[1, 1, 1, 1], name="grouped"),
             helper.make_node("Conv", ["c", "dw"], ["y"], group=32, pads=[1, 1, 1, 1], name="depthwise")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 32, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 32, 6, 6])], [w, dw])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    x = rng.normal(size=(2, 32, 6, 6)).astype(np.float32)
    cm = vta.compile(m, calibration=x, search=False, runtime=fsim_runtime)
    got = cm.run(x)[0]
    want = ort_run(m, {"x": x})
    assert np.max(np.abs(got - want)) <= 0.05 * np.max(np.abs(want))
    np.testing.assert_array_equal(got, cm.simulate(x)[0])
    rows = {r["name"]: r for r in cm.report().layers}
    # both are one block-grouped device call (per distinct shift); depthwise packs 16 channels per GEMM block
    assert rows["grouped"]["placement"] == "VTA" and rows["grouped"]["vta_calls"] == 1
    assert rows["depthwise"]["placement"] == "VTA" and rows["depthwise"]["vta_calls"] == 1
    assert "16 per block-diagonal 16×16 GEMM block (6 % of the products useful)" in rows["depthwise"]["reason"]
