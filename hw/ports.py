"""Internal interface signatures shared by the core's blocks (each written from the initiator's side).

- `SRAMWriteSignature` / `SRAMReadSignature`: a block's port onto an `amaranth.lib.memory.Memory` owned by another
  block (the owner connects them to its real memory ports). Reads are synchronous: data one cycle after addr.
- `ReadClientSignature`: a DMA reader's port onto the shared AXI read channel (see `vta.hw.axi_arbiter`).
- `TokenPopSignature` / `TokenPushSignature`: a stage's side of a dependency-token queue (`vta.hw.dep_queue`).
"""

from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SRAMWriteSignature", "SRAMReadSignature", "ReadClientSignature", "ReadRequest", "TokenPopSignature",
           "TokenPushSignature"]

# A read request onto the bus: a byte address (aligned to the bus width) and a number of bus beats (≥ 1).
ReadRequest = data.StructLayout({"addr": 32, "beats": 32})


class SRAMWriteSignature(wiring.Signature):
    def __init__(self, addr_width, data_width):
        super().__init__({"addr": Out(addr_width), "data": Out(data_width), "en": Out(1)})


class SRAMReadSignature(wiring.Signature):
    def __init__(self, addr_width, data_width):
        super().__init__({"addr": Out(addr_width), "data": In(data_width)})


class ReadClientSignature(wiring.Signature):
    """A bus reader: ``lock`` held while it has a request in progress (it keeps the bus until it drops ``lock``,
    which it may only do after consuming every beat it requested), ``req`` its burst-free read requests and
    ``data`` the beats coming back in order."""

    def __init__(self, bus_width):
        super().__init__({
            "lock": Out(1),
            "req": Out(stream.Signature(ReadRequest)),
            "data": In(stream.Signature(bus_width)),
        })


class TokenPopSignature(wiring.Signature):
    """``valid``: a token is available; ``pop``: take one this cycle (only when valid)."""

    def __init__(self):
        super().__init__({"pop": Out(1), "valid": In(1)})


class TokenPushSignature(wiring.Signature):
    """``ready``: the queue has room; ``push``: add one this cycle (only when ready)."""

    def __init__(self):
        super().__init__({"push": Out(1), "ready": In(1)})
