"""FunctionalSim ALU: every op with tensor and immediate operands, wrap-around, the SHR amount rule, relu,
shift-and-scale, and loops with read-after-write hazards (sequential fallback) against the loop reference."""

import numpy as np
import pytest
from fsim_helpers import Image, assert_same_state, execute, load_tiles, load_uops, rand_tiles, shr_lane, wrap

from vta.isa import Alu, AluOp, Uop
from vta.sim.compute import hazard_free_starts

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def tiles_from(cfg, values):
    """Acc tiles whose lanes cycle through ``values``."""
    lanes = int(np.prod(cfg.acc_shape))
    n = -(-len(values) // lanes)
    return np.resize(np.asarray(values, dtype=np.int64), n * lanes).reshape(n, *cfg.acc_shape)


def run_alu(cfg, acc, insns_after_uops, uops):
    img = Image(cfg)
    insns = [load_tiles(cfg, img, "acc", acc), load_uops(cfg, img, uops), *insns_after_uops]
    return execute(cfg, img, insns)


EDGE = [0, 1, -1, 2, -2, 7, -7, 127, -128, 128, 255, 65535, -65536, INT32_MAX, INT32_MIN, INT32_MAX - 1,
        INT32_MIN + 1, 1 << 30, -(1 << 30), 12345678, -87654321, 33, 64, -33, 31, 32, -32]


def lane_op(op, a, b):
    """The documented lane operation on Python ints (independent of the simulator)."""
    return {AluOp.MIN: min(a, b), AluOp.MAX: max(a, b), AluOp.ADD: wrap(a + b, 32), AluOp.MUL: wrap(a * b, 32),
            AluOp.SHR: shr_lane(a, b), AluOp.MOV: b}[op]


# every op with lanes (SETQ touches no lane: tests/sim/test_fsim_requant.py)
LANE_OPS = [op for op in AluOp if op != AluOp.SETQ]


@pytest.mark.parametrize("op", LANE_OPS, ids=[o.name for o in LANE_OPS])
def test_tensor_operand(cfg, op):
    rng = np.random.default_rng(int(op.value))
    a = np.concatenate([tiles_from(cfg, EDGE), rand_tiles(cfg, rng, "acc", 3)])
    b = np.concatenate([tiles_from(cfg, EDGE[::-1]), rand_tiles(cfg, rng, "acc", 3)])
    n = len(a)
    sim, stats, dram, ref, dram_ref = run_alu(cfg, np.concatenate([a, b]), [Alu(alu_opcode=op, uop_bgn=0, uop_end=n)],
                                              [Uop(u, n + u) for u in range(n)])
    expect = np.vectorize(lambda x, y: lane_op(op, int(x), int(y)), otypes=[np.int64])(a, b)
    np.testing.assert_array_equal(sim.acc[:n], expect)
    np.testing.assert_array_equal(sim.acc[n:2 * n], b)  # src untouched
    np.testing.assert_array_equal(sim.out[:n], (expect + 128) % 256 - 128)
    assert_same_state(sim, ref)
    assert stats.alu_ops == n * cfg.batch * cfg.block_out and stats.uops == n


@pytest.mark.parametrize("op", LANE_OPS, ids=[o.name for o in LANE_OPS])
@pytest.mark.parametrize("imm", [0, 1, -1, 5, -5, 31, 32, -32, 33, 63, 64, -64, 100, 32767, -32768])
def test_immediate_operand(cfg, op, imm):
    a = tiles_from(cfg, EDGE)
    n = len(a)
    sim, stats, *_ = run_alu(cfg, a, [Alu(alu_opcode=op, uop_bgn=0, uop_end=n, use_imm=True, imm=imm)],
                             [Uop(u, 0) for u in range(n)])
    expect = np.vectorize(lambda x: lane_op(op, int(x), imm), otypes=[np.int64])(a)
    np.testing.assert_array_equal(sim.acc[:n], expect)


def test_literal_facts(cfg):
    """Hand-computed results: wrap of ADD and MUL, the SHR 6-bit signed amount rule."""
    cases = [  # (op, a, imm, expected)
        (AluOp.ADD, INT32_MAX, 1, INT32_MIN),
        (AluOp.ADD, INT32_MIN, -1, INT32_MAX),
        (AluOp.ADD, 10, -32768, 10 - 32768),
        (AluOp.MUL, 1 << 17, 32767, -(1 << 17)),   # 2^17·(2^15 - 1) = 2^32 - 2^17 wraps to -2^17
        (AluOp.MUL, 65536, 32767, 65536 * 32767),   # 0x7FFF0000 still fits
        (AluOp.MUL, INT32_MAX, 2, -2),
        (AluOp.MUL, INT32_MIN, -1, INT32_MIN),
        (AluOp.MIN, -5, -3, -5),
        (AluOp.MAX, -5, -3, -3),
        (AluOp.SHR, -17, 3, -3),            # arithmetic right shift rounds toward -inf
        (AluOp.SHR, 100, 0, 100),           # copy
        (AluOp.SHR, 3, -4, 48),             # negative amount: left shift
        (AluOp.SHR, 1, -31, INT32_MIN),     # 1 << 31 wraps to INT32_MIN
        (AluOp.SHR, 12345, -32, 0),         # -32: left shift by 32 gives 0
        (AluOp.SHR, 12345, 32, 0),          # low 6 bits 100000 = -32 as a signed 6-bit number
        (AluOp.SHR, -12345, 31, -1),
        (AluOp.SHR, 1 << 20, 64 + 4, 1 << 16),   # only the low 6 bits count: 68 → 4
        (AluOp.SHR, 5, -64, 5),             # -64 → low 6 bits 0 → copy
        (AluOp.SHR, 5, 63, 10),             # 63 → -1 → left shift by 1
    ]
    acc = np.stack([np.full(cfg.acc_shape, a) for _, a, _, _ in cases])
    insns = [Alu(alu_opcode=op, uop_bgn=k, uop_end=k + 1, use_imm=True, imm=imm)
             for k, (op, _, imm, _) in enumerate(cases)]
    sim, *_ = run_alu(cfg, acc, insns, [Uop(k, 0) for k in range(len(cases))])
    for k, (op, a, imm, want) in enumerate(cases):
        assert (sim.acc[k] == want).all(), (op, a, imm, int(sim.acc[k].flat[0]), want)


def test_shr_tensor_amounts_per_lane(cfg):
    """With a tensor operand each lane has its own amount (including negative ones and the 6-bit wrap)."""
    amounts = [0, 1, 5, 31, -1, -8, -31, -32, 32, 33, 63, 64, 65, -33, 100, -100]
    a = tiles_from(cfg, [-(1 << 20) - 3] * len(amounts))
    b = tiles_from(cfg, amounts)
    n = len(a)
    sim, *_ = run_alu(cfg, np.concatenate([a, b]), [Alu(alu_opcode=AluOp.SHR, uop_bgn=0, uop_end=n)],
                      [Uop(u, n + u) for u in range(n)])
    expect = np.vectorize(lambda x, s: shr_lane(int(x), int(s)), otypes=[np.int64])(a, b)
    np.testing.assert_array_equal(sim.acc[:n], expect)


def test_relu_then_clip(cfg):
    """MAX with 0 then MIN with 127: the int8 requantization clamp."""
    rng = np.random.default_rng(5)
    a = rand_tiles(cfg, rng, "acc", 20, -1000, 1000)
    insns = [Alu(alu_opcode=AluOp.MAX, uop_bgn=0, uop_end=20, use_imm=True, imm=0),
             Alu(alu_opcode=AluOp.MIN, uop_bgn=0, uop_end=20, use_imm=True, imm=127)]
    sim, *_ = run_alu(cfg, a, insns, [Uop(u, 0) for u in range(20)])
    np.testing.assert_array_equal(sim.acc[:20], np.clip(a, 0, 127))
    np.testing.assert_array_equal(sim.out[:20], np.clip(a, 0, 127))


@pytest.mark.parametrize("shift", [0, 3, 8])
def test_shift_and_scale(cfg, shift):
    """ADD a rounding bias then SHR: (a + (1 << (k-1))) >> k with floor semantics."""
    rng = np.random.default_rng(shift)
    a = rand_tiles(cfg, rng, "acc", 20, -(1 << 24), 1 << 24)
    bias = (1 << (shift - 1)) if shift else 0
    insns = [Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=20, use_imm=True, imm=bias),
             Alu(alu_opcode=AluOp.SHR, uop_bgn=0, uop_end=20, use_imm=True, imm=shift)]
    sim, *_ = run_alu(cfg, a, insns, [Uop(u, 0) for u in range(20)])
    np.testing.assert_array_equal(sim.acc[:20], (a + bias) >> shift)


