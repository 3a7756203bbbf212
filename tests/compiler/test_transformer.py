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
    assert [n.op for n in g.nodes] == ["Reshape", "Dense", "Reshape"]
    dense = g.nodes[1]
    assert len(dense.inputs) == 3, "the bias Add is folded into the Dense"
    assert dense.attr("_act") == "relu", "the ReLU is fused into the Dense"
    assert g.shapes[dense.inputs[0]] == (5, 16) and g.shapes[dense.outputs[0]] == (5, 24)
    x = np.random.default_rng(1).normal(size=(3, 5, 16)).astype(np.float32)
    ours = run_graph(g, {"x": x}, keep=False)["y"]
    assert ours.shape == (3, 5, 24)
    np.testing.assert_allclose(ours, _ort(m, {"x": x})[0], rtol=1e-5, atol=1e-5)


def test_3d_linear_relu_on_vta(fsim_runtime):
    """The flattened Dense with its fused bias and ReLU runs on VTA over every (sample, token) row: bit-exact with
    the numpy semantics, close to onnxruntime FP32."""
    import vta
    m = linear3d_model()
    x = np.random.default_rng(4).normal(size=(8, 5, 16)).astype(np.float32)
    with vta.compile(m, calibration=x, search=False, runtime=fsim_runtime) as cm:
        y = cm.run(x[:3])[0]
        np.testing.assert_array_equal(y, cm.simulate(x[:3])[0])
        rep = cm.report()
    assert [l["op"] for l in rep.layers if l["placement"] == "VTA"] == ["Dense+relu"]
    assert rep.summary["vta_mac_fraction"] == 1.0
    ref = _ort(m, {"x": x[:3]})[0]
    assert y.shape == ref.shape and np.max(np.abs(y - ref)) <= 0.05 * np.max(np.abs(ref))


def test_3d_matmul_with_non_bias_add_keeps_the_add():
    """An Add of a (5, 24) constant varies along tokens: it is not a bias and stays an Add after the Dense."""
    m = linear3d_model((5, 24))
    g = from_onnx(m)
    optimize(g)
    ops = [n.op for n in g.nodes]
    assert ops[:3] == ["Reshape", "Dense", "Reshape"] and "Add" in ops
    x = np.random.default_rng(2).normal(size=(2, 5, 16)).astype(np.float32)
    np.testing.assert_allclose(run_graph(g, {"x": x}, keep=False)["y"], _ort(m, {"x": x})[0], rtol=1e-5, atol=1e-5)


# -- activation × activation products ---------------------------------------------------------------------------

def _plain_matmul(a, b, bias, shift, relu):
    """The definition, element by element in Python ints over a few entries (independent of numpy's matmul)."""
    lead = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a, b = np.broadcast_to(a, lead + a.shape[-2:]), np.broadcast_to(b, lead + b.shape[-2:])
    out = np.empty(lead + (a.shape[-2], b.shape[-1]), np.int8)
    for idx in np.ndindex(*out.shape):
        *g, i, j = idx
        s = sum(int(a[(*g, i, t)]) * int(b[(*g, t, j)]) for t in range(a.shape[-1])) + int(bias[j])
        out[idx] = min(max(s >> shift, 0 if relu else -128), 127)
    return out


@pytest.mark.parametrize("sa,sb,shift,relu", [((2, 3, 5, 7), (2, 3, 7, 4), 6, False), ((5, 9), (9, 3), 0, True),
                                              ((3, 4, 33), (1, 33, 6), 9, False)])
def test_matmul_int8_is_the_integer_product(sa, sb, shift, relu):
    from vta.compiler.arith import matmul_int8
    rng = np.random.default_rng(len(sa) + shift)
    a = rng.integers(-128, 128, sa, dtype=np.int8)
    b = rng.integers(-128, 128, sb, dtype=np.int8)
    bias = rng.integers(-3000, 3000, sb[-1], dtype=np.int32)
    np.testing.assert_array_equal(matmul_int8(a, b, bias, shift, relu), _plain_matmul(a, b, bias, shift, relu))


def test_matmul_int8_offset_operand_is_the_shifted_product():
    """``a_offset``: the left operand stands for ``a + 128`` (softmax probabilities as q − 128): the same as the
    plain integer product of the shifted operand, computed in int16 here."""
    from vta.compiler.arith import matmul_int8
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, (2, 4, 6, 49), dtype=np.int8)
    b = rng.integers(-128, 128, (2, 4, 49, 16), dtype=np.int8)
    bias = np.full(16, 1 << 9, np.int32)
    want = _plain_matmul(a.astype(np.int16) + 128, b, bias, 10, False)
    np.testing.assert_array_equal(matmul_int8(a, b, bias, 10, False, a_offset=128), want)
    assert not np.array_equal(matmul_int8(a, b, bias, 10, False), want)


