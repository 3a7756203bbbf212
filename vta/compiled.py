"""`CompiledModel`: a quantized program bound to its graph, runnable on any device.

`run` executes the program with its VTA steps on a device — a name ("fsim", "verilator") or any
`vta.device.Device` — keeping one runtime per device (created on first use, closed by `close` or by leaving a
``with`` block) and the per-layer statistics of every run for `report`. `simulate` computes the same outputs with
the bit-exact numpy model, `run_float` the FP32 reference.
"""

import dataclasses
import time

import numpy as np

from .compiler.ir import CompileError
from .compiler.lower import VTAExecutor
from .compiler.ops import run_graph
from .compiler.program import run_program
from .compiler.report import build_report
from .compiler.steps import Gemm, qkey
from .device import Closing
from .devices import device_name as _device_name
from .jit import Runtime
from .quant.plan import LayerChoice

__all__ = ["CompiledModel", "DeviceRun", "model_feeds", "batch_chunks"]


def model_feeds(g, x, what):
    """Normalize user data to {input name: array} with the model's dtypes."""
    if isinstance(x, dict):
        missing = [i for i in g.inputs if i not in x]
        if missing:
            raise CompileError(f"{what} lacks model input(s) {missing}; the model's inputs are {g.inputs}")
        feeds = {k: np.asarray(x[k]) for k in g.inputs}
    else:
        if len(g.inputs) != 1:
            raise CompileError(f"the model has {len(g.inputs)} inputs {g.inputs}: pass {what} as a dict by name")
        feeds = {g.inputs[0]: np.asarray(x)}
    for k, v in feeds.items():
        want = g.shapes[k]
        if v.ndim != len(want) or tuple(v.shape[1:]) != tuple(want[1:]):
            fixed = " (the model was compiled for that shape: compile again with data of the new shape or " \
                    "input_shapes=… to run another)" if k in getattr(g, "specialised", ()) else ""
            raise CompileError(f"{what} for input {k!r} must have shape (N, {', '.join(map(str, want[1:]))}), "
                               f"not {v.shape}{fixed}")
        if len(v) == 0:
            raise CompileError(f"{what} for input {k!r} has 0 samples (shape {v.shape}); pass at least one")
        if v.dtype.kind in "fc":
            bad = ~np.isfinite(v.reshape(len(v), -1)).all(axis=1)
            if bad.any():
                first = int(np.argmax(bad))
                raise CompileError(f"{what} for input {k!r} holds NaN or Inf in {int(bad.sum())} of {len(v)} "
                                   f"samples (first: sample {first}); VTA's int8 scales and results need finite "
                                   f"values: drop or repair those samples")
        dt = g.dtypes.get(k, np.dtype(np.float32))
        feeds[k] = v.astype(dt, copy=False)
    return feeds


def batch_chunks(g, feeds, batch_size):
    """Split feeds along the batch axis: by the model's fixed batch, or by ``batch_size`` when it is dynamic.
    Inputs whose declared first dimension is not the batch (e.g. a broadcast operand) are passed whole."""
    first = g.inputs[0]
    n = len(feeds[first])
    dynamic = getattr(g, "dynamic_batch", False)
    step = batch_size if dynamic else g.shapes[first][0]
    if n <= step:
        return [feeds]
    if not dynamic and n % step:
        raise CompileError(f"the model has a fixed batch of {step}; got {n} samples (not a multiple)")
    batched = [k for k in feeds if len(g.shapes[k]) and g.shapes[k][0] == g.shapes[first][0] and len(feeds[k]) == n]
    return [{k: (v[i:i + step] if k in batched else v) for k, v in feeds.items()} for i in range(0, n, step)]


class _LabelRuns:
    """An executor that names the device runs of each step after its graph node (the layer spans of a trace):
    every timeline the device logged since the previous step belongs to this one."""

    def __init__(self, executor, log):
        self._executor, self.log, self._seen = executor, log, 0

    def __getattr__(self, name):
        return getattr(self._executor, name)

    def record(self, step, result):
        for t in self.log[self._seen:]:
            t.label = step.node.name
        self._seen = len(self.log)
        return self._executor.record(step, result)


