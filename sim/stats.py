"""`RunStats` counting, in one place: every device that reports instruction, byte, uop, MAC and ALU-op counts
(`FunctionalSim` while it executes, `VerilatorSim` and `SerialDevice` by decoding the program on the host) calls
`count_insn` once per executed instruction, so two devices can never disagree on what a program did.
"""

from ..device import RunStats
from ..isa.opcodes import AluOp, MemId, Opcode
from ..isa.stages import INSN_BYTES, MEMORY_TYPES

__all__ = ["new_stats", "count_insn", "count_program", "BUFFERS"]

BUFFERS = ("uop", "inp", "wgt", "acc", "out")
_OPCODE_NAMES = {op.value: op.name for op in Opcode}
_LOAD, _STORE, _GEMM, _ALU = Opcode.LOAD.value, Opcode.STORE.value, Opcode.GEMM.value, Opcode.ALU.value
_SETQ = AluOp.SETQ.value   # sets the requantization register: no uop iterations
# memory_type value → (buffer, MemoryType) for the types a LOAD may name
_LOADABLE = {m.value: t for m, t in MEMORY_TYPES.items() if t.loadable}
_OUT = MEMORY_TYPES[MemId.OUT]


def new_stats():
    """Zeroed `RunStats`: every opcode and every buffer (plus ``insn``) present with count 0."""
    return RunStats(insns={op.name: 0 for op in Opcode}, bytes=dict.fromkeys(("insn", *BUFFERS), 0))


def count_insn(stats, cfg, opcode, f):
    """Add one executed instruction (``opcode`` value, decoded fields ``f``) to ``stats``.

    LOAD/STORE count the DRAM bytes of their ``y_size × x_size`` elements in the buffer they fill or drain; GEMM and
    ALU count their uop iterations (``iter_out · iter_in · (uop_end − uop_bgn)``), GEMM without ``reset_reg`` its
    MACs and ALU its lane operations (SETQ iterates nothing: it counts as an instruction only).
    """
    stats.insns[_OPCODE_NAMES[opcode]] += 1
    stats.bytes["insn"] += INSN_BYTES
    if opcode == _LOAD or opcode == _STORE:
        mem = _OUT if opcode == _STORE else _LOADABLE.get(f["memory_type"])
        if mem is not None:
            stats.bytes[mem.buffer] += f["y_size"] * f["x_size"] * mem.dram_elem_bytes(cfg)
    elif (opcode == _GEMM or (opcode == _ALU and f["alu_opcode"] != _SETQ)) and f["uop_bgn"] < f["uop_end"]:
        iters = f["iter_out"] * f["iter_in"] * (f["uop_end"] - f["uop_bgn"])
        stats.uops += iters
        if opcode == _GEMM and not f["reset_reg"]:
            stats.macs += iters * cfg.macs_per_cycle
        elif opcode == _ALU:
            stats.alu_ops += iters * cfg.batch * cfg.block_out


def count_program(cfg, image):
    """`RunStats` counts of the instructions up to the first FINISH of ``image``, decoded on the host.

    For devices that cannot count while executing. Raises `ProgramError` for a malformed instruction or a stream
    without FINISH, before anything runs.
    """
    from ..errors import ProgramError
    from .decode import InsnStream
    stream = InsnStream(cfg, image)
    stats = new_stats()
    for k in range(stream.count):
        stream.check(k)
        opcode = stream.opcode[k]
        count_insn(stats, cfg, opcode, stream.fields(k))
        if opcode == Opcode.FINISH.value:
            return stats
    raise ProgramError(f"no FINISH among the {stream.count} instructions at this insn_addr (a run must end with "
                       f"FINISH)")
