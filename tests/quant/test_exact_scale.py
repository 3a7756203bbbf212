"""Weight scales that are not powers of two (``LayerChoice(w_round="exact")``): the int8 weights use their full
range (scale max|w| / 127) and the GEMM's sums are multiplied by an integer before the shift
(`vta.quant.requant_multiplier`). Checked: the multiplier is as precise as the ALU immediate and int32 allow, a
projection whose weight range sits just above a power of two loses less than with power-of-two scales (its input
quantized on the host at a matching scale, or a multiplier when the input comes from VTA), the device is bit-exact
with the simulation, and a per-channel exact scale is refused by name."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the exact-scale tests build ONNX models (pip install onnx)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import vta  # noqa: E402
from vta.compiler.ir import CompileError  # noqa: E402
from vta.compiler.ops import run_graph  # noqa: E402
from vta.quant import LayerChoice, Plan, requant_multiplier  # noqa: E402

K, M, T = 48, 20, 5


def _projections(seed=0):
    """Two Linears on (batch, tokens, channels), ``proj`` then ``proj2``, each with its largest weight 1.41 times a
    power of two (a power-of-two scale rounded up leaves the weights 90 of the 127 levels). ``proj`` reads the
    model input (quantized on the host), ``proj2`` the int8 output of ``proj`` on VTA."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.05, (K, M))
    w *= 1.41 / 8 / np.abs(w).max()
    w2 = rng.normal(0, 0.05, (M, M))
    w2 *= 1.41 / 4 / np.abs(w2).max()
    b = rng.normal(0, 0.1, M)
    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in (("W", w), ("b", b), ("W2", w2))]
    nodes = [helper.make_node("MatMul", ["x", "W"], ["mm"], name="proj"),
             helper.make_node("Add", ["mm", "b"], ["h"], name="bias"),
             helper.make_node("MatMul", ["h", "W2"], ["y"], name="proj2")]
    g = helper.make_graph(nodes, "proj", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", T, K])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", T, M])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(), w, w2


@pytest.fixture(scope="module")
def fsim_runtime():
    from vta.jit import Runtime
    rt = Runtime("default", device="fsim")
    yield rt
    rt.close()


@pytest.mark.parametrize("r", [0.7, 0.013, 1.93, 3e-7])
def test_multiplier_is_as_precise_as_the_immediate_allows(r):
    w = np.ones((4, 10), np.int8)                        # sums up to 128·10 + bias: no int32 limit in play
    mult, shift, rounding = requant_multiplier(r, w, 100)
    assert 16384 <= mult <= 32767 or shift == 31         # the top bit of the signed 16-bit immediate used
    assert abs(mult / 2.0 ** shift - r) <= 2.0 ** -(shift + 1)
    assert rounding == round(2 ** (shift - 1) / mult)


def test_multiplier_leaves_int32_room_for_large_sums():
    w = np.full((3, 4000), 127, np.int8)                 # |sum| up to 128·127·4000 = 65,024,000
    mult, shift, rounding = requant_multiplier(0.9, w, 5000)
    bound = 128 * 127 * 4000 + 5000
    assert (bound + rounding) * mult < 2 ** 31 and (bound + rounding) * (2 * mult) >= 2 ** 31 - 2 ** 20
    assert abs(mult / 2.0 ** shift - 0.9) <= 2.0 ** -(shift + 1)
    with pytest.raises(CompileError, match="no room in int32"):
        requant_multiplier(0.9, np.full((1, 140000), 127, np.int8), 0)


