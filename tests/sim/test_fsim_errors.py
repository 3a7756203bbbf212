"""FunctionalSim errors: dependency tokens (deadlock, overflow, missing queues), malformed instructions, buffer and
DRAM overruns, bad run arguments. Every message must name the instruction index, the field and the limit."""

import numpy as np
import pytest
from fsim_helpers import Image, load_uops

from vta import DeadlockError, ProgramError
from vta.isa import Alu, AluOp, Finish, Gemm, Load, MemId, Store, Uop, encode
from vta.sim import FunctionalSim


def place_words(img, words):
    raw = b"".join(int(w).to_bytes(16, "little") for w in words)
    return img._place(np.frombuffer(raw, dtype=np.uint8), 16), len(words)


def run(cfg, insns, *, finish=True, img=None, sim=None):
    """Run ``insns`` (+ FINISH) on a fresh FunctionalSim; returns (sim, stats)."""
    img = img or Image(cfg)
    addr, count = img.insns(list(insns) + ([Finish()] if finish else []))
    sim = sim or FunctionalSim(cfg)
    return sim, sim.run(img.build(extra=64), addr, count)


def noop_load(mem=MemId.INP, **flags):
    return Load(memory_type=mem, sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0, **flags)


# -- dependency tokens -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("insn, name, queue", [
    (noop_load(pop_next_dep=True), "LOAD", "g2l"),
    (noop_load(MemId.WGT, pop_next_dep=True), "LOAD", "g2l"),
    (noop_load(MemId.UOP, pop_prev_dep=True), "LOAD", "l2g"),
    (noop_load(MemId.ACC, pop_next_dep=True), "LOAD", "s2g"),
    (Gemm(uop_bgn=0, uop_end=0, pop_prev_dep=True), "GEMM", "l2g"),
    (Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=0, pop_next_dep=True), "ALU", "s2g"),
    (Store(sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0, pop_prev_dep=True), "STORE", "g2s"),
    (Finish(pop_prev_dep=True), "FINISH", "l2g"),
], ids=["load-inp", "load-wgt", "load-uop", "load-acc", "gemm", "alu", "store", "finish"])
def test_pop_from_empty_queue_is_deadlock(cfg, insn, name, queue):
    insns = [noop_load(), Gemm(uop_bgn=0, uop_end=0), insn]
    with pytest.raises(DeadlockError, match=rf"^instruction 2: {name} \w+_dep pops the {queue} .*empty") as e:
        run(cfg, insns, finish=not isinstance(insn, Finish))
    assert e.value.index == 2


def test_balanced_token_program(cfg):
    """load → compute → store → compute → load round trip: every pop finds its token, all queues end empty."""
    insns = [noop_load(push_next_dep=True),
             Gemm(uop_bgn=0, uop_end=0, pop_prev_dep=True, push_next_dep=True),
             Store(sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0, pop_prev_dep=True, push_prev_dep=True),
             Alu(alu_opcode=AluOp.MIN, uop_bgn=0, uop_end=0, pop_next_dep=True, push_prev_dep=True),
             noop_load(MemId.WGT, pop_next_dep=True, push_next_dep=True),
             noop_load(MemId.UOP, pop_prev_dep=True)]
    sim, stats = run(cfg, insns)
    assert sim.tokens == {"l2g": 0, "g2l": 0, "g2s": 0, "s2g": 0}
    assert stats.insns == {"LOAD": 3, "STORE": 1, "GEMM": 1, "FINISH": 1, "ALU": 1}


def test_tokens_persist_across_runs_until_reset(cfg):
    sim, _ = run(cfg, [noop_load(push_next_dep=True), noop_load(push_next_dep=True)])
    assert sim.tokens["l2g"] == 2
    run(cfg, [Gemm(uop_bgn=0, uop_end=0, pop_prev_dep=True)], sim=sim)
    assert sim.tokens["l2g"] == 1
    sim.reset()
    with pytest.raises(DeadlockError, match="instruction 0: GEMM pop_prev_dep pops the l2g"):
        run(cfg, [Gemm(uop_bgn=0, uop_end=0, pop_prev_dep=True)], sim=sim)


