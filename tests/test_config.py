"""VTAConfig: presets against the literal numbers of upstream's ISA (docs/upstream-isa.md, "Configuration keys" and
"Derived sizes"), upstream-style JSON loading, and the errors for every kind of bad config."""

import dataclasses
import json

import pytest

from vta import PRESETS, ConfigError, VTAConfig, load_config

UPSTREAM_JSON = {   # upstream's vta_config.json (HW_VER 0.0.2)
    "TARGET": "sim", "HW_VER": "0.0.2", "LOG_INP_WIDTH": 3, "LOG_WGT_WIDTH": 3, "LOG_ACC_WIDTH": 5, "LOG_BATCH": 0,
    "LOG_BLOCK": 4, "LOG_UOP_BUFF_SIZE": 15, "LOG_INP_BUFF_SIZE": 15, "LOG_WGT_BUFF_SIZE": 18,
    "LOG_ACC_BUFF_SIZE": 17,
}


def test_default_matches_upstream_numbers():
    cfg = load_config("default")
    assert (cfg.batch, cfg.block_in, cfg.block_out) == (1, 16, 16)
    assert (cfg.inp_elem_bytes, cfg.wgt_elem_bytes, cfg.acc_elem_bytes, cfg.out_elem_bytes,
            cfg.uop_elem_bytes) == (16, 256, 64, 16, 4)
    assert (cfg.uop_depth, cfg.inp_depth, cfg.wgt_depth, cfg.acc_depth, cfg.out_depth) == \
        (2**13, 2**11, 2**10, 2**11, 2**11)
    assert cfg.log_out_buff_size == 15      # 17 + 3 − 5
    assert cfg.macs_per_cycle == 256
    assert (cfg.inp_shape, cfg.wgt_shape, cfg.acc_shape, cfg.out_shape) == ((1, 16), (16, 16), (1, 16), (1, 16))
    assert cfg.dep_queue_depth == 1024
    assert cfg.elem_bytes == {"uop": 4, "inp": 16, "wgt": 256, "acc": 64, "out": 16}
    # each buffer's bytes are 2^LOG_*_BUFF_SIZE
    assert cfg.inp_depth * cfg.inp_elem_bytes == 2**15
    assert cfg.wgt_depth * cfg.wgt_elem_bytes == 2**18
    assert cfg.acc_depth * cfg.acc_elem_bytes == 2**17
    assert cfg.uop_depth * 4 == 2**15


def test_small_preset():
    # ISA.md formulas with BLOCK 8, uop 2^12 B, inp 2^12 B, wgt 2^14 B, acc 2^14 B:
    # uop 12−5+3 = 10, inp 12−0−3−3+3 = 9, wgt 14−3−3−3+3 = 8, acc 14−0−3−5+3 = 9
    cfg = load_config("small")
    assert (cfg.batch, cfg.block_in, cfg.block_out) == (1, 8, 8)
    assert (cfg.inp_elem_bytes, cfg.wgt_elem_bytes, cfg.acc_elem_bytes, cfg.out_elem_bytes) == (8, 64, 32, 8)
    assert (cfg.uop_depth, cfg.inp_depth, cfg.wgt_depth, cfg.acc_depth) == (2**10, 2**9, 2**8, 2**9)
    assert cfg.name == "small"


def test_presets_are_named_and_valid():
    assert set(PRESETS) >= {"default", "small"}
    for name in PRESETS:
        assert load_config(name).name == name


def test_odd_config_derivations():
    cfg = VTAConfig(log_batch=1, log_block_in=3, log_block_out=4)
    assert cfg.inp_shape == (2, 8) and cfg.wgt_shape == (16, 8) and cfg.acc_shape == (2, 16)
    assert (cfg.inp_elem_bytes, cfg.wgt_elem_bytes, cfg.acc_elem_bytes, cfg.out_elem_bytes) == (16, 128, 128, 32)
    # inp 15−1−3−3+3 = 11, wgt 18−4−3−3+3 = 11, acc 17−1−4−5+3 = 10
    assert (cfg.log_inp_depth, cfg.log_wgt_depth, cfg.log_acc_depth) == (11, 11, 10)


SMALL_BUFFERS = {"LOG_UOP_BUFF_SIZE": 12, "LOG_INP_BUFF_SIZE": 12, "LOG_WGT_BUFF_SIZE": 14, "LOG_ACC_BUFF_SIZE": 14}


def test_log_block_sets_both():
    cfg = VTAConfig.from_dict({"LOG_BLOCK": 3, **SMALL_BUFFERS})
    assert (cfg.block_in, cfg.block_out) == (8, 8)
    cfg = VTAConfig.from_dict({"LOG_BLOCK_IN": 3, "LOG_BLOCK_OUT": 5, **SMALL_BUFFERS})
    assert (cfg.block_in, cfg.block_out) == (8, 32)
    # agreeing duplicates are fine
    assert VTAConfig.from_dict({"LOG_BLOCK": 3, "LOG_BLOCK_IN": 3, **SMALL_BUFFERS}).block_out == 8


def test_log_block_with_default_buffers_overflows_the_gemm_word():
    # BLOCK 8 with the default byte sizes makes every buffer 2^12 deep: 2·(12+12+12) = 72 bits > 64
    with pytest.raises(ConfigError, match="GEMM high 64-bit half needs 72 bits"):
        VTAConfig.from_dict({"LOG_BLOCK": 3})


