"""cocotb side helpers shared by the testbenches: clock/reset, lane packing, an AXI4 slave DRAM model, a CSR driver.

Timing discipline (the same in every model here): everything happens once per cycle after the *falling* clock
edge — drive this cycle's inputs, wait for ``ReadOnly`` (the design's combinational outputs have settled), sample
the handshakes that the next rising edge will complete. This avoids any doubt about which side of the rising edge
a sampled value belongs to.
"""

import dataclasses
import itertools
import json
import os
import random
from collections import deque

import numpy as np
from axi_beats import write_strobed
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from vta.config import VTAConfig, load_config

PERIOD_NS = 10


def tb_config():
    """The VTAConfig the pytest side asked for: ``VTA_TB_CONFIG_JSON`` (the dataclass fields, see `config_env`) or
    the preset ``VTA_TB_CONFIG`` (``small`` by default)."""
    spec = os.environ.get("VTA_TB_CONFIG_JSON")
    if spec:
        return VTAConfig(**json.loads(spec))
    return load_config(os.environ.get("VTA_TB_CONFIG", "small"))


def config_env(cfg):
    """The environment entry that makes `tb_config` return ``cfg`` in the simulator process."""
    return {"VTA_TB_CONFIG_JSON": json.dumps(dataclasses.asdict(cfg))}


def rect_config():
    """BATCH 2, BLOCK_IN 8, BLOCK_OUT 4 with small buffers: distinct sizes catch transposed lanes."""
    return VTAConfig(log_batch=1, log_block_in=3, log_block_out=2, log_uop_buff_size=12, log_inp_buff_size=13,
                     log_wgt_buff_size=13, log_acc_buff_size=14, name="rect")


def tb_seed(default=1):
    return int(os.environ.get("VTA_TB_SEED", default))


async def start_clock_and_reset(dut, cycles=3):
    """Start a 100 MHz clock on ``dut.clk`` and hold ``dut.rst`` high for ``cycles`` cycles."""
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


async def sample_each_cycle(clk, sample):
    """Call ``sample()`` once per cycle, forever, with the design's outputs settled (``ReadOnly`` after each falling
    edge) — a monitor; start it with ``cocotb.start_soon``."""
    while True:
        await ReadOnly()
        sample()
        await FallingEdge(clk)


async def wait_until(clk, cond, max_cycles=None, failure="condition not met"):
    """Check ``cond()`` once per cycle with the outputs settled; once it holds, step to the next falling edge and
    return how many cycles were checked before (0: it held at once). After ``max_cycles`` checks (None: no limit)
    raise ``AssertionError(failure)``."""
    for n in itertools.count() if max_cycles is None else range(max_cycles):
        await ReadOnly()
        if cond():
            await FallingEdge(clk)
            return n
        await FallingEdge(clk)
    raise AssertionError(failure)


# -- lane packing ---------------------------------------------------------------------------------------------------

def pack(values, width):
    """Pack integer lanes (lane k at bits [k·width, (k+1)·width)) into one unsigned int, each wrapped to width."""
    mask = (1 << width) - 1
    out = 0
    for k, v in enumerate(np.asarray(values).ravel().tolist()):
        out |= (int(v) & mask) << (k * width)
    return out


def unpack(word, width, count, signed=True):
    """The inverse of `pack`: ``count`` lanes of ``width`` bits as a list of Python ints."""
    mask = (1 << width) - 1
    lanes = []
    for k in range(count):
        v = (int(word) >> (k * width)) & mask
        if signed and v >> (width - 1):
            v -= 1 << width
        lanes.append(v)
    return lanes


def wrap(x, bits):
    """Two's complement wrap of a Python int."""
    half = 1 << (bits - 1)
    return (int(x) + half) % (1 << bits) - half


# -- AXI4 slave DRAM ------------------------------------------------------------------------------------------------

class AxiProtocolError(AssertionError):
    pass


REQUEST_FIELDS = ("addr", "len", "size", "burst")   # AR and AW payload, in `check_burst`'s argument order


