"""Golden instruction words for the default config, built by hand from the bit table of upstream's ISA
(docs/upstream-isa.md, "Instruction encoding"), checked against the encoder and the decoder in both directions.

Every expected integer here is written as explicit ``value << bit`` sums (or literal hex) from that table, never
computed from the project's layouts, so a wrong offset or width in `vta.isa.layouts` fails these tests.
"""

import pytest

from vta import ISAError, load_config
from vta.isa import Alu, AluOp, Finish, Gemm, Load, MemId, Store, Uop, decode, decode_uop, encode, encode_uop

CFG = load_config("default")

# (instruction, expected word) — bit positions from ISA.md section 2
GOLDEN = [
    (
        Load(memory_type=MemId.INP, sram_base=0x123, dram_base=0x89ABCDE, y_size=5, x_size=7, x_stride=9,
             y_pad_0=1, y_pad_1=2, x_pad_0=3, x_pad_1=4, pop_next_dep=True, push_next_dep=True),
        (0 << 0) | (1 << 4) | (1 << 6) | (2 << 7) | (0x123 << 10) | (0x89ABCDE << 26)
        | (5 << 64) | (7 << 80) | (9 << 96) | (1 << 112) | (2 << 116) | (3 << 120) | (4 << 124),
    ),
    (
        Load(memory_type=MemId.UOP, sram_base=0, dram_base=64, y_size=1, x_size=4, x_stride=4),
        (0 << 0) | (0 << 7) | (64 << 26) | (1 << 64) | (4 << 80) | (4 << 96),
    ),
    (
        Load(memory_type=MemId.ACC_8BIT, sram_base=2, dram_base=3, y_size=1, x_size=1, x_stride=1,
             pop_prev_dep=True, push_prev_dep=True),
        (0 << 0) | (1 << 3) | (1 << 5) | (5 << 7) | (2 << 10) | (3 << 26) | (1 << 64) | (1 << 80) | (1 << 96),
    ),
    (
        Store(sram_base=17, dram_base=1000, y_size=2, x_size=3, x_stride=4, pop_prev_dep=True, push_prev_dep=True),
        (1 << 0) | (1 << 3) | (1 << 5) | (4 << 7) | (17 << 10) | (1000 << 26) | (2 << 64) | (3 << 80) | (4 << 96),
    ),
    (
        Gemm(reset_reg=True, uop_bgn=5, uop_end=9, iter_out=3, iter_in=4, dst_factor_out=7, dst_factor_in=1,
             src_factor_out=6, src_factor_in=2, wgt_factor_out=5, wgt_factor_in=3,
             pop_prev_dep=True, push_next_dep=True),
        (2 << 0) | (1 << 3) | (1 << 6) | (1 << 7) | (5 << 8) | (9 << 21) | (3 << 35) | (4 << 49)
        | (7 << 64) | (1 << 75) | (6 << 86) | (2 << 97) | (5 << 108) | (3 << 118),
    ),
    (
        Gemm(uop_bgn=0, uop_end=1),  # iter 1x1 by default
        (2 << 0) | (0 << 8) | (1 << 21) | (1 << 35) | (1 << 49),
    ),
    (
        Alu(alu_opcode=AluOp.SHR, use_imm=True, imm=-3, uop_bgn=0, uop_end=1, iter_out=2, iter_in=1,
            dst_factor_out=1, src_factor_out=1, pop_next_dep=True, push_prev_dep=True),
        (4 << 0) | (1 << 4) | (1 << 5) | (0 << 8) | (1 << 21) | (2 << 35) | (1 << 49)
        | (1 << 64) | (1 << 86) | (3 << 108) | (1 << 111) | (0xFFFD << 112),
    ),
    (
        Alu(alu_opcode=AluOp.MAX, use_imm=False, uop_bgn=2, uop_end=6, dst_factor_in=4, src_factor_in=8),
        (4 << 0) | (2 << 8) | (6 << 21) | (1 << 35) | (1 << 49) | (4 << 75) | (8 << 97) | (1 << 108),
    ),
    (Finish(), 0x3),
    (Finish(pop_next_dep=True), 0x13),
]

