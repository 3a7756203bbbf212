"""``vta dse``: which VTA config to build for a model on an FPGA, as a measured Pareto front (`vta.dse`).

    vta dse --model MODEL --board BOARD -o DIR [--blocks 2,3] [--batches 0] [--bus 64,128] [--buffers 0.5,1]
            [--trials N] [--pnr N] [--jobs J | --ray ADDRESS] [--calib X.npy] [--max-util PCT]

MODEL: a shipped model (``mnist``, ``digits``) or an ONNX file (then ``--calib``). Writes ``DIR/pareto.csv``,
``DIR/pareto.png``, ``DIR/dse.json``; every finished measurement is kept in ``DIR/cache`` so a re-run resumes.

For `vta.cli`: ``command("dse", HELP, *ARGUMENTS)(handle)``.
"""

import sys

from .argtypes import positive, whole
from .dse import DEFAULT_AXES
from .errors import VTAError

__all__ = ["HELP", "ARGUMENTS", "handle"]

HELP = "design-space exploration: sweep configs for a model on a board, measure, write the Pareto front"


def _ints(flag):
    def parse(text):
        try:
            return tuple(int(v) for v in text.split(","))
        except ValueError:
            import argparse
            raise argparse.ArgumentTypeError(f"{flag} must be comma-separated integers, not {text!r}") from None
    return parse


def _factors(flag):
    """Buffer size factors (0.5, 1, 2 …) → log2 steps; a factor (not a signed step) so no value starts with '-',
    which argparse would take for an option."""
    def parse(text):
        import argparse
        import math
        steps = []
        for v in text.split(","):
            try:
                f = float(v)
            except ValueError:
                f = 0.0
            k = math.log2(f) if f > 0 else 0.5
            if k != int(k):
                raise argparse.ArgumentTypeError(f"{flag} must be comma-separated powers of two (0.25, 0.5, 1, 2 …), "
                                                 f"not {v!r}")
            steps.append(int(k))
        return tuple(steps)
    return parse


def _csv(values):
    return ",".join(map(str, values))


ARGUMENTS = [
    (("--model",), dict(required=True, help="a shipped model (mnist, digits) or an ONNX file")),
    (("--board",), dict(required=True, help="the FPGA board (ulx3s-85f, icebreaker)")),
    (("-o", "--output"), dict(required=True, metavar="DIR", help="where pareto.csv, pareto.png and the cache go")),
    (("--blocks",), dict(type=_ints("--blocks"), default=DEFAULT_AXES["block"], metavar="L,…",
                         help=f"log2 GEMM block sizes (default {_csv(DEFAULT_AXES['block'])})")),
    (("--batches",), dict(type=_ints("--batches"), default=DEFAULT_AXES["batch"], metavar="L,…",
                          help=f"log2 batch sizes (default {_csv(DEFAULT_AXES['batch'])})")),
    (("--bus",), dict(type=_ints("--bus"), default=DEFAULT_AXES["bus"], metavar="BITS,…",
                      help=f"AXI bus widths in bits (default {_csv(DEFAULT_AXES['bus'])})")),
    (("--buffers",), dict(type=_factors("--buffers"), default=DEFAULT_AXES["buffers"], metavar="F,…",
                          help="factors (powers of two) applied to the board preset's four buffer sizes "
                               f"(default {_csv(2.0 ** k for k in DEFAULT_AXES['buffers'])})")),
    (("--trials",), dict(type=whole("--trials"), default=8,
                         help="tuning trials per layer shape and config (default 8; 0: heuristic schedules)")),
    (("--pnr",), dict(type=whole("--pnr"), default=1,
                      help="place and route this many front points for Fmax: the chosen one, then the preset, then "
                           "the front by cycles (default 1; each takes 20–40 min)")),
    (("--max-util",), dict(type=float, default=80.0, metavar="PCT",
                           help="the chosen point uses at most this percent of every resource (default 80)")),
    (("--jobs",), dict(type=positive("--jobs"), default=None, help="local worker processes (default: CPU count)")),
    (("--ray",), dict(default=None, metavar="ADDRESS", help="run the measurements on the Ray cluster at ADDRESS")),
    (("--calib",), dict(default=None, metavar="X.npy", help="input samples for an ONNX model's calibration")),
    (("--max-cycles",), dict(type=positive("--max-cycles"), default=10 ** 8, metavar="N",
                             help="Verilator cycle budget of the model run (default 10^8)")),
]


def handle(args):
    from .dse import run_dse
    if not 0 < args.max_util <= 100:
        raise VTAError(f"--max-util must be a percentage in (0, 100], not {args.max_util}")
    axes = {"block": args.blocks, "batch": args.batches, "bus": args.bus, "buffers": args.buffers}
    run_dse(args.model, args.board, args.output, axes=axes, trials=args.trials, jobs=args.jobs, ray=args.ray,
            pnr=args.pnr, max_util=args.max_util, calib=args.calib, max_cycles=args.max_cycles,
            progress=sys.stderr.isatty())
    return 0
