"""cocotb testbench of the whole `VTACore`: a cocotb AXI4 slave DRAM and a CSR host driver run programs that the
pytest side prepared, and the final DRAM image is compared byte for byte with `FunctionalSim`'s.

The pytest side (test_core.py) writes an ``.npz`` file (path in ``VTA_TB_PROGRAMS``) holding, per run k:
``dram_k`` (initial image), ``expect_k`` (FunctionalSim's final image), ``run_k`` = (insn_addr, insn_count,
max_cycles), ``name_k``/``regions_k`` (for messages), plus ``stall`` and ``latency`` of the slave. The runs execute
one after another on the same core without a reset (SRAMs and token queues persist, like FunctionalSim's).
"""

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from cocotb_helpers import AxiSlaveDram, CsrDriver, start_clock_and_reset, tb_config

from vta.hw.regs import CTRL_BUSY, CTRL_DONE, CTRL_LAUNCH, WAIT_BITS, Reg


def region_of(regions, addr):
    for name, (a, b) in regions.items():
        if a <= addr < b:
            return f"{name} region [{a:#x}, {b:#x})"
    return "outside every region"


async def run_core(csr, insn_addr, insn_count, max_cycles):
    """Launch one run and poll CTRL until done; returns (cycles seen by the host, CYCLES register)."""
    await csr.write(Reg.INSN_ADDR, insn_addr)
    await csr.write(Reg.INSN_COUNT, insn_count)
    await csr.write(Reg.CTRL, CTRL_LAUNCH)
    for n in range(max_cycles):
        ctrl = await csr.read(Reg.CTRL)
        if ctrl & CTRL_DONE:
            assert not ctrl & CTRL_BUSY, f"CTRL={ctrl:#x}: done and busy at once"
            return n, await csr.read(Reg.CYCLES)
        if n == 0:
            assert ctrl & CTRL_BUSY, f"CTRL={ctrl:#x}: not busy right after launch"
    wait = await csr.read(Reg.WAIT)
    waiting = [f"{mod} waits for {q}" for bit, (mod, q) in WAIT_BITS.items() if wait >> bit & 1]
    raise AssertionError(f"core not done after {max_cycles} cycles (WAIT={wait:#x}: {', '.join(waiting) or '-'})")


@cocotb.test(timeout_time=200, timeout_unit="ms")
async def run_programs(dut):
    cfg = tb_config()
    progs = np.load(os.environ["VTA_TB_PROGRAMS"])
    n_runs = int(progs["n_runs"])
    dut.csr__w_en.value = 0
    dut.csr__addr.value = 0
    dut.csr__w_data.value = 0
    for sig in ("ar__ready", "r__valid", "aw__ready", "w__ready", "b__valid"):
        getattr(dut, f"axi__{sig}").value = 0
    await start_clock_and_reset(dut)
    axi = AxiSlaveDram(dut, np.zeros(16, dtype=np.uint8), cfg.bus_width, stall=float(progs["stall"]),
                       latency=int(progs["latency"]), seed=int(progs["seed"]))
    cocotb.start_soon(axi.run())
    csr = CsrDriver(dut)
    await FallingEdge(dut.clk)
    failures = []
    for k in range(n_runs):
        name = str(progs[f"name_{k}"])
        addr, count, max_cycles = (int(v) for v in progs[f"run_{k}"])
        axi.dram = progs[f"dram_{k}"].copy()   # the core is idle: swapping the DRAM image is safe
        expect = progs[f"expect_{k}"]
        host_cycles, cycles = await run_core(csr, addr, count, max_cycles)
        assert 0 < cycles <= host_cycles + 8, f"{name}: CYCLES={cycles} for a run the host saw take {host_cycles}"
        dut._log.info("%s: done in %d cycles (%d bursts read, %d written)", name, cycles, len(axi.reads),
                      len(axi.writes))
        if not np.array_equal(axi.dram, expect):
            bad = np.flatnonzero(axi.dram != expect)
            regions = json.loads(str(progs[f"regions_{k}"]))
            a = int(bad[0])
            failures.append(f"{name}: {bad.size} DRAM bytes differ from FunctionalSim; first at {a:#x} "
                            f"({region_of(regions, a)}): core {axi.dram[a]:#04x}, fsim {expect[a]:#04x}; "
                            f"bytes [{a:#x}:+16] core {axi.dram[a:a + 16].tolist()} fsim {expect[a:a + 16].tolist()}")
    assert not failures, "\n".join(failures)
