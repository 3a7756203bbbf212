"""cocotb tests of the LOAD datapath: `LoadUnit` (padded 2-D load) → `DMARead` → `ReadArbiter` → AXI read port.

Harness: `harnesses.LoadPathHarness` — three load units with 32-, 64- and 512-bit elements (narrower than, equal
to and wider than a 64-bit bus; on a 128-bit bus two are narrow) sharing one arbiter. A cocotb AXI4 slave
(`AxiSlaveDram`) serves reads with optional random back-pressure and checks every burst (INCR, aligned, ≤ 256
beats, no 4 KiB crossing, inside DRAM, AR stable until ready). The SRAM write ports are monitored and compared with
a plain-Python reference written straight from the LOAD loop of docs/semantics.md.
"""

import os
import random

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly
from cocotb_helpers import AxiSlaveDram, expected_bursts, sample_each_cycle, start_clock_and_reset, tb_seed, wait_until

UNITS = {"u32": 4, "u64": 8, "u512": 64}   # unit → element bytes
SRAM_DEPTH = 1024
DRAM_BYTES = 1 << 16
BUS = int(os.environ.get("VTA_TB_BUS", 64))   # bus width of the harness build
BB = BUS // 8
FIELDS = ("sram_base", "dram_base", "y_size", "x_size", "x_stride", "y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")


def load_ref(dram, eb, f):
    """{sram index: element int} written by LOAD ``f`` (docs/semantics.md LOAD loop)."""
    out = {}
    if f["y_size"] == 0 or f["x_size"] == 0:
        return out
    pitch = f["x_pad_0"] + f["x_size"] + f["x_pad_1"]
    for y in range(f["y_pad_0"] + f["y_size"] + f["y_pad_1"]):
        for x in range(pitch):
            yy, xx = y - f["y_pad_0"], x - f["x_pad_0"]
            if 0 <= yy < f["y_size"] and 0 <= xx < f["x_size"]:
                e = f["dram_base"] + yy * f["x_stride"] + xx
                val = int.from_bytes(dram[e * eb:(e + 1) * eb].tobytes(), "little")
            else:
                val = 0
            out[f["sram_base"] + y * pitch + x] = val
    return out


def fields(**kw):
    f = dict.fromkeys(FIELDS, 0)
    f.update(kw)
    return f


class Bench:
    def __init__(self, dut, *, stall=0.0, latency=3, seed=0):
        self.dut = dut
        rng = np.random.default_rng(seed)
        self.dram = rng.integers(0, 256, DRAM_BYTES, dtype=np.uint8)
        self.axi = AxiSlaveDram(dut, self.dram, BUS, latency=latency, stall=stall, seed=seed, read_only=True)
        self.sram = {u: {} for u in UNITS}
        self.writes = {u: 0 for u in UNITS}

    async def start(self):
        for u in UNITS:
            getattr(self.dut, f"{u}__start").value = 0
            for f in FIELDS:
                getattr(self.dut, f"{u}__{f}").value = 0
        self.dut.axi__r__valid.value = 0
        self.dut.axi__ar__ready.value = 0
        await start_clock_and_reset(self.dut)
        cocotb.start_soon(self.axi.run())
        cocotb.start_soon(sample_each_cycle(self.dut.clk, self.sample))

    def sample(self):
        for u in UNITS:
            if int(getattr(self.dut, f"{u}__wr__en").value):
                addr = int(getattr(self.dut, f"{u}__wr__addr").value)
                self.sram[u][addr] = int(getattr(self.dut, f"{u}__wr__data").value)
                self.writes[u] += 1

    async def issue(self, unit, f):
        """Pulse start with ``f`` on ``unit`` (at a falling edge)."""
        dut = self.dut
        assert not int(getattr(dut, f"{unit}__busy").value), f"{unit} busy at start"
        for k, v in f.items():
            getattr(dut, f"{unit}__{k}").value = v
        getattr(dut, f"{unit}__start").value = 1
        await FallingEdge(dut.clk)
        getattr(dut, f"{unit}__start").value = 0
        for k in f:   # fields are only sampled at start: scramble them to prove it
            getattr(dut, f"{unit}__{k}").value = 0

    async def wait_idle(self, units, max_cycles=20000):
        def idle():
            return not any(int(getattr(self.dut, f"{u}__busy").value) for u in units)
        return await wait_until(self.dut.clk, idle, max_cycles, f"{units} still busy after {max_cycles} cycles")

    def check(self, unit, f, before):
        want = dict(before)
        want.update(load_ref(self.dram, UNITS[unit], f))
        got = self.sram[unit]
        if got != want:
            wrong = sorted(a for a in set(got) | set(want) if got.get(a) != want.get(a))
            a = wrong[0]
            raise AssertionError(f"{unit} LOAD {f}: {len(wrong)} SRAM elements differ, first at {a}: "
                                 f"got {got.get(a, 'unwritten')!r:.40} want {want.get(a, 'unwritten')!r:.40}")

    async def load(self, unit, f):
        before = dict(self.sram[unit])
        await self.issue(unit, f)
        await self.wait_idle([unit])
        self.check(unit, f, before)


PAD_CASES = [
    dict(),
    dict(y_pad_0=2), dict(y_pad_1=3), dict(x_pad_0=1), dict(x_pad_1=2),
    dict(y_pad_0=1, y_pad_1=2, x_pad_0=3, x_pad_1=1),
    dict(y_pad_0=15, y_pad_1=15, x_pad_0=15, x_pad_1=15),
]
SHAPES = [  # (y_size, x_size, x_stride)
    (1, 1, 1), (3, 4, 4), (3, 4, 7), (4, 5, 2), (2, 3, 0), (5, 1, 3),
]


