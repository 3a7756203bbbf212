"""`TokenStage`: the instruction handshake shared by the load and store stages, ordered by dependency tokens.

Both stages take one instruction at a time and bracket its work with the same token protocol (docs/semantics.md):

    IDLE ──cmd──► POP ──token (if pop flag)──► RUN ──done──► PUSH ──room (if push flag)──► IDLE
                  └ stall while the token is missing           └ waits here while the queue is full

They differ only in which header flags they obey (`vta.isa.stages`: load pops g2l with ``pop_next_dep`` and pushes
l2g with ``push_next_dep``; store pops g2s with ``pop_prev_dep`` and pushes s2g with ``push_prev_dep``) and in the
work done in RUN. So this is a component of its own rather than a helper called inside each ``elaborate``: the
owner wires its queues to ``pop_queue``/``push_queue``, starts its units on ``start``, reports the end of their work
on ``done`` and reads the held instruction from ``insn``.
"""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..isa.layouts import INSN_BITS
from ..isa.stages import POP_FLAGS, PUSH_FLAGS, STAGE_POPS, STAGE_PUSHES
from .ports import TokenPopSignature, TokenPushSignature

__all__ = ["TokenStage", "stage_members"]


def stage_members(stage):
    """The ports every stage module has, named after `vta.isa.stages`: ``cmd``, one token port per queue it pops
    or pushes, ``busy`` (holding an instruction), ``stall`` (waiting for a token) and ``wait_<queue>`` per queue it
    pops (which one it waits for; the core shows them in ``Reg.WAIT``)."""
    return {
        "cmd": In(stream.Signature(INSN_BITS)),
        **{q: Out(TokenPopSignature()) for q in STAGE_POPS[stage].values()},
        **{q: Out(TokenPushSignature()) for q in STAGE_PUSHES[stage].values()},
        "busy": Out(1),
        "stall": Out(1),
        **{f"wait_{q}": Out(1) for q in STAGE_POPS[stage].values()},
    }


class TokenStage(wiring.Component):
    """Holds one instruction of layout ``insn_layout`` (it must have the common ``hdr``) from ``cmd`` to its token push.

    - ``insn``: the instruction taken in IDLE, held until the next one is taken.
    - ``start``: one-cycle pulse when the stage leaves POP (its token, if any, is popped in that cycle).
    - ``done``: the owner's work is finished; sampled from the cycle after ``start``.
    - ``busy``: holding an instruction (POP, RUN, PUSH); ``stall``: in POP waiting for a token.
    - ``pop_flag`` / ``push_flag``: the header flag naming whether to pop ``pop_queue`` / push ``push_queue``.
    """

    def __init__(self, insn_layout, *, pop_flag, push_flag):
        for what, flag, allowed in (("pop_flag", pop_flag, POP_FLAGS), ("push_flag", push_flag, PUSH_FLAGS)):
            if flag not in allowed:
                self._MustUse__silence = True   # no "created but never used" warning for a rejected object
                raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {flag!r}")
        self.pop_flag = pop_flag
        self.push_flag = push_flag
        super().__init__({
            "cmd": In(stream.Signature(INSN_BITS)),
            "insn": Out(insn_layout),
            "pop_queue": Out(TokenPopSignature()),
            "push_queue": Out(TokenPushSignature()),
            "start": Out(1),
            "done": In(1),
            "busy": Out(1),
            "stall": Out(1),
        })

    @classmethod
    def of_stage(cls, insn_layout, stage):
        """The `TokenStage` of ``stage`` ("load" or "store"; one queue each way), flags from `vta.isa.stages`."""
        ((pop_flag, pop), ), ((push_flag, push), ) = STAGE_POPS[stage].items(), STAGE_PUSHES[stage].items()
        self = cls(insn_layout, pop_flag=pop_flag, push_flag=push_flag)
        self.queues = (pop, push)
        return self

    def connect_owner(self, m, owner):
        """Wire this stage (made by `of_stage`) to the `stage_members` ports of ``owner``."""
        pop, push = self.queues
        wiring.connect(m, wiring.flipped(owner.cmd), self.cmd)
        wiring.connect(m, wiring.flipped(getattr(owner, pop)), self.pop_queue)
        wiring.connect(m, wiring.flipped(getattr(owner, push)), self.push_queue)
        m.d.comb += [owner.busy.eq(self.busy), owner.stall.eq(self.stall), getattr(owner, f"wait_{pop}").eq(self.stall)]

    def elaborate(self, platform):
        m = Module()
        pop_dep = getattr(self.insn.hdr, self.pop_flag)
        push_dep = getattr(self.insn.hdr, self.push_flag)

        def push():
            """Push the token of the completed instruction and return to IDLE, or wait in PUSH for room."""
            with m.If(~push_dep | self.push_queue.ready):
                m.d.comb += self.push_queue.push.eq(push_dep)
                m.next = "IDLE"
            with m.Else():
                m.next = "PUSH"

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    m.d.sync += self.insn.eq(self.cmd.payload)
                    m.next = "POP"
            with m.State("POP"):
                m.d.comb += self.busy.eq(1)
                with m.If(pop_dep & ~self.pop_queue.valid):
                    m.d.comb += self.stall.eq(1)
                with m.Else():
                    m.d.comb += [self.pop_queue.pop.eq(pop_dep), self.start.eq(1)]
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += self.busy.eq(1)
                with m.If(self.done):
                    push()
            with m.State("PUSH"):
                m.d.comb += self.busy.eq(1)
                push()
        return m
