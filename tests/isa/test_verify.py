"""The static program verifier: one test per problem class (on the small config: uop depth 1024, inp 512, wgt 256,
acc/out 512 — depths from ISA.md's formulas), plus clean programs that must pass."""

import pytest

from vta import ProgramError, load_config
from vta.isa import Alu, AluOp, Finish, Gemm, Load, MemId, Store, Uop, encode_program, encode_uops
from vta.isa.verify import ERROR, WARNING, check_program, stage_of, verify

CFG = load_config("small")
UOP_DEPTH, INP_DEPTH, WGT_DEPTH, ACC_DEPTH = 1024, 512, 256, 512


def load(mem, sram=0, dram=0, y=1, x=1, stride=None, **kw):
    return Load(memory_type=mem, sram_base=sram, dram_base=dram, y_size=y, x_size=x,
                x_stride=x if stride is None else stride, **kw)


def store(sram=0, dram=0, y=1, x=1, **kw):
    return Store(sram_base=sram, dram_base=dram, y_size=y, x_size=x, x_stride=x, **kw)


def matmul_program():
    """C(3×16) = A(3×16) · W(16×16)ᵀ in 8×8 tiles, with balanced tokens between all three stages."""
    insns = [
        load(MemId.UOP, x=3),
        load(MemId.INP, dram=1, x=6),
        load(MemId.WGT, dram=1, x=4, push_next_dep=True),
        Gemm(reset_reg=True, uop_bgn=0, uop_end=1, iter_out=3, iter_in=2, dst_factor_out=2, dst_factor_in=1),
        Gemm(uop_bgn=1, uop_end=3, iter_out=3, iter_in=2, dst_factor_out=2, dst_factor_in=1, src_factor_out=2,
             wgt_factor_in=2, pop_prev_dep=True),
        Alu(alu_opcode=AluOp.SHR, uop_bgn=0, uop_end=1, iter_out=3, iter_in=2, dst_factor_out=2, dst_factor_in=1,
            src_factor_out=2, src_factor_in=1, use_imm=True, imm=2, push_next_dep=True),
        store(dram=100, x=6, pop_prev_dep=True, push_prev_dep=True),
        Finish(pop_next_dep=True),
    ]
    uops = [Uop(0, 0, 0), Uop(0, 0, 0), Uop(0, 1, 1)]
    return insns, uops


def errors(problems):
    return [p for p in problems if p.severity == ERROR]


def only_error(insns, uops=None, **kw):
    """The single error of a program (asserting there is exactly one)."""
    problems = errors(verify(CFG, insns, uops, **kw))
    assert len(problems) == 1, problems
    return problems[0]


# -- clean programs ----------------------------------------------------------------------------------------------

def test_clean_program_passes():
    insns, uops = matmul_program()
    assert verify(CFG, insns, uops, dram_size=4096) == []
    assert check_program(CFG, insns, uops) == []


def test_clean_program_passes_as_bytes():
    insns, uops = matmul_program()
    assert verify(CFG, encode_program(CFG, insns), encode_uops(CFG, uops)) == []


def test_finish_alone_is_clean():
    assert verify(CFG, [Finish()]) == []


def test_boundaries_are_inclusive():
    """Last valid index = depth − 1 everywhere: no problem exactly at the limit."""
    insns = [
        load(MemId.INP, sram=INP_DEPTH - 4, y=1, x=2, y_pad_0=1, x_pad_1=0),   # writes 508..511 (pitch 2, 2 rows)
        load(MemId.UOP, sram=UOP_DEPTH - 1),
        load(MemId.WGT, sram=WGT_DEPTH - 1),
        load(MemId.ACC, sram=ACC_DEPTH - 1),
        store(sram=ACC_DEPTH - 2, x=2),
        Gemm(uop_bgn=UOP_DEPTH - 1, uop_end=UOP_DEPTH, iter_out=0),  # empty nest: the uop table is not read
        Gemm(uop_bgn=0, uop_end=1, iter_out=2, dst_factor_out=ACC_DEPTH - 1, src_factor_out=INP_DEPTH - 1,
             wgt_factor_out=WGT_DEPTH - 1),
        Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=1, iter_in=2, dst_factor_in=ACC_DEPTH - 1,
            src_factor_in=ACC_DEPTH - 1),
        Finish(),
    ]
    assert verify(CFG, insns, [Uop(0, 0, 0)]) == []


