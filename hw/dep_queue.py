"""A dataless dependency-token queue: an up/down counter of outstanding tokens, at most ``depth`` of them."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..isa.stages import QUEUE_DEPTH
from .ports import TokenPopSignature, TokenPushSignature

__all__ = ["DepQueue"]


class DepQueue(wiring.Component):
    """Tokens pushed by one stage and popped by another; a push and a pop in the same cycle cancel out.

    ``pop.valid`` is high while at least one token is held, ``push.ready`` while fewer than ``depth`` are.
    ``count`` shows the number held (for debugging).
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
        m.d.comb += [
            self.pop.valid.eq(count != 0),
            self.push.ready.eq(count != self.depth),
        ]
        do_push = Signal()
        do_pop = Signal()
        m.d.comb += [
            do_push.eq(self.push.push & self.push.ready),
            do_pop.eq(self.pop.pop & self.pop.valid),
        ]
        with m.If(do_push & ~do_pop):
            m.d.sync += count.eq(count + 1)
        with m.Elif(do_pop & ~do_push):
            m.d.sync += count.eq(count - 1)
        return m
