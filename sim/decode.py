"""Vectorized decoding of a whole instruction stream and of micro-op ranges, driven by ``cfg.isa.fields``.

The functional simulator decodes every instruction of a run at once with numpy (one shift-and-mask per field over
all words — fields never straddle the 64-bit halves), then hands each executed instruction its fields as a dict.
Malformed words (unknown opcode, bad enum value, reserved bit set, malformed SETQ) are detected here the same way
and reported with `vta.isa.decode`'s own message, wrapped in a `ProgramError` naming the instruction index.
"""

import numpy as np

from ..errors import ISAError, ProgramError
from ..isa import decode as isa_decode
from ..isa.insn import Alu, Finish, Gemm, Load, Store
from ..isa.layouts import HALF_BITS, HEADER_FIELDS, UOP_BITS
from ..isa.opcodes import AluOp
from ..isa.requant import SETQ_IMM_MAX
from ..isa.stages import INSN_BYTES

__all__ = ["InsnStream", "UopDecoder", "KIND_OF_OPCODE", "INSN_BYTES"]

HALF_MASK = (1 << HALF_BITS) - 1
OPCODE = HEADER_FIELDS["opcode"]
SETQ = AluOp.SETQ.value

# Raw opcode value → the layout kind (``cfg.isa.fields`` key) of the rest of the word.
KIND_OF_OPCODE = {cls.opcode.value: cls.kind for cls in (Load, Store, Gemm, Alu, Finish)}


def _field_columns(fields, halves):
    """Each field of ``fields`` extracted from the (lo, hi) uint64 word halves, as an int64 array."""
    cols = {}
    for f in fields:
        half, off = divmod(f.offset, HALF_BITS)
        if off + f.width > HALF_BITS:  # the layouts guarantee this never happens
            raise AssertionError(f"field {f.name} straddles the 64-bit boundary")
        v = ((halves[half] >> np.uint64(off)) & np.uint64(f.mask)).astype(np.int64)
        if f.signed:
            sign = np.int64(1 << (f.width - 1))
            v = (v ^ sign) - sign
        cols[f.name] = v
    return cols


class InsnStream:
    """The decoded fields of ``count`` instructions held in a ``16·count``-byte image.

    ``opcode[k]`` is the raw opcode value; ``fields(k)`` the dict of instruction ``k``'s fields (names as in
    ``cfg.isa.fields[kind]``, dependency flags and ``reset_reg``/``use_imm`` as ints); ``check(k)`` raises the
    `ProgramError` of a malformed instruction.
    """

    def __init__(self, cfg, image):
        self.cfg = cfg
        words = np.ascontiguousarray(image).view(f"<u{HALF_BITS // 8}").reshape(-1, INSN_BYTES * 8 // HALF_BITS)
        self.count = len(words)
        halves = (words[:, 0].astype(np.uint64), words[:, 1].astype(np.uint64))
        self._words = words
        opcode = ((halves[0] >> np.uint64(OPCODE.offset)) & np.uint64(OPCODE.mask)).astype(np.int64)
        self.opcode = opcode.tolist()
        valid = np.zeros(self.count, dtype=bool)
        row = np.zeros(self.count, dtype=np.int64)
        self._tables = {}
        for kind in ("mem", "gemm", "alu", "finish"):
            mine = np.flatnonzero(np.isin(opcode, [op for op, k in KIND_OF_OPCODE.items() if k == kind]))
            if not mine.size:
                continue
            lo, hi = halves[0][mine], halves[1][mine]
            cols = _field_columns(cfg.isa.fields[kind], (lo, hi))
            used = cfg.isa.used_mask[kind]
            ok = (((lo & np.uint64(~used & HALF_MASK)) == 0)
                  & ((hi & np.uint64(~(used >> HALF_BITS) & HALF_MASK)) == 0))
            for f in cfg.isa.fields[kind]:  # every enum field must name a member (the opcode selected the kind)
                if f.enum is not None and f.name != OPCODE.name:
                    ok &= np.isin(cols[f.name], [m.value for m in f.enum])
            if kind == "alu":   # a malformed SETQ (`vta.isa.requant.setq_problem`)
                ok &= ~((cols["alu_opcode"] == SETQ)
                        & ((cols["use_imm"] == 0) | (cols["imm"] < 0) | (cols["imm"] > SETQ_IMM_MAX)
                           | (cols["requant"] != 0)))
            valid[mine] = ok
            row[mine] = np.arange(mine.size)
            names = tuple(name for name in cols if name != "opcode")
            # One int64 row per instruction of this kind: compact, and one .tolist() per executed instruction.
            self._tables[kind] = (names, np.stack([cols[n] for n in names], axis=1))
        self.valid = valid.tolist()
        self._row = row.tolist()

    def check(self, k):
        """Raise the `ProgramError` for a malformed instruction ``k`` (no-op if it is well formed)."""
        if self.valid[k]:
            return
        word = int(self._words[k, 0]) | int(self._words[k, 1]) << HALF_BITS
        try:
            isa_decode(self.cfg, word)
        except ISAError as e:
            raise ProgramError(f"cannot decode word {word:#034x}: {e}", index=k) from None
        raise AssertionError(f"instruction {k}: word {word:#034x} flagged malformed but vta.isa.decode accepts it")

    def fields(self, k):
        names, table = self._tables[KIND_OF_OPCODE[self.opcode[k]]]
        return dict(zip(names, table[self._row[k]].tolist()))


class UopDecoder:
    """Splits 32-bit micro-op words into ``dst_idx``, ``src_idx``, ``wgt_idx`` int64 arrays."""

    def __init__(self, cfg):
        self._fields = [(f.name, f.offset, f.mask) for f in cfg.isa.fields["uop"]]
        self._reserved = ~cfg.isa.used_mask["uop"] & ((1 << UOP_BITS) - 1)

    def __call__(self, words, first, index, what):
        """Fields of ``words`` (uop buffer entries ``first``…), or a `ProgramError` if a reserved bit is set."""
        w = words.astype(np.int64)
        stray = np.flatnonzero(w & self._reserved)
        if stray.size:
            u = first + int(stray[0])
            raise ProgramError(f"{what}: uop[{u}] = {int(w[stray[0]]):#010x} has reserved bits set "
                               f"({int(w[stray[0]]) & self._reserved:#x}); a uop holds only dst_idx, src_idx, "
                               f"wgt_idx", index=index)
        return {name: (w >> off) & mask for name, off, mask in self._fields}
