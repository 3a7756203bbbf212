"""`UARTBridge`: executes the host protocol (`vta.fpga.protocol`) from UART bytes on the core's registers and DRAM.

It sits between a `UARTReceiver`/`UARTTransmitter` pair and two ports: the core's CSR port (`CSRSignature`) and
the block-RAM DRAM's host port (`HostMemSignature`). Memory commands are byte-addressed: each byte is one strobed
word write or one word read, which is far faster than the serial line, so the bridge never throttles the UART.
Between commands the CSR address rests on ``Reg.CTRL``, so ``done``/``busy`` always show the core's state (LEDs).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..hw.interfaces import CSRSignature
from ..hw.regs import CTRL_BUSY, CTRL_DONE, CTRL_LAUNCH, Reg
from .bram_dram import HostMemSignature
from .protocol import PROTOCOL_VERSION, SYNC, Cmd, Info, Status, crc8

__all__ = ["UARTBridge", "crc8_next"]


def crc8_next(crc, byte):
    """The CRC-8 (`vta.fpga.protocol.crc8`) register after shifting in ``byte``, as a combinational expression.

    A CRC step is linear over GF(2) in ``crc ^ byte``, so each output bit is the XOR of the input bits whose
    single-bit CRC sets it (a flat XOR per bit instead of eight nested muxes).
    """
    c = crc ^ byte
    columns = [crc8(bytes([1 << j])) for j in range(8)]
    return Cat(_xor([c[j] for j in range(8) if columns[j] >> i & 1]) for i in range(8))


def _xor(bits):
    out = bits[0]
    for bit in bits[1:]:
        out = out ^ bit
    return out


class UARTBridge(wiring.Component):
    """The protocol engine.

    - ``dram_bytes``: size of the DRAM behind ``mem`` (a power of two); requests outside it answer ``BAD_ADDR``.
    - ``data_width``: width of the ``mem`` port (the core's bus width).
    - ``config_id``: the 32-bit fingerprint reported by ``INFO`` (`vta.fpga.protocol.config_id`).
    - ``frame_timeout``: cycles without a byte after which a half-received request is abandoned.
    """

    def __init__(self, *, dram_bytes, data_width, config_id=0, features=0, frame_timeout=1 << 20):
        if isinstance(dram_bytes, bool) or not isinstance(dram_bytes, int) or dram_bytes <= 0 \
                or dram_bytes & (dram_bytes - 1):
            raise ValueError(f"dram_bytes must be a power of two, not {dram_bytes!r}")
        if isinstance(frame_timeout, bool) or not isinstance(frame_timeout, int) or frame_timeout < 16:
            raise ValueError(f"frame_timeout must be an integer ≥ 16 (cycles), not {frame_timeout!r}")
        self.dram_bytes = dram_bytes
        self.data_width = data_width
        self.bus_bytes = data_width // 8
        self.log_bus_bytes = self.bus_bytes.bit_length() - 1
        self.config_id = config_id
        self.frame_timeout = frame_timeout
        self.info = Info(PROTOCOL_VERSION, self.log_bus_bytes, dram_bytes.bit_length() - 1, config_id, features)
        depth = max(2, dram_bytes // self.bus_bytes)
        super().__init__({
            "rx": In(stream.Signature(8, always_ready=True)),
            "tx": Out(stream.Signature(8)),
            "csr": Out(CSRSignature()),
            "mem": Out(HostMemSignature(addr_width=(depth - 1).bit_length(), data_width=data_width)),
            "done": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        rx, tx, csr, mem = self.rx, self.tx, self.csr, self.mem
        lb = self.log_bus_bytes

        hdr = Signal(56)                      # cmd · addr (32) · length (16), received LSB first
        cmd, hdr_addr, hdr_len = hdr[0:8], hdr[8:40], hdr[40:56]
        count = Signal(3)
        crc = Signal(8)                       # over the request
        tx_crc = Signal(8)                    # over the response
        addr = Signal(32)
        remaining = Signal(16)
        wdata = Signal(32)
        status = Signal(8)
        resp = Signal(64)
        resp_len = Signal(4)
        byte = Signal(8)
        lane = Signal(max(1, lb))
        ctrl = Signal(8)                      # Reg.CTRL, sampled whenever the CSR address rests on it
        timer = Signal(range(self.frame_timeout + 1))

        m.d.comb += [csr.addr.eq(Reg.CTRL), self.done.eq((ctrl & CTRL_DONE) != 0),
                     self.busy.eq((ctrl & CTRL_BUSY) != 0), mem.addr.eq(addr[lb:])]
        m.d.comb += mem.w_data.eq(Cat([byte] * self.bus_bytes))
        m.d.sync += timer.eq(Mux(rx.valid, 0, timer + 1))
        timed_out = timer == self.frame_timeout
        range_ok = (hdr_addr + hdr_len) <= self.dram_bytes
        reg_ok = (hdr_addr[len(csr.addr):] == 0) & (hdr_addr[:2] == 0)    # a word offset inside the CSR space
        lane_bits = addr[:lb] if lb else Const(0, 1)

        def receive(then, *, add_to_crc=True):
            """On a request byte: fold it into the request CRC (not the CRC byte itself) and run ``then``; after
            ``frame_timeout`` cycles without a byte, drop the half-received request and wait for the next SYNC."""
            with m.If(rx.valid):
                if add_to_crc:
                    m.d.sync += crc.eq(crc8_next(crc, rx.payload))
                then()
            with m.Elif(timed_out):
                m.next = "SYNC"

        def receive_word(reg, n_bytes, next_state):
            """Shift ``n_bytes`` request bytes into ``reg`` (least significant first; ``count`` is 0 on entry),
            then go to ``next_state``."""
            def word_byte():
                m.d.sync += [reg.eq(Cat(reg[8:], rx.payload)), count.eq(count + 1)]
                with m.If(count == n_bytes - 1):
                    m.next = next_state
            receive(word_byte)

        def send(value, then):
            m.d.comb += [tx.valid.eq(1), tx.payload.eq(value)]
            with m.If(tx.ready):
                m.d.sync += tx_crc.eq(crc8_next(tx_crc, value))
                then()

        with m.FSM():
            with m.State("SYNC"):
                m.d.sync += ctrl.eq(csr.r_data[:8])
                with m.If(rx.valid & (rx.payload == SYNC)):
                    m.d.sync += [count.eq(0), crc.eq(0)]
                    m.next = "HEADER"

            with m.State("HEADER"):
                receive_word(hdr, 7, "DISPATCH")

            with m.State("DISPATCH"):
                m.d.sync += [addr.eq(hdr_addr), remaining.eq(hdr_len), status.eq(Status.OK), resp_len.eq(0),
                             count.eq(0)]
                with m.Switch(cmd):
                    for code, addr_ok, next_state in ((Cmd.WRITE_MEM, range_ok, "WDATA_FIRST"),
                                                      (Cmd.READ_MEM, range_ok, "CRC"),
                                                      (Cmd.WRITE_REG, reg_ok, "REGDATA"),
                                                      (Cmd.READ_REG, reg_ok, "CRC")):
                        with m.Case(code):
                            m.d.sync += status.eq(Mux(addr_ok, Status.OK, Status.BAD_ADDR))
                            m.next = next_state
                    with m.Case(Cmd.INFO, Cmd.LAUNCH, Cmd.POLL):
                        m.next = "CRC"
                    with m.Default():
                        m.d.sync += status.eq(Status.BAD_CMD)
                        m.next = "CRC"

            with m.State("WDATA_FIRST"):       # a zero-length write has no payload
                with m.If(remaining == 0):
                    m.next = "CRC"
                with m.Else():
                    m.next = "WDATA"

            with m.State("WDATA"):
                def data_byte():
                    m.d.sync += byte.eq(rx.payload)
                    m.next = "WWRITE"
                receive(data_byte)

            with m.State("WWRITE"):
                written = Signal()
                with m.If(status == Status.OK):
                    m.d.comb += mem.w_en.eq(Cat(lane_bits == i for i in range(self.bus_bytes)))
                    m.d.comb += written.eq(mem.ack)
                with m.Else():
                    m.d.comb += written.eq(1)
                with m.If(written):
                    m.d.sync += [addr.eq(addr + 1), remaining.eq(remaining - 1)]
                    m.next = "WNEXT"

            with m.State("WNEXT"):
                with m.If(remaining == 0):
                    m.next = "CRC"
                with m.Else():
                    m.next = "WDATA"

            with m.State("REGDATA"):
                receive_word(wdata, 4, "CRC")

            with m.State("CRC"):
                def crc_byte():
                    with m.If(rx.payload != crc):
                        m.d.sync += status.eq(Status.BAD_CRC)
                        m.next = "RESPOND"
                    with m.Elif(status != Status.OK):
                        m.next = "RESPOND"
                    with m.Else():
                        m.next = "EXECUTE"
                receive(crc_byte, add_to_crc=False)

            with m.State("EXECUTE"):
                with m.Switch(cmd):
                    with m.Case(Cmd.INFO):
                        m.d.sync += [resp.eq(int.from_bytes(self.info.pack(), "little")), resp_len.eq(8)]
                    with m.Case(Cmd.READ_REG):
                        m.d.comb += csr.addr.eq(addr)
                        m.d.sync += [resp.eq(csr.r_data), resp_len.eq(4)]
                    with m.Case(Cmd.WRITE_REG):
                        m.d.comb += [csr.addr.eq(addr), csr.w_data.eq(wdata), csr.w_en.eq(1)]
                    with m.Case(Cmd.LAUNCH):
                        with m.If(ctrl & CTRL_BUSY):
                            m.d.sync += status.eq(Status.BUSY)
                        with m.Else():
                            m.d.comb += [csr.addr.eq(Reg.CTRL), csr.w_data.eq(CTRL_LAUNCH), csr.w_en.eq(1)]
                    with m.Case(Cmd.POLL):
                        m.d.comb += csr.addr.eq(Reg.WAIT)
                        m.d.sync += [resp.eq(Cat(ctrl, csr.r_data[:8])), resp_len.eq(2)]
                m.next = "RESPOND"

            with m.State("RESPOND"):
                m.d.sync += tx_crc.eq(0)
                m.next = "STATUS"

            with m.State("STATUS"):
                def after_status():
                    with m.If(status != Status.OK):
                        m.next = "TX_CRC"
                    with m.Elif((cmd == Cmd.READ_MEM) & (remaining != 0)):
                        m.next = "READ_REQ"
                    with m.Elif(resp_len != 0):
                        m.next = "TX_FIXED"
                    with m.Else():
                        m.next = "TX_CRC"
                send(status, after_status)

            with m.State("TX_FIXED"):
                def after_fixed():
                    m.d.sync += [resp.eq(resp >> 8), resp_len.eq(resp_len - 1)]
                    with m.If(resp_len == 1):
                        m.next = "TX_CRC"
                send(resp[:8], after_fixed)

            with m.State("READ_REQ"):
                m.d.comb += mem.r_en.eq(1)
                with m.If(mem.ack):
                    m.d.sync += lane.eq(lane_bits)
                    m.next = "READ_DATA"

            with m.State("READ_DATA"):
                m.d.sync += byte.eq(mem.r_data.word_select(lane, 8) if lb else mem.r_data[:8])
                m.next = "READ_SEND"

            with m.State("READ_SEND"):
                def after_byte():
                    m.d.sync += [addr.eq(addr + 1), remaining.eq(remaining - 1)]
                    with m.If(remaining == 1):
                        m.next = "TX_CRC"
                    with m.Else():
                        m.next = "READ_REQ"
                send(byte, after_byte)

            with m.State("TX_CRC"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(tx_crc)]
                with m.If(tx.ready):
                    m.next = "SYNC"
        return m
