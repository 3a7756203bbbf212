"""The command-stream builder: token placement, no-ops, balance at FINISH; checked against the semantics'
queue table by an independent token walk and by vta.isa.verify."""

import pytest
from jit_racecheck import POPS, PUSHES, stage

import vta
from vta import ProgramError
from vta.isa import Finish, Gemm, Load, MemId, Store, Uop
from vta.jit import CommandStream, DramAllocator, KernelCache, Stage
from vta.jit.kernels import Loop, UopKernel

L, C, S = Stage.LOAD, Stage.COMPUTE, Stage.STORE


def walk_tokens(insns):
    """Queue occupancy after each instruction; fails on a pop of an empty queue."""
    q = dict.fromkeys(("l2g", "g2l", "g2s", "s2g"), 0)
    for k, insn in enumerate(insns):
        st = stage(insn)
        for flag, name in POPS[st].items():
            if getattr(insn, flag):
                assert q[name] > 0, f"instruction {k} pops empty {name}"
                q[name] -= 1
        for flag, name in PUSHES[st].items():
            if getattr(insn, flag):
                q[name] += 1
        for other in ("pop_prev_dep", "pop_next_dep", "push_prev_dep", "push_next_dep"):
            if getattr(insn, other) and other not in POPS[st] and other not in PUSHES[st]:
                raise AssertionError(f"instruction {k} ({st}) sets {other}, a queue its stage does not have")
    return q


@pytest.fixture
def cfg():
    return vta.load_config("small")


def test_load_store_stages(cfg):
    s = CommandStream(cfg)
    s.load(MemId.INP, 0, 0, 1, 1, 1)
    s.load(MemId.WGT, 0, 0, 1, 1, 1)
    s.load(MemId.ACC, 0, 0, 1, 1, 1)
    s.load(MemId.UOP, 0, 0, 1, 1, 1)
    s.store(0, 0, 1, 1, 1)
    assert [stage(i) for i in s.insns] == ["load", "load", "compute", "compute", "store"]


def test_push_sets_flag_on_last_insn_of_stage(cfg):
    s = CommandStream(cfg)
    s.load(MemId.INP, 0, 0, 1, 1, 1)
    s.load(MemId.ACC, 0, 0, 1, 1, 1)          # compute stage, emitted after the load
    s.push(L, C)
    assert s.insns[0].push_next_dep and not s.insns[1].push_next_dep
    assert len(s) == 2
    s.push(L, C)                                # flag already set: a no-op load carries the second token
    assert len(s) == 3 and stage(s.insns[2]) == "load" and s.insns[2].x_size == 0 and s.insns[2].push_next_dep


def test_pop_is_absorbed_by_next_insn_of_that_stage(cfg):
    s = CommandStream(cfg)
    s.load(MemId.INP, 0, 0, 1, 1, 1)
    s.push(L, C)
    s.pop(L, C)
    s.store(0, 0, 1, 1, 1)                      # store stage: does not absorb a compute pop
    s.load(MemId.ACC, 0, 0, 1, 1, 1)
    assert not s.insns[1].pop_prev_dep and s.insns[2].pop_prev_dep


def test_pop_without_token_is_an_error(cfg):
    s = CommandStream(cfg)
    with pytest.raises(ProgramError, match="l2g"):
        s.pop(L, C)
    with pytest.raises(ProgramError, match="load and store"):
        s.push(L, S)


def test_push_after_pending_pop_gets_noop(cfg):
    s = CommandStream(cfg)
    s.store(0, 0, 1, 1, 1)
    s.load(MemId.ACC, 0, 0, 1, 1, 1)
    s.push(C, S)
    s.pop(C, S)
    s.push(S, C)          # the store stage must pop before it pushes: a no-op store carries both
    last = s.insns[-1]
    assert isinstance(last, Store) and last.x_size == 0 and last.pop_prev_dep and last.push_prev_dep
    assert not s.insns[0].push_prev_dep


