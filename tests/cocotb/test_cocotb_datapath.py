"""cocotb (Verilator) tests of the GEMM and tensor-ALU datapaths; the testbench is tb_datapath.py."""

import pytest
from cocotb_helpers import config_env, rect_config
from sim_runner import CocotbDesign


@pytest.fixture(scope="module")
def design():
    from harnesses import DatapathHarness
    return CocotbDesign("datapath_rect", DatapathHarness(rect_config()))


@pytest.mark.parametrize("case", ["gemm_random_operands gemm_extremes_and_lane_order",
                                  "alu_tensor_operands alu_immediate_operands alu_shr_every_amount"],
                         ids=["gemm", "alu"])
def test_datapath(design, case):
    design.run("tb_datapath", case.split(), env=config_env(rect_config()))
