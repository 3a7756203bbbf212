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
import os
import sys
import time

import numpy as np

from .argtypes import integer, positive
from .calib_audit_cli import ARGUMENTS as _AUDIT_ARGUMENTS
from .calib_audit_cli import HELP as _AUDIT_HELP
from .calib_audit_cli import handle as _calib_audit
from .compile_cli import ARGUMENTS as _COMPILE_ARGUMENTS
from .compile_cli import HELP as _COMPILE_HELP
from .compile_cli import handle as _compile
from .config import PRESETS, load_config
from .dse_cli import ARGUMENTS as _DSE_ARGUMENTS
from .dse_cli import HELP as _DSE_HELP
from .dse_cli import handle as _dse
from .errors import VTAError
from .fpga.cli import ARGS as _FPGA_ARGS
from .fpga.cli import HELP as _FPGA_HELP
from .fpga.cli import handle as _fpga_build
from .isa.stages import INSN_BYTES
from .tune_cli import ARGUMENTS as _TUNE_ARGUMENTS
from .tune_cli import HELP as _TUNE_HELP
from .tune_cli import handle as _tune

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

def _read_bytes(path):
    with open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8).copy()


def _write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(np.asarray(data, dtype=np.uint8).tobytes())


def _is_text_program(path):
    return str(path).endswith((".s", ".asm"))


def _read_text(path, what="assembly source"):
    """The UTF-8 text of ``path``; a `VTAError` naming the file and the first bad byte instead of a traceback."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise VTAError(f"{path}: {what} must be UTF-8 text, not bytes like {raw[e.start:e.end]!r} "
                       f"(at byte {e.start})") from None


def _warn(message):
    print(f"vta: warning: {' '.join(message.split())}", file=sys.stderr)


# -- sidecars: which config a binary was assembled for ------------------------------------------------------------
# Instruction and uop words are laid out by the config (field widths follow the buffer depths), so a binary read
# under another config decodes silently into other instructions. The raw words stay upstream-compatible; the
# config travels next to them in ``<file>.json``.

SIDECAR_FORMAT = "amaranth-vta binary 1"


def _sidecar_path(path):
    return f"{path}.json"


def _sha256(data):
    import hashlib
    return hashlib.sha256(np.asarray(data, dtype=np.uint8).tobytes()).hexdigest()


def _write_sidecar(path, cfg, data, kind):
    """Write ``<path>.json``: the config's keys and name, and the digest of the bytes it describes."""
    with open(_sidecar_path(path), "w") as f:
        json.dump({"format": SIDECAR_FORMAT, "kind": kind, "config_name": cfg.name, "config": cfg.to_dict(),
                   "sha256": _sha256(data)}, f, indent=1)
        f.write("\n")


def _check_sidecar(path, cfg, data):
    """`VTAError` if ``<path>.json`` says ``path`` was assembled for a config other than ``cfg``; a warning if
    there is no sidecar (a binary from elsewhere still runs); an error if the sidecar describes other bytes."""
    side = _sidecar_path(path)
    if not os.path.isfile(side):
        _warn(f"{path} has no sidecar {side}, so nothing checks that it was assembled for config {cfg.name} "
              f"(vta asm writes one)")
        return
    try:
        info = json.loads(_read_text(side, "a sidecar"))
        keys, name, digest = info["config"], info["config_name"], info["sha256"]
        want = load_config(keys)
    except (ValueError, KeyError, TypeError, VTAError) as e:
        raise VTAError(f"sidecar {side} is not a valid vta asm sidecar ({e}); delete it or re-assemble {path}") \
            from None
    if digest != _sha256(data):
        raise VTAError(f"sidecar {side} describes other bytes than {path} (its sha256 differs): the file changed "
                       f"after vta asm; delete the sidecar or re-assemble {path}")
    if want != cfg:
        have = cfg.to_dict()
        diff = ", ".join(f"{k} {keys.get(k, '-')} vs {have.get(k, '-')}" for k in sorted(set(keys) | set(have))
                         if keys.get(k) != have.get(k))
        hint = f"--config {name}" if name in PRESETS and load_config(name) == want else f"a config with {keys}"
        raise VTAError(f"{path} was assembled for config {name}, not {cfg.name} ({diff}); run it with {hint}")


