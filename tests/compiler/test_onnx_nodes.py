"""ONNX operator node tests (built in memory by onnx's backend test loader) through the whole compiler:
float models are quantized, run on VTA's functional simulator and dequantized, and must match the expected
outputs within a stated tolerance; integer ops (ConvInteger, MatMulInteger) must match exactly."""

import numpy as np
import onnx
import pytest

import vta

# Tolerance for float models through int8: 5 % of the largest expected magnitude (one int8 step is 0.8 % of the
# range; inputs, weights and outputs are each quantized once; power-of-two scales may waste up to one bit).
REL_TOL = 0.05

# (case, ops that must have run on VTA)
FLOAT_CASES = [
    ("test_conv_with_strides_padding", {"Conv"}),
    ("test_conv_with_strides_no_padding", {"Conv"}),
    ("test_conv_with_strides_and_asymmetric_padding", {"Conv"}),
    ("test_conv_with_autopad_same", {"Conv"}),
    ("test_gemm_default_no_bias", {"Dense"}),
    ("test_gemm_default_zero_bias", {"Dense"}),
    ("test_gemm_default_vector_bias", {"Dense"}),
    ("test_gemm_default_scalar_bias", {"Dense"}),
    ("test_gemm_transposeB", {"Dense"}),
    ("test_gemm_alpha", {"Dense"}),
    ("test_gemm_beta", {"Dense"}),
    ("test_gemm_default_matrix_bias", set()),        # (M, N) bias: host float
    ("test_gemm_transposeA", set()),                 # host float
    ("test_matmul_2d", {"Dense"}),
    ("test_matmul_3d", set()),
    ("test_relu", {"Relu"}),
    ("test_add", {"Add"}),
    ("test_add_bcast", set()),
    ("test_maxpool_2d_default", {"MaxPool"}),
    ("test_maxpool_2d_pads", {"MaxPool"}),
    ("test_maxpool_2d_strides", {"MaxPool"}),
    ("test_maxpool_2d_precomputed_pads", {"MaxPool"}),
    ("test_maxpool_2d_same_upper", set()),           # asymmetric SAME padding: host
    ("test_maxpool_2d_ceil", set()),                 # partial last window: host
    ("test_averagepool_2d_default", set()),
    ("test_averagepool_2d_pads", set()),
    ("test_averagepool_2d_strides", set()),
    ("test_averagepool_2d_same_upper", set()),
    ("test_averagepool_2d_ceil", set()),
    ("test_averagepool_2d_pads_count_include_pad", set()),
    ("test_globalaveragepool", {"GlobalAveragePool"}),   # ADDs and a reciprocal rescale on the tensor ALU
    ("test_clip", {"Clip"}),                         # MAX/MIN with immediates on the tensor ALU
    ("test_clip_splitbounds", {"Clip"}),
    ("test_clip_default_min", {"Clip"}),
    ("test_clip_default_inbounds", {"Clip"}),
    ("test_leakyrelu", {"LeakyRelu"}),               # slope 0.1 ≈ 26/256
    ("test_leakyrelu_default", {"LeakyRelu"}),
    ("test_hardsigmoid", {"HardSigmoid"}),
    ("test_hardsigmoid_default", {"HardSigmoid"}),
    ("test_hardswish", {"HardSwish"}),
]

# ops (or variants) neither VTA nor the numpy executor implements: they run on the host in onnxruntime
HOST_ONLY = ["test_maxpool_1d_default", "test_averagepool_3d_default", "test_maxpool_with_argmax_2d_precomputed_pads",
             "test_convtranspose", "test_hardsigmoid", "test_slice_default_axes", "test_resize_upsample_scales_nearest"]


