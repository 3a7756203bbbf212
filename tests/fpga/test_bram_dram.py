"""BRAMDram: AXI4 bursts (with back-pressure and strobes), out-of-range answers, and the host port."""

import random

import pytest
from amaranth.sim import Simulator

from vta.fpga.bram_dram import BRAMDram

SIZE = 1024          # bytes: 128 words of 64 bits
WORDS = SIZE // 8


async def axi_write(ctx, axi, addr, beats, strobes, ready_rng=None):
    ctx.set(axi.aw.addr, addr)
    ctx.set(axi.aw.len, len(beats) - 1)
    ctx.set(axi.aw.size, 3)
    ctx.set(axi.aw.burst, 1)
    ctx.set(axi.aw.valid, 1)
    await ctx.tick().until(axi.aw.ready)
    ctx.set(axi.aw.valid, 0)
    for i, (data, strb) in enumerate(zip(beats, strobes)):
        ctx.set(axi.w.data, data)
        ctx.set(axi.w.strb, strb)
        ctx.set(axi.w.last, i == len(beats) - 1)
        ctx.set(axi.w.valid, 1)
        await ctx.tick().until(axi.w.ready)
    ctx.set(axi.w.valid, 0)
    ctx.set(axi.b.ready, 1)
    resp, = await ctx.tick().sample(axi.b.resp).until(axi.b.valid)
    ctx.set(axi.b.ready, 0)
    return resp


async def axi_read(ctx, axi, addr, n, rng):
    ctx.set(axi.ar.addr, addr)
    ctx.set(axi.ar.len, n - 1)
    ctx.set(axi.ar.size, 3)
    ctx.set(axi.ar.burst, 1)
    ctx.set(axi.ar.valid, 1)
    await ctx.tick().until(axi.ar.ready)
    ctx.set(axi.ar.valid, 0)
    beats = []
    while True:
        ready = rng.random() < 0.6
        ctx.set(axi.r.ready, ready)
        _, _, valid, data, last, resp = await ctx.tick().sample(axi.r.valid, axi.r.data, axi.r.last, axi.r.resp)
        if valid and ready:
            beats.append((data, resp))
            if last:
                break
    ctx.set(axi.r.ready, 0)
    assert len(beats) == n
    return beats


def run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_burst_write_with_strobes_then_read_with_backpressure():
    dut = BRAMDram(SIZE, 64)
    rng = random.Random(3)
    model = [0] * WORDS
    results = []

    async def bench(ctx):
        beats = [rng.getrandbits(64) for _ in range(WORDS)]
        assert await axi_write(ctx, dut.axi, 0, beats, [0xFF] * WORDS) == 0
        for w in range(WORDS):
            model[w] = beats[w]
        # a strobed burst over words 10..13: only the strobed bytes change
        new = [rng.getrandbits(64) for _ in range(4)]
        strobes = [0x0F, 0xF0, 0x81, 0x00]
        assert await axi_write(ctx, dut.axi, 80, new, strobes) == 0
        for k in range(4):
            mask = sum(0xFF << (8 * b) for b in range(8) if strobes[k] >> b & 1)
            model[10 + k] = (model[10 + k] & ~mask) | (new[k] & mask)
        results.append(await axi_read(ctx, dut.axi, 0, WORDS, rng))
        results.append(await axi_read(ctx, dut.axi, 8 * 37, 5, rng))

    run(dut, bench)
    assert [d for d, _ in results[0]] == model
    assert all(r == 0 for _, r in results[0])
    assert [d for d, _ in results[1]] == model[37:42]


def test_beats_outside_the_memory_answer_slverr():
    dut = BRAMDram(SIZE, 64)
    rng = random.Random(4)
    out = {}

    async def bench(ctx):
        out["wresp"] = await axi_write(ctx, dut.axi, SIZE - 8, [1, 2], [0xFF, 0xFF])   # 2nd beat is past the end
        out["read"] = await axi_read(ctx, dut.axi, SIZE - 16, 3, rng)

    run(dut, bench)
    assert out["wresp"] == 2                                     # SLVERR for the burst
    assert out["read"] == [(0, 0), (1, 0), (0, 2)]               # last word, the in-range write, then SLVERR, 0
    # (and nothing wrapped around to word 0)


def test_host_port_reads_and_writes_bytes_between_bursts():
    dut = BRAMDram(SIZE, 64)
    rng = random.Random(5)
    out = {}

    async def bench(ctx):
        h = dut.host
        await axi_write(ctx, dut.axi, 16, [0x1122334455667788], [0xFF])
        # host: write byte 0xAB into lane 3 of word 2, then read word 2 back
        ctx.set(h.addr, 2)
        ctx.set(h.w_data, 0xAB * 0x0101010101010101)
        ctx.set(h.w_en, 1 << 3)
        await ctx.tick().until(h.ack)
        ctx.set(h.w_en, 0)
        ctx.set(h.r_en, 1)
        await ctx.tick().until(h.ack)
        ctx.set(h.r_en, 0)
        out["host"] = ctx.get(h.r_data)
        out["axi"] = await axi_read(ctx, dut.axi, 16, 1, rng)

    run(dut, bench)
    assert out["host"] == 0x11223344AB667788
    assert out["axi"] == [(0x11223344AB667788, 0)]


def test_host_waits_while_a_burst_is_in_flight():
    dut = BRAMDram(SIZE, 64)
    acks = []

    async def bench(ctx):
        ax = dut.axi
        ctx.set(ax.ar.addr, 0)
        ctx.set(ax.ar.len, 7)
        ctx.set(ax.ar.valid, 1)
        await ctx.tick().until(ax.ar.ready)
        ctx.set(ax.ar.valid, 0)
        ctx.set(dut.host.r_en, 1)          # host asks while 8 beats are pending and r.ready is low
        for _ in range(6):
            await ctx.tick()
            acks.append(ctx.get(dut.host.ack))
        ctx.set(ax.r.ready, 1)             # drain the burst: the host gets the port afterwards
        for _ in range(12):
            await ctx.tick()
            acks.append(ctx.get(dut.host.ack))

    run(dut, bench)
    assert acks[:6] == [0] * 6
    assert 1 in acks[6:]


def test_a_read_right_after_the_write_response_sees_the_last_beat():
    """Writes reach the block RAM a cycle after their beat is accepted: an AXI read of the burst's last word
    issued as soon as B is taken, and a host read right behind it, must both see the new data."""
    dut = BRAMDram(SIZE, 64)
    rng = random.Random(6)
    beats = [rng.getrandbits(64) for _ in range(3)]
    out = {}

    async def bench(ctx):
        assert await axi_write(ctx, dut.axi, 8 * 5, beats, [0xFF] * 3) == 0
        out["axi"] = await axi_read(ctx, dut.axi, 8 * 7, 1, rng)
        assert await axi_write(ctx, dut.axi, 8 * 9, [beats[0] ^ 1], [0xFF]) == 0
        ctx.set(dut.host.addr, 9)
        ctx.set(dut.host.r_en, 1)
        await ctx.tick().until(dut.host.ack)
        ctx.set(dut.host.r_en, 0)
        out["host"] = ctx.get(dut.host.r_data)

    run(dut, bench)
    assert out["axi"] == [(beats[2], 0)]
    assert out["host"] == beats[0] ^ 1


@pytest.mark.parametrize("size, width", [(1000, 64), (4, 64), (1024, 48), (True, 64)])
def test_bad_geometry_is_refused(size, width):
    with pytest.raises(ValueError):
        BRAMDram(size, width)
