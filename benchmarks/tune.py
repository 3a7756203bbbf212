"""Schedule tuning (vta.jit.tune) measured on the cycle-accurate RTL: the acceptance numbers of the tuner.

    python benchmarks/tune.py exhaustive [--config default] [--layers C3,C4] [--rows 2] [--plot tune_curve.png]
    python benchmarks/tune.py layers [--config default] [--rows R] [--trials 64] [-o LOG]
    python benchmarks/tune.py whole [--log LOG] [--config default] [--per-layer] [--only heuristic,model,tuned]
    python benchmarks/tune.py ship --log LOG [--log LOG2 …] [--old-formats] [--config default]

``exhaustive``: measure every point of a layer's space (reduced-height slices keep it small; the table is kept as
a tuning log next to the plot and reused), then replay the tuner (64 trials, several seeds) and random search (256
trials) against the table — cycles are deterministic, so replaying is measuring. Prints the tuner's best vs the
exhaustive best and the trials each needs to reach random search's 256-trial best; draws the curves.
``layers``: tuned vs heuristic cycles per ResNet-18 layer (writes the tuning log). ``whole``: a ResNet-18
(224×224, random weights, batch 1) through ``vta.compile`` on Verilator with the heuristic (``tuning_log=False``),
the shipped cost model (no log) and a tuning log: % of peak useful MACs over the VTA layers, bit-exact against
fsim. ``ship``: train the small cost model on a log of this config and write it into the package
(`vta.jit.tune.tophub`), where ``vta.compile`` without a log finds it.
"""

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np

from vta import load_config
from vta.jit.tune import (
    Space,
    Tuner,
    append_records,
    load_records,
    make_measurer,
    make_record,
    random_search,
)
from vta.jit.tune.zoo import resnet18_tasks


class Table:
    """A measurer that replays an exhaustive table {point: cycles}."""

    def __init__(self, table):
        self.table = table

    def measure(self, cfg, task, points, seed=0, check=False):
        return [{"cycles": self.table[p], "error": None, "exact": True if check else None} for p in points]


def trials_to_reach(curve, target):
    return next((i + 1 for i, c in enumerate(curve) if c is not None and c <= target), None)


def exhaustive(args):
    cfg = load_config(args.config)
    tasks = resnet18_tasks(rows=args.rows, dense=False)
    measurer = None
    curves_all = {}
    for name in args.layers.split(","):
        task = tasks[name]
        space = Space(cfg, task)
        path = f"{args.table_dir}/exhaustive-{cfg.name}-{name}-r{args.rows}.jsonl"
        table = {}
        if os.path.exists(path):
            table = {r["point"]: r["cycles"] for r in load_records(path, cfg) if r["task"] == task}
        todo = [p for p in space.points if p not in table]
        if todo:
            measurer = measurer or make_measurer(jobs=args.jobs)
            t0 = time.perf_counter()
            for i in range(0, len(todo), 32):
                pts = todo[i:i + 32]
                rs = measurer.measure(cfg, task, pts)
                append_records(path, [make_record(cfg, task, p, r) for p, r in zip(pts, rs)])
                table.update({p: r["cycles"] for p, r in zip(pts, rs)})
                print(f"  {name}: measured {len(table)}/{len(space)} ({time.perf_counter() - t0:.0f} s)",
                      file=sys.stderr, flush=True)
        bad = [p for p, c in table.items() if not c]
        if bad:
            print(f"{name}: {len(bad)} points failed to run; first {bad[0]}")
        table = {p: c for p, c in table.items() if c}
        space.points = [p for p in space.points if p in table]
        space.index = {p: i for i, p in enumerate(space.points)}
        best = min(table.values())
        heur = table.get(space.default())
        rep = Table(table)
        rnd = [random_search(cfg, task, rep, 256, seed=s, space=space).curve() for s in range(args.seeds)]
        tun = [Tuner(cfg, task, rep, space=space, seed=s).tune(128, check_best=False).curve()
               for s in range(args.seeds)]
        r256 = statistics.median(c[-1] for c in rnd)
        at64 = [c[63] for c in tun]
        reach = [trials_to_reach(c, r256) or 999 for c in tun]
        r_reach = [trials_to_reach(c, r256) or 999 for c in rnd]
        print(f"{cfg.name} {name} rows={args.rows} {task}: {len(space)} points, exhaustive best {best}, heuristic "
              f"{heur} ({heur / best:.3f}× best)")
        print(f"  tuner best after 64 trials (seeds 0..{args.seeds - 1}): {at64} → worst {max(at64) / best - 1:+.2%} "
              f"vs exhaustive; within 5 %: {sum(a <= 1.05 * best for a in at64)}/{len(at64)}")
        print(f"  random search best after 256 trials (median) {r256} ({r256 / best - 1:+.2%}); trials to reach it: "
              f"tuner {reach} (median {statistics.median(reach)}), random {r_reach} (median "
              f"{statistics.median(r_reach)})")
        curves_all[name] = (tun, rnd, best, heur)
    if measurer:
        measurer.close()
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, len(curves_all), figsize=(6 * len(curves_all), 4.2), squeeze=False)
        for ax, (name, (tun, rnd, best, heur)) in zip(axes[0], curves_all.items()):
            for curves, label in ((tun, "XGBoost tuner"), (rnd, "random search")):
                arr = np.array([[c if c is not None else np.nan for c in cv] for cv in curves], float)
                ax.plot(np.arange(1, arr.shape[1] + 1), np.nanmedian(arr, 0), label=f"{label} (median of "
                        f"{len(curves)} seeds)")
            ax.axhline(best, color="k", linestyle="--", linewidth=0.8, label="exhaustive best")
            if heur:
                ax.axhline(heur, color="r", linestyle=":", linewidth=0.8, label="heuristic")
            ax.set_xscale("log")
            ax.set_ylim(best * 0.98, best * 1.6)
            ax.set_xlabel("measured trials")
            ax.set_ylabel("best cycles so far (Verilator)")
            ax.set_title(f"ResNet-18 {name} ({args.rows} output rows), config {cfg.name}", fontsize=9)
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"tuning curves: {args.plot}")


