"""``vta tune``: tune the schedules of a model's VTA layers on the cycle-accurate RTL and write a tuning log.

    vta tune MODEL --config CFG [--trials N] [--jobs J | --ray ADDRESS] [--transfer LOG …] -o LOG [--plot PNG]

MODEL is an ONNX file (its convolutions and dense layers that VTA can run) or a named task list (``resnet18``).
Every measurement is appended to LOG and to the config's cache log (``~/.cache/amaranth-vta/tune/<digest>.jsonl``)
as it happens, so an interrupted run keeps what it measured. ``vta.compile(..., tuning_log=LOG)`` then uses the
fastest schedule per layer shape. ``--transfer`` logs of other configs warm-start the cost model.

For `vta.cli`: ``command("tune", HELP, *ARGUMENTS)(handle)``.
"""

import os
import sys

from .config import VTAConfig, load_config
from .errors import VTAError

__all__ = ["HELP", "ARGUMENTS", "handle", "model_tasks", "tune_tasks"]

HELP = "tune a model's layer schedules on the cycle-accurate RTL (XGBoost cost model) and write a tuning log"

ARGUMENTS = [
    (("model",), dict(help="an ONNX model file, or a named task list: resnet18")),
    (("--config",), dict(default="default", help="a preset name (default, small) or an upstream-style JSON config")),
    (("--trials",), dict(type=int, default=64, help="measured schedules per layer shape (default 64)")),
    (("--jobs",), dict(type=int, default=None, help="local measurement processes (default: the CPU count)")),
    (("--ray",), dict(default=None, metavar="ADDRESS", help="measure on the Ray cluster at ADDRESS instead")),
    (("--transfer",), dict(nargs="*", default=[], help="tuning logs of other configs to warm-start the model")),
    (("--layers",), dict(default=None, help="only these shapes (comma-separated names of a named task list)")),
    (("-o", "--output"), dict(required=True, help="the tuning log to append to (JSON lines)")),
    (("--plot",), dict(default=None, help="write the tuning curves (best cycles vs trials) to this PNG")),
]


def model_tasks(model, cfg):
    """{name: `Task`} of ``model``: a named list (`vta.jit.tune.zoo`) or the VTA-placed convolutions and dense
    layers of an ONNX file (per group for grouped ones; batch 1 where the batch is dynamic)."""
    from .jit.tune import zoo
    if model in zoo.NAMED:
        return zoo.NAMED[model]()
    if not os.path.exists(model):
        raise VTAError(f"{model}: no such file, and not a named task list ({', '.join(zoo.NAMED)})")
    from .compiler.onnx_import import from_onnx, load_onnx
    from .compiler.partition import partition
    from .compiler.passes import optimize
    from .jit.tune import Task
    g = from_onnx(load_onnx(model))
    optimize(g)
    caps = partition(g, cfg)
    tasks = {}
    for n in g.nodes:
        cap = caps.get(n.name)
        if cap is None or not cap.vta or n.op not in ("Conv", "Dense"):   # pools/adds on VTA have no weights
            continue
        xs, ws = g.shapes[n.inputs[0]], g.shapes[n.inputs[1]]
        batch = xs[0] if isinstance(xs[0], int) and xs[0] > 0 else 1
        if n.op == "Conv" and cap.geom is not None:
            geo = cap.geom
            h, w = geo.device_in_hw
            cg, og = xs[1] // geo.groups, ws[0] // geo.groups
            t = Task.conv2d(batch, cg, h, w, og, ws[2], ws[3], geo.strides, geo.device_padding)
        elif n.op == "Dense":
            t = Task.dense(batch, xs[1], ws[0])
        else:
            continue
        if t not in tasks.values():
            tasks[n.name] = t
    if not tasks:
        raise VTAError(f"{model} has no convolution or dense layer that VTA runs: nothing to tune")
    return tasks


