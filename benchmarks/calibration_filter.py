"""Calibration you can trust: does the C-score proxy find injected bad calibration samples, and does the filter
keep VTA int8 accuracy where clean calibration puts it?

    python benchmarks/calibration_filter.py                   # ranking + accuracy (MNIST corrupted/clean, digits)
    python benchmarks/calibration_filter.py --ranking-only    # only the proxy's ranking of the injected samples

Corrupted set (MNIST-5k, fixed seed): 500 calibration images from the train split, of which 10 % (50) carry a
flipped label (a uniformly drawn other class) and 5 % (25) are out of distribution — inverted MNIST images (their
true label), uniform noise (a random label) and sklearn 8×8 digits upscaled to 20×20 and padded to 28×28 like
MNIST (their true label). 15 % of the set is injected, so at most 50 of its 75 samples fit in the lowest decile
(66.7 %): the achievable readings are the share in the lowest 15 % (recall) and the share of the lowest decile
that is injected (precision).

Accuracy: bit-exact simulation of the compiled program, every compile with the same search as
`benchmarks/accuracy.py`, filter off (``calibration_filter=False``) vs on (the default with labels). Two
evaluation sets per dataset: the held-out test split (`vta.compiler.datasets.load`: 1,000 MNIST / 500 digits
images the model never saw) and every image that is not calibration (4,500 MNIST / 1,297 digits: the test split
plus the train images after the first 500, which the FP32 model was trained on — more images, less noise, but
not held out from training). For each pair of compiles the table gives the paired difference with its noise: the
images on which the two programs disagree (b right only in the first, c only in the second) give a standard
error √(b + c) / N. A second noise reference (``--resamples``): the clean set compiled with as many random images
left out as the filter leaves out of calibration on the corrupted set — any such change of the calibration set
can move the search to another plan. The filter's thresholds are the a-priori ones of `vta.quant.cscore` (nothing
here is tuned on the test split).
"""

import argparse
import json
import sys
import time

import numpy as np
from results import write_json

SEED = 1


def _upscale(img8, size=20, pad=4):
    """8×8 → size×size by bilinear interpolation, padded to size + 2·pad (MNIST's 20×20 box in 28×28)."""
    src = np.linspace(0, 7, size)
    i0 = np.clip(np.floor(src).astype(int), 0, 6)
    f = src - i0
    rows = img8[i0] * (1 - f)[:, None] + img8[i0 + 1] * f[:, None]
    out = rows[:, i0] * (1 - f)[None, :] + rows[:, i0 + 1] * f[None, :]
    return np.pad(out, pad)


def corrupted_calibration(xtr, ytr, n=500, flip=0.10, ood=0.05, seed=SEED):
    """(x, labels, kind) — kind 0 clean, 1 flipped label, 2 OOD — shuffled with a fixed seed."""
    from sklearn.datasets import load_digits
    rng = np.random.default_rng(seed)
    n_ood, n_flip = round(ood * n), round(flip * n)
    x, y = xtr[:n - n_ood].copy(), ytr[:n - n_ood].copy()
    kind = np.zeros(n, np.int64)
    fl = rng.choice(len(y), n_flip, replace=False)
    y[fl] = (y[fl] + rng.integers(1, 10, n_flip)) % 10
    kind[fl] = 1
    k1, k2 = n_ood // 3, n_ood // 3
    k3 = n_ood - k1 - k2
    inv = 1.0 - xtr[n:n + k1]                                 # train images outside the calibration set
    noise = rng.random((k2, 1, 28, 28)).astype(np.float32)
    d = load_digits()
    pick = rng.choice(len(d.images), k3, replace=False)
    dig = np.stack([_upscale(d.images[i] / 16.0) for i in pick])[:, None].astype(np.float32)
    x = np.concatenate([x, inv, noise, dig])
    y = np.concatenate([y, ytr[n:n + k1], rng.integers(0, 10, k2), d.target[pick]]).astype(np.int64)
    kind[n - n_ood:] = 2
    perm = rng.permutation(n)
    return x[perm], y[perm], kind[perm]


