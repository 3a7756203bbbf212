"""`TokenStage`, the load/store instruction handshake, cycle by cycle: take an instruction, wait for and pop its
token (only if its pop flag is set), start the work, wait for ``done``, push its token (only if its push flag is set,
waiting for room) — the token rules of docs/semantics.md. The expected cycles are written out by hand."""

import pytest
from hw_helpers import run_testbench

from vta.config import load_config
from vta.hw.token_stage import TokenStage
from vta.isa.insn import Load, Store, encode
from vta.isa.layouts import INSN_BITS
from vta.isa.opcodes import MemId

CFG = load_config("small")
INDEX = 7   # the instruction's index in the stream; tokens below come from index 0, an earlier instruction


def outputs(ctx, dut):
    """(cmd.ready, busy, stall, pop, start, push) this cycle."""
    return (ctx.get(dut.cmd.ready), ctx.get(dut.busy), ctx.get(dut.stall), ctx.get(dut.pop_queue.pop),
            ctx.get(dut.start), ctx.get(dut.push_queue.push))


def test_waits_for_its_token_then_for_done_then_for_room():
    """A load with both next-stage flags: stalls without a g2l token, starts in the cycle it pops, holds until
    ``done``, then holds until the l2g queue has room and pushes exactly once."""
    dut = TokenStage(CFG.isa.mem, pop_flag="pop_next_dep", push_flag="push_next_dep")
    word = encode(CFG, Load(pop_next_dep=True, push_next_dep=True, memory_type=MemId.INP, sram_base=3,
                            dram_base=77, y_size=2, x_size=5, x_stride=9))

    async def bench(ctx):
        assert outputs(ctx, dut) == (1, 0, 0, 0, 0, 0)          # idle: ready for an instruction
        ctx.set(dut.cmd.valid, 1)
        ctx.set(dut.cmd.payload, word | INDEX << INSN_BITS)
        await ctx.tick()
        ctx.set(dut.cmd.valid, 0)
        assert ctx.get(dut.insn.dram_base) == 77 and ctx.get(dut.insn.x_stride) == 9
        for _ in range(3):                                      # no token yet: stall, no start
            assert outputs(ctx, dut) == (0, 1, 1, 0, 0, 0)
            await ctx.tick()
        ctx.set(dut.pop_queue.valid, 1)
        assert outputs(ctx, dut) == (0, 1, 0, 1, 1, 0)          # the token is popped as the work starts
        await ctx.tick()
        ctx.set(dut.pop_queue.valid, 0)
        for _ in range(2):                                      # working
            assert outputs(ctx, dut) == (0, 1, 0, 0, 0, 0)
            await ctx.tick()
        ctx.set(dut.done, 1)                                    # done, but the push queue is full
        for _ in range(2):
            assert outputs(ctx, dut) == (0, 1, 0, 0, 0, 0)
            await ctx.tick()
        ctx.set(dut.done, 0)                                    # still waiting for room (done was seen)
        assert outputs(ctx, dut) == (0, 1, 0, 0, 0, 0)
        ctx.set(dut.push_queue.ready, 1)
        assert outputs(ctx, dut) == (0, 1, 0, 0, 0, 1)          # pushed
        await ctx.tick()
        assert outputs(ctx, dut) == (1, 0, 0, 0, 0, 0)          # idle again
        await ctx.tick()
        assert outputs(ctx, dut) == (1, 0, 0, 0, 0, 0)          # and only one push

    run_testbench(dut, bench)


@pytest.mark.parametrize("tokens", [False, True], ids=["no_token_full_queue", "token_and_room"])
def test_flags_not_set_means_no_token_traffic(tokens):
    """A store watching the prev-stage flags ignores next-stage flags: it neither waits for nor pops a token, and
    pushes none — whether or not a token and room are there."""
    dut = TokenStage(CFG.isa.mem, pop_flag="pop_prev_dep", push_flag="push_prev_dep")
    word = encode(CFG, Store(pop_next_dep=True, push_next_dep=True, sram_base=0, dram_base=0, y_size=1, x_size=1,
                             x_stride=1))

    async def bench(ctx):
        ctx.set(dut.pop_queue.valid, tokens)
        ctx.set(dut.push_queue.ready, tokens)
        ctx.set(dut.cmd.valid, 1)
        ctx.set(dut.cmd.payload, word | INDEX << INSN_BITS)
        ctx.set(dut.done, 1)
        await ctx.tick()
        ctx.set(dut.cmd.valid, 0)
        assert outputs(ctx, dut) == (0, 1, 0, 0, 1, 0)          # starts at once, no pop
        await ctx.tick()
        assert outputs(ctx, dut) == (0, 1, 0, 0, 0, 0)          # done: leaves without a push
        await ctx.tick()
        assert outputs(ctx, dut) == (1, 0, 0, 0, 0, 0)

    run_testbench(dut, bench)


@pytest.mark.parametrize("kw,message", [
    (dict(pop_flag="push_next_dep", push_flag="push_next_dep"),
     "pop_flag must be one of pop_prev_dep, pop_next_dep, not 'push_next_dep'"),
    (dict(pop_flag="pop_prev_dep", push_flag="pop_prev_dep"),
     "push_flag must be one of push_prev_dep, push_next_dep, not 'pop_prev_dep'"),
])
def test_flags_are_checked(kw, message):
    with pytest.raises(ValueError, match=message):
        TokenStage(CFG.isa.mem, **kw)
