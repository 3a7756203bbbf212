"""The DRAM allocator: carves the runtime's byte array into aligned, reusable regions.

Every address handed to the device counts *elements* of some buffer (``dram_base`` = byte address / element
bytes), so a region must start on a multiple of the element size of whatever is loaded from it. The allocator
keeps a sorted free list of ``(start, size)`` holes (first fit, neighbours merged on free), which keeps a long
sequence of operator calls from fragmenting a fixed-size DRAM.

Long-lived regions (uop kernels, the zero page) are taken from the top of DRAM (``from_top=True``, the highest
hole that fits) and per-call operands from the bottom, so the operands of a call land at the same addresses
whatever kernels earlier calls left behind — which is what lets the runtime reuse a call's instruction stream
(`vta.jit.stream_cache`).
"""

import bisect
import dataclasses

from ..errors import VTAError

__all__ = ["DramAllocator", "DramBuffer", "OutOfDramError"]


class OutOfDramError(VTAError, MemoryError):
    """An allocation that does not fit in the free DRAM (names the request, the largest hole and the total)."""


@dataclasses.dataclass(frozen=True)
class DramBuffer:
    """A region of DRAM: ``addr`` (bytes, aligned), ``nbytes`` and a ``name`` for error messages."""
    addr: int
    nbytes: int
    name: str = ""

    def elem(self, elem_bytes):
        """The region's start as an element index of a buffer whose elements are ``elem_bytes`` long."""
        if self.addr % elem_bytes:
            raise VTAError(f"DRAM region {self.name or self.addr} at byte {self.addr} is not aligned to "
                           f"{elem_bytes}-byte elements")
        return self.addr // elem_bytes

    @property
    def end(self):
        return self.addr + self.nbytes


class DramAllocator:
    """First-fit allocator over ``[base, base + size)`` bytes.

    ``alloc(nbytes, align, name)`` returns a `DramBuffer`; ``free(buf)`` returns its bytes (double frees and
    foreign buffers are errors). ``align`` must be a power of two. ``in_use`` and ``peak`` report bytes.
    """

    def __init__(self, size, base=0, default_align=64):
        if not isinstance(size, int) or size <= 0:
            raise VTAError(f"DRAM size must be a positive number of bytes, not {size!r}")
        if not isinstance(base, int) or base < 0:
            raise VTAError(f"DRAM base must be a non-negative byte address, not {base!r}")
        self.base = base
        self.size = size
        self.default_align = default_align
        self._holes = [(base, size)]          # sorted by start, never adjacent
        self._live = {}                        # addr -> (block start, block size) actually reserved
        self.in_use = 0
        self.peak = 0

    def alloc(self, nbytes, align=None, name="", from_top=False):
        """Reserve ``nbytes`` (≥ 1) starting at a multiple of ``align`` bytes: the lowest such address, or with
        ``from_top`` the highest."""
        align = self.default_align if align is None else align
        if not isinstance(nbytes, int) or nbytes <= 0:
            raise VTAError(f"DRAM allocation size must be a positive number of bytes, not {nbytes!r}")
        if not isinstance(align, int) or align <= 0 or align & (align - 1):
            raise VTAError(f"DRAM alignment must be a power of two, not {align!r}")
        holes = enumerate(self._holes)
        for k, (start, size) in (reversed(list(holes)) if from_top else holes):
            addr = (start + size - nbytes) // align * align if from_top else -(-start // align) * align
            if start <= addr and addr + nbytes <= start + size:
                del self._holes[k]
                if addr > start:                       # the alignment gap stays free
                    self._insert(start, addr - start)
                if addr + nbytes < start + size:
                    self._insert(addr + nbytes, start + size - addr - nbytes)
                self._live[addr] = nbytes
                self.in_use += nbytes
                self.peak = max(self.peak, self.in_use)
                return DramBuffer(addr, nbytes, name)
        largest = max((s for _, s in self._holes), default=0)
        raise OutOfDramError(
            f"out of DRAM: {name or 'allocation'} needs {nbytes} bytes (aligned to {align}), the largest free "
            f"region is {largest} bytes ({self.size - self.in_use} of {self.size} bytes free); "
            f"free buffers or give the runtime more DRAM (dram_bytes=)")

    def free(self, buf):
        """Return a buffer's bytes to the free list."""
        if not isinstance(buf, DramBuffer):
            raise VTAError(f"free() takes a DramBuffer, not {buf!r}")
        if self._live.get(buf.addr) != buf.nbytes:
            raise VTAError(f"DRAM region {buf.name or ''} at byte {buf.addr} ({buf.nbytes} bytes) is not allocated "
                           f"(double free, or from another allocator)")
        del self._live[buf.addr]
        self.in_use -= buf.nbytes
        self._insert(buf.addr, buf.nbytes)

    def _insert(self, start, size):
        """Add a hole, merging it with its neighbours."""
        k = bisect.bisect_left(self._holes, (start, 0))
        if k < len(self._holes) and start + size == self._holes[k][0]:
            size += self._holes[k][1]
            del self._holes[k]
        if k > 0 and self._holes[k - 1][0] + self._holes[k - 1][1] == start:
            start, size = self._holes[k - 1][0], self._holes[k - 1][1] + size
            del self._holes[k - 1]
            k -= 1
        self._holes.insert(k, (start, size))

    @property
    def free_bytes(self):
        return self.size - self.in_use

    @property
    def holes(self):
        """The free regions as ``(start, size)`` pairs, sorted (for tests and diagnostics)."""
        return list(self._holes)
