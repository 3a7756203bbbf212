"""`SerialDevice`: a VTA on an FPGA board behind the UART bridge, as a `vta.device.Device`.

A run uploads the DRAM image (the whole image the first time, then only the chunks that differ from what the board
already holds), sets ``INSN_ADDR``/``INSN_COUNT``, launches, polls ``done`` and reads back what the program's
STOREs wrote (or the whole image), then the cycle and performance counters. The DMA window (``Reg.DMA_BASE``/
``DMA_LIMIT``) is set to the uploaded image; a run the core halts on a fault (``CTRL_FAULT``) raises the functional
simulator's error class naming the instruction (``Reg.FAULT``, ``Reg.FAULT_INDEX``).
The board's DRAM is block RAM of a fixed size (``INFO``); an image larger than it
is refused before anything is sent. A run that is not done within ``run_timeout`` seconds raises `DeadlockError`
naming the modules that wait on a dependency token (``Reg.WAIT``).
"""

import time

import numpy as np

from ..config import load_config
from ..device import Closing
from ..errors import ConfigError, DeadlockError, ProgramError
from ..hw.regs import CTRL_BUSY, CTRL_DONE, CTRL_FAULT, Reg, busy_summary, fault_error, read_counters
from ..isa.stages import INSN_BYTES
from .protocol import FEATURE_STATE_COUNTERS, PROTOCOL_VERSION, config_id
from .serial_link import CHUNK, LinkError, SerialLink

__all__ = ["SerialDevice", "LinkError", "store_ranges"]

SYNC_CHUNK = 256        # granularity of the "what changed since the last upload" comparison


