"""The GEMM datapath: BATCH×BLOCK_OUT dot products of BLOCK_IN int8 pairs added to int32 accumulators.

``result[b][o] = wrap32(acc[b][o] + Σ_k inp[b][k]·wgt[o][k])``, or 0 when ``reset``.

Combinational by default. With ``pipelined=True`` the products are registered: ``result`` is then the sum of the
products of the ``inp``/``wgt`` presented one clock earlier, added to the ``acc`` (and ``reset``) of the current
cycle. The compute stage uses that form so each hardware multiplier sits between two registers: the routing into
and out of the DSP blocks and the adder tree no longer share one cycle.

With ``inp_per_lane=True``, ``inp`` carries BLOCK_OUT copies of the input vector, copy ``o`` feeding output lane
``o``'s multipliers only: the caller registers each copy separately, so no inp bit drives the whole multiplier
array (on the ULX3S one such register bit was routed 16.3 ns to a far lane's LUT multiplier).
"""

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["GemmCore"]


def _tree_sum(terms):
    """Balanced adder tree (shallower logic than a chain)."""
    while len(terms) > 1:
        pairs = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)]
        if len(terms) % 2:
            pairs.append(terms[-1])
        terms = pairs
    return terms[0]


class GemmCore(wiring.Component):
    def __init__(self, cfg, pipelined=False, *, inp_per_lane=False):
        self.cfg = cfg
        self.pipelined = bool(pipelined)
        self.inp_per_lane = bool(inp_per_lane)
        super().__init__({
            "inp": In(cfg.inp_elem_bits * (cfg.block_out if inp_per_lane else 1)),
            "wgt": In(cfg.wgt_elem_bits),
            "acc": In(cfg.acc_elem_bits),
            "reset": In(1),
            "result": Out(cfg.acc_elem_bits),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        iw, ww, aw = cfg.inp_width, cfg.wgt_width, cfg.acc_width
        lanes = []
        for b in range(cfg.batch):
            for o in range(cfg.block_out):
                products = []
                inp = self.inp.word_select(o, cfg.inp_elem_bits) if self.inp_per_lane else self.inp
                for k in range(cfg.block_in):
                    x = inp.word_select(b * cfg.block_in + k, iw).as_signed()
                    w = self.wgt.word_select(o * cfg.block_in + k, ww).as_signed()
                    if self.pipelined:
                        product = Signal(signed(iw + ww), name=f"p_{b}_{o}_{k}")
                        m.d.sync += product.eq(x * w)
                        products.append(product)
                    else:
                        products.append(x * w)
                a = self.acc.word_select(b * cfg.block_out + o, aw).as_signed()
                lanes.append(Mux(self.reset, 0, (a + _tree_sum(products))[:aw]))
        m.d.comb += self.result.eq(Cat(*lanes))
        return m
