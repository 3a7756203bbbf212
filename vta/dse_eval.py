"""`Evaluator`: what `vta dse` measures for one config — Yosys cells, the model's cycles on the RTL, Fmax.

Three independent jobs per config, each a picklable method call that a process pool or a Ray worker runs:

- ``synth``: `vta.fpga.synth.synth_utilisation` — LUT/FF/block-RAM/DSP of the board design (minutes);
- ``cycles``: tune the model's layer schedules on the Verilated RTL (`vta.tune_cli.tune_tasks`, ``trials`` per
  shape; 0 keeps the heuristic schedules), compile the model for the config with that log (`vta.compile`), run one
  input on the Verilator device within a cycle budget and check its output against the bit-exact simulation;
- ``pnr``: `vta.fpga.build` (place and route) for the Fmax; only for the few configs the sweep chooses.

Each returns a dict of plain values. Bad input for a config (the model does not compile for it, a design that
does not fit) is a `VTAError`, which the sweep records as that config's reason.

Cycles are measured with the quantizer's search off (``search=False``): the search may move layers to the host
depending on accuracy, which would compare configs on different work; the default plan keeps every layer that
VTA can run on VTA, so the cycles compare like for like.
"""

import dataclasses
import hashlib
import os

import numpy as np

from .errors import VTAError

__all__ = ["Evaluator", "resolve_model", "SHIPPED"]

SHIPPED = ("mnist", "digits")


def resolve_model(model):
    """``(onnx path, name)`` of ``model``: a shipped model name (`SHIPPED`) or an ONNX file."""
    if model in SHIPPED:
        from .compiler.datasets import model_path
        return model_path(model), model
    if not os.path.isfile(str(model)):
        raise VTAError(f"--model must be an ONNX file or a shipped model ({', '.join(SHIPPED)}), not {model!r} "
                       f"(no such file)")
    return str(model), os.path.splitext(os.path.basename(str(model)))[0]


def _file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _close_tuning_runtimes():
    """Close the runtimes the in-process measurer keeps per config (a Verilator model and 256 MiB of DRAM each):
    a worker evaluates many configs and would otherwise hold them all."""
    from .jit.tune import measure
    for rt in measure._RUNTIMES.values():
        rt.close()
    measure._RUNTIMES.clear()


