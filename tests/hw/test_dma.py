"""The DMA engines behind the shared AXI port: padded 2-D loads (`LoadUnit` + `ReadArbiter`) and strided,
strobed stores (`DMAWrite`), for elements narrower than, equal to and wider than the bus, against numpy."""

import numpy as np
import pytest
from amaranth.hdl import Fragment, Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import Out
from hw_helpers import AxiDram, run_testbench

from vta.hw.axi_arbiter import ReadArbiter
from vta.hw.dma_read import DMARead
from vta.hw.dma_write import DMAWrite
from vta.hw.interfaces import AXI4Signature, DMACommandSignature
from vta.hw.load_unit import LoadUnit

DEPTH_LOG = 8


class LoadBench(wiring.Component):
    """A LoadUnit writing a test memory, reading through a one-client arbiter (write channels unused)."""

    def __init__(self, elem_bits, bus_width, max_outstanding=16):
        self.max_outstanding = max_outstanding
        self.unit = LoadUnit(elem_bits=elem_bits, bus_width=bus_width, addr_width=DEPTH_LOG)
        self.mem = Memory(shape=elem_bits, depth=1 << DEPTH_LOG, init=[])
        super().__init__({"axi": Out(AXI4Signature(addr_width=32, data_width=bus_width))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = self.unit
        m.submodules.mem = self.mem
        m.submodules.arb = arb = ReadArbiter(1, self.axi.signature.data_width, max_outstanding=self.max_outstanding)
        wiring.connect(m, self.unit.bus, arb.client0)
        wiring.connect(m, arb.ar, wiring.flipped(self.axi.ar))
        wiring.connect(m, arb.r, wiring.flipped(self.axi.r))
        wp = self.mem.write_port()
        m.d.comb += [wp.addr.eq(self.unit.wr.addr), wp.data.eq(self.unit.wr.data), wp.en.eq(self.unit.wr.en)]
        return m


def run_with_dram(dut, model, bench):
    """Simulate ``bench`` against ``dut`` with the `AxiDram` ``model`` answering on ``dut.axi``."""
    async def dram_proc(ctx):
        await model.process(ctx, dut.axi)

    run_testbench(dut, bench, background=[dram_proc])


def reference_load(sram, dram, eb, f):
    """docs/semantics.md LOAD, element by element."""
    if f["y_size"] == 0 or f["x_size"] == 0:
        return
    pitch = f["x_pad_0"] + f["x_size"] + f["x_pad_1"]
    for y in range(f["y_pad_0"] + f["y_size"] + f["y_pad_1"]):
        for x in range(pitch):
            yy, xx = y - f["y_pad_0"], x - f["x_pad_0"]
            if 0 <= yy < f["y_size"] and 0 <= xx < f["x_size"]:
                a = (f["dram_base"] + yy * f["x_stride"] + xx) * eb
                val = int.from_bytes(dram[a:a + eb].tobytes(), "little")
            else:
                val = 0
            sram[f["sram_base"] + y * pitch + x] = val


LOADS = {
    "plain": dict(y_size=2, x_size=3, x_stride=3),
    "y_pad_0": dict(y_size=2, x_size=3, x_stride=5, y_pad_0=2),
    "y_pad_1": dict(y_size=2, x_size=3, x_stride=5, y_pad_1=1),
    "x_pad_0": dict(y_size=2, x_size=3, x_stride=5, x_pad_0=2),
    "x_pad_1": dict(y_size=3, x_size=1, x_stride=7, x_pad_1=3),
    "all_pads_overlap": dict(y_size=3, x_size=4, x_stride=2, y_pad_0=1, y_pad_1=2, x_pad_0=1, x_pad_1=1),
    "one_column_all_pads": dict(y_size=2, x_size=1, x_stride=3, y_pad_0=1, y_pad_1=1, x_pad_0=2, x_pad_1=1),
    "noop": dict(y_size=0, x_size=4, x_stride=4, y_pad_0=1),
}


async def start_load(ctx, dut, fields):
    """Pulse the load unit's ``start`` for one cycle with its instruction ``fields``."""
    ctx.set(dut.unit.start, 1)
    for k, v in fields.items():
        ctx.set(getattr(dut.unit, k), v)
    await ctx.tick()
    ctx.set(dut.unit.start, 0)


@pytest.mark.parametrize("elem_bits,bus_width", [(32, 64), (64, 64), (256, 64), (128, 32), (16, 128)])
@pytest.mark.parametrize("case", list(LOADS))
def test_padded_strided_load(elem_bits, bus_width, case):
    eb = elem_bits // 8
    f = dict(sram_base=5, dram_base=4093 // eb + 1, y_pad_0=0, y_pad_1=0, x_pad_0=0, x_pad_1=0)  # rows cross 4 KiB
    f.update(LOADS[case])
    rng = np.random.default_rng(len(case) * elem_bits + bus_width)
    dram = rng.integers(0, 256, 16384, dtype=np.uint8)
    dut = LoadBench(elem_bits, bus_width)
    model = AxiDram(dram, bus_width, latency=3, stall=0.25, seed=elem_bits)
    got = {}

    async def bench(ctx):
        await start_load(ctx, dut, f)
        for _ in range(2000):
            if not ctx.get(dut.unit.busy):
                break
            await ctx.tick()
        else:
            raise AssertionError("load did not finish")
        for i in range(1 << DEPTH_LOG):
            got[i] = ctx.get(dut.mem.data[i])

    run_with_dram(dut, model, bench)
    want = dict.fromkeys(range(1 << DEPTH_LOG), 0)
    reference_load(want, dram, eb, f)
    assert got == want
    if f["y_size"]:
        assert len(model.reads) >= f["y_size"]  # one request per row (4 KiB crossings split further)


def test_bursts_in_flight_stay_within_max_outstanding():
    """The arbiter frees a burst's slot the cycle after its last beat: with a limit of 2 and a slow DRAM, the
    rows' one-beat bursts must fill both slots, never a third, and the data must still arrive in order."""
    f = dict(sram_base=0, dram_base=0, y_size=12, x_size=1, x_stride=3, y_pad_0=0, y_pad_1=0, x_pad_0=0, x_pad_1=0)
    dram = np.random.default_rng(8).integers(0, 256, 4096, dtype=np.uint8)
    dut = LoadBench(64, 64, max_outstanding=2)
    model = AxiDram(dram, 64, latency=6, stall=0.2, seed=8)
    in_flight = []
    got = {}

    async def monitor(ctx):
        n = 0
        axi = dut.axi
        async for _, _, arv, arr, rv, rr, rl in ctx.tick().sample(axi.ar.valid, axi.ar.ready, axi.r.valid,
                                                                    axi.r.ready, axi.r.last):
            n += (arv and arr) - (rv and rr and rl)
            in_flight.append(n)

    async def bench(ctx):
        await start_load(ctx, dut, f)
        await ctx.tick().until(~dut.unit.busy)
        for i in range(16):
            got[i] = ctx.get(dut.mem.data[i])

    async def dram_proc(ctx):
        await model.process(ctx, dut.axi)

    run_testbench(dut, bench, background=[dram_proc, monitor])
    want = dict.fromkeys(range(16), 0)
    reference_load(want, dram, 8, f)
    assert got == want
    assert max(in_flight) == 2


class StoreBench(wiring.Component):
    def __init__(self, elem_bits, bus_width):
        self.dma = DMAWrite(elem_bits=elem_bits, bus_width=bus_width)
        super().__init__({"axi": Out(AXI4Signature(addr_width=32, data_width=bus_width))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.dma = self.dma
        for name in ("aw", "w", "b"):
            wiring.connect(m, getattr(self.dma, name), wiring.flipped(getattr(self.axi, name)))
        return m


@pytest.mark.parametrize("elem_bits,bus_width", [(32, 64), (64, 64), (128, 64), (8 * 8, 512)])
@pytest.mark.parametrize("y_size,x_size,x_stride", [(1, 5, 5), (3, 3, 7), (2, 4, 2), (2, 600, 600)])
def test_strided_store(elem_bits, bus_width, y_size, x_size, x_stride):
    eb = elem_bits // 8
    base = 4000 // eb + 1  # odd slot, rows cross a 4 KiB boundary
    n = y_size * x_size
    rng = np.random.default_rng(n + elem_bits)
    elems = [int(v) for v in rng.integers(0, 1 << 62, n)]
    elems = [(v * 0x9E3779B97F4A7C15) & ((1 << elem_bits) - 1) for v in elems]
    dram = rng.integers(0, 256, 1 << 16, dtype=np.uint8)
    want = dram.copy()
    for y in range(y_size):
        for x in range(x_size):
            a = (base + y * x_stride + x) * eb
            want[a:a + eb] = np.frombuffer(elems[y * x_size + x].to_bytes(eb, "little"), dtype=np.uint8)
    dut = StoreBench(elem_bits, bus_width)
    model = AxiDram(dram, bus_width, latency=2, stall=0.2, seed=n)

    async def bench(ctx):
        dma = dut.dma
        for k, v in dict(elem_addr=base, x_size=x_size, x_stride=x_stride, y_size=y_size).items():
            ctx.set(getattr(dma, k), v)
        ctx.set(dma.start, 1)
        await ctx.tick()
        ctx.set(dma.start, 0)
        i = 0
        for _ in range(20000):
            if i < n:
                ctx.set(dma.elem.valid, 1)
                ctx.set(dma.elem.payload, elems[i])
                if ctx.get(dma.elem.ready):
                    i += 1
            else:
                ctx.set(dma.elem.valid, 0)
                if not ctx.get(dma.busy):
                    break
            await ctx.tick()
        else:
            raise AssertionError("store did not finish")

    run_with_dram(dut, model, bench)
    assert np.array_equal(dram, want)


@pytest.mark.parametrize("cls", [DMARead, DMAWrite])
@pytest.mark.parametrize("kw,message", [
    (dict(elem_bits=24, bus_width=64), "elem_bits must be a power of two ≥ 8, not 24"),
    (dict(elem_bits=4, bus_width=64), "elem_bits must be a power of two ≥ 8, not 4"),
    (dict(elem_bits=32, bus_width=96), "bus_width must be a power of two ≥ 8, not 96"),
    (dict(elem_bits=32.0, bus_width=64), "elem_bits must be a power of two ≥ 8, not 32.0"),
])
def test_widths_are_checked(cls, kw, message):
    with pytest.raises(ValueError, match=message):
        cls(**kw)


@pytest.mark.parametrize("cls", [DMARead, DMAWrite])
def test_engines_take_the_shared_command(cls):
    """Both engines are targets of the one `DMACommandSignature` (its members spliced flat, directions flipped)."""
    engine = cls(elem_bits=32, bus_width=64)
    Fragment.get(engine, None)    # (elaborates: an engine that is never used warns)
    command = DMACommandSignature().flip()
    assert {name: engine.signature.members[name] for name in command.members} == dict(command.members)
    assert dict(command.members)["start"].flow == wiring.In and dict(command.members)["busy"].flow == wiring.Out
