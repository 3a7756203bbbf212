"""cocotb tests of `DepQueue` (dataless token queue) against a counter model: fill to depth, full/empty
handshakes, a push and a pop in the same cycle, random traffic. Ports from `harnesses.DepQueueHarness`."""

import random

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly
from cocotb_helpers import start_clock_and_reset, tb_seed


class Q:
    def __init__(self, dut, name, depth):
        self.dut, self.name, self.depth = dut, name, depth

    def s(self, path):
        return getattr(self.dut, f"{self.name}__{path}")

    async def step(self, push, pop, model):
        """Drive push/pop for one cycle; check valid/ready/count against ``model`` (tokens held) before the edge.
        Returns the new model count."""
        self.s("push__push").value = int(push)
        self.s("pop__pop").value = int(pop)
        await ReadOnly()
        ready, valid, count = int(self.s("push__ready").value), int(self.s("pop__valid").value), \
            int(self.s("count").value)
        want = (int(model < self.depth), int(model > 0), model)
        assert (ready, valid, count) == want, \
            f"{self.name}: (push.ready, pop.valid, count) = {(ready, valid, count)}, expected {want}"
        model += int(push and ready) - int(pop and valid)
        await FallingEdge(self.dut.clk)
        return model


async def setup(dut):
    for n in ("q3", "q1024"):
        getattr(dut, f"{n}__push__push").value = 0
        getattr(dut, f"{n}__pop__pop").value = 0
    await start_clock_and_reset(dut)


@cocotb.test(timeout_time=200, timeout_unit="us")
async def fill_and_drain(dut):
    """Push until full (ready drops at exactly depth; further pushes are refused), then pop to empty."""
    await setup(dut)
    for name, depth in (("q3", 3), ("q1024", 1024)):
        q = Q(dut, name, depth)
        n = 0
        for _ in range(depth + 3):
            n = await q.step(True, False, n)
        assert n == depth
        for _ in range(depth + 3):
            n = await q.step(False, True, n)
        assert n == 0


@cocotb.test(timeout_time=50, timeout_unit="us")
async def push_and_pop_same_cycle(dut):
    """Empty: a simultaneous push+pop adds one (nothing to pop). Full: push+pop leaves it full (the pop frees room
    only after the edge, so the push is refused and the pop is taken). In between: the count is unchanged."""
    await setup(dut)
    q = Q(dut, "q3", 3)
    n = await q.step(True, True, 0)
    assert n == 1
    n = await q.step(True, True, n)
    assert n == 1
    n = await q.step(True, False, n)
    n = await q.step(True, False, n)
    assert n == 3
    n = await q.step(True, True, n)
    assert n == 2
    n = await q.step(False, False, n)
    assert n == 2


@cocotb.test(timeout_time=200, timeout_unit="us")
async def random_traffic(dut):
    """Random push/pop requests on both queues against the counter model."""
    await setup(dut)
    rng = random.Random(tb_seed())
    for name, depth, p_push in (("q3", 3, 0.5), ("q1024", 1024, 0.55)):
        q = Q(dut, name, depth)
        n = 0
        for _ in range(3000):
            n = await q.step(rng.random() < p_push, rng.random() < 0.5, n)
        while n:
            n = await q.step(False, True, n)
