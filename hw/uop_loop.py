"""The GEMM/ALU loop nest generator: one (uop index, dst/src/wgt offsets) tuple per cycle (or fewer: ``advance``).

``for i < iter_out: for j < iter_in: for u in [uop_bgn, uop_end)`` with offsets ``i·f_out + j·f_in`` kept as
running sums (no multipliers). The offsets are ``ITER_BITS + 1`` bits wider than their factors, so they never
wrap: the compute stage range-checks ``uop index + offset`` against the buffer depth. ``abort`` ends the nest.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..isa.layouts import ITER_BITS

__all__ = ["UopLoop"]


class UopLoop(wiring.Component):
    """Pulse ``start`` with the loop fields; ``valid`` is high while a step is presented, from the next cycle, until
    the nest is exhausted. A step is taken (and the loop moves on) in each cycle ``valid & advance``; holding
    ``advance`` low keeps the current step presented. An empty nest (``uop_bgn ≥ uop_end`` or a zero iteration
    count) generates nothing. ``start`` is only honoured while ``valid`` is low (the fields are taken then)."""

    def __init__(self, cfg):
        self.cfg = cfg
        uw = cfg.log_uop_depth
        self.dst_width = cfg.log_acc_depth
        self.src_width = max(cfg.log_acc_depth, cfg.log_inp_depth)
        self.wgt_width = cfg.log_wgt_depth
        extra = ITER_BITS + 1   # i·f_out + j·f_in < 2^(width + ITER_BITS + 1)
        super().__init__({
            "start": In(1),
            "abort": In(1),
            "advance": In(1, init=1),
            "uop_bgn": In(uw),
            "uop_end": In(uw + 1),
            "iter_out": In(ITER_BITS),
            "iter_in": In(ITER_BITS),
            "dst_factor_out": In(self.dst_width), "dst_factor_in": In(self.dst_width),
            "src_factor_out": In(self.src_width), "src_factor_in": In(self.src_width),
            "wgt_factor_out": In(self.wgt_width), "wgt_factor_in": In(self.wgt_width),
            "valid": Out(1),
            "uop_addr": Out(uw),
            "dst_off": Out(self.dst_width + extra),
            "src_off": Out(self.src_width + extra),
            "wgt_off": Out(self.wgt_width + extra),
        })

    def elaborate(self, platform):
        m = Module()
        uw = self.cfg.log_uop_depth
        bgn = Signal(uw)
        end_m1 = Signal(uw + 1)
        io_m1 = Signal(ITER_BITS)
        ii_m1 = Signal(ITER_BITS)
        names = ("dst", "src", "wgt")
        f_out = {n: Signal(getattr(self, f"{n}_width"), name=f"{n}_f_out") for n in names}
        f_in = {n: Signal(getattr(self, f"{n}_width"), name=f"{n}_f_in") for n in names}
        base = {n: Signal.like(getattr(self, f"{n}_off"), name=f"{n}_base") for n in names}  # i·f_out
        off = {n: getattr(self, f"{n}_off") for n in names}  # i·f_out + j·f_in
        i = Signal(ITER_BITS)
        j = Signal(ITER_BITS)
        u = self.uop_addr

        with m.If(self.valid & self.advance):
            with m.If(u != end_m1):
                m.d.sync += u.eq(u + 1)
            with m.Else():
                m.d.sync += u.eq(bgn)
                with m.If(j != ii_m1):
                    m.d.sync += j.eq(j + 1)
                    m.d.sync += [off[n].eq(off[n] + f_in[n]) for n in names]
                with m.Else():
                    m.d.sync += j.eq(0)
                    with m.If(i != io_m1):
                        m.d.sync += i.eq(i + 1)
                        m.d.sync += [base[n].eq(base[n] + f_out[n]) for n in names]
                        m.d.sync += [off[n].eq(base[n] + f_out[n]) for n in names]
                    with m.Else():
                        m.d.sync += self.valid.eq(0)

        with m.If(self.abort):
            m.d.sync += self.valid.eq(0)

        # While no nest runs, every register of the nest is loaded from the fields in every cycle, so at a start
        # they already hold the nest's first step and ``start`` only sets ``valid``. This keeps the start decision
        # (the compute stage's token and check logic) off the ~200 flip-flops of the nest: on the ULX3S that net
        # spread across the chip and ended the critical path (`loop.j`'s reset, 20.0 ns at 50 MHz). The outputs
        # differ from before only while ``valid`` is low, when they mean nothing.
        with m.If(~self.valid):
            m.d.sync += [
                u.eq(self.uop_bgn), bgn.eq(self.uop_bgn), end_m1.eq(self.uop_end - 1),
                io_m1.eq(self.iter_out - 1), ii_m1.eq(self.iter_in - 1), i.eq(0), j.eq(0),
            ]
            for n in names:
                m.d.sync += [
                    f_out[n].eq(getattr(self, f"{n}_factor_out")), f_in[n].eq(getattr(self, f"{n}_factor_in")),
                    base[n].eq(0), off[n].eq(0),
                ]
        nonempty = (self.uop_bgn < self.uop_end) & (self.iter_out != 0) & (self.iter_in != 0)
        with m.If(self.start & nonempty):
            m.d.sync += self.valid.eq(1)
        return m
