"""The random program generator: programs are valid (the functional simulator runs them, tokens balance, the result
depends neither on initial SRAM contents nor on the stage interleaving) and cover the whole ISA."""

import dataclasses

import numpy as np
import pytest

from vta import load_config
from vta.isa import Alu, AluOp, Finish, Gemm, Load, MemId, Store, Uop, decode_program, encode_uops
from vta.sim import FunctionalSim
from vta.sim.diffcheck import expected_image, is_valid
from vta.sim.randprog import (
    LANE_OPS,
    SIZES,
    UPSTREAM_OPS,
    GenParams,
    find_hazard,
    generate,
    interleave,
    noop_like,
    stage_of,
)

EXT = dataclasses.replace(SIZES["small"], extension=True)

FLAGS = ("pop_prev_dep", "pop_next_dep", "push_prev_dep", "push_next_dep")


@pytest.mark.parametrize("cfg,size,seeds", [("small", "small", 200), ("small", "tiny", 100), ("small", "medium", 30),
                                            ("default", "small", 50)])
def test_programs_run_on_fsim_with_balanced_tokens(cfg, size, seeds):
    sim = FunctionalSim(cfg)
    for seed in range(seeds):
        p = generate(cfg, seed, size)
        dram = p.fresh_dram()
        stats = sim.run(dram, p.insn_addr, p.insn_count)
        assert sim.tokens == {"l2g": 0, "g2l": 0, "g2s": 0, "s2g": 0}, seed
        assert stats.insns["FINISH"] == 1
        # the instruction region holds exactly the program
        assert decode_program(p.cfg, p.dram[p.insn_addr:p.insn_addr + 16 * p.insn_count]) == p.insns
        assert p.dram.size % 4096 == 0


@pytest.mark.parametrize("cfg,seeds", [("small", 100), ("default", 15)])
def test_programs_are_race_free_and_read_only_what_they_write(cfg, seeds):
    for seed in range(seeds):
        assert is_valid(generate(cfg, seed), seed=seed), seed


def test_generated_programs_have_no_hazards():
    for cfg, seeds in (("small", 150), ("default", 20)):
        for seed in range(seeds):
            assert find_hazard(generate(cfg, seed)) is None, (cfg, seed)


def test_validity_check_catches_races():
    """Stripping all dependency flags leaves programs that still run but race: the checker must notice."""
    flagged = 0
    for seed in range(20):
        p = generate("small", seed)
        stripped = p.with_insns([i.replace(**dict.fromkeys(FLAGS, False)) for i in p.insns])
        flagged += find_hazard(stripped) is not None and not is_valid(stripped, seed=seed)
    assert flagged == 20


def _hand_program(insns, uops=()):
    """A generated program's data regions with hand-written instructions (and uops at uop DRAM element 0)."""
    p = generate("small", 0)
    p = p.with_insns(insns)
    if uops:
        words = encode_uops(p.cfg, list(uops))
        p.dram[:words.size] = words
    return p


def test_hazard_names_unordered_instructions():
    p0 = generate("small", 0)
    inp = p0.regions["inp"][0] // p0.cfg.inp_elem_bytes
    wgt = p0.regions["wgt"][0] // p0.cfg.wgt_elem_bytes
    acc = p0.regions["acc"][0] // p0.cfg.acc_elem_bytes
    out = p0.regions["out"][0] // p0.cfg.out_elem_bytes
    body = [Load(memory_type=MemId.UOP, sram_base=0, dram_base=0, y_size=1, x_size=1, x_stride=1),
            Load(memory_type=MemId.ACC, sram_base=0, dram_base=acc, y_size=1, x_size=1, x_stride=1),
            Load(memory_type=MemId.INP, sram_base=0, dram_base=inp, y_size=1, x_size=1, x_stride=1),
            Load(memory_type=MemId.WGT, sram_base=0, dram_base=wgt, y_size=1, x_size=1, x_stride=1)]
    gemm = Gemm(uop_bgn=0, uop_end=1)
    store = Store(sram_base=0, dram_base=out, y_size=1, x_size=1, x_stride=1)
    uops = [Uop(0, 0, 0)]
    racy = _hand_program(body + [gemm, store, Finish()], uops)
    why = find_hazard(racy)
    assert all(part in why for part in ("instruction 2 (LOAD INP", "instruction 4 (GEMM", "write and read inp[0]"))
    body[3] = body[3].replace(push_next_dep=True)
    ordered_loads = _hand_program(body + [gemm.replace(pop_prev_dep=True), store, Finish()], uops)
    why = find_hazard(ordered_loads)
    assert all(part in why for part in ("instruction 4 (GEMM", "instruction 5 (STORE", "write and read out[0]"))
    fine = _hand_program(body + [gemm.replace(pop_prev_dep=True, push_next_dep=True),
                                 store.replace(pop_prev_dep=True), Finish()], uops)
    assert find_hazard(fine) is None and is_valid(fine)
    unwritten = _hand_program(body[:1] + body[2:] + [gemm.replace(pop_prev_dep=True), Finish()], uops)
    assert find_hazard(unwritten) == "instruction 3 (Gemm) reads acc[0], which no earlier instruction wrote"