# -- run ---------------------------------------------------------------------------------------------------------

@command("run", "run a program on a device: a raw DRAM image in, the final image out",
         arg("--config", default="default", help=CONFIG_HELP),
         arg("--dram", required=True, metavar="IN.bin", help="raw DRAM image (bytes) holding program and data"),
         arg("--insn-addr", required=True, type=integer, metavar="A", help="byte address of the first instruction"),
         arg("--insn-count", required=True, type=integer, metavar="N", help="number of instructions"),
         arg("--out", required=True, metavar="OUT.bin", help="where to write the final DRAM image"),
         arg("--device", default="fsim", help="fsim (default) or verilator"),
         arg("--stats", metavar="STATS.json", help="also write the run statistics as JSON"),
         arg("--no-check", action="store_true",
             help="run without the static check (bounds, tokens, races) that otherwise refuses a bad program"),
         arg("--max-cycles", type=positive("--max-cycles"), metavar="N",
             help="verilator: the run's cycle budget (default: the device's, 10^9 cycles)"),
         arg("--trace", metavar="TRACE.json", help="verilator: write the run's per-instruction timeline as a "
             "Chrome/Perfetto trace (open in ui.perfetto.dev)"),
         arg("--trace-png", metavar="TRACE.png", help="verilator: draw the timeline as a PNG Gantt chart"))
def _run(args):
    from .devices import DEVICES, open_device
    from .errors import DeadlockError
    cfg = load_config(args.config)
    if args.device not in DEVICES:  # before the static check, which would otherwise speak first
        raise VTAError(f"unknown device {args.device!r}; valid devices are {', '.join(DEVICES)}")
    dram = _read_bytes(args.dram)
    _check_sidecar(args.dram, cfg, dram)
    options = {}
    if args.max_cycles is not None:
        if args.device != "verilator":
            raise VTAError(f"--max-cycles counts RTL cycles, so it needs --device verilator, not {args.device}")
        options["max_cycles"] = args.max_cycles
    tracing = args.trace or args.trace_png
    if tracing and args.device != "verilator":
        raise VTAError(f"--trace/--trace-png record cycles, so they need --device verilator, not {args.device} "
                       f"(the functional simulator has no cycles)")
    if not args.no_check:
        _check_before_run(cfg, args.dram, dram, args.insn_addr, args.insn_count)
    device = open_device(args.device, cfg, **options)
    if tracing:
        device.record_timelines()
    start = time.perf_counter()
    try:
        stats = device.run(dram, args.insn_addr, args.insn_count)
    except DeadlockError as e:
        if args.max_cycles is None or "max_cycles=" not in str(e):
            raise
        raise VTAError(f"{e}; that is the --max-cycles {args.max_cycles} budget: raise it if the program needs "
                       f"more cycles") from None
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
    if stats.states:
        from .sim.bottleneck import active_of, describe_states
        print(describe_states(stats.states, stats.cycles, active_of(stats)))
    if tracing:
        from .sim.trace import write_trace_files
        for line in write_trace_files(device.timelines, args.trace, args.trace_png, title=f"{args.dram} on VTA"):
            print(line)
    if args.stats:
        with open(args.stats, "w") as f:
            json.dump(stats.as_dict(), f, indent=2)
    return 0


