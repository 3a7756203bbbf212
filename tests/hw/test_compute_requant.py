"""The one-pass-epilogue extension on the RTL core (Amaranth simulator, small config): ALU MOV, ALU SETQ and the
requant bit of GEMM/ALU words (docs/semantics.md), against the functional simulator (the golden model) and an
independent numpy model of the spec written here.

Each program ends with a read-back so the whole state is visible in DRAM: STORE of the out entries, then the full
int32 accumulators, one byte at a time (ALU MOV acc → acc, then SHR by 8 three times, each followed by a STORE of
out). Checked bit for bit: the RTL's accumulators and out entries against the functional simulator's state after
the body, the whole final DRAM image against the functional simulator's, and both against the numpy model.
"""

import numpy as np
from hw_helpers import LAST_REGS, low8, simulate_core, staged_operands, wrap32

from vta.config import load_config
from vta.hw.regs import Reg
from vta.isa import Alu, AluOp, Finish, Gemm, Store, Uop, encode_program
from vta.sim.fsim import FunctionalSim

CFG = load_config("small")
OUT_AT, ACC_AT = 6144, 6656       # DRAM bytes: the stored out entries, then the accumulators' four byte planes
N = 8                              # acc/out entries each program uses (0 … N−1)
READ_UOP = Uop(dst_idx=0, src_idx=0, wgt_idx=0)   # the read-back's uop (entry i at loop step i)


def requant(x, shift, relu, ow=8):
    """The spec's requantized out lane: clamp(x >> shift, relu ? 0 : −2^(ow−1), 2^(ow−1) − 1)."""
    return np.clip(np.asarray(x, dtype=np.int64) >> shift, 0 if relu else -(1 << (ow - 1)), (1 << (ow - 1)) - 1)


def setq(shift, relu, **flags):
    return Alu(alu_opcode=AluOp.SETQ, use_imm=True, imm=shift | (relu << 5), **{"uop_bgn": 0, "uop_end": 0, **flags})


def readback(cfg, n, uop):
    """STORE out[0, n), then acc[0, n) byte by byte, with ``READ_UOP`` at uop index ``uop``. Compute → store and
    store → compute tokens order each pass against the STORE of the previous one."""
    ob = cfg.out_elem_bytes

    def store(at, last=False):
        return Store(sram_base=0, dram_base=at // ob, y_size=1, x_size=n, x_stride=n, pop_prev_dep=True,
                     push_prev_dep=not last)

    insns = [store(OUT_AT)]
    for b in range(4):
        nest = dict(uop_bgn=uop, uop_end=uop + 1, iter_out=n, iter_in=1, dst_factor_out=1,
                    src_factor_out=1, pop_next_dep=True, push_next_dep=True)
        word = Alu(alu_opcode=AluOp.MOV, **nest) if b == 0 else Alu(alu_opcode=AluOp.SHR, use_imm=True, imm=8,
                                                                     **nest)
        insns += [word, store(ACC_AT + b * n * ob, last=b == 3)]
    return insns


def build(cfg, body, uops, *, seed=0, acc_range=(-1000, 1000), n_inp=4, n_wgt=4):
    """The DRAM image, the program (loads, ``body``, read-back, FINISH), the body-only program and the operands.
    The body's last word hands a token to the read-back's first STORE."""
    dram, inp, wgt, acc, loads = staged_operands(cfg, np.random.default_rng(seed), n_inp, n_wgt, N,
                                                 [*uops, READ_UOP], acc_range=acc_range)
    body = [*body[:-1], body[-1].replace(push_next_dep=True)]
    prog = [*loads, *body, *readback(cfg, N, len(uops)), Finish()]
    assert len(prog) * 16 <= 1024
    dram[:len(prog) * 16] = encode_program(cfg, prog)
    return dram, prog, [*loads, *body, Finish()], (inp, wgt, acc)


def rtl_state(cfg, dram):
    """The accumulators and out entries [0, N) as the read-back left them in DRAM."""
    lanes = cfg.batch * cfg.block_out
    out = dram[OUT_AT:OUT_AT + N * lanes].view(np.int8).reshape(N, lanes)
    planes = dram[ACC_AT:ACC_AT + 4 * N * lanes].reshape(4, N, lanes).astype(np.int64)
    acc = wrap32(sum(planes[b] << (8 * b) for b in range(4)))
    return acc, out


