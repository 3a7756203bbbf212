"""Opcodes, ALU operations and memory ids: the enumerations of the VTA ISA.

These are `amaranth.lib.enum` enums with a shape, so the very same classes are fields of the `lib.data` layouts
(hardware decoders match on them) and plain Python enums for the encoder, assembler and simulators.
"""

from amaranth.lib import enum

__all__ = ["Opcode", "AluOp", "MemId"]


class Opcode(enum.Enum, shape=3):
    LOAD = 0
    STORE = 1
    GEMM = 2
    FINISH = 3
    ALU = 4


class AluOp(enum.Enum, shape=3):
    """Element-wise int32 operations of the tensor ALU (``acc[dst] = op(acc[dst], src or imm)``)."""
    MIN = 0
    MAX = 1
    ADD = 2
    SHR = 3   # arithmetic; a negative amount shifts left (upstream lowers ``x << c`` to SHR by -c)
    MUL = 4   # low 32 bits of the product (upstream's functional simulator has it; its RTL does not)
    # This project's extensions (upstream leaves 5–7 undefined), for one-pass epilogues (docs/semantics.md):
    MOV = 5   # acc[dst] = src or imm (a tile's accumulator starts at its bias in one pass)
    SETQ = 6  # no acc access: sets the out requantization (imm[4:0] shift, imm[5] relu) of later requant words


class MemId(enum.Enum, shape=3):
    """Which buffer a LOAD fills or a STORE drains."""
    UOP = 0
    WGT = 1
    INP = 2
    ACC = 3
    OUT = 4
    ACC_8BIT = 5  # int8 in DRAM, sign-extended into the int32 accumulator