def test_in_place_src_equals_dst_is_not_a_hazard(cfg):
    a = tiles_from(cfg, EDGE)
    n = len(a)
    sim, *_ = run_alu(cfg, a, [Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=n)], [Uop(u, u) for u in range(n)])
    np.testing.assert_array_equal(sim.acc[:n], wrap(2 * a, 32))


def test_chain_prefix_sum(cfg):
    """acc[u+1] += acc[u] for u = 0..: each iteration reads the previous one's result (a running sum)."""
    rng = np.random.default_rng(9)
    a = rand_tiles(cfg, rng, "acc", 12, -1000, 1000)
    sim, stats, dram, ref, dram_ref = run_alu(cfg, a, [Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=11)],
                                              [Uop(u + 1, u) for u in range(11)])
    np.testing.assert_array_equal(sim.acc[:12], np.cumsum(a, axis=0))
    assert_same_state(sim, ref)


def test_chain_through_loop_factors(cfg):
    """The hazard comes from the loop nest: j-th iteration reads what (j-1)-th wrote (dst_factor_in=1)."""
    a = np.stack([np.full(cfg.acc_shape, 3)] + [np.full(cfg.acc_shape, 1)] * 8)
    insn = Alu(alu_opcode=AluOp.MUL, uop_bgn=0, uop_end=1, iter_in=8, dst_factor_in=1, src_factor_in=1)
    sim, stats, dram, ref, dram_ref = run_alu(cfg, a, [insn], [Uop(1, 0)])
    # acc[j+1] = acc[j+1] * acc[j]: every entry becomes 3
    assert (sim.acc[:9] == 3).all()
    assert_same_state(sim, ref)