def _check_before_run(cfg, path, dram, insn_addr, insn_count):
    """`VTAError` with the verifier's first error (and how many more) if the program in ``dram`` is bad.

    A stream that does not fit in DRAM is left to the device, whose message names the fetch range.
    """
    from .isa.verify import ERROR
    end = insn_addr + INSN_BYTES * insn_count
    if insn_addr < 0 or insn_addr % INSN_BYTES or insn_count < 0 or end > dram.size:
        return
    problems = _static_problems(cfg, dram[insn_addr:end], None, dram)
    for p in problems:
        if p.severity != ERROR:
            _warn(f"{path}: {p}")
    errors = [p for p in problems if p.severity == ERROR]
    if errors:
        more = f" (and {len(errors) - 1} more; vta check lists them all)" if len(errors) > 1 else ""
        first = errors[0].message if errors[0].index is None else f"instruction {errors[0].index}: {errors[0].message}"
        raise VTAError(f"{path}: the program at insn_addr={insn_addr} fails the static check, so it was not run: "
                       f"{first}{more}; --no-check runs it anyway")


def _decodable(cfg, image):
    """The instructions of ``image`` up to the first word that does not decode (the verifier reports that one)."""
    from .isa.insn import decode
    out = []
    for k in range(0, image.size - image.size % INSN_BYTES, INSN_BYTES):
        try:
            out.append(decode(cfg, int.from_bytes(image[k:k + INSN_BYTES].tobytes(), "little")))
        except VTAError:
            break
    return out


def _static_problems(cfg, insns, uops, dram=None, dram_size=None):
    """The verifier's problems plus the cross-stage races (`vta.isa.hazard`), sorted by instruction.

    ``dram`` (the DRAM image) gives the DRAM size and lets the race check follow LOAD UOPs.
    """
    from .isa.hazard import find_races
    from .isa.insn import decode_uops
    from .isa.verify import ERROR, Problem, verify
    size = dram.size if dram is not None else dram_size
    problems = verify(cfg, insns, uops, dram_size=size)
    objects = _decodable(cfg, insns) if isinstance(insns, np.ndarray) else list(insns)
    table = uops
    if isinstance(uops, np.ndarray):
        try:
            table = decode_uops(cfg, uops)
        except VTAError:
            table = None  # reported by verify
    problems += [Problem(k, ERROR, m) for k, m in find_races(cfg, objects, table, dram=dram)]
    return sorted(problems, key=lambda p: (p.index is None, -1 if p.index is None else p.index))


# -- asm / disasm / check ----------------------------------------------------------------------------------------

@command("asm", "assemble a text program into an instruction image (and a uop image)",
         arg("source", metavar="PROG.s"),
         arg("-o", "--output", required=True, metavar="PROG.bin",
             help="instruction image (16 bytes each); PROG.bin.json records the config it was assembled for"),
         arg("--uops-out", metavar="UOPS.bin", help="uop image (4 bytes each); needed if the program has .uop lines"),
         arg("--config", default="default", help=CONFIG_HELP))
def _asm(args):
    from .isa.asm import assemble
    cfg = load_config(args.config)
    text = _read_text(args.source)
    try:
        program = assemble(cfg, text)
    except VTAError as e:
        raise VTAError(f"{args.source}: {e}") from None
    if program.uops and not args.uops_out:
        raise VTAError(f"{args.source} has {len(program.uops)} .uop lines; give --uops-out for the uop image")
    image = program.insn_image()
    _write_bytes(args.output, image)
    _write_sidecar(args.output, cfg, image, "instructions")
    print(f"wrote {len(program.insns)} instructions to {args.output} (config {cfg.name}: "
          f"{_sidecar_path(args.output)})")
    if args.uops_out:
        uops = program.uop_image()
        _write_bytes(args.uops_out, uops)
        _write_sidecar(args.uops_out, cfg, uops, "uops")
        print(f"wrote {len(program.uops)} uops to {args.uops_out}")
    return 0


def _read_binary(path, cfg):
    """The bytes of a binary, after checking its sidecar names ``cfg``."""
    data = _read_bytes(path)
    _check_sidecar(path, cfg, data)
    return data