def test_token_queue_overflow(cfg):
    depth = cfg.dep_queue_depth
    insns = [noop_load(push_next_dep=True)] * (depth + 1)
    with pytest.raises(ProgramError, match=rf"^instruction {depth}: LOAD push_next_dep .* l2g .* already holds "
                                           rf"{depth} tokens"):
        run(cfg, insns)
    run(cfg, insns[:depth])  # exactly the depth is fine


@pytest.mark.parametrize("insn, flag, stage", [
    (noop_load(pop_prev_dep=True), "pop_prev_dep", "load"),
    (noop_load(MemId.WGT, push_prev_dep=True), "push_prev_dep", "load"),
    (Store(sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0, pop_next_dep=True), "pop_next_dep", "store"),
    (Store(sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0, push_next_dep=True), "push_next_dep", "store"),
])
def test_flag_for_missing_queue(cfg, insn, flag, stage):
    with pytest.raises(ProgramError, match=rf"^instruction 1: .*{stage} stage.*{flag} must be 0"):
        run(cfg, [noop_load(), insn])


# -- malformed instructions ------------------------------------------------------------------------------------------

def set_field(cfg, word, kind, name, value):
    f = cfg.isa.field(kind, name)
    return word & ~(f.mask << f.offset) | (value & f.mask) << f.offset


@pytest.mark.parametrize("case", ["opcode5", "opcode7", "memory_type6", "alu_opcode7", "reserved"])
def test_undecodable_instruction(cfg, case):
    good = encode(cfg, Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=0))
    load = encode(cfg, noop_load())
    word, match = {
        "opcode5": (good & ~7 | 5, "opcode"),
        "opcode7": (good & ~7 | 7, "opcode"),
        "memory_type6": (set_field(cfg, load, "mem", "memory_type", 6), "memory_type"),
        "alu_opcode7": (set_field(cfg, good, "alu", "alu_opcode", 7), "alu_opcode"),
        "reserved": (good | 1 << 127 if cfg.isa.used_mask["alu"] >> 127 == 0 else load | 1 << 63, "reserved"),
    }[case]
    img = Image(cfg)
    addr, count = place_words(img, [load, load, word, encode(cfg, Finish())])
    with pytest.raises(ProgramError, match=rf"^instruction 2: cannot decode .*{match}"):
        FunctionalSim(cfg).run(img.build(), addr, count)


def test_instructions_after_finish_are_not_executed(cfg):
    img = Image(cfg)
    garbage = (1 << 128) - 1  # opcode 7, every reserved bit set
    addr, count = place_words(img, [encode(cfg, noop_load(push_next_dep=True)), encode(cfg, Finish()), garbage,
                                    encode(cfg, noop_load(push_next_dep=True))])
    sim = FunctionalSim(cfg)
    stats = sim.run(img.build(), addr, count)
    assert stats.insns["LOAD"] == 1 and stats.insns["FINISH"] == 1 and sim.tokens["l2g"] == 1


@pytest.mark.parametrize("insn, match", [
    (Load(memory_type=MemId.UOP, sram_base=0, dram_base=0, y_size=1, x_size=1, x_stride=1, x_pad_0=1),
     r"LOAD UOP: x_pad_0 must be 0 .*not 1"),
    (Load(memory_type=MemId.WGT, sram_base=0, dram_base=0, y_size=1, x_size=1, x_stride=1, y_pad_1=2),
     r"LOAD WGT: y_pad_1 must be 0 .*not 2"),
    (Store(sram_base=0, dram_base=0, y_size=1, x_size=1, x_stride=1, y_pad_0=1), r"STORE: y_pad_0 must be 0"),
    (Store(memory_type=MemId.ACC, sram_base=0, dram_base=0, y_size=1, x_size=1, x_stride=1),
     r"STORE memory_type must be OUT, not ACC"),
    (Load(memory_type=MemId.OUT, sram_base=0, dram_base=0, y_size=1, x_size=1, x_stride=1),
     r"LOAD memory_type=OUT is not loadable"),
    (Alu(alu_opcode=AluOp.ADD, reset_reg=True, uop_bgn=0, uop_end=1), r"ALU: reset_reg must be 0"),
], ids=["uop-pad", "wgt-pad", "store-pad", "store-acc", "load-out", "alu-reset"])
def test_illegal_field_values(cfg, insn, match):
    with pytest.raises(ProgramError, match=rf"^instruction 1: {match}"):
        run(cfg, [noop_load(), insn])


