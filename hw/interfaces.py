"""Reusable interface signatures of the VTA core, each written from the initiator's side.

- `AXI4Signature`: the core's memory master (INCR bursts, no IDs: one outstanding transaction per direction).
- `CSRSignature`: the host's register port into the core (see `vta.hw.regs` for the register map).
- `DMACommandSignature`: the command port of the 2-D strided DMA engines (`DMARead`, `DMAWrite`).
"""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..isa.layouts import MEM

__all__ = ["AXI4Signature", "CSRSignature", "DMACommandSignature", "dma_command"]


class AXI4Signature(wiring.Signature):
    """An AXI4 master port: read address/data and write address/data/response channels.

    Directions are from the master's side (``Out`` is driven by the master). Only the signals VTA needs are
    present: INCR bursts (``burst`` fixed to 1 by the master), ``len`` + 1 beats of ``data_width`` bits, ``size``
    = log2(bytes per beat). A burst never crosses a 4 KiB boundary. Read and write responses are in order.
    """

    def __init__(self, *, addr_width=32, data_width=64):
        if data_width not in (32, 64, 128, 256, 512):
            raise ValueError(f"AXI data width must be 32, 64, 128, 256 or 512, not {data_width}")
        self.addr_width = addr_width
        self.data_width = data_width

        def addr_channel():
            return Out(wiring.Signature({
                "addr": Out(addr_width), "len": Out(8), "size": Out(3), "burst": Out(2),
                "valid": Out(1), "ready": In(1),
            }))

        super().__init__({
            "ar": addr_channel(),
            "r": Out(wiring.Signature({
                "data": In(data_width), "resp": In(2), "last": In(1), "valid": In(1), "ready": Out(1),
            })),
            "aw": addr_channel(),
            "w": Out(wiring.Signature({
                "data": Out(data_width), "strb": Out(data_width // 8), "last": Out(1),
                "valid": Out(1), "ready": In(1),
            })),
            "b": Out(wiring.Signature({"resp": In(2), "valid": In(1), "ready": Out(1)})),
        })

    def __eq__(self, other):
        return (isinstance(other, AXI4Signature) and self.addr_width == other.addr_width
                and self.data_width == other.data_width)

    def __hash__(self):
        return hash((AXI4Signature, self.addr_width, self.data_width))

    def __repr__(self):
        return f"AXI4Signature(addr_width={self.addr_width}, data_width={self.data_width})"


class CSRSignature(wiring.Signature):
    """The host's 32-bit register port: a write strobe with address and data; read data is combinational.

    From the host's side: the host drives ``addr`` (byte address, word aligned), ``w_data`` and ``w_en`` (one cycle
    per write); ``r_data`` holds the register at ``addr`` in the same cycle.
    """

    def __init__(self, *, addr_width=8):
        self.addr_width = addr_width
        super().__init__({
            "addr": Out(addr_width), "w_en": Out(1), "w_data": Out(32), "r_data": In(32),
        })

    def __eq__(self, other):
        return isinstance(other, CSRSignature) and self.addr_width == other.addr_width

    def __hash__(self):
        return hash((CSRSignature, self.addr_width))


class DMACommandSignature(wiring.Signature):
    """A 2-D strided DMA command, from the issuer's side: ``y_size`` rows of ``x_size`` elements, row ``y`` at DRAM
    element ``elem_addr + y·x_stride`` (addresses and strides count elements, not bytes).

    The issuer pulses ``start`` for one cycle while ``busy`` is low; the engine samples the fields in that cycle
    (they need not stay valid afterwards) and ignores a start with a zero size. ``busy`` is high from the next
    cycle until the transfer is complete.

    The engines splice these members flat into their own signatures (``dma.start``, ``dma.x_size`` …) rather than
    nesting them under one name, so the engines' ports stay those their users already drive.
    """

    def __init__(self):
        super().__init__({
            "start": Out(1),
            # as wide as the LOAD/STORE fields they come from
            "elem_addr": Out(MEM["dram_base"].shape),
            "x_size": Out(MEM["x_size"].shape),
            "x_stride": Out(MEM["x_stride"].shape),
            "y_size": Out(MEM["y_size"].shape),
            "busy": In(1),
        })

    def __eq__(self, other):
        return isinstance(other, DMACommandSignature)

    def __hash__(self):
        return hash(DMACommandSignature)

    def __repr__(self):
        return "DMACommandSignature()"


def dma_command(dma, start, fields):
    """The statements that command DMA engine ``dma`` (its `DMACommandSignature` members) to move the block a LOAD
    or STORE describes: ``start`` pulses it, ``fields`` has the instruction's ``dram_base``, ``x_size``,
    ``x_stride`` and ``y_size`` (a View of the ``mem`` layout, or a `LoadUnit`'s field ports)."""
    return [
        dma.start.eq(start),
        dma.elem_addr.eq(fields.dram_base),
        dma.x_size.eq(fields.x_size),
        dma.x_stride.eq(fields.x_stride),
        dma.y_size.eq(fields.y_size),
    ]
