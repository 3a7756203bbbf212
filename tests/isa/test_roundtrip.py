"""Property tests: encode → decode → encode, and assemble ↔ disassemble, over random valid instructions of several
configs; plus the decoder's and encoder's errors on malformed words and out-of-range fields."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vta import ISAError, VTAConfig, load_config
from vta.isa import (
    Alu,
    AluOp,
    Finish,
    Gemm,
    Load,
    MemId,
    Store,
    Uop,
    assemble,
    decode,
    decode_program,
    decode_uop,
    disassemble,
    encode,
    encode_program,
    encode_uop,
    encode_uops,
)

CONFIGS = {
    "default": load_config("default"),
    "small": load_config("small"),
    # non-square, batched: acc depth 2^10, inp 2^11, wgt 2^11 — every GEMM/uop field width differs from default
    "odd": VTAConfig(log_batch=1, log_block_in=3, log_block_out=4),
}
CLASSES = {"load": Load, "store": Store, "gemm": Gemm, "alu": Alu, "finish": Finish}
KIND = {"load": "mem", "store": "mem", "gemm": "gemm", "alu": "alu", "finish": "finish"}
BOOLS = {"pop_prev_dep", "pop_next_dep", "push_prev_dep", "push_next_dep", "reset_reg", "use_imm", "requant"}


def field_values(cfg, kind):
    """A strategy for a dict of valid values of every field of layout ``kind`` (opcode excluded)."""
    parts = {}
    for f in cfg.isa.fields[kind]:
        if f.name == "opcode":
            continue
        if f.enum is not None:
            parts[f.name] = st.sampled_from(list(f.enum))
        elif f.name in BOOLS:
            parts[f.name] = st.booleans()
        else:
            parts[f.name] = st.integers(f.min, f.max)
    return st.fixed_dictionaries(parts)


def well_formed(v):
    """A SETQ's fields made decodable (use_imm, imm 0..63, no requant: `vta.isa.requant`); other words as drawn."""
    if v.get("alu_opcode") is AluOp.SETQ:
        v = {**v, "use_imm": True, "imm": v["imm"] & 63, "requant": False}
    return v


def insns(cfg):
    return st.one_of(*[field_values(cfg, KIND[name]).map(lambda v, cls=cls: cls(**well_formed(v)))
                       for name, cls in CLASSES.items()])


def uops(cfg):
    return field_values(cfg, "uop").map(lambda v: Uop(**v))


def assert_roundtrip(cfg, obj, enc, dec, bits):
    """``obj`` encodes to a ``bits``-bit word that decodes back to an equal object of the same type and re-encodes
    to the same word."""
    word = enc(cfg, obj)
    assert 0 <= word < 1 << bits
    back = dec(cfg, word)
    assert back == obj and type(back) is type(obj)
    assert enc(cfg, back) == word


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_encode_decode_encode(cfg, data):
    assert_roundtrip(cfg, data.draw(insns(cfg)), encode, decode, 128)


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_uop_encode_decode_encode(cfg, data):
    assert_roundtrip(cfg, data.draw(uops(cfg)), encode_uop, decode_uop, 32)


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_asm_of_disasm_reproduces_bytes(cfg, data):
    program = data.draw(st.lists(insns(cfg), min_size=1, max_size=12))
    table = data.draw(st.lists(uops(cfg), max_size=6))
    image, uop_image = encode_program(cfg, program), encode_uops(cfg, table)
    text = disassemble(cfg, image, uop_image)
    again = assemble(cfg, text)
    assert again.insns == program and again.uops == table
    assert bytes(again.insn_image()) == bytes(image)
    assert bytes(again.uop_image()) == bytes(uop_image)
    # and the text is a fixed point: disassembling what it assembles to gives the same text
    assert disassemble(cfg, again.insns, again.uops) == text


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_numbered_disasm_still_assembles(cfg, data):
    program = data.draw(st.lists(insns(cfg), min_size=1, max_size=5))
    text = disassemble(cfg, program, numbers=True)
    assert "# 0" in text
    assert assemble(cfg, text).insns == program


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
@settings(max_examples=300, deadline=None)
@given(opcode=st.sampled_from([0, 1, 2, 3, 4]), bits=st.integers(0, (1 << 128) - 1))
def test_every_decodable_word_round_trips_through_text(cfg, opcode, bits):
    # random bits in every field of the opcode's layout (reserved bits clear): decodable unless an enum is invalid
    # or the word is a malformed SETQ
    kind = {0: "mem", 1: "mem", 2: "gemm", 3: "finish", 4: "alu"}[opcode]
    word = (bits & cfg.isa.used_mask[kind] & ~0b111) | opcode
    try:
        insn = decode(cfg, word)
    except ISAError as e:
        assert "is not a valid" in str(e) or str(e).startswith("ALU SETQ: ")
        return
    image = np.frombuffer(word.to_bytes(16, "little"), dtype=np.uint8)
    assert bytes(assemble(cfg, disassemble(cfg, image)).insn_image()) == bytes(image)
    assert encode(cfg, insn) == word


