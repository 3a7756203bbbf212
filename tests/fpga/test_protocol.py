"""The host protocol's pure-Python pieces: CRC, frame layout, INFO, config fingerprints."""

import struct

import pytest

from vta import load_config
from vta.fpga.protocol import SYNC, Cmd, Info, config_id, crc8, encode_request


def test_crc8_matches_the_catalogue_check_value():
    # CRC-8/SMBUS (poly 0x07, init 0): the published check value of b"123456789" is 0xF4.
    assert crc8(b"123456789") == 0xF4
    assert crc8(b"") == 0


def test_crc8_continues_across_calls():
    assert crc8(b"6789", crc8(b"12345")) == crc8(b"123456789")


def test_request_layout_is_sync_header_payload_crc():
    frame = encode_request(Cmd.WRITE_MEM, 0x12345678, 3, b"\x01\x02\x03")
    assert frame[0] == SYNC == 0x56
    assert frame[1] == 0x02
    assert struct.unpack("<IH", frame[2:8]) == (0x12345678, 3)
    assert frame[8:11] == b"\x01\x02\x03"
    assert frame[11] == crc8(frame[1:11])
    assert len(frame) == 12


@pytest.mark.parametrize("addr, length", [(-1, 0), (1 << 32, 0), (0, 0x10000)])
def test_request_fields_are_range_checked(addr, length):
    with pytest.raises(ValueError):
        encode_request(Cmd.READ_MEM, addr, length)


def test_info_round_trip():
    info = Info(1, 3, 16, 0xDEADBEEF)
    raw = info.pack()
    assert len(raw) == 8 and raw[:3] == bytes([1, 3, 16])
    assert Info.unpack(raw) == info
    assert info.dram_bytes == 65536


def test_config_id_tells_configs_and_dram_sizes_apart():
    small, default = load_config("small"), load_config("default")
    assert config_id(small, 4096) == config_id(load_config("small"), 4096)
    assert config_id(small, 4096) != config_id(default, 4096)
    assert config_id(small, 4096) != config_id(small, 8192)
