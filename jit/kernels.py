"""Micro-op kernels and the kernel cache that keeps them resident in uop SRAM.

A kernel is what one GEMM or ALU instruction executes: a list of micro-ops inside at most two loops, each loop
an extent and a (dst, src, wgt) index step — upstream's ``UopLoopBegin``/``UopPush``/``UopLoopEnd``. Kernels are
recorded once per *signature* (a hashable description chosen by the operator, e.g. the tile shape and buffer
offsets) and kept in DRAM; `KernelCache.place` makes one resident in uop SRAM, emitting a LOAD UOP only when it is
not already there. Uop SRAM is filled as a ring, like upstream: a kernel that does not fit after the last one
wraps to index 0 and evicts whatever it overlaps.

Residency survives between runs (the device keeps its SRAM), so a second identical operator call loads no uops.
If a run fails, or the device is not known to keep SRAM, `KernelCache.forget_residency` drops the table.

While a stream is built the cache records what it did to uop SRAM (`KernelCache.record`): the kernels the stream
found resident at its start (it relies on them), and the LOAD UOPs it emitted (kernel, position, DRAM words). A
cached copy of the stream (`vta.jit.stream_cache`) can run again whenever the kernels it relies on are still
resident at the same positions and the kernels it loads are still at the same DRAM addresses;
`KernelCache.replay` checks exactly that and applies the stream's loads to the residency table as `place` did.
Kernel words live at the top of DRAM (``from_top``), away from the per-call operands.
"""

import dataclasses

import numpy as np

from ..errors import VTAError
from ..isa.insn import UOP_BYTES, Uop, encode_uops
from ..isa.layouts import ITER_BITS
from ..isa.opcodes import MemId

__all__ = ["Loop", "UopKernel", "KernelRecorder", "Placement", "KernelCache", "UopRecord", "MAX_ITER"]

MAX_ITER = (1 << ITER_BITS) - 1


@dataclasses.dataclass(frozen=True)
class Loop:
    """One loop of a kernel: ``extent`` iterations, each adding ``dst``/``src``/``wgt`` to the uop indices."""
    extent: int
    dst: int = 0
    src: int = 0
    wgt: int = 0


@dataclasses.dataclass(frozen=True, eq=False)
class UopKernel:
    """Micro-ops (``uops``, a tuple of `vta.isa.Uop`) inside ``loops`` (outer first, at most two)."""
    signature: object
    uops: tuple
    loops: tuple = ()

    def __post_init__(self):
        if len(self.loops) > 2:
            raise VTAError(f"a uop kernel has at most 2 loops, not {len(self.loops)}")
        if not self.uops:
            raise VTAError("a uop kernel needs at least one micro-op")
        for lp in self.loops:
            if not 1 <= lp.extent <= MAX_ITER:
                raise VTAError(f"a kernel loop extent must be 1..{MAX_ITER} (14-bit iter field), not {lp.extent}")

    def __len__(self):
        return len(self.uops)

    @property
    def iterations(self):
        n = 1
        for lp in self.loops:
            n *= lp.extent
        return n

    def loop_fields(self, mode):
        """``iter_out``, ``iter_in`` and the factor fields of a GEMM (``mode`` "gemm") or ALU instruction."""
        loops = list(self.loops) + [Loop(1)] * (2 - len(self.loops))
        out, inn = loops
        fields = dict(iter_out=out.extent, iter_in=inn.extent,
                      dst_factor_out=out.dst if out.extent > 1 else 0, dst_factor_in=inn.dst if inn.extent > 1 else 0,
                      src_factor_out=out.src if out.extent > 1 else 0, src_factor_in=inn.src if inn.extent > 1 else 0)
        if mode == "gemm":
            fields.update(wgt_factor_out=out.wgt if out.extent > 1 else 0,
                          wgt_factor_in=inn.wgt if inn.extent > 1 else 0)
        return fields

    def index_ranges(self):
        """(min, max) of the dst, src and wgt indices the whole loop nest touches (for bound checks)."""
        arr = np.array([(u.dst_idx, u.src_idx, u.wgt_idx) for u in self.uops], dtype=np.int64)
        lo, hi = arr.min(axis=0), arr.max(axis=0)
        for lp in self.loops:
            step = np.array([lp.dst, lp.src, lp.wgt], dtype=np.int64) * (lp.extent - 1)
            lo = lo + np.minimum(step, 0)
            hi = hi + np.maximum(step, 0)
        return {"dst": (int(lo[0]), int(hi[0])), "src": (int(lo[1]), int(hi[1])), "wgt": (int(lo[2]), int(hi[2]))}


