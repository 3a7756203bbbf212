"""Transformer lowering: N-D MatMul by constant weights → Dense over flattened rows (passes), activation ×
activation MatMul on the GEMM core (numpy semantics, partitioning, program steps), and a tiny encoder block end to
end through `vta.compile` on the functional simulator."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from vta.compiler.onnx_import import from_onnx
from vta.compiler.ops import run_graph
from vta.compiler.passes import optimize

ort = pytest.importorskip("onnxruntime", reason="comparing with onnxruntime needs onnxruntime")


def _ort(model, feeds):
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def linear3d_model(bias_shape=(24,), seed=0):
    """(N, 5, 16) → MatMul (16, 24) → Add bias → Relu: a PyTorch Linear on 3-D activations as exported."""
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (16, 24)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.normal(0, 0.1, bias_shape).astype(np.float32), "b")]
    nodes = [helper.make_node("MatMul", ["x", "W"], ["mm"], name="mm"),
             helper.make_node("Add", ["mm", "b"], ["add"], name="add"),
             helper.make_node("Relu", ["add"], ["y"], name="relu")]
    g = helper.make_graph(nodes, "lin3d", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5, 24])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("bias_shape", [(24,), (1, 1, 24)])
def test_3d_matmul_becomes_dense_over_rows(bias_shape):
    m = linear3d_model(bias_shape)
    g = from_onnx(m)
    optimize(g)
    assert [n.op for n in g.nodes] == ["Reshape", "Dense", "Reshape", "Relu"]
    dense = g.nodes[1]
    assert len(dense.inputs) == 3, "the bias Add is folded into the Dense"
    assert g.shapes[dense.inputs[0]] == (5, 16) and g.shapes[dense.outputs[0]] == (5, 24)
    x = np.random.default_rng(1).normal(size=(3, 5, 16)).astype(np.float32)
    ours = run_graph(g, {"x": x}, keep=False)["y"]
    assert ours.shape == (3, 5, 24)
    np.testing.assert_allclose(ours, _ort(m, {"x": x})[0], rtol=1e-5, atol=1e-5)


def test_3d_matmul_with_non_bias_add_keeps_the_add():
    """An Add of a (5, 24) constant varies along tokens: it is not a bias and stays an Add after the Dense."""
    m = linear3d_model((5, 24))
    g = from_onnx(m)
    optimize(g)
    ops = [n.op for n in g.nodes]
    assert ops[:3] == ["Reshape", "Dense", "Reshape"] and "Add" in ops
    x = np.random.default_rng(2).normal(size=(2, 5, 16)).astype(np.float32)
    np.testing.assert_allclose(run_graph(g, {"x": x}, keep=False)["y"], _ort(m, {"x": x})[0], rtol=1e-5, atol=1e-5)
