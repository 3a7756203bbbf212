"""A dependency-token queue: an up/down counter of outstanding tokens, at most ``depth`` of them.

Tokens carry no data, but the queue remembers the stream index of the instruction that pushed each one (a FIFO of
indices beside the counter): a pop by instruction ``k`` that would take a token pushed by an instruction after ``k``
is a pop program order finds empty (docs/semantics.md's causality rule), which the popping stage reports.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..isa.stages import QUEUE_DEPTH
from .ports import TokenPopSignature, TokenPushSignature
from .regs import INDEX_BITS

__all__ = ["DepQueue"]


class DepQueue(wiring.Component):
    """Tokens pushed by one stage and popped by another; a push and a pop in the same cycle cancel out.

    ``pop.valid`` is high while at least one token is held, ``push.ready`` while fewer than ``depth`` are.
    ``count`` shows the number held (for debugging); ``pop.oldest`` the index ``push.index`` of the oldest token.

    ``pop.valid`` and ``push.ready`` are flip-flops of their own, set from the next count (they equal
    ``count != 0`` and ``count != depth`` in every cycle): the stages' issue decisions start at a register instead
    of an 11-bit compare of the counter, whose three LUT levels plus routing put the g2l/s2g counters on the
    ULX3S's critical path (counter → compute's pop/push decision → its loop start, 20.0 ns at 50 MHz).
    """

    def __init__(self, depth=QUEUE_DEPTH):
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive integer, not {depth!r}")
        self.depth = depth
        super().__init__({
            "push": In(TokenPushSignature()),
            "pop": In(TokenPopSignature()),
            "count": Out(range(depth + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        count = self.count
        valid = Signal()            # count != 0, registered
        ready = Signal(init=1)      # count != depth, registered
        m.d.comb += [self.pop.valid.eq(valid), self.push.ready.eq(ready)]
        do_push = Signal()
        do_pop = Signal()
        m.d.comb += [
            do_push.eq(self.push.push & self.push.ready),
            do_pop.eq(self.pop.pop & self.pop.valid),
        ]
        # The indices: written at the tail; the head is read from the next pointer, through a read port
        # transparent to the write, so ``oldest`` is the head's index in every cycle the queue is non-empty.
        m.submodules.index_mem = mem = Memory(shape=INDEX_BITS, depth=self.depth, init=[])
        wp = mem.write_port()
        rp = mem.read_port(transparent_for=(wp,))
        head = Signal(range(self.depth))
        tail = Signal(range(self.depth))
        head_next = Signal(range(self.depth))
        m.d.comb += [
            head_next.eq(head),
            wp.addr.eq(tail), wp.data.eq(self.push.index), wp.en.eq(do_push),
            rp.addr.eq(head_next), self.pop.oldest.eq(rp.data),
            # empty: the next head is whatever is pushed now (if nothing is, the queue stays empty and it is unused)
            self.pop.oldest_next.eq(Mux(valid, rp.data, self.push.index)),
        ]
        with m.If(do_pop):
            m.d.comb += head_next.eq(_wrap(head, self.depth))
            m.d.sync += head.eq(head_next)
        with m.If(do_push):
            m.d.sync += tail.eq(_wrap(tail, self.depth))

        # The flags follow the count: a push makes the queue non-empty and full if it held depth − 1; a pop makes
        # it not full and empty if it held one. The compares are on the current count, beside the push/pop logic.
        with m.If(do_push & ~do_pop):
            m.d.sync += [count.eq(count + 1), valid.eq(1), ready.eq(count != self.depth - 1)]
        with m.Elif(do_pop & ~do_push):
            m.d.sync += [count.eq(count - 1), ready.eq(1), valid.eq(count != 1)]
        return m


def _wrap(ptr, depth):
    """``ptr + 1`` modulo ``depth``."""
    return Mux(ptr == depth - 1, 0, ptr + 1)
