"""`vta.jit.ops.common.fold_requant`: a trailing ``[SHR s], MAX lo, MIN 127`` becomes a requantizing out write.

Checked two ways: the shape of the result for each case, and by meaning — a small interpreter (written here from
docs/semantics.md: int32 ALU lanes, out = the low 8 bits of acc, or with requant ``clamp(acc >> shift, lo, 127)``)
runs the original and the folded step lists on random int32 data and must give the same out bytes."""

import numpy as np
import pytest

from vta.isa import AluOp
from vta.jit.ops.common import clip_steps, fold_requant


def wrap(v):
    return ((v + (1 << 31)) % (1 << 32)) - (1 << 31)


def alu(op, a, b):
    if op == AluOp.MIN:
        return np.minimum(a, b)
    if op == AluOp.MAX:
        return np.maximum(a, b)
    if op == AluOp.ADD:
        return wrap(a + b)
    if op == AluOp.MUL:
        return wrap(a * b)
    if op == AluOp.SHR:
        return a >> b if b >= 0 else wrap(a << -b)
    raise AssertionError(op)


def run(regions, steps, q=None, prior_requant=False):
    """Out bytes of region 0 after ``steps`` (4-tuples: plain; 5-tuples: with requant under ``q``)."""
    acc = [r.astype(np.int64).copy() for r in regions]
    out = (acc[0] + 128) % 256 - 128
    if prior_requant:
        out = np.clip(acc[0] >> q[0], 0 if q[1] else -128, 127)
    for st in steps:
        kind, op, a, r = st[:4]
        acc[r] = alu(op, acc[r], a if kind == "imm" else acc[a])
        if r == 0:
            out = (acc[0] + 128) % 256 - 128
            if len(st) == 5 and st[4]:
                out = np.clip(acc[0] >> q[0], 0 if q[1] else -128, 127)
    return out


CASES = {
    "add_shift_relu": [("tensor", AluOp.ADD, 1, 0), ("imm", AluOp.SHR, 3, 0)] + clip_steps(True),
    "add_no_shift": [("tensor", AluOp.ADD, 1, 0)] + clip_steps(),
    "left_shift_stays": [("tensor", AluOp.ADD, 1, 0), ("imm", AluOp.SHR, -2, 0)] + clip_steps(),
    "tail_only": [("imm", AluOp.SHR, 9, 0)] + clip_steps(),
    "clip_only": clip_steps(True),
    "last_writes_other_region": [("imm", AluOp.MUL, 7, 1), ("imm", AluOp.SHR, 31, 0)] + clip_steps(),
    "round_then_shift": [("imm", AluOp.MUL, -5, 0), ("imm", AluOp.ADD, 1 << 5, 0), ("imm", AluOp.SHR, 6, 0)]
    + clip_steps(),
    "not_int8_clip": [("tensor", AluOp.ADD, 1, 0), ("imm", AluOp.MAX, -5, 0), ("imm", AluOp.MIN, 100, 0)],
    "relu6_hi": [("imm", AluOp.MAX, 0, 0), ("imm", AluOp.MIN, 6, 0)],
    "no_clip": [("imm", AluOp.MAX, 0, 0)],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_folded_steps_write_the_same_out(name):
    rng = np.random.default_rng(len(name))
    regions = [rng.integers(-(1 << 31), 1 << 31, 4000, dtype=np.int64) for _ in range(2)]
    regions[0][:6] = [0, -1, 1, (1 << 31) - 1, -(1 << 31), 127]
    regions[1][:4] = [(1 << 31) - 1, -(1 << 31), 300, -300]
    steps = CASES[name]
    f = fold_requant(steps)
    np.testing.assert_array_equal(run(regions, f.steps, f.q), run(regions, steps))


def test_what_folds_and_where():
    f = fold_requant(CASES["add_shift_relu"])
    assert f.q == (3, True) and f.steps == (("tensor", AluOp.ADD, 1, 0, True),) and not f.prior
    f = fold_requant(CASES["left_shift_stays"])      # SHR −2 is a left shift, not a requant shift
    assert f.q == (0, False) and f.steps[-1] == ("imm", AluOp.SHR, -2, 0, True) and len(f.steps) == 2
    f = fold_requant(CASES["tail_only"])              # nothing before the tail: the SHR itself requantizes
    assert f.q == (0, False) and f.steps == (("imm", AluOp.SHR, 9, 0, True),)
    f = fold_requant(CASES["last_writes_other_region"])
    assert f.q == (0, False) and f.steps[-1] == ("imm", AluOp.SHR, 31, 0, True) and len(f.steps) == 2
    for name in ("not_int8_clip", "relu6_hi", "no_clip"):
        f = fold_requant(CASES[name])
        assert f.q is None and not any(st[4] for st in f.steps) and len(f.steps) == len(CASES[name])


def test_prior_word_takes_the_requant():
    """With ``prior`` and nothing before the tail, the caller's own word before the steps requantizes and no
    step is left (a channel_scale with shift 0: the MUL writes out requantized)."""
    f = fold_requant([("imm", AluOp.SHR, 4, 0)] + clip_steps(), prior=True)
    assert f == (((4, False)), (), True)
    rng = np.random.default_rng(3)
    x = rng.integers(-(1 << 20), 1 << 20, 500, dtype=np.int64)
    np.testing.assert_array_equal(run([x, x], f.steps, f.q, prior_requant=True),
                                  run([x, x], [("imm", AluOp.SHR, 4, 0)] + clip_steps()))
    # with steps before the tail, prior changes nothing
    assert fold_requant(CASES["add_no_shift"], prior=True) == fold_requant(CASES["add_no_shift"])
