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


def test_registered_flags_track_the_count_under_random_traffic():
    """``pop.valid``/``push.ready`` are flip-flops set from the next count: under random pushes and pops they must
    equal ``count != 0`` / ``count != depth`` in every cycle, and the count must follow a plain model, at every
    depth where the flags' corner cases (one token, depth − 1 tokens) coincide or touch."""
    import random

    for depth in (1, 2, 3, 5):
        dut = DepQueue(depth=depth)
        rng = random.Random(depth)

        async def bench(ctx, dut=dut, depth=depth, rng=rng):
            model = 0
            for _ in range(400):
                assert ctx.get(dut.count) == model
                assert ctx.get(dut.pop.valid) == (model != 0), f"valid wrong at count {model} of {depth}"
                assert ctx.get(dut.push.ready) == (model != depth), f"ready wrong at count {model} of {depth}"
                push, pop = rng.random() < 0.5, rng.random() < 0.5
                ctx.set(dut.push.push, push)
                ctx.set(dut.pop.pop, pop)
                do_push, do_pop = push and model != depth, pop and model != 0
                model += do_push - do_pop
                await ctx.tick()

        run_testbench(dut, bench)