@cocotb.test(timeout_time=4, timeout_unit="ms")
async def padding_each_side_and_strides(dut):
    """Every padding case (none, each side alone, all four, maximum 15) × strided/overlapping shapes × each element
    width, including odd DRAM bases (a 32-bit element in the upper half of a beat)."""
    b = Bench(dut, seed=tb_seed())
    await b.start()
    rng = random.Random(tb_seed())
    for pads in PAD_CASES:
        for (y, x, stride) in SHAPES:
            for u, eb in UNITS.items():
                rows = pads.get("y_pad_0", 0) + y + pads.get("y_pad_1", 0)
                pitch = pads.get("x_pad_0", 0) + x + pads.get("x_pad_1", 0)
                if rows * pitch > SRAM_DEPTH or (u == "u512" and rows * pitch > 300):
                    continue
                span = (y - 1) * stride + x
                base = rng.randrange(0, DRAM_BYTES // eb - span)
                await b.load(u, fields(sram_base=rng.randrange(0, SRAM_DEPTH - rows * pitch + 1), dram_base=base,
                                       y_size=y, x_size=x, x_stride=stride, **pads))


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def empty_loads_do_nothing(dut):
    """y_size 0 or x_size 0 (with pads set): busy never rises, no SRAM write, no AXI read."""
    b = Bench(dut, seed=1)
    await b.start()
    for u in UNITS:
        for y, x in ((0, 3), (2, 0), (0, 0)):
            await b.issue(u, fields(sram_base=5, dram_base=9, y_size=y, x_size=x, x_stride=4, y_pad_0=1, x_pad_1=2))
            for _ in range(5):
                await ReadOnly()
                assert not int(getattr(dut, f"{u}__busy").value), f"{u} busy after an empty load"
                await FallingEdge(dut.clk)
    assert b.writes == {u: 0 for u in UNITS}, f"SRAM written by empty loads: {b.writes}"
    assert b.axi.reads == [], f"AXI reads by empty loads: {b.axi.reads}"


@cocotb.test(timeout_time=4, timeout_unit="ms")
async def bursts_split_at_4k_and_256_beats(dut):
    """Long rows crossing 4 KiB boundaries and longer than 256 beats, ending at the last DRAM byte, under random
    back-pressure; the slave rejects any illegal burst. Checks the data and that each burst is as long as the rules
    allow (a row is split only where it must be)."""
    b = Bench(dut, stall=0.3, latency=5, seed=3)
    await b.start()
    cases = [
        ("u512", fields(dram_base=4096 // 64 - 3, y_size=1, x_size=40, x_stride=40)),     # 320 beats over 4K
        ("u32", fields(dram_base=8192 // 4 - 5, y_size=1, x_size=1000, x_stride=1000)),   # 500 beats over 4K
        ("u64", fields(dram_base=12288 // 8 - 1, y_size=2, x_size=300, x_stride=600, sram_base=7)),
        ("u512", fields(dram_base=DRAM_BYTES // 64 - 6, y_size=2, x_size=3, x_stride=3)),  # ends at DRAM end
        ("u32", fields(dram_base=DRAM_BYTES // 4 - 3, y_size=1, x_size=3, x_stride=3)),    # odd start, ends at end
    ]
    for u, f in cases:
        n0 = len(b.axi.reads)
        await b.load(u, f)
        want = expected_bursts(UNITS[u], f["dram_base"], f["y_size"], f["x_size"], f["x_stride"], BB)
        got = b.axi.reads[n0:]
        assert got == want, f"{u} {f}: AR bursts {got}, expected {want}"


@cocotb.test(timeout_time=10, timeout_unit="ms")
async def concurrent_units_random(dut):
    """All three units loading at once (the arbiter interleaves them) with random fields, padding and stalls."""
    b = Bench(dut, stall=0.25, latency=2, seed=tb_seed() + 10)
    await b.start()
    rng = random.Random(tb_seed() + 10)
    for _rnd in range(12):
        jobs = {}
        for u, eb in UNITS.items():
            y, x = rng.randint(1, 4), rng.randint(1, 6)
            stride = rng.randint(max(0, x - 2), x + 5)
            pads = {k: rng.choice((0, 0, 1, 2)) for k in ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")}
            rows, pitch = pads["y_pad_0"] + y + pads["y_pad_1"], pads["x_pad_0"] + x + pads["x_pad_1"]
            span = (y - 1) * stride + x
            jobs[u] = fields(sram_base=rng.randrange(0, SRAM_DEPTH - rows * pitch), y_size=y, x_size=x,
                             x_stride=stride, dram_base=rng.randrange(0, DRAM_BYTES // eb - span), **pads)
        before = {u: dict(b.sram[u]) for u in UNITS}
        # start all units in the same cycle
        for u, f in jobs.items():
            for k, v in f.items():
                getattr(dut, f"{u}__{k}").value = v
            getattr(dut, f"{u}__start").value = 1
        await FallingEdge(dut.clk)
        for u in UNITS:
            getattr(dut, f"{u}__start").value = 0
        await b.wait_idle(list(UNITS))
        for u, f in jobs.items():
            b.check(u, f, before[u])
