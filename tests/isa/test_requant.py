"""The one-pass-epilogue extension in the ISA tools: the requant flag, ALU MOV and SETQ through the encoder,
decoder, assembler/disassembler, static verifier and hazard finder (the simulator's side: tests/sim)."""

import pytest

from vta import ISAError, ProgramError, load_config
from vta.isa import Alu, AluOp, Finish, Gemm, Load, MemId, Store, Uop, assemble, decode, disassemble, encode
from vta.isa.requant import is_setq, out_bounds, setq_fields, setq_imm, setq_problem
from vta.isa.verify import ERROR, check_program, verify

CFG = load_config("small")


def setq(shift, relu, **kw):
    return Alu(alu_opcode=AluOp.SETQ, **{"uop_bgn": 0, "uop_end": 0, **kw}, use_imm=True, imm=shift + 32 * relu)


# -- the rules ---------------------------------------------------------------------------------------------------

def test_setq_immediate_layout():
    assert setq_imm(0, False) == 0 and setq_imm(31, False) == 31 and setq_imm(5, True) == 37
    assert setq_fields(37) == (5, True) and setq_fields(31) == (31, False) and setq_fields(63) == (31, True)
    for bad in (32, -1, 2.0, True):
        with pytest.raises(ISAError, match=r"SETQ shift must be an integer 0\.\.31, not"):
            setq_imm(bad, False)
    assert out_bounds(8, False) == (-128, 127) and out_bounds(8, True) == (0, 127)
    assert is_setq(AluOp.SETQ) and is_setq(6) and not is_setq(AluOp.MOV) and not is_setq(5)


def test_setq_problem_rules():
    assert setq_problem(AluOp.SETQ, True, 63, False) is None
    assert setq_problem(AluOp.ADD, False, -5, True) is None          # only SETQ has these rules
    assert "use_imm must be 1" in setq_problem(AluOp.SETQ, False, 0, False)
    assert "imm[15:6] must be 0" in setq_problem(AluOp.SETQ, True, 64, False)
    assert "imm[15:6] must be 0" in setq_problem(AluOp.SETQ, True, -32768, False)
    assert "requant must be 0" in setq_problem(AluOp.SETQ, True, 0, True)


# -- encoder / decoder -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("insn", [
    Gemm(uop_bgn=1, uop_end=5, iter_out=2, requant=True),
    Gemm(reset_reg=True, uop_bgn=0, uop_end=1, requant=True),
    Alu(alu_opcode=AluOp.MOV, uop_bgn=0, uop_end=3, use_imm=True, imm=-7, requant=True),
    Alu(alu_opcode=AluOp.MOV, uop_bgn=0, uop_end=3, src_factor_in=2),
    Alu(alu_opcode=AluOp.MAX, uop_bgn=0, uop_end=3, use_imm=True, imm=0, requant=True),
    setq(13, True, push_next_dep=True),
], ids=["gemm", "reset-gemm", "mov-imm", "mov-tensor", "max", "setq"])
def test_words_round_trip(insn):
    word = encode(CFG, insn)
    assert decode(CFG, word) == insn
    assert decode(CFG, word).requant is insn.requant   # a bool, like reset_reg
    text = disassemble(CFG, [insn])
    assert assemble(CFG, text).insns == [insn]


def test_requant_is_bit_63_on_the_default_config():
    cfg = load_config("default")
    plain = encode(cfg, Gemm(uop_bgn=0, uop_end=1))
    assert encode(cfg, Gemm(uop_bgn=0, uop_end=1, requant=True)) == plain | 1 << 63


# -- assembler / disassembler ------------------------------------------------------------------------------------

def test_assembler_syntax():
    text = """
    alu setq shift=8 relu push_next
    alu setq shift=3
    alu setq imm=5 uop=0:1
    alu mov uop=0:4 imm=-3 requant
    alu mov uop=0:4 src=1,0
    gemm uop=1:5 iter=2x3 dst=8,1 requant
    gemm reset uop=0:1 requant=1
    """
    got = assemble(CFG, text).insns
    assert got == [
        setq(8, True, push_next_dep=True),
        setq(3, False),
        Alu(alu_opcode=AluOp.SETQ, uop_bgn=0, uop_end=1, use_imm=True, imm=5),
        Alu(alu_opcode=AluOp.MOV, uop_bgn=0, uop_end=4, use_imm=True, imm=-3, requant=True),
        Alu(alu_opcode=AluOp.MOV, uop_bgn=0, uop_end=4, src_factor_out=1),
        Gemm(uop_bgn=1, uop_end=5, iter_out=2, iter_in=3, dst_factor_out=8, dst_factor_in=1, requant=True),
        Gemm(reset_reg=True, uop_bgn=0, uop_end=1, requant=True),
    ]


def test_disassembler_canonical_text():
    lines = disassemble(CFG, [setq(8, True), setq(0, False, iter_out=2, uop_end=3),
                              Alu(alu_opcode=AluOp.MOV, uop_bgn=0, uop_end=2, use_imm=True, imm=1, requant=True),
                              Gemm(uop_bgn=0, uop_end=1, requant=True)]).splitlines()
    assert lines == ["alu setq shift=8 relu", "alu setq shift=0 uop=0:3 iter=2x1",
                     "alu mov requant uop=0:2 iter=1x1 imm=1", "gemm requant uop=0:1 iter=1x1"]


