"""Instruction fetch: reads the instruction stream in chunks and routes each instruction to its stage's queue.

Chunks are read into a small instruction buffer (at most its free space, so the bus is never held by a full
buffer). Dispatch follows `vta.isa.stages`: LOAD of INP/WGT → load; STORE → store; everything else (LOAD
UOP/ACC/ACC_8BIT, GEMM, ALU, FINISH, and malformed words) → compute. After the first FINISH is dispatched, the
rest of the stream is dropped (already fetched instructions are drained from the buffer and no new chunk is read).

Each dispatched instruction carries its index in the stream (`vta.hw.ports.CMD`), by which faults are reported and
the stages drop what follows a fault. Once the run is halted by a fault, fetch stops as after FINISH. At launch, a
stream reaching outside the DMA window ``[dma_base, dma_limit]`` is a FETCH_RANGE fault (index: the first
instruction outside) and nothing is fetched.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from ..isa.layouts import INSN_BITS
from ..isa.opcodes import Opcode
from ..isa.stages import INSN_BYTES, MEMORY_TYPES, stage_of_fields
from .dma_read import DMARead
from .ports import CMD_BITS, FaultSignature, HaltSignature, ReadClientSignature
from .regs import INDEX_BITS, Fault

__all__ = ["Fetch"]


def dispatched_to(stage, insn):
    """1 when the instruction ``insn`` (a View of ``cfg.isa.insn``) runs in ``stage``, per `vta.isa.stages`."""
    terms = []
    for op in Opcode:
        if op == Opcode.LOAD:
            types = [m for m, t in MEMORY_TYPES.items() if t.load_stage == stage]
            if types:
                terms.append((insn.hdr.opcode == op) & Cat(*(insn.mem.memory_type == m for m in types)).any())
        elif stage_of_fields(op) == stage:
            terms.append(insn.hdr.opcode == op)
    return Cat(*terms).any()


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
            "dma_base": In(32),
            "dma_limit": In(32),
            "busy": Out(1),
            "load_q": Out(stream.Signature(CMD_BITS)),
            "compute_q": Out(stream.Signature(CMD_BITS)),
            "store_q": Out(stream.Signature(CMD_BITS)),
            "fault": Out(FaultSignature()),
            "halt": In(HaltSignature()),
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
        insn = data.View(self.cfg.isa.insn, head)
        to_load = Signal()
        to_store = Signal()
        to_compute = Signal()
        m.d.comb += [
            to_store.eq(dispatched_to("store", insn)),
            to_load.eq(dispatched_to("load", insn)),
            to_compute.eq(~to_load & ~to_store),   # compute also takes what no stage claims (it rejects it)
        ]
        disp_index = Signal(INDEX_BITS)   # stream index of the head instruction
        for q in (self.load_q, self.compute_q, self.store_q):
            m.d.comb += q.payload.eq(Cat(head, disp_index))
        m.d.comb += [
            self.load_q.valid.eq(buf.r_rdy & ~stopped & to_load),
            self.store_q.valid.eq(buf.r_rdy & ~stopped & to_store),
            self.compute_q.valid.eq(buf.r_rdy & ~stopped & to_compute),
        ]
        accepted = Signal()
        m.d.comb += accepted.eq((self.load_q.valid & self.load_q.ready) | (self.store_q.valid & self.store_q.ready)
                                | (self.compute_q.valid & self.compute_q.ready))
        m.d.comb += buf.r_en.eq(stopped | accepted)
        with m.If(accepted):
            m.d.sync += disp_index.eq(disp_index + 1)
        with m.If((accepted & (insn.hdr.opcode == Opcode.FINISH)) | self.halt.halted):
            m.d.sync += stopped.eq(1)

        # -- the stream against the DMA window, at launch (reported the cycle after: launch clears the latch) ----
        log_ib = exact_log2(INSN_BYTES)
        addr, count = self.insn_addr, self.insn_count
        end = Signal(33 + log_ib)     # one past the stream's last byte
        m.d.comb += end.eq(addr + (count << log_ib))
        outside = (count != 0) & ((addr < self.dma_base) | (end > self.dma_limit + 1))
        fits = Signal(33)             # whole instructions from insn_addr up to the window's end
        m.d.comb += fits.eq(Mux((addr < self.dma_base) | (addr > self.dma_limit), 0,
                                (self.dma_limit + 1 - addr) >> log_ib))
        launch_fault = Signal()
        launch_index = Signal(INDEX_BITS)
        m.d.sync += [launch_fault.eq(self.launch & outside), launch_index.eq(fits)]
        m.d.comb += [self.fault.valid.eq(launch_fault), self.fault.code.eq(Fault.FETCH_RANGE),
                     self.fault.field.eq(0), self.fault.index.eq(launch_index)]

        m.d.comb += self.busy.eq(dma.busy | (buf.level != 0) | (~stopped & (left != 0)))

        with m.If(self.launch):
            m.d.sync += [next_insn.eq(self.insn_addr[log_ib:]), left.eq(Mux(outside, 0, self.insn_count)),
                         stopped.eq(outside), disp_index.eq(0)]
        return m
