"""`Runtime`: one object that owns a device, its DRAM, the DRAM allocator and the uop-kernel cache, and offers
the operators (conv2d, dense, add, relu, requantize, max_pool2d) as methods.

Each operator call packs its operands into DRAM, builds one command stream (`vta.jit.builder.CommandStream`),
synchronises it (balanced tokens + FINISH), runs it on the device, reads the result back and returns both:
``y, stats = rt.conv2d(...)`` (an `OpResult`). Stats travel with the result rather than through runtime state, so
a caller never reads the stats of someone else's call. The DRAM image persists between calls (kernels stay in DRAM
and, while the device keeps its SRAM, in uop SRAM), so repeated calls of the same shape build and load no new
kernels; and a call whose stream inputs (geometry, schedule, immediates, operand addresses) repeat reuses its
finished, encoded and verified stream (`vta.jit.stream_cache`, `Runtime.run_stream`).
"""

import time

import numpy as np

from ..config import load_config
from ..device import Closing, Device
from ..errors import ISAError, VTAError
from ..isa.insn import INSN_BYTES, encode_program
from .alloc import DramAllocator
from .builder import CommandStream
from .kernels import KernelCache
from .ops.activation import affine_clip, hard_swish, leaky_relu
from .ops.conv2d import conv2d
from .ops.dense import dense
from .ops.elementwise import add, relu, requantize
from .ops.group_conv2d import group_conv2d
from .ops.matmul import matmul
from .ops.pool import max_pool2d
from .ops.reduce import global_avg_pool
from .ops.scale import channel_prelu, channel_scale
from .results import OpResult, OpStats
from .stream_cache import CachedStream, StreamCache

__all__ = ["Runtime", "OpStats", "OpResult"]


