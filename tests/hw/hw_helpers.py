"""Amaranth-simulator helpers for the RTL tests: a clocked testbench runner, an AXI4 DRAM model and a host
driver for `VTACore`.

The DRAM model follows the contract the Verilator harness uses: reads answered after a fixed latency with at most
one beat per cycle (in order, several bursts may be outstanding), one write beat per cycle, ``ready``/``valid``
honoured both ways. ``stall`` (0..1) randomly withholds R beats and W/AR/AW ``ready`` to shake out handshake bugs.
It also checks the AXI rules the core promises: INCR bursts, full-width size, ≤ 256 beats, no 4 KiB crossing.
"""

import random
from collections import deque

import numpy as np
from amaranth.sim import Simulator
from axi_beats import write_strobed

from vta.hw.regs import CTRL_DONE, CTRL_LAUNCH, Reg
from vta.isa import Load, MemId, encode_uops


def wrap32(x):
    """``x`` wrapped to int32 the way the 32-bit acc wraps (two's complement), as int64."""
    return ((np.asarray(x, dtype=np.int64) + 2**31) % 2**32) - 2**31


def low8(x):
    """The low byte of each element, as int8 (an out lane written without requantization)."""
    return (np.asarray(x, dtype=np.int64) & 0xFF).astype(np.uint8).astype(np.int8)


def run_testbench(dut, bench, *, background=()):
    """Simulate ``dut`` on a clock with the testbench ``bench``; ``background`` testbenches (models of the
    other side of a bus) run alongside and stop when ``bench`` returns."""
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for proc in background:
        sim.add_testbench(proc, background=True)
    sim.add_testbench(bench)
    sim.run()


class AxiDram:
    def __init__(self, dram, bus_width, *, latency=4, stall=0.0, seed=0):
        self.dram = dram  # np.uint8, modified in place by writes
        self.bb = bus_width // 8
        self.latency = latency
        self.stall = stall
        self.rng = random.Random(seed)
        self.reads = []   # (addr, beats) of every AR, for tests
        self.writes = []  # (addr, beats) of every AW

    def _check_burst(self, addr, length, size, burst):
        beats = length + 1
        assert burst == 1, f"burst type {burst}, expected INCR"
        assert 1 << size == self.bb, f"size {size} for a {self.bb}-byte bus"
        assert addr % self.bb == 0, f"unaligned burst address {addr:#x}"
        assert addr // 4096 == (addr + beats * self.bb - 1) // 4096, f"burst at {addr:#x} × {beats} crosses 4 KiB"
        assert addr + beats * self.bb <= len(self.dram), f"burst at {addr:#x} × {beats} beyond DRAM"

    def _busy(self):
        return self.stall and self.rng.random() < self.stall

    async def process(self, ctx, axi):
        bb = self.bb
        pending = deque()  # [ready_cycle, addr, beats_left]
        wq = deque()       # [addr, beats_left] from AW
        b_pending = 0
        cycle = 0
        while True:
            # Drive the slave side for this cycle.
            r_beat = None
            if pending and pending[0][0] <= cycle and not self._busy():
                _, addr, left = pending[0]
                r_beat = int.from_bytes(self.dram[addr:addr + bb].tobytes(), "little")
                ctx.set(axi.r.data, r_beat)
                ctx.set(axi.r.last, left == 1)
                ctx.set(axi.r.valid, 1)
            else:
                ctx.set(axi.r.valid, 0)
            ctx.set(axi.ar.ready, not self._busy())
            ctx.set(axi.aw.ready, not self._busy())
            ctx.set(axi.w.ready, bool(wq) and not self._busy())
            ctx.set(axi.b.valid, b_pending > 0)
            # Sample the master side (settled).
            ar = ctx.get(axi.ar.valid) and ctx.get(axi.ar.ready)
            if ar:
                ar_req = (ctx.get(axi.ar.addr), ctx.get(axi.ar.len), ctx.get(axi.ar.size), ctx.get(axi.ar.burst))
            r = r_beat is not None and ctx.get(axi.r.ready)
            aw = ctx.get(axi.aw.valid) and ctx.get(axi.aw.ready)
            if aw:
                aw_req = (ctx.get(axi.aw.addr), ctx.get(axi.aw.len), ctx.get(axi.aw.size), ctx.get(axi.aw.burst))
            w = ctx.get(axi.w.valid) and ctx.get(axi.w.ready)
            if w:
                w_beat = (ctx.get(axi.w.data), ctx.get(axi.w.strb), ctx.get(axi.w.last))
            b = b_pending > 0 and ctx.get(axi.b.ready)
            await ctx.tick()
            cycle += 1
            if ar:
                self._check_burst(*ar_req)
                self.reads.append((ar_req[0], ar_req[1] + 1))
                pending.append([cycle + self.latency, ar_req[0], ar_req[1] + 1])
            if r:
                head = pending[0]
                head[1] += bb
                head[2] -= 1
                if head[2] == 0:
                    pending.popleft()
            if w:
                addr, left = wq[0]
                data, strb, last = w_beat
                write_strobed(self.dram, addr, data, strb, bb)
                assert bool(last) == (left == 1), f"W last={last} with {left} beats left in the burst"
                wq[0][0] += bb
                wq[0][1] -= 1
                if left == 1:
                    wq.popleft()
                    b_pending += 1
            if aw:
                self._check_burst(*aw_req)
                self.writes.append((aw_req[0], aw_req[1] + 1))
                wq.append([aw_req[0], aw_req[1] + 1])
            if b:
                b_pending -= 1