class KernelRecorder:
    """Upstream-style recording: ``loop_begin(extent, dst, src, wgt)`` (≤ 2), ``push(dst, src, wgt)``,
    ``loop_end()``, then ``kernel(signature)``. Loops must enclose every push (they are the instruction's loops)."""

    def __init__(self):
        self._loops = []
        self._open = 0
        self._uops = []

    def loop_begin(self, extent, dst=0, src=0, wgt=0):
        if self._uops:
            raise VTAError("uop loops must be opened before the first push (they are the instruction's loops)")
        if len(self._loops) == 2:
            raise VTAError("a uop kernel has at most 2 loops")
        self._loops.append(Loop(extent, dst, src, wgt))
        self._open += 1

    def push(self, dst, src, wgt=0):
        self._uops.append(Uop(int(dst), int(src), int(wgt)))

    def loop_end(self):
        if not self._open:
            raise VTAError("loop_end without loop_begin")
        self._open -= 1

    def kernel(self, signature):
        if self._open:
            raise VTAError(f"{self._open} uop loop(s) left open")
        return UopKernel(signature, tuple(self._uops), tuple(self._loops))


@dataclasses.dataclass(frozen=True)
class Placement:
    """A kernel resident in uop SRAM at ``[bgn, end)``."""
    kernel: UopKernel
    bgn: int

    @property
    def end(self):
        return self.bgn + len(self.kernel)


@dataclasses.dataclass(frozen=True)
class UopRecord:
    """What one stream did to uop SRAM: ``requires`` the ``(signature, bgn)`` kernels it used without loading them
    (resident when it was built), ``loads`` its LOAD UOPs in order as ``(signature, bgn, uops, dram byte address,
    instruction index)``, ``lookups`` its kernel look-ups (each a cache hit when the stream is replayed)."""
    requires: tuple
    loads: tuple
    lookups: int


