"""cocotb tests of the compute stage's GEMM/ALU pipeline (`vta.hw.compute.Compute` in `harnesses.ComputeHarness`).

What is checked, against a numpy model of docs/semantics.md's GEMM and ALU loop nests written here:
- one uop per cycle: a GEMM of N non-reset uops keeps ``gemm_active`` high for exactly N cycles and finishes
  within N + a small constant;
- back-to-back uops on the same acc entry (distance 1, 2, 3 and across loop iterations) see each other's result;
- GEMM reset, loop factors, ALU ops reading an entry written by the uop just before (src hazards);
- the full 32-bit accumulators, read out through the 8-bit out buffer with ALU SHR-by-8 steps;
- the one-pass-epilogue extension: MOV, SETQ (no uop, sets Q) and requant words (out = the clamped shifted result).
inp/wgt are written straight into the harness SRAMs; uops and initial accumulators come over AXI (LOAD UOP/ACC).
"""

import random

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge
from cocotb_helpers import (
    AxiSlaveDram,
    pack,
    sample_each_cycle,
    start_clock_and_reset,
    tb_config,
    tb_seed,
    unpack,
    wait_until,
)
from sram_state import zero_buffers

from vta.hw.mul import MulCore
from vta.isa import Alu, AluOp, Gemm, Load, MemId, Uop, encode, encode_uops
from vta.isa.layouts import INSN_BITS

UOP_AT, ACC_AT, DRAM_BYTES = 0x0000, 0x4000, 0x10000


def w32(x):
    return ((np.asarray(x, dtype=np.int64) + (1 << 31)) % (1 << 32)) - (1 << 31)


def shr(a, b):
    amt = b & 63
    amt = np.where(amt >= 32, amt - 64, amt)
    return np.where(amt >= 0, a >> np.clip(amt, 0, 31), w32(a << np.clip(-amt, 0, 32)))


ALU = {AluOp.MIN: np.minimum, AluOp.MAX: np.maximum, AluOp.ADD: lambda a, b: w32(a + b),
       AluOp.MUL: lambda a, b: w32(a * b), AluOp.SHR: shr, AluOp.MOV: lambda a, b: b}


