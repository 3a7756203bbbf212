"""`VerilatorSim`: the cycle-accurate co-simulation of the RTL core, as a `vta.device.Device`.

The core's Verilog (`vta.hw.export.generate_verilog`) is Verilated together with a C++ harness (``harness/``) into a
shared library, cached per design (see `vta.sim.build`). The harness models DRAM behind the core's AXI master port
— fixed read latency, one beat per cycle, several bursts in flight, write strobes, protocol checks (4 KiB crossing,
out-of-range addresses, WLAST) — drives the CSR port and clocks the design entirely in C++. DRAM is the caller's
numpy array itself (zero copy): Python makes one call per run.

The core itself rejects invalid programs (docs/semantics.md's errors): it halts with a fault code and the
offending instruction's index in ``Reg.FAULT``/``Reg.FAULT_INDEX``, which `run` raises as the same error class as
`vta.sim.FunctionalSim` (`ProgramError`, or `DeadlockError` for a token wait program order cannot satisfy). Every DMA
is confined to a window (``Reg.DMA_BASE``/``DMA_LIMIT``; by default the whole DRAM array). A run is also bounded by a
cycle budget (``max_cycles``), whose exhaustion raises a `DeadlockError` naming the budget and the waiting modules.
"""

import ctypes
import os
import time
import weakref

import numpy as np

from .. import toolchain
from ..config import load_config
from ..device import Closing
from ..errors import DeadlockError, ProgramError
from ..hw.regs import WAIT_BITS, Reg, busy_summary, fault_error, read_counters
from ..isa.stages import INSN_BYTES, QUEUE_STAGES, QUEUES
from .build import build_model, cached_model_for_source, remember_source, source_key
from .harness_abi import Params, Result, Status
from .stats import count_program

__all__ = ["VerilatorSim", "HarnessLibrary", "count_program", "describe_wait", "DEFAULT_MAX_CYCLES"]

# The default cycle budget of a run: 13-21 minutes at the default core's 0.8-1.25 M simulated cycles per second
# (bus-bound to compute-bound programs; benchmarks/rtl.py), far above any valid program the tests or the JIT run
# (a 2^28-iteration GEMM takes 2^28 cycles).
DEFAULT_MAX_CYCLES = 1_000_000_000

_VOID = ctypes.c_void_p
SIGNATURES = {
    "vh_create": (_VOID, [ctypes.c_char_p]),
    "vh_destroy": (None, [_VOID]),
    "vh_error": (ctypes.c_char_p, [_VOID]),
    "vh_csr_read": (ctypes.c_uint32, [_VOID, ctypes.c_uint32]),
    "vh_run": (ctypes.c_int, [_VOID, _VOID, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_uint32,
                              ctypes.POINTER(Params), ctypes.POINTER(Result)]),
    "vh_bus_bytes": (ctypes.c_int, []),
    "vh_has_trace": (ctypes.c_int, []),
    "vh_flush_trace": (None, [_VOID]),
    "vh_has_probe": (ctypes.c_int, []),
    "vh_trace_enable": (None, [_VOID, ctypes.c_int]),
    "vh_trace_count": (ctypes.c_uint64, [_VOID]),
    "vh_trace_copy": (None, [_VOID, _VOID]),
}


class HarnessLibrary:
    """The C API of one built harness library (``vh_*`` functions) and one model instance of it.

    Usable with any design that has the VTA core's top-level ports (tests drive a small DMA fixture with it).
    The instance is destroyed by `close` or, failing that, when the object is collected (a `weakref.finalize`,
    which also runs at interpreter exit, so a waveform file is always closed).
    """

    def __init__(self, path, trace=None):
        lib = toolchain.load_library(path, SIGNATURES)
        self.lib = lib
        self.path = path
        self.bus_bytes = lib.vh_bus_bytes()
        if trace is not None and not lib.vh_has_trace():
            raise ValueError(f"{path} was built without FST tracing; cannot write {trace}")
        self.handle = lib.vh_create(os.fsencode(trace) if trace is not None else None)
        self._destroy = weakref.finalize(self, lib.vh_destroy, self.handle)

    def close(self):
        self._destroy()
        self.handle = None

    def csr_read(self, reg):
        return int(self.lib.vh_csr_read(self.handle, int(reg)))

    @property
    def has_probe(self):
        """Whether the design has the core's ``probe`` port (needed for timelines)."""
        return bool(self.lib.vh_has_probe())

    def trace_enable(self, on):
        """Record the probe's changes in the following runs (`trace_records` gives the last run's)."""
        self.lib.vh_trace_enable(self.handle, int(bool(on)))

    def trace_records(self):
        """The last run's change records (a `vta.sim.trace.RECORD_DTYPE` array; empty when not tracing)."""
        from .trace import RECORD_DTYPE
        out = np.zeros(int(self.lib.vh_trace_count(self.handle)), RECORD_DTYPE)
        if out.size:
            self.lib.vh_trace_copy(self.handle, out.ctypes.data)
        return out

    def run(self, dram, insn_addr, insn_count, *, max_cycles, stall_window, read_latency, write_latency,
            dma_base=0, dma_limit=0xFFFF_FFFF):
        """Clock one run; returns ``(Status, Result, error message)``. ``dram`` must be a contiguous uint8 array."""
        params = Params(max_cycles, stall_window, read_latency, write_latency, dma_base, dma_limit)
        result = Result()
        status = self.lib.vh_run(self.handle, dram.ctypes.data, dram.size, insn_addr, insn_count,
                                 ctypes.byref(params), ctypes.byref(result))
        return Status(status), result, self.lib.vh_error(self.handle).decode()