# The largest value of every field at once (and the largest valid enum member), to catch off-by-one widths.
MAX_WORDS = [
    (
        Load(memory_type=MemId.ACC_8BIT, sram_base=0xFFFF, dram_base=0xFFFF_FFFF, y_size=0xFFFF, x_size=0xFFFF,
             x_stride=0xFFFF, y_pad_0=15, y_pad_1=15, x_pad_0=15, x_pad_1=15, pop_prev_dep=True,
             pop_next_dep=True, push_prev_dep=True, push_next_dep=True),
        # bits [63:58] are unused; memory_type 5 = 0b101
        (0b1111 << 3) | (0b101 << 7) | (0xFFFF << 10) | (0xFFFF_FFFF << 26) | (0xFFFF_FFFF_FFFF_FFFF << 64),
    ),
    (
        Gemm(reset_reg=True, uop_bgn=2**13 - 1, uop_end=2**14 - 1, iter_out=2**14 - 1, iter_in=2**14 - 1,
             dst_factor_out=2**11 - 1, dst_factor_in=2**11 - 1, src_factor_out=2**11 - 1, src_factor_in=2**11 - 1,
             wgt_factor_out=2**10 - 1, wgt_factor_in=2**10 - 1, pop_prev_dep=True, pop_next_dep=True,
             push_prev_dep=True, push_next_dep=True),
        # every bit set except the opcode (0b010) and the unused bit 63
        0xFFFF_FFFF_FFFF_FFFF_7FFF_FFFF_FFFF_FFFA,
    ),
    (
        Alu(reset_reg=True, uop_bgn=2**13 - 1, uop_end=2**14 - 1, iter_out=2**14 - 1, iter_in=2**14 - 1,
            dst_factor_out=2**11 - 1, dst_factor_in=2**11 - 1, src_factor_out=2**11 - 1, src_factor_in=2**11 - 1,
            alu_opcode=AluOp.MUL, use_imm=True, imm=0x7FFF, pop_prev_dep=True, pop_next_dep=True,
            push_prev_dep=True, push_next_dep=True),
        # opcode 0b100, bit 63 unused; MUL = 0b100 at [110:108] + use_imm [111] = nibble 0xC; imm 0x7FFF at [127:112]
        0x7FFF_CFFF_FFFF_FFFF_7FFF_FFFF_FFFF_FFFC,
    ),
    (
        Alu(alu_opcode=AluOp.MIN, use_imm=True, imm=-32768, uop_bgn=0, uop_end=0, iter_out=0, iter_in=0),
        (4 << 0) | (1 << 111) | (0x8000 << 112),
    ),
    (
        Finish(pop_prev_dep=True, pop_next_dep=True, push_prev_dep=True, push_next_dep=True),
        0x7B,
    ),
]

GOLDEN_UOPS = [
    (Uop(dst_idx=3, src_idx=5, wgt_idx=7), (3 << 0) | (5 << 11) | (7 << 22)),
    (Uop(dst_idx=0, src_idx=0, wgt_idx=0), 0),
    (Uop(dst_idx=2047, src_idx=2047, wgt_idx=1023), 0xFFFF_FFFF),
    (Uop(dst_idx=1, src_idx=1, wgt_idx=1), 0x0040_0801),
]


@pytest.mark.parametrize("insn, word", GOLDEN + MAX_WORDS, ids=lambda x: type(x).__name__ if not isinstance(x, int)
                         else hex(x))
def test_encode_matches_hand_built_word(insn, word):
    assert encode(CFG, insn) == word


@pytest.mark.parametrize("insn, word", GOLDEN + MAX_WORDS, ids=lambda x: type(x).__name__ if not isinstance(x, int)
                         else hex(x))
def test_decode_of_hand_built_word_gives_fields(insn, word):
    assert decode(CFG, word) == insn


@pytest.mark.parametrize("uop, word", GOLDEN_UOPS)
def test_uop_both_ways(uop, word):
    assert encode_uop(CFG, uop) == word
    assert decode_uop(CFG, word) == uop


def test_program_bytes_are_little_endian():
    from vta.isa import encode_program
    image = encode_program(CFG, [Finish(pop_next_dep=True), Gemm(uop_bgn=0, uop_end=1)])
    assert image.dtype.name == "uint8" and image.size == 32
    assert list(image[:16]) == [0x13] + [0] * 15
    # GEMM: opcode 2, uop_end 1 at bit 21 (byte 2, bit 5), iter_out 1 at bit 35 (byte 4 bit 3),
    # iter_in 1 at bit 49 (byte 6 bit 1)
    assert list(image[16:24]) == [0x02, 0x00, 0x20, 0x00, 0x08, 0x00, 0x02, 0x00]
    assert list(image[24:32]) == [0] * 8