def test_uop_reserved_bits(cfg):
    used = cfg.isa.used_mask["uop"]
    if used == 0xFFFFFFFF:
        pytest.skip(f"config {cfg.name}: the uop word has no reserved bits")
    img = Image(cfg)
    words = np.array([0, 1 << 31], dtype="<u4")
    base = img._place(words.view(np.uint8), 4) // 4
    insns = [Load(memory_type=MemId.UOP, sram_base=0, dram_base=base, y_size=1, x_size=2, x_stride=2),
             Gemm(uop_bgn=0, uop_end=2)]
    with pytest.raises(ProgramError, match=r"^instruction 1: GEMM: uop\[1\] = 0x80000000 has reserved bits"):
        run(cfg, insns, img=img)


# -- buffer and DRAM overruns ----------------------------------------------------------------------------------------

def overrun_cases(cfg):
    d = cfg.depths
    return {
        "load-uop": (Load(memory_type=MemId.UOP, sram_base=d["uop"] - 1, dram_base=0, y_size=1, x_size=2, x_stride=2),
                     rf"LOAD UOP: sram_base={d['uop'] - 1} .* up to {d['uop']}, past the uop buffer depth {d['uop']}"),
        "load-inp-pads": (Load(memory_type=MemId.INP, sram_base=d["inp"] - 5, dram_base=0, y_size=1, x_size=1,
                               x_stride=1, y_pad_0=1, x_pad_0=1, x_pad_1=1),
                          rf"LOAD INP: sram_base={d['inp'] - 5} \+ 2 rows × pitch 3 .* past the inp buffer depth "
                          rf"{d['inp']}"),
        "load-wgt": (Load(memory_type=MemId.WGT, sram_base=d["wgt"], dram_base=0, y_size=1, x_size=1, x_stride=1),
                     rf"LOAD WGT: sram_base={d['wgt']} .*past the wgt buffer depth {d['wgt']}"),
        "load-acc": (Load(memory_type=MemId.ACC, sram_base=0, dram_base=0, y_size=2, x_size=d["acc"] // 2 + 1,
                          x_stride=0), rf"LOAD ACC: .*past the acc buffer depth {d['acc']}"),
        "load-acc8": (Load(memory_type=MemId.ACC_8BIT, sram_base=d["acc"] - 1, dram_base=0, y_size=1, x_size=1,
                           x_stride=1, x_pad_1=1), rf"LOAD ACC_8BIT: .*past the acc buffer depth {d['acc']}"),
        "store-out": (Store(sram_base=d["out"] - 3, dram_base=0, y_size=2, x_size=2, x_stride=2),
                      rf"STORE: sram_base={d['out'] - 3} .* past the out buffer depth {d['out']}"),
        "gemm-uop-end": (Gemm(uop_bgn=0, uop_end=d["uop"] + 1),
                         rf"GEMM: uop_end={d['uop'] + 1} is past the uop buffer depth {d['uop']}"),
        "gemm-dst": (Gemm(uop_bgn=0, uop_end=2, iter_out=3, dst_factor_out=d["acc"] // 2),
                     rf"GEMM: acc index reaches {2 * (d['acc'] // 2) + 1} .*dst_idx.*past the acc buffer depth "
                     rf"{d['acc']}"),
        "gemm-src": (Gemm(uop_bgn=0, uop_end=2, iter_in=2, src_factor_in=d["inp"] - 1),
                     rf"GEMM: inp index reaches {d['inp']} .*src_factor_in.*past the inp buffer depth {d['inp']}"),
        "gemm-wgt": (Gemm(uop_bgn=0, uop_end=2, iter_in=3, wgt_factor_in=d["wgt"] // 2),
                     rf"GEMM: wgt index reaches .*past the wgt buffer depth {d['wgt']}"),
        "alu-dst": (Alu(alu_opcode=AluOp.ADD, use_imm=True, uop_bgn=1, uop_end=2, iter_in=2,
                        dst_factor_in=d["acc"] - 1),
                    rf"ALU ADD: acc index reaches {d['acc']} .*past the acc buffer depth {d['acc']}"),
        "alu-src": (Alu(alu_opcode=AluOp.MAX, uop_bgn=0, uop_end=2, iter_out=2, src_factor_out=d["acc"] - 1),
                    rf"ALU MAX: acc index reaches {d['acc']} .*src_idx.*past the acc buffer depth {d['acc']}"),
    }


@pytest.mark.parametrize("case", ["load-uop", "load-inp-pads", "load-wgt", "load-acc", "load-acc8", "store-out",
                                  "gemm-uop-end", "gemm-dst", "gemm-src", "gemm-wgt", "alu-dst", "alu-src"])
def test_buffer_overrun(cfg, case):
    insn, match = overrun_cases(cfg)[case]
    img = Image(cfg)
    uops = load_uops(cfg, img, [Uop(0, 0, 0), Uop(1, 1, 1)])
    img.reserve("acc", cfg.acc_depth)  # enough DRAM behind address 0 for every load above
    sim = FunctionalSim(cfg)
    with pytest.raises(ProgramError, match=rf"^instruction 1: {match}"):
        run(cfg, [uops, insn], img=img, sim=sim)
    # The failing instruction had no effect.
    assert not sim.inp.any() and not sim.wgt.any() and not sim.acc.any() and not sim.out.any()


def test_empty_nest_ignores_uop_end(cfg):
    """uop_bgn ≥ uop_end or a zero iteration count does nothing, whatever the other fields say."""
    run(cfg, [Gemm(uop_bgn=5, uop_end=5, iter_out=9, dst_factor_out=cfg.acc_depth - 1),
              Gemm(uop_bgn=0, uop_end=4, iter_out=0, dst_factor_out=cfg.acc_depth - 1),
              Alu(alu_opcode=AluOp.ADD, uop_bgn=3, uop_end=1)])


@pytest.mark.parametrize("case", ["load", "load-stride", "store", "acc8"])
def test_dram_out_of_range(cfg, case):
    img = Image(cfg)
    base = img.reserve("acc", 4)
    img.insns([Finish()])
    size_acc = -(-(img.size + 64) // cfg.acc_elem_bytes)  # elements of DRAM the image will hold (upper bound)
    insn, match = {
        "load": (Load(memory_type=MemId.ACC, sram_base=0, dram_base=size_acc, y_size=1, x_size=1, x_stride=1),
                 r"LOAD ACC: dram_base=\d+.* but DRAM holds only \d+ bytes"),
        "load-stride": (Load(memory_type=MemId.INP, sram_base=0, dram_base=0, y_size=2, x_size=1, x_stride=60000),
                        r"LOAD INP: .*x_stride=60000 reach DRAM element 60000 .* but DRAM holds only \d+ bytes"),
        "store": (Store(sram_base=0, dram_base=base, y_size=2, x_size=1, x_stride=60000),
                  rf"STORE: dram_base={base}, y_size=2, x_size=1, x_stride=60000 .* but DRAM holds only \d+ bytes"),
        "acc8": (Load(memory_type=MemId.ACC_8BIT, sram_base=0, dram_base=(1 << 32) - 1, y_size=1, x_size=1,
                      x_stride=1), r"LOAD ACC_8BIT: dram_base=4294967295, .* but DRAM holds only"),
    }[case]
    with pytest.raises(ProgramError, match=rf"^instruction 0: {match}"):
        run(cfg, [insn], img=img)


# -- run arguments ---------------------------------------------------------------------------------------------------

def test_no_finish(cfg):
    with pytest.raises(ProgramError, match=r"no FINISH among the 2 instructions"):
        run(cfg, [noop_load(), noop_load()], finish=False)
    with pytest.raises(ProgramError, match=r"no FINISH among the 0 instructions"):
        FunctionalSim(cfg).run(np.zeros(64, np.uint8), 0, 0)


def test_misaligned_insn_addr(cfg):
    img = Image(cfg)
    addr, count = img.insns([Finish()])
    with pytest.raises(ProgramError, match=r"insn_addr must be a non-negative multiple of 16.*not 8"):
        FunctionalSim(cfg).run(img.build(extra=32), addr + 8, count)
    with pytest.raises(ProgramError, match=r"insn_addr must be .*not -16"):
        FunctionalSim(cfg).run(img.build(extra=32), -16, count)


def test_insn_fetch_out_of_range(cfg):
    img = Image(cfg)
    addr, count = img.insns([noop_load(), Finish()])
    dram = img.build()
    with pytest.raises(ProgramError, match=rf"^instruction 2: instruction fetch reads DRAM bytes \[{addr}, "
                                           rf"{addr + 48}\) .*holds only {dram.size} bytes"):
        FunctionalSim(cfg).run(dram, addr, 3)
    with pytest.raises(ProgramError, match=r"instruction fetch reads DRAM bytes"):
        FunctionalSim(cfg).run(dram, dram.size + 16, 1)


def test_insn_fetch_names_the_first_partial_instruction(cfg):
    """DRAM that ends 4 bytes into instruction 1: instruction 1 (not 2) is the first that does not fit."""
    img = Image(cfg)
    addr, _ = img.insns([noop_load(), Finish()])
    dram = img.build()[:addr + 20].copy()
    with pytest.raises(ProgramError, match=r"^instruction 1: .*instruction 1 is the first outside it") as got:
        FunctionalSim(cfg).run(dram, addr, 2)
    assert got.value.index == 1


@pytest.mark.parametrize("dram, match", [
    (np.zeros(64, dtype=np.int8), "dtype int8"),
    (np.zeros(64, dtype=np.uint32), "dtype uint32"),
    (np.zeros((4, 16), dtype=np.uint8), r"shape \(4, 16\)"),
    (np.zeros(128, dtype=np.uint8)[::2], "contiguous"),
    (bytearray(64), "not bytearray"),
    ([0] * 64, "not list"),
])
def test_bad_dram_argument(dram, match):
    with pytest.raises(TypeError, match=rf"dram must be .*{match}"):
        FunctionalSim("small").run(dram, 0, 1)


def test_read_only_dram():
    dram = np.zeros(64, dtype=np.uint8)
    dram.flags.writeable = False
    with pytest.raises(TypeError, match="dram must be writable"):
        FunctionalSim("small").run(dram, 0, 1)


@pytest.mark.parametrize("addr, count, match", [(0.0, 1, "insn_addr must be an integer"),
                                                (0, "1", "insn_count must be an integer"),
                                                (0, True, "insn_count must be an integer"),
                                                (0, -1, r"insn_count must be ≥ 0, not -1")])
def test_bad_run_numbers(addr, count, match):
    with pytest.raises((TypeError, ProgramError), match=match):
        FunctionalSim("small").run(np.zeros(64, dtype=np.uint8), addr, count)


def test_failing_instruction_leaves_tokens_and_sram_unchanged(cfg):
    """A pop that finds its token but whose instruction then fails does not consume it; a push that would
    overflow stops the instruction before it writes anything."""
    img = Image(cfg)
    insns = [noop_load(push_next_dep=True),
             Gemm(uop_bgn=0, uop_end=cfg.uop_depth + 1, pop_prev_dep=True)]
    sim = FunctionalSim(cfg)
    with pytest.raises(ProgramError, match="instruction 1: GEMM: uop_end"):
        run(cfg, insns, img=img, sim=sim)
    assert sim.tokens["l2g"] == 1

    sim = FunctionalSim(cfg)
    run(cfg, [noop_load(push_next_dep=True)] * cfg.dep_queue_depth, sim=sim)
    img = Image(cfg)
    base = img.data("inp", np.ones((1, *cfg.inp_shape)))
    full = Load(memory_type=MemId.INP, sram_base=0, dram_base=base, y_size=1, x_size=1, x_stride=1,
                push_next_dep=True)
    with pytest.raises(ProgramError, match=rf"instruction 0: LOAD push_next_dep .*{cfg.dep_queue_depth} tokens"):
        run(cfg, [full], img=img, sim=sim)
    assert not sim.inp.any() and sim.tokens["l2g"] == cfg.dep_queue_depth
