"""RTL performance on the Verilator co-simulation: what the core achieves per cycle and how fast it simulates.

Prints one table per config:
  (a) back-to-back GEMM uops on resident operands: MACs/cycle vs the peak BATCH·BLOCK_IN·BLOCK_OUT;
  (a) ALU MUL by an immediate: cycles per uop over distinct acc entries (one per cycle) and in a chain on one entry
      (each waits for the one before: ``MulCore.LATENCY`` + 1), from the cycle difference of two run lengths;
  (b) contiguous LOAD INP throughput: bytes/cycle vs the bus's bytes/cycle;
  (c) simulated cycles per wall-clock second (the target is ≥ 1,000,000 on the default config);
  (d) Verilator build time (``--fresh-build`` rebuilds into a temporary cache; otherwise the time recorded when
      the cached model was built is shown).

Usage: python benchmarks/rtl.py [--configs small,default] [--fresh-build] [--repeat 3]

What bought (c) on the default core (issue 14; GEMM run, simulated cycles per CPU-second, best of 15 runs (3 rounds
of 5, the models interleaved), on the shared 2-core machine at load 7-10, so wall-clock rates were 2-3x lower):

  model                                                               without PGO   with PGO
  before: public eval() twice a cycle, OPT_FAST forced to -O2            528k         714k
  + the rising edge skips Verilator's ico pass (harness)                 576k          -
  + OPT_FAST really -O3 (no -O2 in toolchain.CXX_FLAGS)                  601k          -
  + the falling edge skips it too when no input changed (harness)        788k        1,307k
  the same with OPT_FAST -O2                                              -          1,296k

(the ico pass recomputes all logic reading a top-level input; see sim/harness/harness.cpp.) The LOAD run gains less:
its bus delivers a beat nearly every cycle, so most falling edges still take the full eval.
"""

import argparse
import os
import tempfile
import time

import numpy as np

from vta import load_config
from vta.isa import Alu, AluOp, Finish, Gemm, Load, MemId, Uop, encode_program, encode_uops
from vta.sim.verilator import VerilatorSim

PAGE = 4096


