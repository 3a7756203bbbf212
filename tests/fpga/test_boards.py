"""Board classes, presets, the ECP5 PLL calculator and the `vta fpga build` command wiring."""


import pytest

from vta.config import VTAConfig
from vta.errors import ConfigError
from vta.fpga.boards import BOARDS, ULX3S85F, Board, ICEBreaker, ecp5_pll_params, get_board
from vta.fpga.presets import BOARD_PRESETS, board_config


@pytest.mark.parametrize("fout", [25, 40, 50, 62.5, 75, 100])
def test_ecp5_pll_hits_the_frequency_within_the_data_sheet_ranges(fout):
    clki, clkfb, clkop, achieved = ecp5_pll_params(25, fout)
    pfd = 25 / clki
    assert abs(achieved - fout) <= 0.01 * fout
    assert achieved == pytest.approx(pfd * clkfb)
    assert 3.125 <= pfd <= 400                       # ECP5 data sheet: PFD range
    assert 400 <= achieved * clkop <= 800            # VCO range
    assert 1 <= clki <= 128 and 1 <= clkfb <= 80 and 1 <= clkop <= 128


def test_ecp5_pll_refuses_what_it_cannot_make():
    with pytest.raises(ConfigError, match="no ECP5 PLL setting"):
        ecp5_pll_params(25, 1000)


def test_boards_are_registered_by_name_and_have_presets():
    assert set(BOARDS) == {"ulx3s-85f", "icebreaker"}
    assert isinstance(get_board("ulx3s-85f"), ULX3S85F)
    assert isinstance(get_board(ICEBreaker), ICEBreaker)
    with pytest.raises(ConfigError, match="known boards are"):
        get_board("de10-nano")
    for _name, cls in BOARDS.items():
        assert issubclass(cls, Board) and cls.preset in BOARD_PRESETS


def test_ulx3s_preset_is_an_8x8_core_that_leaves_block_ram_for_its_dram():
    cfg, dram = board_config("ulx3s-85f")
    assert isinstance(cfg, VTAConfig) and cfg.macs_per_cycle == 64
    buffers = sum(1 << getattr(cfg, f"log_{b}_buff_size") for b in ("uop", "inp", "wgt", "acc")) \
        + (1 << cfg.log_out_buff_size)
    assert (buffers + dram) * 8 < ULX3S85F.bram_bits


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown board preset"):
        board_config("nope")


def test_cli_parser_and_handler(monkeypatch, tmp_path):
    import sys

    from vta.cli import build_parser
    calls = []
    # (the package attribute vta.fpga.build is the function; patch it in its module)
    monkeypatch.setattr(sys.modules["vta.fpga.build"], "build", lambda *a, **k: calls.append((a, k)))
    parser = build_parser()
    args = parser.parse_args(["fpga", "build", "--board", "ulx3s-85f", "--clock", "55", "--dram-kib", "64",
                              "-o", str(tmp_path)])
    assert args.handler(args) == 0
    (a, k), = calls
    assert a == ("ulx3s-85f",)
    assert k["clock_mhz"] == 55 and k["dram_bytes"] == 65536 and k["out_dir"] == str(tmp_path)
    assert k["cfg"] is None and k["use_cache"] is True
    with pytest.raises(Exception, match="invalid choice"):
        parser.parse_args(["fpga", "build", "--board", "nexys"])
