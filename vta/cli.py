"""The ``vta`` command line: run programs on a device, assemble, disassemble and check them, show configs.

Each subcommand is one function registered with `command` (its path, help text and argparse arguments); nested
commands use a space in the path (``"config show"``, ``"hw verilog"``), and the groups are created on demand::

    @command("hw verilog", "write the accelerator as Verilog",
             arg("--config", default="default", help=CONFIG_HELP), arg("-o", "--output", required=True))
    def _hw_verilog(args):
        ...
        return 0

A handler returns the exit code. Bad input — a `VTAError` (bad config, program, file contents), an `OSError`
(missing file) or a usage error — ends the command with exit code 2 (usage) or 1 (everything else) and exactly one
line ``vta: error: <message>`` on stderr, never a traceback.
"""

import argparse
import json
import sys
import time

import numpy as np

from .compile_cli import ARGUMENTS as _COMPILE_ARGUMENTS
from .compile_cli import HELP as _COMPILE_HELP
from .compile_cli import handle as _compile
from .config import load_config
from .errors import VTAError
from .fpga.cli import ARGS as _FPGA_ARGS
from .fpga.cli import HELP as _FPGA_HELP
from .fpga.cli import handle as _fpga_build

__all__ = ["main", "command", "arg", "build_parser", "COMMANDS", "CONFIG_HELP"]

CONFIG_HELP = "a preset name (default, small) or the path of an upstream-style JSON config"

COMMANDS = []  # (path, help, args, handler) in registration order
PASSTHROUGH = {}  # name -> function(argv) for subcommands that parse their own arguments


def arg(*names, **options):
    """The arguments of one ``parser.add_argument`` call, for `command`."""
    return names, options


