"""The routing facts of the ISA: which stage runs an instruction, which buffer a memory_type names, which
dependency-token queue each flag of each stage pops or pushes. Written here once; fsim, the verifier, the JIT,
the random program generator, the Verilator device and the RTL (fetch dispatch, host registers, core) read them.

VTA has three stages joined by four token queues (docs/semantics.md):

- ``l2g`` load → compute, ``g2l`` compute → load, ``g2s`` compute → store, ``s2g`` store → compute.
- For a stage, *prev* is the stage before it in load → compute → store and *next* the one after; the load stage has
  no prev and the store stage no next, so those flags must be zero there.

LOADs of INP and WGT run in the load stage; LOADs of UOP, ACC and ACC_8BIT fill compute-stage buffers and run in
the compute stage (as upstream's fetch dispatches them). STORE runs in the store stage and only drains OUT.
"""

import dataclasses

from .layouts import DEP_FLAGS, INSN_BITS, UOP_BITS
from .opcodes import MemId, Opcode

__all__ = ["STAGES", "QUEUES", "QUEUE_DEPTH", "QUEUE_STAGES", "STAGE_QUEUES", "STAGE_POPS", "STAGE_PUSHES",
           "QUEUE_FLAGS", "DEP_FLAGS", "POP_FLAGS", "PUSH_FLAGS", "MemoryType", "MEMORY_TYPES", "LOAD_TYPES",
           "STORE_TYPES", "INSN_BYTES", "UOP_BYTES", "stage_of", "stage_of_fields", "queue_of", "queue_between",
           "memory_type"]

INSN_BYTES = INSN_BITS // 8
UOP_BYTES = UOP_BITS // 8

STAGES = ("load", "compute", "store")

# Each queue: (producer stage, consumer stage) and a readable description.
QUEUE_STAGES = {"l2g": ("load", "compute"), "g2l": ("compute", "load"),
                "g2s": ("compute", "store"), "s2g": ("store", "compute")}
QUEUES = {name: f"{src}→{dst}" for name, (src, dst) in QUEUE_STAGES.items()}

# Tokens a queue holds at most (upstream's hardware FIFOs; a push onto a full queue is a program error).
QUEUE_DEPTH = 1024


def _stage_queues():
    order = {s: i for i, s in enumerate(STAGES)}
    table = {}
    for stage in STAGES:
        flags = dict.fromkeys(DEP_FLAGS)
        for name, (src, dst) in QUEUE_STAGES.items():
            if dst == stage:       # this stage pops it
                flags["pop_prev_dep" if order[src] < order[stage] else "pop_next_dep"] = name
            if src == stage:       # this stage pushes it
                flags["push_prev_dep" if order[dst] < order[stage] else "push_next_dep"] = name
        table[stage] = flags
    return table


# stage → {flag: queue name or None (the stage has no such neighbour; the flag must be 0)}, flags in DEP_FLAGS order.
STAGE_QUEUES = _stage_queues()

POP_FLAGS = tuple(f for f in DEP_FLAGS if f.startswith("pop_"))
PUSH_FLAGS = tuple(f for f in DEP_FLAGS if f.startswith("push_"))
# The flags a stage really has, split by direction: stage → {flag: queue}, in DEP_FLAGS order.
STAGE_POPS = {s: {f: q for f, q in flags.items() if q and f in POP_FLAGS} for s, flags in STAGE_QUEUES.items()}
STAGE_PUSHES = {s: {f: q for f, q in flags.items() if q and f in PUSH_FLAGS} for s, flags in STAGE_QUEUES.items()}
# queue → (flag its producer pushes it with, flag its consumer pops it with).
QUEUE_FLAGS = {q: (next(f for f, x in STAGE_PUSHES[src].items() if x == q),
                   next(f for f, x in STAGE_POPS[dst].items() if x == q)) for q, (src, dst) in QUEUE_STAGES.items()}


def queue_of(stage, flag):
    """The queue ``flag`` (one of `DEP_FLAGS`) of an instruction in ``stage`` names, or ``None`` if it has none."""
    return STAGE_QUEUES[stage][flag]


