"""`FaultLatch`: keeps the program fault with the lowest instruction index reported during a run.

Every block that checks instructions (fetch, the three stages) reports on its own `FaultSignature` port. The latch
keeps the fault of the earliest instruction in program order — the one the functional simulator, which runs in
program order, reports — because the stages run concurrently and a later instruction may be rejected first. Once
``halt.halted``, the stages drop every instruction at or after ``halt.index``; the ones before it still run (they may
report an earlier fault, which then replaces the latched one). ``clear`` (launch) empties it.

Pipelined for timing: the reports are registered as they come in, the earliest is found by a tree of
compare-and-select levels (one registered 32-bit compare per level), and the winner is compared with the latched
index in the last cycle (with the tree's last compare-and-select) — three cycles from a report to ``halted``/
``index`` for four reporters. Meanwhile ``halt.pending`` is high (a report is in the pipeline) and the stages start
no instruction, so nothing starts that the fault would have dropped; only invalid programs ever see it.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .ports import FaultSignature, HaltSignature
from .regs import FAULT_CODE_BITS, FAULT_FIELD_BITS, INDEX_BITS

__all__ = ["FaultLatch"]


class FaultLatch(wiring.Component):
    """``n`` reporters ``fault0`` … ``fault{n-1}``; ``halt`` (halted, index, pending), ``code``, ``field`` of the
    fault kept."""

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
        in_flight = []

        def stage(entries, level):
            """Register ``entries`` (valid, index, code, field) as pipeline level ``level``."""
            out = []
            for i, (valid, index, code, field) in enumerate(entries):
                regs = (Signal(name=f"l{level}_{i}_valid"), Signal(INDEX_BITS, name=f"l{level}_{i}_index"),
                        Signal(FAULT_CODE_BITS, name=f"l{level}_{i}_code"),
                        Signal(FAULT_FIELD_BITS, name=f"l{level}_{i}_field"))
                m.d.sync += [r.eq(v) for r, v in zip(regs, (valid, index, code, field))]
                with m.If(self.clear):
                    m.d.sync += regs[0].eq(0)
                in_flight.append(regs[0])
                out.append(regs)
            return out

        def earlier(a, b):
            """The earlier of two reports (``a`` on a tie)."""
            take_b = b[0] & (~a[0] | (b[1] < a[1]))
            return (a[0] | b[0], *(Mux(take_b, y, x) for x, y in zip(a[1:], b[1:])))

        entries = stage([(f.valid, f.index, f.code, f.field) for f in
                         (getattr(self, f"fault{i}") for i in range(self.n))], 0)
        level = 0
        while len(entries) > 1:
            level += 1
            pairs = [earlier(entries[i], entries[i + 1]) for i in range(0, len(entries) - 1, 2)]
            if len(entries) % 2:
                pairs.append(entries[-1])
            entries = stage(pairs, level) if len(pairs) > 1 else pairs
        valid, index, code, field = entries[0]
        # the last tree level (two entries → one) is done in the latching cycle: a compare, then the latch's compare
        halt = self.halt
        m.d.comb += halt.pending.eq(Cat(*in_flight).any())
        with m.If(self.clear):
            m.d.sync += [halt.halted.eq(0), self.code.eq(0), self.field.eq(0), halt.index.eq(0)]
        with m.Elif(valid & (~halt.halted | (index < halt.index))):
            m.d.sync += [halt.halted.eq(1), halt.index.eq(index), self.code.eq(code), self.field.eq(field)]
        return m
