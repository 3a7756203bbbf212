"""cocotb (Verilator) tests of the AXI write path (DMAWrite → AW/W/B); testbench tb_write_path.py.
Built for a 64-bit and a 128-bit bus."""

import pytest
from sim_runner import CocotbDesign


@pytest.fixture(scope="module", params=[64, 128], ids=["bus64", "bus128"])
def bus_design(request):
    from harnesses import WritePathHarness
    bus = request.param
    return bus, CocotbDesign(f"write_path_bus{bus}", WritePathHarness(bus_width=bus, max_outstanding=4))


def test_write_path(bus_design):
    bus, design = bus_design
    design.run("tb_write_path", env={"VTA_TB_BUS": bus})
