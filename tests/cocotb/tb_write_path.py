"""cocotb tests of the AXI write path: `DMAWrite` (2-D strided element stream → AW/W/B bursts).

Harness: `harnesses.WritePathHarness` — engines for 32-, 64- and 128-bit elements on a 64- or 128-bit bus (narrow
elements are packed into beats with byte strobes; wide ones are split into beats); ``sel`` routes one engine to
the AXI write channels. The cocotb slave (`AxiSlaveDram`) applies W beats with their strobes, answers B with
random back-pressure and checks every burst (INCR, aligned, ≤ 256 beats, no 4 KiB crossing, W last exactly at
the burst end, AW/W stable until ready). Checked here: the whole DRAM image against a Python reference (so a stray
strobe outside the written elements fails), the exact burst list, and that ``busy`` stays high until every B
response has been taken.
"""

import os
import random

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly
from cocotb_helpers import AxiSlaveDram, expected_bursts, start_clock_and_reset, tb_seed

UNITS = {"w32": 4, "w64": 8, "w128": 16}   # engine → element bytes
SEL = {"w32": 0, "w64": 1, "w128": 2}
DRAM_BYTES = 1 << 16
BUS = int(os.environ.get("VTA_TB_BUS", 64))   # bus width of the harness build
BB = BUS // 8


def store_ref(dram, eb, f, elems):
    """DRAM after writing ``elems`` (ints, row-major) as y_size rows of x_size elements at dram_base + y·stride."""
    d = dram.copy()
    k = 0
    for y in range(f["y_size"]):
        for x in range(f["x_size"]):
            e = f["elem_addr"] + y * f["x_stride"] + x
            d[e * eb:(e + 1) * eb] = np.frombuffer(elems[k].to_bytes(eb, "little"), dtype=np.uint8)
            k += 1
    return d


class Bench:
    def __init__(self, dut, *, stall=0.0, seed=0):
        self.dut = dut
        self.rng = random.Random(seed)
        self.dram = np.random.default_rng(seed).integers(0, 256, DRAM_BYTES, dtype=np.uint8)
        self.axi = AxiSlaveDram(dut, self.dram, BUS, stall=stall, seed=seed, write_only=True)

    async def start(self):
        dut = self.dut
        for u in UNITS:
            for f in ("start", "elem_addr", "x_size", "x_stride", "y_size", "elem__valid", "elem__payload"):
                getattr(dut, f"{u}__{f}").value = 0
        for f in ("aw__ready", "w__ready", "b__valid", "b__resp"):
            getattr(dut, f"axi__{f}").value = 0
        dut.sel.value = 0
        await start_clock_and_reset(dut)
        cocotb.start_soon(self.axi.run())

    async def write(self, unit, f, elems, *, gap=0.0):
        """Start ``unit`` with ``f`` and feed ``elems`` (valid dropped with probability ``gap``); wait for idle."""
        dut = self.dut
        dut.sel.value = SEL[unit]
        s = lambda n: getattr(dut, f"{unit}__{n}")
        for k, v in f.items():
            s(k).value = v
        s("start").value = 1
        await FallingEdge(dut.clk)
        s("start").value = 0
        for k in f:
            s(k).value = 0
        k = 0
        cycles = 0
        while True:
            offer = k < len(elems) and self.rng.random() >= gap
            s("elem__valid").value = int(offer)
            if offer:
                s("elem__payload").value = elems[k]
            await ReadOnly()
            busy = int(s("busy").value)
            if offer and int(s("elem__ready").value):
                k += 1
            if not busy:
                break
            cycles += 1
            assert cycles < 50000, f"{unit} still busy after {cycles} cycles ({k}/{len(elems)} elements taken)"
            await FallingEdge(dut.clk)
        await FallingEdge(dut.clk)
        s("elem__valid").value = 0
        assert k == len(elems), f"{unit} went idle after taking {k} of {len(elems)} elements"
        assert self.axi.b_pending == 0 and not self.axi.wq, \
            f"{unit} idle with {self.axi.b_pending} B responses / {len(self.axi.wq)} bursts outstanding"

    async def store(self, unit, f, *, gap=0.0):
        eb = UNITS[unit]
        elems = [self.rng.getrandbits(8 * eb) for _ in range(f["y_size"] * f["x_size"])]
        want = store_ref(self.dram, eb, f, elems)
        n0 = len(self.axi.writes)
        await self.write(unit, f, elems, gap=gap)
        if not np.array_equal(self.dram, want):
            bad = np.flatnonzero(self.dram != want)
            raise AssertionError(f"{unit} {f}: {bad.size} DRAM bytes differ, first at {bad[0]:#x} "
                                 f"(got {self.dram[bad[0]]:#x}, want {want[bad[0]]:#x})")
        got_b = self.axi.writes[n0:]
        want_b = expected_bursts(eb, f["elem_addr"], f["y_size"], f["x_size"], f["x_stride"], BB)
        assert got_b == want_b, f"{unit} {f}: AW bursts {got_b}, expected {want_b}"


def F(elem_addr, y_size, x_size, x_stride):
    return dict(elem_addr=elem_addr, y_size=y_size, x_size=x_size, x_stride=x_stride)


@cocotb.test(timeout_time=5, timeout_unit="ms")
async def shapes_and_strobes(dut):
    """Single elements at every slot of a beat, partial beats at row ends, strided and gapped rows, each width."""
    b = Bench(dut, seed=tb_seed())
    await b.start()
    for u, eb in UNITS.items():
        per_beat = max(1, BB // eb)
        for slot in range(per_beat):
            await b.store(u, F(100 * per_beat + slot, 1, 1, 1))
        for f in (F(17, 1, 5, 5), F(33, 3, 3, 7), F(40, 4, 2, 2), F(51, 2, 5, 9), F(7, 5, 1, 3)):
            await b.store(u, f)
            await b.store(u, f, gap=0.4)


@cocotb.test(timeout_time=10, timeout_unit="ms")
async def long_rows_4k_and_256_beats(dut):
    """Rows longer than 256 beats and crossing 4 KiB boundaries, one ending at the last DRAM byte, under random
    AW/W/B back-pressure and input gaps."""
    b = Bench(dut, stall=0.3, seed=5)
    await b.start()
    await b.store("w64", F(4096 // 8 - 3, 1, 300, 300))
    await b.store("w32", F(8192 // 4 - 7, 2, 530, 1100), gap=0.2)
    await b.store("w128", F(12288 // 16 - 1, 1, 130, 130))
    await b.store("w32", F(DRAM_BYTES // 4 - 3, 1, 3, 3))
    await b.store("w128", F(DRAM_BYTES // 16 - 4, 2, 2, 2))


@cocotb.test(timeout_time=10, timeout_unit="ms")
async def random_stores_with_backpressure(dut):
    b = Bench(dut, stall=0.35, seed=tb_seed() + 20)
    await b.start()
    rng = random.Random(tb_seed() + 20)
    for _ in range(30):
        u = rng.choice(list(UNITS))
        eb = UNITS[u]
        y, x = rng.randint(1, 4), rng.randint(1, 9)
        stride = rng.randint(x, x + 6)
        base = rng.randrange(0, DRAM_BYTES // eb - ((y - 1) * stride + x))
        await b.store(u, F(base, y, x, stride), gap=rng.choice((0.0, 0.3)))