def test_repeated_dst_with_immediate(cfg):
    """The same entry updated k times in one instruction: each update sees the previous one."""
    a = tiles_from(cfg, [100, -7])
    insns = [Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=3, iter_out=4, use_imm=True, imm=-3),
             Alu(alu_opcode=AluOp.SHR, uop_bgn=3, uop_end=4, iter_in=3, use_imm=True, imm=1),
             Alu(alu_opcode=AluOp.MUL, uop_bgn=4, uop_end=5, iter_in=5, use_imm=True, imm=-3)]
    acc = np.concatenate([a, np.full((1, *cfg.acc_shape), 1000), np.full((1, *cfg.acc_shape), 7)])
    uops = [Uop(0, 0), Uop(0, 0), Uop(0, 0), Uop(len(a), 0), Uop(len(a) + 1, 0)]
    sim, stats, dram, ref, dram_ref = run_alu(cfg, acc, insns, uops)
    np.testing.assert_array_equal(sim.acc[0], a[0] - 36)
    assert (sim.acc[len(a)] == 125).all()
    assert (sim.acc[len(a) + 1] == 7 * (-3) ** 5).all()
    assert_same_state(sim, ref)


def test_swap_like_pair(cfg):
    """Write-after-read then read-after-write: acc1 += acc0; acc0 += acc1 (the new acc1)."""
    acc = np.stack([np.full(cfg.acc_shape, 5), np.full(cfg.acc_shape, 11)])
    sim, *_ = run_alu(cfg, acc, [Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=2)], [Uop(1, 0), Uop(0, 1)])
    assert (sim.acc[1] == 16).all() and (sim.acc[0] == 21).all()


def test_hazard_free_starts_cases():
    """The run splitter on literal index sequences."""
    a = np.array
    assert hazard_free_starts(a([0, 1, 2]), None) == [0]
    assert hazard_free_starts(a([0, 1, 0, 1]), None) == [0, 2]
    assert hazard_free_starts(a([5, 5, 5]), None) == [0, 1, 2]
    assert hazard_free_starts(a([0, 1, 2]), a([0, 1, 2])) == [0]        # in place
    assert hazard_free_starts(a([0, 1]), a([1, 2])) == [0]              # later write of what was read: fine
    assert hazard_free_starts(a([1, 0]), a([0, 1])) == [0, 1]           # reads acc1 written by iteration 0
    assert hazard_free_starts(a([1, 2, 3, 4]), a([0, 1, 2, 3])) == [0, 1, 2, 3]   # chain
    assert hazard_free_starts(a([2, 3, 4, 5]), a([0, 1, 2, 3])) == [0, 2]         # chain with distance 2


def test_random_alu_programs(cfg):
    """Seeded random ALU programs over a small acc range (so hazards are common) against the loop reference."""
    rng = np.random.default_rng(77)
    for trial in range(10):
        acc = rand_tiles(cfg, rng, "acc", 24, -(1 << 31), 1 << 31) if trial % 2 else \
            rand_tiles(cfg, rng, "acc", 24, -200, 200)
        uops = [Uop(int(rng.integers(0, 10)), int(rng.integers(0, 10))) for _ in range(12)]
        insns = []
        for _ in range(int(rng.integers(1, 6))):
            bgn = int(rng.integers(0, 12))
            use_imm = bool(rng.random() < 0.4)
            insns.append(Alu(alu_opcode=AluOp(int(rng.integers(0, 5))), uop_bgn=bgn,
                             uop_end=int(rng.integers(bgn, 13)), iter_out=int(rng.integers(0, 4)),
                             iter_in=int(rng.integers(0, 4)), dst_factor_out=int(rng.integers(0, 4)),
                             dst_factor_in=int(rng.integers(0, 4)), src_factor_out=int(rng.integers(0, 4)),
                             src_factor_in=int(rng.integers(0, 4)), use_imm=use_imm,
                             imm=int(rng.integers(-(1 << 15), 1 << 15)) if use_imm else 0))
        sim, stats, dram, ref, dram_ref = run_alu(cfg, acc, insns, uops)
        assert_same_state(sim, ref)
