"""Exception types shared by every part of the product.

Each error carries a message that names the offending thing and the limit it broke, so the CLI can print it
as a single line and a user can act on it without reading a traceback.
"""


class VTAError(Exception):
    """Base class of every error the product raises on bad input."""


class ConfigError(VTAError, ValueError):
    """An illegal or inconsistent `VTAConfig` (names the key, the value and the limit)."""


class ISAError(VTAError, ValueError):
    """A malformed instruction or micro-op: an unknown opcode, a field out of range."""


class ProgramError(VTAError):
    """A program that cannot run: buffer overrun, DRAM address out of range, unbalanced tokens.

    ``index`` is the position of the offending instruction in the stream, when known.
    """

    def __init__(self, message, *, index=None):
        if index is not None:
            message = f"instruction {index}: {message}"
        super().__init__(message)
        self.index = index


class DeadlockError(ProgramError):
    """A dependency-token pop that can never be satisfied (the hardware would hang)."""