class Runtime(Closing):
    """The VTA runtime for config ``cfg`` on ``device`` ("fsim", "verilator" or any `vta.device.Device`).

    A device opened here from its name belongs to the runtime and `close` closes it; a `Device` object passed in
    belongs to the caller, who closes it after the runtime.

    ``dram_bytes`` sizes the DRAM array; ``verify`` (default True) checks every program with `vta.isa.verify`
    before running it (cheap next to a simulator; turn off to time hardware). ``keep_uops`` (default: True) lets
    the kernel cache assume the device keeps uop SRAM between runs; pass False for a device that resets it.
    ``schedules``: where conv2d/dense calls without a schedule get one before the heuristic — a
    `vta.jit.tune.BestSchedules` built from a tuning log.
    ``cache_streams`` (default True): reuse an operator call's finished stream when a later call has the same
    stream inputs (`run_stream`); False builds every stream afresh (to compare, or to time the builder). The
    cache is ``streams`` (a `vta.jit.stream_cache.StreamCache`, or None without caching; setting None turns it
    off).
    """

    def __init__(self, cfg="default", device="fsim", *, dram_bytes=64 << 20, verify=True, keep_uops=True,
                 schedules=None, cache_streams=True):
        if isinstance(dram_bytes, bool) or not isinstance(dram_bytes, int) or dram_bytes < 1:
            raise VTAError(f"dram_bytes must be a positive integer (the DRAM size in bytes), not {dram_bytes!r}")
        self.cfg = load_config(cfg)
        self.owns_device = isinstance(device, str)
        if self.owns_device:
            from ..devices import open_device
            device = open_device(device, self.cfg)
        elif not isinstance(device, Device):
            raise VTAError(f"device must be 'fsim', 'verilator' or a Device (with cfg, run() and close()), not "
                           f"{device!r}")
        if device.cfg != self.cfg:
            raise VTAError(f"the device is built for config {device.cfg.name}, the runtime for {self.cfg.name}; "
                           f"they must match")
        self.device = device
        self.dram = np.zeros(dram_bytes, dtype=np.uint8)
        self.alloc = DramAllocator(dram_bytes)
        self.kernels = KernelCache(self.cfg, self.alloc, self.dram)
        self.verify = verify
        self.keep_uops = keep_uops
        self.schedules = schedules
        self.streams = StreamCache() if cache_streams else None
        self._zeros = None
        self._zeros_used = False   # the stream being built reads the zero page
        self._counts0 = (0, 0, 0)

    def __repr__(self):
        return f"Runtime({self.cfg.name!r}, device={self.device!r})"

    def close(self):
        """Close the device (a Verilator model, a serial link) if the runtime opened it from its name."""
        if self.owns_device:
            self.device.close()


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
            self._zeros = self.alloc.alloc(max(need, 4096), align=4096, name="zero page", from_top=True)
            self.dram[self._zeros.addr:self._zeros.end] = 0
        self._zeros_used = True
        return self._zeros

    # -- streams ----------------------------------------------------------------------------------------------------

    def stream(self):
        """A new, empty `CommandStream` for this config."""
        self.kernels.begin_stream()
        return CommandStream(self.cfg)

    def kernel(self, stream, signature, build):
        """The kernel for ``signature`` (built by ``build()`` on a miss) made resident; its `Placement`."""
        return self.kernels.place(stream, self.kernels.get(signature, build))

    def run_stream(self, key, emit, op, useful_macs=0, schedule=None, build_start=None):
        """Run the stream ``emit(stream)`` builds, reusing the one built for an earlier call with the same ``key``.

        ``key`` (hashable) must name every input of ``emit`` besides the runtime state `vta.jit.stream_cache`
        checks itself (kernel residency, the zero page): geometry, schedule, immediates, DRAM addresses. ``None``
        never caches. Returns the call's `OpStats` (``stream_cached`` says whether the stream was reused)."""
        full = None if key is None or self.streams is None else (op, self.verify, key)
        entry = self.streams.get(full) if full is not None else None
        self.kernels.begin_stream()
        elided = None
        if entry is not None and entry.zeros in (None, self._zeros):
            elided = self.kernels.replay(entry.uops)
        if elided is not None:
            self.streams.hits += 1
            return self._run(entry.variant(self.cfg, elided), op, useful_macs, schedule, build_start, entry.by_op,
                             cached=True)
        stream = CommandStream(self.cfg)
        self._zeros_used = False
        emit(stream)
        insns, entry = self._finish(stream)
        if full is not None:
            self.streams.misses += 1
            self.streams.put(full, entry)
        return self._run((insns, entry.image, entry.noops), op, useful_macs, schedule, build_start, entry.by_op,
                         cached=False)

    def execute(self, stream, op, useful_macs=0, schedule=None, build_start=None):
        """Synchronise ``stream`` (balance tokens, FINISH), run it on the device and return its `OpStats` (a stream
        built by hand, from `stream`; operators go through `run_stream`)."""
        insns, entry = self._finish(stream)
        return self._run((insns, entry.image, entry.noops), op, useful_macs, schedule, build_start, entry.by_op,
                         cached=False)

    def _finish(self, stream):
        """``stream`` finished, encoded and (with ``verify``) verified: its instructions (a tuple) and its
        `CachedStream`."""
        insns = stream.finish()
        try:
            image = encode_program(self.cfg, insns)
        except ISAError:
            if self.verify:
                self._verify(insns, encoded=False)   # reports the field that does not fit as a VTAError
            raise
        if self.verify:
            self._verify(insns)   # every instruction encoded: the verifier skips only its field check
        return tuple(insns), CachedStream.of(insns, image, self.kernels.record(),
                                             self._zeros if self._zeros_used else None, self.verify)

    def _run(self, program, op, useful_macs, schedule, build_start, by_op, cached):
        """Run a finished stream ``program`` = ``(insns, image, noops)`` on the device (``insns`` a sequence of
        instructions); its `OpStats`."""
        insns, image, noops = program
        build_seconds = time.perf_counter() - build_start if build_start is not None else 0.0
        n = len(insns)
        buf = self.alloc.alloc(image.size, align=INSN_BYTES, name=f"{op} instruction stream ({n} insns)")
        try:
            self.dram[buf.addr:buf.end] = image
            try:
                run = self.device.run(self.dram, buf.addr, n)
            except BaseException:
                self.kernels.forget_residency()
                raise
        finally:
            self.alloc.free(buf)
        self.kernels.commit()
        if not self.keep_uops:
            self.kernels.forget_residency()
        b, h, l = self._kernel_counts
        b0, h0, l0 = self._counts0
        return OpStats(op=op, run=run, macs_per_cycle=self.cfg.macs_per_cycle, useful_macs=useful_macs,
                       insns_by_opcode=dict(by_op), noops=noops, kernel_builds=b - b0,
                       kernel_hits=h - h0, uop_loads=l - l0, build_seconds=build_seconds, schedule=schedule,
                       program=insns, stream_cached=cached)

    def begin(self):
        """Mark the start of an operator call (kernel counters and host time are measured from here)."""
        self._counts0 = self._kernel_counts
        return time.perf_counter()

    @property
    def _kernel_counts(self):
        return self.kernels.builds, self.kernels.hits, self.kernels.loads

    def _verify(self, insns, encoded=True):
        try:
            from ..isa.verify import verify
        except ImportError:   # the verifier is optional at run time
            return
        uops = None if self.kernels.evicted_in_stream else self.kernels.uop_words().view(np.uint8)
        problems = [p for p in verify(self.cfg, insns, uops, dram_size=self.dram.size, encoded=encoded)
                    if p.severity == "error"]
        if problems:
            raise VTAError(f"internal error: the runtime built an invalid program ({len(problems)} problem(s)); "
                           f"first: {problems[0]}")

    # -- operators: each returns an `OpResult` (y, stats) ----------------------------------------------------------

    def conv2d(self, x, w, bias=None, stride=1, padding=0, shift=0, relu=False, schedule=None, mult=1):
        """``clip(((conv2d(x, w) + bias) · mult) >> shift, 0 if relu else -128, 127)`` as int8 NCHW.

        ``x`` int8 NCHW, ``w`` int8 OIHW, ``bias`` int32 (O,) or None, ``stride``/``padding`` ints or (h, w)
        pairs, ``shift`` 0..31 (arithmetic, i.e. floor), ``schedule`` a `Conv2dSchedule` (default: heuristic).
        ``mult`` 1..32767: a requantization scale ``mult / 2^shift`` that is not a power of two (one ALU pass
        more per tile); its product with the largest possible sum must fit int32 (`vta.jit.ops.common.check_mult`).
        """
        return conv2d(self, x, w, bias, stride, padding, shift, relu, schedule, mult)

    def group_conv2d(self, x, w, bias=None, groups=1, stride=1, padding=0, shift=0, relu=False, schedule=None,
                     mult=1):
        """`conv2d` with ``groups`` groups (ONNX's ``group``; ``groups`` = channels is depthwise): ``w`` is
        ``(O, C/groups, KH, KW)``. Small groups are packed block-diagonally, several per GEMM block
        (`vta.jit.ops.group_conv2d`); ``schedule`` is a `Conv2dSchedule` of the packed, block-grouped geometry;
        ``mult`` as in `conv2d`."""
        return group_conv2d(self, x, w, bias, groups, stride, padding, shift, relu, schedule, mult)

    def dense(self, x, w, bias=None, shift=0, relu=False, schedule=None, mult=1):
        """``clip(((x @ w.T + bias) · mult) >> shift, …)`` as int8 (N, M) for ``x`` int8 (N, K), ``w`` int8 (M, K);
        ``mult`` as in `conv2d`."""
        return dense(self, x, w, bias, shift, relu, schedule, mult)

    def matmul(self, a, b, bias=None, shift=0, relu=False, transpose_b=False, schedule=None):
        """``clip((a @ b + bias) >> shift, 0 if relu else -128, 127)`` as int8 for two run-time int8 operands:
        ``a`` (N, K) and ``b`` (K, M), or G products at once, ``a`` (G, N, K) and ``b`` (G, K, M) (attention
        heads). ``transpose_b``: ``b`` is given as (…, M, K) (e.g. the keys of Q·Kᵀ, no transpose needed).
        ``bias`` int32 (M,), the same for every product, or (G, M), one row per product. ``b`` goes through the
        weight buffer (`vta.jit.ops.matmul`); ``schedule`` is a `Conv2dSchedule` of its block-grouped geometry."""
        return matmul(self, a, b, bias, shift, relu, transpose_b, schedule)

    def add(self, a, b, a_shift=0, b_shift=0, shift=0, relu=False, schedule=None):
        """``clip(((a >> a_shift) + (b >> b_shift)) >> shift, 0 if relu else -128, 127)`` element-wise, int8.

        Shifts follow the ALU's SHR: negative amounts shift left (wrapping to 32 bits)."""
        return add(self, a, b, a_shift, b_shift, shift, relu, schedule)

    def relu(self, x, schedule=None):
        """``max(x, 0)`` element-wise on int8."""
        return relu(self, x, schedule)

    def requantize(self, x, shift=0, scale=1, offset=0, relu=False, schedule=None):
        """``clip((x * scale + offset) >> shift, 0 if relu else -128, 127)`` for int32 ``x`` → int8 (products
        and sums wrap to 32 bits, like the ALU); ``scale`` and ``offset`` are 16-bit signed immediates."""
        return requantize(self, x, shift, scale, offset, relu, schedule)

    def clip(self, x, lo=-128, hi=127, scale=1, offset=0, shift=0, schedule=None):
        """``clip((x * scale + offset) >> shift, lo, hi)`` element-wise on int8 (Clip, ReLU6, HardSigmoid);
        ``scale``/``offset`` 16-bit signed immediates, ``lo``/``hi`` int8."""
        return affine_clip(self, x, scale, offset, shift, lo, hi, schedule)

    def leaky_relu(self, x, scale, shift, schedule=None):
        """``clip(max(x, 0) + ((min(x, 0) * scale + 2^(shift-1)) >> shift))`` on int8: slope scale / 2^shift."""
        return leaky_relu(self, x, scale, shift, schedule)

    def hard_swish(self, x, scale, offset, shift, one, out_shift, schedule=None):
        """``h = clip((x * scale + offset) >> shift, 0, one)``; ``clip((x * h + 2^(out_shift-1)) >> out_shift)``
        on int8 (HardSwish: x times its hard-sigmoid, with ``one`` standing for 1.0)."""
        return hard_swish(self, x, scale, offset, shift, one, out_shift, schedule)

    def max_pool2d(self, x, kernel_size, stride=None, padding=0, schedule=None):
        """Max pooling of int8 NCHW ``x`` (``stride`` defaults to ``kernel_size``; padding never wins)."""
        return max_pool2d(self, x, kernel_size, stride, padding, schedule)

    def global_avg_pool(self, x, pre_shift=0, scale=1, shift=0):
        """The mean over H×W of int8 NCHW ``x`` as int8 (N, C, 1, 1): the int32 sum, then
        ``clip(round_shift(round_shift(sum, pre_shift) · scale, shift), -128, 127)`` (``round_shift(v, s)`` =
        ``(v + 2^(s−1)) >> s``; shifts 0..15, ``scale`` a positive 16-bit immediate)."""
        return global_avg_pool(self, x, pre_shift, scale, shift)

    def channel_scale(self, x, s, shift=0):
        """``clip((x · s + 2^(shift−1)) >> shift, -128, 127)`` for int8 NCHW ``x`` and one int8 factor per image
        and channel ``s`` (N, C, 1, 1), broadcast over H×W (a squeeze-and-excitation gate); ``shift`` 0..15."""
        return channel_scale(self, x, s, shift)

    def prelu(self, x, a, shift=0, pos_shift=0):
        """PReLU with one int32 slope per channel ``a`` (C,) on int8 NCHW ``x``:
        ``clip(round_shift(max(x, 0), pos_shift) + round_shift(min(x, 0) · a_c, shift), -128, 127)`` with
        ``round_shift(v, s) = (v + 2^(s−1)) >> s``; shifts 0..15."""
        return channel_prelu(self, x, a, shift, pos_shift)