def run_and_compare(body, uops, *, runs_before=(), max_cycles=6000, **kw):
    """Run on the RTL and the functional simulator; assert acc, out and the whole DRAM agree; returns the RTL's
    (acc, out) and the operands. ``runs_before``: earlier programs [(insns, addr)] run on the same core first."""
    cfg = CFG
    dram, prog, body_only, operands = build(cfg, body, uops, **kw)
    launches = []
    for insns, at in runs_before:
        dram[at:at + 16 * len(insns)] = encode_program(cfg, insns)
        launches.append((at, len(insns)))
    fs_body, fs_full = FunctionalSim(cfg), FunctionalSim(cfg)
    body_dram, ref = dram.copy(), dram.copy()
    for at, count in launches:
        fs_body.run(body_dram, at, count)
        fs_full.run(ref, at, count)
    body_dram[:len(prog) * 16] = 0
    body_dram[:len(body_only) * 16] = encode_program(cfg, body_only)
    fs_body.run(body_dram, 0, len(body_only))
    fs_full.run(ref, 0, len(prog))
    cycles, _ = simulate_core(cfg, dram, [*launches, (0, len(prog))], max_cycles=max_cycles)
    acc, out = rtl_state(cfg, dram)
    lanes = cfg.batch * cfg.block_out
    assert np.array_equal(acc, fs_body.acc[:N].reshape(N, lanes)), "acc differs from the functional simulator"
    assert np.array_equal(out, fs_body.out[:N].reshape(N, lanes)), "out differs from the functional simulator"
    bad = np.flatnonzero(dram != ref)
    assert bad.size == 0, f"{bad.size} DRAM bytes differ from the functional simulator, first at {bad[:8]}"
    return acc, out, operands, cycles


def test_mov_immediate_and_tensor_with_forwarding():
    """MOV imm into entry 7; then a tensor MOV chain whose every uop reads the entry the uop before it wrote
    (distance-1 forwarding): 0 ← 2, 1 ← 0, 3 ← 1, so all three end up holding acc[2]'s first value."""
    uops = [Uop(7, 0, 0), Uop(0, 2, 0), Uop(1, 0, 0), Uop(3, 1, 0)]
    body = [Alu(alu_opcode=AluOp.MOV, use_imm=True, imm=-1234, uop_bgn=0, uop_end=1),
            Alu(alu_opcode=AluOp.MOV, uop_bgn=1, uop_end=4)]
    acc, out, (_, _, acc0), _ = run_and_compare(body, uops)
    want = acc0.reshape(N, -1).astype(np.int64)
    want[7] = -1234
    want[0] = want[1] = want[3] = want[2]
    assert np.array_equal(acc, want)
    for k in (0, 1, 3, 7):   # out written (low 8 bits) by the MOVs; entry 2 only read
        assert np.array_equal(out[k], low8(want[k]))


def test_setq_and_requant_gemm_in_flight():
    """Requant GEMMs (8 uops accumulating into one entry each), every one followed at once by a SETQ with another Q:
    the GEMM's uops still in the pipeline keep the Q they were issued with. Accumulators span int32, so shifts 0…31
    saturate both ways; one is a reset GEMM with requant (out 0); relu on and off."""
    qs = [(0, 0), (7, 1), (31, 0), (12, 0), (20, 1), (3, 0)]
    uops = [Uop(dst_idx=k, src_idx=0, wgt_idx=0) for k in range(len(qs))]
    body = []
    for k, (shift, relu) in enumerate(qs):
        body.append(setq(shift, relu))
        body.append(Gemm(reset_reg=k == 3, requant=True, uop_bgn=k, uop_end=k + 1, iter_out=2, iter_in=4,
                         src_factor_out=2, src_factor_in=0, wgt_factor_in=1))
    body.append(setq(5, 1))   # a SETQ right after the last GEMM; no requant word uses it
    acc, out, (inp, wgt, acc0), _ = run_and_compare(body, uops, acc_range=(-2**31, 2**31), max_cycles=8000)
    want = acc0.reshape(N, -1).astype(np.int64)
    for k, (shift, relu) in enumerate(qs):
        if k == 3:
            want[k] = 0
        else:
            for i in range(2):
                for j in range(4):
                    want[k] = wrap32(want[k] + inp[2 * i].astype(np.int64) @ wgt[j].T.astype(np.int64))
        assert np.array_equal(out[k], requant(want[k], shift, relu)), (k, shift, relu)
    assert np.array_equal(acc, want)
    assert (out[:6] == 127).any() and (out[:6] == -128).any(), "the data should reach both clamp limits"


