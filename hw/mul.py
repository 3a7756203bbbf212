"""The tensor ALU's MUL: element-wise low 32 bits of int32 × int32 on BATCH×BLOCK_OUT lanes, in three cycles.

The low word of a product does not depend on the operands' signs, so with 16-bit halves a = aH·2¹⁶ + aL and
b = bH·2¹⁶ + bL (as unsigned halves)

    a·b mod 2³² = aL·bL + ((aH·bL + aL·bH) mod 2¹⁶)·2¹⁶   (mod 2³²)

Cycle 1 registers the operands; cycle 2 forms the three 16×16 products (one multiplier each) into registers;
cycle 3 adds them (combinational on ``result``, to be registered by the user). Operands are those of `AluCore`
(``dst``, and ``src`` or the immediate): ``result`` shows the product of the operands presented `LATENCY` = 2
clocks earlier. Why the products are registered: on the ULX3S the multipliers are built from LUTs and carry
chains (`vta.fpga.boards`), and a 16×16 product plus the sum in one cycle was the critical path (22.3 ns). Why
the operands are registered first: they come from the compute stage's forwarding network, the core's tightest
loop; registered, the multipliers hang off plain flip-flops instead of that network, and a 32-bit multiply never
shares a cycle with forwarding.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from .alu import alu_operand_members, lane_count, operand_lanes

__all__ = ["MulCore"]


class MulCore(wiring.Component):
    """All BATCH×BLOCK_OUT lanes of ``cfg``, or ``lanes`` of them (see `AluCore`)."""

    LATENCY = 2     # clocks from operands to ``result``

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
            low = Signal(32, name=f"low{i}")
            cross = [Signal(16, name=f"cross{i}_{j}") for j in range(2)]
            m.d.sync += [low.eq(ar[:16] * br[:16]),                    # aL·bL
                         cross[0].eq(ar[16:] * br[:16]),               # aH·bL mod 2¹⁶
                         cross[1].eq(ar[:16] * br[16:])]               # aL·bH mod 2¹⁶
            lanes.append(low + Cat(Signal(16), cross[0] + cross[1]))
        m.d.comb += self.result.eq(Cat(*[lane[:32] for lane in lanes]))
        return m
