"""cocotb (Verilator) tests of the compute stage's GEMM/ALU pipeline; testbench tb_compute.py."""

import pytest
from sim_runner import CocotbDesign

from vta.config import load_config


@pytest.fixture(scope="module")
def design():
    from harnesses import ComputeHarness
    return CocotbDesign("compute_small", ComputeHarness(load_config("small")))


def test_compute_pipeline(design):
    design.run("tb_compute", env={"VTA_TB_CONFIG": "small"})