def describe_wait(bits):
    """Reg.WAIT bits as words: "load waits for a g2l token (compute→load)", …."""
    parts = []
    for bit, (module, queue) in sorted(WAIT_BITS.items()):
        if bits >> bit & 1:
            parts.append(f"{module} waits for a {queue} token ({QUEUES[queue]}; no "
                         f"{QUEUE_STAGES[queue][0]} instruction pushed one)")
    return "; ".join(parts)


class VerilatorSim(Closing):
    """A VTA `Device` running the RTL core cycle by cycle in a Verilated model.

    - ``cfg``: a `VTAConfig` or anything `vta.load_config` accepts.
    - ``trace``: path of an FST waveform to write (builds and uses a separate tracing model; slower).
    - ``max_cycles``: the cycle budget of a run (default `DEFAULT_MAX_CYCLES`, 13-21 minutes of simulation); a run
      still not done after it raises `DeadlockError` naming the budget. ``run(..., max_cycles=N)`` overrides it for
      one run. (``watchdog_cycles`` is its former name.)
    - ``stall_window``: cycles in which some module waits on a token (``Reg.WAIT`` ≠ 0) while nothing moves (no AXI
      beat, no GEMM or ALU activity, no stage executing rather than waiting — ``*_BUSY`` counts include token
      stalls) before the run is declared deadlocked.
    - ``dram_latency``: cycles from a read request to its first data beat (one beat per cycle after that).
    - ``build_dir``: the model cache folder (default: see `vta.sim.build.cache_root`).
    - ``verilog``: Verilog text to use instead of ``generate_verilog(cfg)`` (top module ``vta_core``).
    """

    def __init__(self, cfg="default", *, trace=None, max_cycles=None, watchdog_cycles=None, stall_window=200_000,
                 dram_latency=16, write_latency=4, build_dir=None, verilog=None):
        self.cfg = load_config(cfg)
        if max_cycles is None:
            max_cycles = DEFAULT_MAX_CYCLES if watchdog_cycles is None else watchdog_cycles
        for name, value, low in (("max_cycles", max_cycles, 1), ("stall_window", stall_window, 1024),
                                 ("dram_latency", dram_latency, 1), ("write_latency", write_latency, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer ≥ {low}, not {value!r}")
        self.max_cycles = max_cycles
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
                                         cache_dir=build_dir, train_cfg=self.cfg)
                remember_source(skey, self.model, cache_dir=build_dir)
        else:
            self.model = build_model(verilog, top="vta_core", bus_bytes=self.cfg.bus_bytes, trace=tracing,
                                     cache_dir=build_dir, train_cfg=self.cfg)
        if self.trace is not None:
            os.makedirs(os.path.dirname(os.path.abspath(self.trace)), exist_ok=True)
        self._lib = HarnessLibrary(self.model.path, trace=self.trace)
        if self._lib.bus_bytes != self.cfg.bus_bytes:
            raise AssertionError(f"model bus {self._lib.bus_bytes} B ≠ config bus {self.cfg.bus_bytes} B")
        self.last = None  # the `Result` of the last run (AXI beat and burst counts)
        self.timelines = None   # list of `RunTimeline`s while `record_timelines` is on

    def record_timelines(self, on=True):
        """Record a `vta.sim.trace.RunTimeline` of every following run (in ``stats.timeline`` and appended to
        ``self.timelines``, a new list) until ``record_timelines(False)``; returns that list. Costs nothing while
        off; while on, the harness stores a record per change of what a module does."""
        if on and not self._lib.has_probe:
            raise ValueError(f"this Verilator model ({self.model.path}) has no probe port (a design other than "
                             f"vta.hw.VTACore): timelines need the core's probe")
        self._lib.trace_enable(on)
        self.timelines = [] if on else None
        return self.timelines

    @property
    def watchdog_cycles(self):
        """The former name of `max_cycles`."""
        return self.max_cycles

    @property
    def build_seconds(self):
        """Seconds this process spent building the model (0.0 when it came from the cache)."""
        return self.model.build_seconds

    def __repr__(self):
        return f"VerilatorSim({self.cfg.name!r}{', trace=' + repr(self.trace) if self.trace else ''})"

    def close(self):
        """Release the model (and close the waveform file)."""
        self._lib.close()

    def csr_read(self, reg):
        return self._lib.csr_read(reg)

    # -- the Device protocol --------------------------------------------------------------------------------------

    def run(self, dram, insn_addr, insn_count, *, max_cycles=None, dma_window=None):
        """Reset the core, run ``insn_count`` instructions from byte ``insn_addr`` of ``dram`` until done.

        ``dram`` (1-D ``np.uint8``) is read and written in place by the simulated core. Returns `RunStats` with
        cycles and per-module busy/stall counts from the core's counters, and instruction/byte/MAC counts
        decoded on the host. Raises what `FunctionalSim` raises for a program the core rejects (`ProgramError`,
        `DeadlockError`; naming the instruction index, the field and the limit), `ProgramError` on a bad AXI access
        and `DeadlockError` when the ``max_cycles`` budget (default: the constructor's) runs out.
        ``dma_window``: ``(base, limit)``, the inclusive byte range every DMA must stay in (default: the whole
        ``dram``).
        """
        budget = self.max_cycles if max_cycles is None else max_cycles
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ValueError(f"max_cycles must be an integer ≥ 1, not {budget!r}")
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
        base, limit = (0, dram.size - 1) if dma_window is None else (int(dma_window[0]), int(dma_window[1]))
        if not 0 <= base <= limit <= 0xFFFF_FFFF:
            raise ValueError(f"dma_window must be (base, limit) with 0 ≤ base ≤ limit < 2**32, not {dma_window!r}")
        status, res, message = self._lib.run(
            mem, int(insn_addr), int(insn_count), max_cycles=budget, stall_window=self.stall_window,
            read_latency=self.dram_latency, write_latency=self.write_latency, dma_base=base, dma_limit=limit)
        if mem is not dram:
            dram[:] = mem[:dram.size]
            if status == Status.OK and mem[dram.size:].any():
                raise ProgramError(f"AXI write of bytes beyond the {dram.size}-byte DRAM (into the last bus word)")
        self.last = res
        if status == Status.FAULT:
            raise fault_error(self.cfg, self.csr_read(Reg.FAULT), self.csr_read(Reg.FAULT_INDEX), dma_base=base,
                              dma_limit=limit, where=f"the RTL core after {res.cycles} cycles")
        if status == Status.AXI_ERROR:
            raise ProgramError(f"{message} (after {res.cycles} cycles)")
        if status in (Status.DEADLOCK, Status.TIMEOUT):
            waits = describe_wait(res.wait_bits)
            why = (f"no progress for {self.stall_window} cycles" if status == Status.DEADLOCK
                   else f"not done within its cycle budget max_cycles={budget} (ran {res.cycles} cycles; raise it "
                        f"with VerilatorSim(..., max_cycles=N) or run(..., max_cycles=N))")
            raise DeadlockError(f"the core hung: {why}; {waits or 'no module reports waiting on a token'}"
                                f"{self._busy_summary()}")
        # the core's state counters come with its probe port (a fixture design has neither)
        for name, value in read_counters(self.csr_read, states=self._lib.has_probe).items():
            setattr(stats, name, value)
        if self.timelines is not None:
            from ..isa import decode_program
            from .trace import RunTimeline
            insns = decode_program(self.cfg, image[:INSN_BYTES * self._count_to_finish(image)].copy())
            stats.timeline = RunTimeline(self._lib.trace_records(), stats.cycles, insns)
            self.timelines.append(stats.timeline)
        stats.wall_seconds = time.perf_counter() - start
        return stats

    def _count_to_finish(self, image):
        """Instructions up to and including the first FINISH (what the core executes)."""
        from ..isa.opcodes import Opcode
        from .decode import InsnStream
        ops = InsnStream(self.cfg, image).opcode
        return ops.index(Opcode.FINISH.value) + 1 if Opcode.FINISH.value in ops else len(ops)

    def _busy_summary(self):
        return f" ({busy_summary(self.csr_read)})"