class AxiSlaveDram:
    """An AXI4 slave over a ``np.uint8`` DRAM image, on the flattened ports ``<prefix>ar__addr`` etc.

    Reads: each accepted AR burst answers after ``latency`` cycles, one beat per cycle in order (several bursts
    may be outstanding). Writes: W beats of the oldest accepted AW burst, strobes honoured, one B per burst after
    its last beat. ``stall`` ∈ [0, 1) randomly drops AR/AW/W ``ready``, R ``valid`` and B ``valid`` to test
    back-pressure. Every burst is checked against the rules the core promises (INCR, full-width size, aligned,
    ≤ 256 beats, no 4 KiB crossing, inside DRAM) and W ``last`` must mark exactly the burst end; R ``valid`` once
    raised is held with its data until taken (AXI rule), and so are AXI outputs of the master, which is checked:
    a master ``valid`` may not drop, nor its payload change, before the handshake.
    """

    def __init__(self, dut, dram, bus_width, *, prefix="axi__", latency=3, stall=0.0, seed=0, read_only=False,
                 write_only=False,
                 max_outstanding_reads=None):
        self.dut = dut
        self.dram = dram
        self.bb = bus_width // 8
        self.prefix = prefix
        self.latency = latency
        self.stall = stall
        self.rng = random.Random(seed)
        self.read_only = read_only
        self.write_only = write_only
        self.reads = []    # (addr, beats) of every accepted AR
        self.writes = []   # (addr, beats) of every accepted AW
        self.r_beats = 0
        self.w_beats = 0
        self.max_outstanding_reads = max_outstanding_reads
        self.peak_outstanding_reads = 0
        self.b_pending = 0   # write bursts complete but not yet acknowledged
        self.wq = deque()

    def sig(self, name):
        return getattr(self.dut, self.prefix + name)

    def _busy(self):
        return self.stall > 0 and self.rng.random() < self.stall

    def _sample_master(self, channel, fields, prev):
        """Sample master channel ``channel`` (settled, before the rising edge): ``(fire, payload, offered)`` with
        ``payload`` the ``fields`` as ints (None without valid) and ``offered`` the payload still waiting for ready
        (None once taken or not offered), to pass back as ``prev`` next cycle. Raises if a payload offered last
        cycle and not taken has dropped its valid or changed (AXI: held until the handshake)."""
        valid = int(self.sig(f"{channel}__valid").value)
        payload = tuple(int(self.sig(f"{channel}__{f}").value) for f in fields) if valid else None
        if prev is not None and payload != prev:
            raise AxiProtocolError(f"{channel.upper()} valid/payload changed before ready: {prev} then {payload}")
        fire = valid and int(self.sig(f"{channel}__ready").value)
        return fire, payload, None if fire or not valid else payload

    def check_burst(self, kind, addr, length, size, burst):
        beats = length + 1
        where = f"{kind} burst at {addr:#x} × {beats} beats"
        if burst != 1:
            raise AxiProtocolError(f"{where}: burst type {burst}, expected INCR (1)")
        if (1 << size) != self.bb:
            raise AxiProtocolError(f"{where}: size {size} on a {self.bb}-byte bus")
        if addr % self.bb:
            raise AxiProtocolError(f"{where}: address not aligned to the {self.bb}-byte bus")
        if addr // 4096 != (addr + beats * self.bb - 1) // 4096:
            raise AxiProtocolError(f"{where}: crosses a 4 KiB boundary")
        if addr + beats * self.bb > len(self.dram):
            raise AxiProtocolError(f"{where}: beyond the {len(self.dram)}-byte DRAM")

    async def run(self):
        s = self.sig
        bb = self.bb
        pending = deque()   # [ready_cycle, addr, beats_left] accepted AR bursts
        wq = self.wq        # [addr, beats_left] accepted AW bursts
        self.b_pending = 0
        n = 0
        r_hold = False      # an R beat is offered and must stay until taken
        b_hold = False
        ar_prev = aw_prev = w_prev = None  # master payload offered but not taken last cycle
        clk = self.dut.clk
        while True:
            await FallingEdge(clk)
            n += 1
            # -- drive --
            offer_r = bool(pending) and pending[0][0] <= n and (r_hold or not self._busy())
            if not self.write_only:
                if offer_r:
                    _, addr, left = pending[0]
                    s("r__data").value = int.from_bytes(self.dram[addr:addr + bb].tobytes(), "little")
                    s("r__last").value = int(left == 1)
                    s("r__resp").value = 0
                s("r__valid").value = int(offer_r)
                s("ar__ready").value = int(not self._busy())
            if not self.read_only:
                s("aw__ready").value = int(not self._busy())
                s("w__ready").value = int(bool(wq) and not self._busy())
                offer_b = self.b_pending > 0 and (b_hold or not self._busy())
                s("b__valid").value = int(offer_b)
                s("b__resp").value = 0
            await ReadOnly()
            # -- sample --
            ar_fire = r_fire = False
            if not self.write_only:
                ar_fire, ar, ar_prev = self._sample_master("ar", REQUEST_FIELDS, ar_prev)
                r_fire = offer_r and int(s("r__ready").value)
                r_hold = offer_r and not r_fire
            if not self.read_only:
                aw_fire, aw, aw_prev = self._sample_master("aw", REQUEST_FIELDS, aw_prev)
                w_fire, w, w_prev = self._sample_master("w", ("data", "strb", "last"), w_prev)
                b_fire = offer_b and int(s("b__ready").value)
                b_hold = offer_b and not b_fire
            # -- the rising edge completes the handshakes sampled above --
            if ar_fire:
                self.check_burst("read", *ar)
                self.reads.append((ar[0], ar[1] + 1))
                pending.append([n + self.latency, ar[0], ar[1] + 1])
                self.peak_outstanding_reads = max(self.peak_outstanding_reads, len(pending))
            if r_fire:
                head = pending[0]
                head[1] += bb
                head[2] -= 1
                self.r_beats += 1
                if head[2] == 0:
                    pending.popleft()
            if self.read_only:
                continue
            if w_fire:
                if not wq:
                    raise AxiProtocolError("W beat before its AW (this slave does not accept W first)")
                addr, left = wq[0]
                data, strb, last = w
                write_strobed(self.dram, addr, data, strb, bb)
                if bool(last) != (left == 1):
                    raise AxiProtocolError(f"W last={last} with {left} beats left in the burst at {addr:#x}")
                self.w_beats += 1
                wq[0][0] += bb
                wq[0][1] -= 1
                if left == 1:
                    wq.popleft()
                    self.b_pending += 1
            if aw_fire:
                self.check_burst("write", *aw)
                self.writes.append((aw[0], aw[1] + 1))
                wq.append([aw[0], aw[1] + 1])
            if b_fire:
                self.b_pending -= 1


