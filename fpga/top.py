"""`FPGATop`: the board-independent FPGA design — UART bridge + VTA core + block-RAM DRAM.

```
 rx ─► UARTReceiver ─► UARTBridge ─csr─► VTACore ─axi─► AXIReadSlice ─axi─► BRAMDram
 tx ◄─ UARTTransmitter ◄─┘      └──────────────────host port──────────────────┘
```
Board wrappers (`vta.fpga.boards`) add clocking, pins and LEDs; the Verilator co-simulation (`vta.fpga.cosim`)
Verilates this component as is, so the path tested in simulation is the one in the bitstream.
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import VTAConfig
from ..hw.axi_slice import AXIReadSlice
from .bram_dram import BRAMDram
from .protocol import FEATURE_STATE_COUNTERS, config_id
from .uart_bridge import UARTBridge
from .uart_rx import UARTReceiver
from .uart_tx import UARTTransmitter

__all__ = ["FPGATop"]


class FPGATop(wiring.Component):
    """The core for ``cfg`` with ``dram_bytes`` of block-RAM DRAM, driven over a UART of ``divisor`` cycles/bit.

    ``core_factory(cfg)`` builds the core (default `vta.hw.core.VTACore`); tests pass a stand-in.
    """

    def __init__(self, cfg, *, dram_bytes, divisor, frame_timeout=1 << 20, core_factory=None):
        if not isinstance(cfg, VTAConfig):
            raise TypeError(f"cfg must be a VTAConfig, not {type(cfg).__name__}")
        self.cfg = cfg
        self.dram_bytes = dram_bytes
        self.divisor = divisor
        self.frame_timeout = frame_timeout
        self.core_factory = core_factory
        if isinstance(dram_bytes, bool) or not isinstance(dram_bytes, int) or dram_bytes < cfg.bus_bytes \
                or dram_bytes & (dram_bytes - 1):
            raise ValueError(f"dram_bytes must be a power of two ≥ {cfg.bus_bytes}, not {dram_bytes!r}")
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "done": Out(1), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        if self.core_factory is None:
            from ..hw.core import VTACore
            core = VTACore(cfg)
        else:
            core = self.core_factory(cfg)
        m.submodules.core = core
        m.submodules.dram = dram = BRAMDram(self.dram_bytes, cfg.bus_width)
        m.submodules.uart_rx = urx = UARTReceiver(self.divisor)
        m.submodules.uart_tx = utx = UARTTransmitter(self.divisor)
        m.submodules.bridge = bridge = UARTBridge(
            dram_bytes=self.dram_bytes, data_width=cfg.bus_width, config_id=config_id(cfg, self.dram_bytes),
            # the state counters come with the core's probe port (as in the Verilator harness)
            features=FEATURE_STATE_COUNTERS if "probe" in core.signature.members else 0,
            frame_timeout=self.frame_timeout)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx), self.done.eq(bridge.done), self.busy.eq(bridge.busy)]
        wiring.connect(m, urx.data, bridge.rx)
        wiring.connect(m, bridge.tx, utx.data)
        wiring.connect(m, bridge.csr, core.csr)
        wiring.connect(m, bridge.mem, dram.host)
        # R through a register slice: the core's read handshake must not reach the block RAM's address pins.
        m.submodules.r_slice = r_slice = AXIReadSlice(data_width=cfg.bus_width)
        wiring.connect(m, core.axi, r_slice.master)
        wiring.connect(m, r_slice.slave, dram.axi)
        return m
