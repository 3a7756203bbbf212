"""The instruction and micro-op formats as `amaranth.lib.data` layouts, generated from a `VTAConfig`.

This module is the one place where field widths and positions are written. The RTL decodes instructions with
``View``s of these layouts, the host encoder uses ``layout.const(...)``-equivalent packing driven by the same
field table, and the simulators, assembler and tests read fields through them.

Widths follow upstream VTA's ``hw_spec.h`` rules, and fields are packed LSB first into two 64-bit halves; a field
never straddles the 64-bit boundary (upstream's C bit-fields could not). For the default config the result is
bit-identical to upstream. For other configs each width is derived by the same rule:

- LOAD/STORE: ``sram_base`` 16, ``dram_base`` 32, sizes and stride 16, pads 4 bits — independent of the config.
- GEMM/ALU low half: ``uop_bgn`` log uop depth, ``uop_end`` one more, ``iter_out``/``iter_in`` 14, then this
  project's one extension bit ``requant`` (bit 63, upstream's padding: the out write is requantized, see
  docs/semantics.md; 0 in every upstream program, so upstream words decode unchanged).
- GEMM high half: dst factors log acc depth, src factors log inp depth, wgt factors log wgt depth.
- ALU high half: all four factors log acc depth, ``alu_opcode`` 3, ``use_imm`` 1, ``imm`` signed 16.
- Micro-op (32 bit): ``dst_idx`` log acc depth, ``src_idx`` max(log acc depth, log inp depth), ``wgt_idx`` log wgt
  depth.
"""

from dataclasses import dataclass

from amaranth.hdl import Shape, signed
from amaranth.lib import data

from ..errors import ConfigError
from .opcodes import AluOp, MemId, Opcode

__all__ = ["ISALayouts", "Field", "HEADER", "HEADER_FIELDS", "MEM", "DEP_FLAGS", "INSN_BITS", "UOP_BITS", "ITER_BITS",
           "IMM_BITS"]

INSN_BITS = 128
UOP_BITS = 32
HALF_BITS = 64
ITER_BITS = 14
IMM_BITS = 16
SRAM_BASE_BITS = 16
DRAM_BASE_BITS = 32
SIZE_BITS = 16
PAD_BITS = 4

HEADER = data.StructLayout({
    "opcode": Opcode,
    "pop_prev_dep": 1,
    "pop_next_dep": 1,
    "push_prev_dep": 1,
    "push_next_dep": 1,
})

# The four dependency-token flags, in header bit order.
DEP_FLAGS = tuple(name for name, _ in HEADER if name != "opcode")


@dataclass(frozen=True)
class Field:
    """One leaf field of a layout, flattened: absolute bit offset, width, signedness, enum class if any."""
    name: str
    offset: int
    width: int
    signed: bool = False
    enum: type | None = None

    @property
    def mask(self):
        return (1 << self.width) - 1

    @property
    def min(self):
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max(self):
        return (1 << (self.width - 1)) - 1 if self.signed else self.mask


def _width(shape):
    return data.Layout.cast(shape).size if isinstance(shape, data.Layout) else Shape.cast(shape).width


def _halves(kind, low, high, why_low, why_high):
    """A 128-bit struct from two lists of fields, each half padded to 64 bits; fails if a half overflows."""
    fields = {}
    for half, members, why in ((0, low, why_low), (1, high, why_high)):
        used = sum(_width(shape) for _, shape in members)
        if used > HALF_BITS:
            raise ConfigError(f"{kind} {'high' if half else 'low'} 64-bit half needs {used} bits, more than 64: {why}")
        fields.update(members)
        if used < HALF_BITS:
            fields[f"_pad{half}"] = HALF_BITS - used
    return data.StructLayout(fields)


def flatten(layout, base=0):
    """Leaf fields of a (nested) struct layout, padding excluded, in bit order."""
    out = []
    for name, field in layout:
        if name.startswith("_pad"):
            continue
        if isinstance(field.shape, data.StructLayout):
            out += flatten(field.shape, base + field.offset)
            continue
        enum_cls = field.shape if isinstance(field.shape, type) else None
        shape = Shape.cast(field.shape)
        out.append(Field(name, base + field.offset, shape.width, shape.signed, enum_cls))
    return tuple(out)


# LOAD and STORE: the same for every config (their widths do not depend on it).
MEM = _halves("LOAD/STORE", [
    ("hdr", HEADER),
    ("memory_type", MemId),
    ("sram_base", SRAM_BASE_BITS),
    ("dram_base", DRAM_BASE_BITS),
], [
    ("y_size", SIZE_BITS),
    ("x_size", SIZE_BITS),
    ("x_stride", SIZE_BITS),
    ("y_pad_0", PAD_BITS),
    ("y_pad_1", PAD_BITS),
    ("x_pad_0", PAD_BITS),
    ("x_pad_1", PAD_BITS),
], "", "")