LAST_REGS = {}  # every register, read right after the last run's done


async def csr_write(ctx, csr, reg, value):
    ctx.set(csr.addr, int(reg))
    ctx.set(csr.w_data, value)
    ctx.set(csr.w_en, 1)
    await ctx.tick()
    ctx.set(csr.w_en, 0)


async def csr_read(ctx, csr, reg):
    ctx.set(csr.addr, int(reg))
    return ctx.get(csr.r_data)


async def run_core(ctx, csr, insn_addr, insn_count, *, max_cycles=20000):
    """Launch a run and wait for done; returns the CYCLES register (and fills `LAST_REGS`)."""
    await csr_write(ctx, csr, Reg.INSN_ADDR, insn_addr)
    await csr_write(ctx, csr, Reg.INSN_COUNT, insn_count)
    await csr_write(ctx, csr, Reg.CTRL, CTRL_LAUNCH)
    for _ in range(max_cycles):
        if await csr_read(ctx, csr, Reg.CTRL) & CTRL_DONE:
            LAST_REGS.clear()
            for reg in Reg:
                LAST_REGS[reg] = await csr_read(ctx, csr, reg)
            return LAST_REGS[Reg.CYCLES]
        await ctx.tick()
    wait = await csr_read(ctx, csr, Reg.WAIT)
    raise AssertionError(f"core not done after {max_cycles} cycles (WAIT={wait:#x})")


def simulate_core(cfg, dram, runs, *, stall=0.0, latency=4, max_cycles=20000, vcd=None):
    """Run ``runs`` = [(insn_addr, insn_count), …] on a `VTACore` in Amaranth's simulator; returns the cycle counts
    and the `AxiDram` (``dram`` is updated in place)."""
    from vta.hw.core import VTACore

    core = VTACore(cfg)
    model = AxiDram(dram, cfg.bus_width, latency=latency, stall=stall)
    cycles = []
    sim = Simulator(core)
    sim.add_clock(1e-8)

    async def dram_proc(ctx):
        await model.process(ctx, core.axi)

    async def host(ctx):
        for addr, count in runs:
            cycles.append(await run_core(ctx, core.csr, addr, count, max_cycles=max_cycles))

    sim.add_testbench(dram_proc, background=True)
    sim.add_testbench(host)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return cycles, model


def staged_operands(cfg, rng, n_inp, n_wgt, n_acc, uops, *, acc_range=(-1000, 1000)):
    """A DRAM image holding random inp/wgt/acc tiles and ``uops``, and the four LOADs that bring them on chip
    (the WGT load hands a token to compute); acc values are drawn from ``acc_range`` (half-open). Returns
    ``(dram, inp, wgt, acc, loads)``."""
    dram = np.zeros(8192, dtype=np.uint8)
    UOP, INP, WGT, ACC = 1024, 2048, 3072, 4096
    inp = rng.integers(-128, 128, size=(n_inp, *cfg.inp_shape), dtype=np.int8)
    wgt = rng.integers(-128, 128, size=(n_wgt, *cfg.wgt_shape), dtype=np.int8)
    acc = rng.integers(*acc_range, size=(n_acc, *cfg.acc_shape), dtype=np.int32)
    dram[INP:INP + inp.size] = inp.view(np.uint8).ravel()
    dram[WGT:WGT + wgt.size] = wgt.view(np.uint8).ravel()
    dram[ACC:ACC + acc.nbytes] = acc.view(np.uint8).ravel()
    dram[UOP:UOP + 4 * len(uops)] = encode_uops(cfg, uops)
    eb = cfg.elem_bytes
    loads = [
        Load(memory_type=MemId.INP, sram_base=0, dram_base=INP // eb["inp"], y_size=1, x_size=n_inp,
             x_stride=n_inp),
        Load(memory_type=MemId.WGT, sram_base=0, dram_base=WGT // eb["wgt"], y_size=1, x_size=n_wgt,
             x_stride=n_wgt, push_next_dep=True),
        Load(memory_type=MemId.UOP, sram_base=0, dram_base=UOP // 4, y_size=1, x_size=len(uops),
             x_stride=len(uops), pop_prev_dep=True),
        Load(memory_type=MemId.ACC, sram_base=0, dram_base=ACC // eb["acc"], y_size=1, x_size=n_acc,
             x_stride=n_acc),
    ]
    return dram, inp, wgt, acc, loads
