"""Fetch's dispatch decode and the WAIT register bits against `vta.isa.stages`: every 3-bit opcode × 3-bit
memory_type (malformed values included) goes to the stage the table names, or to compute when it names none."""

from amaranth.hdl import Module, Signal
from amaranth.lib import data
from amaranth.sim import Simulator

from vta import load_config
from vta.hw.fetch import dispatched_to
from vta.hw.regs import WAIT_BITS
from vta.isa.layouts import HEADER_FIELDS
from vta.isa.stages import stage_of_fields

CFG = load_config("small")
OPCODE, MEM_TYPE = HEADER_FIELDS["opcode"], CFG.isa.field("mem", "memory_type")


def expected_stage(opcode, mem):
    try:
        return stage_of_fields(opcode, mem)
    except ValueError:   # unknown opcode or memory type: compute takes it (and rejects it)
        return "compute"


def test_dispatch_matches_the_stage_table():
    word = Signal(CFG.isa.insn.size)
    insn = data.View(CFG.isa.insn, word)
    m = Module()
    to_load, to_store = Signal(), Signal()
    m.d.comb += [to_load.eq(dispatched_to("load", insn)), to_store.eq(dispatched_to("store", insn))]
    seen = {}

    async def bench(ctx):
        for opcode in range(8):
            for mem in range(8):
                ctx.set(word, opcode << OPCODE.offset | mem << MEM_TYPE.offset)   # raw: may name no enum member
                seen[opcode, mem] = (ctx.get(to_load), ctx.get(to_store))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    for (opcode, mem), (load, store) in seen.items():
        stage = expected_stage(opcode, mem)
        assert (load, store) == (stage == "load", stage == "store"), (opcode, mem)
    assert sum(load for load, _ in seen.values()) == 2 and sum(store for _, store in seen.values()) == 8


def test_wait_bits():
    assert WAIT_BITS == {0: ("load", "g2l"), 1: ("compute", "l2g"), 2: ("compute", "s2g"), 3: ("store", "g2s")}