def layers(args):
    from vta.jit.tune import default_log_path
    from vta.tune_cli import tune_tasks
    cfg = load_config(args.config)
    tasks = resnet18_tasks(batch=args.batch, rows=args.rows)
    if args.layers:
        tasks = {k: tasks[k] for k in args.layers.split(",")}
    measurer = make_measurer(jobs=args.jobs)
    try:
        res = tune_tasks(cfg, tasks, measurer, args.trials, [args.output, default_log_path(cfg)],
                         progress=sys.stderr.isatty())
    finally:
        measurer.close()
    print(f"ResNet-18 layers on {cfg.name}, batch {args.batch}, {args.trials} trials"
          + (f", {args.rows} output rows" if args.rows else ", full layers"))
    print(f"{'layer':6} {'heuristic':>10} {'util':>6} {'tuned':>10} {'util':>6} {'speed-up':>8} {'exact':>5}  best")
    th = tt = macs = 0
    for name, r in res.items():
        m = r.task.macs
        ex = (getattr(r, "best_check", None) or {}).get("exact")
        print(f"{name:6} {r.default_cycles:10d} {m / (r.default_cycles * cfg.macs_per_cycle):6.1%} "
              f"{r.best_cycles:10d} {m / (r.best_cycles * cfg.macs_per_cycle):6.1%} "
              f"{r.default_cycles / r.best_cycles:8.2f} {str(ex):>5}  {r.best}", flush=True)
        if r.task.op == "conv2d":
            th, tt, macs = th + r.default_cycles, tt + r.best_cycles, macs + m
    print(f"conv layers (each once): heuristic {th} cycles ({macs / (th * cfg.macs_per_cycle):.1%}), tuned {tt} "
          f"({macs / (tt * cfg.macs_per_cycle):.1%}), speed-up {th / tt:.2f}")


