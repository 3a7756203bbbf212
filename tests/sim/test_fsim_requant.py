"""FunctionalSim: the one-pass-epilogue extension — the SETQ register, ALU MOV and requantizing out writes of GEMM
and ALU words — against values computed here with plain Python loops (and the loop reference `RefVTA`)."""

import numpy as np
import pytest
from fsim_helpers import Image, assert_same_state, execute, load_tiles, load_uops, rand_tiles, wrap

from vta.errors import ISAError, ProgramError
from vta.isa import Alu, AluOp, Finish, Gemm, Load, MemId, Store, Uop, decode, encode
from vta.sim import FunctionalSim


def requant_lane(x, shift, relu):
    """The documented requantized out value of one int32 lane, on Python ints."""
    return min(127, max(0 if relu else -128, x >> shift))


def requant_ref(values, shift, relu):
    return np.vectorize(lambda x: requant_lane(int(x), shift, relu), otypes=[np.int64])(values)


def setq(shift, relu, **flags):
    return Alu(alu_opcode=AluOp.SETQ, uop_bgn=0, uop_end=0, use_imm=True, imm=shift + 32 * relu, **flags)


def add0(n, bgn=0, requant=True):
    """acc[u] += 0 for u in bgn..bgn+n (uops Uop(u, ·)): rewrites acc unchanged, then out from it."""
    return Alu(alu_opcode=AluOp.ADD, uop_bgn=bgn, uop_end=bgn + n, use_imm=True, imm=0, requant=requant)


def run_alu(cfg, acc, insns, uops, **kw):
    img = Image(cfg)
    return execute(cfg, img, [load_tiles(cfg, img, "acc", acc), load_uops(cfg, img, uops), *insns], **kw)


# values around every clamp edge, and large ones whose low 8 bits differ from the clamp
EDGE = [0, 1, -1, 127, 128, -128, -129, 255, 256, -256, 1000, -1000, 4095, -4096, (1 << 31) - 1, -(1 << 31),
        77777, -77777, 1 << 20, -(1 << 20) - 1]