def expected_bursts(elem_bytes, base, y_size, x_size, x_stride, bus_bytes):
    """The (address, beats) AXI bursts of a 2-D DMA transfer (read or write), from the rules alone: one request per
    row covering its bytes (row ``y`` starts at element ``base + y·x_stride``) in whole beats, split into INCR bursts
    of at most 256 beats that never cross a 4 KiB boundary — each burst as long as those two rules allow."""
    bursts = []
    for y in range(y_size):
        start = (base + y * x_stride) * elem_bytes
        end = start + x_size * elem_bytes
        addr = start // bus_bytes * bus_bytes
        left = -(-end // bus_bytes) - start // bus_bytes
        while left:
            n = min(left, 256, (4096 - addr % 4096) // bus_bytes)
            bursts.append((addr, n))
            addr += n * bus_bytes
            left -= n
    return bursts


# -- CSR driver ----------------------------------------------------------------------------------------------------

class CsrDriver:
    """The host side of `CSRSignature` (``csr__addr``, ``csr__w_en``, ``csr__w_data``, ``csr__r_data``)."""

    def __init__(self, dut, prefix="csr__"):
        self.dut = dut
        self.p = prefix

    def _s(self, name):
        return getattr(self.dut, self.p + name)

    async def write(self, reg, value):
        """One write cycle (call at a falling edge; returns at the next one)."""
        self._s("addr").value = int(reg)
        self._s("w_data").value = int(value)
        self._s("w_en").value = 1
        await FallingEdge(self.dut.clk)
        self._s("w_en").value = 0

    async def read(self, reg):
        """Combinational read of ``reg`` (call at a falling edge)."""
        self._s("w_en").value = 0
        self._s("addr").value = int(reg)
        await ReadOnly()
        value = int(self._s("r_data").value)
        await FallingEdge(self.dut.clk)
        return value


__all__ = ["tb_config", "tb_seed", "start_clock_and_reset", "sample_each_cycle", "wait_until", "pack", "unpack", "wrap",
           "AxiSlaveDram", "AxiProtocolError", "expected_bursts", "CsrDriver", "PERIOD_NS"]
