"""Internal interface signatures shared by the core's blocks (each written from the initiator's side).

- `SRAMWriteSignature` / `SRAMReadSignature`: a block's port onto an `amaranth.lib.memory.Memory` owned by another
  block (the owner connects them to its real memory ports). Reads are synchronous: data one cycle after addr.
- `ReadClientSignature`: a DMA reader's port onto the shared AXI read channel (see `vta.hw.axi_arbiter`).
- `TokenPopSignature` / `TokenPushSignature`: a stage's side of a dependency-token queue (`vta.hw.dep_queue`).
- `FaultSignature`: a block's report of a program fault to the `FaultLatch`; `HaltSignature`: the latch's answer.
- `CMD`: a command-queue entry: the instruction word and its index in the stream (fetch numbers them).
"""

from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..isa.layouts import INSN_BITS
from .regs import FAULT_CODE_BITS, FAULT_FIELD_BITS, INDEX_BITS

__all__ = ["SRAMWriteSignature", "SRAMReadSignature", "ReadClientSignature", "ReadRequest", "TokenPopSignature",
           "TokenPushSignature", "FaultSignature", "HaltSignature", "CMD", "CMD_BITS", "NO_INDEX"]

# A command-queue entry (the queues carry it as plain bits; stages read it through a View of this layout).
CMD = data.StructLayout({"insn": INSN_BITS, "index": INDEX_BITS})
CMD_BITS = CMD.size
# The position of a stage that holds no instruction and has none queued: after every instruction.
NO_INDEX = (1 << INDEX_BITS) - 1

# A read request onto the bus: a byte address (aligned to the bus width) and a number of bus beats (≥ 1).
ReadRequest = data.StructLayout({"addr": 32, "beats": 32})


class SRAMWriteSignature(wiring.Signature):
    def __init__(self, addr_width, data_width):
        super().__init__({"addr": Out(addr_width), "data": Out(data_width), "en": Out(1)})


class SRAMReadSignature(wiring.Signature):
    def __init__(self, addr_width, data_width):
        super().__init__({"addr": Out(addr_width), "data": In(data_width)})


class ReadClientSignature(wiring.Signature):
    """A bus reader: ``req`` its read requests (any number of beats; the arbiter splits them into bursts) and
    ``data`` the beats coming back, in the order of the requests. A reader may make its next request before the
    beats of the earlier ones have arrived; the arbiter may serve other readers between any two requests."""

    def __init__(self, bus_width):
        super().__init__({
            "req": Out(stream.Signature(ReadRequest)),
            "data": In(stream.Signature(bus_width)),
        })


class TokenPopSignature(wiring.Signature):
    """``valid``: a token is available; ``pop``: take one this cycle (only when valid); ``oldest``: the stream index
    of the instruction that pushed the token a pop takes now (meaningful while valid); ``oldest_next``: what ``oldest``
will be in the next cycle unless a pop happens in this one (so a stage can register its compare)."""

    def __init__(self):
        super().__init__({"pop": Out(1), "valid": In(1), "oldest": In(INDEX_BITS), "oldest_next": In(INDEX_BITS)})


class TokenPushSignature(wiring.Signature):
    """``ready``: the queue has room; ``push``: add one this cycle (only when ready), pushed by the instruction at
    stream index ``index``."""

    def __init__(self):
        super().__init__({"push": Out(1), "ready": In(1), "index": Out(INDEX_BITS)})


class FaultSignature(wiring.Signature):
    """A fault report (from the reporter's side): ``valid`` for one or more cycles with the `vta.hw.regs.Fault`
    ``code``, its ``field`` and the stream ``index`` of the offending instruction."""

    def __init__(self):
        super().__init__({"valid": Out(1), "code": Out(FAULT_CODE_BITS), "field": Out(FAULT_FIELD_BITS),
                          "index": Out(INDEX_BITS)})


class HaltSignature(wiring.Signature):
    """The fault latch's state (from the latch's side): once ``halted``, every instruction whose index is ≥
    ``index`` must not start (the stages drop them); the instructions before it still run to completion. ``pending``: a
    fault reported in an earlier cycle is still on its way through the latch (not yet in ``halted``/``index``): no
    instruction may start meanwhile. ``fresh``: ``halted``/``index`` changed at the last clock edge (a fault latched,
    or the launch cleared them), so a compare against them registered in the previous cycle is stale now."""

    def __init__(self):
        super().__init__({"halted": Out(1), "index": Out(INDEX_BITS), "pending": Out(1), "fresh": Out(1)})
