"""The dependency-token counter: pop only with tokens, push only with room, simultaneous push+pop."""

from hw_helpers import run_testbench

from vta.hw.dep_queue import DepQueue


def test_push_pop_and_limits():
    dut = DepQueue(depth=3)

    async def bench(ctx):
        assert ctx.get(dut.pop.valid) == 0 and ctx.get(dut.push.ready) == 1
        # A pop from an empty queue does nothing.
        ctx.set(dut.pop.pop, 1)
        await ctx.tick()
        ctx.set(dut.pop.pop, 0)
        assert ctx.get(dut.count) == 0
        # Fill to the depth; a further push is refused.
        ctx.set(dut.push.push, 1)
        for expect in (1, 2, 3, 3):
            await ctx.tick()
            assert ctx.get(dut.count) == expect
        assert ctx.get(dut.push.ready) == 0 and ctx.get(dut.pop.valid) == 1
        # Push and pop together while full: only the pop happens (push is not ready this cycle).
        ctx.set(dut.pop.pop, 1)
        await ctx.tick()
        assert ctx.get(dut.count) == 2
        # Push and pop together with room: the count holds.
        await ctx.tick()
        assert ctx.get(dut.count) == 2
        ctx.set(dut.push.push, 0)
        for expect in (1, 0, 0):
            await ctx.tick()
            assert ctx.get(dut.count) == expect
        assert ctx.get(dut.pop.valid) == 0

    run_testbench(dut, bench)


def test_default_depth_is_1024_tokens():
    dut = DepQueue()
    assert dut.depth == 1024

    async def bench(ctx):
        ctx.set(dut.push.push, 1)
        await ctx.tick().repeat(1030)
        assert ctx.get(dut.count) == 1024
        assert ctx.get(dut.push.ready) == 0

    run_testbench(dut, bench)
