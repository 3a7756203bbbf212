"""Build a board preset's bitstream and check that it fits and meets its clock (the CI check behind the slow test).

    python -m vta.fpga.check_build [--board ulx3s-85f] [--clock MHZ] [-o DIR]

Prints the utilization/Fmax table and exits 0 only if the build fit and met timing (exit 1 otherwise, with the
reason). Takes several minutes on 2 cores for the ULX3S preset (see fpga/README.md for measured times).
"""

import argparse
import sys
import tempfile
import time

from ..errors import VTAError
from .boards import BOARDS
from .build import build


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m vta.fpga.check_build", description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="ulx3s-85f", choices=sorted(BOARDS))
    parser.add_argument("--clock", type=float, default=None)
    parser.add_argument("-o", "--output", default=None, help="output folder (default: a temporary one)")
    parser.add_argument("--no-cache", action="store_true")
    args = parser.parse_args(argv)
    out = args.output or tempfile.mkdtemp(prefix="vta-fpga-")
    start = time.monotonic()
    try:
        result = build(args.board, clock_mhz=args.clock, out_dir=out, use_cache=not args.no_cache)
    except VTAError as e:
        print(f"FAIL after {time.monotonic() - start:.0f} s: {e}", file=sys.stderr)
        return 1
    report = result.report
    ok = report["timing_met"]
    print(f"{'PASS' if ok else 'FAIL'}: {args.board} bitstream in {time.monotonic() - start:.0f} s, "
          f"Fmax {report['fmax_mhz']} MHz for {report['clock_mhz']} MHz ({out})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
