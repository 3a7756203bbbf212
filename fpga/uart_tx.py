"""`UARTTransmitter`: 8N1 serial transmitter taking bytes from a stream (start bit, 8 data bits LSB first, stop)."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["UARTTransmitter"]


class UARTTransmitter(wiring.Component):
    """``data``: bytes to send (``ready`` while idle). ``tx``: the serial line (idle high).

    ``divisor``: clock cycles per bit (clock frequency / baud rate), at least 4.
    """

    def __init__(self, divisor):
        if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < 4:
            self._MustUse__silence = True   # no "created but never used" warning for a rejected object
            raise ValueError(f"divisor must be an integer ≥ 4 (clock cycles per bit), not {divisor!r}")
        self.divisor = divisor
        super().__init__({
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
