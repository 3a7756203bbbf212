"""`Runtime`: one object that owns a device, its DRAM, the DRAM allocator and the uop-kernel cache, and offers
the operators (conv2d, dense, add, relu, requantize, max_pool2d) as methods.

Each operator call packs its operands into DRAM, builds one command stream (`vta.jit.builder.CommandStream`),
synchronises it (balanced tokens + FINISH), runs it on the device and reads the result back; `last_stats` then
describes that run. The DRAM image persists between calls (kernels stay in DRAM and, while the device keeps its
SRAM, in uop SRAM), so repeated calls of the same shape build and load no new kernels.
"""

import dataclasses
import time

import numpy as np

from ..config import load_config
from ..device import Device, RunStats
from ..errors import VTAError
from ..isa.insn import INSN_BYTES, encode_program
from .alloc import DramAllocator
from .builder import CommandStream
from .kernels import KernelCache

__all__ = ["Runtime", "OpStats"]


@dataclasses.dataclass
class OpStats:
    """What one operator call did.

    ``macs`` are the GEMM MACs the device performed (channel padding included); ``useful_macs`` those of the
    unpadded problem. ``kernel_builds``/``kernel_hits`` count uop kernels recorded vs reused from the cache,
    ``uop_loads`` the LOAD UOP instructions emitted. ``cycles``/``busy``/``stall`` come from the device (``None``
    on the functional simulator). ``build_seconds`` is host time spent building the stream, ``wall_seconds`` the
    device run.
    """
    op: str
    macs: int = 0
    useful_macs: int = 0
    insns: int = 0
    insns_by_opcode: dict = dataclasses.field(default_factory=dict)
    noops: int = 0
    kernel_builds: int = 0
    kernel_hits: int = 0
    uop_loads: int = 0
    cycles: int | None = None
    busy: dict | None = None
    stall: dict | None = None
    wall_seconds: float | None = None
    build_seconds: float = 0.0
    schedule: object = None
    run: RunStats | None = None

    macs_per_cycle: int = 0

    @property
    def utilization(self):
        """GEMM utilisation: device MACs / (cycles × peak MACs per cycle); ``None`` without cycles."""
        return None if not self.cycles or not self.macs_per_cycle else self.macs / (self.cycles * self.macs_per_cycle)


