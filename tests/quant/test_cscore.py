"""vta.quant.cscore: C-score proxies of calibration samples and the calibration filter.

Expected values come from the data's construction (planted flips, far-away points) or from an independent
re-computation of the documented rule with scikit-learn's NearestNeighbors — never from the module itself."""

import numpy as np
import pytest

import vta
from vta.cli import main
from vta.compiler.datasets import load, model_path
from vta.compiler.ir import CompileError
from vta.quant.cscore import (
    CalibrationFilter,
    FilterSkipped,
    audit_arrays,
    audit_calibration,
    checkpoint_proxy,
    resolve_filter,
)
from vta.quant.search import score_outputs

sklearn_neighbors = pytest.importorskip("sklearn.neighbors")


def _clusters(seed=0, per=40, dim=8, classes=3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (classes, dim))
    x = np.concatenate([c + rng.normal(0, 1, (per, dim)) for c in centres])
    y = np.repeat(np.arange(classes), per)
    return x, y, rng


def test_planted_label_flips_rank_lowest():
    x, y, rng = _clusters()
    flipped = rng.choice(len(y), 6, replace=False)
    y = y.copy()
    y[flipped] = (y[flipped] + 1) % 3
    r = audit_arrays(x, y)
    assert set(np.argsort(r["score"])[:6]) == set(flipped)
    assert r["irregular"][flipped].all()


def test_ood_points_get_low_density_without_labels():
    x, _, rng = _clusters(1)
    far = rng.normal(0, 1, (4, x.shape[1])) * 60 + 200           # scattered, far from every cluster
    r = audit_arrays(np.concatenate([x, far]))
    ood = np.arange(len(x), len(x) + 4)
    assert set(np.argsort(r["log_density"])[:4]) == set(ood)
    assert r["ood"][ood].all()
    assert not r["irregular"].any()                                # no labels: nothing leaves the objective


def test_ood_is_decided_in_the_input_space_when_given():
    x, _, rng = _clusters(4)
    far = rng.normal(0, 1, (4, x.shape[1])) * 60 + 200
    odd = np.arange(len(x), len(x) + 4)
    outlying, typical = np.concatenate([x, far]), np.concatenate([x, x[:4] + 0.01])
    r = audit_arrays(outlying, inputs=typical)          # odd only in the embedding: kept in calibration
    assert not r["ood"][odd].any() and set(np.argsort(r["log_density"])[:4]) == set(odd)
    r = audit_arrays(typical, inputs=outlying)          # odd in the input: out of calibration
    assert r["ood"][odd].all() and "input log-density" in r["reasons"][odd[0]]


def _reference(x, y, k=10, classes=3):
    """The documented rule, recomputed with scikit-learn: Gaussian kernel on the k nearest other samples,
    bandwidth = median k-NN distance; each class's vote smoothed by one chance-level pseudo-neighbour."""
    d, i = sklearn_neighbors.NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    d, i = d[:, 1:], i[:, 1:]                                      # drop the sample itself
    h = np.median(d)
    w = np.exp(-d ** 2 / (2 * h ** 2))
    votes = np.stack([((w * (y[i] == c)).sum(1) + 1 / classes) / (w.sum(1) + 1) for c in range(classes)], 1)
    agree = votes[np.arange(len(y)), y]
    rival = np.max(np.where(np.arange(classes) == y[:, None], -1, votes), 1)
    logd = np.log(w.mean(1))
    med = np.median(logd)
    return agree, rival, logd, med - 3.5 * 1.4826 * np.median(np.abs(logd - med))


def _noisy_clusters():
    x, y, rng = _clusters(2, per=60)
    y = y.copy()
    y[rng.choice(len(y), 20, replace=False)] = rng.integers(0, 3, 20)
    x = np.concatenate([x, rng.normal(0, 30, (6, x.shape[1]))])
    y = np.concatenate([y, rng.integers(0, 3, 6)])
    return x, y, rng


