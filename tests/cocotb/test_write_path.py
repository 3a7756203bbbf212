"""cocotb (Verilator) tests of the AXI write path (DMAWrite → AW/W/B); testbench tb_write_path.py."""

import pytest

from sim_runner import CocotbDesign


@pytest.fixture(scope="module")
def design():
    from harnesses import WritePathHarness
    return CocotbDesign("write_path", WritePathHarness(bus_width=64, max_outstanding=4))


def test_write_path(design):
    design.run("tb_write_path")
