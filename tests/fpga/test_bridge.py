"""The UART bridge end to end in Amaranth's simulator: real UART gateware, real host register block, real
block-RAM DRAM, a stand-in datapath (`RegsOnlyCore`), driven byte by byte through `SerialLink`."""

import random
import struct

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator
from fpga_helpers import AmaranthUARTPort, RegsOnlyCore

from vta import load_config
from vta.fpga.protocol import SYNC, Cmd, Status, config_id, crc8, encode_request
from vta.fpga.serial_link import LinkError, SerialLink
from vta.fpga.top import FPGATop
from vta.fpga.uart_bridge import crc8_next
from vta.hw.regs import CTRL_BUSY, CTRL_DONE, Reg

CFG = load_config("small")
DRAM = 4096
TIMEOUT = 400       # frame timeout in cycles (short, so the test of it is quick)


@pytest.fixture
def port():
    top = FPGATop(CFG, dram_bytes=DRAM, divisor=4, frame_timeout=TIMEOUT,
                  core_factory=lambda cfg: RegsOnlyCore(cfg, finish_after=3000))
    p = AmaranthUARTPort(top, timeout=10)
    yield p
    p.close()


def raw(port, frame, n):
    """Send raw bytes; return the n answer bytes."""
    port.write(frame)
    return port.read(n)


def test_info_reports_geometry_and_config(port):
    info = SerialLink(port).info()
    assert (info.version, info.log_bus_bytes, info.dram_bytes) == (1, 3, DRAM)
    assert info.config_id == config_id(CFG, DRAM)


def test_memory_round_trip_at_unaligned_addresses(port):
    link = SerialLink(port)
    rng = random.Random(7)
    data = bytes(rng.getrandbits(8) for _ in range(29))
    link.write_mem(13, data)                       # spans 5 words, starting mid-word
    link.write_mem(DRAM - 3, b"\xAA\xBB\xCC")      # the last bytes of DRAM
    assert link.read_mem(13, 29) == data
    assert link.read_mem(8, 5) == bytes(5)         # untouched bytes before it stay 0
    assert link.read_mem(42, 3) == bytes(3)        # … and after it
    assert link.read_mem(DRAM - 4, 4) == b"\x00\xAA\xBB\xCC"


def test_registers_write_and_read(port):
    link = SerialLink(port)
    link.write_reg(Reg.INSN_ADDR, 0xABCD0)
    link.write_reg(Reg.INSN_COUNT, 77)
    assert link.read_reg(Reg.INSN_ADDR) == 0xABCD0
    assert link.read_reg(Reg.INSN_COUNT) == 77
    for bad in (Reg.INSN_ADDR + 2, 0x100 + Reg.INSN_COUNT):      # unaligned, or past the 8-bit CSR space
        with pytest.raises(LinkError, match="BAD_ADDR"):
            link.write_reg(bad, 1)
        with pytest.raises(LinkError, match="BAD_ADDR"):
            link.read_reg(bad)
    assert link.read_reg(Reg.INSN_COUNT) == 77                    # (no aliasing onto a real register)


def test_launch_poll_done_and_busy_refusal(port):
    link = SerialLink(port)
    ctrl, wait = link.poll()
    assert ctrl & (CTRL_DONE | CTRL_BUSY) == 0
    link.launch()
    ctrl, _ = link.poll()
    assert ctrl & CTRL_BUSY                          # 3000 cycles outlast two exchanges (~640 cycles each)
    with pytest.raises(LinkError, match="BUSY"):
        link.launch()
    for _ in range(20):
        ctrl, _ = link.poll()
        if ctrl & CTRL_DONE:
            break
    assert ctrl & CTRL_DONE and not ctrl & CTRL_BUSY
    assert link.read_reg(Reg.CYCLES) == 3001         # the stand-in finishes when its counter reaches 3000


def test_bad_crc_is_answered_and_not_executed(port):
    frame = bytearray(encode_request(Cmd.WRITE_REG, Reg.INSN_COUNT, 4, struct.pack("<I", 5)))
    frame[-1] ^= 0x40
    assert raw(port, frame, 2) == bytes([Status.BAD_CRC, crc8([Status.BAD_CRC])])
    assert SerialLink(port).read_reg(Reg.INSN_COUNT) == 0


def test_bad_command_and_bad_address(port):
    assert raw(port, encode_request(0x7E), 2) == bytes([Status.BAD_CMD, crc8([Status.BAD_CMD])])
    link = SerialLink(port)
    with pytest.raises(LinkError, match="BAD_ADDR"):
        link.read_mem(DRAM - 2, 3)
    with pytest.raises(LinkError, match="BAD_ADDR"):
        link.write_mem(DRAM, b"\x01")
    assert link.read_mem(0, 4) == bytes(4)           # the refused write wrote nothing (no wrap to 0)


def test_noise_before_sync_and_an_abandoned_frame_are_survived(port):
    port.write(b"\x00\xFF\x13")                       # noise between frames: dropped
    port.write(bytes([SYNC, Cmd.READ_MEM, 0, 0]))     # a frame cut short; the bridge gives up after TIMEOUT cycles
    port.idle(TIMEOUT + 10)
    assert SerialLink(port).info().dram_bytes == DRAM


def test_gateware_crc_step_equals_the_python_crc():
    crc, byte, out = Signal(8), Signal(8), Signal(8)
    m = Module()
    m.d.comb += out.eq(crc8_next(crc, byte))
    pairs = [(c, b) for c in (0, 1, 0x80, 0xF4, 0xFF, 0x5A) for b in range(256)]
    got = []

    async def bench(ctx):
        for c, b in pairs:
            ctx.set(crc, c)
            ctx.set(byte, b)
            got.append(ctx.get(out))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert got == [crc8([b], c) for c, b in pairs]
