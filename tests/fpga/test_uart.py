"""UART receiver and transmitter in Amaranth's simulator, against a bit-level line model written here."""

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from vta.fpga.uart_rx import UARTReceiver
from vta.fpga.uart_tx import UARTTransmitter

DIV = 6


def line_bits(byte, stop=1):
    return [0] + [byte >> i & 1 for i in range(8)] + [stop]


def test_receiver_decodes_bytes_and_flags_a_missing_stop_bit():
    dut = UARTReceiver(DIV)
    got, errors = [], []

    async def drive(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(5)
        for byte, stop in ((0x55, 1), (0xA3, 1), (0x00, 1), (0xFF, 1), (0x5A, 0), (0x81, 1)):
            for bit in line_bits(byte, stop):
                ctx.set(dut.rx, bit)
                await ctx.tick().repeat(DIV)
            ctx.set(dut.rx, 1)
            await ctx.tick().repeat(2 * DIV)    # a real idle gap after a broken frame

    async def watch(ctx):
        while True:
            await ctx.tick()
            if ctx.get(dut.data.valid):
                got.append(ctx.get(dut.data.payload))
            if ctx.get(dut.frame_error):
                errors.append(len(got))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_testbench(watch, background=True)
    sim.run()
    assert got == [0x55, 0xA3, 0x00, 0xFF, 0x81]
    assert errors == [4]        # the 5th frame (0x5A with a 0 stop bit) was dropped


def test_transmitter_waveform_has_full_length_bits():
    dut = UARTTransmitter(DIV)
    levels = []

    async def drive(ctx):
        for byte in (0xC5, 0x3A):
            ctx.set(dut.data.payload, byte)
            ctx.set(dut.data.valid, 1)
            await ctx.tick().until(dut.data.ready)
            ctx.set(dut.data.valid, 0)
        await ctx.tick().until(dut.data.ready)
        await ctx.tick().repeat(3 * DIV)

    async def watch(ctx):
        while True:
            await ctx.tick()
            levels.append(ctx.get(dut.tx))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_testbench(watch, background=True)
    sim.run()
    start = levels.index(0)
    first = [b for b in line_bits(0xC5) for _ in range(DIV)]
    assert levels[start:start + len(first)] == first          # every bit, the stop bit too, lasts DIV cycles
    second_start = levels.index(0, start + len(first))
    assert second_start - (start + len(first)) <= 2           # the next frame follows (almost) back to back
    second = [b for b in line_bits(0x3A) for _ in range(DIV)]
    assert levels[second_start:second_start + len(second)] == second
    assert all(levels[second_start + len(second):])           # then idle high


def test_loopback_through_both():
    m = Module()
    m.submodules.tx = tx = UARTTransmitter(4)
    m.submodules.rx = rx = UARTReceiver(4)
    m.d.comb += rx.rx.eq(tx.tx)
    data = [0x00, 0x7F, 0x80, 0xFF, 0x12]
    got = []

    async def drive(ctx):
        for byte in data:
            ctx.set(tx.data.payload, byte)
            ctx.set(tx.data.valid, 1)
            await ctx.tick().until(tx.data.ready)
        ctx.set(tx.data.valid, 0)
        await ctx.tick().repeat(80)

    async def watch(ctx):
        while True:
            await ctx.tick()
            if ctx.get(rx.data.valid):
                got.append(ctx.get(rx.data.payload))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_testbench(watch, background=True)
    sim.run()
    assert got == data


@pytest.mark.parametrize("cls", [UARTReceiver, UARTTransmitter])
@pytest.mark.parametrize("divisor", [3, 0, 4.5, True])
def test_divisor_is_checked(cls, divisor):
    with pytest.raises(ValueError, match="divisor must be an integer ≥ 4"):
        cls(divisor)
