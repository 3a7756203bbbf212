"""cocotb (Verilator) tests of the dependency-token queue; the testbench is tb_dep_queue.py."""

import pytest
from sim_runner import CocotbDesign


@pytest.fixture(scope="module")
def design():
    from harnesses import DepQueueHarness
    return CocotbDesign("dep_queues", DepQueueHarness((3, 1024)))


def test_dep_queue(design):
    design.run("tb_dep_queue")
