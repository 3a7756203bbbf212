"""Throughput of the functional simulator: GEMM MACs per second and instructions per second.

Run: ``python benchmarks/fsim.py [--config default] [--reps N]``. Prints one table row per workload:

- ``gemm-conv3x3``: a conv layer's inner kernel with operands resident in SRAM — 14×14 output pixels, 3×3 taps,
  ``icb`` input-channel blocks, several output-channel blocks; each GEMM runs 9·196·icb uop iterations with a
  few dozen distinct weight tiles and many iterations per acc entry (the simulator's main workload).
- ``gemm-1x1``: a 1×1 conv (one weight tile per GEMM), each acc entry hit by one iteration per input block.
- ``gemm-distinct-wgt``: every iteration uses a different weight tile (the batched small-matmul path).
- ``alu-tensor``: ALU ADD/MAX/SHR over large tensor ranges (vectorized path).
- ``load-alu-store``: many small LOAD INP/ACC, ALU and STORE instructions (per-instruction overhead).
"""

import argparse
import os
import sys
import time

import numpy as np

from vta import load_config
from vta.isa import Alu, AluOp, Finish, Gemm, Load, MemId, Store, Uop, encode_program, encode_uops
from vta.sim import FunctionalSim


class _Image:
    """Tiny DRAM image builder: appends aligned byte blobs, returns their byte address."""

    def __init__(self):
        self.blobs, self.size = [], 0

    def put(self, raw, align):
        addr = -(-self.size // align) * align
        self.blobs.append((addr, np.ascontiguousarray(raw).view(np.uint8).ravel()))
        self.size = addr + self.blobs[-1][1].size
        return addr

    def build(self):
        dram = np.zeros(self.size, dtype=np.uint8)
        for addr, raw in self.blobs:
            dram[addr:addr + raw.size] = raw
        return dram


def _resident(cfg, img, rng, n_inp, n_wgt, n_acc, uops):
    """Instructions loading random inp/wgt/acc tiles and ``uops`` into SRAM."""
    insns = []
    for kind, n, mt in (("inp", n_inp, MemId.INP), ("wgt", n_wgt, MemId.WGT), ("acc", n_acc, MemId.ACC)):
        if not n:
            continue
        shape = {"inp": cfg.inp_shape, "wgt": cfg.wgt_shape, "acc": cfg.acc_shape}[kind]
        dtype = "<i4" if kind == "acc" else "<i1"
        lo, hi = (-1000, 1000) if kind == "acc" else (-128, 128)
        data = rng.integers(lo, hi, (n, *shape)).astype(dtype)
        base = img.put(data, cfg.elem_bytes[kind]) // cfg.elem_bytes[kind]
        insns.append(Load(memory_type=mt, sram_base=0, dram_base=base, y_size=1, x_size=n, x_stride=n))
    ubase = img.put(encode_uops(cfg, uops), 4) // 4
    insns.append(Load(memory_type=MemId.UOP, sram_base=0, dram_base=ubase, y_size=1, x_size=len(uops),
                      x_stride=len(uops)))
    return insns


def _finish(cfg, img, insns):
    insns = insns + [Finish()]
    addr = img.put(encode_program(cfg, insns), 16)
    return img.build(), addr, len(insns)


def gemm_conv3x3(cfg, reps, rng):
    # The largest of these tile shapes (input-channel blocks, output size) whose input fits the inp buffer.
    for icb, oh in ((4, 14), (2, 14), (1, 14), (1, 6)):
        if (oh + 2) ** 2 * icb <= cfg.inp_depth:
            break
    ow = oh
    ih, iw = oh + 2, ow + 2
    pixels = oh * ow
    ocb = max(1, min(8, cfg.acc_depth // pixels, cfg.wgt_depth // (9 * icb),
                     cfg.uop_depth // (pixels * icb)))
    uops = [Uop(oc * pixels + oy * ow + ox, (oy * iw + ox) * icb + c, oc * 9 * icb + c)
            for oc in range(ocb) for oy in range(oh) for ox in range(ow) for c in range(icb)]
    img = _Image()
    insns = _resident(cfg, img, rng, ih * iw * icb, ocb * 9 * icb, 0, uops)
    per = pixels * icb
    for _ in range(reps):
        for oc in range(ocb):
            insns.append(Gemm(uop_bgn=oc * per, uop_end=(oc + 1) * per, iter_out=3, iter_in=3,
                              src_factor_out=iw * icb, src_factor_in=icb, wgt_factor_out=3 * icb,
                              wgt_factor_in=icb))
    return _finish(cfg, img, insns)


def gemm_1x1(cfg, reps, rng):
    icb = 8
    pixels = min(cfg.acc_depth, cfg.inp_depth // icb, cfg.uop_depth)
    uops = [Uop(p, p * icb, 0) for p in range(pixels)]
    img = _Image()
    insns = _resident(cfg, img, rng, pixels * icb, icb, 0, uops)
    for _ in range(reps):
        insns.append(Gemm(uop_bgn=0, uop_end=pixels, iter_out=1, iter_in=icb, src_factor_in=1, wgt_factor_in=1))
    return _finish(cfg, img, insns)


def gemm_distinct(cfg, reps, rng):
    n = min(cfg.wgt_depth, cfg.inp_depth, cfg.acc_depth, cfg.uop_depth)
    uops = [Uop(u, u, u) for u in range(n)]
    img = _Image()
    insns = _resident(cfg, img, rng, n, n, 0, uops)
    insns += [Gemm(uop_bgn=0, uop_end=n) for _ in range(reps)]
    return _finish(cfg, img, insns)


def alu_tensor(cfg, reps, rng):
    half = cfg.acc_depth // 2
    uops = [Uop(u, half + u) for u in range(half)]
    img = _Image()
    insns = _resident(cfg, img, rng, 0, 0, cfg.acc_depth, uops)
    for _ in range(reps):
        insns += [Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=half),
                  Alu(alu_opcode=AluOp.MAX, uop_bgn=0, uop_end=half),
                  Alu(alu_opcode=AluOp.SHR, uop_bgn=0, uop_end=half, use_imm=True, imm=1)]
    return _finish(cfg, img, insns)


def load_alu_store(cfg, reps, rng):
    img = _Image()
    n = 4
    inp = img.put(rng.integers(-128, 128, (n, *cfg.inp_shape)).astype("<i1"), cfg.inp_elem_bytes)
    acc = img.put(rng.integers(-1000, 1000, (n, *cfg.acc_shape)).astype("<i4"), cfg.acc_elem_bytes)
    out = img.put(np.zeros((n, *cfg.out_shape), "<i1"), cfg.out_elem_bytes)
    ubase = img.put(encode_uops(cfg, [Uop(u, u) for u in range(n)]), 4) // 4
    insns = [Load(memory_type=MemId.UOP, sram_base=0, dram_base=ubase, y_size=1, x_size=n, x_stride=n)]
    for r in range(reps):
        insns += [
            Load(memory_type=MemId.INP, sram_base=0, dram_base=inp // cfg.inp_elem_bytes, y_size=1, x_size=n,
                 x_stride=n),
            Load(memory_type=MemId.ACC, sram_base=0, dram_base=acc // cfg.acc_elem_bytes, y_size=2, x_size=2,
                 x_stride=2, x_pad_0=r % 2),
            Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=n, use_imm=True, imm=-3),
            Alu(alu_opcode=AluOp.MAX, uop_bgn=0, uop_end=n, use_imm=True, imm=0),
            Store(sram_base=0, dram_base=out // cfg.out_elem_bytes, y_size=1, x_size=n, x_stride=n),
        ]
    return _finish(cfg, img, insns)


WORKLOADS = {"gemm-conv3x3": (gemm_conv3x3, 40), "gemm-1x1": (gemm_1x1, 200), "gemm-distinct-wgt": (gemm_distinct, 200),
             "alu-tensor": (alu_tensor, 200), "load-alu-store": (load_alu_store, 4000)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="default", help="preset name or JSON path (default: default)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every workload's repetition count")
    ap.add_argument("--only", choices=sorted(WORKLOADS), action="append", help="run only these workloads")
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    rng = np.random.default_rng(0)
    print(f"{cfg}")
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    head = f"{'workload':<18} {'insns':>8} {'uop iters':>11} {'MACs':>14} {'alu ops':>12} {'wall s':>8} " \
           f"{'M MACs/s':>9} {'insns/s':>9}"
    print(head)
    print("-" * len(head))
    for name, (build, reps) in WORKLOADS.items():
        if args.only and name not in args.only:
            continue
        dram, addr, count = build(cfg, max(1, int(reps * args.scale)), rng)
        sim = FunctionalSim(cfg)
        t0 = time.perf_counter()
        stats = sim.run(dram, addr, count)
        wall = time.perf_counter() - t0
        n_insns = sum(stats.insns.values())
        print(f"{name:<18} {n_insns:>8} {stats.uops:>11} {stats.macs:>14,} {stats.alu_ops:>12,} {wall:>8.3f} "
              f"{stats.macs / wall / 1e6:>9.1f} {n_insns / wall:>9.0f}")


if __name__ == "__main__":
    main()
