"""The VTA core: fetch, load, compute and store stages, token queues, SRAMs and the shared AXI master.

```
          CSR ──► HostRegs ──launch──► Fetch ──► load_q ──► Load ────► inp/wgt SRAM ──► Compute ──► out SRAM ──► Store
                                          │     compute_q ─────────────────────────────────▲          store_q ──▲
                                          ▼                                                                     │
 AXI AR/R ◄── ReadArbiter ◄── fetch, inp, wgt, uop, acc, acc8 readers                      AXI AW/W/B ◄─────────┘
```
Token queues: l2g (load→compute), g2l (compute→load), g2s (compute→store), s2g (store→compute); like the SRAMs
they keep their contents across runs. ``done`` = compute has executed FINISH, load and store are idle with empty
command queues and fetch is idle.

Faults: fetch and the three stages check every instruction (`InsnCheck`, token and uop-index rules) and report to
the `FaultLatch`, which keeps the earliest; the stages drop everything from it on, and the run ends done with
CTRL_FAULT once the instructions before it have drained and no report is still on its way through the latch. Each
stage sees the (registered) position (``pos``) of the stage at the other end of each of its token queues, which
turns a token wait that program order cannot satisfy into a fault.
DMA_BASE/DMA_LIMIT bound every DMA address (checked before the DMA is issued).
"""

from amaranth.hdl import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..errors import ConfigError
from ..isa.stages import QUEUE_STAGES, STAGES
from .axi_arbiter import ReadArbiter
from .compute import Compute
from .dep_queue import DepQueue
from .fault_latch import FaultLatch
from .fetch import Fetch
from .host_regs import HostRegs
from .interfaces import AXI4Signature, CSRSignature
from .load import Load
from .perf import PROBE, PerfCounters
from .ports import CMD_BITS
from .regs import WAIT_BITS
from .store import Store

__all__ = ["VTACore"]

CMD_QUEUE_DEPTH = 512
# The read arbiter's clients (below) whose requests win: fetch, uop, acc, acc8 (not the load stage's inp, wgt).
URGENT_READERS = (0, 3, 4, 5)
# No new read burst while this many beats are in flight (twice the co-simulation's 16-cycle read latency, so a LOAD
# still streams a beat per cycle): compute's small reads then queue behind at most that plus one burst. Measured on
# ResNet-18's 1×1 stride-2 layers (benchmarks/tune.py whole --per-layer): C7 76.3 % of peak without the budget,
# 78.5 % with 32, 78.7 % with 20.
READ_BEAT_BUDGET = 32