@dataclasses.dataclass
class DeviceRun:
    """What a `CompiledModel` keeps per device it ran on: the runtime (``owned``: the model created it and closes
    it; ``None`` once closed), the per-node statistics of every VTA call, and how many samples ran (the report's
    cycles cover them all)."""
    name: str
    runtime: object
    owned: bool
    executor: object
    samples_run: int = 0
    last_run_seconds: float | None = None


class CompiledModel(Closing):
    """A compiled model: `run` on any device, `simulate` (bit-exact numpy), `run_float` (FP32 reference),
    `report` (per-layer placement, MACs, scales, errors, cycles).

    ``run(x, device=...)`` takes a device name ("fsim", "verilator") or a `vta.device.Device`; the first run on
    a device creates its runtime, later runs reuse it. Runtimes the model created are closed by `close` (or by
    leaving a ``with`` block); devices passed in as objects stay open (their owner closes them)."""

    def __init__(self, g, proto, cfg, hw, caps, plan, program, device, runtime, batch_size):
        self.graph, self.onnx_model, self.cfg, self.hw, self.caps = g, proto, cfg, hw, caps
        self.plan, self.program = plan, program
        self.device = device if runtime is None else runtime.device      # where `run` runs by default
        self.batch_size = batch_size
        self.errors = {}
        self._runs = {}               # device key → DeviceRun
        self._last_key = None         # the device of the last run (the report's default)
        if runtime is not None:       # shared by the caller: used, not closed
            self._runs[self._key(runtime.device)] = DeviceRun(_device_name(device), runtime, False,
                                                              VTAExecutor(runtime))
        self.search_history, self.search_evals, self.compile_seconds = [], 0, 0.0
        self.calibration_audit = None     # `vta.quant.cscore.CalibrationAudit` when the filter ran
        self.calibration_skipped = None   # `vta.quant.cscore.FilterSkipped` when the default filter could not run

    @staticmethod
    def _key(device):
        return device if isinstance(device, str) else id(device)

    def device_run(self, device=None):
        """The `DeviceRun` of ``device`` (default: the compile-time device), created on first use."""
        device = self.device if device is None else device
        key = self._key(device)
        run = self._runs.get(key)
        if run is None or run.runtime is None:
            rt = Runtime(self.cfg, device=device, dram_bytes=self.dram_bytes(),
                         schedules=getattr(self, "schedules", None))
            if run is None:
                run = self._runs[key] = DeviceRun(_device_name(device), rt, True, VTAExecutor(rt))
            else:                     # reopened after `close`: the statistics keep accumulating
                run.runtime = run.executor.rt = rt
        return run

    def close(self):
        """Close every runtime this model created (and the devices they opened by name). The statistics stay for
        `report`; a later `run` on the device opens a new runtime."""
        for r in self._runs.values():
            if r.owned and r.runtime is not None:
                r.runtime.close()
                r.runtime = None

    def dram_bytes(self):
        """DRAM for the runtime: twice the largest VTA step's operands at the run batch size, ≥ 64 MiB."""
        g = self.graph
        per = self.batch_size if getattr(g, "dynamic_batch", False) else 1
        need = 0
        for st in self.program.steps:
            if not st.on_vta or st.node is None:
                continue
            w = st.w if isinstance(st, Gemm) else None
            acts = sum(int(np.prod(g.shapes.get(t.split("@")[0], (1,)))) for t in st.inputs if t) + \
                4 * int(np.prod(g.shapes.get(st.node.outputs[0], (1,))))
            need = max(need, (0 if w is None else w.size) + per * acts)
        mib = 1 << 20
        return max(64 * mib, -(-(2 * need + 16 * mib) // (16 * mib)) * 16 * mib)

    @property
    def input_names(self):
        return list(self.graph.inputs)

    @property
    def output_names(self):
        return list(self.graph.outputs)

    def _run(self, x, executor, progress=False, what="run data", label="simulating"):
        g = self.graph
        chunks = batch_chunks(g, model_feeds(g, x, what), self.batch_size)
        if progress:
            from tqdm import tqdm
            chunks = tqdm(chunks, desc=label, unit="batch")
        outs = []
        for c in chunks:
            env = run_program(self.program, c, g.consts, executor)
            outs.append([np.asarray(env[k], np.float32) for k in self.program.outputs])
        return [np.concatenate([o[i] for o in outs]) for i in range(len(g.outputs))]

    def run(self, x, progress=False, device=None, trace=None, trace_png=None):
        """Outputs (list of float32 arrays, like ``onnxruntime.InferenceSession.run(None, …)``) with every VTA
        step executed on ``device`` (a name or a `Device`; default: the one given to `compile`).

        ``trace``: write a Chrome/Perfetto trace JSON of the run to this path — a span per instruction on a track per
        module, token and DRAM waits nested in them, a span per layer on top (`vta.sim.trace`); ``trace_png``: a
        Gantt chart of it. Both need a cycle-accurate device ("verilator"); the functional simulator has no cycles.
        """
        r = self.device_run(device)
        self._last_key = self._key(self.device if device is None else device)
        executor = r.executor
        if trace or trace_png:
            dev = r.runtime.device
            if not hasattr(dev, "record_timelines"):
                raise CompileError(f"trace= records cycles, so it needs device='verilator', not {r.name!r} (the "
                                   f"functional simulator has no cycles)")
            executor = _LabelRuns(executor, dev.record_timelines())
        t = time.perf_counter()
        try:
            out = self._run(x, executor, progress, label=f"running on {r.name}")
        finally:
            if executor is not r.executor:
                r.runtime.device.record_timelines(False)
        if executor is not r.executor:
            from .sim.trace import write_trace_files
            write_trace_files(executor.log, trace, trace_png, title=f"{self.graph.name} on VTA {self.cfg.name}")
        r.last_run_seconds = time.perf_counter() - t
        r.samples_run += len(out[0]) if out and np.ndim(out[0]) else 1
        return out

    def simulate(self, x, progress=False):
        """The same outputs computed by the bit-exact numpy model of the device arithmetic (no device)."""
        return self._run(x, None, progress)

    def run_float(self, x):
        """FP32 outputs of the optimized graph on the host (the reference the quantizer calibrates against)."""
        g = self.graph
        outs = [run_graph(g, c, keep=False) for c in batch_chunks(g, model_feeds(g, x, "run data"), 256)]
        return [np.concatenate([o[name] for o in outs]).astype(np.float32) for name in g.outputs]

    def predict(self, x, progress=False, device=None):
        """``argmax`` over axis 1 of the first output, run on ``device`` (as in `run`)."""
        return self.run(x, progress, device)[0].argmax(axis=1)

    def _measure_error(self, batches):
        """Relative RMS error of every int8 tensor (dequantized) against FP32 on the calibration set."""
        g, num, den = self.graph, {}, {}
        for b in batches[:2]:
            ref = run_graph(g, b)
            env = run_program(self.program, b, g.consts)
            for t, e in self.program.exps.items():
                k = qkey(t)
                if k in env and t in ref:
                    d = (env[k].astype(np.float64) + self.program.offsets.get(t, 0)) * 2.0 ** e - ref[t]
                    num[t] = num.get(t, 0.0) + float(np.sum(d * d))
                    den[t] = den.get(t, 0.0) + float(np.sum(np.asarray(ref[t], np.float64) ** 2))
        self.errors = {t: (num[t] / den[t]) ** 0.5 if den[t] > 0 else 0.0 for t in num}

    def report(self, device=None):
        """A `vta.compiler.report.Report` (``str()`` is a table, ``to_dict()`` JSON-ready) with the statistics of
        the runs on ``device`` (default: the device of the last `run`; none yet: the compile-time device)."""
        key = self._last_key if device is None else self._key(device)
        run = self._runs.get(key) if key is not None else None
        name = run.name if run is not None else _device_name(self.device if device is None else device)
        rep = build_report(self, run, name)
        if self.calibration_audit is not None:
            rep.sections["calibration"] = self.calibration_audit
        elif self.calibration_skipped is not None:
            rep.sections["calibration"] = self.calibration_skipped
        return rep

    def layer_choice(self, name):
        return self.plan.layers.get(name, LayerChoice())
