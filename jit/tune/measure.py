"""Measuring points: run the JIT operator on random int8 data on the cycle-accurate RTL and read the cycles.

Cycles on Verilator are exact and independent of host load, so measurements parallelise freely: `LocalMeasurer`
runs them in a process pool (one Verilator model per worker process, opened on first use and kept), `RayMeasurer`
on a Ray cluster. `measure_point` is the one function both run; with ``check`` it also runs the same call on the
functional simulator and says whether the outputs agree bit for bit.
"""

import concurrent.futures
import multiprocessing
import time

import numpy as np

from ...errors import VTAError
from .layout import apply_layout
from .space import Point
from .task import Task

__all__ = ["measure_point", "run_point", "LocalMeasurer", "InlineMeasurer", "RayMeasurer", "TuneError",
           "make_measurer", "connect_ray"]


class TuneError(VTAError):
    """Tuning cannot go on: an unreachable cluster, a refused log, a measurement that failed everywhere."""


_RUNTIMES = {}   # (config json, device) → Runtime, per process


def _runtime(cfg, device):
    from ...config import VTAConfig
    from ..runtime import Runtime
    key = (tuple(sorted(cfg.items())), device)
    rt = _RUNTIMES.get(key)
    if rt is None:
        rt = _RUNTIMES[key] = Runtime(VTAConfig.from_dict(cfg, name="tune"), device, dram_bytes=256 << 20,
                                      verify=False)
    return rt


def task_data(task, seed):
    """Random int8 operands and int32 bias of ``task`` (a fixed ``seed``, so fsim and Verilator see the same) and
    a shift that keeps the outputs away from saturation (so a wrong result shows). The bias and the shift are
    there because compiled layers have both: their ALU epilogue (bias add, shift, clips) is part of the cycles a
    schedule must be chosen for."""
    rng = np.random.default_rng(seed)
    if task.op == "dense":
        x = rng.integers(-128, 128, (task.n, task.c), dtype=np.int8)
        w = rng.integers(-128, 128, (task.o, task.c), dtype=np.int8)
    else:
        x = rng.integers(-128, 128, (task.n, task.c, task.h, task.w), dtype=np.int8)
        w = rng.integers(-128, 128, (task.o, task.c, task.kh, task.kw), dtype=np.int8)
    k = task.c * task.kh * task.kw
    shift = int(np.clip(round(np.log2(np.sqrt(k) * 5500 / 48)), 1, 31))
    bias = rng.integers(-(1 << 12), 1 << 12, task.o, dtype=np.int32)
    return x, w, bias, shift


def run_point(rt, task, point, x, w, shift, bias=None):
    """``(y, stats)`` of ``task`` under ``point`` on runtime ``rt`` (the folded layout is applied here)."""
    s = point.schedule
    if task.op == "dense":
        return rt.dense(x, w, bias, shift=shift, relu=False, schedule=s)
    x, w, stride, padding = apply_layout(point.layout, x, w, task.stride, task.padding)
    return rt.conv2d(x, w, bias, stride=stride, padding=padding, shift=shift, relu=False, schedule=s)


def measure_point(cfg, task, point, seed=0, device="verilator", check=False):
    """Measure one point. ``cfg`` is the config's key dict, ``task``/``point`` their JSON (all picklable).
    Returns {"cycles", "seconds", "exact" (None without ``check``), "error" (None, or why it failed)}."""
    task, point = Task.from_json(task), Point.from_json(point)
    t0 = time.perf_counter()
    try:
        x, w, bias, shift = task_data(task, seed)
        y, stats = run_point(_runtime(cfg, device), task, point, x, w, shift, bias)
        exact = None
        if check:
            y_ref, _ = run_point(_runtime(cfg, "fsim"), task, point, x, w, shift, bias)
            exact = bool(np.array_equal(y, y_ref))
        return {"cycles": stats.cycles, "seconds": time.perf_counter() - t0, "exact": exact, "error": None}
    except Exception as e:  # noqa: BLE001 — a failing point is a measurement result, recorded with its reason
        return {"cycles": None, "seconds": time.perf_counter() - t0, "exact": None,
                "error": f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"}


def _args(cfg, task, points, seed, device, check):
    return [(cfg.to_dict(), task.to_json(), p.to_json(), seed, device, check) for p in points]


class InlineMeasurer:
    """Measurements one after another in this process (tests, or one core)."""

    def __init__(self, device="verilator"):
        self.device = device

    def measure(self, cfg, task, points, seed=0, check=False):
        return [measure_point(*a) for a in _args(cfg, task, points, seed, self.device, check)]

    def close(self):
        pass


class LocalMeasurer:
    """A local process pool of ``jobs`` workers (default: the CPU count), each with its own simulator."""

    def __init__(self, jobs=None, device="verilator"):
        self.device = device
        ctx = multiprocessing.get_context("spawn")   # no inherited simulator state
        self.pool = concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)

    def measure(self, cfg, task, points, seed=0, check=False):
        return list(self.pool.map(measure_point, *zip(*_args(cfg, task, points, seed, self.device, check))))

    def close(self):
        self.pool.shutdown(cancel_futures=True)


def connect_ray(address, error=None):
    """The ``ray`` module, connected to the cluster at ``address``; ``error`` (default `TuneError`) is raised with
    a one-line message when Ray is not installed or the cluster cannot be reached. Shared by the tuner and
    `vta dse`."""
    error = error or TuneError
    try:
        import ray
    except ImportError:
        raise error("--ray needs Ray: pip install 'amaranth-vta[tune]' (or pip install ray)") from None
    try:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, logging_level="ERROR")
    except Exception as e:  # noqa: BLE001 — Ray raises ConnectionError, RuntimeError, ValueError…
        raise error(f"cannot reach the Ray cluster at {address!r}: "
                    f"{' '.join(str(e).split())[:200] or type(e).__name__}") from None
    return ray


class RayMeasurer:
    """Measurements as Ray tasks on the cluster at ``address`` ("auto", "ray://host:10001", "host:6379")."""

    def __init__(self, address, device="verilator"):
        self.device = device
        self.ray = connect_ray(address, TuneError)
        self.remote = self.ray.remote(measure_point)

    def measure(self, cfg, task, points, seed=0, check=False):
        refs = [self.remote.remote(*a) for a in _args(cfg, task, points, seed, self.device, check)]
        return self.ray.get(refs)

    def close(self):
        self.ray.shutdown()


def make_measurer(ray_address=None, jobs=None, device="verilator"):
    """`RayMeasurer` when a cluster address is given, else a `LocalMeasurer` (inline for ``jobs`` = 1)."""
    if ray_address:
        return RayMeasurer(ray_address, device)
    if jobs == 1:
        return InlineMeasurer(device)
    return LocalMeasurer(jobs, device)