def edge_tiles(cfg):
    lanes = int(np.prod(cfg.acc_shape))
    n = -(-len(EDGE) // lanes)
    return np.resize(np.asarray(EDGE, dtype=np.int64), n * lanes).reshape(n, *cfg.acc_shape)


@pytest.mark.parametrize("shift", [0, 1, 4, 8, 31])
@pytest.mark.parametrize("relu", [False, True])
def test_alu_requant_out(cfg, shift, relu):
    a = edge_tiles(cfg)
    n = len(a)
    sim, stats, dram, ref, dram_ref = run_alu(cfg, a, [setq(shift, relu), add0(n)], [Uop(u, 0) for u in range(n)])
    np.testing.assert_array_equal(sim.acc[:n], a)                        # acc keeps the full int32 result
    np.testing.assert_array_equal(sim.out[:n], requant_ref(a, shift, relu))
    assert sim.q == (shift, relu)
    assert_same_state(sim, ref)


def test_literal_requant_values(cfg):
    """Hand-computed: 1000 >> 3 = 125; -1000 >> 3 = -125; 1100 >> 3 = 137 → 127; -1100 >> 3 = -138 → -128 (or 0
    with relu); -1 >> 5 = -1 (arithmetic) → 0 with relu; 300 unshifted → 127 (not its low 8 bits, 44)."""
    cases = [(1000, 3, False, 125), (-1000, 3, False, -125), (1100, 3, False, 127), (-1100, 3, False, -128),
             (-1100, 3, True, 0), (-1, 5, False, -1), (-1, 5, True, 0), (300, 0, False, 127), (97, 1, True, 48)]
    acc = np.stack([np.full(cfg.acc_shape, v) for v, *_ in cases])
    insns = []
    for k, (_, shift, relu, _) in enumerate(cases):
        insns += [setq(shift, relu), add0(1, bgn=k)]
    sim, *_ = run_alu(cfg, acc, insns, [Uop(k, 0) for k in range(len(cases))])
    for k, (v, shift, relu, want) in enumerate(cases):
        assert (sim.out[k] == want).all(), (v, shift, relu, int(sim.out[k].flat[0]), want)


def test_without_requant_out_is_low_bits(cfg):
    """A SETQ changes nothing for a word without the requant bit: out keeps the low 8 bits."""
    a = edge_tiles(cfg)
    n = len(a)
    sim, *_ = run_alu(cfg, a, [setq(4, True), add0(n, requant=False)], [Uop(u, 0) for u in range(n)])
    np.testing.assert_array_equal(sim.out[:n], wrap(a, 8))


def gemm_case(cfg, rng, n_in=6, n_wgt=3):
    inp = rand_tiles(cfg, rng, "inp", n_in)
    wgt = rand_tiles(cfg, rng, "wgt", n_wgt)
    img = Image(cfg)
    loads = [load_tiles(cfg, img, "inp", inp), load_tiles(cfg, img, "wgt", wgt)]
    return img, loads, inp, wgt


@pytest.mark.parametrize("shift, relu", [(0, False), (6, False), (9, True), (13, True)])
def test_gemm_requant_conv_like(cfg, shift, relu):
    """acc[t] = Σ_k inp[t + k] · wgt[k] over 3 contributions per target (a conv row: `gemm_plan`'s path), the last
    contribution of each entry written to out requantized."""
    rng = np.random.default_rng(shift)
    img, loads, inp, wgt = gemm_case(cfg, rng)
    t = 4
    uops = [Uop(0, k, k) for k in range(3)]
    gemm = Gemm(uop_bgn=0, uop_end=3, iter_out=t, dst_factor_out=1, src_factor_out=1, requant=True)
    insns = [*loads, load_uops(cfg, img, uops), Gemm(reset_reg=True, uop_bgn=0, uop_end=1, iter_out=t,
                                                       dst_factor_out=1),
             setq(shift, relu), gemm]
    sim, stats, dram, ref, dram_ref = execute(cfg, img, insns)
    want = np.zeros((t, *cfg.acc_shape), dtype=np.int64)
    for i in range(t):
        for k in range(3):
            want[i] += np.einsum("bi,oi->bo", inp[i + k], wgt[k])
    np.testing.assert_array_equal(sim.acc[:t], want)
    np.testing.assert_array_equal(sim.out[:t], requant_ref(want, shift, relu))
    assert_same_state(sim, ref)


def test_gemm_requant_scattered_targets(cfg):
    """Targets that are not one acc range, some hit twice in one instruction (the general GEMM path)."""
    rng = np.random.default_rng(3)
    img, loads, inp, wgt = gemm_case(cfg, rng)
    uops = [Uop(5, 0, 0), Uop(2, 1, 1), Uop(5, 2, 2), Uop(9, 3, 0)]
    insns = [*loads, load_uops(cfg, img, uops), setq(7, False), Gemm(uop_bgn=0, uop_end=4, requant=True)]
    sim, stats, dram, ref, dram_ref = execute(cfg, img, insns)
    want = {5: inp[0] @ wgt[0].T + inp[2] @ wgt[2].T, 2: inp[1] @ wgt[1].T, 9: inp[3] @ wgt[0].T}
    for d, v in want.items():
        np.testing.assert_array_equal(sim.acc[d], v)
        np.testing.assert_array_equal(sim.out[d], requant_ref(v, 7, False))
    assert_same_state(sim, ref)


@pytest.mark.parametrize("relu", [False, True])
def test_reset_gemm_with_requant(cfg, relu):
    """A requantized 0 is 0: a reset GEMM with the requant bit zeroes acc and out alike."""
    a = edge_tiles(cfg)
    n = len(a)
    insns = [setq(3, relu), add0(n, requant=False), Gemm(reset_reg=True, uop_bgn=0, uop_end=n, requant=True)]
    sim, *_ = run_alu(cfg, a, insns, [Uop(u, 0) for u in range(n)])
    assert (sim.acc[:n] == 0).all() and (sim.out[:n] == 0).all()


def test_mov_tensor_and_immediate(cfg):
    rng = np.random.default_rng(11)
    a = rand_tiles(cfg, rng, "acc", 8)
    insns = [Alu(alu_opcode=AluOp.MOV, uop_bgn=0, uop_end=3),                              # acc[u] = acc[u + 4]
             Alu(alu_opcode=AluOp.MOV, uop_bgn=3, uop_end=4, use_imm=True, imm=-32768),   # acc[3] = sext(imm)
             Alu(alu_opcode=AluOp.MOV, uop_bgn=4, uop_end=5, use_imm=True, imm=300)]      # acc[7] = 300
    sim, stats, dram, ref, dram_ref = run_alu(cfg, a, insns, [Uop(0, 4), Uop(1, 5), Uop(2, 6), Uop(3, 0), Uop(7, 0)])
    np.testing.assert_array_equal(sim.acc[:3], a[4:7])
    assert (sim.acc[3] == -32768).all() and (sim.acc[7] == 300).all()
    np.testing.assert_array_equal(sim.acc[4:7], a[4:7])                                  # src untouched
    np.testing.assert_array_equal(sim.out[:3], wrap(a[4:7], 8))
    assert (sim.out[3] == 0).all() and (sim.out[7] == 44).all()                           # low 8 bits
    assert stats.alu_ops == 5 * cfg.batch * cfg.block_out
    assert_same_state(sim, ref)


def test_mov_chain_and_requant(cfg):
    """MOV through a loop nest with a read-after-write chain (acc[j+1] = acc[j]) and the requant bit: every entry
    becomes acc[0], every out its requantized value."""
    a = np.stack([np.full(cfg.acc_shape, 1500)] + [np.full(cfg.acc_shape, k) for k in range(6)])
    insns = [setq(2, False), Alu(alu_opcode=AluOp.MOV, uop_bgn=0, uop_end=1, iter_in=6, dst_factor_in=1,
                                 src_factor_in=1, requant=True)]
    sim, stats, dram, ref, dram_ref = run_alu(cfg, a, insns, [Uop(1, 0)])
    assert (sim.acc[:7] == 1500).all()
    assert (sim.out[1:7] == 127).all() and (sim.out[0] == 0).all()   # 1500 >> 2 = 375 → 127; acc[0] not written
    assert_same_state(sim, ref)


def test_q_persists_and_each_word_uses_the_setq_before_it(cfg):
    a = np.stack([np.full(cfg.acc_shape, 1000)] * 4)
    insns = [setq(2, False), add0(1, bgn=0), add0(1, bgn=1),      # both with shift 2: 250 → 127
             setq(3, False), add0(1, bgn=2),                      # 125
             add0(1, bgn=3, requant=False)]                       # low 8 bits of 1000: -24
    sim, *_ = run_alu(cfg, a, insns, [Uop(u, 0) for u in range(4)])
    assert [int(sim.out[k].flat[0]) for k in range(4)] == [127, 127, 125, -24]


def test_q_resets_at_each_run(cfg):
    """Run 1 leaves Q = (5, relu); run 2 has no SETQ, so its requant word uses Q = (0, 0): clip(x, -128, 127)."""
    a = np.stack([np.full(cfg.acc_shape, -1000), np.full(cfg.acc_shape, 100)])
    sim = FunctionalSim(cfg)
    run_alu(cfg, a, [setq(5, True), add0(2, requant=False)], [Uop(0, 0), Uop(1, 0)], sim=sim)
    assert sim.q == (5, True)
    sim, *_ = run_alu(cfg, a, [add0(2)], [Uop(0, 0), Uop(1, 0)], sim=sim)
    assert sim.q == (0, False)
    assert (sim.out[0] == -128).all() and (sim.out[1] == 100).all()


def test_setq_accesses_nothing(cfg):
    """A SETQ whose uop range and loops would reach far beyond acc, over uop words with reserved bits, reads and
    writes nothing (and iterates nothing in the counts)."""
    img = Image(cfg)
    words = np.full(4, 0xFFFFFFFF, dtype="<u4")
    base = img._place(words.view(np.uint8), 4) // 4
    acc = np.stack([np.full(cfg.acc_shape, 9)] * 2)
    insns = [load_tiles(cfg, img, "acc", acc), Load(memory_type=MemId.UOP, sram_base=0, dram_base=base, y_size=1,
                                                    x_size=4, x_stride=4),
             Alu(alu_opcode=AluOp.SETQ, uop_bgn=0, uop_end=4, iter_out=1000, iter_in=1000,
                 dst_factor_out=cfg.acc_depth - 1, src_factor_in=cfg.acc_depth - 1, use_imm=True, imm=63,
                 push_next_dep=True),
             Store(sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0, pop_prev_dep=True)]
    sim, stats, dram, ref, dram_ref = execute(cfg, img, insns)
    assert sim.q == (31, True)
    assert (sim.acc[:2] == 9).all() and (sim.out == 0).all()
    assert stats.uops == 0 and stats.alu_ops == 0 and stats.insns["ALU"] == 1
    assert sim.tokens == {"l2g": 0, "g2l": 0, "g2s": 0, "s2g": 0}   # its push met the STORE's pop


def run_words(cfg, words):
    img = Image(cfg)
    raw = b"".join(w.to_bytes(16, "little") for w in words)
    addr = img._place(np.frombuffer(raw, dtype=np.uint8), 16)
    FunctionalSim(cfg).run(img.build(), addr, len(words))


@pytest.mark.parametrize("change, match", [
    (dict(use_imm=False, imm=3), r"ALU SETQ: use_imm must be 1 .*not 0"),
    (dict(imm=64), r"ALU SETQ: imm\[15:6\] must be 0 .*not imm=0x0040"),
    (dict(imm=-1), r"ALU SETQ: imm\[15:6\] must be 0 .*not imm=0xffff"),
    (dict(imm=1 << 14), r"ALU SETQ: imm\[15:6\] must be 0"),
    (dict(requant=True), r"ALU SETQ: requant must be 0 .*not 1"),
], ids=["no-imm", "imm-bit6", "imm-negative", "imm-bit14", "requant"])
def test_malformed_setq(cfg, change, match):
    """Malformed like a reserved bit set: the decoder refuses it, and the simulator names the instruction."""
    word = encode(cfg, setq(0, False).replace(**change))   # the encoder packs fields; the rule is the decoder's
    with pytest.raises(ISAError, match=match):
        decode(cfg, word)
    noop = encode(cfg, Load(memory_type=MemId.INP, sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0))
    with pytest.raises(ProgramError, match=rf"^instruction 1: cannot decode word .*{match}"):
        run_words(cfg, [noop, word, encode(cfg, Finish())])


def test_well_formed_setq_edges(cfg):
    for imm in (0, 31, 32, 63):
        assert decode(cfg, encode(cfg, setq(imm % 32, imm >= 32))) == setq(imm % 32, imm >= 32)


@pytest.mark.parametrize("insn, match", [
    (Alu(alu_opcode=AluOp.SETQ, uop_bgn=0, uop_end=1, use_imm=True, imm=1, reset_reg=True),
     r"ALU: reset_reg must be 0"),
], ids=["reset"])
def test_setq_ordinary_checks(cfg, insn, match):
    img = Image(cfg)
    with pytest.raises(ProgramError, match=rf"^instruction 0: {match}"):
        execute(cfg, img, [insn])


def test_setq_uop_end_past_depth(cfg):
    d = cfg.uop_depth
    img = Image(cfg)
    insn = Alu(alu_opcode=AluOp.SETQ, uop_bgn=d - 1, uop_end=d + 1, use_imm=True, imm=1)
    with pytest.raises(ProgramError, match=rf"^instruction 0: ALU SETQ: uop_end={d + 1} is past the uop buffer"):
        execute(cfg, img, [insn])
    # an empty nest is no access, as for every ALU word
    sim, *_ = execute(cfg, Image(cfg), [insn.replace(iter_out=0)])
    assert sim.q == (1, False)


def test_random_extension_programs(cfg):
    """Seeded random ALU programs mixing SETQ, MOV and requant words over a small acc range (hazards common)
    against the loop reference."""
    rng = np.random.default_rng(2026)
    ops = [AluOp.MIN, AluOp.MAX, AluOp.ADD, AluOp.SHR, AluOp.MUL, AluOp.MOV]
    for trial in range(8):
        acc = rand_tiles(cfg, rng, "acc", 24, -(1 << 31), 1 << 31) if trial % 2 else \
            rand_tiles(cfg, rng, "acc", 24, -5000, 5000)
        uops = [Uop(int(rng.integers(0, 10)), int(rng.integers(0, 10))) for _ in range(12)]
        insns = []
        for _ in range(int(rng.integers(2, 8))):
            if rng.random() < 0.3:
                insns.append(setq(int(rng.integers(0, 32)), bool(rng.random() < 0.5)))
                continue
            bgn = int(rng.integers(0, 12))
            use_imm = bool(rng.random() < 0.4)
            insns.append(Alu(alu_opcode=ops[int(rng.integers(0, len(ops)))], uop_bgn=bgn,
                             uop_end=int(rng.integers(bgn, 13)), iter_out=int(rng.integers(0, 4)),
                             iter_in=int(rng.integers(0, 4)), dst_factor_out=int(rng.integers(0, 4)),
                             dst_factor_in=int(rng.integers(0, 4)), src_factor_out=int(rng.integers(0, 4)),
                             src_factor_in=int(rng.integers(0, 4)), use_imm=use_imm,
                             imm=int(rng.integers(-(1 << 15), 1 << 15)) if use_imm else 0,
                             requant=bool(rng.random() < 0.5)))
        sim, stats, dram, ref, dram_ref = run_alu(cfg, acc, insns, uops)
        assert_same_state(sim, ref)
        assert sim.q == ref.q
