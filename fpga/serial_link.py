"""`SerialLink`: one request/response transaction of the host protocol (`vta.fpga.protocol`) over a byte port.

The port is anything with pyserial's ``write(bytes)`` and ``read(n) -> bytes`` (fewer bytes on timeout): a real
``serial.Serial``, or the in-process byte pipe of a simulation (`vta.fpga.cosim.CosimPort`). Keeping transactions
here lets the driver (`SerialDevice`) and the tests speak the protocol through the very same code.
"""

import struct

from ..errors import VTAError
from .protocol import RESPONSE_PAYLOAD, Cmd, Info, Status, crc8, encode_request

__all__ = ["SerialLink", "LinkError", "CHUNK"]

# Bytes per READ_MEM/WRITE_MEM frame: 0.36 s at 115200 baud, so one frame fits well inside a read timeout.
CHUNK = 4096


class LinkError(VTAError):
    """The board did not answer, answered garbage, or refused a request."""


class SerialLink:
    """Protocol transactions over ``port``; ``name`` names the port in error messages; ``retries`` on BAD_CRC;
    ``chunk`` bytes per memory frame."""

    def __init__(self, port, *, name=None, retries=3, chunk=CHUNK):
        for method in ("read", "write"):
            if not callable(getattr(port, method, None)):
                raise TypeError(f"port must have read() and write() like serial.Serial, not {type(port).__name__}")
        self.port = port
        self.name = name or getattr(port, "port", None) or type(port).__name__
        self.retries = retries
        self.chunk = chunk

    def _read_exact(self, n, what):
        data = self.port.read(n)
        if len(data) != n:
            raise LinkError(f"no answer from the board on {self.name} ({what}: got {len(data)} of {n} bytes before "
                            f"the timeout; is the bitstream loaded and the baud rate right?)")
        return bytes(data)

    def transact(self, cmd, addr=0, length=0, payload=b""):
        """Send one request and return the response payload; `LinkError` on a refused or garbled exchange."""
        cmd = Cmd(cmd)
        n = length if cmd == Cmd.READ_MEM else RESPONSE_PAYLOAD[cmd]
        frame = encode_request(cmd, addr, length, payload)
        for attempt in range(self.retries + 1):
            self.port.write(frame)
            status = self._read_exact(1, f"{cmd.name} status")[0]
            body = self._read_exact(n, f"{cmd.name} payload") if status == Status.OK else b""
            check = self._read_exact(1, f"{cmd.name} checksum")[0]
            if check != crc8(bytes([status]) + body):
                raise LinkError(f"corrupted answer to {cmd.name} on {self.name} (checksum mismatch)")
            if status == Status.BAD_CRC and attempt < self.retries:
                continue
            if status != Status.OK:
                name = Status(status).name if status in Status._value2member_map_ else f"0x{status:02x}"
                raise LinkError(f"the board refused {cmd.name} (addr 0x{addr:x}, length {length}): {name}")
            return body
        raise AssertionError("unreachable")

    # -- typed helpers ------------------------------------------------------------------------------------------

    def info(self):
        return Info.unpack(self.transact(Cmd.INFO))

    def read_reg(self, reg):
        return struct.unpack("<I", self.transact(Cmd.READ_REG, int(reg)))[0]

    def write_reg(self, reg, value):
        self.transact(Cmd.WRITE_REG, int(reg), 4, struct.pack("<I", value & 0xFFFFFFFF))

    def launch(self):
        self.transact(Cmd.LAUNCH)

    def poll(self):
        """``(ctrl, wait)``: the CTRL register's low byte and the WAIT bits."""
        ctrl, wait = self.transact(Cmd.POLL)
        return ctrl, wait

    def write_mem(self, addr, data, chunk=None):
        chunk = chunk or self.chunk
        data = bytes(data)
        for off in range(0, len(data), chunk):
            part = data[off:off + chunk]
            self.transact(Cmd.WRITE_MEM, addr + off, len(part), part)

    def read_mem(self, addr, length, chunk=None):
        chunk = chunk or self.chunk
        out = bytearray()
        for off in range(0, length, chunk):
            out += self.transact(Cmd.READ_MEM, addr + off, min(chunk, length - off))
        return bytes(out)
