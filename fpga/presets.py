"""Board presets: the VTA config and block-RAM DRAM size that fit each board (see `vta.fpga.boards`).

Sizing rules (numbers measured with the open flow, see ``fpga/README.md``):

- ULX3S 85F (LFE5U-85F: 84k LUT4, 156 MULT18X18D, 208 × 18 kbit EBR): an 8×8 int8 GEMM core (64 MACs/cycle,
  one MULT18X18D each) with a 64-bit bus. Buffers and DRAM share the EBR budget: buffers of 8 KiB uop/inp and
  32 KiB wgt/acc and 128 KiB of DRAM leave headroom for the command queues and the duplicated acc read ports.
- iCEBreaker (UP5K: 5280 LUT4, 8 DSP, 30 × 4 kbit EBR): the smallest legal config (2×2 GEMM, 32-bit bus, tiny
  buffers) with 4 KiB of DRAM. It does NOT fit (14,322 logic cells, 74 RAM blocks: 271 % and 246 %; the
  core's fixed-size queues and DMA logic dominate, see ``fpga/README.md``); kept so the failure is reproducible.

DRAM is on-chip block RAM because the ULX3S SDRAM needs a controller that is out of scope for now; it holds the
program, micro-ops and tensors of one run, so test programs must fit in it.
"""

from ..config import VTAConfig
from ..errors import ConfigError

__all__ = ["BOARD_PRESETS", "board_config"]

BOARD_PRESETS = {
    "ulx3s-85f": dict(
        config=dict(name="ulx3s-85f", log_block_in=3, log_block_out=3, log_bus_width=6,
                    log_uop_buff_size=13, log_inp_buff_size=13, log_wgt_buff_size=15, log_acc_buff_size=15),
        dram_bytes=128 * 1024),
    "icebreaker": dict(
        config=dict(name="icebreaker", log_block_in=1, log_block_out=1, log_bus_width=5,
                    log_uop_buff_size=7, log_inp_buff_size=7, log_wgt_buff_size=8, log_acc_buff_size=9),
        dram_bytes=4 * 1024),
}


def board_config(name):
    """``(VTAConfig, dram_bytes)`` of board preset ``name``."""
    if name not in BOARD_PRESETS:
        raise ConfigError(f"unknown board preset {name!r}; known presets are {', '.join(BOARD_PRESETS)}")
    preset = BOARD_PRESETS[name]
    return VTAConfig(**preset["config"]), preset["dram_bytes"]
