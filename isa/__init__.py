"""The two-level VTA instruction set: 128-bit task instructions and 32-bit micro-ops."""

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

__all__ = ["AluOp", "MemId", "Opcode", "ISALayouts", "Field", "Load", "Store", "Gemm", "Alu", "Finish", "Uop",
           "Insn", "encode", "decode", "encode_uop", "decode_uop", "encode_program", "decode_program",
           "encode_uops", "decode_uops"]

from .asm import AsmError, Program, assemble, disassemble
from .verify import Problem, check_program, verify

__all__ += ["AsmError", "Program", "assemble", "disassemble", "Problem", "verify", "check_program"]
