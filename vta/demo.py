"""``vta demo``: the first thing a newcomer runs.

`main` runs the model demo by default (`vta.mnist_demo`: the shipped MNIST CNN compiled, quantized and run on
VTA — accuracy against FP32 and onnxruntime int8, cycles per image on Verilator, where each layer ran), or with
``model="matmul"`` the instruction-level demo below (`matmul_main`).

The matmul demo: an int8 matrix multiply with requantization, built as a VTA program, run on a device and checked
against numpy. ``y = clip((x @ wᵀ) >> shift, -128, 127)`` with x int8 (M×K) and w int8 (N×K). The program shows
each part of the ISA once: LOADs of micro-ops, inputs and weights, a GEMM that resets the accumulators, a GEMM over
a two-level loop nest, three ALU instructions (shift, clip low, clip high), a STORE, FINISH, and the dependency
tokens that order the load, compute and store stages.
"""

import time

import numpy as np

from . import isa
from .config import load_config
from .isa import AluOp, MemId

__all__ = ["build_matmul", "read_output", "main", "matmul_main", "MODELS"]

MODELS = ("mnist", "matmul")

# DRAM regions of the demo image (byte addresses; each a multiple of every element size).
INSN_AT, UOP_AT, INP_AT, WGT_AT, OUT_AT, DRAM_BYTES = 0x0000, 0x1000, 0x2000, 0x4000, 0x8000, 0xA000


def build_matmul(cfg, x, w, shift):
    """DRAM image, instruction list and uop list computing ``clip((x @ w.T) >> shift)`` on VTA.

    ``x`` is (M, K) and ``w`` (N, K), int8, with M, K, N multiples of BATCH, BLOCK_IN and BLOCK_OUT.
    """
    B, BI, BO = cfg.batch, cfg.block_in, cfg.block_out
    (M, K), (N, _) = x.shape, w.shape
    mb, kb, nb = M // B, K // BI, N // BO
    # Blocked layouts: inp element (m, k) holds x[m·B:(m+1)·B, k·BI:(k+1)·BI]; wgt element (n, k) likewise of w.
    inp = x.reshape(mb, B, kb, BI).transpose(0, 2, 1, 3)          # (mb, kb, B, BI)
    wgt = w.reshape(nb, BO, kb, BI).transpose(0, 2, 1, 3)         # (nb, kb, BO, BI)
    # acc element d = m·nb + n.  Uop u (one per k block) adds inp (m, k) · wgt (n, k) into it.
    uops = [isa.Uop(dst_idx=0, src_idx=k, wgt_idx=k) for k in range(kb)]
    uops.append(isa.Uop(dst_idx=0, src_idx=0, wgt_idx=0))         # element-wise kernel for reset and ALU
    ew = dict(uop_bgn=kb, uop_end=kb + 1, iter_out=mb * nb, dst_factor_out=1, src_factor_out=1)
    n_acc = mb * nb
    insns = [
        isa.Load(memory_type=MemId.INP, sram_base=0, dram_base=INP_AT // cfg.inp_elem_bytes,
                 y_size=1, x_size=mb * kb, x_stride=mb * kb),
        isa.Load(memory_type=MemId.WGT, sram_base=0, dram_base=WGT_AT // cfg.wgt_elem_bytes,
                 y_size=1, x_size=nb * kb, x_stride=nb * kb, push_next_dep=True),       # token: load → compute
        isa.Load(memory_type=MemId.UOP, sram_base=0, dram_base=UOP_AT // cfg.uop_elem_bytes,
                 y_size=1, x_size=len(uops), x_stride=len(uops), pop_prev_dep=True),    # wait for inp and wgt
        isa.Gemm(reset_reg=True, uop_bgn=kb, uop_end=kb + 1, iter_out=n_acc, dst_factor_out=1),
        isa.Gemm(uop_bgn=0, uop_end=kb, iter_out=mb, iter_in=nb,
                 dst_factor_out=nb, src_factor_out=kb, dst_factor_in=1, wgt_factor_in=kb),
        isa.Alu(alu_opcode=AluOp.SHR, use_imm=True, imm=shift, **ew),
        isa.Alu(alu_opcode=AluOp.MAX, use_imm=True, imm=-128, **ew),
        isa.Alu(alu_opcode=AluOp.MIN, use_imm=True, imm=127, push_next_dep=True, **ew),  # token: compute → store
        isa.Store(sram_base=0, dram_base=OUT_AT // cfg.out_elem_bytes, y_size=1, x_size=n_acc, x_stride=n_acc,
                  pop_prev_dep=True, push_prev_dep=True),                               # token: store → compute
        isa.Finish(pop_next_dep=True),
    ]
    dram = np.zeros(DRAM_BYTES, dtype=np.uint8)
    prog = isa.encode_program(cfg, insns)
    dram[INSN_AT:INSN_AT + prog.size] = prog
    u = isa.encode_uops(cfg, uops)
    dram[UOP_AT:UOP_AT + u.size] = u
    dram[INP_AT:INP_AT + inp.size] = inp.reshape(-1).view(np.uint8)
    dram[WGT_AT:WGT_AT + wgt.size] = wgt.reshape(-1).view(np.uint8)
    return dram, insns, uops