def test_filter_excludes_exactly_the_samples_below_the_documented_thresholds():
    x, y, _ = _noisy_clusters()
    agree, rival, logd, t = _reference(x, y)
    r = audit_arrays(x, y, n_classes=3)
    np.testing.assert_allclose(r["agreement"], agree, rtol=1e-9)
    np.testing.assert_allclose(r["rival"], rival, rtol=1e-9)
    # without the FP32 model's prediction: the tail (< 0.5) and a decisive vote for another class (lead ≥ 0.5)
    np.testing.assert_array_equal(r["irregular"], (agree < 0.5) & (rival - agree >= 0.5))
    np.testing.assert_array_equal(r["ood"], logd < t)
    assert 0 < r["irregular"].sum() < (agree < 0.5).sum() and 0 < r["ood"].sum() < len(y)


def test_the_fp32_model_disagreeing_makes_a_tail_sample_irregular():
    x, y, rng = _noisy_clusters()
    agree, rival, _, _ = _reference(x, y)
    predicted = y.copy()
    wrong = rng.choice(len(y), 40, replace=False)
    predicted[wrong] = (y[wrong] + 1) % 3
    r = audit_arrays(x, y, n_classes=3, predicted=predicted)
    tail = agree < 0.5
    np.testing.assert_array_equal(r["irregular"], tail & ((predicted != y) | (rival - agree >= 0.5)))
    undecided = tail & (rival - agree < 0.5)                       # the vote alone would keep these
    assert (undecided & (predicted != y)).any() and r["irregular"][undecided & (predicted != y)].all()
    assert not r["irregular"][~tail].any()                         # outside the tail the model alone never drops
    kept = np.flatnonzero(undecided & (predicted == y))
    assert len(kept) and all(r["reasons"][i].startswith("kept:") for i in kept if not r["ood"][i])


def test_fraction_leaves_out_that_share():
    x, y, _ = _clusters(3)
    r = audit_arrays(x, y, fraction=0.1)
    assert r["irregular"].sum() == 12 and r["ood"].sum() == 12


def test_checkpoint_proxy_is_mean_correctness():
    labels = np.array([0, 1, 1])
    right = np.array([[5.0, 0], [0, 5], [0, 5]])
    wrong_last = np.array([[5.0, 0], [0, 5], [5, 0]])
    correct, loss = checkpoint_proxy([right, wrong_last, wrong_last], labels)
    np.testing.assert_allclose(correct, [1, 1, 1 / 3])
    assert loss[2] > loss[0]


def test_search_score_weights_leave_samples_out_of_accuracy():
    out = np.eye(3)[[0, 1, 2, 0]]
    labels = np.array([0, 1, 2, 1])                 # the last one disagrees
    assert score_outputs(out, out, labels)[0] == pytest.approx(0.75)
    assert score_outputs(out, out, labels, weights=np.array([1, 1, 1, 0.0]))[0] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def digits_graph():
    from vta.compiler.onnx_import import from_onnx, load_onnx
    from vta.compiler.passes import optimize
    g = from_onnx(load_onnx(model_path("digits")))
    optimize(g)
    xtr, ytr, _, _ = load("digits")
    return g, xtr[:120], ytr[:120]


def test_embedding_is_the_classifier_input(digits_graph):
    g, x, y = digits_graph
    a = audit_calibration(g, {g.inputs[0]: x}, y, CalibrationFilter())
    last = g.nodes[-1]
    assert repr(last.inputs[0]) in a.embedding and repr(last.name) in a.embedding
    assert a.labels.dtype == np.int64 and len(a.score) == len(x)


@pytest.mark.parametrize("labels, match", [
    (np.zeros(7, np.int64), r"shape \(7,\).*\(120\)"),
    (np.full(120, 0.5), "integer class indices"),
    (np.array(["a"] * 120), "integer class indices"),
    (-np.ones(120, np.int64), "≥ 0"),
])
def test_bad_labels_are_one_line_errors(digits_graph, labels, match):
    g, x, _ = digits_graph
    with pytest.raises(CompileError, match=match) as e:
        audit_calibration(g, {g.inputs[0]: x}, labels, CalibrationFilter())
    assert "\n" not in str(e.value)


def test_fewer_samples_than_k(digits_graph):
    g, x, y = digits_graph
    with pytest.raises(CompileError, match=r"needs at least k\+1 = 11"):
        audit_calibration(g, {g.inputs[0]: x[:6]}, y[:6], CalibrationFilter())
    skipped = audit_calibration(g, {g.inputs[0]: x[:6]}, y[:6], CalibrationFilter(explicit=False))
    assert isinstance(skipped, FilterSkipped) and "skipped — 6 calibration samples" in str(skipped)


