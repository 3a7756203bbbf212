"""The two-level VTA instruction set: 128-bit task instructions and 32-bit micro-ops."""

from .opcodes import AluOp, MemId, Opcode
from .layouts import ISALayouts, Field
from .insn import Load, Store, Gemm, Alu, Finish, Uop, Insn, encode, decode, encode_uop, decode_uop, \
    encode_program, decode_program, encode_uops, decode_uops

__all__ = ["AluOp", "MemId", "Opcode", "ISALayouts", "Field", "Load", "Store", "Gemm", "Alu", "Finish", "Uop",
           "Insn", "encode", "decode", "encode_uop", "decode_uop", "encode_program", "decode_program",
           "encode_uops", "decode_uops"]

from .asm import AsmError, Program, assemble, disassemble
from .verify import Problem, verify, check_program

__all__ += ["AsmError", "Program", "assemble", "disassemble", "Problem", "verify", "check_program"]
