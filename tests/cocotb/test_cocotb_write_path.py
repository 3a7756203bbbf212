"""cocotb (Verilator) tests of the AXI write path (DMAWrite → AW/W/B); testbench tb_write_path.py.
Built for a 64-bit and a 128-bit bus."""

from harnesses import WritePathHarness
from sim_runner import bus_width_designs

bus_design = bus_width_designs("write_path", WritePathHarness, max_outstanding=4)


def test_write_path(bus_design):
    bus, design = bus_design
    design.run("tb_write_path", env={"VTA_TB_BUS": bus})