def test_default_filter_skip_is_said_in_the_report():
    """Labels but fewer than k+1 samples: the default filter does not run, and the report says so."""
    xtr, ytr, _, _ = load("digits")
    cm = vta.compile(model_path("digits"), calibration=xtr[:8], labels=ytr[:8], search=False)
    assert cm.calibration_audit is None
    text = str(cm.report())
    assert "calibration filter: skipped — 8 calibration samples" in text and "k+1 = 11" in text


def test_bad_filter_values():
    for bad, match in (("sometimes", "'auto', 'off'"), (1.5, r"in \(0, 1\)"), ([0.1], "not list")):
        with pytest.raises(CompileError, match=match):
            resolve_filter(bad, True)
    default = resolve_filter(None, True)               # on by default when labels are given, quietly
    assert isinstance(default, CalibrationFilter) and not default.explicit and default.fraction is None
    assert resolve_filter(None, False) is None         # off without labels
    assert resolve_filter(False, True) is None and resolve_filter("off", True) is None
    assert resolve_filter(True, False).explicit and resolve_filter("auto", True).explicit


def test_compile_filters_by_default_only_with_labels():
    xtr, ytr, _, _ = load("digits")
    on = vta.compile(model_path("digits"), calibration=xtr[:60], labels=ytr[:60], search=False)
    assert on.calibration_audit is not None and len(on.calibration_audit.score) == 60
    assert vta.compile(model_path("digits"), calibration=xtr[:60], search=False).calibration_audit is None
    assert vta.compile(model_path("digits"), calibration=xtr[:60], labels=ytr[:60], search=False,
                       calibration_filter=False).calibration_audit is None


def test_model_without_classifier_falls_back_to_input_space():
    from vta.compiler.ir import Graph, Node
    g = Graph([Node("Add", "add", ["x", "c"], ["y"])], ["x"], ["y"], consts={"c": np.ones((1, 4), np.float32)},
              shapes={"x": (1, 4), "y": (1, 4), "c": (1, 4)})
    x = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    with pytest.warns(UserWarning, match="input space"):
        a = audit_calibration(g, {"x": x}, None, CalibrationFilter())
    assert "input space" in a.embedding and a.notes


def test_compile_report_lists_the_audit(tmp_path):
    xtr, ytr, _, _ = load("digits")
    png = str(tmp_path / "worst.png")
    cm = vta.compile(model_path("digits"), calibration=xtr[:100], labels=ytr[:100], search=False,
                     calibration_filter=CalibrationFilter(png=png, top=5))
    rep = cm.report()
    assert "calibration audit" in str(rep) and len(rep.to_dict()["calibration"]["most_irregular"]) == 5
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_cli_prints_a_table_and_writes_a_png(tmp_path, capsys):
    xtr, ytr, _, _ = load("digits")
    np.save(tmp_path / "x.npy", xtr[:80])
    np.save(tmp_path / "y.npy", ytr[:80])
    png = tmp_path / "grid.png"
    assert main(["calib-audit", model_path("digits"), "--calib", str(tmp_path / "x.npy"), "--labels",
                 str(tmp_path / "y.npy"), "--png", str(png), "--top", "6"]) == 0
    out = capsys.readouterr().out
    assert "rank" in out and "log-dens" in out and str(png) in out
    assert len([ln for ln in out.splitlines() if ln.strip()[:1].isdigit()]) == 6
    assert png.read_bytes()[:4] == b"\x89PNG"
    np.save(tmp_path / "short.npy", ytr[:5])
    assert main(["calib-audit", model_path("digits"), "--calib", str(tmp_path / "x.npy"), "--labels",
                 str(tmp_path / "short.npy")]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_compile_cli_filters_by_default_and_no_calib_filter_turns_it_off(tmp_path, capsys):
    import json
    xtr, ytr, _, _ = load("digits")
    np.savez(tmp_path / "calib.npz", x=xtr[:60], y=ytr[:60])
    sections = []
    for extra in ([], ["--no-calib-filter"]):
        report = tmp_path / f"report{len(extra)}.json"
        assert main(["compile", model_path("digits"), "--calib", str(tmp_path / "calib.npz"), "--no-search",
                     "--quiet", "--report", str(report)] + extra) == 0
        sections.append("calibration" in json.loads(report.read_text()))
    capsys.readouterr()
    assert sections == [True, False]
