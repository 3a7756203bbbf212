"""The two-level VTA instruction set: 128-bit task instructions and 32-bit micro-ops, and its routing table."""

from . import stages
from .asm import AsmError, Program, assemble, disassemble
from .insn import (
    Alu,
    Finish,
    Gemm,
    Insn,
    Load,
    Store,
    Uop,
    decode,
    decode_program,
    decode_uop,
    decode_uops,
    encode,
    encode_program,
    encode_uop,
    encode_uops,
)
from .layouts import Field, ISALayouts
from .opcodes import AluOp, MemId, Opcode
from .stages import MEMORY_TYPES, QUEUE_DEPTH, QUEUES, STAGE_QUEUES, STAGES, MemoryType, queue_of, stage_of
from .verify import Problem, check_program, verify

__all__ = ["AluOp", "MemId", "Opcode", "ISALayouts", "Field", "Load", "Store", "Gemm", "Alu", "Finish", "Uop",
           "Insn", "encode", "decode", "encode_uop", "decode_uop", "encode_program", "decode_program",
           "encode_uops", "decode_uops",
           "AsmError", "Program", "assemble", "disassemble", "Problem", "verify", "check_program",
           "stages", "MEMORY_TYPES", "QUEUE_DEPTH", "QUEUES", "STAGE_QUEUES", "STAGES", "MemoryType", "queue_of",
           "stage_of"]