def test_requant_alu_words():
    """requant on ALU ADD, MUL (its pipelined `MulCore` path), MOV, SHR and MAX: acc keeps the full result, out gets it
    requantized with the Q of the last SETQ before each word."""
    uops = [Uop(k, (k + 1) % N, 0) for k in range(N)]
    body = [setq(3, 0),
            Alu(alu_opcode=AluOp.ADD, use_imm=True, imm=-3000, requant=True, uop_bgn=0, uop_end=1),
            Alu(alu_opcode=AluOp.MUL, use_imm=True, imm=977, requant=True, uop_bgn=1, uop_end=2, iter_in=3),
            Alu(alu_opcode=AluOp.MOV, requant=True, uop_bgn=2, uop_end=3),
            setq(9, 1),
            Alu(alu_opcode=AluOp.SHR, use_imm=True, imm=-4, requant=True, uop_bgn=3, uop_end=4),
            Alu(alu_opcode=AluOp.MAX, requant=True, uop_bgn=4, uop_end=5),
            Alu(alu_opcode=AluOp.ADD, use_imm=True, imm=5, uop_bgn=5, uop_end=6)]   # no requant: low 8 bits
    acc, out, (_, _, acc0), _ = run_and_compare(body, uops, acc_range=(-200_000, 200_000))
    a = acc0.reshape(N, -1).astype(np.int64)
    a[0] = wrap32(a[0] - 3000)
    for _ in range(3):
        a[1] = wrap32(a[1] * 977)
    a[2] = a[3]
    a[3] = wrap32(a[3] << 4)
    a[4] = np.maximum(a[4], a[5])
    a[5] = a[5] + 5
    assert np.array_equal(acc, a)
    for k, (shift, relu) in enumerate([(3, 0), (3, 0), (3, 0), (9, 1), (9, 1)]):
        assert np.array_equal(out[k], requant(a[k], shift, relu)), k
    assert np.array_equal(out[5], low8(a[5]))


def test_q_is_cleared_at_launch():
    """A first launch sets Q = (9, relu); the second launch's requant GEMM sees Q = (0, 0): plain saturation to
    [−128, 127]."""
    uops = [Uop(0, 0, 0)]
    first = [setq(9, 1), Finish()]
    body = [Gemm(requant=True, uop_bgn=0, uop_end=1, iter_in=2, src_factor_in=1, wgt_factor_in=1)]
    acc, out, (inp, wgt, acc0), _ = run_and_compare(body, uops, runs_before=[(first, 7168)],
                                                    acc_range=(-300, 300))
    want = acc0[0].astype(np.int64) + sum(inp[j].astype(np.int64) @ wgt[j].T.astype(np.int64) for j in range(2))
    assert np.array_equal(acc[0], want.ravel())
    assert np.array_equal(out[0], requant(want.ravel(), 0, 0))
    assert (out[0] < 0).any(), "the data should exercise the negative side (no relu)"


def test_setq_accesses_nothing_whatever_its_loop():
    """A SETQ with the widest loop nest and uop range writes neither acc nor out and takes no uop cycles (the
    cycle budget would catch 2^28 iterations); it carries the token to the read-back like any ALU word."""
    top = (1 << 14) - 1
    body = [setq(4, 0, uop_bgn=0, uop_end=CFG.uop_depth, iter_out=top, iter_in=top, dst_factor_out=1,
                 src_factor_in=1)]
    acc, out, (_, _, acc0), cycles = run_and_compare(body, [Uop(0, 0, 0)])
    assert np.array_equal(acc, acc0.reshape(N, -1))
    assert LAST_REGS[Reg.ALU_ACTIVE] == 4 * N   # the read-back's four passes only
    assert cycles[-1] < 3000
