"""vta.fpga: FPGA bitstreams with the pip-installed open flow, and the UART host link that drives them.

- `build(board, cfg=None, clock_mhz=None, out_dir="build")`: synthesis, place and route, packing, reports
  (`vta.fpga.build`); boards in `vta.fpga.boards.BOARDS`, their VTA presets in `vta.fpga.presets`.
- `SerialDevice(port, cfg, baud=115200)`: a board behind the UART bridge as a `vta.device.Device`.
- The gateware: `FPGATop` (bridge + core + block-RAM DRAM) and its parts; ``fpga/README.md`` has the protocol.

Note: the function `vta.fpga.build` shadows the submodule of the same name as a package attribute; import
names from the module with ``from vta.fpga.build import …``.
"""

from .boards import BOARDS, Board, get_board
from .build import BuildResult, FPGABuildError, FPGAFitError, FPGATimingError, build
from .serial_device import LinkError, SerialDevice

__all__ = ["build", "BuildResult", "FPGABuildError", "FPGAFitError", "FPGATimingError", "SerialDevice",
           "LinkError", "BOARDS", "Board", "get_board"]