def queue_between(src, dst):
    """The queue carrying tokens from stage ``src`` to stage ``dst``, or ``None`` if they are not neighbours."""
    return next((q for q, ends in QUEUE_STAGES.items() if ends == (src, dst)), None)


@dataclasses.dataclass(frozen=True)
class MemoryType:
    """What one memory_type means: the on-chip buffer, the stage a LOAD of it is dispatched to, and which element
    size (a key of ``VTAConfig.elem_bytes``) one DRAM element has."""
    mem: MemId
    buffer: str          # "uop", "wgt", "inp", "acc", "out"
    load_stage: str      # stage a LOAD of this type is dispatched to (fetch sends all but INP/WGT to compute)
    dram_elem: str       # key of cfg.elem_bytes for one element in DRAM
    loadable: bool
    storable: bool
    paddable: bool       # LOAD pads allowed (not for UOP and WGT)

    def dram_elem_bytes(self, cfg):
        """Bytes one element of this type occupies in DRAM under ``cfg``."""
        return cfg.elem_bytes[self.dram_elem]


MEMORY_TYPES = {m.mem: m for m in (
    MemoryType(MemId.UOP, "uop", "compute", "uop", loadable=True, storable=False, paddable=False),
    MemoryType(MemId.WGT, "wgt", "load", "wgt", loadable=True, storable=False, paddable=False),
    MemoryType(MemId.INP, "inp", "load", "inp", loadable=True, storable=False, paddable=True),
    MemoryType(MemId.ACC, "acc", "compute", "acc", loadable=True, storable=False, paddable=True),
    # a LOAD of OUT is invalid; fetch still dispatches it to compute, which rejects it
    MemoryType(MemId.OUT, "out", "compute", "out", loadable=False, storable=True, paddable=False),
    # int8 elements in DRAM, sign-extended into the int32 accumulator
    MemoryType(MemId.ACC_8BIT, "acc", "compute", "out", loadable=True, storable=False, paddable=True),
)}
LOAD_TYPES = tuple(m for m, t in MEMORY_TYPES.items() if t.loadable)
STORE_TYPES = tuple(m for m, t in MEMORY_TYPES.items() if t.storable)


def memory_type(mem):
    """The `MemoryType` of ``mem`` (a `MemId` or its integer value); `KeyError` for a value with no meaning."""
    try:
        return MEMORY_TYPES[MemId(mem)]
    except ValueError:
        raise KeyError(f"memory_type {mem!r} names no buffer (valid: "
                       f"{', '.join(f'{m.name}={m.value}' for m in MEMORY_TYPES)})") from None


# Lookups by member or raw value (calling the amaranth enum classes is slow on per-instruction paths).
_OPCODE_STAGES = {k: ("store" if op == Opcode.STORE else "compute") for op in Opcode if op != Opcode.LOAD
                  for k in (op, op.value)}
_LOAD_STAGES = {k: t.load_stage for m, t in MEMORY_TYPES.items() for k in (m, m.value)}


def stage_of_fields(opcode, memory_type=None):
    """The stage that runs an instruction with this ``opcode`` (and, for LOAD, ``memory_type``)."""
    if type(opcode) is not bool and type(memory_type) is not bool:   # fast path; odd values take the slow one
        try:
            stage = _OPCODE_STAGES.get(opcode) or (_LOAD_STAGES.get(memory_type) if opcode == Opcode.LOAD else None)
        except TypeError:   # unhashable
            stage = None
        if stage is not None:
            return stage
    opcode = Opcode(opcode)
    if opcode == Opcode.LOAD:
        return MEMORY_TYPES[MemId(memory_type)].load_stage  # ValueError for a memory_type with no meaning
    if opcode == Opcode.STORE:
        return "store"
    return "compute"


def stage_of(insn):
    """The stage ("load", "compute", "store") an instruction object (`vta.isa.Load`, ...) is dispatched to."""
    return stage_of_fields(insn.opcode, getattr(insn, "memory_type", None))