def test_exact_scale_beats_power_of_two_and_is_bit_exact(fsim_runtime):
    """``proj`` (input from the host): the host quantizes its input at a scale that makes input × weight scale a
    power of two — no multiplier; ``proj2`` (input from VTA): a multiplier. Lower error than power-of-two weight
    scales, and the device equals the simulation."""
    model, w, w2 = _projections()
    rng = np.random.default_rng(3)
    calib, test = (rng.normal(0, 1, (n, T, K)).astype(np.float32) for n in (64, 64))
    cms = {}
    for rounding in ("ceil", "nearest", "exact"):
        plan = Plan(layers={p: LayerChoice(w_round=rounding) for p in ("proj", "proj2")})
        cms[rounding] = vta.compile(model, calibration=calib, plan=plan, search=False, runtime=fsim_runtime)
    ref = run_graph(cms["ceil"].graph, {"x": test})["y"]
    err = {k: float(np.mean((cm.simulate(test)[0] - ref) ** 2) / np.mean(ref ** 2)) for k, cm in cms.items()}
    assert err["exact"] < 0.9 * min(err["ceil"], err["nearest"]), err
    cm = cms["exact"]
    np.testing.assert_array_equal(cm.run(test[:4])[0], cm.simulate(test[:4])[0])
    rows = {r["name"]: r for r in cm.report().layers}
    for name, wf in (("proj", w), ("proj2", w2)):
        row = rows[name]
        assert row["placement"] == "VTA" and row["weight_rounding"] == "exact"
        e_w = np.log2(np.abs(wf).max() / 127)               # the weight scale, from the float weights
        assert row["exp_weight"] == pytest.approx(e_w, abs=1e-5)
    seam = rows["proj"]
    assert "multiplier" not in seam
    assert abs(seam["exp_in"] - round(seam["exp_in"])) > 0.01                  # a host scale not a power of two
    assert seam["exp_in"] + seam["exp_weight"] == pytest.approx(seam["exp_out"] - seam["shift"], abs=1e-5)
    row = rows["proj2"]
    assert isinstance(row["exp_in"], int)                                       # VTA's int8: a power of two
    ratio = 2.0 ** (row["exp_in"] + row["exp_weight"] - row["exp_out"])
    assert row["multiplier"] / 2.0 ** row["shift"] == pytest.approx(ratio, rel=2 ** -14)
    # as precise as allowed: twice the multiplier (one more bit) would leave the immediate or int32
    st = next(s for s in cm.program.steps if s.node is not None and s.node.name == "proj2")
    bound = 128 * int(np.abs(st.w.astype(np.int64)).sum(axis=1).max()) + int(np.abs(st.bias).max())
    assert 2 * st.mult > 32767 or bound * 2 * st.mult >= 2 ** 31


def test_exact_scale_per_channel_is_refused():
    model, _, _ = _projections()
    calib = np.random.default_rng(4).normal(0, 1, (8, T, K)).astype(np.float32)
    plan = Plan(layers={"proj": LayerChoice(w_gran="channel", w_round="exact")})
    with pytest.raises(CompileError, match="exact weight scale is per tensor"):
        vta.compile(model, calibration=calib, plan=plan, search=False)