def test_malformed_setq_objects_disassemble_generically():
    """The assembler encodes whatever the word can hold: a malformed SETQ object prints in the imm= form and
    assembles back to itself (the decoder, the verifier and the simulator reject it)."""
    bad = [Alu(alu_opcode=AluOp.SETQ, uop_bgn=0, uop_end=0, use_imm=True, imm=64),
           Alu(alu_opcode=AluOp.SETQ, uop_bgn=0, uop_end=0, imm=3),
           Alu(alu_opcode=AluOp.SETQ, uop_bgn=0, uop_end=0, use_imm=True, imm=2, requant=True)]
    text = disassemble(CFG, bad)
    assert text.splitlines() == ["alu setq uop=0:0 iter=1x1 imm=64", "alu setq uop=0:0 iter=1x1 unused_imm=3",
                                 "alu setq requant uop=0:0 iter=1x1 imm=2"]
    assert assemble(CFG, text).insns == bad


@pytest.mark.parametrize("text, message", [
    ("alu setq shift=32", "line 1: SETQ shift must be an integer 0..31, not 32"),
    ("alu add uop=0:1 shift=3", "line 1: shift= and relu belong to alu setq, not alu add"),
    ("alu max uop=0:1 relu", "line 1: shift= and relu belong to alu setq, not alu max"),
    ("alu setq shift=3 imm=3", "line 1: give either shift=/relu or imm= on alu setq, not both"),
    ("gemm uop=0:1 requant=2", "line 1: requant=2 must be 0 or 1"),
    ("gemm uop=0:1 requant requant", "line 1: flag 'requant' given twice"),
    ("alu mov imm=1", "line 1: missing uop=BEGIN:END"),
])
def test_assembler_errors(text, message):
    with pytest.raises(ISAError) as e:
        assemble(CFG, text)
    assert str(e.value) == message


# -- verifier and hazards ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, message", [
    (dict(use_imm=False), "ALU SETQ: use_imm must be 1"),
    (dict(imm=100), "ALU SETQ: imm[15:6] must be 0"),
    (dict(requant=True), "ALU SETQ: requant must be 0"),
])
def test_verify_rejects_malformed_setq(bad, message):
    insns = [setq(2, False).replace(**bad), Finish()]
    for program in (insns, bytes(assemble(CFG, disassemble(CFG, insns)).insn_image())):   # objects and image
        (p,) = [p for p in verify(CFG, program) if p.severity == ERROR]
        assert p.index == 0 and message in p.message, p
    with pytest.raises(ProgramError, match=r"ALU SETQ: "):
        check_program(CFG, insns)


def test_verify_setq_reads_no_uop():
    """A SETQ over a uop range beyond the given table, with loops reaching past acc, is clean; only the uop
    depth applies to it."""
    insns = [Alu(alu_opcode=AluOp.SETQ, uop_bgn=0, uop_end=8, iter_out=100, dst_factor_out=500, use_imm=True, imm=1),
             Finish()]
    assert verify(CFG, insns, [Uop(0, 0)]) == []
    far = [insns[0].replace(uop_bgn=1023, uop_end=1025), Finish()]
    (p,) = verify(CFG, far)
    assert "beyond the uop depth 1024" in p.message
    assert "reset_reg must be 0" in only(verify(CFG, [insns[0].replace(reset_reg=True), Finish()]))


def only(problems):
    (p,) = [p for p in problems if p.severity == ERROR]
    return p.message


def test_verify_mov_and_requant_like_other_alu_words():
    uops = [Uop(0, 500)]   # src reaches 500 + 20 beyond acc (512)
    mov = Alu(alu_opcode=AluOp.MOV, uop_bgn=0, uop_end=1, iter_in=2, src_factor_in=20, requant=True)
    assert "src index reaches 520" in only(verify(CFG, [mov, Finish()], uops))
    assert verify(CFG, [mov.replace(use_imm=True, imm=4), Finish()], uops) == []


def test_setq_is_no_race():
    """SETQ touches no out element, so a STORE reading out while it runs is no race; a MOV writing out is."""
    uops = [Uop(0, 0)]
    store = Store(sram_base=0, dram_base=0, y_size=1, x_size=1, x_stride=1)
    base = [Load(memory_type=MemId.UOP, sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0)]
    q = Alu(alu_opcode=AluOp.SETQ, uop_bgn=0, uop_end=1, use_imm=True, imm=3)
    assert verify(CFG, [*base, q, store, Finish()], uops, hazards=True) == []
    mov = Alu(alu_opcode=AluOp.MOV, uop_bgn=0, uop_end=1, use_imm=True, imm=3)
    assert "write and read out[0] with no dependency token" in only(verify(CFG, [*base, mov, store, Finish()], uops,
                                                                         hazards=True))
