"""``vta.compile``: import → optimize → partition → calibrate → (search) → quantized program → a
`CompiledModel` that runs it on a VTA device (fsim, Verilator, an FPGA) with the host doing what VTA cannot.

It ties the compiler (`vta.compiler`: IR, passes, partitioning, program steps) to the quantizer (`vta.quant`:
calibration, plans, search), which builds on the compiler. Living above both (with `vta.compiled`), it keeps the
import graph acyclic: ``vta.compiler`` ← ``vta.quant`` ← ``vta.api``.

    cm = vta.compile("model.onnx", config="default", calibration=x_calib, device="fsim")
    y, = cm.run(x)            # float32 outputs, shaped like onnxruntime's (a list, one entry per graph output)
    print(cm.report())        # per-layer placement, MACs, scales/shifts, quantization error, cycles
"""

import sys
import time

import numpy as np

from .compiled import CompiledModel, batch_chunks, model_feeds
from .compiler.ir import CompileError
from .compiler.onnx_import import from_onnx, from_torch, load_onnx
from .compiler.ops import run_graph
from .compiler.partition import partition
from .compiler.passes import optimize
from .config import load_config
from .quant.build import build_program, smoothed
from .quant.calibrate import collect
from .quant.cscore import FilterSkipped, audit_calibration, resolve_filter
from .quant.hardware import HardwareDesc
from .quant.plan import Plan
from .quant.search import fit_plan, greedy_search

__all__ = ["compile", "CompiledModel"]


def _is_torch_module(m):
    torch = sys.modules.get("torch")     # a torch module can only exist if torch was imported already
    return torch is not None and isinstance(m, torch.nn.Module)


def _data_shapes(proto, calibration, example_input, input_shapes):
    """``{input name: shape}`` for specialising symbolic dimensions: ``input_shapes`` first, then the shapes of
    the calibration data (by name, or the single runtime input), then ``example_input``'s."""
    shapes = {k: tuple(int(d) for d in v) for k, v in (input_shapes or {}).items()}
    if proto is None:
        names = ["input"]        # `from_torch` names the exported module's input so
    else:
        inits = {t.name for t in proto.graph.initializer}
        names = [i.name for i in proto.graph.input if i.name not in inits]
    for data in (calibration, example_input):
        if data is None:
            continue
        if isinstance(data, dict):
            for k, v in data.items():
                shapes.setdefault(k, tuple(np.shape(v)))
        elif len(names) == 1:
            shapes.setdefault(names[0], tuple(np.shape(data)))
    return shapes


