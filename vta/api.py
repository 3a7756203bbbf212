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
from .quant.build import build_program
from .quant.calibrate import collect
from .quant.hardware import HardwareDesc
from .quant.plan import Plan
from .quant.search import fit_plan, greedy_search

__all__ = ["compile", "CompiledModel"]


def _is_torch_module(m):
    torch = sys.modules.get("torch")     # a torch module can only exist if torch was imported already
    return torch is not None and isinstance(m, torch.nn.Module)


def compile(model, config="default", calibration=None, device="fsim", *, example_input=None, labels=None,
            search=True, plan=None, first_layer_host=False, offload_all=False,
            act_calibration=("percentile", "ceil"), batch_size=64, host_gain=0.01, refine=True, progress=False,
            runtime=None, tuning_log=None):
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
    ``tuning_log``: a `vta tune` log (JSON lines) for this config: its fastest measured schedule per layer shape
    replaces the heuristic's on the runtimes the model creates (a log of another config or tool version is
    refused; a shape it lacks warns and keeps the heuristic).
    """
    t0 = time.perf_counter()
    cfg = load_config(config)
    schedules = None
    if tuning_log is not None:
        from .jit.tune.log import BestSchedules
        schedules = BestSchedules.load(tuning_log, cfg)    # read first: a refused log fails before the work
    hw = HardwareDesc.from_config(cfg)
    proto = None
    if _is_torch_module(model):
        g, proto = from_torch(model, example_input)
    else:
        proto = load_onnx(model)
        g = from_onnx(proto)
    optimize(g)
    caps = partition(g, cfg)
    base = plan.copy() if plan is not None else Plan(default_act=tuple(act_calibration),
                                                     first_layer_host=first_layer_host, offload_all=offload_all)
    stats, batches, ref, history, evals = {}, [], None, [], 0
    if calibration is not None:
        feeds = model_feeds(g, calibration, "calibration")
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
                                                 progress=wrap, refine=refine)
        elif any(base.needs_fit(n.name) and n.name not in base.fits for n in g.nodes):
            base = fit_plan(g, caps, stats, hw, batches, base)
    try:
        prog = build_program(g, caps, base, stats, hw)
    except CompileError as e:
        if calibration is None and "calibration" in str(e):
            raise CompileError(f"{e}: pass calibration=… samples (the model has float tensors that VTA needs "
                               f"as int8)") from None
        raise
    cm = CompiledModel(g, proto, cfg, hw, caps, base, prog, device, runtime, batch_size)
    cm.schedules = schedules
    cm.search_history, cm.search_evals = history, evals
    cm.calib_stats = stats
    if batches:
        cm._measure_error(batches)
    cm.compile_seconds = time.perf_counter() - t0
    return cm


