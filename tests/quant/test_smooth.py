"""vta.quant.smooth: which activations can be smoothed (LayerNorm as one op or written out, readers through
channel-keeping ops), that folding the factors leaves the float model unchanged, that the derived statistics equal
statistics collected on the smoothed model, and that the search picks smoothing where an outlier channel makes
per-tensor int8 poor."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the smoothing tests build ONNX models (pip install onnx)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import vta  # noqa: E402
from vta.compiler.onnx_import import from_onnx  # noqa: E402
from vta.compiler.ops import run_graph  # noqa: E402
from vta.compiler.passes import optimize  # noqa: E402
from vta.quant import smooth  # noqa: E402
from vta.quant.calibrate import collect  # noqa: E402

C, H, OUT = 32, 24, 5


def _model(ln="op", reader="gemm", seed=0, outlier=30.0):
    """x (N, T, C) → LayerNorm (one op or Mul/Add after a written-out normalisation) → [ReduceMean over T] →
    Gemm/MatMul to H (+ReLU) → Gemm to OUT. The LayerNorm scale has one large channel: the activation outlier."""
    rng = np.random.default_rng(seed)
    gamma = rng.uniform(0.5, 1.5, C).astype(np.float32)
    gamma[3] = outlier
    beta = rng.normal(0, 0.1, C).astype(np.float32)
    w1 = (rng.normal(0, 1, (C, H)) / np.sqrt(C)).astype(np.float32)
    w2 = (rng.normal(0, 1, (H, OUT)) / np.sqrt(H)).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in ((gamma, "gamma"), (beta, "beta"), (w1, "w1"), (w2, "w2"),
                                                          (np.array([2.0], np.float32), "two"),
                                                          (np.array([1e-5], np.float32), "eps"))]
    nodes = []
    if ln == "op":
        nodes.append(helper.make_node("LayerNormalization", ["x", "gamma", "beta"], ["ln"], axis=-1))
    else:
        nodes += [helper.make_node("ReduceMean", ["x"], ["mu"], axes=[-1]),
                  helper.make_node("Sub", ["x", "mu"], ["d"]),
                  helper.make_node("Pow", ["d", "two"], ["d2"]),
                  helper.make_node("ReduceMean", ["d2"], ["var"], axes=[-1]),
                  helper.make_node("Add", ["var", "eps"], ["ve"]),
                  helper.make_node("Sqrt", ["ve"], ["sd"]),
                  helper.make_node("Div", ["d", "sd"], ["nrm"]),
                  helper.make_node("Mul", ["nrm", "gamma"], ["nm"]),
                  helper.make_node("Add", ["nm", "beta"], ["ln"])]
    if reader == "gemm":        # the classifier-head form: mean over tokens, then a 2-D Gemm
        nodes += [helper.make_node("ReduceMean", ["ln"], ["pooled"], axes=[1], keepdims=0),
                  helper.make_node("Gemm", ["pooled", "w1"], ["h"])]
    elif reader == "gelu":      # a non-linear op between the LayerNorm and its layer: not smoothable
        nodes += [helper.make_node("Sigmoid", ["ln"], ["sg"]),
                  helper.make_node("ReduceMean", ["sg"], ["pooled"], axes=[1], keepdims=0),
                  helper.make_node("Gemm", ["pooled", "w1"], ["h"])]
    nodes += [helper.make_node("Relu", ["h"], ["hr"]), helper.make_node("MatMul", ["hr", "w2"], ["y"])]
    opset = 17 if ln == "op" else 12
    graph = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 7, C])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", OUT])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _graph(model):
    return optimize(from_onnx(model))


def _x(n, seed=1):
    return np.random.default_rng(seed).normal(0, 1, (n, 7, C)).astype(np.float32)


@pytest.mark.parametrize("ln", ["op", "decomposed"])
def test_layernorm_groups_are_found_and_smoothing_keeps_the_float_model(ln):
    g = _graph(_model(ln))
    groups = smooth.find_groups(g)
    assert list(groups) == ["ln"]
    grp = groups["ln"]
    assert grp.channels == C and len(grp.layers) == 1 and "pooled" in grp.path
    assert len(grp.fold) == 2                       # γ and β both divided
    x = _x(64)
    stats = collect(lambda b: run_graph(g, {"x": b}), [x[:32], x[32:]], [t for t in g.shapes if t not in g.consts])
    sm = smooth.apply(g, {"ln": 0.5}, stats)
    ref, out = run_graph(g, {"x": x})["y"], run_graph(sm.graph, {"x": x})["y"]
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    env, env2 = run_graph(g, {"x": x}), run_graph(sm.graph, {"x": x})
    s = sm.scales["ln"]
    np.testing.assert_allclose(env2["ln"], env["ln"] / s, rtol=1e-5, atol=1e-6)
    assert np.abs(env2["ln"]).max(axis=(0, 1)).std() < np.abs(env["ln"]).max(axis=(0, 1)).std()   # flatter
    assert g.consts is not sm.graph.consts and "gamma" in g.consts     # the original graph is untouched
    np.testing.assert_array_equal(run_graph(g, {"x": x})["y"], ref)


def test_derived_statistics_equal_statistics_of_the_smoothed_model():
    g = _graph(_model("op"))
    x = _x(64)
    tensors = [t for t in g.shapes if t not in g.consts]
    batches = [x[:32], x[32:]]
    stats = collect(lambda b: run_graph(g, {"x": b}), batches, tensors)
    sm = smooth.apply(g, {"ln": 0.75}, stats)
    again = collect(lambda b: run_graph(sm.graph, {"x": b}), batches, tensors)
    for t in ("ln", "pooled"):
        d, r = sm.stats[t], again[t]
        assert d.absmax == pytest.approx(r.absmax, rel=1e-5)
        np.testing.assert_allclose(d.batch_max, r.batch_max, rtol=1e-5)
        np.testing.assert_allclose(d.values(), r.values(), rtol=1e-4, atol=1e-6)
    assert sm.stats["h"] is stats["h"]              # layers' outputs do not change


def test_nonlinear_reader_is_not_smoothed():
    g = _graph(_model("op", reader="gelu"))
    assert smooth.find_groups(g) == {}
    with pytest.raises(vta.VTAError, match="cannot be smoothed"):
        smooth.apply(g, {"ln": 0.5}, {})


def test_factors():
    s = smooth.factors([4.0, 1.0, 0.0], [1.0, 4.0, 2.0], 0.5)
    np.testing.assert_allclose(s, [2.0, 0.5, 1.0])            # √(x/w); an all-zero channel is left alone
    np.testing.assert_allclose(smooth.factors([4.0], [2.0], 0.0), [0.5])   # α = 0: only the weights' range
    with pytest.raises(ValueError, match="alpha must be in"):
        smooth.factors([1.0], [1.0], 1.5)


@pytest.fixture(scope="module")
def fsim_runtime():
    from vta.jit import Runtime
    rt = Runtime("default", device="fsim")
    yield rt
    rt.close()


def test_search_smooths_an_outlier_channel_and_the_device_agrees(fsim_runtime):
    """A 30× LayerNorm channel: per-tensor int8 of its output leaves the other channels ~2 levels; the search
    (calibration data only) takes a smoothing α, which lowers the error on held-out data, and the device run
    equals the simulation."""
    model = _model("decomposed", outlier=60.0).SerializeToString()
    calib, test = _x(200, seed=2), _x(200, seed=3)
    cm = vta.compile(model, calibration=calib, runtime=fsim_runtime, refine=False)
    assert cm.plan.smooth.get("ln", 0) > 0, cm.search_history
    rest = cm.plan.copy()
    rest.smooth = {}                                # every other choice of the search, without the smoothing
    plain = vta.compile(model, calibration=calib, runtime=fsim_runtime, plan=rest, search=False)
    ref = run_graph(plain.graph, {"x": test})["y"]
    err = lambda m: float(np.mean((m.simulate(test)[0] - ref) ** 2) / np.mean(ref ** 2))
    assert err(cm) < 0.5 * err(plain), (err(cm), err(plain))
    np.testing.assert_array_equal(cm.run(test[:8])[0], cm.simulate(test[:8])[0])
