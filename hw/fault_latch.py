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

``copies`` more halt ports (``halt_copy0`` …) carry the same state from flip-flops of their own (``keep``, so
synthesis does not merge them back): one per stage, so each stage's 32-bit ``index ≥ halt.index`` compare is fed
by registers that can sit beside it. With one register for all four stages, that net's routing (4.9 ns) started
the ULX3S's critical path (halt index → the load stage's kill → its start → the DMA's request, 19.9 ns).
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

    def __init__(self, n, *, copies=0):
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, not {n!r}")
        if not isinstance(copies, int) or copies < 0:
            raise ValueError(f"copies must be a non-negative integer, not {copies!r}")
        self.n = n
        self.copies = copies
        super().__init__({
            **{f"fault{i}": In(FaultSignature()) for i in range(n)},
            "clear": In(1),
            "halt": Out(HaltSignature()),
            **{f"halt_copy{i}": Out(HaltSignature()) for i in range(copies)},
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
        copies = []
        for i in range(self.copies):
            port = getattr(self, f"halt_copy{i}")
            halted_i = Signal(name=f"halted_{i}", attrs={"keep": 1})
            index_i = Signal(INDEX_BITS, name=f"index_{i}", attrs={"keep": 1})
            m.d.comb += [port.halted.eq(halted_i), port.index.eq(index_i), port.pending.eq(halt.pending),
                         port.fresh.eq(halt.fresh)]
            copies.append((halted_i, index_i))
        m.d.sync += halt.fresh.eq(0)
        with m.If(self.clear):
            m.d.sync += [halt.halted.eq(0), self.code.eq(0), self.field.eq(0), halt.index.eq(0), halt.fresh.eq(1)]
            m.d.sync += [r.eq(0) for copy in copies for r in copy]
        with m.Elif(valid & (~halt.halted | (index < halt.index))):
            m.d.sync += [halt.halted.eq(1), halt.index.eq(index), self.code.eq(code), self.field.eq(field),
                         halt.fresh.eq(1)]
            m.d.sync += [r.eq(v) for h, i in copies for r, v in ((h, 1), (i, index))]
        return m