def ranking(audit, kind):
    """How the proxy ranks the injected samples."""
    n = len(kind)
    order = audit.ranking()
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    bad = kind > 0
    dec = rank < n // 10
    at = rank < bad.sum()
    by_density = np.empty(n, np.int64)
    by_density[np.argsort(audit.log_density, kind="stable")] = np.arange(n)
    extra = {}
    if audit.log_density_input is not None:
        r_in = np.empty(n, np.int64)
        r_in[np.argsort(audit.log_density_input, kind="stable")] = np.arange(n)
        extra["ood_in_lowest_decile_of_input_density"] = float(np.mean(r_in[kind == 2] < n // 10))
    pos, neg = -audit.score[bad], -audit.score[~bad]       # AUC: P(injected scores below a clean sample)
    auc = float(np.mean(pos[:, None] > neg[None, :]) + 0.5 * np.mean(pos[:, None] == neg[None, :]))
    return {"injected": int(bad.sum()), "flipped": int((kind == 1).sum()), "ood": int((kind == 2).sum()),
            "injected_in_lowest_decile": float(np.mean(dec[bad])),
            "lowest_decile_that_is_injected": float(np.mean(bad[dec])),
            "injected_in_lowest_15%": float(np.mean(at[bad])),
            "flipped_in_lowest_decile_of_agreement": float(np.mean(dec[kind == 1])),
            "ood_in_lowest_decile_of_embedding_density": float(np.mean(by_density[kind == 2] < n // 10)),
            **extra, "auc": auc, "filter_ood": int(audit.ood.sum()),
            "filter_excluded": int(audit.excluded.sum()),
            "filter_excluded_injected": int((audit.excluded & bad).sum()),
            "filter_ood_flag_on_ood": int((audit.ood & (kind == 2)).sum()),
            "filter_irregular_on_flipped": int((audit.irregular & (kind == 1)).sum())}


def _paired(pa, pb, y):
    """Accuracy difference b − a (points) of two prediction vectors on labels y, its standard error from the
    discordant images, and the discordant counts (a right only, b right only)."""
    a_only, b_only = int(np.sum((pa == y) & (pb != y))), int(np.sum((pa != y) & (pb == y)))
    n = len(y)
    return dict(points=100 * (b_only - a_only) / n, se_points=100 * np.sqrt(a_only + b_only) / n,
                first_only=a_only, second_only=b_only, images=n)


def run(what, log=print, resamples=4, flip=0.10, ood=0.05):
    import vta
    from vta.compiler.datasets import load, model_path
    from vta.compiler.onnx_import import from_onnx, load_onnx
    from vta.compiler.passes import optimize
    from vta.quant.cscore import CalibrationFilter, audit_calibration
    res = {}
    xtr, ytr, xte, yte = load("mnist")
    path = model_path("mnist")
    x, y, kind = corrupted_calibration(xtr, ytr, flip=flip, ood=ood)
    g = from_onnx(load_onnx(path))
    optimize(g)
    audit = audit_calibration(g, {g.inputs[0]: x}, y, CalibrationFilter())
    res["ranking"] = ranking(audit, kind)
    log(str(audit))
    log(json.dumps(res["ranking"], indent=2))
    log(f"injected in the lowest decile: {100 * res['ranking']['injected_in_lowest_decile']:.1f} % (at most "
        f"{100 * (len(kind) // 10) / res['ranking']['injected']:.1f} %: {res['ranking']['injected']} injected, "
        f"{len(kind) // 10} in a decile); in the lowest 15 %: {100 * res['ranking']['injected_in_lowest_15%']:.1f} %; "
        f"lowest decile that is injected: {100 * res['ranking']['lowest_decile_that_is_injected']:.1f} %")
    if "accuracy" not in what:
        return res
    dtr, dytr, dte, dyte = load("digits")
    evals = {"mnist": {"held-out test": (xte, yte),
                       "all non-calibration": (np.concatenate([xte, xtr[500:]]), np.concatenate([yte, ytr[500:]]))},
             "digits": {"held-out test": (dte, dyte),
                        "all non-calibration": (np.concatenate([dte, dtr[500:]]), np.concatenate([dyte, dytr[500:]]))}}
    rows = [("mnist", "clean 500", xtr[:500], ytr[:500]),
            ("mnist", "corrupted 500", x, y),
            ("digits", "clean 500", dtr[:500], dytr[:500])]
    acc, preds = {}, {}
    for model, name, xc, yc in rows:
        for filt, fname in ((False, "off"), (None, "on")):
            t = time.perf_counter()
            cm = vta.compile(model_path(model), calibration=xc, labels=yc, calibration_filter=filt)
            seconds = time.perf_counter() - t
            au = cm.calibration_audit
            key = f"{model} {name}, filter {fname}"
            acc[key] = dict(seconds=seconds, excluded_objective=None if au is None else int(au.irregular.sum()),
                            excluded_calibration=None if au is None else int(au.ood.sum()))
            for ev, (xe, ye) in evals[model].items():
                p = preds[key, ev] = cm.simulate(xe)[0].argmax(1)
                acc[key][ev] = float(np.mean(p == ye))
            log(f"{key:<34} " + "  ".join(f"{ev} {100 * acc[key][ev]:6.2f} %" for ev in evals[model]) +
                f"  ({seconds:.0f} s; left out of objective / calibration: {acc[key]['excluded_objective']} / "
                f"{acc[key]['excluded_calibration']})")
    res["accuracy"] = acc
    pairs = [("mnist clean: filter on − off (the filter's cost on a clean set)",
              "mnist clean 500, filter off", "mnist clean 500, filter on", "mnist"),
             ("digits clean: filter on − off (the filter's cost on a clean set)",
              "digits clean 500, filter off", "digits clean 500, filter on", "digits"),
             ("mnist corrupted, filter on − clean calibration (filter off)",
              "mnist clean 500, filter off", "mnist corrupted 500, filter on", "mnist"),
             ("mnist corrupted, filter on − clean calibration (filter on)",
              "mnist clean 500, filter on", "mnist corrupted 500, filter on", "mnist"),
             ("mnist corrupted, no filter − clean calibration (filter off)",
              "mnist clean 500, filter off", "mnist corrupted 500, filter off", "mnist"),
             ("mnist corrupted: filter on − off",
              "mnist corrupted 500, filter off", "mnist corrupted 500, filter on", "mnist")]
    res["differences"] = {}
    # noise reference: the clean set with as many random images left out as the filter left out of calibration
    # on the corrupted set — how far any such change of the calibration set moves the compiled program
    drop = acc["mnist corrupted 500, filter on"]["excluded_calibration"]
    rng = np.random.default_rng(SEED)
    for r in range(resamples):
        keep = np.sort(rng.choice(500, 500 - drop, replace=False))
        cm = vta.compile(model_path("mnist"), calibration=xtr[:500][keep], labels=ytr[:500][keep],
                         calibration_filter=False)
        key = f"mnist clean 500 less {drop} random #{r + 1}, filter off"
        acc[key] = {}
        for ev, (xe, ye) in evals["mnist"].items():
            p = preds[key, ev] = cm.simulate(xe)[0].argmax(1)
            acc[key][ev] = float(np.mean(p == ye))
        log(f"{key:<34} " + "  ".join(f"{ev} {100 * acc[key][ev]:6.2f} %" for ev in evals["mnist"]))
        pairs.append((f"noise: clean less {drop} random images (#{r + 1}) − clean", "mnist clean 500, filter off",
                      key, "mnist"))
    log("")
    log(f"{'difference (points; ± standard error from the discordant images)':<64} " +
        "  ".join(f"{ev:>30}" for ev in evals["mnist"]))
    for label, first, second, model in pairs:
        d = {ev: _paired(preds[first, ev], preds[second, ev], ye) for ev, (_, ye) in evals[model].items()}
        res["differences"][label] = d
        log(f"{label:<64} " + "  ".join(f"{v['points']:+6.2f} ± {v['se_points']:.2f} ({v['first_only']}/"
                                         f"{v['second_only']} of {v['images']})".rjust(30) for v in d.values()))
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ranking-only", action="store_true")
    p.add_argument("--flip", type=float, default=0.10, help="share of flipped labels (default 0.10: the issue's set)")
    p.add_argument("--ood", type=float, default=0.05, help="share of OOD images (default 0.05)")
    p.add_argument("--resamples", type=int, default=4,
                   help="noise reference: compiles of the clean set less random images (default 4)")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args(argv)
    res = run(("ranking",) if a.ranking_only else ("ranking", "accuracy"), resamples=a.resamples, flip=a.flip,
              ood=a.ood)
    write_json(a.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
