"""The word-level rules of this project's one-pass-epilogue extension (docs/semantics.md, "Requantizing out
writes"), in one place so that the decoder, the static checker, the functional simulator and the generators can
never disagree.

ALU ``SETQ`` sets the compute stage's requantization register Q = (shift, relu) from its immediate: ``imm[4:0]``
the arithmetic right shift, ``imm[5]`` the ReLU flag, every other immediate bit 0. A SETQ word that breaks that
(no immediate, stray immediate bits, or the ``requant`` bit set on a word that writes no out) is malformed, like a
word with a reserved bit set. A GEMM or ALU word with ``requant`` = 1 writes ``clamp(result >> shift, lo, hi)``
into out instead of the result's low bits (``lo`` = 0 with relu, else the most negative out value).
"""

from ..errors import ISAError
from .opcodes import AluOp

__all__ = ["SHIFT_BITS", "SHIFT_MAX", "RELU_BIT", "SETQ_IMM_MAX", "is_setq", "setq_imm", "setq_fields", "setq_problem",
           "check_setq", "out_bounds"]

SHIFT_BITS = 5
SHIFT_MAX = (1 << SHIFT_BITS) - 1
RELU_BIT = SHIFT_BITS                 # imm[5]
SETQ_IMM_MAX = (1 << (RELU_BIT + 1)) - 1   # imm[15:6] must be 0: imm in 0..63


def setq_imm(shift, relu):
    """The SETQ immediate of Q = (``shift``, ``relu``); `ISAError` when ``shift`` is not 0..31."""
    if isinstance(shift, bool) or not isinstance(shift, int) or not 0 <= shift <= SHIFT_MAX:
        raise ISAError(f"SETQ shift must be an integer 0..{SHIFT_MAX}, not {shift!r}")
    return shift | (bool(relu) << RELU_BIT)


def setq_fields(imm):
    """``(shift, relu)`` of a well-formed SETQ immediate."""
    return imm & SHIFT_MAX, bool(imm >> RELU_BIT & 1)


def is_setq(alu_opcode):
    """Whether an ``alu_opcode`` (an `AluOp` or its value) is SETQ."""
    return alu_opcode is AluOp.SETQ or (type(alu_opcode) is int and alu_opcode == AluOp.SETQ.value)


def setq_problem(alu_opcode, use_imm, imm, requant):
    """Why an ALU word with these fields is a malformed SETQ (a message naming the field and the rule), or None —
    always None for an opcode other than SETQ. ``alu_opcode`` is an `AluOp` or its value, ``imm`` signed."""
    if not is_setq(alu_opcode):
        return None
    if not use_imm:
        return "ALU SETQ: use_imm must be 1 (SETQ takes shift and relu from imm), not 0"
    if not 0 <= imm <= SETQ_IMM_MAX:
        return (f"ALU SETQ: imm[15:6] must be 0 (imm holds only shift in imm[4:0] and relu in imm[5]), "
                f"not imm={imm & 0xFFFF:#06x}")
    if requant:
        return "ALU SETQ: requant must be 0 (SETQ writes no out to requantize), not 1"
    return None


def check_setq(alu_opcode, use_imm, imm, requant):
    """Raise `ISAError` with `setq_problem`'s message when the word is a malformed SETQ."""
    problem = setq_problem(alu_opcode, use_imm, imm, requant)
    if problem is not None:
        raise ISAError(problem)


def out_bounds(out_width, relu):
    """``(lo, hi)`` of a requantized out write: ``hi = 2^(OW−1) − 1``, ``lo`` 0 with relu else ``−2^(OW−1)``."""
    hi = (1 << (out_width - 1)) - 1
    return (0 if relu else -hi - 1), hi
