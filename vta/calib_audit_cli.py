"""``vta calib-audit``: rank the samples of a calibration set by a C-score proxy (`vta.quant.cscore`) and show
which ones look mislabeled or out of distribution — the same audit `vta.compile` runs before quantizing.

    vta calib-audit model.onnx --calib x.npy [--labels y.npy] [--png worst.png] [--top 20] [--k 10]
                    [--fraction F] [--checkpoints a.onnx b.onnx ...]

For `vta.cli`: ``command("calib-audit", HELP, *ARGUMENTS)(handle)``.
"""

import sys
import warnings

from .argtypes import fraction, positive
from .compile_cli import load_samples
from .compiled import model_feeds
from .compiler.onnx_import import from_onnx, load_onnx
from .compiler.passes import optimize
from .quant.cscore import CalibrationFilter, K, audit_calibration, resolve_filter

__all__ = ["HELP", "ARGUMENTS", "handle"]

HELP = "rank calibration samples by a C-score proxy: the most irregular (mislabeled / out-of-distribution) ones"


ARGUMENTS = [
    (("model",), dict(help="the ONNX model file")),
    (("--calib",), dict(required=True, help="calibration inputs: .npy array, or .npz with x (and y labels)")),
    (("--labels",), dict(help="calibration labels (.npy): k-NN label agreement instead of density")),
    (("--png",), dict(help="write a grid of the most irregular samples here (image inputs)")),
    (("--top",), dict(type=positive("--top"), default=10, help="how many samples to list (default 10)")),
    (("--k",), dict(type=positive("--k"), default=K, help=f"neighbours per sample (default {K})")),
    (("--fraction",), dict(type=fraction("--fraction"),
                           help="leave out this share instead of the a-priori thresholds")),
    (("--checkpoints",), dict(nargs="+", help="ONNX checkpoints of the same model: training-statistics proxy")),
]


def handle(args):
    x, y = load_samples(args.calib, "--calib")
    if args.labels:
        y, _ = load_samples(args.labels, "--labels")
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
