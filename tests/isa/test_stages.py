"""`vta.isa.stages`, the one routing table: checked against docs/semantics.md's routing written out by hand, and
for consistency between its derived views (every other module reads these, so a mistake here shows up only here)."""

import pytest

from vta import load_config
from vta.isa import Alu, Finish, Gemm, Load, MemId, Opcode, Store
from vta.isa import stages as S

CFG = load_config("small")


def test_stage_queues_match_the_semantics():
    assert S.STAGE_QUEUES == {
        "load": {"pop_prev_dep": None, "pop_next_dep": "g2l", "push_prev_dep": None, "push_next_dep": "l2g"},
        "compute": {"pop_prev_dep": "l2g", "pop_next_dep": "s2g", "push_prev_dep": "g2l", "push_next_dep": "g2s"},
        "store": {"pop_prev_dep": "g2s", "pop_next_dep": None, "push_prev_dep": "s2g", "push_next_dep": None},
    }
    for stage in S.STAGES:
        assert tuple(S.STAGE_QUEUES[stage]) == S.DEP_FLAGS   # flags in header bit order


def test_each_queue_has_one_pusher_and_one_popper():
    for q, (src, dst) in S.QUEUE_STAGES.items():
        push_flag, pop_flag = S.QUEUE_FLAGS[q]
        assert S.STAGE_PUSHES[src][push_flag] == q and S.STAGE_POPS[dst][pop_flag] == q
        assert [s for s in S.STAGES if q in S.STAGE_PUSHES[s].values()] == [src]
        assert [s for s in S.STAGES if q in S.STAGE_POPS[s].values()] == [dst]
        assert S.queue_between(src, dst) == q
    assert S.queue_between("load", "store") is None and S.queue_between("store", "load") is None
    assert S.queue_of("compute", "pop_next_dep") == "s2g" and S.queue_of("load", "pop_prev_dep") is None


@pytest.mark.parametrize("insn,stage", [
    (Load(memory_type=MemId.INP, sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0), "load"),
    (Load(memory_type=MemId.WGT, sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0), "load"),
    (Load(memory_type=MemId.UOP, sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0), "compute"),
    (Load(memory_type=MemId.ACC, sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0), "compute"),
    (Load(memory_type=MemId.ACC_8BIT, sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0), "compute"),
    (Store(sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0), "store"),
    (Gemm(uop_bgn=0, uop_end=0), "compute"),
    (Alu(alu_opcode=0, uop_bgn=0, uop_end=0), "compute"),
    (Finish(), "compute"),
])
def test_stage_of(insn, stage):
    assert S.stage_of(insn) == stage


def test_memory_types():
    assert S.LOAD_TYPES == (MemId.UOP, MemId.WGT, MemId.INP, MemId.ACC, MemId.ACC_8BIT)
    assert S.STORE_TYPES == (MemId.OUT,)
    assert [m for m, t in S.MEMORY_TYPES.items() if t.paddable] == [MemId.INP, MemId.ACC, MemId.ACC_8BIT]
    assert S.memory_type(MemId.ACC_8BIT).buffer == "acc"
    assert S.memory_type(5).dram_elem_bytes(CFG) == CFG.out_elem_bytes      # int8 in DRAM
    assert S.memory_type(MemId.ACC).dram_elem_bytes(CFG) == CFG.acc_elem_bytes
    assert S.memory_type(MemId.UOP).dram_elem_bytes(CFG) == S.UOP_BYTES == 4
    with pytest.raises(KeyError, match="memory_type 7 names no buffer"):
        S.memory_type(7)
    assert S.stage_of_fields(Opcode.STORE) == "store" and S.stage_of_fields(Opcode.LOAD, 2) == "load"


def test_sizes_and_depth():
    assert (S.INSN_BYTES, S.UOP_BYTES, S.QUEUE_DEPTH) == (16, 4, 1024)
    assert CFG.dep_queue_depth == S.QUEUE_DEPTH and CFG.uop_elem_bytes == S.UOP_BYTES