def test_validity_check_catches_uninitialised_reads():
    """Turning every LOAD into a no-op makes compute read SRAM nobody wrote."""
    flagged = 0
    for seed in range(10):
        p = generate("small", seed)
        insns = [noop_like(i) if isinstance(i, Load) else i for i in p.insns]
        flagged += not is_valid(p.with_insns(insns), seed=seed)
    assert flagged >= 8


def test_coverage_over_200_seeds():
    cov = {}
    counts = {"op": {}, "alu": {}, "mem": {}, "pad": {}}
    for seed in range(200):
        p = generate("small", seed)
        for k, v in p.coverage.items():
            cov[k] = cov.get(k, 0) + v
        fin = next(k for k, i in enumerate(p.insns) if isinstance(i, Finish))
        for insn in p.insns[:fin + 1]:  # count from the instructions themselves, not the generator's tally
            op = type(insn).__name__
            counts["op"][op] = counts["op"].get(op, 0) + 1
            if isinstance(insn, Alu) and insn.uop_end > insn.uop_bgn and insn.iter_out and insn.iter_in:
                key = (insn.alu_opcode, insn.use_imm)
                counts["alu"][key] = counts["alu"].get(key, 0) + 1
            if isinstance(insn, (Load, Store)) and insn.y_size and insn.x_size:
                counts["mem"][insn.memory_type] = counts["mem"].get(insn.memory_type, 0) + 1
                for pad in ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1"):
                    if getattr(insn, pad):
                        counts["pad"][(insn.memory_type, pad)] = counts["pad"].get((insn.memory_type, pad), 0) + 1
    assert set(counts["op"]) == {"Load", "Store", "Gemm", "Alu", "Finish"}
    for op in LANE_OPS if SIZES["small"].extension else UPSTREAM_OPS:
        for imm in (False, True):
            assert counts["alu"].get((op, imm), 0) >= 20, (op, imm)
    for mem in MemId:
        assert counts["mem"].get(mem, 0) >= 50, mem
    for mem in (MemId.INP, MemId.ACC, MemId.ACC_8BIT):
        for pad in ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1"):
            assert counts["pad"].get((mem, pad), 0) >= 5, (mem, pad)
    for key in ("GEMM.reset", "GEMM.acc", "alu.neg_imm", "hazard.same_dst", "hazard.dst_factor_in_0", "uop_reuse",
                "stride<x", "stride>x", "store.stride<x", "noop_push", "noop_pop", "after_finish", "high.inp",
                "high.wgt", "high.acc", "barrier"):
        assert cov.get(key, 0) >= 5, key
    for stage, flag in (("load", "pop_next_dep"), ("load", "push_next_dep"), ("compute", "pop_prev_dep"),
                        ("compute", "pop_next_dep"), ("compute", "push_prev_dep"), ("compute", "push_next_dep"),
                        ("store", "pop_prev_dep"), ("store", "push_prev_dep")):
        assert cov.get(f"{stage}.{flag}", 0) >= 50, (stage, flag)


def test_extension_coverage_over_200_seeds():
    """With the extension: MOV with both operand kinds, SETQ over most (shift, relu) values, and the requant bit on
    a fair share of GEMM and ALU words (counted from the instructions themselves)."""
    cov, alu, setq, requant = {}, {}, set(), {}
    for seed in range(200):
        p = generate("small", seed, EXT)
        for k, v in p.coverage.items():
            cov[k] = cov.get(k, 0) + v
        fin = next(k for k, i in enumerate(p.insns) if isinstance(i, Finish))
        for insn in p.insns[:fin + 1]:
            if isinstance(insn, (Gemm, Alu)):
                key = (type(insn).__name__, bool(insn.requant))
                requant[key] = requant.get(key, 0) + 1
            if isinstance(insn, Alu) and insn.alu_opcode == AluOp.SETQ:
                assert insn.use_imm and 0 <= insn.imm < 64 and not insn.requant, (seed, insn)
                setq.add(insn.imm)
            elif isinstance(insn, Alu) and insn.uop_end > insn.uop_bgn and insn.iter_out and insn.iter_in:
                alu[(insn.alu_opcode, insn.use_imm)] = alu.get((insn.alu_opcode, insn.use_imm), 0) + 1
    for op in LANE_OPS:
        for imm in (False, True):
            assert alu.get((op, imm), 0) >= 20, (op, imm)
    assert len(setq) >= 56
    for op in ("Gemm", "Alu"):   # SETQ words, never requant, count among the ALU words without it
        on, off = requant.get((op, True), 0), requant.get((op, False), 0)
        assert 0.15 <= on / (on + off) <= 0.5, (op, on, off)
    for key in ("SETQ", "SETQ.relu", "SETQ.fields", "GEMM.requant", "ALU.requant"):
        assert cov.get(key, 0) >= 5, key


