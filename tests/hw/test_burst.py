"""`BurstSplitter` against the AXI rules, on random requests: bursts cover the request exactly and in order, each
has at most 256 beats, none crosses a 4 KiB boundary, each is as long as those rules allow, and one leaves per
cycle while the bus takes them."""

import random

import pytest
from hw_helpers import run_testbench

from vta.hw.burst import BurstSplitter

MAX_CYCLES = 20000


def split(bus_bytes, requests, p_ready, seed):
    """Feed ``requests`` (byte address, beats); returns the bursts (byte address, beats) and the busy cycles."""
    dut = BurstSplitter(bus_bytes)
    rng = random.Random(seed)
    bursts = []
    cycles = [0]

    async def bench(ctx):
        pending = list(requests)
        while pending or not ctx.get(dut.idle):
            assert cycles[0] < MAX_CYCLES, f"watchdog: {len(pending)} requests left after {MAX_CYCLES} cycles"
            if pending:
                ctx.set(dut.req.valid, 1)
                ctx.set(dut.req.payload.addr, pending[0][0])
                ctx.set(dut.req.payload.beats, pending[0][1])
            else:
                ctx.set(dut.req.valid, 0)
            ready = rng.random() < p_ready
            ctx.set(dut.burst.ready, ready)
            if ready and ctx.get(dut.burst.valid):
                bursts.append((ctx.get(dut.burst.payload.addr), ctx.get(dut.burst.payload.len) + 1))
            if pending and ctx.get(dut.req.ready):
                pending.pop(0)
            await ctx.tick()
            cycles[0] += 1

    run_testbench(dut, bench)
    return bursts, cycles[0]


def random_requests(bus_bytes, rng, n):
    reqs = []
    for _ in range(n):
        addr = rng.randrange(0, 1 << 20, bus_bytes)
        if rng.random() < 0.3:                              # start just below a 4 KiB boundary
            addr = (rng.randrange(1, 64) << 12) - bus_bytes * rng.randrange(1, 5)
        beats = rng.choice([1, 2, rng.randrange(1, 40), rng.randrange(200, 700), rng.randrange(1, 3000)])
        reqs.append((addr, beats))
    return reqs


@pytest.mark.parametrize("bus_bytes", [4, 8, 64])
def test_bursts_follow_axi_rules_and_are_maximal(bus_bytes):
    rng = random.Random(bus_bytes)
    reqs = random_requests(bus_bytes, rng, 40)
    bursts, _ = split(bus_bytes, reqs, p_ready=0.7, seed=bus_bytes)
    it = iter(bursts)
    for addr, beats in reqs:
        while beats:
            b_addr, b_beats = next(it)
            assert b_addr == addr
            to_boundary = (4096 - addr % 4096) // bus_bytes
            assert b_beats == min(beats, 256, to_boundary), (addr, beats, b_beats)
            addr += b_beats * bus_bytes
            beats -= b_beats
    assert next(it, None) is None


def test_one_burst_per_cycle():
    reqs = [(0x1000, 256 * 8), (0x2F80, 600)]           # 8 full bursts, then 16 beats to a boundary, 256, 256, 72
    bursts, cycles = split(8, reqs, p_ready=1.0, seed=0)
    assert [b for _, b in bursts] == [256] * 8 + [16, 256, 256, 72]
    assert cycles <= len(bursts) + 2


# Directed corners of the boundary arithmetic, expected bursts worked out by hand: (byte address, beats).
CORNERS = {
    8: ([(0x1F80, 16),          # ends exactly on a 4 KiB boundary: one burst
         (0x2000, 512),         # a whole 4 KiB page from its start: two bursts of 256
         (0x2FF8, 2),           # the last beat of a page, then the first of the next
         (0x3000, 0),           # empty: taken, no burst
         (0x3008, 1)],
        [(0x1F80, 16), (0x2000, 256), (0x2800, 256), (0x2FF8, 1), (0x3000, 1), (0x3008, 1)]),
    4: ([(0x0, 1024),           # a page is 1024 beats: four bursts of 256
         (0xC00, 300)],         # exactly 256 beats to the boundary, then 44
        [(0x0, 256), (0x400, 256), (0x800, 256), (0xC00, 256), (0xC00, 256), (0x1000, 44)]),
    64: ([(0x0, 200),           # a page is 64 beats: the boundary caps before 256 does
          (0xFC0, 3)],
         [(0x0, 64), (0x1000, 64), (0x2000, 64), (0x3000, 8), (0xFC0, 1), (0x1000, 2)]),
}


@pytest.mark.parametrize("bus_bytes", sorted(CORNERS))
@pytest.mark.parametrize("p_ready", [1.0, 0.5])
def test_boundary_corners(bus_bytes, p_ready):
    reqs, expected = CORNERS[bus_bytes]
    bursts, _ = split(bus_bytes, reqs, p_ready=p_ready, seed=1)
    assert bursts == expected
