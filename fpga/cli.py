"""``vta fpga build``: the command-line face of `vta.fpga.build`.

`vta.cli` registers ``fpga build`` from `ARGS`, `HELP` and `handle`; `handle` runs it and returns the exit code;
build failures (does not fit, misses timing, tool errors) are `VTAError`s, which the ``vta`` CLI
prints as one line.
"""

from .boards import BOARDS

__all__ = ["ARGS", "HELP", "handle"]

# (names, options) of each argument, as `vta.cli.arg` returns them
ARGS = [
    (("--board",), dict(required=True, choices=sorted(BOARDS), help="target board")),
    (("--config",), dict(default=None, help="VTA config (preset name or JSON path); default: the board's preset")),
    (("--clock",), dict(type=float, default=None, metavar="MHZ", help="core clock in MHz; default: the board's")),
    (("--dram-kib",), dict(type=int, default=None, metavar="KIB",
                           help="block-RAM DRAM size in KiB (a power of two); default: the board preset's")),
    (("--baud",), dict(type=int, default=115200, help="UART speed of the host link (default 115200)")),
    (("-o", "--output"), dict(default="build", metavar="DIR", help="output folder (default: build)")),
    (("--no-cache",), dict(action="store_true", help="rebuild even if an identical build is cached")),
]
HELP = "build an FPGA bitstream (synthesis, place and route, packing) with the pip-installed open tools"


def handle(args):
    from .build import build
    dram_bytes = None if args.dram_kib is None else args.dram_kib * 1024
    build(args.board, cfg=args.config, clock_mhz=args.clock, out_dir=args.output, dram_bytes=dram_bytes,
          baud=args.baud, use_cache=not args.no_cache)
    return 0
