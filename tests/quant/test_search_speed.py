"""The incremental quantization search: resuming from cached prefixes (and adopting an accepted candidate's
snapshots without re-running it) chooses exactly what simulating every candidate from the start chooses; stacking
a fixed-batch model's calibration batches changes no score; the build cache changes no program."""

import numpy as np
import pytest

pytest.importorskip("onnx", reason="the search tests need onnx")

from vta.compiler.datasets import load, model_path
from vta.compiler.onnx_import import from_onnx, load_onnx
from vta.compiler.ops import run_graph
from vta.compiler.partition import partition
from vta.compiler.passes import optimize
from vta.config import load_config
from vta.quant.build import build_program
from vta.quant.calibrate import collect
from vta.quant.hardware import HardwareDesc
from vta.quant.plan import LayerChoice, Plan
from vta.quant.search import Scorer, greedy_search


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn", reason="the digits data ships with scikit-learn")
    cfg = load_config("default")
    g = from_onnx(load_onnx(model_path("digits")))
    optimize(g)
    caps = partition(g, cfg)
    xtr, ytr, _, _ = load("digits")
    x, y = xtr[:60], ytr[:60]
    batches = [{g.inputs[0]: x[:30]}, {g.inputs[0]: x[30:]}]
    refs = []
    stats = collect(lambda b: refs.append(run_graph(g, b)[g.outputs[0]]) or run_graph(g, b), batches,
                    [t for t in g.shapes if t not in g.consts])
    return g, caps, stats, HardwareDesc.from_config(cfg), batches, np.concatenate(refs), y


@pytest.mark.parametrize("labels", [True, False])
def test_incremental_search_equals_full_reruns(digits, labels):
    g, caps, stats, hw, batches, ref, y = digits
    lab = y if labels else None
    runs = [greedy_search(g, caps, stats, hw, batches, ref, lab, Plan(default_act=("percentile", "ceil")),
                          incremental=inc) for inc in (True, False)]
    (p1, h1, _), (p2, h2, _) = runs
    assert [h["change"] for h in h1] == [h["change"] for h in h2]
    assert [h["score"] for h in h1] == [h["score"] for h in h2]
    assert p1.act == p2.act and p1.layers == p2.layers and p1.fits == p2.fits


def test_patience_none_tries_every_scale(digits):
    g, caps, stats, hw, batches, ref, y = digits
    plan = Plan(default_act=("percentile", "ceil"))
    _, _, e_all = greedy_search(g, caps, stats, hw, batches, ref, y, plan, patience=None, refine=False)
    _, _, e_one = greedy_search(g, caps, stats, hw, batches, ref, y, plan, patience=1, refine=False)
    assert e_one <= e_all


def test_stacked_calibration_batches_score_the_same(digits):
    g, caps, stats, hw, batches, ref, y = digits
    x = np.concatenate([b[g.inputs[0]] for b in batches])
    single = [{g.inputs[0]: x[i:i + 1]} for i in range(len(x))]
    shape = g.shapes[g.inputs[0]]
    g.shapes[g.inputs[0]] = (1,) + tuple(shape[1:])      # as a fixed-batch (batch 1) export would declare it
    try:
        stacked = Scorer(g, caps, stats, hw, single, ref, y)
        assert len(stacked.batches) == 1 and len(stacked.batches[0][g.inputs[0]]) == len(x)
        plan = Plan(layers={n.name: LayerChoice(w_gran="channel") for n in g.nodes if n.op == "Conv"})
        s_stacked, _ = stacked.run(plan)
        per_image = Scorer(g, caps, stats, hw, single, ref, y)
        per_image.batches = single
        assert per_image.run(plan)[0] == s_stacked
    finally:
        g.shapes[g.inputs[0]] = shape


def test_build_cache_gives_the_same_program(digits):
    g, caps, stats, hw, _, _, _ = digits
    cache = {}
    for plan in (Plan(), Plan(default_act=("kl", "nearest")), Plan(layers={
            n.name: LayerChoice(w_gran="channel", w_round="nearest") for n in g.nodes if n.op == "Conv"}), Plan()):
        a, b = build_program(g, caps, plan, stats, hw, cache), build_program(g, caps, plan, stats, hw)
        assert len(a.steps) == len(b.steps) and a.exps == b.exps
        for sa, sb in zip(a.steps, b.steps):
            assert type(sa) is type(sb) and sa.outputs == sb.outputs
            for f in ("w", "bias", "shift"):
                if hasattr(sa, f):
                    assert np.array_equal(getattr(sa, f), getattr(sb, f))