def test_matmul_int8_exact_beyond_float32():
    """K = 1100 int8 products sum to 18 022 145, odd and > 2^24: float32 would round it; the bias brings the exact
    sum back to 3."""
    from vta.compiler.arith import matmul_int8
    a = np.full((1, 1100), -128, np.int8)
    b = np.full((1100, 1), -128, np.int8)
    a[0, 0] = b[0, 0] = -127
    total = 1099 * 128 * 128 + 127 * 127
    assert total > 1 << 24 and total % 2
    assert int(matmul_int8(a, b, np.array([3 - total], np.int32), 0, False)[0, 0]) == 3


def _two_input_matmul(sa, sb):
    nodes = [helper.make_node("MatMul", ["a", "b"], ["y"], name="qk")]
    g = helper.make_graph(nodes, "mm", [helper.make_tensor_value_info("a", TensorProto.FLOAT, list(sa)),
                                        helper.make_tensor_value_info("b", TensorProto.FLOAT, list(sb))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def test_mismatched_inner_dims_is_a_clear_error():
    import vta
    from vta.compiler.ir import CompileError
    m = _two_input_matmul((2, 4, 8), (2, 9, 5))
    with pytest.raises(CompileError, match=r"MatMul node 'qk': the inner dimensions .* must match.*8 ≠ 9"):
        vta.compile(m, calibration={"a": np.zeros((2, 4, 8), np.float32), "b": np.zeros((2, 9, 5), np.float32)},
                    search=False)


@pytest.mark.parametrize("sa,sb", [((4, 3, 10, 24), (4, 3, 24, 17)), ((2, 3, 10, 24), (1, 3, 24, 17))])
def test_activation_product_runs_on_vta_bit_exact(sa, sb, fsim_runtime):
    """A lone Q·Kᵀ-shaped product of two graph inputs (also with a broadcast leading axis): placed on VTA, the
    device result equals the numpy semantics bit for bit, and dequantized it is close to the float product."""
    import vta
    rng = np.random.default_rng(3)
    a = rng.normal(0, 1, sa).astype(np.float32)
    b = rng.normal(0, 1, sb).astype(np.float32)
    m = _two_input_matmul(sa, sb)
    with vta.compile(m, calibration={"a": a, "b": b}, search=False, runtime=fsim_runtime) as cm:
        rep = cm.report()
        assert rep.layers[0]["placement"] == "VTA" and rep.summary["vta_mac_fraction"] == 1.0
        y = cm.run({"a": a, "b": b})[0]
        np.testing.assert_array_equal(y, cm.simulate({"a": a, "b": b})[0])
    ref = np.matmul(a, b)
    cos = float(np.sum(y * ref) / np.linalg.norm(y) / np.linalg.norm(ref))
    assert cos > 0.995, cos


def _attention_product(sa, sv):
    """Softmax(scores) · V: attention's second product, with the scores and V as graph inputs."""
    nodes = [helper.make_node("Softmax", ["s"], ["p"], name="softmax", axis=-1),
             helper.make_node("MatMul", ["p", "v"], ["y"], name="pv")]
    g = helper.make_graph(nodes, "pv", [helper.make_tensor_value_info("s", TensorProto.FLOAT, list(sa)),
                                        helper.make_tensor_value_info("v", TensorProto.FLOAT, list(sv))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def test_softmax_probabilities_use_the_sign_bit(fsim_runtime):
    """P ∈ [0, 1] is stored as round(P · 256) − 128 (`vta.quant.offsets`): its codes reach below 0, the device
    adds 128 · Σ V per column and head and stays bit-exact with the numpy semantics, and the product's error
    against FP32 (calibration data) is below the symmetric 2^-7 form's."""
    import vta
    from vta.compiler.program import run_program
    from vta.compiler.steps import Quantize
    from vta.quant.plan import Plan
    rng = np.random.default_rng(9)
    s = rng.normal(0, 2.5, (8, 4, 20, 20)).astype(np.float32)
    v = rng.normal(0, 1, (8, 4, 20, 16)).astype(np.float32)
    m, feeds = _attention_product(s.shape, v.shape), {"s": s, "v": v}
    errs = {}
    for offset in (True, False):
        plan = Plan(default_act=("max", "nearest"), act_offset=offset)
        with vta.compile(m, calibration=feeds, search=False, plan=plan, runtime=fsim_runtime) as cm:
            quant = {st.outputs[0]: st for st in cm.program.steps if isinstance(st, Quantize)}
            pv = next(st for st in cm.program.steps if type(st).__name__ == "MatMul")
            if offset:
                assert quant["p@q"].offset == 128 and quant["p@q"].exp == -8 and pv.a_offset == 128
                assert quant["v@q"].offset == 0 and cm.program.offsets == {"p": 128}
                env = run_program(cm.program, feeds, cm.graph.consts)
                assert env["p@q"].min() == -128 and env["p@q"].max() > 0
                y = cm.run(feeds)[0]
                np.testing.assert_array_equal(y, cm.simulate(feeds)[0])
            else:
                assert quant["p@q"].offset == 0 and pv.a_offset == 0 and quant["p@q"].exp == -7
            errs[offset] = (cm.errors["p"], cm.errors["y"])
    assert errs[True][0] < 0.75 * errs[False][0] and errs[True][1] < errs[False][1], errs


# -- a tiny encoder block end to end --------------------------------------------------------------------------------

def encoder_block(c=32, heads=2, mlp=64, seed=0):
    """A pre-norm transformer encoder block (multi-head self-attention + GELU MLP, both residual) as PyTorch
    writes it; seeded weights."""
    torch = pytest.importorskip("torch", reason="exporting the encoder block needs torch")
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.h, self.d = heads, c // heads
            self.ln1, self.ln2 = nn.LayerNorm(c), nn.LayerNorm(c)
            self.qkv, self.proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
            self.fc1, self.fc2, self.act = nn.Linear(c, mlp), nn.Linear(mlp, c), nn.GELU()

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).reshape(b, t, 3, self.h, self.d).permute(2, 0, 3, 1, 4)
            a = ((q @ k.transpose(-2, -1)) * self.d ** -0.5).softmax(-1)
            x = x + self.proj((a @ v).transpose(1, 2).reshape(b, t, c))
            return x + self.fc2(self.act(self.fc1(self.ln2(x))))

    torch.manual_seed(seed)
    return Block().eval()


def _export(module, x, opset):
    """ONNX bytes of ``module`` traced on ``x``, exported as `vta.compile` exports a PyTorch module."""
    from vta.compiler.onnx_import import from_torch
    return from_torch(module, x, opset=opset)[1].SerializeToString()


@pytest.mark.parametrize("opset", [17, 12])
def test_encoder_block_end_to_end_on_fsim(opset, fsim_runtime):
    """Opset 17 exports LayerNormalization, opset 12 decomposes it (ReduceMean/Sub/Pow/Sqrt/Div): both compile
    unedited, every MAC (the four linear layers and both attention products) runs on VTA, the device output is
    bit-exact with the numpy semantics and close to onnxruntime FP32; LayerNorm/Softmax/GELU run in a few fused
    onnxruntime host subgraphs, not one call per op."""
    import vta
    block = encoder_block()
    rng = np.random.default_rng(opset)
    x = rng.normal(0, 1, (6, 8, 32)).astype(np.float32)
    model = _export(block, x[:1], opset)
    ref = _ort(__import__("onnx").load_from_string(model), {"input": x[:2]})[0]
    with vta.compile(model, calibration=x, search=False, runtime=fsim_runtime) as cm:
        y = cm.run(x[:2])[0]
        np.testing.assert_array_equal(y, cm.simulate(x[:2])[0])
        rep = cm.report()
    s = rep.summary
    assert s["vta_mac_fraction"] == 1.0, [(l["name"], l["placement"]) for l in rep.layers if l["macs"]]
    products = [l for l in rep.layers if l["op"] == "MatMul"]
    assert len(products) == 2 and all(l["placement"] == "VTA" for l in products)
    # Q·Kᵀ feeds the Softmax: floor shift, no rounding bias (one ALU pass less); P·V rounds half up
    qk, pv = [st for st in cm.program.steps if type(st).__name__ == "MatMul"]
    assert qk.bias is None and pv.bias is not None and np.all(pv.bias == 1 << (pv.shift - 1))
    assert pv.a_offset == 128 and qk.a_offset == 0      # P stored as q − 128: the column sums join the bias
    assert len(s["host_subgraphs"]) <= 4, [h["ops"] for h in s["host_subgraphs"]]
    assert s["host_seconds"] is not None and "VTA" in s["seconds_by_kind"]
    cos = float(np.sum(y * ref) / np.linalg.norm(y) / np.linalg.norm(ref))
    delta = float(np.sum((y - x[:2]) * (ref - x[:2])) / np.linalg.norm(y - x[:2]) / np.linalg.norm(ref - x[:2]))
    assert cos > 0.999 and delta > 0.99, (cos, delta)


@pytest.mark.parametrize("opset,attrs,split", [(13, {"axis": 1}, [2, 5]), (13, {"axis": -1}, None),
                                               (18, {"axis": 1, "num_outputs": 3}, None),
                                               (11, {"axis": 1, "split": [3, 4]}, None)])
def test_split_in_numpy_matches_onnxruntime(opset, attrs, split):
    """Split (how exporters cut the fused QKV projection) runs in numpy as views on int8 data; every form of its
    sizes (input, attribute, equal parts with a smaller last one) as onnxruntime computes it."""
    from vta.compiler.ir import Node
    from vta.compiler.ops import run_node
    x = np.arange(2 * 7 * 3, dtype=np.float32).reshape(2, 7, 3)
    nout = 3 if split is None and "split" not in attrs else 2
    ins, outs = ["x"] + (["s"] if split else []), [f"y{i}" for i in range(nout)]
    inits = [numpy_helper.from_array(np.array(split, np.int64), "s")] if split else []
    g = helper.make_graph([helper.make_node("Split", ins, outs, **attrs)], "split",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs], inits)
    want = _ort(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]), {"x": x})
    got = run_node(Node("Split", "s", ins, outs, attrs, opset), [x] + ([np.array(split)] if split else []))
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
        assert np.shares_memory(a, x)