def test_log_block_contradiction():
    with pytest.raises(ConfigError, match=r"LOG_BLOCK_OUT \(5\) contradicts LOG_BLOCK \(4\)"):
        VTAConfig.from_dict({"LOG_BLOCK": 4, "LOG_BLOCK_OUT": 5})


def test_upstream_json_file(tmp_path):
    path = tmp_path / "vta_config.json"
    path.write_text(json.dumps(UPSTREAM_JSON))
    cfg = load_config(str(path))
    assert cfg == load_config("default")
    assert cfg.name == "vta_config"
    assert load_config(path) == cfg            # a PathLike works too


def test_dict_and_round_trip():
    cfg = load_config("small")
    assert VTAConfig.from_dict(cfg.to_dict()) == cfg
    assert "LOG_BLOCK" in cfg.to_dict() and "LOG_BLOCK_IN" not in cfg.to_dict()
    rect = VTAConfig.from_dict({"LOG_BLOCK_IN": 3, "LOG_BLOCK_OUT": 4, **SMALL_BUFFERS})
    assert {"LOG_BLOCK_IN", "LOG_BLOCK_OUT"} <= set(rect.to_dict()) and VTAConfig.from_dict(rect.to_dict()) == rect
    assert load_config(cfg) is cfg
    assert load_config({"LOG_BLOCK": 4}) == load_config("default")


def test_unknown_key():
    with pytest.raises(ConfigError, match="unknown config key 'LOG_BLOK'"):
        VTAConfig.from_dict({**UPSTREAM_JSON, "LOG_BLOK": 4})


@pytest.mark.parametrize("value", ["4", 4.0, True, None])
def test_non_integer_value(value):
    with pytest.raises(ConfigError, match="LOG_BATCH must be an integer"):
        VTAConfig.from_dict({"LOG_BATCH": value})


# key, a bad value, and the supported range that the message must state
@pytest.mark.parametrize("key, value, lo, hi", [
    ("LOG_INP_WIDTH", 4, 3, 3),
    ("LOG_WGT_WIDTH", 2, 3, 3),
    ("LOG_ACC_WIDTH", 6, 5, 5),
    ("LOG_BATCH", 5, 0, 4),
    ("LOG_BATCH", -1, 0, 4),
    ("LOG_BLOCK_IN", 0, 1, 6),
    ("LOG_BLOCK_OUT", 7, 1, 6),
    ("LOG_UOP_BUFF_SIZE", 16, 5, 15),
    ("LOG_UOP_BUFF_SIZE", 4, 5, 15),
    ("LOG_INP_BUFF_SIZE", 25, 4, 24),
    ("LOG_WGT_BUFF_SIZE", 3, 4, 24),
    ("LOG_ACC_BUFF_SIZE", 25, 4, 24),
    ("LOG_BUS_WIDTH", 10, 5, 9),
    ("LOG_BUS_WIDTH", 4, 5, 9),
])
def test_out_of_range_key_names_key_value_and_limit(key, value, lo, hi):
    with pytest.raises(ConfigError) as e:
        VTAConfig.from_dict({key: value})
    message = str(e.value)
    assert key in message and f"between {lo} and {hi}" in message and f"not {value}" in message


def test_buffer_too_small_for_one_element():
    # a wgt element of the default config is 256 bytes = 2^8; 2^6 bytes hold none
    with pytest.raises(ConfigError, match=r"LOG_WGT_BUFF_SIZE must hold at least one wgt element .* ≥ 8\), not 6"):
        VTAConfig(log_wgt_buff_size=6)


def test_buffer_deeper_than_sram_base():
    # inp depth 2^(24−0−4−3+3) = 2^20 elements, but sram_base is 16 bits → at most 2^(16+4) bytes
    with pytest.raises(ConfigError, match=r"LOG_INP_BUFF_SIZE .*2\^20 elements.*must be ≤ 20, not 24"):
        VTAConfig(log_inp_buff_size=24)


def test_gemm_fields_overflow_64_bits():
    # acc 11 + inp 11 + wgt 11 (LOG_WGT_BUFF_SIZE 19): 2·33 = 66 > 64 bits in the GEMM high half
    with pytest.raises(ConfigError, match="GEMM high 64-bit half needs 66 bits"):
        VTAConfig(log_wgt_buff_size=19)


def test_alu_fields_overflow_64_bits():
    # acc depth 2^12 (LOG_ACC_BUFF_SIZE 18), inp 2^8, wgt 2^8: GEMM 2·28 = 56 fits; ALU 4·12 + 20 = 68 does not
    with pytest.raises(ConfigError, match="ALU high 64-bit half needs 68 bits"):
        VTAConfig(log_acc_buff_size=18, log_inp_buff_size=12, log_wgt_buff_size=16)


def test_uop_overflow_32_bits():
    # acc 11, inp 9 (LOG_INP_BUFF_SIZE 13), wgt 12 (LOG_WGT_BUFF_SIZE 20): GEMM 2·32 = 64 and ALU 64 fit,
    # but a uop needs 11 + max(11, 9) + 12 = 34 bits
    with pytest.raises(ConfigError, match="micro-op needs .* = 34 bits, more than 32"):
        VTAConfig(log_inp_buff_size=13, log_wgt_buff_size=20)


def test_config_is_frozen():
    cfg = load_config("default")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.log_batch = 1
    assert hash(cfg) == hash(load_config("default"))


def test_load_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="neither a preset"):
        load_config("no-such-config")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(str(bad))
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must be a JSON object, not list"):
        load_config(str(listing))
    with pytest.raises(ConfigError, match="not int"):
        load_config(3)