def test_hand_written_text_round_trips_to_the_same_bytes():
    cfg = CONFIGS["default"]
    text = """
    # a comment line
    LOAD INP sram=0 dram=64 y=4 x=4 stride=4 pad=1,1,0,0 pop_next push_next   # upper case words
    load wgt sram=0 dram=0x10 y=1 x=4
    gemm reset uop=0:1 iter=4x1 dst=1,0
    gemm uop=1:5 iter=2x3 dst=8,1 src=16,2 wgt=0,4 pop_prev push_next
    alu max uop=0:4 iter=1x1 imm=-5
    alu shr uop=0:4 unused_imm=3
    store sram=0 dram=128 y=4 x=4 pop_prev push_prev
    finish pop_next_dep
    .uop dst=0 src=0 wgt=0
    .uop 1 2
    """
    p = assemble(cfg, text)
    assert p.lines == [3, 4, 5, 6, 7, 8, 9, 10]
    assert p.insns[0] == Load(memory_type=MemId.INP, sram_base=0, dram_base=64, y_size=4, x_size=4, x_stride=4,
                              y_pad_0=1, y_pad_1=1, pop_next_dep=True, push_next_dep=True)
    assert p.insns[1].x_stride == 4 and p.insns[1].dram_base == 16
    assert p.insns[3] == Gemm(uop_bgn=1, uop_end=5, iter_out=2, iter_in=3, dst_factor_out=8, dst_factor_in=1,
                              src_factor_out=16, src_factor_in=2, wgt_factor_out=0, wgt_factor_in=4,
                              pop_prev_dep=True, push_next_dep=True)
    assert p.insns[4] == Alu(alu_opcode=AluOp.MAX, uop_bgn=0, uop_end=4, use_imm=True, imm=-5)
    assert p.insns[5] == Alu(alu_opcode=AluOp.SHR, uop_bgn=0, uop_end=4, use_imm=False, imm=3)
    assert p.insns[6] == Store(sram_base=0, dram_base=128, y_size=4, x_size=4, x_stride=4,
                               pop_prev_dep=True, push_prev_dep=True)
    assert p.insns[7] == Finish(pop_next_dep=True)
    assert p.uops == [Uop(0, 0, 0), Uop(1, 2, 0)]
    again = assemble(cfg, disassemble(cfg, p.insn_image(), p.uop_image()))
    assert bytes(again.insn_image()) == bytes(p.insn_image())
    assert bytes(again.uop_image()) == bytes(p.uop_image())


