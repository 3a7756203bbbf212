"""cocotb testbench of the whole `VTACore`: a cocotb AXI4 slave DRAM and a CSR host driver run programs that the
pytest side prepared, and the final DRAM image is compared byte for byte with `FunctionalSim`'s.

The pytest side (test_cocotb_core.py) writes an ``.npz`` file (path in ``VTA_TB_PROGRAMS``) holding, per run k:
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

from vta.hw.regs import (
    CTRL_BUSY,
    CTRL_DONE,
    CTRL_FAULT,
    CTRL_LAUNCH,
    FAULT_CODE_BITS,
    QUEUE_IDS,
    WAIT_BITS,
    Fault,
    Reg,
)


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


@cocotb.test(timeout_time=20, timeout_unit="ms")
async def csr_registers_and_counters(dut):
    """Host register behaviour around run 0 of the program file: INSN_ADDR/INSN_COUNT read back; CTRL busy while
    running and done after; a second launch and register writes while running are ignored (CYCLES keeps
    counting, INSN_ADDR keeps its value); CYCLES frozen after done; WAIT clear at done; every performance counter
    ≤ CYCLES, the busy counters non-zero, GEMM_ACTIVE and ALU_ACTIVE equal to the uop counts the pytest side
    computed from the program (``gemm_uops``, ``alu_uops``)."""
    cfg = tb_config()
    progs = np.load(os.environ["VTA_TB_PROGRAMS"])
    dut.csr__w_en.value = 0
    dut.csr__addr.value = 0
    dut.csr__w_data.value = 0
    await start_clock_and_reset(dut)
    axi = AxiSlaveDram(dut, progs["dram_0"].copy(), cfg.bus_width, latency=3)
    cocotb.start_soon(axi.run())
    csr = CsrDriver(dut)
    await FallingEdge(dut.clk)
    addr, count, max_cycles = (int(v) for v in progs["run_0"])
    ctrl = await csr.read(Reg.CTRL)
    assert ctrl & (CTRL_DONE | CTRL_BUSY) == 0, f"CTRL={ctrl:#x} after reset"
    await csr.write(Reg.INSN_ADDR, addr)
    await csr.write(Reg.INSN_COUNT, count)
    assert await csr.read(Reg.INSN_ADDR) == addr
    assert await csr.read(Reg.INSN_COUNT) == count
    await csr.write(Reg.CTRL, CTRL_LAUNCH)
    ctrl = await csr.read(Reg.CTRL)
    assert ctrl & CTRL_BUSY and not ctrl & CTRL_DONE, f"CTRL={ctrl:#x} right after launch"
    for _ in range(5):
        await FallingEdge(dut.clk)
    c1 = await csr.read(Reg.CYCLES)
    await csr.write(Reg.CTRL, CTRL_LAUNCH)          # ignored while running
    await csr.write(Reg.INSN_ADDR, addr + 0x100)    # ignored while running
    c2 = await csr.read(Reg.CYCLES)
    assert c2 > c1, f"CYCLES went from {c1} to {c2} across a launch written while running (must be ignored)"
    assert await csr.read(Reg.INSN_ADDR) == addr, "INSN_ADDR changed by a write while running"
    for _n in range(max_cycles):
        ctrl = await csr.read(Reg.CTRL)
        if ctrl & CTRL_DONE:
            break
    else:
        raise AssertionError(f"not done after {max_cycles} cycles")
    assert not ctrl & CTRL_BUSY
    cycles = await csr.read(Reg.CYCLES)
    for _ in range(10):
        await FallingEdge(dut.clk)
    assert await csr.read(Reg.CYCLES) == cycles, "CYCLES not frozen after done"
    assert await csr.read(Reg.WAIT) == 0, "WAIT non-zero after done"
    counters = {r.name: await csr.read(r) for r in Reg if r >= Reg.FETCH_BUSY}
    for name, v in counters.items():
        assert v <= cycles, f"{name}={v} > CYCLES={cycles}"
    for name in ("FETCH_BUSY", "LOAD_BUSY", "COMPUTE_BUSY", "STORE_BUSY"):
        assert counters[name] > 0, f"{name} is 0 after a run that used every stage ({counters})"
    assert counters["GEMM_ACTIVE"] == int(progs["gemm_uops"]), \
        f"GEMM_ACTIVE={counters['GEMM_ACTIVE']}, program has {int(progs['gemm_uops'])} non-reset GEMM uops"
    assert counters["ALU_ACTIVE"] == int(progs["alu_uops"]), \
        f"ALU_ACTIVE={counters['ALU_ACTIVE']}, program has {int(progs['alu_uops'])} ALU uops"
    assert np.array_equal(axi.dram, progs["expect_0"]), "DRAM differs from FunctionalSim"


@cocotb.test(timeout_time=5, timeout_unit="ms")
async def deadlock_shows_in_wait_register(dut):
    """Invalid programs that pop a token nobody pushes no longer hang the core: each popping stage (load/g2l,
    compute/l2g, compute/s2g, store/g2s — `WAIT_BITS`) sees its queue empty with the producer past it, so the run
    ends done with CTRL_FAULT, a DEADLOCK fault naming the queue and instruction 0. The core is reset between
    cases."""
    from vta.isa import Finish, Gemm, Load, MemId, Store, encode_program
    cfg = tb_config()
    cases = {
        0: Load(memory_type=MemId.INP, sram_base=0, dram_base=0, y_size=1, x_size=1, x_stride=1, pop_next_dep=True),
        1: Gemm(uop_bgn=0, uop_end=0, iter_out=1, iter_in=1, pop_prev_dep=True),
        2: Gemm(uop_bgn=0, uop_end=0, iter_out=1, iter_in=1, pop_next_dep=True),
        3: Store(sram_base=0, dram_base=0, y_size=1, x_size=1, x_stride=1, pop_prev_dep=True),
    }
    dut.csr__w_en.value = 0
    dut.csr__addr.value = 0
    dut.csr__w_data.value = 0
    dram = np.zeros(8192, dtype=np.uint8)
    axi = AxiSlaveDram(dut, dram, cfg.bus_width, latency=2)
    csr = CsrDriver(dut)
    started = False
    for bit, insn in cases.items():
        if started:
            dut.rst.value = 1
            for _ in range(3):
                await FallingEdge(dut.clk)
            dut.rst.value = 0
        else:
            await start_clock_and_reset(dut)
            cocotb.start_soon(axi.run())
            started = True
        prog = encode_program(cfg, [insn, Finish()])
        dram[0x1000:0x1000 + prog.size] = prog
        await csr.write(Reg.INSN_ADDR, 0x1000)
        await csr.write(Reg.INSN_COUNT, 2)
        await csr.write(Reg.CTRL, CTRL_LAUNCH)
        for _ in range(300):
            await FallingEdge(dut.clk)
        ctrl = await csr.read(Reg.CTRL)
        fault = await csr.read(Reg.FAULT)
        index = await csr.read(Reg.FAULT_INDEX)
        mod, q = WAIT_BITS[bit]
        assert ctrl & CTRL_DONE and ctrl & CTRL_FAULT and not ctrl & CTRL_BUSY, \
            f"{insn}: CTRL={ctrl:#x}, expected done with a fault"
        assert fault == Fault.DEADLOCK | QUEUE_IDS[q] << FAULT_CODE_BITS and index == 0, \
            f"{insn}: FAULT={fault:#x} FAULT_INDEX={index}, expected DEADLOCK on {q} ({mod} waits) at 0"
