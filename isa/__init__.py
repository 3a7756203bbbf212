"""The two-level VTA instruction set: 128-bit task instructions and 32-bit micro-ops, and its routing table."""

from . import stages
from .asm import AsmError, Program, assemble, disassemble
from .insn import *  # noqa: F403  (the instruction classes and codecs: insn.__all__, re-exported)
from .insn import __all__ as _insn_all
from .layouts import Field, ISALayouts
from .opcodes import AluOp, MemId, Opcode
from .stages import MEMORY_TYPES, QUEUE_DEPTH, QUEUES, STAGE_QUEUES, STAGES, MemoryType, queue_of, stage_of
from .verify import Problem, check_program, verify

__all__ = ["AluOp", "MemId", "Opcode", "ISALayouts", "Field", *_insn_all,
           "AsmError", "Program", "assemble", "disassemble", "Problem", "verify", "check_program",
           "stages", "MEMORY_TYPES", "QUEUE_DEPTH", "QUEUES", "STAGE_QUEUES", "STAGES", "MemoryType", "queue_of",
           "stage_of"]
