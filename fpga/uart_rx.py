"""`UARTReceiver`: 8N1 serial receiver producing one byte per frame (no flow control, as on a plain UART).

Why hand-written: Amaranth 0.5 has no UART in its standard library, and this one needs only a bit-period divisor.
The line is synchronised through two flip-flops; a start bit is confirmed at its middle, then each data bit and
the stop bit are sampled at their middles. A frame whose stop bit is 0 is dropped and counted in ``frame_error``.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from .uart_divisor import DivisorComponent

__all__ = ["UARTReceiver"]


class UARTReceiver(DivisorComponent):
    """``rx``: the serial line (idle high). ``data``: received bytes, one ``valid`` cycle each (always ready).
    ``divisor``: clock cycles per bit, as in `DivisorComponent`."""

    def __init__(self, divisor):
        super().__init__(divisor, {
            "rx": In(1, init=1),
            "data": Out(stream.Signature(8, always_ready=True)),
            "frame_error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        line = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, line, init=1)

        timer = Signal(range(self.divisor * 3 // 2 + 1))
        bits = Signal(4)
        shift = Signal(8)
        m.d.sync += [self.data.valid.eq(0), self.frame_error.eq(0)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(line):       # a glitch, not a start bit
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [timer.eq(self.divisor - 1), bits.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [shift.eq((shift >> 1) | (line << 7)), timer.eq(self.divisor - 1),
                                 bits.eq(bits + 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    with m.If(line):
                        m.d.sync += [self.data.payload.eq(shift), self.data.valid.eq(1)]
                    with m.Else():
                        m.d.sync += self.frame_error.eq(1)
                    m.next = "IDLE"
        return m
