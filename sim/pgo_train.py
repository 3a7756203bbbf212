"""The training workload of a profile-guided Verilator build (`vta.toolchain.verilate`'s ``train``).

Run as ``python -m vta.sim.pgo_train LIBRARY CONFIG_JSON`` on the instrumented model: the profile is written when
this process exits, which is why it is a process of its own. The workload is what co-simulation spends its time
on: a long GEMM on resident operands, streaming LOADs, and random valid programs (`vta.sim.randprog`: every opcode,
ALU op, memory type, padding and token pattern) so no part of the core is left unprofiled. About a second of
simulation; results are not checked here (the built model is, by every co-simulation test against the functional
simulator).
"""

import json
import sys

import numpy as np

from ..config import VTAConfig
from ..isa.insn import Finish, Gemm, Load, Uop, encode_program, encode_uops
from ..isa.opcodes import MemId
from .harness_abi import Status
from .randprog import generate
from .verilator import HarnessLibrary

PAGE = 4096
RUN = dict(max_cycles=20_000_000, stall_window=200_000, read_latency=16, write_latency=4)


def _image(cfg, uops, insns, data_bytes):
    """DRAM: uops at 0, random data from 64 KiB, the instructions after it."""
    rng = np.random.default_rng(0)
    data_at = 1 << 16
    insn_at = data_at + -(-data_bytes // PAGE) * PAGE
    words = encode_program(cfg, insns(data_at))
    dram = rng.integers(0, 256, insn_at + -(-words.size // PAGE) * PAGE, dtype=np.uint8)
    if uops:
        enc = encode_uops(cfg, uops)
        dram[:enc.size] = enc
    dram[insn_at:insn_at + words.size] = words
    return dram, insn_at, words.size // 16


def gemm_and_load_programs(cfg):
    """A GEMM loop on operands loaded once, and back-to-back LOADs of the whole inp buffer."""
    n = min(16, cfg.uop_depth, cfg.inp_depth // 2, cfg.wgt_depth, cfg.acc_depth)
    uops = [Uop(dst_idx=u, src_idx=u, wgt_idx=u) for u in range(n)]
    inp_bytes = 2 * n * cfg.inp_elem_bytes

    def gemm(at):
        return [
            Load(memory_type=MemId.UOP, sram_base=0, dram_base=0, y_size=1, x_size=n, x_stride=n),
            Load(memory_type=MemId.INP, sram_base=0, dram_base=at // cfg.inp_elem_bytes, y_size=1, x_size=2 * n,
                 x_stride=2 * n, push_next_dep=True),
            Load(memory_type=MemId.WGT, sram_base=0, dram_base=-(-(at + inp_bytes) // cfg.wgt_elem_bytes), y_size=1,
                 x_size=n, x_stride=n, push_next_dep=True),
            Gemm(uop_bgn=0, uop_end=n, iter_out=1, iter_in=n, dst_factor_in=n, reset_reg=True, pop_prev_dep=True),
            Gemm(uop_bgn=0, uop_end=n, iter_out=64, iter_in=n, dst_factor_in=n, src_factor_in=1, pop_prev_dep=True),
            Finish(),
        ]

    def loads(at):
        x = cfg.inp_depth
        return [Load(memory_type=MemId.INP, sram_base=0, dram_base=at // cfg.inp_elem_bytes, y_size=1, x_size=x,
                     x_stride=x) for _ in range(2)] + [Finish()]

    wgt_bytes = n * cfg.wgt_elem_bytes + cfg.wgt_elem_bytes
    return [_image(cfg, uops, gemm, inp_bytes + wgt_bytes),
            _image(cfg, [], loads, cfg.inp_depth * cfg.inp_elem_bytes)]


def _run(lib, cfg, dram, insn_addr, count, what):
    mem = np.zeros(-(-dram.size // cfg.bus_bytes) * cfg.bus_bytes, np.uint8)   # whole bus words, as VerilatorSim
    mem[:dram.size] = dram
    status, res, message = lib.run(mem, insn_addr, count, **RUN)
    if status != Status.OK:
        raise SystemExit(f"PGO training: {what} ended {status.name} after {res.cycles} cycles {message}".rstrip())


def train(library, cfg, random_programs=40):
    """Run the workload on the model in ``library``; exits with a message if a program does not complete."""
    lib = HarnessLibrary(library)
    for k, (dram, insn_addr, count) in enumerate(gemm_and_load_programs(cfg)):
        _run(lib, cfg, dram, insn_addr, count, ("the GEMM program", "the LOAD program")[k])
    for seed in range(random_programs):
        prog = generate(cfg, seed=seed, size="small" if seed % 2 else "medium")
        _run(lib, cfg, prog.dram, prog.insn_addr, prog.insn_count, f"random program {seed}")
    lib.close()


if __name__ == "__main__":
    train(sys.argv[1], VTAConfig.from_dict(json.loads(sys.argv[2])))