class KernelCache:
    """Kernels by signature (with their uop words in DRAM) and which of them are resident in uop SRAM.

    ``builds``/``hits`` count kernels recorded vs found in the cache; ``loads`` LOAD UOP instructions emitted;
    ``evictions`` kernels pushed out of uop SRAM. ``max_kernels`` bounds the DRAM kept for kernels (least
    recently used ones are dropped).
    """

    def __init__(self, cfg, alloc, dram, max_kernels=4096):
        self.cfg = cfg
        self.alloc = alloc
        self.dram = dram
        self.max_kernels = max_kernels
        self._kernels = {}       # signature -> (UopKernel, DramBuffer); dict order = recency
        self._resident = {}      # signature -> bgn
        self._next = 0           # ring pointer in uop SRAM
        self.builds = self.hits = self.loads = self.evictions = 0
        self.evicted_in_stream = False
        self._snapshot = None    # residency before the stream being built, until it runs
        self._in_stream = set()  # signatures the stream being built has placed
        self._requires, self._loaded, self._loads, self._lookups = {}, set(), [], 0   # its `UopRecord`

    def get(self, signature, build):
        """The kernel for ``signature``, calling ``build()`` (→ `UopKernel`) only on a miss."""
        self._lookups += 1
        entry = self._kernels.pop(signature, None)
        if entry is not None:
            self.hits += 1
            self._kernels[signature] = entry
            return entry[0]
        kernel = build()
        if not isinstance(kernel, UopKernel):
            raise VTAError(f"a kernel builder must return a UopKernel, not {type(kernel).__name__}")
        if len(kernel) > self.cfg.uop_depth:
            raise VTAError(f"uop kernel {signature!r} has {len(kernel)} micro-ops, the uop buffer holds "
                           f"{self.cfg.uop_depth}")
        image = encode_uops(self.cfg, kernel.uops)     # raises ISAError if an index does not fit its field
        buf = self.alloc.alloc(image.size, align=self.cfg.uop_elem_bytes, name=f"uop kernel ({len(kernel)} uops)",
                               from_top=True)
        self.dram[buf.addr:buf.end] = image
        self.builds += 1
        self._kernels[signature] = (kernel, buf)
        if len(self._kernels) > self.max_kernels:
            # drop the least recently used kernels, never one the stream being built loads from DRAM
            keep = self._in_stream | {signature}
            for old_sig in [k for k in self._kernels if k not in keep][:len(self._kernels) - self.max_kernels]:
                old, old_buf = self._kernels.pop(old_sig)
                self._resident.pop(old_sig, None)
                self.alloc.free(old_buf)
        return kernel

    def place(self, stream, kernel):
        """Make ``kernel`` resident (LOAD UOP in ``stream`` if it is not) and return its `Placement`."""
        sig = kernel.signature
        if sig not in self._kernels or self._kernels[sig][0] is not kernel:
            raise VTAError(f"kernel {sig!r} was not obtained from this cache")
        self._in_stream.add(sig)
        bgn = self._resident.get(sig)
        if bgn is not None:
            if sig not in self._loaded:
                self._requires[sig] = bgn
            return Placement(kernel, bgn)
        n = len(kernel)
        if self._next + n > self.cfg.uop_depth:
            self._next = 0
        bgn = self._next
        buf = self._kernels[sig][1]
        index = stream.load(MemId.UOP, bgn, buf.elem(self.cfg.uop_elem_bytes), 1, n, n)
        self._load(sig, bgn, n)
        self._loaded.add(sig)
        self._loads.append((sig, bgn, n, buf.addr, index))
        return Placement(kernel, bgn)

    def _load(self, sig, bgn, n):
        """A LOAD UOP of kernel ``sig`` (``n`` uops) at ``bgn``: it evicts every kernel it overlaps."""
        end = bgn + n
        for other, obgn in list(self._resident.items()):
            oend = obgn + len(self._kernels[other][0])
            if obgn < end and bgn < oend:
                del self._resident[other]
                self.evictions += 1
                self.evicted_in_stream = True
        self.loads += 1
        self._resident[sig] = bgn
        self._next = end

    def record(self):
        """The `UopRecord` of the stream placed since `begin_stream`."""
        return UopRecord(tuple(self._requires.items()), tuple(self._loads), self._lookups)

    def replay(self, record):
        """Apply a cached stream's `UopRecord` (after `begin_stream`, instead of placing its kernels again) if its
        words are still valid: every kernel it relies on resident at the same position, every kernel it loads
        still in DRAM at the same address. Returns None (changing nothing) otherwise, else the positions in
        ``record.loads`` of the loads that are redundant now — their kernel already resident at that place, as
        after an earlier run of the same stream — which the caller turns into no-ops (`CachedStream.variant`)."""
        kernels, resident = self._kernels, self._resident
        for sig, bgn in record.requires:
            if resident.get(sig) != bgn:
                return None
        for sig, _bgn, _n, addr, _index in record.loads:
            entry = kernels.get(sig)
            if entry is None or entry[1].addr != addr:
                return None
        used = [sig for sig, _ in record.requires] + [load[0] for load in record.loads]
        for sig in used:   # most recently used last, as `get` would leave them
            kernels[sig] = kernels.pop(sig)
        self._in_stream.update(used)
        elided = []
        for k, (sig, bgn, n, _addr, _index) in enumerate(record.loads):
            if resident.get(sig) == bgn:   # resident kernels never overlap: the load would change nothing
                elided.append(k)
            else:
                self._load(sig, bgn, n)
        self.hits += record.lookups
        return tuple(elided)

    def begin_stream(self):
        """Start placing kernels for a new stream. Residency changes stay tentative until `commit`; if the
        previous stream was abandoned (never ran), its placements are undone first."""
        if self._snapshot is not None:
            resident, self._next = self._snapshot
            self._resident = {k: v for k, v in resident.items() if k in self._kernels}
        self._snapshot = (dict(self._resident), self._next)
        self._in_stream = set()
        self.evicted_in_stream = False
        self._requires, self._loaded, self._loads, self._lookups = {}, set(), [], 0

    def commit(self):
        """The stream ran: its LOAD UOPs really filled uop SRAM."""
        self._snapshot = None

    def forget_residency(self):
        """Assume nothing is in uop SRAM (after a failed run or a device reset)."""
        self._resident.clear()
        self._next = 0
        self._snapshot = None

    def uop_image(self):
        """The uop SRAM content implied by the residency table (zeros elsewhere), as a list of `Uop`."""
        image = [Uop(0, 0, 0)] * self.cfg.uop_depth
        for sig, bgn in self._resident.items():
            k = self._kernels[sig][0]
            image[bgn:bgn + len(k)] = k.uops
        return image

    def uop_words(self):
        """`uop_image` as the ``np.uint32`` words the resident kernels' LOAD UOPs copy from DRAM (zeros elsewhere)."""
        words = np.zeros(self.cfg.uop_depth, dtype=np.uint32)
        for sig, bgn in self._resident.items():
            k, buf = self._kernels[sig]
            words[bgn:bgn + len(k)] = self.dram[buf.addr:buf.addr + len(k) * UOP_BYTES].view(f"<u{UOP_BYTES}")
        return words

    @property
    def resident(self):
        return dict(self._resident)

    def __len__(self):
        return len(self._kernels)