def _image(cfg, insns, uops, inp_elems, wgt_elems):
    """DRAM: uops at 0, inp at 64 KiB, wgt after it, instructions at the end; random operand data."""
    rng = np.random.default_rng(0)
    uop_bytes = encode_uops(cfg, uops) if uops else np.zeros(0, np.uint8)
    inp_at = 1 << 16
    wgt_at = inp_at + -(-inp_elems * cfg.inp_elem_bytes // PAGE) * PAGE
    insn_at = wgt_at + -(-wgt_elems * cfg.wgt_elem_bytes // PAGE) * PAGE
    image = encode_program(cfg, insns(inp_at // cfg.inp_elem_bytes, wgt_at // cfg.wgt_elem_bytes))
    dram = rng.integers(-128, 128, insn_at + -(-image.size // PAGE) * PAGE, dtype=np.int64).astype(np.uint8)
    dram[:uop_bytes.size] = uop_bytes
    dram[insn_at:insn_at + image.size] = image
    return dram, insn_at, image.size // 16


def gemm_program(cfg, iter_out):
    """16 uops × 16 inner × ``iter_out`` outer GEMM iterations on operands loaded once (distinct acc entries in
    any 256 consecutive uops, so no read-after-write stalls are needed)."""
    n = 16
    uops = [Uop(dst_idx=u, src_idx=u, wgt_idx=u % cfg.wgt_depth) for u in range(n)]

    def insns(inp_base, wgt_base):
        return [
            Load(memory_type=MemId.UOP, sram_base=0, dram_base=0, y_size=1, x_size=n, x_stride=n),
            Load(memory_type=MemId.INP, sram_base=0, dram_base=inp_base, y_size=1, x_size=2 * n, x_stride=2 * n,
                 push_next_dep=True),
            Load(memory_type=MemId.WGT, sram_base=0, dram_base=wgt_base, y_size=1, x_size=n, x_stride=n,
                 push_next_dep=True),
            Gemm(uop_bgn=0, uop_end=n, iter_out=1, iter_in=n, dst_factor_in=n, reset_reg=True, pop_prev_dep=True),
            Gemm(uop_bgn=0, uop_end=n, iter_out=iter_out, iter_in=n, dst_factor_in=n, src_factor_in=1,
                 pop_prev_dep=True),
            Finish(),
        ]
    return _image(cfg, insns, uops, 2 * n, n), iter_out * n * n


def mul_program(cfg, iter_out, chain):
    """ALU MUL by 3 over 16 uops × 16 inner × ``iter_out`` outer iterations on acc entries already there: distinct
    entries in any 256 consecutive uops, or with ``chain`` all on entry 0 (each uop reads the one before's
    product)."""
    n = 16
    uops = [Uop(dst_idx=0 if chain else u, src_idx=0 if chain else u, wgt_idx=0) for u in range(n)]

    def insns(inp_base, wgt_base):
        return [
            Load(memory_type=MemId.UOP, sram_base=0, dram_base=0, y_size=1, x_size=n, x_stride=n),
            Alu(alu_opcode=AluOp.MUL, use_imm=True, imm=3, uop_bgn=0, uop_end=n, iter_out=iter_out, iter_in=n,
                dst_factor_in=0 if chain else n, src_factor_in=0 if chain else n),
            Finish(),
        ]
    return _image(cfg, insns, uops, 0, 0), iter_out * n * n


def load_program(cfg, loads):
    """``loads`` LOAD INPs of the whole inp buffer, one contiguous row each."""
    x = cfg.inp_depth

    def insns(inp_base, wgt_base):
        return [Load(memory_type=MemId.INP, sram_base=0, dram_base=inp_base, y_size=1, x_size=x, x_stride=x)
                for _ in range(loads)] + [Finish()]
    return _image(cfg, insns, [], x, 0), loads * x * cfg.inp_elem_bytes


def measure(sim, image, repeat):
    """Run ``repeat`` times on fresh copies of the image; (stats, cycles, the fastest wall seconds, the fastest CPU
    seconds of this process — the figure that stays honest on a machine shared with other jobs). Every run must
    take the same number of cycles (the simulation is deterministic)."""
    dram, addr, count = image
    walls, cpus, cycles = [], [], set()
    for _ in range(repeat):
        mem = dram.copy()
        t0, c0 = time.perf_counter(), time.process_time()
        stats = sim.run(mem, addr, count)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        cycles.add(sim.last.cycles)
    if len(cycles) != 1:
        raise AssertionError(f"repeated runs of one program took different cycle counts: {sorted(cycles)}")
    return stats, cycles.pop(), min(walls), min(cpus)


def build_info(sim):
    """The model's BUILD_INFO as a dict (empty if unreadable)."""
    try:
        with open(os.path.join(os.path.dirname(sim.model.path), "BUILD_INFO")) as f:
            return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    except OSError:
        return {}


def recorded_build_seconds(sim):
    text = build_info(sim).get("build_seconds")
    return float(text) if text else None


def bench(name, fresh, repeat=3):
    cfg = load_config(name)
    rows = []
    t0 = time.monotonic()
    if fresh:
        with tempfile.TemporaryDirectory() as tmp:
            sim = VerilatorSim(cfg, build_dir=tmp)
            build = f"{sim.build_seconds:.1f} s (+ {sim.verilog_seconds:.1f} s Verilog generation), fresh"
            sim = None
    sim = VerilatorSim(cfg)
    if not fresh:
        rec = recorded_build_seconds(sim)
        build = (f"{sim.build_seconds:.1f} s (built now)" if not sim.model.cached
                 else f"{rec:.1f} s (recorded at build time)" if rec else "unknown (cached; use --fresh-build)")
    setup = time.monotonic() - t0

    iter_out = 1024 if cfg.macs_per_cycle >= 256 else 2048
    image, uop_iters = gemm_program(cfg, iter_out)
    stats, cycles, wall, cpu = measure(sim, image, repeat)
    peak = cfg.macs_per_cycle
    rows.append(("(a) GEMM MACs/cycle (whole run)", f"{stats.macs / stats.cycles:.1f}",
                 f"peak {peak}; {stats.macs / stats.cycles / peak:.1%} over {stats.cycles} cycles incl. loads"))
    rows.append(("(a) GEMM active cycles / uop", f"{stats.busy['gemm'] / uop_iters:.3f}",
                 f"{stats.busy['gemm']} GEMM-active cycles for {uop_iters} uop iterations"))
    rate = cycles / wall
    for chain, what in ((False, "distinct entries"), (True, "a chain on one entry")):
        (c1, u1), (c2, u2) = ((measure(sim, image, 1)[1], uops)
                              for image, uops in (mul_program(cfg, k, chain) for k in (4, 8)))
        rows.append((f"(a) ALU MUL cycles / uop, {what}", f"{(c2 - c1) / (u2 - u1):.3f}",
                     f"{c2 - c1} more cycles for {u2 - u1} more uops"))

    image, nbytes = load_program(cfg, 8)
    stats, lcycles, lwall, lcpu = measure(sim, image, repeat)
    rows.append(("(b) LOAD INP bytes/cycle", f"{nbytes / stats.cycles:.2f}",
                 f"bus {cfg.bus_bytes} B/cycle; {nbytes} B in {stats.cycles} cycles"))
    rows.append(("(c) simulated cycles / s (GEMM run)", f"{rate:,.0f}",
                 f"{cycles} cycles in {wall:.3f} s wall (best of {repeat}); {cycles / cpu:,.0f} per CPU-second"))
    rows.append(("(c) simulated cycles / s (LOAD run)", f"{lcycles / lwall:,.0f}", f"{lcycles} cycles in "
                 f"{lwall:.3f} s wall (best of {repeat}); {lcycles / lcpu:,.0f} per CPU-second"))
    gen = f"Verilog generation {sim.verilog_seconds:.1f} s, " if sim.verilog_seconds else ""
    pgo = "profile-guided" if build_info(sim).get("pgo") == "True" else "no PGO"
    rows.append(("(d) Verilator build", build, f"{pgo}; {gen}model set-up {setup:.2f} s in this process"))
    return cfg, rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="small,default")
    parser.add_argument("--fresh-build", action="store_true", help="time a build from scratch (slow)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per program; the fastest counts (default 3)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, not {args.repeat}")
    for name in args.configs.split(","):
        cfg, rows = bench(name, args.fresh_build, args.repeat)
        print(f"\n{cfg}")
        w = max(len(r[0]) for r in rows)
        for label, value, note in rows:
            print(f"  {label:<{w}}  {value:>14}  {note}")


if __name__ == "__main__":
    main()
