"""argparse ``type=`` functions shared by the ``vta`` subcommands: each error names the option and the limit, so
argparse prints one line (``vta: error: argument --top: --top must be ≥ 1, not 0``) instead of a traceback."""

import argparse

__all__ = ["integer", "whole", "positive", "fraction"]


def integer(text):
    """Decimal or 0x hex."""
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a decimal or 0x hex integer") from None


def whole(name):
    """A type for option ``name``: a decimal integer ≥ 0 (a count that may be zero)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number ≥ 0, not {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number ≥ 0, not {value}")
        return value
    return parse


def positive(name):
    """A type for option ``name``: an integer (decimal or 0x hex) ≥ 1."""
    def parse(text):
        value = integer(text)
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be ≥ 1, not {value}")
        return value
    return parse


def fraction(name):
    """A type for option ``name``: a number strictly between 0 and 1."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, not {text!r}") from None
        if not 0 < value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be in (0, 1), not {value}")
        return value
    return parse
