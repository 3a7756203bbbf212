"""Verilator co-simulation of the whole FPGA design behind its UART: `CosimPort`, a pyserial-like byte port.

Why: the acceptance path of the host link is bytes on a serial line → `UARTBridge` → core → block-RAM DRAM. This
Verilates `FPGATop` (the same component that goes into the bitstream) with a small C++ harness
(``fpga/sim/uart_harness.cpp``) that models the UART at the bit level, so `SerialDevice` drives the simulated
board through the very code that drives a real one. Simulated time advances only while the host waits for
answer bytes (``read``); the port's timeout is therefore counted in clock cycles.

Models are built and cached by `vta.toolchain` like the core alone (same flags; key: SHA-256 of the Verilog,
the harness, the flags and the tool versions) in its ``fpga-cosim`` cache (default
``~/.cache/amaranth-vta/fpga-cosim``).
"""

import ctypes
import os
import time
import weakref
from importlib import resources

from .. import toolchain
from .top import FPGATop

__all__ = ["CosimPort", "build_cosim_model", "CosimBuildError"]

LIB_NAME = "libfpgacosim.so"
HARNESS = "uart_harness.cpp"

CosimBuildError = toolchain.ToolchainError  # the name callers of this module know

_VOID = ctypes.c_void_p
SIGNATURES = {
    "ub_create": (_VOID, [ctypes.c_int]),
    "ub_destroy": (None, [_VOID]),
    "ub_write": (None, [_VOID, ctypes.c_char_p, ctypes.c_size_t]),
    "ub_read": (ctypes.c_size_t, [_VOID, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]),
    "ub_step": (None, [_VOID, ctypes.c_uint64]),
    "ub_cycles": (ctypes.c_uint64, [_VOID]),
    "ub_framing_errors": (ctypes.c_uint64, [_VOID]),
}


def _harness_text():
    return resources.files("vta.fpga").joinpath("sim", HARNESS).read_bytes()


def fpga_verilog(cfg, *, dram_bytes, divisor, frame_timeout=1 << 16):
    """Verilog of `FPGATop` with top module ``fpga_top`` (ports clk, rst, rx, tx, done, busy)."""
    from amaranth.back import verilog
    top = FPGATop(cfg, dram_bytes=dram_bytes, divisor=divisor, frame_timeout=frame_timeout)
    return verilog.convert(top, name="fpga_top", emit_src=False)


def build_cosim_model(cfg, *, dram_bytes, divisor, frame_timeout=1 << 16, progress=True):
    """Path of the shared library simulating `FPGATop` for ``cfg``; built (tens of seconds) or from the cache.

    ``progress`` as for `vta.toolchain.cached_build`. Raises `CosimBuildError` when a tool fails.
    """
    verilog = fpga_verilog(cfg, dram_bytes=dram_bytes, divisor=divisor, frame_timeout=frame_timeout)
    harness = {HARNESS: _harness_text()}
    key = toolchain.content_key(verilog, harness[HARNESS], toolchain.tool_versions(),
                                list(toolchain.VERILATOR_FLAGS + toolchain.CXX_FLAGS + toolchain.MAKE_FLAGS))

    def build(work):
        toolchain.verilate(work, top="fpga_top", verilog=verilog, harness=harness, lib_name=LIB_NAME)

    entry = toolchain.cached_build(toolchain.cache_root("fpga-cosim"), key, build,
                                   label=f"Verilator model of the FPGA design ({cfg.name}, {key[:12]})",
                                   info={"config": cfg.name, "dram_bytes": dram_bytes, "divisor": divisor,
                                         **toolchain.tool_versions()}, progress=progress)
    return os.path.join(entry.path, LIB_NAME)


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
        self._lib = toolchain.load_library(path, SIGNATURES)
        self._h = self._lib.ub_create(divisor)
        self._destroy = weakref.finalize(self, self._lib.ub_destroy, self._h)
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
        """Destroy the model (also done when the port is collected)."""
        self._destroy()
