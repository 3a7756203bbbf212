"""``vta compile``: compile an ONNX model for VTA, optionally evaluate it on a device, write the report.

    vta compile model.onnx --calib calib.npy [--labels y.npy] [--device fsim|verilator] [--eval data.npz]
                [--report report.json] [--config default] [--no-search] [--no-refine] [--first-layer-cpu]
                [--no-calib-filter]

``--calib``: a .npy array of input samples, or a .npz with ``x`` (and optional ``y`` labels). ``--eval``: a .npz
with ``x`` and ``y``: the held-out samples are run on the device and FP32 / VTA int8 accuracy printed.

For `vta.cli`: ``command("compile", HELP, *ARGUMENTS)(handle)``.
"""

import sys

import numpy as np

from .api import compile as vta_compile
from .argtypes import positive
from .errors import VTAError

__all__ = ["HELP", "ARGUMENTS", "handle"]

HELP = "compile an ONNX model onto VTA (quantize, partition, run, report)"

ARGUMENTS = [
    (("model",), dict(help="the ONNX model file")),
    (("--calib",), dict(required=True, help="calibration inputs: .npy array, or .npz with x (and y labels)")),
    (("--labels",), dict(help="calibration labels (.npy) for the quantization search")),
    (("--config",), dict(default="default", help="a preset name (default, small) or an upstream-style JSON config")),
    (("--device",), dict(default="fsim", help="fsim (default) or verilator")),
    (("--eval",), dict(help=".npz with x and y: evaluate FP32 and VTA int8 accuracy on these samples")),
    (("--limit",), dict(type=positive("--limit"), default=0, help="evaluate only the first N samples of --eval")),
    (("--report",), dict(help="write the per-layer report as JSON here")),
    (("--no-search",), dict(action="store_true", help="skip the per-layer quantization search")),
    (("--no-refine",), dict(action="store_true", help="search without empirical bias correction and fitted weight "
                                                        "rounding")),
    (("--first-layer-cpu",), dict(action="store_true", help="keep the first conv/dense in float on the CPU")),
    (("--no-calib-filter",), dict(action="store_true", help="keep every calibration sample (by default, with labels, "
                                                            "likely mislabeled / OOD ones are left out: vta "
                                                            "calib-audit shows which)")),
    (("--quiet",), dict(action="store_true", help="no progress bars")),
]


def load_samples(path, what):
    """``(x, y or None)`` from a .npy array or a .npz holding x (and y labels); one-line errors for bad files."""
    try:
        data = np.load(path)
    except (OSError, ValueError, EOFError) as e:  # EOFError: an empty or truncated file
        raise VTAError(f"{what} file {path!r} cannot be read as .npy/.npz: {e}") from None
    if isinstance(data, np.ndarray):
        return data, None
    keys = list(data.keys())
    xk = next((k for k in ("x", "inputs", "input", "images") if k in keys), keys[0] if len(keys) == 1 else None)
    if xk is None:
        raise VTAError(f"{what} file {path!r} must hold an array named x (has {keys})")
    yk = next((k for k in ("y", "labels", "label") if k in keys), None)
    return data[xk], (data[yk] if yk else None)


def handle(args):
    x, y = load_samples(args.calib, "--calib")
    if args.labels:
        y, _ = load_samples(args.labels, "--labels")
    progress = not args.quiet
    print(f"compiling {args.model} for VTA config {args.config} ({len(x)} calibration samples)", file=sys.stderr)
    cm = vta_compile(args.model, config=args.config, calibration=x, labels=y, device=args.device,
                     search=not args.no_search, refine=not args.no_refine, first_layer_host=args.first_layer_cpu,
                     progress=progress, calibration_filter=False if args.no_calib_filter else None)
    if args.eval:
        xe, ye = load_samples(args.eval, "--eval")
        if args.limit:
            xe = xe[:args.limit]
            ye = None if ye is None else ye[:args.limit]
        fp = cm.run_float(xe)[0]
        out = cm.run(xe, progress=progress)[0]
        if ye is not None and out.ndim == 2:
            print(f"FP32 accuracy     {100 * np.mean(fp.argmax(1) == ye):6.2f} %  ({len(xe)} samples)")
            print(f"VTA int8 accuracy {100 * np.mean(out.argmax(1) == ye):6.2f} %  (device {args.device})")
        rel = float(np.sqrt(np.mean((out - fp) ** 2) / max(np.mean(fp ** 2), 1e-30)))
        print(f"VTA int8 vs FP32: relative RMS error {100 * rel:.2f} %")
    rep = cm.report()
    print(rep)
    if args.report:
        rep.to_json(args.report)
        print(f"report written to {args.report}", file=sys.stderr)
    return 0