# -- out-of-range fields and undecodable words ------------------------------------------------------------------

def test_out_of_range_field():
    p = only_error([load(MemId.INP, sram=1 << 16), Finish()])
    assert p.index == 0 and "sram_base" in p.message


def test_undecodable_word_in_image():
    image = encode_program(CFG, [Finish(), Finish()])
    image[0] = 6  # opcode 6
    problems = verify(CFG, image)
    assert [(p.index, p.severity) for p in problems] == [(0, ERROR)]
    assert "unknown opcode 6" in problems[0].message


def test_bad_uop_table():
    insns, _ = matmul_program()
    problems = errors(verify(CFG, insns, [Uop(0, 0, 0), Uop(600, 0, 0)]))
    assert len(problems) == 1 and problems[0].index is None and "uop 1" in problems[0].message


# -- LOAD / STORE ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mem, depth", [(MemId.UOP, UOP_DEPTH), (MemId.WGT, WGT_DEPTH), (MemId.INP, INP_DEPTH),
                                        (MemId.ACC, ACC_DEPTH), (MemId.ACC_8BIT, ACC_DEPTH)])
def test_load_sram_overrun(mem, depth):
    # 3 rows × 4 elements from depth − 11: last written = depth − 11 + 11 = depth
    p = only_error([load(mem, sram=depth - 11, y=3, x=4), Finish()])
    assert p.index == 0 and f"depth {depth}" in p.message and f"..{depth}," in p.message


def test_load_overrun_counts_padding():
    # 1 row of 2 with 1 pad row above and below, 1 pad each side: 3 rows × pitch 4 = 12 elements
    ok = load(MemId.INP, sram=INP_DEPTH - 12, y=1, x=2, y_pad_0=1, y_pad_1=1, x_pad_0=1, x_pad_1=1)
    assert verify(CFG, [ok, Finish()]) == []
    p = only_error([ok.replace(sram_base=INP_DEPTH - 11), Finish()])
    assert f"..{INP_DEPTH}," in p.message


def test_store_sram_overrun():
    p = only_error([store(sram=ACC_DEPTH - 5, y=2, x=3), Finish()])
    assert p.index == 0 and "out depth" in p.message and f"..{ACC_DEPTH}," in p.message


@pytest.mark.parametrize("mem", [MemId.UOP, MemId.WGT])
def test_pads_on_uop_and_wgt_loads(mem):
    p = only_error([load(mem, x_pad_0=1), Finish()])
    assert p.index == 0 and "cannot pad" in p.message and mem.name in p.message


def test_noop_load_ignores_pads():
    assert verify(CFG, [load(MemId.WGT, x=0, y_pad_0=3), Finish()]) == []


def test_store_pads():
    p = only_error([store(x_pad_1=2), Finish()])
    assert "STORE cannot pad" in p.message


def test_store_memory_type_not_out():
    p = only_error([store(memory_type=MemId.ACC), Finish()])
    assert p.index == 0 and "STORE memory_type must be OUT, not ACC" in p.message


def test_load_out_buffer():
    p = only_error([load(MemId.OUT), Finish()])
    assert "LOAD cannot fill the OUT buffer" in p.message


def test_dram_bounds():
    # inp elements are 8 bytes: rows at 10, 10+5 of 3 elements → last element 17, bytes up to 143
    insn = load(MemId.INP, dram=10, y=2, x=3, stride=5)
    assert verify(CFG, [insn, Finish()], dram_size=144) == []
    p = only_error([insn, Finish()], dram_size=143)
    assert "DRAM bytes 80..143" in p.message and "143-byte" in p.message
    # ACC_8BIT elements are out-sized (8 bytes) in DRAM, not acc-sized (32)
    assert verify(CFG, [load(MemId.ACC_8BIT, dram=1), Finish()], dram_size=16) == []
    assert errors(verify(CFG, [load(MemId.ACC, dram=1), Finish()], dram_size=63))
    p = only_error([store(dram=3, x=2), Finish()], dram_size=39)
    assert "STORE writes DRAM bytes 24..39" in p.message