class SerialDevice(Closing):
    """Drive a board over ``port`` (a device path/URL opened with pyserial, or an open byte port).

    - ``cfg``: the `VTAConfig` (or preset/path) the bitstream was built for; checked against the board's ``INFO``.
    - ``baud``: serial speed (must match the bitstream); ``timeout``: seconds to wait for an answer byte.
    - ``run_timeout``: seconds a run may take before it is declared hung; ``poll_interval``: seconds between polls.
    - ``readback``: ``"stores"`` reads back only the DRAM ranges the program's STOREs write (per the semantics,
      nothing else in DRAM changes; far quicker on a slow line), ``"all"`` the whole image.
    """

    def __init__(self, port, cfg="small", *, baud=115200, timeout=2.0, run_timeout=30.0, poll_interval=0.001,
                 readback="stores"):
        self.cfg = load_config(cfg)
        if readback not in ("stores", "all"):
            raise ValueError(f"readback must be 'stores' or 'all', not {readback!r}")
        self.readback = readback
        self.run_timeout = run_timeout
        self.poll_interval = poll_interval
        if isinstance(port, str):
            try:
                import serial
            except ImportError:
                raise ConfigError("SerialDevice needs pyserial: pip install 'amaranth-vta[fpga]'") from None
            try:
                port_obj = serial.serial_for_url(port, baudrate=baud, timeout=timeout)
            except (serial.SerialException, ValueError) as e:
                raise LinkError(f"cannot open serial port {port!r}: {e}") from None
            # a memory frame must cross the line well within one read timeout (10 bits per byte)
            chunk = max(64, min(CHUNK, int(baud * timeout / 20)))
            self.link = SerialLink(port_obj, name=port, chunk=chunk)
            self._owned = port_obj
        else:
            self.link = SerialLink(port)
            self._owned = None
        self.info = self.link.info()
        if self.info.version != PROTOCOL_VERSION:
            raise LinkError(f"the board speaks protocol version {self.info.version}, this driver "
                            f"{PROTOCOL_VERSION}: rebuild the bitstream or update amaranth-vta")
        expected = config_id(self.cfg, self.info.dram_bytes)
        if 1 << self.info.log_bus_bytes != self.cfg.bus_bytes or self.info.config_id != expected:
            raise ConfigError(f"the board's bitstream was built for a different VTA config than {self.cfg.name!r} "
                              f"(config id 0x{self.info.config_id:08x}, expected 0x{expected:08x}); pass the "
                              f"config the bitstream was built with")
        self.dram_bytes = self.info.dram_bytes
        self._shadow = None     # what the board's DRAM holds, as far as this driver knows
        self.last_upload_bytes = 0

    def close(self):
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def __repr__(self):
        return f"SerialDevice({self.link.name!r}, {self.cfg.name!r}, dram_bytes={self.dram_bytes})"

    # -- the Device protocol --------------------------------------------------------------------------------------

    def run(self, dram, insn_addr, insn_count):
        from ..sim.dram import check_dram, check_run_args
        from ..sim.stats import count_program
        from ..sim.verilator import describe_wait
        start = time.perf_counter()
        dram = check_dram(dram)
        image = check_run_args(dram, insn_addr, insn_count, INSN_BYTES)
        stats = count_program(self.cfg, image)
        if dram.size > self.dram_bytes:
            raise ProgramError(f"the DRAM image is {dram.size} bytes but the board holds only {self.dram_bytes} "
                               f"bytes of block RAM; use a smaller image (or a board preset with more DRAM)")
        self._upload(dram)
        self.link.write_reg(Reg.INSN_ADDR, int(insn_addr))
        self.link.write_reg(Reg.INSN_COUNT, int(insn_count))
        # every DMA of the run stays inside the uploaded image (the core checks each before issuing it)
        self.link.write_reg(Reg.DMA_BASE, 0)
        self.link.write_reg(Reg.DMA_LIMIT, dram.size - 1)
        self.link.launch()
        deadline = time.monotonic() + self.run_timeout
        while True:
            ctrl, wait = self.link.poll()
            if ctrl & CTRL_DONE and not ctrl & CTRL_BUSY:
                break
            if time.monotonic() > deadline:
                waits = describe_wait(wait)
                raise DeadlockError(
                    f"the core on {self.link.name} is not done after {self.run_timeout} s; "
                    f"{waits or 'no module reports waiting on a token'} ({busy_summary(self.link.read_reg)})")
            if self.poll_interval:
                time.sleep(self.poll_interval)
        ranges = [(0, dram.size)] if self.readback == "all" else store_ranges(self.cfg, image, dram.size)
        for lo, hi in ranges:
            dram[lo:hi] = np.frombuffer(self.link.read_mem(lo, hi - lo), dtype=np.uint8)
        self._shadow = dram.copy()
        if ctrl & CTRL_FAULT:   # the core rejected an instruction: the same error the functional simulator raises
            raise fault_error(self.cfg, self.link.read_reg(Reg.FAULT), self.link.read_reg(Reg.FAULT_INDEX),
                              dma_base=0, dma_limit=dram.size - 1, where=f"the core on {self.link.name}")
        has_states = bool(self.info.features & FEATURE_STATE_COUNTERS)   # 0 from bitstreams that predate the bit
        for name, value in read_counters(self.link.read_reg, states=has_states).items():
            setattr(stats, name, value)
        stats.wall_seconds = time.perf_counter() - start
        return stats

    def _upload(self, dram):
        """Write the chunks of ``dram`` that differ from the board's copy (all of it the first time)."""
        sent = 0
        if self._shadow is None or self._shadow.size != dram.size:
            self.link.write_mem(0, dram.tobytes())
            sent = dram.size
        else:
            n = -(-dram.size // SYNC_CHUNK)
            pad = n * SYNC_CHUNK - dram.size
            diff = np.pad(dram != self._shadow, (0, pad)).reshape(n, SYNC_CHUNK).any(axis=1)
            k = 0
            while k < n:
                if not diff[k]:
                    k += 1
                    continue
                j = k
                while j < n and diff[j]:
                    j += 1
                lo, hi = k * SYNC_CHUNK, min(j * SYNC_CHUNK, dram.size)
                self.link.write_mem(lo, dram[lo:hi].tobytes())
                sent += hi - lo
                k = j
        self.last_upload_bytes = sent
        self._shadow = dram.copy()

    def csr_read(self, reg):
        return self.link.read_reg(reg)


def store_ranges(cfg, image, size):
    """Merged byte ranges ``[(lo, hi)]`` of DRAM that the STOREs before the first FINISH write."""
    from ..isa import decode_program
    from ..isa.opcodes import Opcode
    spans = []
    for insn in decode_program(cfg, image):
        if insn.opcode == Opcode.FINISH:
            break
        if insn.opcode == Opcode.STORE and insn.y_size and insn.x_size:
            eb = cfg.out_elem_bytes
            lo = insn.dram_base * eb
            hi = (insn.dram_base + (insn.y_size - 1) * insn.x_stride + insn.x_size) * eb
            spans.append((lo, min(hi, size)))
    merged = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged
