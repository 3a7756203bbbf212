"""`TokenStage`: the instruction handshake shared by the load and store stages, ordered by dependency tokens.

Both stages take one instruction at a time and bracket its work with the same token protocol (docs/semantics.md):

    IDLE ──cmd──► POP ──token (if pop flag)──► RUN ──done──► PUSH ──room (if push flag)──► IDLE
                  └ stall while the token is missing           └ waits here while the queue is full

They differ only in which header flags they obey (`vta.isa.stages`: load pops g2l with ``pop_next_dep`` and pushes
l2g with ``push_next_dep``; store pops g2s with ``pop_prev_dep`` and pushes s2g with ``push_prev_dep``) and in the
work done in RUN. So this is a component of its own rather than a helper called inside each ``elaborate``: the
owner wires its queues to ``pop_queue``/``push_queue``, starts its units on ``start``, reports the end of their work
on ``done`` and reads the held instruction from ``insn``.

Faults (docs/semantics.md's errors; reported on ``fault``, see `vta.hw.fault_latch`): the owner's `InsnCheck`
verdict (``bad*``, pipelined: it checks the word waiting at the queue head, then the held word; POP waits until the
verdict on the held word is out — the next cycle, or `InsnCheck.LATENCY` cycles for a LOAD/STORE block, which a word
that waited at the head has already had); an *early* rule is reported in POP at once, a *late* one when the
instruction would start. ``pos`` is registered (the peers see it a cycle late: a later position is only ever
reported after the instructions before it were dispatched, so a stale one never makes a wait look hopeless).
A token pop is a DEADLOCK when the token it would take was pushed by a later instruction (the queue's ``oldest`` ≥
``index``), or when the queue is empty and its producer is past this instruction in program order (``peer_<queue>``
> ``index``: nothing it still runs comes before, so program order would find the queue empty here too); a push onto
a full queue is a QUEUE_OVERFLOW once the consumer is past it (before the work starts, and again while waiting in
PUSH). While the consumer (producer) is behind, the stage waits as before: it may still pop (push). An instruction
at or after ``halt.index`` of a halted run is dropped (from POP or PUSH; work already started runs to its end).
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..isa.layouts import INSN_BITS
from ..isa.stages import POP_FLAGS, PUSH_FLAGS, STAGE_POPS, STAGE_PUSHES
from .insn_check import InsnCheck
from .ports import (
    CMD,
    CMD_BITS,
    NO_INDEX,
    FaultSignature,
    HaltSignature,
    TokenPopSignature,
    TokenPushSignature,
)
from .regs import FAULT_CODE_BITS, FAULT_FIELD_BITS, INDEX_BITS, MODULE_STATES, QUEUE_IDS, STATE_BITS, Fault

__all__ = ["TokenStage", "stage_members"]


def stage_members(stage):
    """The ports every stage module has, named after `vta.isa.stages`: ``cmd`` (`CMD` entries: word and index),
    one token port per queue it pops or pushes, ``busy`` (holding an instruction), ``stall`` (waiting for a token),
    ``wait_<queue>`` per queue it pops (which one it waits for; the core shows them in ``Reg.WAIT``); ``state``
    (its `vta.hw.regs.MODULE_STATES` state this cycle, for the performance counters and the trace probe) and
    ``held`` (the index of the instruction it holds, valid while ``state`` is not idle); and for the
    checks: ``fault``, ``halt``, ``pos`` (the index of the instruction it holds or will take next, `NO_INDEX` if
    none), ``peer_<queue>`` (``pos`` of the stage at the other end of each of its queues) and the DMA window."""
    queues = [*STAGE_POPS[stage].values(), *STAGE_PUSHES[stage].values()]
    return {
        "cmd": In(stream.Signature(CMD_BITS)),
        **{q: Out(TokenPopSignature()) for q in STAGE_POPS[stage].values()},
        **{q: Out(TokenPushSignature()) for q in STAGE_PUSHES[stage].values()},
        "busy": Out(1),
        "stall": Out(1),
        **{f"wait_{q}": Out(1) for q in STAGE_POPS[stage].values()},
        "state": Out(STATE_BITS),
        "held": Out(INDEX_BITS),
        "fault": Out(FaultSignature()),
        "halt": In(HaltSignature()),
        "pos": Out(INDEX_BITS),
        **{f"peer_{q}": In(INDEX_BITS) for q in queues},
        "dma_base": In(32),
        "dma_limit": In(32),
    }


class TokenStage(wiring.Component):
    """Holds one instruction of layout ``insn_layout`` (it must have the common ``hdr``) from ``cmd`` to its token push.

    - ``insn``: the instruction taken in IDLE, held until the next one is taken.
    - ``start``: one-cycle pulse when the stage leaves POP (its token, if any, is popped in that cycle).
    - ``done``: the owner's work is finished; sampled from the cycle after ``start``.
    - ``busy``: holding an instruction (POP, RUN, PUSH); ``stall``: in POP waiting for a token.
    - ``pop_flag`` / ``push_flag``: the header flag naming whether to pop ``pop_queue`` / push ``push_queue``.
    - ``check_latency``: cycles from ``check_insn`` to the ``bad*`` verdict (`InsnCheck.LATENCY` from `of_stage`).
    - ``state``: the `vta.hw.regs.MODULE_STATES` code (of a stage with one queue each way): idle, busy, waiting on
      ``pop_queue`` (POP without a token) or on ``push_queue`` (PUSH, queue full), or ``dram`` in RUN while the
      owner says ``mem_wait`` (its data is not moving this cycle).
    """

    def __init__(self, insn_layout, *, pop_flag, push_flag, check_latency=0):
        for what, flag, allowed in (("pop_flag", pop_flag, POP_FLAGS), ("push_flag", push_flag, PUSH_FLAGS)):
            if flag not in allowed:
                self._MustUse__silence = True   # no "created but never used" warning for a rejected object
                raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {flag!r}")
        self.pop_flag = pop_flag
        self.push_flag = push_flag
        self.check_latency = check_latency
        super().__init__({
            "cmd": In(stream.Signature(CMD_BITS)),
            "insn": Out(insn_layout),
            "index": Out(INDEX_BITS),
            "pop_queue": Out(TokenPopSignature()),
            "push_queue": Out(TokenPushSignature()),
            "start": Out(1),
            "done": In(1),
            "mem_wait": In(1),
            "state": Out(STATE_BITS),
            "busy": Out(1),
            "stall": Out(1),
            # the owner's `InsnCheck`: ``check_insn`` the word to check (the queue head, then the word held in POP),
            # ``bad*`` its verdict a cycle later, or `InsnCheck.LATENCY` cycles later while ``bad_slow``
            "check_insn": Out(INSN_BITS),
            "bad_slow": In(1), "bad": In(1), "bad_early": In(1), "bad_code": In(FAULT_CODE_BITS),
            "bad_field": In(FAULT_FIELD_BITS),
            "fault": Out(FaultSignature()),
            "halt": In(HaltSignature()),
            "pos": Out(INDEX_BITS),
            "pop_peer": In(INDEX_BITS),
            "push_peer": In(INDEX_BITS),
        })

    @classmethod
    def of_stage(cls, insn_layout, stage):
        """The `TokenStage` of ``stage`` ("load" or "store"; one queue each way), flags from `vta.isa.stages`."""
        ((pop_flag, pop), ), ((push_flag, push), ) = STAGE_POPS[stage].items(), STAGE_PUSHES[stage].items()
        self = cls(insn_layout, pop_flag=pop_flag, push_flag=push_flag, check_latency=InsnCheck.LATENCY)
        self.queues = (pop, push)
        self.stage = stage
        return self

    def connect_owner(self, m, owner, check):
        """Wire this stage (made by `of_stage`) to the `stage_members` ports of ``owner``, and ``check`` (the owner's
        `InsnCheck`) to the word being taken and to the owner's DMA window."""
        pop, push = self.queues
        wiring.connect(m, wiring.flipped(owner.cmd), self.cmd)
        wiring.connect(m, wiring.flipped(getattr(owner, pop)), self.pop_queue)
        wiring.connect(m, wiring.flipped(getattr(owner, push)), self.push_queue)
        m.d.comb += [owner.busy.eq(self.busy), owner.stall.eq(self.stall), getattr(owner, f"wait_{pop}").eq(self.stall),
                     owner.state.eq(self.state), owner.held.eq(self.index)]
        m.d.comb += [check.insn.eq(self.check_insn), check.dma_base.eq(owner.dma_base),
                     check.dma_limit.eq(owner.dma_limit), self.bad_slow.eq(check.slow), self.bad.eq(check.error),
                     self.bad_early.eq(check.early),
                     self.bad_code.eq(check.code), self.bad_field.eq(check.field)]
        wiring.connect(m, wiring.flipped(owner.fault), self.fault)
        wiring.connect(m, wiring.flipped(owner.halt), self.halt)
        m.d.comb += [owner.pos.eq(self.pos), self.pop_peer.eq(getattr(owner, f"peer_{pop}")),
                     self.push_peer.eq(getattr(owner, f"peer_{push}"))]

    def elaborate(self, platform):
        m = Module()
        pop_dep = getattr(self.insn.hdr, self.pop_flag)
        push_dep = getattr(self.insn.hdr, self.push_flag)
        queues = getattr(self, "queues", None)   # set by `of_stage`; a bare TokenStage reports queue id 0
        pop_id, push_id = (QUEUE_IDS[q] for q in queues) if queues else (0, 0)
        names = MODULE_STATES[getattr(self, "stage", "load")]
        code = {name: names.index(name) for name in ("idle", "busy", "dram")}
        # a bare TokenStage (no `of_stage`) reports its waits as the load stage's (3: pop queue, 4: push queue)
        code["pop"], code["push"] = (names.index(f"wait_{q}") for q in queues) if queues else (3, 4)
        cmd = data.View(CMD, self.cmd.payload)
        index = self.index
        bad, bad_early, bad_code, bad_field = self.bad, self.bad_early, self.bad_code, self.bad_field
        # The check sees the head of the command queue until the word is taken, then the held word while in POP;
        # ``seen`` counts the cycles the same word has been presented (up to the check's latency), so its verdict is
        # the held word's once ``seen`` reaches it. A word that waited at the head is checked by the time it is taken.
        in_pop, cont = Signal(), Signal()
        latency = self.check_latency
        seen = Signal(range(latency + 1))
        m.d.comb += self.check_insn.eq(Mux(in_pop, self.insn.as_value(), cmd.insn))
        m.d.sync += seen.eq(Mux(cont, Mux(seen == latency, seen, seen + 1), 0))
        verdict = (seen >= min(latency, 1)) & (~self.bad_slow | (seen == latency))
        pos = Signal.like(self.pos)
        m.d.sync += self.pos.eq(pos)   # registered: the peers compare against it (at most one cycle stale)
        kill = Signal()
        m.d.comb += [kill.eq(self.halt.halted & (index >= self.halt.index)), self.fault.index.eq(index),
                     self.push_queue.index.eq(index)]
        # The index compares of the token rules, registered: against the index the stage will hold next cycle, the
        # pushed index at the head next cycle (`DepQueue` ``oldest_next``; after a pop the stage is out of POP) and the
        # peers' (registered) positions — off the paths into the FSM.
        next_index = Signal.like(index)
        m.d.comb += next_index.eq(index)
        late_token, pop_peer_past, push_peer_past = Signal(), Signal(), Signal()
        m.d.sync += [late_token.eq(self.pop_queue.oldest_next >= next_index),
                     pop_peer_past.eq(self.pop_peer > next_index), push_peer_past.eq(self.push_peer > next_index)]
        # POP's kill, registered the same way (against the halt state of this cycle): the 32-bit compare against
        # the halt index began the ULX3S's critical path into the start of a load (19.9 and 21.8 ns). It is stale
        # only in a cycle after the halt state changed (``halt.fresh``), in which POP waits.
        pop_kill = Signal()
        m.d.sync += pop_kill.eq(self.halt.halted & (next_index >= self.halt.index))
        full_forever = ~self.push_queue.ready & push_peer_past

        def report(code, field):
            m.d.comb += [self.fault.valid.eq(1), self.fault.code.eq(code), self.fault.field.eq(field), cont.eq(0)]
            m.next = "IDLE"

        def push():
            """Push the token of the completed instruction and return to IDLE, or wait in PUSH for room."""
            with m.If(kill):
                m.next = "IDLE"
            with m.Elif(~push_dep | self.push_queue.ready):
                m.d.comb += self.push_queue.push.eq(push_dep)
                m.next = "IDLE"
            with m.Elif(full_forever):
                report(Fault.QUEUE_OVERFLOW, push_id)
            with m.Else():
                m.next = "PUSH"

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [self.cmd.ready.eq(1), pos.eq(Mux(self.cmd.valid, cmd.index, NO_INDEX)),
                             cont.eq(self.cmd.valid), self.state.eq(code["idle"])]
                with m.If(self.cmd.valid):
                    m.d.comb += next_index.eq(cmd.index)
                    m.d.sync += [self.insn.eq(cmd.insn), index.eq(cmd.index)]
                    m.next = "POP"
            with m.State("POP"):
                m.d.comb += [self.busy.eq(1), pos.eq(index), in_pop.eq(1), cont.eq(1),
                             self.state.eq(Mux(self.stall, code["pop"], code["busy"]))]
                with m.If(pop_kill):
                    m.d.comb += cont.eq(0)
                    m.next = "IDLE"
                with m.Elif(self.halt.fresh):
                    pass   # ``pop_kill`` may be stale: decide next cycle (only after a fault, or at launch)
                with m.Elif(~verdict):
                    pass   # the check's verdict on this word is not out yet
                with m.Elif(bad & bad_early):
                    report(bad_code, bad_field)
                with m.Elif(pop_dep & self.pop_queue.valid & late_token):
                    report(Fault.DEADLOCK, pop_id)    # the token was pushed by a later instruction
                with m.Elif(pop_dep & ~self.pop_queue.valid):
                    m.d.comb += self.stall.eq(1)
                    with m.If(pop_peer_past):
                        report(Fault.DEADLOCK, pop_id)    # and its producer is past this instruction
                with m.Elif(bad):
                    report(bad_code, bad_field)
                with m.Elif(push_dep & full_forever):
                    report(Fault.QUEUE_OVERFLOW, push_id)
                with m.Elif(self.halt.pending):
                    pass   # a fault is on its way to the latch: start nothing until it is latched
                with m.Else():
                    m.d.comb += [self.pop_queue.pop.eq(pop_dep), self.start.eq(1), cont.eq(0)]
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += [self.busy.eq(1), pos.eq(index), cont.eq(self.cmd.valid),
                             self.state.eq(Mux(self.mem_wait, code["dram"], code["busy"]))]
                with m.If(self.done):
                    push()
            with m.State("PUSH"):
                m.d.comb += [self.busy.eq(1), pos.eq(index), cont.eq(self.cmd.valid), self.state.eq(code["push"])]
                push()
        return m
