"""The host register map of the VTA core (byte offsets on the `CSRSignature` port; 32-bit registers).

Modelled on upstream's VCR block: launch/done, a cycle counter, instruction count and base address. Offsets past
0x10 are this product's own: debug status and per-module performance counters. The RTL, the Verilator harness,
the UART bridge driver and the docs all read this one table.
"""

from enum import IntEnum

from ..isa.layouts import DEP_FLAGS
from ..isa.opcodes import MemId
from ..isa.stages import QUEUE_STAGES, QUEUES, STAGE_POPS, STAGE_PUSHES, STAGES

__all__ = ["Reg", "CTRL_LAUNCH", "CTRL_DONE", "CTRL_BUSY", "CTRL_FAULT", "WAIT_BITS", "PERF_COUNTERS", "Fault",
           "FAULT_CODE_BITS", "FAULT_FIELD_BITS", "INDEX_BITS", "QUEUE_IDS", "fault_error", "MODULE_STATES",
           "STATE_BITS", "STATE_COUNTERS", "INSN_COUNTERS", "STATE_COUNTER_BASE", "read_counters", "busy_summary"]


class Reg(IntEnum):
    CTRL = 0x00         # W bit0: launch (starts a run; clears done). R bit1: done (FINISH executed), bit2: busy.
    CYCLES = 0x04       # R: cycles from launch to done (frozen at done).
    INSN_COUNT = 0x08   # RW: number of 16-byte instructions to fetch.
    INSN_ADDR = 0x0C    # RW: byte address of the first instruction (16-byte aligned).
    WAIT = 0x10         # R: which module waits on which token queue right now (see WAIT_BITS), for deadlock reports.
    DMA_BASE = 0x14     # RW: lowest byte address any DMA (fetch, LOAD, STORE) may touch (default 0).
    DMA_LIMIT = 0x18    # RW: highest byte address any DMA may touch, inclusive (default 0xFFFFFFFF).
    FAULT = 0x1C        # R: the run's fault, bits 7:0 a `Fault` code, 15:8 its field (see `Fault`); 0 = none.
    FAULT_INDEX = 0x44  # R: stream index of the instruction the fault names.
    # Performance counters, all cleared on launch, each counting cycles of one condition.
    FETCH_BUSY = 0x20   # fetch has instructions left to read or dispatch
    LOAD_BUSY = 0x24    # load module executing an instruction (including its memory waits)
    COMPUTE_BUSY = 0x28  # compute module executing an instruction
    STORE_BUSY = 0x2C   # store module executing an instruction
    LOAD_STALL = 0x30   # load module holding an instruction but waiting for a dependency token
    COMPUTE_STALL = 0x34
    STORE_STALL = 0x38
    GEMM_ACTIVE = 0x3C  # cycles in which the GEMM core performed a (non-reset) uop's MACs
    ALU_ACTIVE = 0x40   # cycles in which the tensor ALU retired a uop


CTRL_LAUNCH = 1 << 0
CTRL_DONE = 1 << 1
CTRL_BUSY = 1 << 2
CTRL_FAULT = 1 << 3   # R: the run ended (done) because the core rejected an instruction; see Reg.FAULT

INDEX_BITS = 32        # an instruction's position in the stream (insn_count is a 32-bit register)
FAULT_CODE_BITS = 8
FAULT_FIELD_BITS = 8
# Token queues by number (Reg.FAULT field of QUEUE_OVERFLOW / DEADLOCK).
QUEUE_IDS = {q: i for i, q in enumerate(QUEUE_STAGES)}


class Fault(IntEnum):
    """Why the core halted (Reg.FAULT bits 7:0); the field (bits 15:8) is said per code."""
    NONE = 0
    MALFORMED = 1       # unknown opcode, enum value with no meaning, a reserved bit set or a bad SETQ; field: 0
    FLAG_QUEUE = 2      # a dependency flag naming a queue the stage has not; field: the flag (DEP_FLAGS order)
    LOAD_TYPE = 3       # LOAD of a memory_type LOAD cannot fill; field: memory_type
    STORE_TYPE = 4      # STORE of a memory_type STORE cannot drain; field: memory_type
    PAD = 5             # a pad on a LOAD that takes none (UOP, WGT) or on a STORE; field: memory_type
    ALU_RESET = 6       # ALU with reset_reg set; field: 0
    SRAM_RANGE = 7      # LOAD/STORE SRAM block past its buffer; field: memory_type
    DMA_RANGE = 8       # LOAD/STORE DRAM block outside the DMA window; field: memory_type
    UOP_RANGE = 9       # GEMM/ALU uop_end past the uop buffer; field: 0
    UOP_RESERVED = 10   # a micro-op word with reserved bits set; field: 0
    DST_RANGE = 11      # GEMM/ALU acc (dst) index past the acc buffer; field: 0
    SRC_RANGE = 12      # GEMM inp / ALU acc (src) index past its buffer; field: 0
    WGT_RANGE = 13      # GEMM wgt index past the wgt buffer; field: 0
    QUEUE_OVERFLOW = 14  # a token push onto a full queue that no later pop can drain first; field: queue id
    DEADLOCK = 15       # a token pop from an empty queue that no earlier instruction fills; field: queue id
    FETCH_RANGE = 16    # instruction fetch outside the DMA window; field: 0 (index: first instruction outside)


