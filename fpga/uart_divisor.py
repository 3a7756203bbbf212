"""`DivisorComponent`: the base of `UARTReceiver` and `UARTTransmitter`, which both time bits by a clock divisor.

Both count ``divisor`` clock cycles per bit; the receiver also samples at half a bit, so fewer than 4 cycles per
bit leaves no room to find the middle of a bit. The check lives here once so the two halves cannot drift apart.
"""

from amaranth.lib import wiring

__all__ = ["DivisorComponent"]


class DivisorComponent(wiring.Component):
    """A component with ``divisor`` clock cycles per bit (clock frequency / baud rate), an integer ≥ 4.

    Subclasses pass their signature ``members`` on; a bad ``divisor`` raises ``ValueError`` before any is built.
    """

    def __init__(self, divisor, members):
        if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < 4:
            self._MustUse__silence = True   # no "created but never used" warning for a rejected object
            raise ValueError(f"divisor must be an integer ≥ 4 (clock cycles per bit), not {divisor!r}")
        self.divisor = divisor
        super().__init__(members)