class Runtime:
    """The VTA runtime for config ``cfg`` on ``device`` ("fsim", "verilator" or any `vta.device.Device`).

    ``dram_bytes`` sizes the DRAM array; ``verify`` (default True) checks every program with `vta.isa.verify`
    before running it (cheap next to a simulator; turn off to time hardware). ``keep_uops`` (default: True) lets
    the kernel cache assume the device keeps uop SRAM between runs; pass False for a device that resets it.
    """

    def __init__(self, cfg="default", device="fsim", *, dram_bytes=64 << 20, verify=True, keep_uops=True):
        if isinstance(dram_bytes, bool) or not isinstance(dram_bytes, int) or dram_bytes < 1:
            raise VTAError(f"dram_bytes must be a positive integer (the DRAM size in bytes), not {dram_bytes!r}")
        self.cfg = load_config(cfg)
        if isinstance(device, str):
            from ..devices import open_device
            device = open_device(device, self.cfg)
        elif not isinstance(device, Device):
            raise VTAError(f"device must be 'fsim', 'verilator' or a Device (with cfg and run()), not {device!r}")
        dev_cfg = getattr(device, "cfg", None)
        if dev_cfg is not None and dev_cfg != self.cfg:
            raise VTAError(f"the device is built for config {getattr(dev_cfg, 'name', dev_cfg)}, the runtime for "
                           f"{self.cfg.name}; they must match")
        self.device = device
        self.dram = np.zeros(dram_bytes, dtype=np.uint8)
        self.alloc = DramAllocator(dram_bytes)
        self.kernels = KernelCache(self.cfg, self.alloc, self.dram)
        self.verify = verify
        self.keep_uops = keep_uops
        self.last_stats = None
        self.last_program = None
        self._zeros = None
        self._counts0 = (0, 0, 0)

    def __repr__(self):
        return f"Runtime({self.cfg.name!r}, device={self.device!r})"

    def close(self):
        """Release the device (a Verilator model, a serial link) if it has a ``close``."""
        close = getattr(self.device, "close", None)
        if close is not None:
            close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- DRAM -------------------------------------------------------------------------------------------------------

    def upload(self, array, elem_bytes, name=""):
        """Copy ``array``'s bytes into a fresh DRAM region aligned to ``elem_bytes``; return the `DramBuffer`."""
        raw = np.ascontiguousarray(array).view(np.uint8).reshape(-1)
        buf = self.alloc.alloc(max(raw.size, 1), align=max(elem_bytes, 16), name=name)
        self.dram[buf.addr:buf.addr + raw.size] = raw
        return buf

    def empty(self, nbytes, elem_bytes, name=""):
        return self.alloc.alloc(max(nbytes, 1), align=max(elem_bytes, 16), name=name)

    def download(self, buf, dtype, shape):
        """A copy of DRAM region ``buf`` read as ``dtype`` array of ``shape``."""
        count = int(np.prod(shape, dtype=np.int64))
        nbytes = count * np.dtype(dtype).itemsize
        return self.dram[buf.addr:buf.addr + nbytes].view(dtype).reshape(shape).copy()

    def zeros_region(self, elem_bytes, count):
        """A DRAM region of at least ``count`` zero elements of ``elem_bytes`` (shared; never written)."""
        need = elem_bytes * count
        if self._zeros is None or self._zeros.nbytes < need or self._zeros.addr % elem_bytes:
            if self._zeros is not None:
                self.alloc.free(self._zeros)
            self._zeros = self.alloc.alloc(max(need, 4096), align=4096, name="zero page")
            self.dram[self._zeros.addr:self._zeros.end] = 0
        return self._zeros

    # -- streams ----------------------------------------------------------------------------------------------------

    def stream(self):
        """A new, empty `CommandStream` for this config."""
        self.kernels.begin_stream()
        return CommandStream(self.cfg)

    def kernel(self, stream, signature, build):
        """The kernel for ``signature`` (built by ``build()`` on a miss) made resident; its `Placement`."""
        return self.kernels.place(stream, self.kernels.get(signature, build))

    def execute(self, stream, op, useful_macs=0, schedule=None, build_start=None):
        """Synchronise ``stream`` (balance tokens, FINISH), run it on the device, record and return `OpStats`."""
        insns = stream.finish()
        build_seconds = time.perf_counter() - build_start if build_start is not None else 0.0
        if self.verify:
            self._verify(insns)
        image = encode_program(self.cfg, insns)
        buf = self.alloc.alloc(image.size, align=INSN_BYTES, name=f"{op} instruction stream ({len(insns)} insns)")
        try:
            self.dram[buf.addr:buf.end] = image
            try:
                run = self.device.run(self.dram, buf.addr, len(insns))
            except BaseException:
                self.kernels.forget_residency()
                raise
        finally:
            self.alloc.free(buf)
        self.kernels.commit()
        if not self.keep_uops:
            self.kernels.forget_residency()
        by_op = {}
        for i in insns:
            by_op[type(i).__name__.upper()] = by_op.get(type(i).__name__.upper(), 0) + 1
        noops = sum(1 for i in insns if getattr(i, "x_size", 1) == 0)
        st = OpStats(op=op, macs=run.macs, useful_macs=useful_macs, insns=len(insns), insns_by_opcode=by_op,
                     noops=noops, cycles=run.cycles, busy=run.busy, stall=run.stall, wall_seconds=run.wall_seconds,
                     build_seconds=build_seconds, schedule=schedule, run=run)
        b, h, l = self._kernel_counts
        b0, h0, l0 = self._counts0
        st.kernel_builds, st.kernel_hits, st.uop_loads = b - b0, h - h0, l - l0
        st.macs_per_cycle = self.cfg.macs_per_cycle
        self.last_stats = st
        self.last_program = insns
        return st

    def begin(self):
        """Mark the start of an operator call (kernel counters and host time are measured from here)."""
        self._counts0 = self._kernel_counts
        return time.perf_counter()

    @property
    def _kernel_counts(self):
        return self.kernels.builds, self.kernels.hits, self.kernels.loads

    def _verify(self, insns):
        try:
            from ..isa.verify import verify
        except ImportError:   # the verifier is optional at run time
            return
        uops = None if self.kernels.evicted_in_stream else self.kernels.uop_image()
        problems = [p for p in verify(self.cfg, insns, uops, dram_size=self.dram.size) if p.severity == "error"]
        if problems:
            raise VTAError(f"internal error: the runtime built an invalid program ({len(problems)} problem(s)); "
                           f"first: {problems[0]}")

    # -- operators --------------------------------------------------------------------------------------------------

    def conv2d(self, x, w, bias=None, stride=1, padding=0, shift=0, relu=False, schedule=None):
        """``clip((conv2d(x, w) + bias) >> shift, 0 if relu else -128, 127)`` as int8 NCHW.

        ``x`` int8 NCHW, ``w`` int8 OIHW, ``bias`` int32 (O,) or None, ``stride``/``padding`` ints or (h, w)
        pairs, ``shift`` 0..31 (arithmetic, i.e. floor), ``schedule`` a `Conv2dSchedule` (default: heuristic).
        """
        from .ops.conv2d import conv2d
        return conv2d(self, x, w, bias, stride, padding, shift, relu, schedule)

    def dense(self, x, w, bias=None, shift=0, relu=False, schedule=None):
        """``clip((x @ w.T + bias) >> shift, …)`` as int8 (N, M) for ``x`` int8 (N, K), ``w`` int8 (M, K)."""
        from .ops.dense import dense
        return dense(self, x, w, bias, shift, relu, schedule)

    def add(self, a, b, a_shift=0, b_shift=0, shift=0, relu=False, schedule=None):
        """``clip(((a >> a_shift) + (b >> b_shift)) >> shift, 0 if relu else -128, 127)`` element-wise, int8.

        Shifts follow the ALU's SHR: negative amounts shift left (wrapping to 32 bits)."""
        from .ops.elementwise import add
        return add(self, a, b, a_shift, b_shift, shift, relu, schedule)

    def relu(self, x, schedule=None):
        """``max(x, 0)`` element-wise on int8."""
        from .ops.elementwise import relu
        return relu(self, x, schedule)

    def requantize(self, x, shift=0, scale=1, offset=0, relu=False, schedule=None):
        """``clip((x * scale + offset) >> shift, 0 if relu else -128, 127)`` for int32 ``x`` → int8 (products
        and sums wrap to 32 bits, like the ALU); ``scale`` and ``offset`` are 16-bit signed immediates."""
        from .ops.elementwise import requantize
        return requantize(self, x, shift, scale, offset, relu, schedule)

    def max_pool2d(self, x, kernel_size, stride=None, padding=0, schedule=None):
        """Max pooling of int8 NCHW ``x`` (``stride`` defaults to ``kernel_size``; padding never wins)."""
        from .ops.pool import max_pool2d
        return max_pool2d(self, x, kernel_size, stride, padding, schedule)