# -- GEMM / ALU --------------------------------------------------------------------------------------------------

def test_uop_range_beyond_uop_depth():
    p = only_error([Gemm(uop_bgn=0, uop_end=UOP_DEPTH + 1), Finish()])
    assert p.index == 0 and f"uop depth {UOP_DEPTH}" in p.message
    p = only_error([Alu(alu_opcode=AluOp.ADD, uop_bgn=UOP_DEPTH - 1, uop_end=UOP_DEPTH + 1), Finish()])
    assert p.index == 0 and f"uop depth {UOP_DEPTH}" in p.message
    # an empty nest reads no uop (as in the functional simulator)
    assert verify(CFG, [Gemm(uop_bgn=0, uop_end=UOP_DEPTH + 1, iter_in=0), Finish()]) == []


def test_indices_that_are_not_read_are_not_checked():
    uops = [Uop(0, 400, 200)]
    far = dict(uop_bgn=0, uop_end=1, iter_out=2, src_factor_out=200)   # src reaches 600 > 512
    assert verify(CFG, [Gemm(reset_reg=True, wgt_factor_out=100, **far), Finish()], uops) == []
    assert errors(verify(CFG, [Gemm(**far), Finish()], uops))
    assert verify(CFG, [Alu(alu_opcode=AluOp.ADD, use_imm=True, imm=1, **far), Finish()], uops) == []
    assert errors(verify(CFG, [Alu(alu_opcode=AluOp.ADD, **far), Finish()], uops))


@pytest.mark.parametrize("key, buffer, depth", [("dst", "acc", ACC_DEPTH), ("src", "inp", INP_DEPTH),
                                                ("wgt", "wgt", WGT_DEPTH)])
def test_gemm_index_overrun(key, buffer, depth):
    # uop base 3, iter 2×3: last = 3 + 1·f_out + 2·f_in; pick f_out so that it is exactly depth
    f_in = 5
    f_out = depth - 3 - 2 * f_in
    gemm = Gemm(uop_bgn=0, uop_end=2, iter_out=2, iter_in=3, **{f"{key}_factor_out": f_out,
                                                                  f"{key}_factor_in": f_in})
    uops = [Uop(**{"dst_idx": 0, "src_idx": 0, "wgt_idx": 0, f"{key}_idx": 3}), Uop(0, 0, 0)]
    p = only_error([gemm, Finish()], uops)
    assert p.index == 0 and f"{key} index reaches {depth}" in p.message and f"{buffer} depth {depth}" in p.message
    # one less and it fits
    assert verify(CFG, [gemm.replace(**{f"{key}_factor_out": f_out - 1}), Finish()], uops) == []


@pytest.mark.parametrize("key", ["dst", "src"])
def test_alu_index_overrun_on_acc(key):
    # uop base 300 + 1·212 = 512 = the acc depth
    alu = Alu(alu_opcode=AluOp.MAX, uop_bgn=0, uop_end=1, iter_in=2, **{f"{key}_factor_in": 212})
    p = only_error([alu, Finish()], [Uop(**{"dst_idx": 0, "src_idx": 0, f"{key}_idx": 300})])
    assert f"{key} index reaches {ACC_DEPTH}" in p.message and f"acc depth {ACC_DEPTH}" in p.message


def test_alu_src_is_checked_against_acc_not_inp():
    # small config: inp and acc depths are both 512, so use a uop src beyond acc only in the odd config
    from vta import VTAConfig
    odd = VTAConfig(log_batch=1, log_block_in=3, log_block_out=4)   # acc depth 1024, inp depth 2048
    alu = Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=1)
    gemm = Gemm(uop_bgn=0, uop_end=1)
    uops = [Uop(0, 1500, 0)]
    assert verify(odd, [gemm, Finish()], uops) == []
    problems = errors(verify(odd, [alu, Finish()], uops))
    assert len(problems) == 1 and "acc depth 1024" in problems[0].message