_FIELD_MEANING = {Fault.FLAG_QUEUE: "flag", Fault.LOAD_TYPE: "mem", Fault.STORE_TYPE: "mem", Fault.PAD: "mem",
                  Fault.SRAM_RANGE: "mem", Fault.DMA_RANGE: "mem", Fault.QUEUE_OVERFLOW: "queue",
                  Fault.DEADLOCK: "queue"}


def fault_error(cfg, value, index, *, dma_base=0, dma_limit=0xFFFF_FFFF, where="the core"):
    """The `ProgramError` (`DeadlockError` for DEADLOCK) the host raises for a Reg.FAULT ``value`` reported at
    instruction ``index``; names the field and the limit it broke (from ``cfg`` and the DMA window)."""
    from ..errors import DeadlockError, ProgramError
    try:
        code = Fault(value & ((1 << FAULT_CODE_BITS) - 1))
    except ValueError:
        return ProgramError(f"{where} halted with unknown fault code {value:#x}", index=index)
    field = value >> FAULT_CODE_BITS & ((1 << FAULT_FIELD_BITS) - 1)
    kind = _FIELD_MEANING.get(code)
    name = {"flag": lambda f: DEP_FLAGS[f] if f < len(DEP_FLAGS) else f"flag {f}",
            "mem": lambda f: MemId(f).name if f in {m.value for m in MemId} else f"memory_type {f}",
            "queue": lambda f: list(QUEUE_IDS)[f] if f < len(QUEUE_IDS) else f"queue {f}"}.get(kind, str)(field)
    window = f"the DMA window [{dma_base:#x}, {dma_limit:#x}]"
    depth = cfg.depths
    text = {
        Fault.MALFORMED: "malformed instruction word (unknown opcode, memory_type or alu_opcode, a reserved bit "
                         "set, or an ALU SETQ without use_imm = 1, imm < 64 and requant = 0)",
        Fault.FLAG_QUEUE: f"{name} names a queue this instruction's stage has not; {name} must be 0, not 1",
        Fault.LOAD_TYPE: f"LOAD memory_type={name} is not loadable",
        Fault.STORE_TYPE: f"STORE memory_type must be OUT, not {name}",
        Fault.PAD: f"{'STORE' if name == 'OUT' else 'LOAD ' + name}: pads must be 0 (padding is for INP, ACC and "
                   f"ACC_8BIT loads only)",
        Fault.ALU_RESET: "ALU: reset_reg must be 0 (only GEMM resets the accumulator), not 1",
        Fault.SRAM_RANGE: f"{'STORE' if name == 'OUT' else 'LOAD ' + name}: sram_base + block size reaches past "
                          f"the {_buffer(name)} buffer depth {depth.get(_buffer(name), '?')}",
        Fault.DMA_RANGE: f"{'STORE' if name == 'OUT' else 'LOAD ' + name}: the DRAM block (dram_base, y_size, "
                         f"x_size, x_stride) reaches outside {window}",
        Fault.UOP_RANGE: f"GEMM/ALU: uop_end is past the uop buffer depth {cfg.uop_depth}",
        Fault.UOP_RESERVED: "GEMM/ALU: a micro-op word it uses has reserved bits set",
        Fault.DST_RANGE: f"GEMM/ALU: dst_idx + loop offsets reach past the acc buffer depth {cfg.acc_depth}",
        Fault.SRC_RANGE: f"GEMM/ALU: src_idx + loop offsets reach past the inp (GEMM, depth {cfg.inp_depth}) or "
                         f"acc (ALU, depth {cfg.acc_depth}) buffer",
        Fault.WGT_RANGE: f"GEMM: wgt_idx + loop offsets reach past the wgt buffer depth {cfg.wgt_depth}",
        Fault.QUEUE_OVERFLOW: f"pushes a token to the {name} ({QUEUES.get(name, '?')}) queue, which already holds "
                              f"{cfg.dep_queue_depth} tokens (dep_queue_depth={cfg.dep_queue_depth})",
        Fault.DEADLOCK: f"{QUEUE_STAGES.get(name, ('?', '?'))[1]} waits for a {name} token "
                        f"({QUEUES.get(name, '?')}) that program order never provides: the queue is empty here, no "
                        f"earlier instruction pushed a token to it (deadlock)",
        Fault.FETCH_RANGE: f"instruction fetch reaches outside {window}",
    }.get(code, code.name)
    cls = DeadlockError if code == Fault.DEADLOCK else ProgramError
    return cls(f"{text} (fault {code.name}, reported by {where})", index=index)