def test_finish_balances_and_is_causal(cfg):
    s = CommandStream(cfg)
    s.load(MemId.INP, 0, 0, 1, 1, 1)
    s.push(L, C)
    s.push(L, C)
    s.load(MemId.ACC, 0, 0, 1, 1, 1)
    s.push(C, S)
    s.push(C, L)
    s.store(0, 0, 1, 1, 1)
    insns = s.finish()
    assert isinstance(insns[-1], Finish)
    assert walk_tokens(insns) == dict.fromkeys(("l2g", "g2l", "g2s", "s2g"), 0)
    from vta.isa import verify
    assert [p for p in verify(cfg, insns) if p.severity == "error"] == []
    with pytest.raises(ProgramError, match="FINISH"):
        s.load(MemId.INP, 0, 0, 1, 1, 1)


def test_empty_stream_is_just_finish(cfg):
    insns = CommandStream(cfg).finish()
    assert len(insns) == 1 and isinstance(insns[0], Finish) and not insns[0].pop_prev_dep


def test_gemm_alu_from_kernel(cfg):
    alloc = DramAllocator(1 << 16)
    import numpy as np
    dram = np.zeros(1 << 16, np.uint8)
    kc = KernelCache(cfg, alloc, dram)
    k = kc.get("k", lambda: UopKernel("k", (Uop(1, 2, 3), Uop(4, 5, 6)), (Loop(3, 10, 20, 30), Loop(2, 1, 2, 3))))
    s = CommandStream(cfg)
    p = kc.place(s, k)
    s.gemm(p)
    from vta.isa import AluOp
    s.alu(p, AluOp.ADD, imm=-5)
    g, a = s.insns[1], s.insns[2]
    assert isinstance(s.insns[0], Load) and s.insns[0].memory_type == MemId.UOP and s.insns[0].x_size == 2
    assert isinstance(g, Gemm) and (g.uop_bgn, g.uop_end, g.iter_out, g.iter_in) == (0, 2, 3, 2)
    assert (g.dst_factor_out, g.src_factor_out, g.wgt_factor_out, g.dst_factor_in, g.src_factor_in,
            g.wgt_factor_in) == (10, 20, 30, 1, 2, 3)
    assert a.use_imm and a.imm == -5 and a.alu_opcode == AluOp.ADD and a.src_factor_out == 20
    assert not g.requant and not a.requant


def test_requant_words_and_setq(cfg):
    """``requant=True`` sets the word's requant bit (and survives encoding); ``setq`` is an ALU SETQ with the
    shift in imm[4:0], relu in imm[5] and an empty uop range; a shift beyond 5 bits is refused by name."""
    import numpy as np

    from vta.isa import Alu, AluOp, decode_program, encode_program
    alloc = DramAllocator(1 << 16)
    kc = KernelCache(cfg, alloc, np.zeros(1 << 16, np.uint8))
    k = kc.get("k", lambda: UopKernel("k", (Uop(1, 2, 3),), (Loop(4, 1, 1, 0),)))
    s = CommandStream(cfg)
    s.setq(9, True)
    p = kc.place(s, k)
    s.gemm(p, requant=True)
    s.alu(p, AluOp.MOV, requant=True)
    s.alu(p, AluOp.ADD, imm=3)
    q = s.insns[0]
    assert isinstance(q, Alu) and q.alu_opcode == AluOp.SETQ and q.use_imm and q.imm == 9 + 32
    assert q.uop_end <= q.uop_bgn and not q.requant
    words = [i for i in s.insns if isinstance(i, (Gemm, Alu))][1:]
    assert [w.requant for w in words] == [True, True, False]
    back = decode_program(cfg, encode_program(cfg, s.insns))
    assert [getattr(i, "requant", None) for i in back] == [getattr(i, "requant", None) for i in s.insns]
    assert back[0] == q
    for bad in (32, -1, 2.0, True):
        with pytest.raises(ProgramError, match="SETQ shift must be an integer 0..31"):
            s.setq(bad, False)