# -- assembler errors ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("line, message", [
    ("alu maxx uop=0:1", "line 3: unknown ALU op 'maxx' (expected one of min, max, add, shr, mul, mov, setq)"),
    ("frobnicate", "line 3: unknown mnemonic 'frobnicate'"),
    ("load sram=0 dram=0 y=1 x=1", "line 3: expected a buffer after load, got nothing"),
    ("load bogus sram=0 dram=0 y=1 x=1", "line 3: expected a buffer after load, got 'bogus'"),
    ("load inp dram=0 y=1 x=1", "line 3: missing sram="),
    ("load inp sram=0 dram=0 y=1 x=70000", "line 3: LOAD field x_size=70000 does not fit its 16-bit field "
                                           "(range 0..65535)"),
    ("load inp sram=zero dram=0 y=1 x=1", "line 3: sram='zero' is not a number"),
    ("load inp sram=0 dram=0 y=1 x=1 pad=1,2", "line 3: pad='1,2' must be four numbers"),
    ("load inp sram=0 sram=1 dram=0 y=1 x=1", "line 3: 'sram' given twice"),
    ("gemm uop=0:1 iter=2", "line 3: iter='2' must be OUTERxINNER"),
    ("gemm uop=0:1 wgt=1", "line 3: wgt='1' must be two factors OUTER,INNER"),
    ("gemm iter=1x1", "line 3: missing uop=BEGIN:END"),
    ("gemm uop=0:1 bogus", "line 3: unexpected word 'bogus' in gemm"),
    ("gemm uop=0:1 x=4", "line 3: unknown key 'x' for gemm"),
    ("gemm uop=0:99999", "line 3: GEMM field uop_end=99999 does not fit its 14-bit field (range 0..16383)"),
    ("alu add uop=0:1 imm=40000", "line 3: ALU field imm=40000 does not fit its 16-bit field (range -32768..32767)"),
    ("alu add uop=0:1 imm=1 unused_imm=2", "line 3: give either imm= or unused_imm="),
    ("alu uop=0:1", "line 3: missing ALU op"),
    ("alu add uop=0:1 wgt=0,0", "line 3: unknown key 'wgt' for alu"),
    ("finish pop_next pop_next", "line 3: flag 'pop_next' given twice"),
    (".uop 1", "line 3: .uop takes 2 or 3 numbers"),
    (".uop dst=1", "line 3: missing src="),
    (".uop dst=5000 src=0", "line 3: uop field dst_idx=5000 does not fit its 11-bit field (range 0..2047)"),
])
def test_assembler_errors_name_line_token_and_expectation(line, message):
    with pytest.raises(ISAError) as e:
        assemble(CONFIGS["default"], "finish\n# comment\n" + line + "\nfinish\n")
    assert str(e.value).startswith(message), str(e.value)
    assert e.value.line == 3


# -- decoder errors --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("opcode", [5, 6, 7])
def test_unknown_opcode(opcode):
    with pytest.raises(ISAError, match=f"unknown opcode {opcode}"):
        decode(CONFIGS["default"], opcode)


@pytest.mark.parametrize("mem", [6, 7])
@pytest.mark.parametrize("opcode", [0, 1])
def test_bad_memory_type(opcode, mem):
    with pytest.raises(ISAError, match=f"memory_type={mem} is not a valid MemId"):
        decode(CONFIGS["default"], opcode | (mem << 7))


@pytest.mark.parametrize("op", [7])   # 5 and 6 are this project's MOV and SETQ
def test_bad_alu_op(op):
    with pytest.raises(ISAError, match=f"alu_opcode={op} is not a valid AluOp"):
        decode(CONFIGS["default"], 4 | (op << 108))


@pytest.mark.parametrize("cfg_name, word", [
    ("default", 0 | (1 << 58)),     # LOAD: [63:58] unused
    ("default", 1 | (1 << 63)),     # STORE
    ("default", 3 | (1 << 7)),      # FINISH: everything above the header
    ("default", 3 | (1 << 127)),
    # small: uop depth 2^10 → uop_bgn [17:8], uop_end [28:18], iter_out [42:29], iter_in [56:43], requant [57],
    # [63:58] unused
    ("small", 2 | (1 << 58)),
    ("small", 4 | (1 << 63)),
    # small: acc 2^9, inp 2^9, wgt 2^8 → GEMM high half uses 2·(9+9+8) = 52 bits, [127:116] unused
    ("small", 2 | (1 << 116)),
])
def test_reserved_bits_set(cfg_name, word):
    with pytest.raises(ISAError, match="reserved bits set"):
        decode(CONFIGS[cfg_name], word)