def _buffer(mem_name):
    from ..isa.stages import MEMORY_TYPES
    try:
        return MEMORY_TYPES[MemId[mem_name]].buffer
    except KeyError:
        return "?"

# Bits of Reg.WAIT: (module, queue it waits to pop), one per queue a stage pops, in stage and flag order:
# 0 load/g2l, 1 compute/l2g, 2 compute/s2g, 3 store/g2s. The stage modules drive each as ``wait_<queue>``.
WAIT_BITS = dict(enumerate((stage, queue) for stage in STAGES for queue in STAGE_POPS[stage].values()))

PERF_COUNTERS = {
    "busy": {"fetch": Reg.FETCH_BUSY, "load": Reg.LOAD_BUSY, "compute": Reg.COMPUTE_BUSY, "store": Reg.STORE_BUSY},
    "stall": {"load": Reg.LOAD_STALL, "compute": Reg.COMPUTE_STALL, "store": Reg.STORE_STALL},
    "active": {"gemm": Reg.GEMM_ACTIVE, "alu": Reg.ALU_ACTIVE},
}

# -- the module-state counters -------------------------------------------------------------------------------------
# Every cycle of a run, each stage is in exactly one state (so per stage the counts add up to Reg.CYCLES):
#   idle           holds no instruction (compute: and its GEMM/ALU pipeline is empty)
#   busy           executing (or checking / draining) an instruction
#   dram           executing a LOAD/STORE whose data is not moving this cycle: waiting on the AXI bus (arbitration,
#                  read latency, write responses)
#   wait_<queue>   waiting on a token queue: to pop it (empty) for the queues the stage pops, for room to push to it
#                  (full) for the queues it pushes
# A stage drives its state as the index into its tuple below (``state`` port, `STATE_BITS` wide).
MODULE_STATES = {stage: ("idle", "busy", "dram",
                         *(f"wait_{q}" for q in (*STAGE_POPS[stage].values(), *STAGE_PUSHES[stage].values())))
                 for stage in STAGES}
STATE_BITS = max(len(s) - 1 for s in MODULE_STATES.values()).bit_length()
STATE_COUNTER_BASE = 0x48
# (stage, state) → register offset, then stage → offset of its instruction count (instructions it took), all from
# STATE_COUNTER_BASE on, 32-bit each, cleared on launch and frozen at done like the other counters.
STATE_COUNTERS = {}
INSN_COUNTERS = {}
for _stage in STAGES:
    for _state in MODULE_STATES[_stage]:
        STATE_COUNTERS[_stage, _state] = STATE_COUNTER_BASE + 4 * (len(STATE_COUNTERS) + len(INSN_COUNTERS))
    INSN_COUNTERS[_stage] = STATE_COUNTER_BASE + 4 * (len(STATE_COUNTERS) + len(INSN_COUNTERS))
del _stage, _state


def read_counters(read, *, states=True):
    """A finished run's counters through ``read(offset) -> int`` (the Verilator CSR port, the UART link): the
    `vta.device.RunStats` fields ``cycles``, ``busy`` (busy and active counts), ``stall`` and, when ``states`` (the
    core has the state counters; a stand-in datapath has not), ``states`` and ``stage_insns``.

    One reader for every device, so the Verilator co-simulation and a board report the same fields the same way."""
    busy = {name: read(reg) for name, reg in PERF_COUNTERS["busy"].items()}
    busy.update({name: read(reg) for name, reg in PERF_COUNTERS["active"].items()})
    out = {"cycles": read(Reg.CYCLES), "busy": busy,
           "stall": {name: read(reg) for name, reg in PERF_COUNTERS["stall"].items()}}
    if states:
        out["states"] = {}
        for (stage, state), reg in STATE_COUNTERS.items():
            out["states"].setdefault(stage, {})[state] = read(reg)
        out["stage_insns"] = {stage: read(reg) for stage, reg in INSN_COUNTERS.items()}
    return out


def busy_summary(read):
    """``busy cycles: fetch N, load N, …`` through ``read(offset) -> int``: how far each module got, for the
    message of a run that did not finish (the same words from every device)."""
    return "busy cycles: " + ", ".join(f"{name} {read(reg)}" for name, reg in PERF_COUNTERS["busy"].items())
