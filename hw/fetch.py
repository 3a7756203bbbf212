"""Instruction fetch: reads the instruction stream in chunks and routes each instruction to its stage's queue.

Chunks are read into a small instruction buffer (at most its free space, so the bus is never held by a full
buffer). Dispatch: LOAD of INP/WGT → load; STORE → store; everything else (LOAD UOP/ACC/ACC_8BIT, GEMM, ALU,
FINISH) → compute. After the first FINISH is dispatched, the rest of the stream is dropped (already fetched
instructions are drained from the buffer and no new chunk is read).
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ..isa.layouts import INSN_BITS
from ..isa.opcodes import MemId, Opcode
from .dma_read import DMARead
from .ports import ReadClientSignature

__all__ = ["Fetch"]


class Fetch(wiring.Component):
    """``launch`` (one cycle) starts fetching ``insn_count`` instructions at byte address ``insn_addr``.

    ``busy`` is high while instructions are left to read, in flight, or buffered.
    """

    def __init__(self, cfg, *, buffer_depth=32):
        if buffer_depth < 2 or buffer_depth & (buffer_depth - 1):
            raise ValueError(f"buffer_depth must be a power of two ≥ 2, not {buffer_depth!r}")
        self.cfg = cfg
        self.buffer_depth = buffer_depth
        super().__init__({
            "launch": In(1),
            "insn_addr": In(32),
            "insn_count": In(32),
            "busy": Out(1),
            "load_q": Out(stream.Signature(INSN_BITS)),
            "compute_q": Out(stream.Signature(INSN_BITS)),
            "store_q": Out(stream.Signature(INSN_BITS)),
            "bus": Out(ReadClientSignature(cfg.bus_width)),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self.buffer_depth
        m.submodules.dma = dma = DMARead(elem_bits=INSN_BITS, bus_width=self.cfg.bus_width)
        m.submodules.buf = buf = SyncFIFOBuffered(width=INSN_BITS, depth=depth)
        wiring.connect(m, wiring.flipped(self.bus), dma.bus)

        next_insn = Signal(32)   # element (16-byte) index of the next instruction to read
        left = Signal(32)
        stopped = Signal()

        # -- read chunks into the buffer ----------------------------------------------------------------------------
        free = Signal(range(depth + 1))
        chunk = Signal(range(depth + 1))
        m.d.comb += [
            free.eq(depth - buf.level),
            chunk.eq(Mux(left < free, left, free)),
        ]
        issue = Signal()
        m.d.comb += issue.eq(~dma.busy & ~stopped & (left != 0) & (buf.level <= depth // 2) & ~self.launch)
        m.d.comb += [
            dma.start.eq(issue),
            dma.elem_addr.eq(next_insn),
            dma.x_size.eq(chunk),
            dma.x_stride.eq(0),
            dma.y_size.eq(1),
            buf.w_data.eq(dma.elem.payload),
            buf.w_en.eq(dma.elem.valid),
            dma.elem.ready.eq(buf.w_rdy),
        ]
        with m.If(issue):
            m.d.sync += [next_insn.eq(next_insn + chunk), left.eq(left - chunk)]

        # -- dispatch -----------------------------------------------------------------------------------------------
        head = buf.r_data
        opcode = head[0:3]
        mem_type = head[7:10]
        to_load = Signal()
        to_store = Signal()
        to_compute = Signal()
        m.d.comb += [
            to_store.eq(opcode == Opcode.STORE.value),
            to_load.eq((opcode == Opcode.LOAD.value) & ((mem_type == MemId.INP.value) | (mem_type == MemId.WGT.value))),
            to_compute.eq(~to_load & ~to_store),
        ]
        for q in (self.load_q, self.compute_q, self.store_q):
            m.d.comb += q.payload.eq(head)
        m.d.comb += [
            self.load_q.valid.eq(buf.r_rdy & ~stopped & to_load),
            self.store_q.valid.eq(buf.r_rdy & ~stopped & to_store),
            self.compute_q.valid.eq(buf.r_rdy & ~stopped & to_compute),
        ]
        accepted = Signal()
        m.d.comb += accepted.eq((self.load_q.valid & self.load_q.ready) | (self.store_q.valid & self.store_q.ready)
                                | (self.compute_q.valid & self.compute_q.ready))
        m.d.comb += buf.r_en.eq(stopped | accepted)
        with m.If(accepted & (opcode == Opcode.FINISH.value)):
            m.d.sync += stopped.eq(1)

        m.d.comb += self.busy.eq(dma.busy | (buf.level != 0) | (~stopped & (left != 0)))

        with m.If(self.launch):
            m.d.sync += [next_insn.eq(self.insn_addr[4:]), left.eq(self.insn_count), stopped.eq(0)]
        return m
