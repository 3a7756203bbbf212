"""``vta calib-audit``: rank the samples of a calibration set by a C-score proxy (`vta.quant.cscore`) and show
which ones look mislabeled or out of distribution — the same audit `vta.compile` runs before quantizing.

    vta calib-audit model.onnx --calib x.npy [--labels y.npy] [--png worst.png] [--top 20] [--k 10]
                    [--fraction F] [--checkpoints a.onnx b.onnx ...]

For `vta.cli`: ``command("calib-audit", HELP, *ARGUMENTS)(handle)``.
"""

import argparse
import sys
import warnings

from .compile_cli import _load
from .compiled import model_feeds
from .compiler.onnx_import import from_onnx, load_onnx
from .compiler.passes import optimize
from .quant.cscore import CalibrationFilter, K, audit_calibration, resolve_filter

__all__ = ["HELP", "ARGUMENTS", "handle"]

HELP = "rank calibration samples by a C-score proxy: the most irregular (mislabeled / out-of-distribution) ones"


def _positive(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, not {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, not {v}")
    return v


def _fraction(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--fraction must be a number, not {text!r}") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"--fraction must be in (0, 1), not {v}")
    return v


ARGUMENTS = [
    (("model",), dict(help="the ONNX model file")),
    (("--calib",), dict(required=True, help="calibration inputs: .npy array, or .npz with x (and y labels)")),
    (("--labels",), dict(help="calibration labels (.npy): k-NN label agreement instead of density")),
    (("--png",), dict(help="write a grid of the most irregular samples here (image inputs)")),
    (("--top",), dict(type=_positive, default=10, help="how many samples to list (default 10)")),
    (("--k",), dict(type=_positive, default=K, help=f"neighbours per sample (default {K})")),
    (("--fraction",), dict(type=_fraction, help="leave out this share instead of the a-priori thresholds")),
    (("--checkpoints",), dict(nargs="+", help="ONNX checkpoints of the same model: training-statistics proxy")),
]


def handle(args):
    x, y = _load(args.calib, "--calib")
    if args.labels:
        y, _ = _load(args.labels, "--labels")
    g = from_onnx(load_onnx(args.model))
    optimize(g)
    feeds = model_feeds(g, x, "--calib")
    filt = resolve_filter(CalibrationFilter(fraction=args.fraction, k=args.k, top=args.top,
                                            checkpoints=tuple(args.checkpoints or ())), y is not None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        audit = audit_calibration(g, feeds, y, filt)
    for w in caught:
        print(f"vta: warning: {w.message}", file=sys.stderr)
    if args.png:
        audit.save_png(args.png)
    print(audit)
    return 0
