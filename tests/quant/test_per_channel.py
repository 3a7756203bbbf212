"""Per-output-channel power-of-two weight scales on a transformer projection (a Linear on (batch, tokens,
channels), lowered to Dense over flattened rows): realized exactly as one shift per channel — one GEMM call per
distinct shift on the device, bit-exact with the simulation — and, where output channels' weight ranges differ by
powers of two, a lower error than one scale per tensor."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the per-channel tests build ONNX models (pip install onnx)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import vta  # noqa: E402
from vta.compiler.ops import run_graph  # noqa: E402
from vta.quant import LayerChoice, Plan  # noqa: E402

K, M, T = 32, 24, 7


def _projection(seed=0):
    """Two halves: output channels 0–11 read the wide input channels 0–15 with small weights, channels 12–23 the
    narrow inputs 16–31 with 16× larger weights — equal output ranges, weight ranges 16× apart (one scale per
    tensor leaves the small weights ~8 levels)."""
    rng = np.random.default_rng(seed)
    w = np.zeros((K, M))
    w[:K // 2, :M // 2] = rng.normal(0, 1, (K // 2, M // 2)) / 16
    w[K // 2:, M // 2:] = rng.normal(0, 1, (K // 2, M // 2))
    b = rng.normal(0, 0.05, M)
    inits = [numpy_helper.from_array(w.astype(np.float32), "W"), numpy_helper.from_array(b.astype(np.float32), "b")]
    nodes = [helper.make_node("MatMul", ["x", "W"], ["mm"], name="proj"),
             helper.make_node("Add", ["mm", "b"], ["y"], name="bias")]
    g = helper.make_graph(nodes, "proj", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", T, K])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", T, M])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.fixture(scope="module")
def fsim_runtime():
    from vta.jit import Runtime
    rt = Runtime("default", device="fsim")
    yield rt
    rt.close()


def test_per_channel_scales_are_exact_shifts_and_beat_per_tensor(fsim_runtime):
    model = _projection()
    rng = np.random.default_rng(1)
    spread = np.where(np.arange(K) < K // 2, 4.0, 0.25).astype(np.float32)
    calib, test = (rng.normal(0, 1, (n, T, K)).astype(np.float32) * spread for n in (64, 64))
    cms = {}
    for gran in ("tensor", "channel"):
        plan = Plan(layers={"proj": LayerChoice(w_gran=gran)})
        cms[gran] = vta.compile(model, calibration=calib, plan=plan, search=False, runtime=fsim_runtime)
    ref = run_graph(cms["tensor"].graph, {"x": test})["y"]
    err = {k: float(np.mean((cm.simulate(test)[0] - ref) ** 2) / np.mean(ref ** 2)) for k, cm in cms.items()}
    assert err["channel"] < 0.6 * err["tensor"], err      # (the inputs stay one scale per tensor)
    cm = cms["channel"]
    out = cm.run(test[:4])[0]
    np.testing.assert_array_equal(out, cm.simulate(test[:4])[0])
    row = next(r for r in cm.report().layers if r["name"] == "proj")
    assert row["placement"] == "VTA" and row["weight_scales"] == "channel"
    shifts = row["shift"]
    assert isinstance(shifts, list) and len(shifts) > 1
    assert row["vta_calls"] == len(shifts)          # one GEMM call per distinct shift, none more