def test_empty_loop_nest_is_not_indexed():
    uops = [Uop(0, 0, 0)]
    huge = dict(dst_factor_out=ACC_DEPTH - 1, dst_factor_in=ACC_DEPTH - 1)
    assert verify(CFG, [Gemm(uop_bgn=0, uop_end=1, iter_out=3, iter_in=0, **huge), Finish()], uops) == []
    assert verify(CFG, [Gemm(uop_bgn=1, uop_end=1, iter_out=3, iter_in=3, **huge), Finish()], uops) == []


def test_uop_range_beyond_given_table():
    p = only_error([Gemm(uop_bgn=0, uop_end=3), Finish()], [Uop(0, 0, 0)])
    assert "beyond the given uop table (1 entries)" in p.message


def test_without_uops_indices_are_not_checked():
    assert verify(CFG, [Gemm(uop_bgn=0, uop_end=1, iter_out=5, dst_factor_out=ACC_DEPTH - 1), Finish()]) == []


def test_reset_reg_on_alu():
    p = only_error([Alu(alu_opcode=AluOp.MIN, uop_bgn=0, uop_end=1, reset_reg=True), Finish()])
    assert p.index == 0 and "reset_reg must be 0 on ALU" in p.message


# -- dependency tokens -------------------------------------------------------------------------------------------

def test_stages():
    assert stage_of(load(MemId.INP)) == stage_of(load(MemId.WGT)) == "load"
    assert stage_of(load(MemId.UOP)) == stage_of(load(MemId.ACC)) == stage_of(load(MemId.ACC_8BIT)) == "compute"
    assert stage_of(Gemm(uop_bgn=0, uop_end=0)) == stage_of(Finish()) == "compute"
    assert stage_of(store()) == "store"


@pytest.mark.parametrize("insn, flag", [
    (load(MemId.INP, pop_prev_dep=True), "pop_prev_dep"),
    (load(MemId.WGT, push_prev_dep=True), "push_prev_dep"),
    (store(pop_next_dep=True), "pop_next_dep"),
    (store(push_next_dep=True), "push_next_dep"),
])
def test_flag_of_a_queue_the_stage_does_not_have(insn, flag):
    p = only_error([insn, Finish()])
    assert p.index == 0 and f"no {flag} queue" in p.message


def test_pop_without_earlier_push():
    insns = [Gemm(uop_bgn=0, uop_end=0, pop_prev_dep=True),             # pops l2g: nothing pushed yet
             load(MemId.INP, push_next_dep=True),                       # a *later* push does not count
             Finish(pop_prev_dep=True)]
    p = only_error(insns)
    assert p.index == 0 and "l2g" in p.message and "deadlock" in p.message


@pytest.mark.parametrize("insns, queue", [
    ([load(MemId.INP, pop_next_dep=True)], "g2l"),
    ([Finish(pop_next_dep=True)], "s2g"),
    ([store(pop_prev_dep=True)], "g2s"),
])
def test_each_queue_starts_empty(insns, queue):
    problems = errors(verify(CFG, insns + [Finish()]))
    assert problems[0].index == 0 and queue in problems[0].message


def test_tokens_left_at_finish():
    insns = [load(MemId.INP, push_next_dep=True), load(MemId.INP, push_next_dep=True),
             Gemm(uop_bgn=0, uop_end=0, pop_prev_dep=True, push_next_dep=True), Finish()]
    p = only_error(insns)
    assert p.index == 3 and "tokens left outstanding at FINISH" in p.message
    assert "1 in l2g" in p.message and "1 in g2s" in p.message


def test_finish_flags_count():
    # FINISH's own pop balances the store's push (FINISH runs in compute)
    insns = [Gemm(uop_bgn=0, uop_end=0, push_next_dep=True), store(pop_prev_dep=True, push_prev_dep=True),
             Finish(pop_next_dep=True)]
    assert verify(CFG, insns) == []
    p = only_error(insns[:2] + [Finish()])
    assert "1 in s2g" in p.message