@pytest.mark.parametrize("cfg_name, bit", [("default", 63), ("small", 57), ("odd", 63)])
def test_requant_bit_follows_iter_in(cfg_name, bit):
    """Upstream's padding bit right after iter_in is this project's requant flag (GEMM and ALU alike)."""
    cfg = CONFIGS[cfg_name]
    assert decode(cfg, 2 | 1 << bit) == Gemm(uop_bgn=0, uop_end=0, iter_out=0, iter_in=0, requant=True)
    assert decode(cfg, 4 | 1 << bit) == Alu(alu_opcode=AluOp.MIN, uop_bgn=0, uop_end=0, iter_out=0, iter_in=0,
                                            requant=True)
    assert decode(cfg, 2 | 1 << bit).requant is True


def test_reserved_uop_bits_on_small_config():
    # small: dst 9 + src 9 + wgt 8 = 26 bits; bits [31:26] are reserved
    with pytest.raises(ISAError, match="reserved bits set"):
        decode_uop(CONFIGS["small"], 1 << 26)
    assert decode_uop(CONFIGS["small"], (1 << 26) - 1) == Uop(511, 511, 255)


def test_word_out_of_range():
    with pytest.raises(ISAError, match="128-bit"):
        decode(CONFIGS["default"], 1 << 128)
    with pytest.raises(ISAError, match="32-bit"):
        decode_uop(CONFIGS["default"], 1 << 32)


def test_decode_program_names_the_instruction():
    image = np.concatenate([encode_program(CONFIGS["default"], [Finish()]),
                            np.frombuffer((7).to_bytes(16, "little"), dtype=np.uint8)])
    with pytest.raises(ISAError, match="instruction 1: unknown opcode 7"):
        decode_program(CONFIGS["default"], image)
    with pytest.raises(ISAError, match="instruction 1: unknown opcode 7"):
        disassemble(CONFIGS["default"], image)
    with pytest.raises(ISAError, match="multiple of 16 bytes, not 17"):
        decode_program(CONFIGS["default"], np.zeros(17, dtype=np.uint8))


# -- encoder errors --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cfg_name, insn, field, limits", [
    ("default", Load(memory_type=MemId.INP, sram_base=1 << 16, dram_base=0, y_size=1, x_size=1, x_stride=1),
     "sram_base", "0..65535"),
    ("default", Load(memory_type=MemId.INP, sram_base=-1, dram_base=0, y_size=1, x_size=1, x_stride=1),
     "sram_base", "0..65535"),
    ("default", Store(sram_base=0, dram_base=0, y_size=1, x_size=1, x_stride=1, y_pad_0=16), "y_pad_0", "0..15"),
    ("small", Gemm(uop_bgn=1024, uop_end=1), "uop_bgn", "0..1023"),
    ("small", Gemm(uop_bgn=0, uop_end=1, wgt_factor_out=256), "wgt_factor_out", "0..255"),
    ("odd", Gemm(uop_bgn=0, uop_end=1, dst_factor_in=1024), "dst_factor_in", "0..1023"),
    ("odd", Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=1, src_factor_in=1024), "src_factor_in", "0..1023"),
    ("default", Gemm(uop_bgn=0, uop_end=1, iter_in=1 << 14), "iter_in", "0..16383"),
    ("default", Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=1, imm=-40000), "imm", "-32768..32767"),
])
def test_out_of_range_field_is_named(cfg_name, insn, field, limits):
    with pytest.raises(ISAError) as e:
        encode(CONFIGS[cfg_name], insn)
    assert f"field {field}=" in str(e.value) and limits in str(e.value)