def test_extension_programs_are_valid():
    """Extension programs run on fsim with balanced tokens, are race free, read only what they wrote and give the
    same result in any legal stage interleaving (`is_valid`)."""
    sim = FunctionalSim("small")
    for seed in range(40):
        p = generate("small", seed, EXT)
        sim.run(p.fresh_dram(), p.insn_addr, p.insn_count)
        assert sim.tokens == {"l2g": 0, "g2l": 0, "g2s": 0, "s2g": 0}, seed
        assert find_hazard(p) is None, seed
        assert is_valid(p, seed=seed), seed


def test_upstream_programs_have_no_extension_words():
    for seed in range(30):
        for insn in generate("small", seed, dataclasses.replace(EXT, extension=False)).insns:
            assert not getattr(insn, "requant", False)
            assert not (isinstance(insn, Alu) and insn.alu_opcode in (AluOp.MOV, AluOp.SETQ))


def test_shift_amounts_and_negative_immediates():
    amounts = set()
    for seed in range(200):
        for insn in generate("small", seed).insns:
            if isinstance(insn, Alu) and insn.use_imm and insn.alu_opcode == AluOp.SHR:
                low6 = insn.imm & 63
                amounts.add(low6 - 64 if low6 >= 32 else low6)
    assert len(amounts) >= 40 and min(amounts) == -32 and max(amounts) == 31


def test_accumulator_overflow_happens():
    """Some program's ALU/GEMM results wrap around int32 (checked by recomputing one ADD in int64)."""
    cfg = load_config("small")
    wrapped = 0
    for seed in range(40):
        p = generate(cfg, seed)
        acc = p.dram[p.regions["acc"][0]:p.regions["acc"][1]].view("<i4").astype(np.int64)
        wrapped += bool(((acc * 2 > 2**31 - 1) | (acc * 2 < -2**31)).any())
    assert wrapped >= 20  # initial acc data holds values whose doubling overflows


def test_deterministic_and_seed_dependent():
    a, b, c = generate("small", 7), generate("small", 7), generate("small", 8)
    assert a.insns == b.insns and np.array_equal(a.dram, b.dram)
    assert a.insns != c.insns


def test_size_knobs():
    tiny = [generate("small", s, "tiny").insn_count for s in range(20)]
    medium = [generate("small", s, "medium").insn_count for s in range(20)]
    assert np.mean(tiny) * 3 < np.mean(medium)
    custom = generate("small", 1, GenParams(actions=2, max_rows=1, max_cols=1))
    assert custom.insn_count < 20
    assert GenParams().shrink().actions == GenParams().actions // 2
    with pytest.raises(ValueError, match="size must be one of"):
        generate("small", 0, "huge")
    assert set(SIZES) == {"tiny", "small", "medium"}


def test_noop_like_keeps_stage_and_flags():
    p = generate("small", 3)
    for insn in p.insns:
        n = noop_like(insn, np.random.default_rng(0))
        assert stage_of(n) == stage_of(insn)
        assert all(getattr(n, f) == getattr(insn, f) for f in FLAGS)
    dram = p.with_insns([noop_like(i) for i in p.insns]).fresh_dram()
    before = dram.copy()
    FunctionalSim("small").run(dram, p.insn_addr, p.insn_count)
    assert np.array_equal(dram, before)  # nothing happens, tokens still balance


def test_interleave_is_a_legal_order():
    rng = np.random.default_rng(0)
    p = generate("small", 5, "medium")
    order = interleave(p.insns, rng)
    fin = next(k for k, i in enumerate(p.insns) if isinstance(i, Finish))
    assert sorted(map(id, order)) == sorted(map(id, p.insns[:fin + 1]))
    assert order != p.insns[:fin + 1]
    for stage in ("load", "compute", "store"):
        assert [i for i in order if stage_of(i) == stage] == [i for i in p.insns[:fin + 1] if stage_of(i) == stage]
    data = p.regions["insn"][0]
    assert np.array_equal(expected_image(p)[:data], expected_image(p.with_insns(order))[:data])


def test_regions_and_description():
    p = generate("default", 2)
    assert p.region_of(p.insn_addr) == "insn"
    assert p.region_of(p.regions["out"][0]) == "out"
    stores = [i for i in p.insns if isinstance(i, Store) and i.y_size and i.x_size]
    cfg = p.cfg
    for s in stores:  # stores write only the out region
        lo = s.dram_base * cfg.out_elem_bytes
        hi = (s.dram_base + (s.y_size - 1) * s.x_stride + s.x_size) * cfg.out_elem_bytes
        assert p.regions["out"][0] <= lo and hi <= p.regions["out"][1]
    text = p.describe()
    assert "seed=2" in text and "default" in text and "GEMM" in text
