"""cocotb (Verilator) tests of the LOAD path (LoadUnit → DMARead → ReadArbiter → AXI); testbench tb_load_path.py.
Built for a 64-bit bus (the presets) and a 128-bit bus (elements narrower than a beat take the slot path)."""

from harnesses import LoadPathHarness
from sim_runner import bus_width_designs

bus_design = bus_width_designs("load_path", LoadPathHarness, addr_width=10)


def test_load_path(bus_design):
    bus, design = bus_design
    design.run("tb_load_path", env={"VTA_TB_BUS": bus})