# The table of ISA.md section 2: name → (msb, lsb); plus this project's requant bit 63 (upstream padding)
ISA_MD_FIELDS = {
    "mem": {"opcode": (2, 0), "pop_prev_dep": (3, 3), "pop_next_dep": (4, 4), "push_prev_dep": (5, 5),
            "push_next_dep": (6, 6), "memory_type": (9, 7), "sram_base": (25, 10), "dram_base": (57, 26),
            "y_size": (79, 64), "x_size": (95, 80), "x_stride": (111, 96), "y_pad_0": (115, 112),
            "y_pad_1": (119, 116), "x_pad_0": (123, 120), "x_pad_1": (127, 124)},
    "gemm": {"opcode": (2, 0), "pop_prev_dep": (3, 3), "pop_next_dep": (4, 4), "push_prev_dep": (5, 5),
             "push_next_dep": (6, 6), "reset_reg": (7, 7), "uop_bgn": (20, 8), "uop_end": (34, 21),
             "iter_out": (48, 35), "iter_in": (62, 49), "requant": (63, 63),
             "dst_factor_out": (74, 64), "dst_factor_in": (85, 75),
             "src_factor_out": (96, 86), "src_factor_in": (107, 97), "wgt_factor_out": (117, 108),
             "wgt_factor_in": (127, 118)},
    "alu": {"opcode": (2, 0), "pop_prev_dep": (3, 3), "pop_next_dep": (4, 4), "push_prev_dep": (5, 5),
            "push_next_dep": (6, 6), "reset_reg": (7, 7), "uop_bgn": (20, 8), "uop_end": (34, 21),
            "iter_out": (48, 35), "iter_in": (62, 49), "requant": (63, 63),
            "dst_factor_out": (74, 64), "dst_factor_in": (85, 75),
            "src_factor_out": (96, 86), "src_factor_in": (107, 97), "alu_opcode": (110, 108), "use_imm": (111, 111),
            "imm": (127, 112)},
    "finish": {"opcode": (2, 0), "pop_prev_dep": (3, 3), "pop_next_dep": (4, 4), "push_prev_dep": (5, 5),
               "push_next_dep": (6, 6)},
    "uop": {"dst_idx": (10, 0), "src_idx": (21, 11), "wgt_idx": (31, 22)},
}


@pytest.mark.parametrize("kind", sorted(ISA_MD_FIELDS))
def test_field_table_matches_isa_md(kind):
    got = {f.name: (f.offset + f.width - 1, f.offset) for f in CFG.isa.fields[kind]}
    assert got == ISA_MD_FIELDS[kind]
    signed = {f.name for f in CFG.isa.fields[kind] if f.signed}
    assert signed == ({"imm"} if kind == "alu" else set())


def test_enum_values_match_isa_md():
    assert {o.name: o.value for o in __import__("vta.isa", fromlist=["Opcode"]).Opcode} == \
        {"LOAD": 0, "STORE": 1, "GEMM": 2, "FINISH": 3, "ALU": 4}
    # upstream's five, then this project's extension in upstream's unused values (docs/semantics.md)
    assert {o.name: o.value for o in AluOp} == {"MIN": 0, "MAX": 1, "ADD": 2, "SHR": 3, "MUL": 4, "MOV": 5, "SETQ": 6}
    assert {m.name: m.value for m in MemId} == {"UOP": 0, "WGT": 1, "INP": 2, "ACC": 3, "OUT": 4, "ACC_8BIT": 5}


@pytest.mark.parametrize("insn, field", [
    (Gemm(uop_bgn=2**13, uop_end=1), "uop_bgn"),         # one past the 13-bit maximum
    (Gemm(uop_bgn=0, uop_end=2**14), "uop_end"),
    (Gemm(uop_bgn=0, uop_end=1, wgt_factor_in=2**10), "wgt_factor_in"),
    (Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=1, imm=0x8000, use_imm=True), "imm"),
    (Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=1, imm=-0x8001, use_imm=True), "imm"),
    (Load(memory_type=MemId.INP, sram_base=0, dram_base=2**32, y_size=1, x_size=1, x_stride=1), "dram_base"),
    (Load(memory_type=MemId.INP, sram_base=0, dram_base=0, y_size=1, x_size=1, x_stride=1, x_pad_1=16), "x_pad_1"),
])
def test_one_past_the_maximum_is_rejected(insn, field):
    with pytest.raises(ISAError, match=rf"\b{field}\b"):
        encode(CFG, insn)