def tune_tasks(cfg, tasks, measurer, trials, logs, transfer=(), progress=True, seed=0):
    """Tune each of ``tasks`` ({name: Task}); append every measurement to each path in ``logs``. Returns
    {name: `TuneResult`}."""
    from tqdm import tqdm

    from .jit.tune import CostModel, Space, Tuner, append_records, make_record
    model = CostModel(seed=seed)
    if transfer:
        model.fit([], transfer)
    results = {}
    outer = tqdm(tasks.items(), desc="layers", unit="layer", disable=not progress)
    for name, task in outer:
        outer.set_postfix_str(str(task))
        space = Space(cfg, task)
        bar = tqdm(total=min(trials, len(space)), desc=name, unit="trial", leave=False, disable=not progress)

        def on_measured(points, res, task=task, bar=bar):
            recs = [make_record(cfg, task, p, r) for p, r in zip(points, res)]
            for path in logs:
                append_records(path, recs)
            bar.update(sum(1 for r in res if r.get("exact") is None))
            best = [r["cycles"] for r in res if r.get("cycles")]
            if best:
                bar.set_postfix(best=min(best))
        tuner = Tuner(cfg, task, measurer, space=space, seed=seed, model=model, transfer=transfer,
                      on_measured=on_measured)
        results[name] = tuner.tune(trials)
        bar.close()
        # later layers start from the records so far (the model learns across shapes of this config too)
        transfer = list(transfer) + [(cfg, space, [(p, r.get("cycles")) for p, r in results[name].history])]
    return results


def handle(args):
    from .jit.tune import TuneError, default_log_path, load_records, make_measurer
    cfg = load_config(args.config)
    if args.trials < 1:
        raise VTAError(f"--trials must be ≥ 1, not {args.trials}")
    tasks = model_tasks(args.model, cfg)
    if args.layers:
        want = args.layers.split(",")
        missing = [w for w in want if w not in tasks]
        if missing:
            raise VTAError(f"--layers: {missing[0]!r} is not a layer of {args.model} ({', '.join(tasks)})")
        tasks = {k: tasks[k] for k in want}
    transfer = []
    for path in args.transfer:
        from .jit.tune import Space
        by_task = {}
        for r in load_records(path):
            rcfg = VTAConfig.from_dict(r["config_keys"], name=r.get("config_name", "custom"))
            by_task.setdefault((r["config"], r["task"]), (rcfg, []))[1].append((r["point"], r["cycles"]))
        for (_, task), (rcfg, meas) in by_task.items():
            transfer.append((rcfg, Space(rcfg, task), meas))
    try:
        measurer = make_measurer(args.ray, args.jobs)
    except TuneError as e:
        raise VTAError(str(e)) from None
    logs = [args.output, default_log_path(cfg)]
    try:
        results = tune_tasks(cfg, tasks, measurer, args.trials, logs, transfer, progress=sys.stderr.isatty())
    finally:
        measurer.close()
    print(f"{'layer':6} {'task':44} {'heuristic':>10} {'tuned':>10} {'speed-up':>8} {'util':>6}  best schedule")
    for name, res in results.items():
        util = res.task.macs / (res.best_cycles * cfg.macs_per_cycle) if res.best_cycles else 0
        sp = res.default_cycles / res.best_cycles if res.default_cycles and res.best_cycles else float("nan")
        check = getattr(res, "best_check", {}) or {}
        exact = {True: "", False: " NOT BIT-EXACT vs fsim", None: ""}[check.get("exact")]
        print(f"{name:6} {str(res.task):44} {res.default_cycles or 0:10d} {res.best_cycles or 0:10d} {sp:8.2f} "
              f"{util:6.1%}  {res.best}{exact}")
    print(f"tuning log: {args.output} (and {logs[1]})")
    if args.plot:
        from .jit.tune.plot import plot_curves
        plot_curves(args.plot, {n: r.curve() for n, r in results.items()}, f"vta tune {args.model} on {cfg.name}")
        print(f"tuning curves: {args.plot}")
    return 0

