"""DRAM as seen by the simulator: argument checks and typed element views of the flat byte array.

DRAM is a 1-D ``np.uint8`` array; LOAD/STORE address it in elements of the buffer they name (``dram_base`` and
``x_stride`` count elements, byte address = element index × element bytes). `DramViews` reinterprets the bytes,
without copying, as an array of such elements (little-endian), so a strided 2-D block is one fancy-index gather or
scatter.
"""

import numpy as np

from ..errors import ProgramError
from ..isa.stages import UOP_BYTES

__all__ = ["check_dram", "check_run_args", "DramViews", "ELEM_DTYPES"]

# numpy dtype of one lane of each buffer's element, little-endian as in DRAM ("acc8" = ACC_8BIT source data).
ELEM_DTYPES = {"uop": np.dtype(f"<u{UOP_BYTES}"), "inp": np.dtype(np.int8), "wgt": np.dtype(np.int8),
               "acc": np.dtype("<i4"), "out": np.dtype(np.int8)}


def check_dram(dram):
    """``dram`` itself if it is a writable, contiguous, 1-D ``np.uint8`` array; `TypeError` otherwise."""
    if not isinstance(dram, np.ndarray):
        raise TypeError(f"dram must be a 1-D np.uint8 array, not {type(dram).__name__}")
    if dram.dtype != np.uint8:
        raise TypeError(f"dram must be a 1-D np.uint8 array, not an array of dtype {dram.dtype}")
    if dram.ndim != 1:
        raise TypeError(f"dram must be a 1-D np.uint8 array, not an array of shape {dram.shape}")
    if not dram.flags.c_contiguous:
        raise TypeError("dram must be a contiguous np.uint8 array, not a strided view")
    if not dram.flags.writeable:
        raise TypeError("dram must be writable (the run stores results into it), not a read-only array")
    return dram


def check_run_args(dram, insn_addr, insn_count, insn_bytes):
    """Validate ``(insn_addr, insn_count)`` against ``dram``; the instruction bytes to decode."""
    for name, value in (("insn_addr", insn_addr), ("insn_count", insn_count)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, not {value!r}")
    insn_addr, insn_count = int(insn_addr), int(insn_count)
    if insn_addr < 0 or insn_addr % insn_bytes:
        raise ProgramError(f"insn_addr must be a non-negative multiple of {insn_bytes} (instructions are "
                           f"{insn_bytes}-byte aligned), not {insn_addr}")
    if insn_count < 0:
        raise ProgramError(f"insn_count must be ≥ 0, not {insn_count}")
    end = insn_addr + insn_count * insn_bytes
    if end > dram.size:
        first_bad = max(0, (dram.size - insn_addr) // insn_bytes)   # first not wholly inside (RTL fetch rounds down)
        raise ProgramError(f"instruction fetch reads DRAM bytes [{insn_addr}, {end}) (insn_addr={insn_addr}, "
                           f"insn_count={insn_count}) but DRAM holds only {dram.size} bytes; instruction "
                           f"{first_bad} is the first outside it", index=first_bad)
    return dram[insn_addr:end]


class DramViews:
    """Zero-copy views of ``dram`` as arrays of elements ``(count, *elem_shape)``, one per buffer kind."""

    def __init__(self, cfg, dram):
        self.dram = dram
        self._shapes = {"uop": (), "inp": cfg.inp_shape, "wgt": cfg.wgt_shape, "acc": cfg.acc_shape,
                        "out": cfg.out_shape}
        self.elem_bytes = cfg.elem_bytes
        self._views = {}

    def __call__(self, kind):
        view = self._views.get(kind)
        if view is None:
            nbytes = self.elem_bytes[kind]
            whole = self.dram.size // nbytes * nbytes
            view = self.dram[:whole].view(ELEM_DTYPES[kind]).reshape(-1, *self._shapes[kind])
            self._views[kind] = view
        return view

    def check_block(self, kind, base, y_size, x_size, x_stride, what, index):
        """`ProgramError` unless every byte of the ``y_size × x_size`` element block at ``base`` is inside DRAM."""
        nbytes = self.elem_bytes[kind]
        last = base + (y_size - 1) * x_stride + x_size - 1
        end = (last + 1) * nbytes
        if end > self.dram.size:
            raise ProgramError(
                f"{what}: dram_base={base}, y_size={y_size}, x_size={x_size}, x_stride={x_stride} reach DRAM element "
                f"{last} ({kind} elements of {nbytes} bytes, bytes up to {end}) but DRAM holds only "
                f"{self.dram.size} bytes", index=index)

    @staticmethod
    def block_index(base, y_size, x_size, x_stride):
        """Element indices ``base + y·x_stride + x`` as a ``(y_size, x_size)`` array."""
        return (base + np.arange(y_size, dtype=np.int64)[:, None] * x_stride
                + np.arange(x_size, dtype=np.int64)[None, :])
