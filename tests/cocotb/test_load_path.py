"""cocotb (Verilator) tests of the LOAD path (LoadUnit → DMARead → ReadArbiter → AXI); testbench tb_load_path.py."""

import pytest

from sim_runner import CocotbDesign


@pytest.fixture(scope="module")
def design():
    from harnesses import LoadPathHarness
    return CocotbDesign("load_path", LoadPathHarness(bus_width=64, addr_width=10))


def test_load_path(design):
    design.run("tb_load_path")