def read_output(cfg, dram, M, N):
    """The (M, N) int8 result from the out region (acc element d = m·nb + n holds a BATCH×BLOCK_OUT tile)."""
    B, BO = cfg.batch, cfg.block_out
    mb, nb = M // B, N // BO
    tiles = dram[OUT_AT:OUT_AT + M * N].view(np.int8).reshape(mb, nb, B, BO)
    return tiles.transpose(0, 2, 1, 3).reshape(M, N)


def main(model="mnist", config="default", device="fsim", *, seed=0, images=None, verilator=True, n_calib=500,
         out=None):
    """Run the demo ``model`` ("mnist": the model demo, "matmul": one matrix multiply); returns an exit code.
    ``out`` is a text stream (default stdout). ``images``, ``verilator`` and ``n_calib`` (calibration images)
    apply to "mnist", ``seed`` to "matmul"."""
    import sys
    stream = out or sys.stdout
    if model == "mnist":
        from .mnist_demo import main as model_main
        return model_main(device=device, config=config, n_calib=n_calib, images=images, verilator=verilator,
                          out=stream)
    if model == "matmul":
        return matmul_main(config, device, seed=seed, out=lambda line: print(line, file=stream))
    from .errors import VTAError
    raise VTAError(f"demo model must be one of {', '.join(MODELS)}, not {model!r}")


def matmul_main(config="default", device="fsim", seed=0, out=print):
    """Run the matmul demo; returns 0 when VTA's result equals numpy's bit for bit."""
    from .devices import open_device

    cfg = load_config(config)
    rng = np.random.default_rng(seed)
    M, K, N = 4 * cfg.batch, 2 * cfg.block_in, 2 * cfg.block_out
    shift = 8
    x = rng.integers(-128, 128, size=(M, K), dtype=np.int8)
    w = rng.integers(-128, 128, size=(N, K), dtype=np.int8)
    dram, insns, uops = build_matmul(cfg, x, w, shift)

    out(f"amaranth-vta demo: y = clip((x @ wᵀ) >> {shift}, -128, 127), x int8 {M}×{K}, w int8 {N}×{K}")
    out(f"  {cfg}")
    out(f"  program: {len(insns)} instructions, {len(uops)} micro-ops:")
    try:
        from .isa.asm import disassemble
        listing = disassemble(cfg, insns).rstrip().splitlines()
    except ImportError:
        listing = [repr(i) for i in insns]
    for n, line in enumerate(listing):
        out(f"    {n:2d}  {line}")

    dev = open_device(device, cfg)
    t0 = time.perf_counter()
    stats = dev.run(dram, INSN_AT, len(insns))
    wall = time.perf_counter() - t0
    y = read_output(cfg, dram, M, N)

    ref = np.clip((x.astype(np.int32) @ w.astype(np.int32).T) >> shift, -128, 127).astype(np.int8)
    ok = np.array_equal(y, ref)
    counts = ", ".join(f"{k} {v}" for k, v in stats.insns.items() if v)
    out(f"  ran on {device} in {wall * 1e3:.1f} ms: {counts}; {stats.macs} MACs"
        + (f"; {stats.cycles} cycles ({stats.macs / max(stats.cycles, 1):.1f} MACs/cycle of "
           f"{cfg.macs_per_cycle} peak)" if stats.cycles else ""))
    out(f"  result row 0: {y[0, :min(N, 12)].tolist()}{' …' if N > 12 else ''}")
    if ok:
        out(f"  matches numpy bit for bit ({M * N} int8 outputs).")
        return 0
    bad = np.argwhere(y != ref)
    r, c = bad[0]
    out(f"  MISMATCH: {len(bad)} of {M * N} outputs differ; first at [{r}, {c}]: VTA {y[r, c]}, numpy {ref[r, c]}")
    return 1
