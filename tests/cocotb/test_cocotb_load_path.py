"""cocotb (Verilator) tests of the LOAD path (LoadUnit → DMARead → ReadArbiter → AXI); testbench tb_load_path.py.
Built for a 64-bit bus (the presets) and a 128-bit bus (elements narrower than a beat take the slot path)."""

import pytest
from sim_runner import CocotbDesign


@pytest.fixture(scope="module", params=[64, 128], ids=["bus64", "bus128"])
def bus_design(request):
    from harnesses import LoadPathHarness
    bus = request.param
    return bus, CocotbDesign(f"load_path_bus{bus}", LoadPathHarness(bus_width=bus, addr_width=10))


def test_load_path(bus_design):
    bus, design = bus_design
    design.run("tb_load_path", env={"VTA_TB_BUS": bus})