def _constant_weights(model, data):
    """Make inputs 1.. of Conv/Gemm/MatMul initializers (weights are constants in a deployed model)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    node = m.graph.node[0]
    names = [i.name for i in m.graph.input]
    feeds = dict(zip(names, data))
    if node.op_type in ("Conv", "Gemm", "MatMul", "ConvInteger", "Clip"):   # Clip: its bounds
        for name in list(node.input[1:]):
            if name in feeds:
                m.graph.initializer.append(onnx.numpy_helper.from_array(feeds.pop(name), name))
                keep = [i for i in m.graph.input if i.name != name]
                del m.graph.input[:]
                m.graph.input.extend(keep)
    return m, feeds


@pytest.mark.parametrize("name,on_vta", FLOAT_CASES, ids=[c[0] for c in FLOAT_CASES])
def test_float_node(name, on_vta, node_cases, fsim_runtime):
    case = node_cases[name]
    inputs, outputs = case.data_sets[0]
    model, feeds = _constant_weights(case.model, inputs)
    # offload_all: a lone ReLU/MaxPool on a float input is quantized and run on VTA (not left on the host)
    cm = vta.compile(model, calibration=feeds, search=False, runtime=fsim_runtime, offload_all=True)
    got = cm.run(feeds if len(feeds) > 1 else next(iter(feeds.values())))
    for g, want in zip(got, outputs):
        assert g.shape == want.shape
        tol = REL_TOL * float(np.max(np.abs(want)))
        assert np.max(np.abs(g - want)) <= tol, f"{name}: max error {np.max(np.abs(g - want))} > {tol}"
    rows = cm.report().layers
    ran = {r["op"].split("+")[0] for r in rows if r["placement"] == "VTA"}
    assert ran == on_vta, f"{name}: ran on VTA {ran}, expected {on_vta}"
    # the device result is bit-identical to the quantized program's numpy simulation
    sim = cm.simulate(feeds if len(feeds) > 1 else next(iter(feeds.values())))
    for g, s in zip(got, sim):
        np.testing.assert_array_equal(g, s)


@pytest.mark.parametrize("name", ["test_convinteger_without_padding", "test_convinteger_with_padding",
                                  "test_matmulinteger"])
def test_integer_node_exact(name, node_cases, fsim_runtime):
    case = node_cases[name]
    inputs, outputs = case.data_sets[0]
    model, feeds = _constant_weights(case.model, inputs)
    if name == "test_matmulinteger":   # B is the weight operand; its zero point is a constant too
        m = onnx.ModelProto()
        m.CopyFrom(model)
        ins = [i.name for i in m.graph.input]
        for k, nm in ((1, ins[1]), (3, ins[3])):
            m.graph.initializer.append(onnx.numpy_helper.from_array(inputs[k], nm))
        keep = [i for i in m.graph.input if i.name not in (ins[1], ins[3])]
        del m.graph.input[:]
        m.graph.input.extend(keep)
        model, feeds = m, {ins[0]: inputs[0], ins[2]: inputs[2]}
    cm = vta.compile(model, calibration=None, search=False, runtime=fsim_runtime)
    got = cm.run(feeds)
    np.testing.assert_array_equal(got[0], outputs[0].astype(np.float32))
    row = cm.report().layers[0]
    assert row["placement"] == "VTA"
    if name == "test_matmulinteger":
        # its results reach −128: VTA's int8 output cannot show larger magnitudes, so the host recomputes
        assert row.get("host_fallbacks") == 1 and "clip limit" in row["reason"]
    else:
        assert "host_fallbacks" not in row


@pytest.mark.parametrize("name", HOST_ONLY)
def test_host_only_node_runs_in_onnxruntime(name, node_cases, fsim_runtime):
    case = node_cases[name]
    inputs, outputs = case.data_sets[0]
    # as in a deployed model, every operand but the data (weights, scales, slice bounds) is a constant
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    first, rest = model.graph.input[0], list(model.graph.input[1:])
    model.graph.initializer.extend(onnx.numpy_helper.from_array(v, i.name) for i, v in zip(rest, inputs[1:]))
    del model.graph.input[1:]
    cm = vta.compile(model, calibration={first.name: inputs[0]}, search=False, runtime=fsim_runtime)
    got = cm.run({first.name: inputs[0]})
    for g, want in zip(got, outputs):
        np.testing.assert_allclose(g, want.astype(np.float32), rtol=1e-5, atol=1e-6)
    rows = cm.report().layers
    assert [r["placement"] for r in rows] == ["CPU-fp32"] * len(rows)
    subs = cm.report().summary["host_subgraphs"]
    assert len(subs) == 1 and subs[0]["ops"] == [case.model.graph.node[0].op_type]
