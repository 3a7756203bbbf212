"""Python instruction objects and the encoder/decoder between them and 128-bit words / 32-bit micro-ops.

The dataclasses name the fields; their widths and positions come only from `vta.isa.layouts` (the encoder walks
the flattened field table of the layout), so a config change can never make the two disagree.
"""

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import ISAError
from .layouts import HEADER_FIELDS, INSN_BITS, UOP_BITS
from .opcodes import AluOp, MemId, Opcode
from .requant import check_setq
from .stages import INSN_BYTES, UOP_BYTES

__all__ = ["Insn", "Load", "Store", "Gemm", "Alu", "Finish", "Uop", "encode", "decode", "encode_uop",
           "decode_uop", "encode_program", "decode_program", "encode_uops", "decode_uops", "encode_uop_words",
           "uop_fields", "INSN_BYTES", "UOP_BYTES"]

_OPCODE = HEADER_FIELDS["opcode"]


@dataclass(frozen=True, kw_only=True)
class Insn:
    """Fields common to every instruction: the four dependency-token flags.

    ``pop_prev_dep``/``pop_next_dep`` take a token from the previous/next stage's queue before the instruction
    runs; ``push_prev_dep``/``push_next_dep`` give one after it completes. Stages are load → compute → store.
    """
    pop_prev_dep: bool = False
    pop_next_dep: bool = False
    push_prev_dep: bool = False
    push_next_dep: bool = False

    opcode = None  # set by each subclass
    kind = None    # which layout of `ISALayouts` encodes it

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, kw_only=True)
class _Mem(Insn):
    memory_type: MemId
    sram_base: int
    dram_base: int
    y_size: int
    x_size: int
    x_stride: int
    y_pad_0: int = 0
    y_pad_1: int = 0
    x_pad_0: int = 0
    x_pad_1: int = 0
    kind = "mem"


@dataclass(frozen=True, kw_only=True)
class Load(_Mem):
    """Copy a 2-D block of ``y_size`` rows × ``x_size`` elements from DRAM into an SRAM buffer, zero-padded."""
    opcode = Opcode.LOAD


@dataclass(frozen=True, kw_only=True)
class Store(_Mem):
    """Copy ``y_size`` rows × ``x_size`` elements of the out buffer to DRAM (no padding)."""
    memory_type: MemId = MemId.OUT
    opcode = Opcode.STORE


@dataclass(frozen=True, kw_only=True)
class _Compute(Insn):
    reset_reg: bool = False
    uop_bgn: int
    uop_end: int
    iter_out: int = 1
    iter_in: int = 1
    dst_factor_out: int = 0
    dst_factor_in: int = 0
    src_factor_out: int = 0
    src_factor_in: int = 0
    requant: bool = False   # out writes requantized by the SETQ register instead of truncated (an extension)


@dataclass(frozen=True, kw_only=True)
class Gemm(_Compute):
    """Matrix multiply-accumulate over a uop range, in two nested loops (or zero acc when ``reset_reg``)."""
    wgt_factor_out: int = 0
    wgt_factor_in: int = 0
    opcode = Opcode.GEMM
    kind = "gemm"


@dataclass(frozen=True, kw_only=True)
class Alu(_Compute):
    """Element-wise int32 operation on the accumulator over a uop range, in two nested loops."""
    alu_opcode: AluOp
    use_imm: bool = False
    imm: int = 0
    opcode = Opcode.ALU
    kind = "alu"


@dataclass(frozen=True, kw_only=True)
class Finish(Insn):
    """End of the stream: compute raises "done"."""
    opcode = Opcode.FINISH
    kind = "finish"


@dataclass(frozen=True)
class Uop:
    """A micro-op: base indices into the acc (dst), inp or acc (src) and wgt buffers."""
    dst_idx: int
    src_idx: int
    wgt_idx: int = 0


_CLASS_OF = {Opcode.LOAD: Load, Opcode.STORE: Store, Opcode.GEMM: Gemm, Opcode.ALU: Alu, Opcode.FINISH: Finish}


_PLANS = {}   # id(field table) -> (table, plan): the per-field constants `_pack` needs, computed once


def _plan(fields):
    entry = _PLANS.get(id(fields))
    if entry is None or entry[0] is not fields:
        plan = tuple((f.name, f.offset, f.width, f.mask, f.min, f.max, f.enum,
                      None if f.enum is None else frozenset(m.value for m in f.enum)) for f in fields)
        entry = _PLANS[id(fields)] = (fields, plan)
    return entry[1]


def _pack(fields, values, what):
    word = 0
    for name, offset, width, mask, lo, hi, enum, enum_values in _plan(fields):
        v = values(name)
        if enum is not None:
            if isinstance(v, enum):
                v = v.value
            elif isinstance(v, int) and not isinstance(v, bool) and v in enum_values:
                pass
            else:
                raise ISAError(f"{what} field {name} must be a {enum.__name__}, not {v!r}")
        elif isinstance(v, (bool, np.bool_)):
            if width != 1:
                raise ISAError(f"{what} field {name} must be an integer, not the boolean {v!r}")
            v = int(v)
        elif isinstance(v, (int, np.integer)):
            v = int(v)
        else:
            raise ISAError(f"{what} field {name} must be an integer, not {v!r}")
        if not lo <= v <= hi:
            raise ISAError(f"{what} field {name}={v} does not fit its {width}-bit field "
                           f"(range {lo}..{hi})")
        word |= (v & mask) << offset
    return word