# The header's fields (opcode and the dependency flags) at their bit offsets, the same in every instruction word:
# what a decoder reads before it knows which layout the rest of the word has.
HEADER_FIELDS = {f.name: f for f in flatten(HEADER)}


class ISALayouts:
    """The layouts of one config. ``cfg.isa`` holds the instance for a config.

    Attributes: ``header`` (7 bits common to all instructions), ``mem`` (LOAD and STORE), ``gemm``, ``alu``,
    ``finish``, ``insn`` (a union of all of them, 128 bits) and ``uop`` (32 bits). ``fields[kind]`` is the
    flattened field table of each kind, used by the Python encoder and decoder.
    """

    def __init__(self, cfg):
        self.cfg = cfg
        uop_w = cfg.log_uop_depth
        acc_w, inp_w, wgt_w = cfg.log_acc_depth, cfg.log_inp_depth, cfg.log_wgt_depth
        self.header = HEADER
        self.mem = MEM
        compute_low = [
            ("hdr", HEADER),
            ("reset_reg", 1),
            ("uop_bgn", uop_w),
            ("uop_end", uop_w + 1),
            ("iter_out", ITER_BITS),
            ("iter_in", ITER_BITS),
            ("requant", 1),
        ]
        low_why = f"LOG_UOP_BUFF_SIZE={cfg.log_uop_buff_size} gives {uop_w}-bit uop indices; it must be ≤ 15"
        gemm_why = (f"2·(log acc depth {acc_w} + log inp depth {inp_w} + log wgt depth {wgt_w}) must be ≤ 64; "
                    f"shrink LOG_ACC_BUFF_SIZE, LOG_INP_BUFF_SIZE or LOG_WGT_BUFF_SIZE")
        self.gemm = _halves("GEMM", compute_low, [
            ("dst_factor_out", acc_w),
            ("dst_factor_in", acc_w),
            ("src_factor_out", inp_w),
            ("src_factor_in", inp_w),
            ("wgt_factor_out", wgt_w),
            ("wgt_factor_in", wgt_w),
        ], low_why, gemm_why)
        self.alu = _halves("ALU", compute_low, [
            ("dst_factor_out", acc_w),
            ("dst_factor_in", acc_w),
            ("src_factor_out", acc_w),
            ("src_factor_in", acc_w),
            ("alu_opcode", AluOp),
            ("use_imm", 1),
            ("imm", signed(IMM_BITS)),
        ], low_why, f"4·log acc depth ({acc_w}) + 20 must be ≤ 64; shrink LOG_ACC_BUFF_SIZE to at most "
                    f"{cfg.log_acc_buff_size - acc_w + 11}")
        self.finish = _halves("FINISH", [("hdr", HEADER)], [], "", "")
        self.insn = data.UnionLayout({
            "hdr": HEADER, "mem": self.mem, "gemm": self.gemm, "alu": self.alu, "finish": self.finish,
        })
        src_w = max(acc_w, inp_w)
        uop_bits = acc_w + src_w + wgt_w
        if uop_bits > UOP_BITS:
            raise ConfigError(
                f"a micro-op needs log acc depth {acc_w} + max(log acc, log inp depth) {src_w} + log wgt depth "
                f"{wgt_w} = {uop_bits} bits, more than 32; shrink LOG_ACC_BUFF_SIZE, LOG_INP_BUFF_SIZE or "
                f"LOG_WGT_BUFF_SIZE")
        uop_fields = {"dst_idx": acc_w, "src_idx": src_w, "wgt_idx": wgt_w}
        if uop_bits < UOP_BITS:
            uop_fields["_pad0"] = UOP_BITS - uop_bits
        self.uop = data.StructLayout(uop_fields)
        self.fields = {kind: flatten(getattr(self, kind)) for kind in ("mem", "gemm", "alu", "finish", "uop")}
        # Bits that carry a field; any other bit of a word is reserved and must be zero.
        self.used_mask = {kind: sum(f.mask << f.offset for f in fields) for kind, fields in self.fields.items()}
        for kind in ("mem", "gemm", "alu", "finish"):
            assert getattr(self, kind).size == INSN_BITS, kind

    def field(self, kind, name):
        """The flattened `Field` ``name`` of layout ``kind`` ("mem", "gemm", "alu", "finish", "uop")."""
        for f in self.fields[kind]:
            if f.name == name:
                return f
        raise KeyError(f"{kind} has no field {name!r}")

