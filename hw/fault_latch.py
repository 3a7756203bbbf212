"""`FaultLatch`: keeps the program fault with the lowest instruction index reported during a run.

Every block that checks instructions (fetch, the three stages) reports on its own `FaultSignature` port. The latch
keeps the fault of the earliest instruction in program order — the one the functional simulator, which runs in
program order, reports — because the stages run concurrently and a later instruction may be rejected first. Once
``halt.halted``, the stages drop every instruction at or after ``halt.index``; the ones before it still run (they may
report an earlier fault, which then replaces the latched one). ``clear`` (launch) empties it.
"""

from amaranth.hdl import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .ports import FaultSignature, HaltSignature
from .regs import FAULT_CODE_BITS, FAULT_FIELD_BITS

__all__ = ["FaultLatch"]


class FaultLatch(wiring.Component):
    """``n`` reporters ``fault0`` … ``fault{n-1}``; ``halt`` (halted, index), ``code``, ``field`` of the fault kept."""

    def __init__(self, n):
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, not {n!r}")
        self.n = n
        super().__init__({
            **{f"fault{i}": In(FaultSignature()) for i in range(n)},
            "clear": In(1),
            "halt": Out(HaltSignature()),
            "code": Out(FAULT_CODE_BITS),
            "field": Out(FAULT_FIELD_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        # The earliest of this cycle's reports (a chain of compare-and-select; n is small).
        f0 = self.fault0
        valid, index, code, field = f0.valid, f0.index, f0.code, f0.field
        for i in range(1, self.n):
            f = getattr(self, f"fault{i}")
            take = f.valid & (~valid | (f.index < index))
            index, code, field = (Mux(take, new, old) for new, old in
                                  ((f.index, index), (f.code, code), (f.field, field)))
            valid = valid | f.valid

        halt = self.halt
        with m.If(self.clear):
            m.d.sync += [halt.halted.eq(0), self.code.eq(0), self.field.eq(0), halt.index.eq(0)]
        with m.Elif(valid & (~halt.halted | (index < halt.index))):
            m.d.sync += [halt.halted.eq(1), halt.index.eq(index), self.code.eq(code), self.field.eq(field)]
        return m
