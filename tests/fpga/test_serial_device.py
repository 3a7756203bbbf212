"""SerialDevice (the host driver) against the simulated bridge with a stand-in datapath (Amaranth simulator)."""

import numpy as np
import pytest
from fpga_helpers import AmaranthUARTPort, RegsOnlyCore

from vta import isa, load_config
from vta.device import Device
from vta.errors import ConfigError, DeadlockError, ProgramError
from vta.fpga.protocol import FEATURE_STATE_COUNTERS
from vta.fpga.serial_device import SerialDevice
from vta.fpga.top import FPGATop
from vta.hw.regs import MODULE_STATES

CFG = load_config("small")
DRAM = 2048


def make_port(**core):
    top = FPGATop(CFG, dram_bytes=DRAM, divisor=4, core_factory=lambda cfg: RegsOnlyCore(cfg, **core))
    return AmaranthUARTPort(top, timeout=10)


@pytest.fixture
def port():
    p = make_port(finish_after=50)
    yield p
    p.close()


def finish_only_image(size=512):
    dram = np.zeros(size, dtype=np.uint8)
    prog = isa.encode_program(CFG, [isa.Finish()])
    dram[:prog.size] = prog
    dram[100:120] = np.arange(1, 21, dtype=np.uint8)
    return dram


def test_a_run_uploads_launches_polls_and_reads_back(port):
    dev = SerialDevice(port, CFG, poll_interval=0, readback="all")
    assert isinstance(dev, Device)
    dram = finish_only_image()
    before = dram.copy()
    stats = dev.run(dram, 0, 1)
    assert dev.last_upload_bytes == dram.size           # first run: the whole image
    assert np.array_equal(dram, before)                  # the stand-in core writes nothing; the read-back agrees
    assert stats.cycles == 51
    assert stats.busy["compute"] == 51
    assert stats.insns["FINISH"] == 1
    # the board now holds the image: a second run sends only the changed chunk
    dram[300] = 9
    dev.run(dram, 0, 1)
    assert dev.last_upload_bytes == 256
    assert dev.link.read_mem(300, 1) == b"\x09"


def test_state_counters_are_read_when_the_bitstream_has_them():
    """INFO's feature bit says the core has the state counters; the driver then reports them like the Verilator
    device (per stage they add up to the run's cycles). Without the bit (the plain stand-in) it leaves them out."""
    p = make_port(finish_after=50, states=True)
    try:
        dev = SerialDevice(p, CFG, poll_interval=0)
        assert dev.info.features & FEATURE_STATE_COUNTERS
        stats = dev.run(finish_only_image(), 0, 1)
    finally:
        p.close()
    assert set(stats.states) == set(MODULE_STATES)
    for stage, counts in stats.states.items():
        assert set(counts) == set(MODULE_STATES[stage])
        assert sum(counts.values()) == stats.cycles, (stage, counts, stats.cycles)
    assert stats.states["compute"]["busy"] >= 50 and stats.states["load"]["idle"] == stats.cycles
    assert set(stats.stage_insns) == set(MODULE_STATES)


def test_the_real_core_has_what_the_feature_bit_keys_on():
    """FPGATop sets the bit from the core's ``probe`` port: VTACore must keep it beside its state counters."""
    from vta.hw.core import VTACore
    core = VTACore(CFG)
    core._MustUse__silence = True     # inspected, never elaborated: no "created but never used" warning
    assert "probe" in core.signature.members


def test_no_state_counters_without_the_feature_bit(port):
    dev = SerialDevice(port, CFG, poll_interval=0)
    assert dev.info.features == 0
    stats = dev.run(finish_only_image(), 0, 1)
    assert stats.states is None and stats.stage_insns is None


def test_wrong_config_is_refused(port):
    with pytest.raises(ConfigError, match="different VTA config"):
        SerialDevice(port, "default")


def test_an_image_larger_than_the_board_dram_is_refused(port):
    dev = SerialDevice(port, CFG)
    dram = finish_only_image(DRAM * 2)
    with pytest.raises(ProgramError, match=f"only {DRAM} bytes"):
        dev.run(dram, 0, 1)


def test_a_hung_core_names_the_waiting_module():
    port = make_port(finish_after=None, wait_bits=0b0100)     # compute waits for an s2g token
    try:
        dev = SerialDevice(port, CFG, run_timeout=0.5, poll_interval=0.01)
        with pytest.raises(DeadlockError, match=r"compute waits for a s2g token.* \(busy cycles: fetch \d+, load \d+, "
                                                r"compute [1-9]\d*, store \d+\)$"):
            dev.run(finish_only_image(), 0, 1)
    finally:
        port.close()


def test_store_ranges_cover_the_stored_rows():
    from vta.fpga.serial_device import store_ranges
    eb = CFG.out_elem_bytes
    insns = [
        isa.Store(sram_base=0, dram_base=10, y_size=2, x_size=3, x_stride=5),   # rows at 10..12 and 15..17
        isa.Store(sram_base=0, dram_base=13, y_size=1, x_size=2, x_stride=2),   # 13..14: joins the first
        isa.Store(sram_base=0, dram_base=40, y_size=0, x_size=4, x_stride=4),   # empty: nothing
        isa.Store(sram_base=0, dram_base=50, y_size=1, x_size=1, x_stride=1),
        isa.Finish(),
        isa.Store(sram_base=0, dram_base=90, y_size=1, x_size=1, x_stride=1),   # after FINISH: not executed
    ]
    image = isa.encode_program(CFG, insns)
    assert store_ranges(CFG, image, 10_000) == [(10 * eb, 18 * eb), (50 * eb, 51 * eb)]


def test_port_names_are_opened_with_pyserial_and_failures_are_clear():
    pytest.importorskip("serial", reason="pyserial (fpga extra) is not installed")
    from vta.fpga.serial_link import LinkError
    with pytest.raises(LinkError, match="cannot open serial port '/dev/nonexistent-vta'"):
        SerialDevice("/dev/nonexistent-vta", CFG)
    # pyserial's loop:// echoes the request: the driver must reject the echo, not hang or misread it
    with pytest.raises(LinkError, match="INFO"):
        SerialDevice("loop://", CFG, timeout=0.2)