@command("disasm", "print an instruction image (and a uop image) as assembly text",
         arg("image", metavar="PROG.bin"),
         arg("--uops", metavar="UOPS.bin", help="also print this uop image as .uop lines"),
         arg("--config", default="default", help=CONFIG_HELP),
         arg("-n", "--numbers", action="store_true", help="append each instruction's index as a comment"),
         arg("-o", "--output", metavar="PROG.s", help="write the text here instead of stdout"))
def _disasm(args):
    from .isa.asm import disassemble
    cfg = load_config(args.config)
    uops = _read_binary(args.uops, cfg) if args.uops else None
    try:
        text = disassemble(cfg, _read_binary(args.image, cfg), uops, numbers=args.numbers)
    except VTAError as e:
        raise VTAError(f"{args.image}: {e}") from None
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


@command("check", "verify a program statically (bounds, tokens, cross-stage races, FINISH); exit 1 if it has "
                  "errors",
         arg("program", metavar="PROG.bin|PROG.s", help="an instruction image, or assembly text (.s, .asm)"),
         arg("--uops", metavar="UOPS.bin", help="uop image: enables the GEMM/ALU index and SRAM race checks"),
         arg("--config", default="default", help=CONFIG_HELP),
         arg("--dram-bytes", type=positive("--dram-bytes"), metavar="N",
             help="DRAM size: also check that every LOAD/STORE stays inside it"),
         arg("--dram", metavar="IN.bin", help="the DRAM image the program runs on: its size bounds every LOAD/STORE "
                                              "and the race check follows its LOAD UOPs"))
def _check(args):
    from .isa.asm import assemble
    from .isa.verify import ERROR
    if args.dram and args.dram_bytes:
        raise VTAError(f"give --dram or --dram-bytes, not both (the image {args.dram} has its own size)")
    cfg = load_config(args.config)
    uops = _read_binary(args.uops, cfg) if args.uops else None
    dram = _read_bytes(args.dram) if args.dram else None
    if _is_text_program(args.program):
        text = _read_text(args.program)
        try:
            program = assemble(cfg, text)
        except VTAError as e:
            raise VTAError(f"{args.program}: {e}") from None
        insns, uops = program.insns, (uops if uops is not None else program.uops or None)
    else:
        insns = _read_binary(args.program, cfg)
    problems = _static_problems(cfg, insns, uops, dram, args.dram_bytes)
    for p in problems:
        print(f"{args.program}: {p}")
    errors = sum(p.severity == ERROR for p in problems)
    warnings = len(problems) - errors
    count = len(insns) if not isinstance(insns, np.ndarray) else insns.size // INSN_BYTES
    notes = []
    if uops is None:
        notes.append("no uop table: GEMM/ALU indices " + ("not checked" if dram is not None else
                                                          "and SRAM races not checked"))
    if dram is None and args.dram_bytes is None:
        notes.append("no DRAM size: DMA ranges not checked")
    print(f"{args.program}: {count} instructions, {errors} error{'s' * (errors != 1)}, "
          f"{warnings} warning{'s' * (warnings != 1)}" + (f" ({'; '.join(notes)})" if notes else ""))
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
    if args.seed < 0:  # numpy's generators take only non-negative seeds
        raise VTAError(f"--seed must be ≥ 0, not {args.seed}")
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
command("tune", _TUNE_HELP, *_TUNE_ARGUMENTS)(_tune)
command("dse", _DSE_HELP, *_DSE_ARGUMENTS)(_dse)


command("calib-audit", _AUDIT_HELP, *_AUDIT_ARGUMENTS)(_calib_audit)


command("fpga build", _FPGA_HELP, *_FPGA_ARGS)(_fpga_build)


def _verify(argv):
    from .sim.diffcheck import main as verify_main
    return verify_main(argv)


command("verify", "differential check: random programs on fsim and Verilator, compared bit for bit "
                  "(--config CFG --programs N --seed S --jobs J; see 'vta verify -h')")(_verify)
PASSTHROUGH["verify"] = _verify


if __name__ == "__main__":  # ``python -m vta.cli``: after every command above has registered
    sys.exit(main())