class VTACore(wiring.Component):
    """The whole accelerator for one `VTAConfig`: an AXI4 master (``axi``) and the host register port (``csr``)."""

    def __init__(self, cfg, *, cmd_queue_depth=CMD_QUEUE_DEPTH):
        from ..config import VTAConfig
        if not isinstance(cfg, VTAConfig):
            raise ConfigError(f"cfg must be a VTAConfig (see vta.load_config), not {type(cfg).__name__}")
        if not isinstance(cmd_queue_depth, int) or cmd_queue_depth < 2:
            raise ConfigError(f"cmd_queue_depth must be an integer ≥ 2, not {cmd_queue_depth!r}")
        self.cfg = cfg
        self.cmd_queue_depth = cmd_queue_depth
        super().__init__({
            "axi": Out(AXI4Signature(addr_width=32, data_width=cfg.bus_width)),
            "csr": In(CSRSignature()),
            "probe": Out(PROBE),    # per-stage state and held instruction, for the co-simulation's trace only
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.regs = regs = HostRegs()
        m.submodules.perf = perf = PerfCounters()
        m.submodules.fetch = fetch = Fetch(cfg)
        m.submodules.load = load = Load(cfg)
        m.submodules.compute = compute = Compute(cfg)
        m.submodules.store = store = Store(cfg)
        wiring.connect(m, wiring.flipped(self.csr), regs.csr)
        stages = dict(zip(STAGES, (load, compute, store), strict=True))

        # -- command queues ---------------------------------------------------------------------------------------
        queues = {}
        for name, stage in stages.items():
            q = SyncFIFOBuffered(width=CMD_BITS, depth=self.cmd_queue_depth)
            m.submodules[f"{name}_q"] = queues[name] = q
            src = getattr(fetch, f"{name}_q")
            m.d.comb += [
                q.w_data.eq(src.payload), q.w_en.eq(src.valid), src.ready.eq(q.w_rdy),
                stage.cmd.payload.eq(q.r_data), stage.cmd.valid.eq(q.r_rdy), q.r_en.eq(stage.cmd.ready),
            ]

        # -- token queues -----------------------------------------------------------------------------------------
        depth = cfg.dep_queue_depth
        for name, (pusher, popper) in QUEUE_STAGES.items():
            m.submodules[name] = dq = DepQueue(depth)
            wiring.connect(m, getattr(stages[pusher], name), dq.push)
            wiring.connect(m, getattr(stages[popper], name), dq.pop)
            m.d.comb += [getattr(stages[popper], f"peer_{name}").eq(stages[pusher].pos),
                         getattr(stages[pusher], f"peer_{name}").eq(stages[popper].pos)]

        # -- faults -----------------------------------------------------------------------------------------------
        reporters = [fetch, *stages.values()]
        m.submodules.faults = faults = FaultLatch(len(reporters), copies=len(reporters))   # a halt copy each
        for i, unit in enumerate(reporters):
            wiring.connect(m, unit.fault, getattr(faults, f"fault{i}"))
            copy = getattr(faults, f"halt_copy{i}")
            m.d.comb += [unit.halt.halted.eq(copy.halted), unit.halt.index.eq(copy.index),
                         unit.halt.pending.eq(copy.pending), unit.halt.fresh.eq(copy.fresh),
                         unit.dma_base.eq(regs.dma_base), unit.dma_limit.eq(regs.dma_limit)]
        halted = faults.halt.halted

        # -- SRAMs shared between stages --------------------------------------------------------------------------
        for name, writer, reader in (("inp", load, compute), ("wgt", load, compute), ("out", compute, store)):
            mem = Memory(shape=getattr(cfg, f"{name}_elem_bits"), depth=getattr(cfg, f"{name}_depth"), init=[])
            m.submodules[f"{name}_mem"] = mem
            wp = mem.write_port()
            rp = mem.read_port()
            wr = getattr(writer, f"{name}_wr")
            rd = getattr(reader, f"{name}_rd")
            m.d.comb += [wp.addr.eq(wr.addr), wp.data.eq(wr.data), wp.en.eq(wr.en),
                         rp.addr.eq(rd.addr), rd.data.eq(rp.data)]

        # -- AXI --------------------------------------------------------------------------------------------------
        clients = [fetch.bus, load.inp_bus, load.wgt_bus, compute.uop_bus, compute.acc_bus, compute.acc8_bus]
        # compute's and fetch's reads are a few beats each: they overtake the load stage's rows (`ReadArbiter`)
        m.submodules.arbiter = arb = ReadArbiter(len(clients), cfg.bus_width, urgent=URGENT_READERS,
                                                 max_beats=READ_BEAT_BUDGET)
        for i, c in enumerate(clients):
            wiring.connect(m, c, getattr(arb, f"client{i}"))
        wiring.connect(m, arb.ar, wiring.flipped(self.axi.ar))
        wiring.connect(m, arb.r, wiring.flipped(self.axi.r))
        for name in ("aw", "w", "b"):
            wiring.connect(m, getattr(store, name), wiring.flipped(getattr(self.axi, name)))

        # -- control and status -----------------------------------------------------------------------------------
        m.d.comb += [
            fetch.launch.eq(regs.launch),
            fetch.insn_addr.eq(regs.insn_addr),
            fetch.insn_count.eq(regs.insn_count),
            compute.clear.eq(regs.launch),
            faults.clear.eq(regs.launch),
            regs.finished.eq((compute.finished | (halted & ~compute.busy & (queues["compute"].level == 0)))
                             & ~load.busy & (queues["load"].level == 0) & ~store.busy
                             & (queues["store"].level == 0) & ~fetch.busy & ~faults.halt.pending),
            regs.halted.eq(halted),
            regs.fault_code.eq(faults.code),
            regs.fault_field.eq(faults.field),
            regs.fault_index.eq(faults.halt.index),
            regs.wait.eq(Cat(*(getattr(stages[st], f"wait_{q}") for _, (st, q) in sorted(WAIT_BITS.items())))),
            regs.fetch_busy.eq(fetch.busy),
            regs.load_busy.eq(load.busy),
            regs.compute_busy.eq(compute.busy),
            regs.store_busy.eq(store.busy),
            regs.load_stall.eq(load.stall),
            regs.compute_stall.eq(compute.stall),
            regs.store_stall.eq(store.stall),
            regs.gemm_active.eq(compute.gemm_active),
            regs.alu_active.eq(compute.alu_active),
            perf.launch.eq(regs.launch), perf.running.eq(regs.running), perf.addr.eq(self.csr.addr),
            regs.perf_data.eq(perf.r_data),
            self.probe.fetch_busy.eq(fetch.busy),
        ]
        for name, stage in stages.items():
            m.d.comb += [getattr(perf, f"{name}_state").eq(stage.state),
                         getattr(perf, f"{name}_taken").eq(stage.cmd.valid & stage.cmd.ready),
                         getattr(self.probe, f"{name}_state").eq(stage.state),
                         getattr(self.probe, f"{name}_held").eq(stage.held)]
        return m
