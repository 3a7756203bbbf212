"""Calibration you can trust: does the C-score proxy find injected bad calibration samples, and does the filter
keep VTA int8 accuracy where clean calibration puts it?

    python benchmarks/calibration_filter.py                   # ranking + accuracy (MNIST corrupted/clean, digits)
    python benchmarks/calibration_filter.py --ranking-only    # only the proxy's ranking of the injected samples

Corrupted set (MNIST-5k, fixed seed): 500 calibration images from the train split, of which 10 % (50) carry a
flipped label (a uniformly drawn other class) and 5 % (25) are out of distribution — inverted MNIST images (their
true label), uniform noise (a random label) and sklearn 8×8 digits upscaled to 20×20 and padded to 28×28 like
MNIST (their true label). Accuracy is on the 1,000 held-out test images (`vta.compiler.datasets.load`), bit-exact
simulation of the compiled program; every compile uses the same search as `benchmarks/accuracy.py`. The filter's
thresholds are the a-priori ones of `vta.quant.cscore` (nothing here is tuned on the test split).
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


def _acc(cm, xte, yte):
    return float(np.mean(cm.simulate(xte)[0].argmax(1) == yte))


def run(what, log=print):
    import vta
    from vta.compiler.datasets import load, model_path
    from vta.compiler.onnx_import import from_onnx, load_onnx
    from vta.compiler.passes import optimize
    from vta.quant.cscore import CalibrationFilter, audit_calibration
    res = {}
    xtr, ytr, xte, yte = load("mnist")
    path = model_path("mnist")
    x, y, kind = corrupted_calibration(xtr, ytr)
    g = from_onnx(load_onnx(path))
    optimize(g)
    audit = audit_calibration(g, {g.inputs[0]: x}, y, CalibrationFilter())
    res["ranking"] = ranking(audit, kind)
    log(str(audit))
    log(json.dumps(res["ranking"], indent=2))
    if "accuracy" not in what:
        return res
    rows = [("mnist", "clean 500", xtr[:500], ytr[:500], xte, yte),
            ("mnist", "corrupted 500 (10% flipped, 5% OOD)", x, y, xte, yte)]
    dtr, dytr, dte, dyte = load("digits")
    rows.append(("digits", "clean 500", dtr[:500], dytr[:500], dte, dyte))
    acc = {}
    for model, name, xc, yc, xe, ye in rows:
        for filt in ("off", "auto"):
            t = time.perf_counter()
            cm = vta.compile(model_path(model), calibration=xc, labels=yc, calibration_filter=filt)
            a = _acc(cm, xe, ye)
            au = cm.calibration_audit
            key = f"{model} {name}, filter {filt}"
            acc[key] = dict(accuracy=a, seconds=time.perf_counter() - t,
                            excluded_objective=None if au is None else int(au.irregular.sum()),
                            excluded_calibration=None if au is None else int(au.ood.sum()))
            log(f"{key:<60} {100 * a:6.2f} %  ({acc[key]['seconds']:.0f} s; left out of objective / calibration: "
                f"{acc[key]['excluded_objective']} / {acc[key]['excluded_calibration']})")
    res["accuracy"] = acc
    c = acc["mnist clean 500, filter off"]["accuracy"]
    for filt in ("off", "auto"):
        d = acc[f"mnist corrupted 500 (10% flipped, 5% OOD), filter {filt}"]["accuracy"] - c
        log(f"corrupted, filter {filt}: {100 * d:+.2f} points vs clean calibration (filter off)")
    for m in ("mnist", "digits"):
        d = acc[f"{m} clean 500, filter auto"]["accuracy"] - acc[f"{m} clean 500, filter off"]["accuracy"]
        log(f"{m} clean: the filter costs {-100 * d:+.2f} points")
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ranking-only", action="store_true")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args(argv)
    res = run(("ranking",) if a.ranking_only else ("ranking", "accuracy"))
    write_json(a.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
