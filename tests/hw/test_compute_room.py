"""The compute stage's uop range check by room: ``idx ≥ _room(off, depth, width)`` must equal ``idx + off ≥ depth``
for every index and offset, including offsets at and past the depth and rooms beyond the index range."""

from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from vta.hw.compute import _room


def test_room_compare_equals_the_sum_compare_exhaustively():
    width = 3
    for depth in (1, 5, 8, 13, 16):
        m = Module()
        off, idx = Signal(6), Signal(width)
        over = Signal()
        m.d.comb += over.eq(idx >= _room(off, depth, width))
        sim = Simulator(m)
        wrong = []

        async def bench(ctx, depth=depth, off=off, idx=idx, over=over, wrong=wrong):
            for o in range(64):
                for i in range(1 << width):
                    ctx.set(off, o)
                    ctx.set(idx, i)
                    if ctx.get(over) != (i + o >= depth):
                        wrong.append((depth, o, i))

        sim.add_testbench(bench)
        sim.run()
        assert wrong == [], f"room check differs from idx + off ≥ depth at (depth, off, idx) {wrong[:5]}"