def compile(model, config="default", calibration=None, device="fsim", *, example_input=None, labels=None,
            search=True, plan=None, first_layer_host=False, offload_all=False,
            act_calibration=("percentile", "ceil"), batch_size=64, host_gain=0.01, refine=True, progress=False,
            runtime=None, calibration_filter=None, input_shapes=None, tuning_log=None):
    """Compile ``model`` for VTA.

    ``model``: an ONNX path / bytes / ``onnx.ModelProto`` or a ``torch.nn.Module`` (then ``example_input``).
    ``calibration``: input samples (array, or dict by input name) used to choose int8 scales; needed unless
    the model is integer-only. ``labels``: optional calibration labels (the search then maximises accuracy;
    otherwise agreement with the FP32 model). ``search``: HAGO-style greedy per-layer search (else the plan as
    given / the defaults: ``act_calibration`` method and rounding for every activation, per-tensor ceil-rounded
    weight scales). ``first_layer_host``: keep the first conv/dense in float on the CPU (upstream relay's
    ``skip_conv_layers=[0]``). ``refine``: let the search also decide, per layer, empirical bias correction and
    weight rounding fitted to the layer's output on the calibration data (`vta.quant.refine`).
    ``offload_all``: run ReLU/MaxPool on VTA even when their input comes from the
    host in float (quantizing it first); by default they stay where their input is. ``device``: "fsim",
    "verilator" or a `vta.device.Device`, where `CompiledModel.run` runs by default (it can run anywhere);
    ``runtime``: an existing `vta.jit.Runtime` to run on by default (shared: the model never closes it).
    ``calibration_filter``: None (default: on when ``labels`` are given, off without), True/"auto", False/"off",
    a fraction in (0, 1) or a `vta.quant.cscore.CalibrationFilter`. It scores every calibration sample with a
    C-score proxy (`vta.quant.cscore`: k-NN label agreement / kernel density in the classifier's input
    embedding): a sample whose label holds < 0.5 of the neighbourhood vote *and* that the FP32 model classifies
    otherwise (or whose vote another class leads by ≥ 0.5) leaves the search's accuracy objective; a sample whose
    log-density is more than 3.5 robust sigmas (1.4826·MAD) below the median leaves calibration altogether.
    ``cm.calibration_audit`` and the report list the most irregular samples and why. Recompiling a searched plan
    (``plan=``, ``search=False``) reproduces its program from the same calibration samples *and labels* (the
    filter decides from both which samples calibrate) or with the filter off both times.
    ``input_shapes``: ``{input name: shape}`` fixing symbolic dimensions other than the batch (an image's height
    and width); by default they are taken from the calibration data (or ``example_input``). The model is compiled
    for that one shape: running it on another is an error naming the compiled shape.
    ``tuning_log``: a `vta tune` log (JSON lines) for this config: its fastest measured schedule per layer shape
    replaces the heuristic's on the runtimes the model creates (a log of another config or tool version is
    refused; a shape it lacks warns and keeps the heuristic). Without a log (None) the cost model shipped for the
    config (`vta.jit.tune.tophub`, trained on a tuning run; the default config has one) picks each layer's
    schedule, where xgboost is installed; other configs keep the heuristic. ``tuning_log=False``: the heuristic.
    """
    t0 = time.perf_counter()
    cfg = load_config(config)
    schedules = None
    if tuning_log is None:
        from .jit.tune.tophub import default_schedules
        schedules = default_schedules(cfg)
    elif tuning_log is not False:
        from .jit.tune.log import BestSchedules
        schedules = BestSchedules.load(tuning_log, cfg)    # read first: a refused log fails before the work
    hw = HardwareDesc.from_config(cfg)
    proto = None
    if _is_torch_module(model):
        shapes = _data_shapes(None, calibration, example_input, input_shapes)
        g, proto = from_torch(model, example_input, input_shapes=shapes)
    else:
        proto = load_onnx(model)
        g = from_onnx(proto, _data_shapes(proto, calibration, example_input, input_shapes))
    optimize(g)
    caps = partition(g, cfg)
    base = plan.copy() if plan is not None else Plan(default_act=tuple(act_calibration),
                                                     first_layer_host=first_layer_host, offload_all=offload_all)
    stats, batches, ref, history, evals, audit, weights = {}, [], None, [], 0, None, None
    skipped = None
    filt = resolve_filter(calibration_filter, labels is not None)
    if calibration is not None:
        feeds = model_feeds(g, calibration, "calibration")
        if filt is not None:
            audit = audit_calibration(g, feeds, labels, filt)
        if isinstance(audit, FilterSkipped):
            skipped, audit = audit, None
        if audit is not None:
            keep = ~audit.ood
            if not getattr(g, "dynamic_batch", False) and keep.sum() % g.shapes[g.inputs[0]][0]:
                audit.notes.append("fixed batch size: OOD samples stay in range calibration")
                keep[:] = True
            n = len(keep)
            feeds = {k: (v[keep] if len(v) == n else v) for k, v in feeds.items()}
            labels = None if labels is None else audit.labels[keep]
            weights = (~audit.irregular[keep]).astype(np.float64)
            if filt.png:
                audit.save_png(filt.png)
        batches = batch_chunks(g, feeds, max(batch_size, 256))
        envs = []
        tensors = [t for t in g.shapes if t not in g.consts]

        def run_float(b):
            env = run_graph(g, b)
            envs.append({o: env[o] for o in g.outputs})
            return env
        stats = collect(run_float, batches, tensors)
        ref = np.concatenate([e[g.outputs[0]] for e in envs])
        if labels is not None:
            labels = np.asarray(labels).reshape(-1)
            if len(labels) != len(ref):
                raise CompileError(f"labels has {len(labels)} entries, calibration {len(ref)} samples")
        if search:
            wrap = None
            if progress:
                from tqdm import tqdm
                wrap = lambda pts: tqdm(pts, desc="quantization search", unit="choice", leave=False)
            base, history, evals = greedy_search(g, caps, stats, hw, batches, ref, labels, base, host_gain,
                                                 progress=wrap, refine=refine, weights=weights)
        elif any(base.needs_fit(n.name) and n.name not in base.fits for n in g.nodes):
            base = fit_plan(g, caps, stats, hw, batches, base)
    try:
        prog = build_program(g, caps, base, stats, hw)
    except CompileError as e:
        if calibration is None and "calibration" in str(e):
            raise CompileError(f"{e}: pass calibration=… samples (the model has float tensors that VTA needs "
                               f"as int8)") from None
        raise
    if any(base.smooth.values()):     # the graph the program implements: smoothing factors folded in (same outputs)
        g = smoothed(g, base, stats).graph
    cm = CompiledModel(g, proto, cfg, hw, caps, base, prog, device, runtime, batch_size)
    cm.schedules = schedules
    cm.search_history, cm.search_evals = history, evals
    cm.calib_stats = stats
    cm.calibration_audit = audit
    cm.calibration_skipped = skipped
    if batches:
        cm._measure_error(batches)
    cm.compile_seconds = time.perf_counter() - t0
    return cm