class Model:
    """The compute-side state of docs/semantics.md (acc int64 holding int32 values, out as int8 lanes)."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.uop = [Uop(0, 0, 0)] * cfg.uop_depth
        self.inp, self.wgt, self.acc = zero_buffers(cfg, ("inp", "wgt", "acc")).values()
        self.out = {}   # out index → packed int (only entries written)
        self.q = (0, 0)   # the requantization register (shift, relu), 0 after reset

    def _write(self, d, value, requant=False):
        self.acc[d] = value
        ow = self.cfg.out_width
        if requant:
            shift, relu = self.q
            value = np.clip(value >> shift, 0 if relu else -(1 << (ow - 1)), (1 << (ow - 1)) - 1)
        self.out[d] = pack(value, ow)

    def nest(self, g):
        for i in range(g.iter_out):
            for j in range(g.iter_in):
                for u in range(g.uop_bgn, g.uop_end):
                    uop = self.uop[u]
                    yield (uop.dst_idx + i * g.dst_factor_out + j * g.dst_factor_in,
                           uop.src_idx + i * g.src_factor_out + j * g.src_factor_in,
                           uop.wgt_idx + i * getattr(g, "wgt_factor_out", 0) + j * getattr(g, "wgt_factor_in", 0))

    def gemm(self, g):
        n = 0
        for d, s, w in self.nest(g):
            if g.reset_reg:
                self._write(d, np.zeros(self.cfg.acc_shape, dtype=np.int64), g.requant)
            else:
                self._write(d, w32(self.acc[d] + self.inp[s] @ self.wgt[w].T), g.requant)
                n += 1
        return n

    def alu(self, a):
        if a.alu_opcode == AluOp.SETQ:   # no uop: only Q changes
            self.q = (a.imm & 31, a.imm >> 5 & 1)
            return 0
        n = 0
        for d, s, _ in self.nest(a):
            b = np.full(self.cfg.acc_shape, a.imm, dtype=np.int64) if a.use_imm else self.acc[s].copy()
            self._write(d, ALU[a.alu_opcode](self.acc[d], b), a.requant)
            n += 1
        return n


class Bench:
    def __init__(self, dut, seed):
        self.dut = dut
        self.cfg = tb_config()
        self.rng = np.random.default_rng(seed)
        self.dram = np.zeros(DRAM_BYTES, dtype=np.uint8)
        self.axi = AxiSlaveDram(dut, self.dram, self.cfg.bus_width, read_only=True, latency=2)
        self.model = Model(self.cfg)
        self.out = {}
        self.gemm_active = 0
        self.alu_active = 0

    async def start(self):
        d = self.dut
        for name in ("c__cmd__valid", "c__cmd__payload", "c__clear", "inp_w__en", "wgt_w__en", "axi__r__valid",
                     "axi__ar__ready"):
            getattr(d, name).value = 0
        for name in ("c__l2g__valid", "c__s2g__valid", "c__g2l__ready", "c__g2s__ready"):
            getattr(d, name).value = 1   # tokens always available: this bench checks the datapath
        # (the tokens count as pushed by instruction 0, every instruction sent is numbered from 1; DMA anywhere)
        d.c__dma_base.value = 0
        d.c__dma_limit.value = 0xFFFF_FFFF
        self.sent = 0
        await start_clock_and_reset(d)
        cocotb.start_soon(self.axi.run())
        cocotb.start_soon(sample_each_cycle(d.clk, self.sample))

    def sample(self):
        d = self.dut
        if int(d.c__out_wr__en.value):
            self.out[int(d.c__out_wr__addr.value)] = int(d.c__out_wr__data.value)
        self.gemm_active += int(d.c__gemm_active.value)
        self.alu_active += int(d.c__alu_active.value)

    async def write_tiles(self, name, base, tiles):
        d = self.dut
        cfg = self.cfg
        width = cfg.inp_width if name == "inp" else cfg.wgt_width
        for k, t in enumerate(tiles):
            getattr(d, f"{name}_w__addr").value = base + k
            getattr(d, f"{name}_w__data").value = pack(t, width)
            getattr(d, f"{name}_w__en").value = 1
            getattr(self.model, name)[base + k] = t
            await FallingEdge(d.clk)
        getattr(d, f"{name}_w__en").value = 0

    async def execute(self, insn, max_cycles=5000):
        """Send one instruction, wait until compute is idle again; returns cycles from acceptance to idle."""
        d = self.dut
        self.sent += 1
        d.c__cmd__payload.value = encode(self.cfg, insn) | self.sent << INSN_BITS
        d.c__cmd__valid.value = 1
        await wait_until(d.clk, lambda: int(d.c__cmd__ready.value))
        d.c__cmd__valid.value = 0
        return 1 + await wait_until(d.clk, lambda: not int(d.c__busy.value), max_cycles - 1,
                                    f"compute still busy {max_cycles} cycles after {insn}")

    async def load_uops(self, uops, sram_base=0):
        raw = encode_uops(self.cfg, uops)
        self.dram[UOP_AT:UOP_AT + raw.size] = raw
        await self.execute(Load(memory_type=MemId.UOP, sram_base=sram_base, dram_base=UOP_AT // 4, y_size=1,
                                x_size=len(uops), x_stride=len(uops)))
        for k, u in enumerate(uops):
            self.model.uop[sram_base + k] = u

    async def load_acc(self, base, values):
        cfg = self.cfg
        raw = np.ascontiguousarray(values.astype("<i4")).view(np.uint8).ravel()
        self.dram[ACC_AT:ACC_AT + raw.size] = raw
        await self.execute(Load(memory_type=MemId.ACC, sram_base=base, dram_base=ACC_AT // cfg.acc_elem_bytes,
                                y_size=1, x_size=len(values), x_stride=len(values)))
        self.model.acc[base:base + len(values)] = values

    async def gemm(self, g, *, check_rate=True):
        a0 = self.gemm_active
        cycles = await self.execute(g)
        n = self.model.gemm(g)
        self.check(f"after {g}")
        got = self.gemm_active - a0
        assert got == n, f"{g}: gemm_active high for {got} cycles, expected {n} (one per non-reset uop)"
        steps = g.iter_out * g.iter_in * max(0, g.uop_end - g.uop_bgn)
        if check_rate:
            assert cycles <= steps + 12, f"{g}: {steps} uops took {cycles} cycles (want one uop per cycle)"
        return cycles

    async def alu(self, a):
        a0 = self.alu_active
        cycles = await self.execute(a)
        n = self.model.alu(a)
        self.check(f"after {a}")
        assert self.alu_active - a0 == n, f"{a}: alu_active high for {self.alu_active - a0} cycles, expected {n}"
        steps = 0 if a.alu_opcode == AluOp.SETQ else a.iter_out * a.iter_in * max(0, a.uop_end - a.uop_bgn)
        # MUL: one uop per cycle, but a uop reading what a MUL fewer than LATENCY + 1 cycles ahead writes waits
        per_uop = MulCore.LATENCY + 1 if a.alu_opcode == AluOp.MUL else 1
        assert cycles <= per_uop * steps + 12, f"{a}: {steps} uops took {cycles} cycles (want ≤ {per_uop} per uop)"

    def check(self, what):
        if self.out != self.model.out:
            bad = sorted(k for k in set(self.out) | set(self.model.out) if self.out.get(k) != self.model.out.get(k))
            k = bad[0]
            n = self.cfg.batch * self.cfg.block_out

            def lanes(v):
                return None if v is None else unpack(v, 8, n)
            raise AssertionError(f"{what}: out differs at {len(bad)} entries, first {k}: got {lanes(self.out.get(k))}"
                                 f" want {lanes(self.model.out.get(k))} "
                                 f"(acc model {self.model.acc[k].ravel().tolist()})")

    async def readout(self, entries):
        """Expose bits 8..31 of the given acc entries through out: three SHR-by-8 ALU passes, each checked."""
        uops = [Uop(dst_idx=e, src_idx=e, wgt_idx=0) for e in entries]
        await self.load_uops(uops, sram_base=900)
        for _ in range(3):
            await self.alu(Alu(alu_opcode=AluOp.SHR, use_imm=True, imm=8, uop_bgn=900, uop_end=900 + len(uops),
                               iter_out=1, iter_in=1))

    def rand_tiles(self, kind, n):
        shape = self.cfg.inp_shape if kind == "inp" else self.cfg.wgt_shape
        return self.rng.integers(-128, 128, (n, *shape))

    def rand_acc(self, n):
        return self.rng.integers(-(1 << 31), 1 << 31, (n, *self.cfg.acc_shape))


async def filled_bench(dut, seed):
    """A started `Bench` with 32 random inp and wgt tiles in SRAM and 16 random acc entries loaded."""
    b = Bench(dut, seed)
    await b.start()
    await b.write_tiles("inp", 0, b.rand_tiles("inp", 32))
    await b.write_tiles("wgt", 0, b.rand_tiles("wgt", 32))
    await b.load_acc(0, b.rand_acc(16))
    return b


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def gemm_back_to_back_same_entry(dut):
    """Uops on the same acc entry at distance 1, 2 and 3 and across loop iterations, one uop per cycle."""
    b = await filled_bench(dut, tb_seed())
    chains = [
        [Uop(0, k, k) for k in range(12)],                                   # distance 1, twelve in a row
        [Uop(d, k, 31 - k) for k, d in enumerate([1, 2, 1, 2, 1, 2, 1, 2])],  # distance 2
        [Uop(d, k + 3, k) for k, d in enumerate([3, 4, 5, 3, 4, 5, 3])],      # distance 3
    ]
    for uops in chains:
        await b.load_uops(uops)
        await b.gemm(Gemm(uop_bgn=0, uop_end=len(uops), iter_out=1, iter_in=1))
    # one uop repeated by the loops onto one entry (dst factors 0), with moving src/wgt
    await b.load_uops([Uop(6, 0, 0)])
    await b.gemm(Gemm(uop_bgn=0, uop_end=1, iter_out=5, iter_in=6, src_factor_out=3, src_factor_in=1,
                      wgt_factor_out=1, wgt_factor_in=4))
    await b.readout(list(range(8)))


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def gemm_full_rate_loop_nest_and_reset(dut):
    """A 2-uop kernel over an 8×8 loop nest (128 uops) runs at one uop per cycle; reset GEMM zeroes entries."""
    b = await filled_bench(dut, tb_seed() + 1)
    await b.load_uops([Uop(0, 0, 0), Uop(1, 1, 1), Uop(0, 0, 0)])
    await b.gemm(Gemm(reset_reg=True, uop_bgn=0, uop_end=2, iter_out=4, iter_in=1, dst_factor_out=2))
    cycles = await b.gemm(Gemm(uop_bgn=0, uop_end=2, iter_out=8, iter_in=8, dst_factor_out=1, dst_factor_in=1,
                               src_factor_out=2, src_factor_in=1, wgt_factor_out=1, wgt_factor_in=3))
    assert cycles <= 128 + 12
    await b.gemm(Gemm(reset_reg=True, uop_bgn=2, uop_end=3, iter_out=3, iter_in=2, dst_factor_out=5,
                      dst_factor_in=1))
    await b.readout(list(range(16)))


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def alu_back_to_back_src_hazards(dut):
    """Each ALU op (tensor and immediate) over a chain where every uop reads (as src) the entry the uop just
    before it wrote, and writes the entry the next one reads."""
    b = await filled_bench(dut, tb_seed() + 2)
    chain = [Uop(dst_idx=k + 1, src_idx=k, wgt_idx=0) for k in range(10)]
    same = [Uop(dst_idx=3, src_idx=3, wgt_idx=0)] * 4
    await b.load_uops(chain + same)
    for op in (op for op in AluOp if op != AluOp.SETQ):
        await b.load_acc(0, b.rand_acc(16))
        if op == AluOp.SHR:   # keep the amounts interesting: low 6 bits span [-32, 31]
            vals = b.rand_acc(16)
            vals = (vals & ~63) | b.rng.integers(0, 64, vals.shape)
            await b.load_acc(0, vals)
        await b.alu(Alu(alu_opcode=op, use_imm=False, uop_bgn=0, uop_end=10, iter_out=1, iter_in=1))
        await b.alu(Alu(alu_opcode=op, use_imm=False, uop_bgn=10, uop_end=14, iter_out=1, iter_in=1))
        await b.alu(Alu(alu_opcode=op, use_imm=True, imm=-3, uop_bgn=10, uop_end=14, iter_out=2, iter_in=1))
        await b.readout(list(range(12)))


@cocotb.test(timeout_time=5, timeout_unit="ms")
async def random_gemm_alu_mix(dut):
    """Random GEMM (with reset) and ALU instructions with random loop factors over a window of 24 acc entries, a
    third of them requantized, with SETQs of random Q among them."""
    b = await filled_bench(dut, tb_seed() + 3)
    rng = random.Random(tb_seed() + 3)
    uops = [Uop(rng.randrange(8), rng.randrange(8), rng.randrange(8)) for _ in range(8)]
    await b.load_uops(uops)
    for _ in range(40):
        bgn = rng.randrange(8)
        end = rng.randint(bgn, 8)
        f = dict(iter_out=rng.randint(1, 3), iter_in=rng.randint(1, 3), dst_factor_out=rng.randint(0, 3),
                 dst_factor_in=rng.randint(0, 3), src_factor_out=rng.randint(0, 3), src_factor_in=rng.randint(0, 3))
        requant = rng.random() < 0.3
        if rng.random() < 0.5:
            await b.gemm(Gemm(reset_reg=rng.random() < 0.15, uop_bgn=bgn, uop_end=end, requant=requant,
                              wgt_factor_out=rng.randint(0, 3), wgt_factor_in=rng.randint(0, 3), **f))
        else:
            op = rng.choice(list(AluOp))
            imm = rng.randint(-40, 40) if op == AluOp.SHR else rng.randint(-(1 << 15), (1 << 15) - 1)
            if op == AluOp.SETQ:   # its only legal form: an immediate of 6 bits, no requant
                await b.alu(Alu(alu_opcode=op, use_imm=True, imm=rng.randrange(64), uop_bgn=bgn, uop_end=end, **f))
                continue
            await b.alu(Alu(alu_opcode=op, use_imm=rng.random() < 0.5, imm=imm, uop_bgn=bgn, uop_end=end,
                            requant=requant, **f))
    await b.readout(list(range(24)))


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def requant_epilogue(dut):
    """A conv tile's one-pass epilogue: SETQ, MOV of a bias into the tile's entries, accumulating GEMMs, the last
    one requantized (shifts 0, 9 and 31, relu on and off); then MOV and MUL (its `MulCore` path) requantized."""
    b = await filled_bench(dut, tb_seed() + 4)
    await b.load_uops([Uop(k, 8 + k, k) for k in range(8)])
    for shift, relu in ((9, 1), (0, 0), (31, 0), (14, 1)):
        await b.alu(Alu(alu_opcode=AluOp.SETQ, use_imm=True, imm=shift | relu << 5, uop_bgn=0, uop_end=8,
                        iter_out=5))
        await b.alu(Alu(alu_opcode=AluOp.MOV, uop_bgn=0, uop_end=8))          # acc[k] ← acc[8 + k] (the bias)
        await b.gemm(Gemm(uop_bgn=0, uop_end=8, iter_in=3, src_factor_in=8, wgt_factor_in=8))
        await b.gemm(Gemm(uop_bgn=0, uop_end=8, requant=True, src_factor_out=1))
    await b.alu(Alu(alu_opcode=AluOp.MOV, use_imm=True, imm=-20000, uop_bgn=0, uop_end=4, requant=True))
    await b.alu(Alu(alu_opcode=AluOp.MUL, use_imm=True, imm=301, uop_bgn=4, uop_end=8, requant=True))
    await b.readout(list(range(16)))
