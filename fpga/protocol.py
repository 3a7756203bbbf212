"""The UART host protocol: framed binary requests and responses between `SerialDevice` and `UARTBridge`.

Both sides import this one table (command codes, status codes, header layout, CRC), so the gateware and the driver
cannot drift apart. The byte-level definition is in ``fpga/README.md`` ("Host link protocol"); in short::

    request  = SYNC(0x56) · cmd · addr (u32 LE) · length (u16 LE) · payload · crc8(cmd … payload)
    response = status · payload · crc8(status … payload)

- ``READ_MEM``/``WRITE_MEM`` move ``length`` bytes of board DRAM at byte address ``addr`` (any alignment).
- ``READ_REG``/``WRITE_REG`` access the 32-bit core register at byte offset ``addr`` (`vta.hw.regs.Reg`); the
  write payload is 4 bytes LE, ``length`` is ignored.
- ``LAUNCH`` writes ``CTRL_LAUNCH`` to ``Reg.CTRL`` (status ``BUSY`` if the core is running); ``POLL`` answers
  two bytes: ``Reg.CTRL`` (bit 1 done, bit 2 busy) and ``Reg.WAIT``; ``INFO`` answers 8 bytes (`Info`).
- A request with a bad CRC is answered ``BAD_CRC`` and not executed (a ``WRITE_MEM`` payload may already be in
  DRAM: the host simply repeats the write). The bridge drops bytes until SYNC between frames, and abandons a frame
  whose bytes stop arriving for ``frame_timeout`` cycles, so a host can always resynchronise by waiting.

CRC: CRC-8 with polynomial x⁸+x²+x+1 (0x07), initial value 0, no reflection, no final XOR ("CRC-8/SMBUS").
"""

import dataclasses
import json
import struct
import zlib
from enum import IntEnum

__all__ = ["SYNC", "HEADER_BYTES", "MAX_LENGTH", "PROTOCOL_VERSION", "Cmd", "Status", "Info", "crc8",
           "encode_request", "config_id", "RESPONSE_PAYLOAD", "FEATURE_STATE_COUNTERS"]

SYNC = 0x56                # 'V'
HEADER_BYTES = 7           # cmd, addr[4], length[2] (after SYNC)
MAX_LENGTH = 0xFFFF        # bytes per READ_MEM / WRITE_MEM frame
PROTOCOL_VERSION = 1
# Bits of `Info.features` (byte 3 of the INFO answer, 0 in bitstreams older than the bit): what the board's core has.
FEATURE_STATE_COUNTERS = 1 << 0   # the per-stage state and instruction counters (`vta.hw.regs.STATE_COUNTERS`)
CRC_POLY = 0x07


class Cmd(IntEnum):
    INFO = 0x00
    READ_MEM = 0x01
    WRITE_MEM = 0x02
    READ_REG = 0x03
    WRITE_REG = 0x04
    LAUNCH = 0x05
    POLL = 0x06


class Status(IntEnum):
    OK = 0x00
    BAD_CRC = 0x01     # request checksum mismatch; nothing executed
    BAD_CMD = 0x02     # unknown command byte
    BAD_ADDR = 0x03    # memory range outside the board DRAM, or a register offset not word-aligned / ≥ 256
    BUSY = 0x04        # LAUNCH while the core is running


# Fixed response payload sizes (READ_MEM answers ``length`` bytes).
RESPONSE_PAYLOAD = {Cmd.INFO: 8, Cmd.WRITE_MEM: 0, Cmd.READ_REG: 4, Cmd.WRITE_REG: 0, Cmd.LAUNCH: 0, Cmd.POLL: 2}


def crc8(data, crc=0):
    """CRC-8/SMBUS of ``data`` (bytes-like), continuing from ``crc``."""
    for byte in bytes(data):
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLY) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def encode_request(cmd, addr=0, length=0, payload=b""):
    """The bytes of one request frame."""
    if not 0 <= addr < 1 << 32:
        raise ValueError(f"addr must be a 32-bit unsigned integer, not {addr}")
    if not 0 <= length <= MAX_LENGTH:
        raise ValueError(f"length must be between 0 and {MAX_LENGTH}, not {length}")
    body = struct.pack("<BIH", int(cmd), addr, length) + bytes(payload)
    return bytes([SYNC]) + body + bytes([crc8(body)])


def config_id(cfg, dram_bytes):
    """A 32-bit fingerprint of the core config and DRAM size a bitstream was built for (reported by ``INFO``)."""
    text = json.dumps({"cfg": cfg.to_dict(), "dram_bytes": int(dram_bytes)}, sort_keys=True)
    return zlib.crc32(text.encode())


@dataclasses.dataclass(frozen=True)
class Info:
    """The ``INFO`` answer: protocol version, log2 bus bytes, log2 DRAM bytes, feature bits (``FEATURE_*``) and the
    `config_id`."""
    version: int
    log_bus_bytes: int
    log_dram_bytes: int
    config_id: int
    features: int = 0

    @classmethod
    def unpack(cls, payload):
        version, log_bus, log_dram, features, cid = struct.unpack("<BBBBI", bytes(payload))
        return cls(version, log_bus, log_dram, cid, features)

    def pack(self):
        return struct.pack("<BBBBI", self.version, self.log_bus_bytes, self.log_dram_bytes, self.features,
                           self.config_id)

    @property
    def dram_bytes(self):
        return 1 << self.log_dram_bytes
