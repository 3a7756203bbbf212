"""`VerilatorSim`: the cycle-accurate co-simulation of the RTL core, as a `vta.device.Device`.

The core's Verilog (`vta.hw.export.generate_verilog`) is Verilated together with a C++ harness (``harness/``) into a
shared library, cached per design (see `vta.sim.build`). The harness models DRAM behind the core's AXI master port
— fixed read latency, one beat per cycle, several bursts in flight, write strobes, protocol checks (4 KiB crossing,
out-of-range addresses, WLAST) — drives the CSR port and clocks the design entirely in C++. DRAM is the caller's
numpy array itself (zero copy): Python makes one call per run.

A cycle watchdog turns a hang into a `DeadlockError` that names the waiting modules from ``Reg.WAIT``.
"""

import contextlib
import ctypes
import logging
import os
import time

import numpy as np

from ..config import load_config
from ..device import RunStats
from ..errors import DeadlockError, ProgramError
from ..hw.regs import PERF_COUNTERS, WAIT_BITS, Reg
from ..isa.opcodes import MemId, Opcode
from .build import build_model, cached_model_for_source, remember_source, source_key

__all__ = ["VerilatorSim", "HarnessLibrary"]

log = logging.getLogger("vta.sim.verilator")

VH_OK, VH_AXI_ERROR, VH_DEADLOCK, VH_TIMEOUT = 0, 1, 2, 3
INSN_BYTES = 16
QUEUE_NAMES = {"l2g": "load→compute", "g2l": "compute→load", "g2s": "compute→store", "s2g": "store→compute"}
QUEUE_FROM = {"l2g": "load", "g2l": "compute", "g2s": "compute", "s2g": "store"}


class _Params(ctypes.Structure):
    _fields_ = [("max_cycles", ctypes.c_uint64), ("stall_window", ctypes.c_uint64),
                ("read_latency", ctypes.c_uint32), ("write_latency", ctypes.c_uint32)]


class _Result(ctypes.Structure):
    _fields_ = [("cycles", ctypes.c_uint64), ("wait_bits", ctypes.c_uint32), ("pad", ctypes.c_uint32),
                ("read_beats", ctypes.c_uint64), ("write_beats", ctypes.c_uint64),
                ("read_bursts", ctypes.c_uint64), ("write_bursts", ctypes.c_uint64)]


class HarnessLibrary:
    """The C API of one built harness library (``vh_*`` functions) and one model instance of it.

    Usable with any design that has the VTA core's top-level ports (tests drive a small DMA fixture with it).
    """

    def __init__(self, path, trace=None):
        lib = ctypes.CDLL(path)
        lib.vh_create.restype = ctypes.c_void_p
        lib.vh_create.argtypes = [ctypes.c_char_p]
        lib.vh_destroy.argtypes = [ctypes.c_void_p]
        lib.vh_error.restype = ctypes.c_char_p
        lib.vh_error.argtypes = [ctypes.c_void_p]
        lib.vh_csr_read.restype = ctypes.c_uint32
        lib.vh_csr_read.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.vh_run.restype = ctypes.c_int
        lib.vh_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_uint32,
                               ctypes.POINTER(_Params), ctypes.POINTER(_Result)]
        lib.vh_bus_bytes.restype = ctypes.c_int
        lib.vh_has_trace.restype = ctypes.c_int
        lib.vh_flush_trace.argtypes = [ctypes.c_void_p]
        self.lib = lib
        self.path = path
        self.bus_bytes = lib.vh_bus_bytes()
        if trace is not None and not lib.vh_has_trace():
            raise ValueError(f"{path} was built without FST tracing; cannot write {trace}")
        self.handle = lib.vh_create(os.fsencode(trace) if trace is not None else None)

    def close(self):
        if self.handle:
            self.lib.vh_destroy(self.handle)
            self.handle = None

    def __del__(self):
        with contextlib.suppress(AttributeError, TypeError):  # a half-built object, or interpreter shutdown
            self.close()

    def csr_read(self, reg):
        return int(self.lib.vh_csr_read(self.handle, int(reg)))

    def run(self, dram, insn_addr, insn_count, *, max_cycles, stall_window, read_latency, write_latency):
        """Clock one run; returns ``(status, _Result, error message)``. ``dram`` must be a contiguous uint8 array."""
        params = _Params(max_cycles, stall_window, read_latency, write_latency)
        result = _Result()
        status = self.lib.vh_run(self.handle, dram.ctypes.data, dram.size, insn_addr, insn_count,
                                 ctypes.byref(params), ctypes.byref(result))
        return status, result, self.lib.vh_error(self.handle).decode()