@pytest.mark.parametrize("cfg_name, uop, field", [
    ("small", Uop(512, 0, 0), "dst_idx"),
    ("small", Uop(0, 512, 0), "src_idx"),
    ("small", Uop(0, 0, 256), "wgt_idx"),
    ("odd", Uop(0, 2048, 0), "src_idx"),   # src width is max(acc 10, inp 11) = 11 bits
])
def test_out_of_range_uop_field_is_named(cfg_name, uop, field):
    with pytest.raises(ISAError, match=f"field {field}="):
        encode_uop(CONFIGS[cfg_name], uop)


def test_odd_config_src_idx_is_inp_wide():
    cfg = CONFIGS["odd"]
    assert encode_uop(cfg, Uop(0, 2047, 0)) == 2047 << 10   # dst 10 bits, then src 11 bits


def test_bad_enum_and_type():
    cfg = CONFIGS["default"]
    with pytest.raises(ISAError, match="memory_type must be a MemId"):
        encode(cfg, Load(memory_type=7, sram_base=0, dram_base=0, y_size=1, x_size=1, x_stride=1))
    with pytest.raises(ISAError, match="must be an integer"):
        encode(cfg, Gemm(uop_bgn=0, uop_end="1"))
    with pytest.raises(ISAError, match="expected an instruction"):
        encode(cfg, Uop(0, 0, 0))


def _random_insn(cfg, rng, cls):
    """An instance of ``cls`` with every field drawn from its full range (extremes included)."""
    kind = cls.kind
    values = {}
    for f in cfg.isa.fields[kind]:
        if f.name == "opcode":
            continue
        if f.enum is not None:
            members = list(f.enum)
            values[f.name] = members[int(rng.integers(len(members)))]
            continue
        pick = rng.random()
        v = f.min if pick < 0.1 else f.max if pick < 0.2 else int(rng.integers(f.min, f.max + 1))
        values[f.name] = bool(v) if f.width == 1 and rng.random() < 0.5 else int(v)
    if cls is Store:
        values["memory_type"] = MemId.OUT
    return cls(**values)


@pytest.mark.parametrize("name", ["default", "small"])
def test_encode_program_columns_match_encode(name):
    """`encode_program` packs field columns with numpy; the bytes equal `encode` word by word, and any value
    `encode` would reject raises `encode`'s own error."""
    cfg = load_config(name)
    rng = np.random.default_rng(5)
    classes = [Load, Store, Gemm, Alu, Finish]
    insns = [_random_insn(cfg, rng, classes[int(rng.integers(5))]) for _ in range(2000)]
    expect = b"".join(encode(cfg, i).to_bytes(16, "little") for i in insns)
    assert bytes(encode_program(cfg, insns)) == expect
    assert bytes(encode_program(cfg, iter(insns))) == expect
    # odd but valid values (numpy ints, enum values as ints) go through `encode` and give the same bytes
    odd = insns[:5] + [insns[5].replace(pop_prev_dep=np.int64(1)), Load(memory_type=2, sram_base=np.uint16(3),
                                                                      dram_base=1, y_size=1, x_size=1, x_stride=1)]
    assert bytes(encode_program(cfg, odd)) == b"".join(encode(cfg, i).to_bytes(16, "little") for i in odd)
    gemm = Gemm(uop_bgn=0, uop_end=1)
    for bad in (gemm.replace(iter_out=1 << 14), gemm.replace(iter_in=-1), gemm.replace(uop_bgn=True),
                gemm.replace(dst_factor_in=2.0), Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=1, imm=1 << 15),
                Alu(alu_opcode=7, uop_bgn=0, uop_end=1), gemm.replace(wgt_factor_out=1 << 70)):
        with pytest.raises(ISAError) as want:
            encode(cfg, bad)
        with pytest.raises(ISAError) as got:
            encode_program(cfg, insns[:10] + [bad])
        assert str(got.value) == str(want.value)
