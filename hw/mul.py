"""The tensor ALU's MUL: element-wise low 32 bits of int32 × int32 on BATCH×BLOCK_OUT lanes, in four cycles.

The low word of a product does not depend on the operands' signs, so with 16-bit halves a = aH·2¹⁶ + aL and
b = bH·2¹⁶ + bL (as unsigned halves)

    a·b mod 2³² = aL·bL + ((aH·bL + aL·bH) mod 2¹⁶)·2¹⁶   (mod 2³²)

and each 16×16 product is split on the bytes of its b half (bL = bL1·2⁸ + bL0, bH = bH1·2⁸ + bH0):

    aL·bL          = aL·bL0 + aL·bL1·2⁸
    aH·bL mod 2¹⁶  = (aH·bL0 mod 2¹⁶) + (aH[:8]·bL1 mod 2⁸)·2⁸
    aL·bH mod 2¹⁶  = (aL·bH0 mod 2¹⁶) + (aL[:8]·bH1 mod 2⁸)·2⁸

Cycle 1 registers the operands; cycle 2 forms the six 16×8 (or narrower) partial products into registers; cycle 3
sums them, at most two adders deep, into registers (``low`` = aL·bL and ``cross``, the middle half-word);
cycle 4 adds ``low + cross·2¹⁶`` (combinational on ``result``, to be registered by the user). Operands are those of
`AluCore` (``dst``, and ``src`` or the immediate): ``result`` shows the product of the operands presented
`LATENCY` = 3 clocks earlier.

Why this shape: on the ULX3S the multipliers are built from LUTs and carry chains (``-nodsp``, `vta.fpga.boards`),
Yosys builds an N-row product as a chain of N adders, so a 16×16 product is 16 carry chains deep. With the
products in one cycle (the previous, three-cycle `MulCore`) that cycle was the core's critical path (21.9 ns from
the operand register through a 9.7 ns route and 25 logic levels, 45.7 MHz against the 50 MHz target). A 16×8
product is 8 chains deep, half of that; the sums after it are at most two adders per cycle. Why the operands
are registered first: they come from the compute stage's forwarding network, the core's tightest loop;
registered, the multipliers hang off plain flip-flops instead of that network, and a 32-bit multiply never shares
a cycle with forwarding. The last add stays combinational into the user's register (the compute stage's W) as
before, so the longest MUL cycle left is a partial product; `benchmarks/mul_timing.py` measures each.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from .alu import alu_operand_members, lane_count, operand_lanes

__all__ = ["MulCore"]


class MulCore(wiring.Component):
    """All BATCH×BLOCK_OUT lanes of ``cfg``, or ``lanes`` of them (see `AluCore`)."""

    LATENCY = 3     # clocks from operands to ``result``

    def __init__(self, cfg, lanes=None):
        self.cfg = cfg
        self.lanes = lane_count(cfg, lanes)
        super().__init__({**alu_operand_members(cfg, self.lanes), "result": Out(cfg.acc_width * self.lanes)})

    def elaborate(self, platform):
        m = Module()
        lanes = []
        for i, (a, b) in enumerate(operand_lanes(m, self, self.cfg, self.lanes)):
            ar = Signal(32, name=f"a_reg{i}")
            br = Signal(32, name=f"b_reg{i}")
            m.d.sync += [ar.eq(a), br.eq(b)]
            a_lo, a_hi = ar[:16], ar[16:]
            b0, b1, b2, b3 = (br[8 * k:8 * (k + 1)] for k in range(4))
            # Cycle 2: six partial products, each at most 16×8.
            low0 = Signal(24, name=f"low0_{i}")      # aL·bL0
            low1 = Signal(24, name=f"low1_{i}")      # aL·bL1
            x0 = Signal(16, name=f"x0_{i}")          # aH·bL0 mod 2¹⁶
            x1 = Signal(8, name=f"x1_{i}")           # aH·bL1 mod 2⁸
            y0 = Signal(16, name=f"y0_{i}")          # aL·bH0 mod 2¹⁶
            y1 = Signal(8, name=f"y1_{i}")           # aL·bH1 mod 2⁸
            m.d.sync += [low0.eq(a_lo * b0), low1.eq(a_lo * b1),
                         x0.eq(a_hi * b0), x1.eq(a_hi[:8] * b1),
                         y0.eq(a_lo * b2), y1.eq(a_lo[:8] * b3)]
            # Cycle 3: aL·bL (one adder) and the middle half-word (two adder levels), registered.
            low = Signal(32, name=f"low{i}")
            cross = Signal(16, name=f"cross{i}")
            m.d.sync += [low.eq(low0 + Cat(Signal(8), low1)),
                         cross.eq((x0 + y0) + Cat(Signal(8), x1 + y1))]
            # Cycle 4 (into the user's register): the one remaining add.
            lanes.append(low + Cat(Signal(16), cross))
        m.d.comb += self.result.eq(Cat(*[lane[:32] for lane in lanes]))
        return m