def describe_wait(bits):
    """Reg.WAIT bits as words: "load waits for a g2l token (compute→load)", …."""
    parts = []
    for bit, (module, queue) in sorted(WAIT_BITS.items()):
        if bits >> bit & 1:
            parts.append(f"{module} waits for a {queue} token ({QUEUE_NAMES[queue]}; no "
                         f"{QUEUE_FROM[queue]} instruction pushed one)")
    return "; ".join(parts)


class VerilatorSim:
    """A VTA `Device` running the RTL core cycle by cycle in a Verilated model.

    - ``cfg``: a `VTAConfig` or anything `vta.load_config` accepts.
    - ``trace``: path of an FST waveform to write (builds and uses a separate tracing model; slower).
    - ``watchdog_cycles``: a run still not done after this many cycles raises `DeadlockError`.
    - ``stall_window``: cycles in which some module waits on a token (``Reg.WAIT`` ≠ 0) while nothing moves (no AXI
      beat, no GEMM or ALU activity, no stage executing rather than waiting — ``*_BUSY`` counts include token
      stalls) before the run is declared deadlocked.
    - ``dram_latency``: cycles from a read request to its first data beat (one beat per cycle after that).
    - ``build_dir``: the model cache folder (default: see `vta.sim.build.cache_root`).
    - ``verilog``: Verilog text to use instead of ``generate_verilog(cfg)`` (top module ``vta_core``).
    """

    def __init__(self, cfg="default", *, trace=None, watchdog_cycles=50_000_000, stall_window=200_000,
                 dram_latency=16, write_latency=4, build_dir=None, verilog=None):
        self.cfg = load_config(cfg)
        for name, value, low in (("watchdog_cycles", watchdog_cycles, 1), ("stall_window", stall_window, 1024),
                                 ("dram_latency", dram_latency, 1), ("write_latency", write_latency, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer ≥ {low}, not {value!r}")
        self.watchdog_cycles = watchdog_cycles
        self.stall_window = stall_window
        self.dram_latency = dram_latency
        self.write_latency = write_latency
        self.trace = os.fspath(trace) if trace is not None else None
        self.verilog_seconds = 0.0
        tracing = self.trace is not None
        if verilog is None:
            skey = source_key(self.cfg, top="vta_core", trace=tracing)
            self.model = cached_model_for_source(skey, trace=tracing, cache_dir=build_dir)
            if self.model is None:
                from ..hw.export import generate_verilog
                t0 = time.monotonic()
                verilog = generate_verilog(self.cfg, name="vta_core")
                self.verilog_seconds = time.monotonic() - t0
                self.model = build_model(verilog, top="vta_core", bus_bytes=self.cfg.bus_bytes, trace=tracing,
                                         cache_dir=build_dir)
                remember_source(skey, self.model, cache_dir=build_dir)
        else:
            self.model = build_model(verilog, top="vta_core", bus_bytes=self.cfg.bus_bytes, trace=tracing,
                                     cache_dir=build_dir)
        if not self.model.cached:
            log.warning("Verilator model for %s built in %.1f s (cached as %s)", self.cfg.name,
                        self.model.build_seconds, os.path.dirname(self.model.path))
        if self.trace is not None:
            os.makedirs(os.path.dirname(os.path.abspath(self.trace)), exist_ok=True)
        self._lib = HarnessLibrary(self.model.path, trace=self.trace)
        if self._lib.bus_bytes != self.cfg.bus_bytes:
            raise AssertionError(f"model bus {self._lib.bus_bytes} B ≠ config bus {self.cfg.bus_bytes} B")
        self.last = None  # the `_Result` of the last run (AXI beat and burst counts)

    @property
    def build_seconds(self):
        """Seconds this process spent building the model (0.0 when it came from the cache)."""
        return self.model.build_seconds

    def __repr__(self):
        return f"VerilatorSim({self.cfg.name!r}{', trace=' + repr(self.trace) if self.trace else ''})"

    def close(self):
        """Release the model (and close the waveform file)."""
        self._lib.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def csr_read(self, reg):
        return self._lib.csr_read(reg)

    # -- the Device protocol --------------------------------------------------------------------------------------

    def run(self, dram, insn_addr, insn_count):
        """Reset the core, run ``insn_count`` instructions from byte ``insn_addr`` of ``dram`` until done.

        ``dram`` (1-D ``np.uint8``) is read and written in place by the simulated core. Returns `RunStats` with
        cycles and per-module busy/stall counts from the core's counters, and instruction/byte/MAC counts
        decoded on the host. Raises `ProgramError` on a malformed stream or a bad AXI access and `DeadlockError`
        when the core hangs.
        """
        from .dram import check_dram, check_run_args
        start = time.perf_counter()
        dram = check_dram(dram)
        image = check_run_args(dram, insn_addr, insn_count, INSN_BYTES)
        stats = count_program(self.cfg, image)
        bus = self.cfg.bus_bytes
        # The AXI model moves whole bus words; a DRAM whose size is not a multiple of the bus width runs on a
        # padded copy (the only case that is not zero copy).
        mem = dram if dram.size % bus == 0 else np.zeros(-(-dram.size // bus) * bus, np.uint8)
        if mem is not dram:
            mem[:dram.size] = dram
        status, res, message = self._lib.run(
            mem, int(insn_addr), int(insn_count), max_cycles=self.watchdog_cycles, stall_window=self.stall_window,
            read_latency=self.dram_latency, write_latency=self.write_latency)
        if mem is not dram:
            dram[:] = mem[:dram.size]
            if status == VH_OK and mem[dram.size:].any():
                raise ProgramError(f"AXI write of bytes beyond the {dram.size}-byte DRAM (into the last bus word)")
        self.last = res
        if status == VH_AXI_ERROR:
            raise ProgramError(f"{message} (after {res.cycles} cycles)")
        if status in (VH_DEADLOCK, VH_TIMEOUT):
            waits = describe_wait(res.wait_bits)
            why = (f"no progress for {self.stall_window} cycles" if status == VH_DEADLOCK
                   else f"not done after {res.cycles} cycles (watchdog_cycles={self.watchdog_cycles})")
            raise DeadlockError(f"the core hung: {why}; {waits or 'no module reports waiting on a token'}"
                                f"{self._busy_summary()}")
        stats.cycles = self.csr_read(Reg.CYCLES)
        stats.busy = {name: self.csr_read(reg) for name, reg in PERF_COUNTERS["busy"].items()}
        stats.busy.update({name: self.csr_read(reg) for name, reg in PERF_COUNTERS["active"].items()})
        stats.stall = {name: self.csr_read(reg) for name, reg in PERF_COUNTERS["stall"].items()}
        stats.wall_seconds = time.perf_counter() - start
        return stats

    def _busy_summary(self):
        busy = {name: self.csr_read(reg) for name, reg in PERF_COUNTERS["busy"].items()}
        return " (busy cycles: " + ", ".join(f"{k} {v}" for k, v in busy.items()) + ")"


def count_program(cfg, image):
    """`RunStats` counts of the instructions up to the first FINISH, decoded on the host (as the functional
    simulator counts them): instructions per opcode, bytes per buffer, uop iterations, MACs and ALU lane ops.

    Raises `ProgramError` for a malformed instruction or a stream without FINISH, before anything runs.
    """
    from .decode import InsnStream
    stream = InsnStream(cfg, image)
    stats = RunStats(insns={op.name: 0 for op in Opcode},
                     bytes=dict.fromkeys(("insn", "uop", "inp", "wgt", "acc", "out"), 0))
    load_buf = {MemId.UOP.value: ("uop", cfg.uop_elem_bytes), MemId.INP.value: ("inp", cfg.inp_elem_bytes),
                MemId.WGT.value: ("wgt", cfg.wgt_elem_bytes), MemId.ACC.value: ("acc", cfg.acc_elem_bytes),
                MemId.ACC_8BIT.value: ("acc", cfg.out_elem_bytes)}
    for k in range(stream.count):
        stream.check(k)
        op = stream.opcode[k]
        f = stream.fields(k)
        stats.insns[Opcode(op).name] += 1
        stats.bytes["insn"] += INSN_BYTES
        if op == Opcode.FINISH.value:
            return stats
        if op in (Opcode.LOAD.value, Opcode.STORE.value):
            n = f["y_size"] * f["x_size"]
            if op == Opcode.STORE.value:
                stats.bytes["out"] += n * cfg.out_elem_bytes
            elif f["memory_type"] in load_buf:
                buf, size = load_buf[f["memory_type"]]
                stats.bytes[buf] += n * size
            continue
        if f["uop_bgn"] >= f["uop_end"]:
            continue
        iters = f["iter_out"] * f["iter_in"] * (f["uop_end"] - f["uop_bgn"])
        stats.uops += iters
        if op == Opcode.GEMM.value and not f["reset_reg"]:
            stats.macs += iters * cfg.macs_per_cycle
        elif op == Opcode.ALU.value:
            stats.alu_ops += iters * cfg.batch * cfg.block_out
    raise ProgramError(f"no FINISH among the {stream.count} instructions at this insn_addr (a run must end with "
                       f"FINISH)")