def resnet18_onnx(seed=0):
    """ResNet-18 (224×224, batch 1) as ONNX with random He-scaled weights (BatchNorm folded away)."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    cnt = [0]

    def conv(x, cin, cout, k, s, relu=True):
        cnt[0] += 1
        n = f"conv{cnt[0]}"
        w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2 / (cin * k * k))).astype(np.float32)
        b = (rng.standard_normal(cout) * 0.01).astype(np.float32)
        inits.extend([numpy_helper.from_array(w, n + "_w"), numpy_helper.from_array(b, n + "_b")])
        nodes.append(helper.make_node("Conv", [x, n + "_w", n + "_b"], [n], kernel_shape=[k, k], strides=[s, s],
                                      pads=[k // 2] * 4))
        if relu:
            nodes.append(helper.make_node("Relu", [n], [n + "_r"]))
            return n + "_r"
        return n

    x = conv("x", 3, 64, 7, 2)
    nodes.append(helper.make_node("MaxPool", [x], ["pool"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4))
    x, cin = "pool", 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for blk in range(2):
            s = stride if blk == 0 else 1
            y = conv(x, cin, cout, 3, s)
            y = conv(y, cout, cout, 3, 1, relu=False)
            sc = conv(x, cin, cout, 1, s, relu=False) if (s != 1 or cin != cout) else x
            cnt[0] += 1
            nodes.append(helper.make_node("Add", [y, sc], [f"add{cnt[0]}"]))
            nodes.append(helper.make_node("Relu", [f"add{cnt[0]}"], [f"res{cnt[0]}"]))
            x, cin = f"res{cnt[0]}", cout
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"]))
    w = (rng.standard_normal((1000, 512)) * np.sqrt(1 / 512)).astype(np.float32)
    inits += [numpy_helper.from_array(w, "fc_w"), numpy_helper.from_array(np.zeros(1000, np.float32), "fc_b")]
    nodes.append(helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["y"], transB=1))
    graph = helper.make_graph(nodes, "resnet18", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                               [1, 3, 224, 224])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1000])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def whole(args):
    import vta
    cfg = load_config(args.config)
    model = resnet18_onnx()
    x = np.random.default_rng(1).uniform(0, 1, (1, 3, 224, 224)).astype(np.float32)
    rows = {}
    runs = [("heuristic", False), ("model", None)] + ([("tuned", args.log)] if args.log else [])
    for label, log in runs:
        if args.only and label not in args.only.split(","):
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with vta.compile(model, config=cfg, calibration=x, search=False, tuning_log=log) as cm:
                t0 = time.perf_counter()
                y = cm.run(x, device="verilator")[0]
                wall = time.perf_counter() - t0
                rep = cm.report(device="verilator")
                y_fsim = cm.run(x, device="fsim")[0]
                hits = cm.schedules.hits if cm.schedules is not None else 0
        missing = [str(w.message) for w in caught if "no tuned schedule" in str(w.message)]
        s = rep.summary
        vta_layers = [row for row in rep.layers if row["placement"] == "VTA"]
        cycles = sum(row.get("cycles") or 0 for row in vta_layers)
        util = s["vta_macs"] / (cycles * cfg.macs_per_cycle)
        exact = bool(np.array_equal(y, y_fsim))
        rows[label] = cycles
        rows[label + " util"] = util
        print(f"{label:9}: {cycles} cycles over the VTA layers, {util:.1%} of peak useful MACs "
              f"({s['vta_macs'] / 1e9:.2f} GMACs on VTA, {s['vta_mac_fraction']:.1%} of all), bit-exact vs fsim: "
              f"{exact}, {wall:.0f} s on Verilator, schedules from log/model {hits}, shapes without one "
              f"{len(missing)}", flush=True)
        for m in missing:
            print("   ", m)
        if args.per_layer:
            for row in vta_layers:
                if row.get("cycles"):
                    print(f"    {row['name']:10} {row['op']:12} {row['macs'] / 1e6:8.1f} MMACs {row['cycles']:9d} "
                          f"cycles {row['macs'] / (row['cycles'] * cfg.macs_per_cycle):6.1%}")
    for label in ("model", "tuned"):
        if "heuristic" in rows and label in rows:
            print(f"speed-up {label} vs heuristic {rows['heuristic'] / rows[label]:.2f}")


def ship(args):
    """Train the shipped model on the logs; then, for ``--rounds`` rounds, measure (in the current log format) every
    task's model pick and log best that lack a current-format measurement, add them and retrain — so on the
    shapes it was trained on the model's choices are measured points, not extrapolations."""
    from vta.jit.tune.tophub import ModelSchedules, train_shipped_model
    cfg = load_config(args.config)
    recs = {}
    for log in args.log:
        for r in load_records(log, cfg, old_formats=args.old_formats):
            if r["cycles"]:
                recs[(r["task"], r["point"])] = r
    for log in args.log:   # current-format records win over older ones of the same point
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            current = load_records(log, cfg)
        for r in current:
            if r["cycles"]:
                recs[(r["task"], r["point"])] = {**r, "fresh": True}
    measurer = None
    path = None
    for rnd in range(args.rounds + 1):
        path = train_shipped_model(cfg, list(recs.values()))
        ms = ModelSchedules.load(cfg, path)
        by_task = {}
        for (t, p), r in recs.items():
            by_task.setdefault(t, {})[p] = r
        todo = {}
        for t, meas in by_task.items():
            best = min(meas, key=lambda p: meas[p]["cycles"])
            for p in {ms.choose(t), best}:
                if p not in meas or not meas[p].get("fresh"):
                    todo.setdefault(t, []).append(p)
        if not todo or rnd == args.rounds:
            break
        measurer = measurer or make_measurer(jobs=args.jobs)
        for t, pts in todo.items():
            res = measurer.measure(cfg, t, pts)
            new = [make_record(cfg, t, p, r) for p, r in zip(pts, res)]
            append_records(args.output, new)
            for p, r in zip(pts, new):
                if r["cycles"]:
                    recs[(t, p)] = {**r, "task": t, "point": p, "fresh": True}
            print(f"  round {rnd}: measured {len(pts)} point(s) of {t}", file=sys.stderr, flush=True)
    if measurer:
        measurer.close()
    size = os.path.getsize(path)
    by_task = {}
    for (t, p), r in recs.items():
        by_task.setdefault(t, {})[p] = r
    print(f"cost model for {cfg.name}: {path} ({size / 1024:.0f} KiB, trained on {len(recs)} measurements of "
          f"{len(by_task)} tasks; new ones in {args.output})")
    for task, meas in by_task.items():
        p = ms.choose(task)
        fresh = {q: r["cycles"] for q, r in meas.items() if r.get("fresh")}
        best = min(fresh.values()) if fresh else None
        got = fresh.get(p)
        print(f"  {str(task):48} model's pick {p}: {got if got else 'not measured'} cycles, best measured in this "
              f"format {best}" + (f" ({got / best - 1:+.1%})" if got else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    e = sub.add_parser("exhaustive")
    e.add_argument("--config", default="default")
    e.add_argument("--layers", default="C3,C4")
    e.add_argument("--rows", type=int, default=2)
    e.add_argument("--seeds", type=int, default=5)
    e.add_argument("--jobs", type=int, default=None)
    e.add_argument("--table-dir", default=os.path.expanduser("~/.cache/amaranth-vta/tune"))
    e.add_argument("--plot", default=None)
    lay = sub.add_parser("layers")
    lay.add_argument("--config", default="default")
    lay.add_argument("--rows", type=int, default=None)
    lay.add_argument("--batch", type=int, default=1)
    lay.add_argument("--trials", type=int, default=64)
    lay.add_argument("--layers", default=None)
    lay.add_argument("--jobs", type=int, default=None)
    lay.add_argument("-o", "--output", default="resnet18-tune.jsonl")
    w = sub.add_parser("whole")
    w.add_argument("--config", default="default")
    w.add_argument("--log", default=None)
    w.add_argument("--only", default=None, help="comma list of heuristic, model, tuned")
    w.add_argument("--per-layer", action="store_true")
    sh = sub.add_parser("ship")
    sh.add_argument("--config", default="default")
    sh.add_argument("--log", required=True, action="append", help="tuning log(s); later ones win per task")
    sh.add_argument("--old-formats", action="store_true",
                    help="also train on format 2 and 3 records (the older epilogues)")
    sh.add_argument("--rounds", type=int, default=3, help="rounds of measuring the model's unmeasured picks")
    sh.add_argument("--jobs", type=int, default=None)
    sh.add_argument("-o", "--output", default="ship-measured.jsonl", help="where the new measurements go")
    args = ap.parse_args()
    {"exhaustive": exhaustive, "layers": layers, "whole": whole, "ship": ship}[args.mode](args)


if __name__ == "__main__":
    main()
