"""One AXI write beat into a byte-array DRAM, honouring its byte strobes: shared by the Amaranth-simulator DRAM
model (tests/hw) and the cocotb one (tests/cocotb), which must apply W beats identically."""

__all__ = ["write_strobed"]


def write_strobed(dram, addr, data, strb, beat_bytes):
    """Write the bytes of ``data`` (an int, ``beat_bytes`` wide, little-endian) whose strobe bit is set."""
    raw = data.to_bytes(beat_bytes, "little")
    for i in range(beat_bytes):
        if strb >> i & 1:
            dram[addr + i] = raw[i]
