"""`UARTTransmitter`: 8N1 serial transmitter taking bytes from a stream (start bit, 8 data bits LSB first, stop)."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream
from amaranth.lib.wiring import In, Out

from .uart_divisor import DivisorComponent

__all__ = ["UARTTransmitter"]


class UARTTransmitter(DivisorComponent):
    """``data``: bytes to send (``ready`` while idle). ``tx``: the serial line (idle high).
    ``divisor``: clock cycles per bit, as in `DivisorComponent`."""

    def __init__(self, divisor):
        super().__init__(divisor, {
            "data": In(stream.Signature(8)),
            "tx": Out(1, init=1),
        })

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        bits = Signal(range(11))
        shift = Signal(10)      # stop · data[7:0] · start, shifted out LSB first

        m.d.comb += self.data.ready.eq((bits == 0) & (timer == 0))
        with m.If(timer != 0):                  # the current bit (the stop bit too) lasts `divisor` cycles
            m.d.sync += timer.eq(timer - 1)
        with m.Elif(bits != 0):
            m.d.sync += [self.tx.eq(shift[0]), shift.eq(shift >> 1), bits.eq(bits - 1),
                         timer.eq(self.divisor - 1)]
        with m.Elif(self.data.valid):
            m.d.sync += [shift.eq((1 << 9) | (self.data.payload << 1)), bits.eq(10)]
        return m