def _unpack(fields, word, what):
    out = {}
    for f in fields:
        v = (word >> f.offset) & f.mask
        if f.signed and v >> (f.width - 1):
            v -= 1 << f.width
        if f.enum is not None:
            try:
                v = f.enum(v)
            except ValueError:
                raise ISAError(f"{what} field {f.name}={v} is not a valid {f.enum.__name__}") from None
        elif f.width == 1 and (f.name.endswith("_dep") or f.name in ("reset_reg", "use_imm", "requant")):
            v = bool(v)
        out[f.name] = v
    return out


def encode(cfg, insn):
    """The 128-bit word (a Python int) of an instruction under ``cfg``."""
    if not isinstance(insn, Insn) or insn.opcode is None:
        raise ISAError(f"expected an instruction (Load, Store, Gemm, Alu, Finish), not {insn!r}")
    name = type(insn).__name__.upper()
    values = {**insn.__dict__, "opcode": insn.opcode}   # dataclass fields live in the instance dict
    return _pack(cfg.isa.fields[insn.kind], values.__getitem__, name)


def decode(cfg, word):
    """The instruction object of a 128-bit word; `ISAError` on an unknown opcode, bad enum, reserved bit set or
    malformed SETQ."""
    word = int(word)
    if not 0 <= word < 1 << INSN_BITS:
        raise ISAError(f"an instruction word must be a 128-bit unsigned integer, not {word:#x}")
    raw = (word >> _OPCODE.offset) & _OPCODE.mask
    try:
        opcode = Opcode(raw)
    except ValueError:
        raise ISAError(f"unknown opcode {raw} (valid: "
                       f"{', '.join(f'{o.name}={o.value}' for o in Opcode)})") from None
    cls = _CLASS_OF[opcode]
    isa = cfg.isa
    stray = word & ~isa.used_mask[cls.kind]
    if stray:
        raise ISAError(f"{opcode.name} word {word:#034x} has reserved bits set ({stray:#x})")
    values = _unpack(isa.fields[cls.kind], word, opcode.name)
    del values["opcode"]
    if cls is Alu:   # a malformed SETQ is as undecodable as a reserved bit set (`vta.isa.requant`)
        check_setq(values["alu_opcode"], values["use_imm"], values["imm"], values["requant"])
    return cls(**values)


def encode_uop(cfg, uop):
    """The 32-bit word of a micro-op."""
    if not isinstance(uop, Uop):
        raise ISAError(f"expected a Uop, not {uop!r}")
    return _pack(cfg.isa.fields["uop"], lambda n: getattr(uop, n), "uop")


def decode_uop(cfg, word):
    word = int(word)
    if not 0 <= word < 1 << UOP_BITS:
        raise ISAError(f"a micro-op word must be a 32-bit unsigned integer, not {word:#x}")
    stray = word & ~cfg.isa.used_mask["uop"]
    if stray:
        raise ISAError(f"uop word {word:#010x} has reserved bits set ({stray:#x})")
    return Uop(**_unpack(cfg.isa.fields["uop"], word, "uop"))


