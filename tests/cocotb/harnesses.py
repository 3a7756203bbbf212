"""Amaranth wrappers that make `vta.hw` blocks drivable from cocotb (test code; no RTL of the product here).

Each harness only wires existing blocks together and exposes their ports flat; the blocks under test are the
product's own. Port names in the Verilog follow Amaranth's flattening (``gemm__inp``, ``axi__ar__addr`` …).
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from vta.hw.alu import AluCore
from vta.hw.axi_arbiter import ReadArbiter
from vta.hw.dma_write import DMAWrite
from vta.hw.gemm import GemmCore
from vta.hw.interfaces import AXI4Signature
from vta.hw.load_unit import LoadUnit
from vta.hw.mul import MulCore


class SideBySide(wiring.Component):
    """Independent units in one design, each exposed whole under its name (ports ``<name>__<port>``): one
    Verilator build for all of them."""

    def __init__(self, units):
        self._units = units
        super().__init__({name: Out(unit.signature) for name, unit in units.items()})

    def elaborate(self, platform):
        m = Module()
        for name, unit in self._units.items():
            m.submodules[name] = unit
            wiring.connect(m, wiring.flipped(getattr(self, name)), unit)
        return m


class DatapathHarness(SideBySide):
    """`GemmCore`, `AluCore` and `MulCore` of one config side by side (``gemm__*``, ``alu__*``, ``mul__*``; ``clk``
    and ``rst`` for `MulCore`'s registers)."""

    def __init__(self, cfg):
        super().__init__({"gemm": GemmCore(cfg), "alu": AluCore(cfg), "mul": MulCore(cfg)})


# Element widths of the load units in `LoadPathHarness`: narrower than, equal to and wider than a 64-bit bus.
LOAD_UNITS = {"u32": 32, "u64": 64, "u512": 512}


class LoadPathHarness(wiring.Component):
    """Three `LoadUnit`s (32-, 64- and 512-bit elements) sharing one `ReadArbiter` onto an AXI read port.

    Ports: ``axi__ar__*``/``axi__r__*`` and, per unit ``<u>`` in `LOAD_UNITS`, its LOAD fields ``<u>__start`` …,
    ``<u>__busy`` and its SRAM write port ``<u>__wr__addr/data/en``. The units run concurrently, so the arbiter's
    request-by-request interleaving is exercised under contention.
    """

    def __init__(self, bus_width=64, addr_width=10, max_outstanding=8):
        self._units = {n: LoadUnit(elem_bits=b, bus_width=bus_width, addr_width=addr_width)
                       for n, b in LOAD_UNITS.items()}
        self._arb = ReadArbiter(len(self._units), bus_width, max_outstanding=max_outstanding)
        axi = AXI4Signature(addr_width=32, data_width=bus_width)
        members = {"axi": Out(wiring.Signature({"ar": axi.members["ar"], "r": axi.members["r"]}))}
        for n, u in self._units.items():
            members[n] = Out(wiring.Signature({k: v for k, v in u.signature.members.items() if k != "bus"}))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.arbiter = arb = self._arb
        for i, (n, u) in enumerate(self._units.items()):
            m.submodules[n] = u
            port = getattr(self, n)
            for name in u.signature.members:
                if name == "bus":
                    continue
                if name == "wr":
                    wiring.connect(m, u.wr, wiring.flipped(port.wr))
                elif name == "busy":
                    m.d.comb += port.busy.eq(u.busy)
                else:
                    m.d.comb += getattr(u, name).eq(getattr(port, name))
            wiring.connect(m, u.bus, getattr(arb, f"client{i}"))
        wiring.connect(m, arb.ar, wiring.flipped(self.axi.ar))
        wiring.connect(m, arb.r, wiring.flipped(self.axi.r))
        return m


# Element widths of the DMA writers in `WritePathHarness`.
WRITE_UNITS = {"w32": 32, "w64": 64, "w128": 128}


class WritePathHarness(wiring.Component):
    """Three `DMAWrite` engines (32-, 64-, 128-bit elements on a 64-bit bus); ``sel`` picks which one owns the
    AXI write channels (the others see no ready/valid from the bus). Ports: ``sel``, ``axi__aw/w/b__*`` and per
    engine ``<w>__start``, fields, ``<w>__busy``, ``<w>__elem__payload/valid/ready``."""

    def __init__(self, bus_width=64, max_outstanding=4):
        self._units = {n: DMAWrite(elem_bits=b, bus_width=bus_width, max_outstanding=max_outstanding)
                       for n, b in WRITE_UNITS.items()}
        axi = AXI4Signature(addr_width=32, data_width=bus_width)
        members = {"sel": In(range(len(self._units))),
                   "axi": Out(wiring.Signature({k: axi.members[k] for k in ("aw", "w", "b")}))}
        for n, u in self._units.items():
            members[n] = Out(wiring.Signature({k: v for k, v in u.signature.members.items()
                                               if k not in ("aw", "w", "b")}))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        for i, (n, u) in enumerate(self._units.items()):
            m.submodules[n] = u
            port = getattr(self, n)
            m.d.comb += [u.start.eq(port.start), u.elem_addr.eq(port.elem_addr), u.x_size.eq(port.x_size),
                         u.x_stride.eq(port.x_stride), u.y_size.eq(port.y_size), port.busy.eq(u.busy)]
            wiring.connect(m, wiring.flipped(port.elem), u.elem)
            with m.If(self.sel == i):
                m.d.comb += [
                    self.axi.aw.addr.eq(u.aw.addr), self.axi.aw.len.eq(u.aw.len), self.axi.aw.size.eq(u.aw.size),
                    self.axi.aw.burst.eq(u.aw.burst), self.axi.aw.valid.eq(u.aw.valid),
                    u.aw.ready.eq(self.axi.aw.ready),
                    self.axi.w.data.eq(u.w.data), self.axi.w.strb.eq(u.w.strb), self.axi.w.last.eq(u.w.last),
                    self.axi.w.valid.eq(u.w.valid), u.w.ready.eq(self.axi.w.ready),
                    u.b.valid.eq(self.axi.b.valid), u.b.resp.eq(self.axi.b.resp), self.axi.b.ready.eq(u.b.ready),
                ]
        return m


class DepQueueHarness(SideBySide):
    """Two `DepQueue`s of different depths (``q<depth>__push__push/ready``, ``…__pop__pop/valid``, ``…__count``)."""

    def __init__(self, depths=(3, 1024)):
        from vta.hw.dep_queue import DepQueue
        super().__init__({f"q{d}": DepQueue(d) for d in depths})


class ComputeHarness(wiring.Component):
    """The compute stage (`vta.hw.compute.Compute`) with what the core gives it: inp and wgt SRAMs (written by the
    testbench through ``inp_w``/``wgt_w``), a `ReadArbiter` for its uop/acc/acc8 loads onto ``axi__ar/r``.

    Exposed as in `Compute`: ``cmd``, the token ports ``l2g``/``s2g``/``g2l``/``g2s``, ``clear``, ``finished``,
    ``busy``, ``stall``, ``gemm_active``, ``alu_active`` and its out-buffer write port ``out_wr`` (monitored).
    """

    def __init__(self, cfg):
        from vta.hw.compute import Compute
        from vta.hw.ports import SRAMWriteSignature
        self.cfg = cfg
        self._c = Compute(cfg)
        self._arb = ReadArbiter(3, cfg.bus_width)
        axi = AXI4Signature(addr_width=32, data_width=cfg.bus_width)
        skip = ("inp_rd", "wgt_rd", "uop_bus", "acc_bus", "acc8_bus")
        self._names = [k for k in self._c.signature.members if k not in skip]
        super().__init__({
            "axi": Out(wiring.Signature({"ar": axi.members["ar"], "r": axi.members["r"]})),
            "c": Out(wiring.Signature({k: self._c.signature.members[k] for k in self._names})),
            "inp_w": In(SRAMWriteSignature(cfg.log_inp_depth, cfg.inp_elem_bits)),
            "wgt_w": In(SRAMWriteSignature(cfg.log_wgt_depth, cfg.wgt_elem_bits)),
        })

    def elaborate(self, platform):
        from amaranth.lib.memory import Memory
        m = Module()
        cfg = self.cfg
        m.submodules.compute = c = self._c
        m.submodules.arbiter = arb = self._arb
        for name in self._names:
            sub, port = getattr(c, name), getattr(self.c, name)
            member = c.signature.members[name]
            if member.is_signature:
                wiring.connect(m, sub, wiring.flipped(port))
            elif member.flow == In:
                m.d.comb += sub.eq(port)
            else:
                m.d.comb += port.eq(sub)
        for i, bus in enumerate((c.uop_bus, c.acc_bus, c.acc8_bus)):
            wiring.connect(m, bus, getattr(arb, f"client{i}"))
        wiring.connect(m, arb.ar, wiring.flipped(self.axi.ar))
        wiring.connect(m, arb.r, wiring.flipped(self.axi.r))
        for name in ("inp", "wgt"):
            mem = Memory(shape=getattr(cfg, f"{name}_elem_bits"), depth=getattr(cfg, f"{name}_depth"), init=[])
            m.submodules[f"{name}_mem"] = mem
            wp, rp = mem.write_port(), mem.read_port()
            w = getattr(self, f"{name}_w")
            rd = getattr(c, f"{name}_rd")
            m.d.comb += [wp.addr.eq(w.addr), wp.data.eq(w.data), wp.en.eq(w.en), rp.addr.eq(rd.addr),
                         rd.data.eq(rp.data)]
        return m