def test_exact_scale_after_gelu_keeps_the_offset(fsim_runtime):
    """A projection reading a GELU output (computed on the host, one-sided: stored with an offset,
    `vta.quant.offsets`): the exact weight scale moves the host quantization's scale and re-derives its offset —
    still no multiplier, device equal to the simulation, and as close to FP32 as power-of-two weight scales give
    (within a quarter: here the input's scale moves coarser, the search decides which is better)."""
    rng = np.random.default_rng(5)
    w1 = rng.normal(0, 0.2, (K, M))
    w2 = rng.normal(0, 0.05, (M, M))
    w2 *= 1.41 / 4 / np.abs(w2).max()
    consts = {"W1": w1, "W2": w2, "s2": np.array(np.sqrt(2.0)), "one": np.array(1.0), "half": np.array(0.5)}
    inits = [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in consts.items()]
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["h"], name="proj"),
             helper.make_node("Div", ["h", "s2"], ["hd"], name="gelu_div"),
             helper.make_node("Erf", ["hd"], ["he"], name="gelu_erf"),
             helper.make_node("Add", ["he", "one"], ["ha"], name="gelu_add"),
             helper.make_node("Mul", ["h", "ha"], ["hm"], name="gelu_mul"),
             helper.make_node("Mul", ["hm", "half"], ["g"], name="gelu_half"),
             helper.make_node("MatMul", ["g", "W2"], ["y"], name="proj2")]
    g = helper.make_graph(nodes, "gelu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", T, K])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", T, M])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    calib, test = (rng.normal(0, 1, (n, T, K)).astype(np.float32) for n in (64, 64))
    cms = {r: vta.compile(model, calibration=calib, plan=Plan(layers={"proj2": LayerChoice(w_round=r)}),
                          search=False, runtime=fsim_runtime) for r in ("ceil", "exact")}
    ref = run_graph(cms["ceil"].graph, {"x": test})["y"]
    err = {k: float(np.mean((cm.simulate(test)[0] - ref) ** 2) / np.mean(ref ** 2)) for k, cm in cms.items()}
    assert err["exact"] < 1.25 * err["ceil"], err    # a wrong offset would be far off (the search picks the better)
    cm = cms["exact"]
    np.testing.assert_array_equal(cm.run(test[:4])[0], cm.simulate(test[:4])[0])
    st = next(s for s in cm.program.steps if s.node is not None and s.node.name == "proj2")
    pow2 = next(s for s in cms["ceil"].program.steps if s.node is not None and s.node.name == "proj2")
    assert pow2.x_offset > 0                        # the GELU output is stored with an offset …
    assert st.x_offset > 0 and st.mult == 1         # … and still is, at the moved scale, with no multiplier
    assert abs(st.e_x + st.e_w - round(st.e_x + st.e_w)) < 1e-9 and not float(st.e_x).is_integer()


def test_search_trial_gives_exact_scales_only_where_free():
    """The search's one trial (`vta.quant.search._free_exact`) on the digits MLP: exact weight scales for the
    layers whose input is quantized on the host (the first), none that would need a multiplier pass — the plan's
    program has no multiplier — and the trial is an ordinary plan the scorer can run."""
    pytest.importorskip("sklearn", reason="the digits data ships with scikit-learn")
    from vta.compiler.datasets import load, model_path
    from vta.compiler.onnx_import import from_onnx, load_onnx
    from vta.compiler.partition import partition
    from vta.compiler.passes import optimize
    from vta.compiler.steps import Gemm
    from vta.config import load_config
    from vta.quant.calibrate import collect
    from vta.quant.hardware import HardwareDesc
    from vta.quant.search import Scorer, _free_exact
    cfg = load_config("default")
    g = from_onnx(load_onnx(model_path("digits")))
    optimize(g)
    caps = partition(g, cfg)
    x = load("digits")[0][:40]
    batches = [{g.inputs[0]: x}]
    stats = collect(lambda b: run_graph(g, b), batches, [t for t in g.shapes if t not in g.consts])
    ref = run_graph(g, batches[0])[g.outputs[0]]
    hw = HardwareDesc.from_config(cfg)
    scorer = Scorer(g, caps, stats, hw, batches, ref)
    order = {n.name: k for k, n in enumerate(g.nodes)}
    plan = _free_exact(g, caps, Plan(), scorer, order)
    gemms = [n for n in g.nodes if n.op in ("Conv", "Dense") and caps[n.name].vta]
    assert len(gemms) >= 2
    exact = {name for name, c in plan.layers.items() if c.w_round == "exact"}
    assert exact == {gemms[0].name}                     # the first reads the model input; the rest read VTA's int8
    prog = scorer.build(plan)
    steps = [s for s in prog.steps if isinstance(s, Gemm)]
    assert all(s.mult == 1 for s in steps) and not float(steps[0].e_x).is_integer()
    score, _ = scorer.run(plan, 0)
    assert 0 <= score[0] <= 1
