"""Importing a script of ``benchmarks/`` (not part of the installed package) into a test, for the tests that check
a benchmark's own logic or its refusals."""

import contextlib
import importlib.util
import os
import sys

import pytest

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "benchmarks")


@contextlib.contextmanager
def benchmark_module(filename):
    """The module ``benchmarks/<filename>``, loaded with ``benchmarks/`` on ``sys.path`` for the block's duration
    (the scripts import their sibling results.py); skips the test when the file is not in this tree."""
    path = os.path.join(BENCHMARKS, filename)
    if not os.path.exists(path):
        pytest.skip(f"benchmarks/{filename} is not in this tree ({BENCHMARKS})")
    sys.path.insert(0, BENCHMARKS)
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{filename[:-3]}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.path.remove(BENCHMARKS)
