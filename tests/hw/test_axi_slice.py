"""`AXIReadSlice`: R beats arrive in order and complete under random back-pressure, one beat per cycle when both
sides are always ready, the R handshake is registered in both directions, and the other channels pass through."""

import random

from hw_helpers import run_testbench

from vta.hw.axi_slice import AXIReadSlice

MAX_CYCLES = 5000


def simulate(beats, *, p_valid, p_ready, seed):
    """Send ``beats`` (data, resp, last) into ``slave.r``, take them from ``master.r``; returns (received, cycles)."""
    dut = AXIReadSlice(data_width=64)
    rng = random.Random(seed)
    received = []
    cycles = [0]

    async def slave_side(ctx):                      # the memory: offers beats, holds each until it is taken
        i = 0
        while i < len(beats):
            valid = rng.random() < p_valid
            data, resp, last = beats[i]
            ctx.set(dut.slave.r.valid, valid)
            ctx.set(dut.slave.r.data, data)
            ctx.set(dut.slave.r.resp, resp)
            ctx.set(dut.slave.r.last, last)
            taken = valid and ctx.get(dut.slave.r.ready)
            await ctx.tick()
            if taken:
                i += 1
        ctx.set(dut.slave.r.valid, 0)

    async def master_side(ctx):                     # the core: takes beats when it is ready
        while len(received) < len(beats):
            assert cycles[0] < MAX_CYCLES, f"watchdog: {len(received)} of {len(beats)} beats after {MAX_CYCLES} cycles"
            ready = rng.random() < p_ready
            ctx.set(dut.master.r.ready, ready)
            if ready and ctx.get(dut.master.r.valid):
                received.append((ctx.get(dut.master.r.data), ctx.get(dut.master.r.resp), ctx.get(dut.master.r.last)))
            await ctx.tick()
            cycles[0] += 1

    run_testbench(dut, master_side, background=[slave_side])
    return received, cycles[0]


def random_beats(n, seed):
    rng = random.Random(seed)
    return [(rng.getrandbits(64), rng.choice((0, 2)), int(rng.random() < 0.2)) for _ in range(n)]


def test_beats_in_order_under_random_backpressure():
    for seed in range(6):
        beats = random_beats(200, seed)
        received, _ = simulate(beats, p_valid=0.7, p_ready=0.6, seed=seed)
        assert received == beats


def test_one_beat_per_cycle_when_both_sides_ready():
    beats = random_beats(100, 9)
    received, cycles = simulate(beats, p_valid=1.0, p_ready=1.0, seed=0)
    assert received == beats
    assert cycles <= len(beats) + 2        # one cycle of latency through the slice, then a beat every cycle


def test_r_handshake_is_registered_both_ways():
    dut = AXIReadSlice(data_width=64)

    async def bench(ctx):
        ctx.set(dut.master.r.ready, 0)
        ctx.set(dut.slave.r.valid, 1)
        for _ in range(3):                 # fill both entries
            await ctx.tick()
        assert ctx.get(dut.slave.r.ready) == 0 and ctx.get(dut.master.r.valid) == 1
        ctx.set(dut.master.r.ready, 1)     # the core takes a beat: the memory must not see it until the next edge
        assert ctx.get(dut.slave.r.ready) == 0
        await ctx.tick()
        assert ctx.get(dut.slave.r.ready) == 1
        ctx.set(dut.master.r.ready, 0)
        ctx.set(dut.slave.r.valid, 0)      # the memory stops offering: the core still sees the stored beats
        assert ctx.get(dut.master.r.valid) == 1

    run_testbench(dut, bench)


def test_other_channels_pass_through():
    dut = AXIReadSlice(data_width=64)

    async def bench(ctx):
        ctx.set(dut.master.ar.addr, 0x1234_5678)
        ctx.set(dut.master.ar.len, 7)
        ctx.set(dut.master.ar.valid, 1)
        ctx.set(dut.slave.ar.ready, 1)
        ctx.set(dut.master.aw.addr, 0x40)
        ctx.set(dut.master.w.data, 0xDEAD_BEEF_0BAD_F00D)
        ctx.set(dut.master.w.strb, 0x0F)
        ctx.set(dut.slave.w.ready, 1)
        ctx.set(dut.slave.b.valid, 1)
        ctx.set(dut.slave.b.resp, 2)
        ctx.set(dut.master.b.ready, 1)
        assert ctx.get(dut.slave.ar.addr) == 0x1234_5678 and ctx.get(dut.slave.ar.len) == 7
        assert ctx.get(dut.slave.ar.valid) == 1 and ctx.get(dut.master.ar.ready) == 1
        assert ctx.get(dut.slave.aw.addr) == 0x40
        assert ctx.get(dut.slave.w.data) == 0xDEAD_BEEF_0BAD_F00D and ctx.get(dut.slave.w.strb) == 0x0F
        assert ctx.get(dut.master.w.ready) == 1
        assert ctx.get(dut.master.b.valid) == 1 and ctx.get(dut.master.b.resp) == 2
        assert ctx.get(dut.slave.b.ready) == 1
        await ctx.tick()

    run_testbench(dut, bench)