def test_queue_depth_overflow():
    depth = CFG.dep_queue_depth
    assert depth == 1024
    pushes = [load(MemId.INP, x=0, push_next_dep=True)] * (depth + 1)
    pops = [Gemm(uop_bgn=0, uop_end=0, pop_prev_dep=True)] * (depth + 1)
    problems = errors(verify(CFG, pushes + pops + [Finish()]))
    overflow = [p for p in problems if "queue depth" in p.message]
    assert [p.index for p in overflow] == [depth]
    assert "l2g" in overflow[0].message
    # exactly the depth is fine
    assert verify(CFG, pushes[:depth] + pops[:depth] + [Finish()]) == []


# -- FINISH ------------------------------------------------------------------------------------------------------

def test_missing_finish():
    insns, uops = matmul_program()
    problems = verify(CFG, insns[:-1], uops)
    assert [(p.index, p.severity) for p in problems] == [(None, ERROR)]
    assert "no FINISH" in problems[0].message
    with pytest.raises(ProgramError, match="no FINISH"):
        check_program(CFG, insns[:-1], uops)


def test_instructions_after_finish_are_a_warning():
    insns, uops = matmul_program()
    # what follows FINISH is never executed, so even its bad pop is not an error
    problems = verify(CFG, insns + [Gemm(uop_bgn=0, uop_end=0, pop_prev_dep=True), Finish()], uops)
    assert [(p.index, p.severity) for p in problems] == [(len(insns), WARNING)]
    assert "2 instructions after the FINISH" in problems[0].message
    warnings = check_program(CFG, insns + [Finish()], uops)   # does not raise on a warning
    assert [(p.index, p.severity) for p in warnings] == [(len(insns), WARNING)]


def test_check_program_names_the_instruction():
    with pytest.raises(ProgramError) as e:
        check_program(CFG, [Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=1, reset_reg=True),
                            store(pop_next_dep=True), Finish()])
    assert e.value.index == 0
    assert str(e.value).startswith("instruction 0: reset_reg must be 0 on ALU")
    assert "(and 1 more error)" in str(e.value)


def test_problem_str():
    (p,) = verify(CFG, [Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=1, reset_reg=True), Finish()])
    assert str(p).startswith("instruction 0: error: reset_reg")


def test_uop_table_as_objects_or_image_gives_the_same_problems():
    """The micro-op table is checked vectorised whether it comes as `Uop` objects or as the byte image: the
    same index findings (naming the worst uop), and a bad uop is still named by its position."""
    uops = [Uop(0, 0, 0), Uop(3, 1, 1), Uop(505, 2, 0), Uop(7, 3, 2)]
    insns = [Gemm(uop_bgn=0, uop_end=4, iter_out=3, dst_factor_out=5), Finish()]
    as_objects = errors(verify(CFG, insns, uops))
    assert as_objects == errors(verify(CFG, insns, encode_uops(CFG, uops)))
    assert len(as_objects) == 1 and "uop 2 dst_idx 505" in as_objects[0].message
    bad = errors(verify(CFG, [Finish()], uops[:2] + [Uop(1 << 20, 0, 0)]))
    assert len(bad) == 1 and bad[0].message.startswith("uop 2: ")


def test_encoded_skips_only_the_field_check():
    """``encoded=True`` (the runtime has just encoded the objects) skips re-encoding but no other check."""
    insns, uops = matmul_program()
    assert verify(CFG, insns, uops, encoded=True) == []
    bad_field = insns[:1] + [insns[1].replace(sram_base=1 << 16)] + insns[2:]
    assert any("does not fit" in p.message for p in errors(verify(CFG, bad_field, uops)))
    found = errors(verify(CFG, bad_field, uops, encoded=True))   # no field check, the SRAM bound still fails
    assert found and not any("does not fit" in p.message for p in found)
    no_finish = insns[:-1]
    assert errors(verify(CFG, no_finish, uops, encoded=True)) == errors(verify(CFG, no_finish, uops))
    image = encode_program(CFG, insns)   # a byte image is always decoded and checked
    assert verify(CFG, image, uops, encoded=True) == []