def _encode_columns(cfg, insns):
    """The words of ``insns`` as an ``(n, 2)`` uint64 array (low, high 64 bits), packed with numpy one field
    column at a time; None when any value is not of a type `encode` takes without question (exactly the class,
    a plain int — a bool only in a 1-bit field —, the field's enum member) or does not fit its field, so that
    `encode` handles (and names) it."""
    out = np.zeros((len(insns), 2), dtype=np.uint64)
    groups = {}
    for k, insn in enumerate(insns):
        groups.setdefault(type(insn), []).append(k)
    for cls, rows in groups.items():
        if _CLASS_OF.get(cls.opcode) is not cls:
            return None
        members = [insns[k] for k in rows]
        halves = np.zeros((2, len(rows)), dtype=np.uint64)
        for f in cfg.isa.fields[cls.kind]:
            if f.offset // 64 != (f.offset + f.width - 1) // 64:
                return None
            if f.name == "opcode":
                vals = np.full(len(rows), cls.opcode.value, dtype=np.int64)
            else:
                col = [m.__dict__[f.name] for m in members]
                types = set(map(type, col))
                if f.enum is not None:
                    if types != {f.enum}:
                        return None
                    col = [v.value for v in col]
                elif not types <= ({int, bool} if f.width == 1 else {int}):
                    return None
                try:
                    vals = np.fromiter(col, dtype=np.int64, count=len(col))
                except OverflowError:
                    return None
                if vals.min() < f.min or vals.max() > f.max:
                    return None
            halves[f.offset // 64] |= (vals & f.mask).astype(np.uint64) << np.uint64(f.offset % 64)
        out[rows] = halves.T
    return out


def encode_program(cfg, insns):
    """Instructions as the little-endian byte image the hardware fetches (16 bytes each), a ``np.uint8`` array."""
    if isinstance(insns, Insn) or not hasattr(insns, "__iter__"):
        raise ISAError(f"insns must be a list of instructions, not {type(insns).__name__}")
    insns = list(insns)
    words = _encode_columns(cfg, insns) if all(isinstance(i, Insn) for i in insns) else None
    if words is not None:
        return words.astype("<u8").view(np.uint8).reshape(-1).copy()
    raw = b"".join(encode(cfg, i).to_bytes(INSN_BYTES, "little") for i in insns)   # raises the field's error
    return np.frombuffer(raw, dtype=np.uint8).copy()


def decode_program(cfg, image):
    """The instructions of a byte image (length a multiple of 16)."""
    raw = bytes(np.asarray(image, dtype=np.uint8).tobytes() if not isinstance(image, (bytes, bytearray)) else image)
    if len(raw) % INSN_BYTES:
        raise ISAError(f"an instruction image must be a multiple of {INSN_BYTES} bytes, not {len(raw)}")
    out = []
    for k in range(0, len(raw), INSN_BYTES):
        try:
            out.append(decode(cfg, int.from_bytes(raw[k:k + INSN_BYTES], "little")))
        except ISAError as e:
            raise ISAError(f"instruction {k // INSN_BYTES}: {e}") from None
    return out


def _uop_table(uops):
    """``(n, 3)`` int64 array of (dst_idx, src_idx, wgt_idx), or None if a field is not a plain integer."""
    rows = [(u.dst_idx, u.src_idx, u.wgt_idx) for u in uops]
    for t in {type(x) for row in rows for x in row}:   # what `_pack` accepts for a multi-bit field
        if not issubclass(t, (int, np.integer)) or issubclass(t, bool):
            return None
    try:
        arr = np.array(rows)
    except (TypeError, ValueError, OverflowError):
        return None
    if arr.size == 0:
        return np.zeros((0, 3), dtype=np.int64)
    return arr if arr.dtype == np.int64 and arr.ndim == 2 else None


def encode_uop_words(cfg, uops):
    """The 32-bit words of a sequence of micro-ops as a ``np.uint32`` array — vectorised over the uop field table
    (`cfg.isa`); any micro-op a field check would reject is encoded by `encode_uop`, which raises its error."""
    uops = list(uops)
    arr = _uop_table(uops) if all(type(u) is Uop for u in uops) else None
    fields = cfg.isa.fields["uop"]
    if arr is not None:
        cols = {"dst_idx": arr[:, 0], "src_idx": arr[:, 1], "wgt_idx": arr[:, 2]}
        words = np.zeros(len(uops), dtype=np.int64)
        ok = True
        for f in fields:
            v = cols[f.name]
            if v.size and (v.min() < f.min or v.max() > f.max):
                ok = False
                break
            words |= (v & f.mask) << f.offset
        if ok:
            return words.astype(np.uint32)
    return np.array([encode_uop(cfg, u) for u in uops], dtype=np.uint32)  # raises the first field error


def encode_uops(cfg, uops):
    """Micro-ops as a little-endian byte image (4 bytes each), a ``np.uint8`` array."""
    if isinstance(uops, Uop) or not hasattr(uops, "__iter__"):
        raise ISAError(f"uops must be a list of micro-ops, not {type(uops).__name__}")
    return encode_uop_words(cfg, uops).astype(f"<u{UOP_BYTES}").view(np.uint8).copy()


def uop_fields(cfg, words):
    """``(n, 3)`` int64 array of the (dst_idx, src_idx, wgt_idx) fields of ``np.uint32`` uop words; `ISAError`
    (as `decode_uop` words it) on the first word with a reserved bit set."""
    words = np.asarray(words, dtype=np.uint32).reshape(-1)
    stray = words.astype(np.int64) & ~cfg.isa.used_mask["uop"]
    if stray.any():
        decode_uop(cfg, int(words[np.flatnonzero(stray)[0]]))   # raises
    out = np.empty((words.size, 3), dtype=np.int64)
    wide = words.astype(np.int64)
    for f in cfg.isa.fields["uop"]:
        out[:, ("dst_idx", "src_idx", "wgt_idx").index(f.name)] = (wide >> f.offset) & f.mask
    return out


def decode_uops(cfg, image):
    """The micro-ops of a byte image (length a multiple of 4)."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        words = np.frombuffer(bytes(image), dtype=np.uint8)
    else:
        words = np.ascontiguousarray(image, dtype=np.uint8).reshape(-1)
    if words.size % UOP_BYTES:
        raise ISAError(f"a uop image must be a multiple of {UOP_BYTES} bytes, not {words.size}")
    return [decode_uop(cfg, w) for w in words.view(f"<u{UOP_BYTES}")]