@dataclasses.dataclass
class Evaluator:
    """The real measurements. ``model``: shipped name or ONNX path; ``calib``: an ``.npy`` of input samples for an
    ONNX file (a shipped model uses its training images); ``work``: where tuning logs and P&R builds go."""
    model: str
    board: str
    work: str
    trials: int = 8
    calib: str = None
    calib_images: int = 100
    max_cycles: int = 10 ** 8
    dram_bytes: int = None
    clock_mhz: float = None

    def fingerprint(self, kind):
        """What a cached result of ``kind`` depends on besides the config (a changed one is measured again)."""
        from importlib import metadata
        try:
            version = metadata.version("amaranth-vta")
        except metadata.PackageNotFoundError:
            version = "unknown"
        base = {"version": version, "board": self.board, "dram_bytes": self.dram_bytes}
        if kind == "cycles":
            path, _ = resolve_model(self.model)
            return dict(base, model=_file_digest(path), trials=self.trials, calib_images=self.calib_images,
                        calib=_file_digest(self.calib) if self.calib else None, max_cycles=self.max_cycles)
        if kind == "pnr":
            return dict(base, clock_mhz=self.clock_mhz)
        return base

    # -- the three jobs --------------------------------------------------------------------------------------------

    def synth(self, keys, name):
        from .config import VTAConfig
        from .fpga.synth import synth_utilisation
        cfg = VTAConfig.from_dict(keys, name=name)
        r = synth_utilisation(self.board, cfg, dram_bytes=self.dram_bytes, clock_mhz=self.clock_mhz)
        u = r["utilization"]
        return {"lut": u["lut"]["used"], "ff": u["ff"]["used"], "bram": u["bram"]["used"], "dsp": u["dsp"]["used"],
                "percent": {k: v["percent"] for k, v in u.items()}, "fits": r["fits"], "cells": r["cells"],
                "synth_seconds": r["seconds"]}

    def _data(self):
        path, name = resolve_model(self.model)
        if name in SHIPPED and self.model in SHIPPED:
            from .compiler.datasets import load
            xtr, _, xte, _ = load(name)
            return path, xtr[:self.calib_images], xte[:1]
        if self.calib is None:
            raise VTAError(f"{path}: an ONNX model needs --calib X.npy (input samples for the int8 calibration; "
                           f"the first one is the measured input)")
        x = np.load(self.calib)
        return path, x[:self.calib_images], x[:1]

    def cycles(self, keys, name):
        import time

        from .api import compile as vta_compile
        from .config import VTAConfig
        from .devices import open_device
        cfg = VTAConfig.from_dict(keys, name=name)
        path, calib, x = self._data()
        t0 = time.monotonic()
        log = None
        tuned = 0
        if self.trials > 0:
            from .jit.tune import InlineMeasurer
            from .tune_cli import model_tasks, tune_tasks
            os.makedirs(os.path.join(self.work, "tune"), exist_ok=True)
            log = os.path.join(self.work, "tune", f"{name}.jsonl")
            tasks = model_tasks(path, cfg)
            measurer = InlineMeasurer()
            try:
                tune_tasks(cfg, tasks, measurer, self.trials, [log], progress=False)
            finally:
                measurer.close()
                _close_tuning_runtimes()
            tuned = len(tasks)
        tune_s = time.monotonic() - t0
        dev = open_device("verilator", cfg, max_cycles=self.max_cycles)
        try:
            with vta_compile(path, config=cfg, calibration=calib, search=False, tuning_log=log) as cm:
                y = cm.run(x, device=dev)[0]
                rep = cm.report(device=dev)
                exact = bool(np.array_equal(y, cm.simulate(x)[0]))
                summary = rep.summary
        finally:
            dev.close()
        if summary.get("cycles") is None:
            raise VTAError(f"{name}: the Verilator run reported no cycles")
        return {"cycles": int(summary["cycles"]), "exact": exact, "vta_layers": summary["vta_layers"],
                "cpu_layers": summary["cpu_layers"], "tuned_layers": tuned, "tune_seconds": round(tune_s, 1),
                "cycles_seconds": round(time.monotonic() - t0, 1)}

    def pnr(self, keys, name):
        import json

        from .config import VTAConfig
        from .fpga.boards import get_board
        from .fpga.build import REPORT_NAME, FPGATimingError, build, toolchain_versions
        cfg = VTAConfig.from_dict(keys, name=name)
        out = os.path.join(self.work, "pnr", name)
        board = get_board(self.board)
        clock = float(board.default_clock_mhz if self.clock_mhz is None else self.clock_mhz)
        report = None
        try:   # a build that missed timing is not cached by vta.fpga.build, but its report has the Fmax
            with open(os.path.join(out, REPORT_NAME)) as f:
                old = json.load(f)
            if (old.get("config"), old.get("clock_mhz"), old.get("dram_bytes"), old.get("toolchain")) == \
                    (cfg.to_dict(), clock, self.dram_bytes, toolchain_versions()):
                report = old
        except (OSError, ValueError):
            pass
        if report is None:
            try:
                report = build(self.board, cfg, clock_mhz=clock, out_dir=out, dram_bytes=self.dram_bytes,
                               progress=False).report
            except FPGATimingError:   # Fmax is what we want; the report is written before the error
                with open(os.path.join(out, REPORT_NAME)) as f:
                    report = json.load(f)
        u = report["utilization"]
        return {"fmax_mhz": report["fmax_mhz"], "timing_met": report["timing_met"], "clock_mhz": report["clock_mhz"],
                "pnr_lut": u.get("lut", {}).get("used"), "pnr_bram": u.get("bram", {}).get("used"),
                "pnr_seconds": report["seconds"].get("place and route")}