def command(path, help, *args):
    """Register the decorated function as subcommand ``path`` with argparse arguments ``args`` (see `arg`)."""
    def register(handler):
        COMMANDS.append((path.split(), help, args, handler))
        return handler
    return register


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are exceptions, so `main` can print them as one line."""

    def error(self, message):
        raise _UsageError(message)


def build_parser():
    parser = _Parser(prog="vta", description="The Versatile Tensor Accelerator: programs, simulation, configs.")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"amaranth-vta {__version__}")
    groups = {(): parser.add_subparsers(dest="command", metavar="COMMAND", required=True)}
    for path, help_text, args, handler in COMMANDS:
        for depth in range(1, len(path)):
            prefix = tuple(path[:depth])
            if prefix not in groups:
                group = groups[prefix[:-1]].add_parser(prefix[-1], help=f"{prefix[-1]} commands")
                groups[prefix] = group.add_subparsers(dest="_".join(prefix), metavar="COMMAND", required=True)
        sub = groups[tuple(path[:-1])].add_parser(path[-1], help=help_text, description=help_text)
        for names, options in args:
            sub.add_argument(*names, **options)
        sub.set_defaults(handler=handler)
    return parser


def main(argv=None):
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in PASSTHROUGH:  # a subcommand with its own argument parser
        try:
            return PASSTHROUGH[argv[0]](argv[1:])
        except (VTAError, OSError) as e:
            print(f"vta: error: {' '.join(str(e).split())}", file=sys.stderr)
            return 1
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.handler(args)
    except SystemExit as e:  # --help, --version
        return e.code if isinstance(e.code, int) else 0
    except _UsageError as e:
        print(f"vta: error: {e}", file=sys.stderr)
        return 2
    except (VTAError, OSError) as e:
        message = str(e) if not isinstance(e, OSError) or not e.filename else f"{e.strerror}: {e.filename}"
        print(f"vta: error: {' '.join(message.split())}", file=sys.stderr)
        return 1


# -- helpers -----------------------------------------------------------------------------------------------------

def _int(text):
    """Decimal or 0x hex, as argparse type."""
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a decimal or 0x hex integer") from None


def _read_bytes(path):
    with open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8).copy()


def _write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(np.asarray(data, dtype=np.uint8).tobytes())


def _is_text_program(path):
    return str(path).endswith((".s", ".asm"))


# -- run ---------------------------------------------------------------------------------------------------------

@command("run", "run a program on a device: a raw DRAM image in, the final image out",
         arg("--config", default="default", help=CONFIG_HELP),
         arg("--dram", required=True, metavar="IN.bin", help="raw DRAM image (bytes) holding program and data"),
         arg("--insn-addr", required=True, type=_int, metavar="A", help="byte address of the first instruction"),
         arg("--insn-count", required=True, type=_int, metavar="N", help="number of instructions"),
         arg("--out", required=True, metavar="OUT.bin", help="where to write the final DRAM image"),
         arg("--device", default="fsim", help="fsim (default) or verilator"),
         arg("--stats", metavar="STATS.json", help="also write the run statistics as JSON"))
def _run(args):
    from .devices import open_device
    cfg = load_config(args.config)
    dram = _read_bytes(args.dram)
    device = open_device(args.device, cfg)
    start = time.perf_counter()
    stats = device.run(dram, args.insn_addr, args.insn_count)
    wall = time.perf_counter() - start
    if stats.wall_seconds is None:
        stats.wall_seconds = wall
    _write_bytes(args.out, dram)
    insns = ", ".join(f"{k} {v}" for k, v in stats.insns.items() if v)
    total = sum(stats.insns.values())
    print(f"ran {total} instructions on {args.device} ({cfg.name} config): {insns or 'none'}")
    cycles = "n/a" if stats.cycles is None else str(stats.cycles)
    print(f"MACs {stats.macs}, ALU ops {stats.alu_ops}, cycles {cycles}, wall {wall * 1e3:.1f} ms")
    print(f"wrote {args.out} ({dram.size} bytes)")
    if args.stats:
        with open(args.stats, "w") as f:
            json.dump(stats.as_dict(), f, indent=2)
    return 0


# -- asm / disasm / check ----------------------------------------------------------------------------------------

@command("asm", "assemble a text program into an instruction image (and a uop image)",
         arg("source", metavar="PROG.s"),
         arg("-o", "--output", required=True, metavar="PROG.bin", help="instruction image (16 bytes each)"),
         arg("--uops-out", metavar="UOPS.bin", help="uop image (4 bytes each); needed if the program has .uop lines"),
         arg("--config", default="default", help=CONFIG_HELP))
def _asm(args):
    from .isa.asm import assemble
    cfg = load_config(args.config)
    with open(args.source) as f:
        text = f.read()
    try:
        program = assemble(cfg, text)
    except VTAError as e:
        raise VTAError(f"{args.source}: {e}") from None
    if program.uops and not args.uops_out:
        raise VTAError(f"{args.source} has {len(program.uops)} .uop lines; give --uops-out for the uop image")
    _write_bytes(args.output, program.insn_image())
    print(f"wrote {len(program.insns)} instructions to {args.output}")
    if args.uops_out:
        _write_bytes(args.uops_out, program.uop_image())
        print(f"wrote {len(program.uops)} uops to {args.uops_out}")
    return 0


@command("disasm", "print an instruction image (and a uop image) as assembly text",
         arg("image", metavar="PROG.bin"),
         arg("--uops", metavar="UOPS.bin", help="also print this uop image as .uop lines"),
         arg("--config", default="default", help=CONFIG_HELP),
         arg("-n", "--numbers", action="store_true", help="append each instruction's index as a comment"),
         arg("-o", "--output", metavar="PROG.s", help="write the text here instead of stdout"))
def _disasm(args):
    from .isa.asm import disassemble
    cfg = load_config(args.config)
    uops = _read_bytes(args.uops) if args.uops else None
    try:
        text = disassemble(cfg, _read_bytes(args.image), uops, numbers=args.numbers)
    except VTAError as e:
        raise VTAError(f"{args.image}: {e}") from None
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


@command("check", "verify a program statically (bounds, tokens, FINISH); exit 1 if it has errors",
         arg("program", metavar="PROG.bin|PROG.s", help="an instruction image, or assembly text (.s, .asm)"),
         arg("--uops", metavar="UOPS.bin", help="uop image: enables the GEMM/ALU index checks"),
         arg("--config", default="default", help=CONFIG_HELP))
def _check(args):
    from .isa.asm import assemble
    from .isa.verify import ERROR, verify
    cfg = load_config(args.config)
    uops = _read_bytes(args.uops) if args.uops else None
    if _is_text_program(args.program):
        with open(args.program) as f:
            try:
                program = assemble(cfg, f.read())
            except VTAError as e:
                raise VTAError(f"{args.program}: {e}") from None
        insns, uops = program.insns, (uops if uops is not None else program.uops or None)
    else:
        insns = _read_bytes(args.program)
    problems = verify(cfg, insns, uops)
    for p in problems:
        print(f"{args.program}: {p}")
    errors = sum(p.severity == ERROR for p in problems)
    warnings = len(problems) - errors
    count = len(insns) if not isinstance(insns, np.ndarray) else insns.size // 16
    print(f"{args.program}: {count} instructions, {errors} error{'s' * (errors != 1)}, "
          f"{warnings} warning{'s' * (warnings != 1)}" + ("" if uops is not None else " (no uop table: GEMM/ALU "
                                                          "indices not checked)"))
    return 1 if errors else 0


# -- config ------------------------------------------------------------------------------------------------------

_KIND_TITLES = {"mem": "LOAD/STORE", "gemm": "GEMM", "alu": "ALU", "finish": "FINISH", "uop": "micro-op"}


def config_summary(cfg):
    """The config, its derived quantities and its ISA field table, as a JSON-able dict."""
    buffers = {}
    shapes = {"uop": None, "inp": cfg.inp_shape, "wgt": cfg.wgt_shape, "acc": cfg.acc_shape, "out": cfg.out_shape}
    for b in ("uop", "inp", "wgt", "acc", "out"):
        buffers[b] = {"depth": cfg.depths[b], "elem_bytes": cfg.elem_bytes[b],
                      "elem_shape": shapes[b], "bytes": cfg.depths[b] * cfg.elem_bytes[b]}
    fields = {kind: [{"name": f.name, "offset": f.offset, "width": f.width, "signed": f.signed}
                     for f in fs] for kind, fs in cfg.isa.fields.items()}
    return {"name": cfg.name, "keys": cfg.to_dict(), "batch": cfg.batch, "block_in": cfg.block_in,
            "block_out": cfg.block_out, "macs_per_cycle": cfg.macs_per_cycle, "bus_width": cfg.bus_width,
            "dep_queue_depth": cfg.dep_queue_depth, "buffers": buffers, "fields": fields}


@command("config show", "print a config, its derived quantities and its instruction field layout",
         arg("config", metavar="CFG", help=CONFIG_HELP),
         arg("--json", action="store_true", help="print JSON instead of text"))
def _config_show(args):
    cfg = load_config(args.config)
    info = config_summary(cfg)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    lines = [f"config {cfg.name}", "keys:"]
    lines += [f"  {k:<20} {v}" for k, v in info["keys"].items()]
    lines += ["derived:",
              f"  GEMM core            {cfg.batch}×{cfg.block_in}×{cfg.block_out} (BATCH×BLOCK_IN×BLOCK_OUT), "
              f"{cfg.macs_per_cycle} MACs/cycle",
              f"  bus                  {cfg.bus_width} bits",
              f"  dep queue depth      {cfg.dep_queue_depth} tokens",
              "buffers:               depth  elem bytes  element          total bytes"]
    types = {"uop": "uint32", "inp": "int8", "wgt": "int8", "acc": "int32", "out": "int8"}
    for b, d in info["buffers"].items():
        elem = types[b] + "".join(f"[{n}]" for n in d["elem_shape"] or ())
        lines.append(f"  {b:<18} {d['depth']:>7}  {d['elem_bytes']:>10}  {elem:<16} {d['bytes']:>11}")
    lines.append("instruction fields (bits [msb:lsb], LSB first):")
    for kind, fs in info["fields"].items():
        lines.append(f"  {_KIND_TITLES[kind]}:")
        for f in fs:
            msb = f["offset"] + f["width"] - 1
            lines.append(f"    {f['name']:<16} [{msb}:{f['offset']}]".ljust(32) +
                         f"{f['width']:>2} bit{'s' * (f['width'] != 1)}{', signed' if f['signed'] else ''}")
    print("\n".join(lines))
    return 0


# -- demo --------------------------------------------------------------------------------------------------------

@command("demo", "run the demo: the shipped MNIST CNN compiled onto VTA (accuracy vs FP32 and onnxruntime int8, "
                 "Verilator cycles per image, where each layer ran); --model matmul: one int8 matrix multiply",
         arg("--model", choices=["mnist", "matmul"], default="mnist",
             help="mnist (default): compile the shipped MNIST CNN, quantize it, run the held-out images and one "
                  "image on Verilator for cycles; matmul: one int8 matrix multiply, instruction by instruction"),
         arg("--config", default="default", help=CONFIG_HELP),
         arg("--device", default="fsim", help="fsim (default) or verilator: where the images (mnist) or the "
                                              "program (matmul) run"),
         arg("--images", type=int, default=None, metavar="N",
             help="mnist: evaluate only the first N held-out images (default: all 1,000)"),
         arg("--no-verilator", action="store_true",
             help="mnist: skip the Verilator run of one image (no cycle counts)"),
         arg("--seed", type=int, default=0, help="matmul: seed of the random operands"))
def _demo(args):
    from .demo import main as demo_main
    if args.images is not None and args.images < 1:
        raise VTAError(f"--images must be at least 1, not {args.images}")
    return demo_main(args.model, args.config, args.device, seed=args.seed, images=args.images,
                     verilator=not args.no_verilator)


# -- hardware ----------------------------------------------------------------------------------------------------

@command("hw verilog", "write the VTA core of a config as Verilog (AXI4 master + host registers)",
         arg("--config", default="default", help=CONFIG_HELP),
         arg("-o", "--output", required=True, metavar="VTA.v", help="where to write the Verilog"),
         arg("--name", default="vta_core", help="top module name (default: vta_core)"))
def _hw_verilog(args):
    from .hw.export import generate_verilog
    cfg = load_config(args.config)
    start = time.perf_counter()
    text = generate_verilog(cfg, name=args.name)
    with open(args.output, "w") as f:
        f.write(text)
    print(f"wrote {args.output}: module {args.name}, {len(text.splitlines())} lines, {cfg} "
          f"({time.perf_counter() - start:.1f} s)")
    return 0


command("compile", _COMPILE_HELP, *_COMPILE_ARGUMENTS)(_compile)


command("fpga build", _FPGA_HELP, *_FPGA_ARGS)(_fpga_build)


def _verify(argv):
    from .sim.diffcheck import main as verify_main
    return verify_main(argv)


command("verify", "differential check: random programs on fsim and Verilator, compared bit for bit "
                  "(--config CFG --programs N --seed S --jobs J; see 'vta verify -h')")(_verify)
PASSTHROUGH["verify"] = _verify


if __name__ == "__main__":  # ``python -m vta.cli``: after every command above has registered
    sys.exit(main())
