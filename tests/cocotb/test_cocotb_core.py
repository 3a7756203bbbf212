"""cocotb (Verilator) runs of the whole `VTACore` (small config) with a cocotb AXI4 DRAM slave and CSR driver
(testbench tb_core.py). Every run's final DRAM image is compared byte for byte with `FunctionalSim`'s:

- the demo matmul (`vta.demo.build_matmul`), launched twice on the same core (relaunch, persisting state); its
  expected output is also checked against numpy;
- random valid programs from `vta.sim.randprog` (small and medium sizes), with and without AXI back-pressure;
- a directed "store tail" program: done must wait for a long STORE that FINISH does not wait for by token, and a
  STORE after FINISH must not run (slow B responses);
- host registers and performance counters around a run, and the WAIT register on deadlocked (invalid) programs.
Slow: 200 more random programs, and the core built for the default config and for a 128-bit bus.
"""

import dataclasses
import json

import numpy as np
import pytest
from cocotb_helpers import config_env
from sim_runner import BUILD_ROOT, CocotbDesign

from vta import demo
from vta.config import load_config
from vta.sim import FunctionalSim

CFG = load_config("small")


@pytest.fixture(scope="module")
def design():
    from vta.hw.core import VTACore
    return CocotbDesign("vta_core_small", VTACore(CFG))


def write_programs(path, runs, *, cfg=CFG, stall=0.0, latency=3, seed=0, extra=None):
    """``runs`` = [(name, dram, insn_addr, insn_count, regions)] executed in order on one FunctionalSim."""
    fsim = FunctionalSim(cfg)
    arrays = {"n_runs": len(runs), "stall": stall, "latency": latency, "seed": seed, **(extra or {})}
    expects = []
    for k, (name, dram, addr, count, regions) in enumerate(runs):
        expect = dram.copy()
        fsim.run(expect, addr, count)
        arrays.update({f"dram_{k}": dram, f"expect_{k}": expect, f"run_{k}": np.array([addr, count, 60000]),
                       f"name_{k}": name, f"regions_{k}": json.dumps(regions)})
        expects.append(expect)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return expects


def run(design, tag, runs, *, cfg=CFG, testcase="run_programs", **kw):
    path = BUILD_ROOT / "programs" / f"{tag}.npz"
    expects = write_programs(path, runs, cfg=cfg, **kw)
    env = {"VTA_TB_PROGRAMS": path, **config_env(cfg)}
    design.run("tb_core", testcase, env=env, tag=tag)
    return expects


def demo_run(cfg, rng):
    """The demo matmul image as a run, and a check of its expected output against numpy."""
    M, K, N = 4 * cfg.batch, 2 * cfg.block_in, 2 * cfg.block_out
    x = rng.integers(-128, 128, size=(M, K), dtype=np.int8)
    w = rng.integers(-128, 128, size=(N, K), dtype=np.int8)
    dram, insns, _ = demo.build_matmul(cfg, x, w, 8)
    regions = {"insn": (demo.INSN_AT, demo.UOP_AT), "uop": (demo.UOP_AT, demo.INP_AT),
               "inp": (demo.INP_AT, demo.WGT_AT), "wgt": (demo.WGT_AT, demo.OUT_AT),
               "out": (demo.OUT_AT, demo.DRAM_BYTES)}
    ref = np.clip((x.astype(np.int32) @ w.astype(np.int32).T) >> 8, -128, 127).astype(np.int8)

    def check(expect):   # the reference image itself must hold numpy's result
        assert np.array_equal(demo.read_output(cfg, expect, M, N), ref)
    return ("demo matmul", dram, demo.INSN_AT, len(insns), regions), check


def test_core_demo_matmul_twice(design):
    first, check = demo_run(CFG, np.random.default_rng(0))
    second = ("demo matmul (second launch)",) + first[1:]
    expects = run(design, "demo", [first, second])
    check(expects[0])
    check(expects[1])


def test_core_csr_registers_and_counters(design):
    """Host registers and performance counters around one demo run (see tb_core.csr_registers_and_counters)."""
    from vta.isa import Alu, Gemm, decode_program
    first, check = demo_run(CFG, np.random.default_rng(3))
    _, dram, addr, count, _ = first
    insns = decode_program(CFG, dram[addr:addr + 16 * count])
    steps = lambda i: i.iter_out * i.iter_in * max(0, i.uop_end - i.uop_bgn)
    gemm_uops = sum(steps(i) for i in insns if isinstance(i, Gemm) and not i.reset_reg)
    alu_uops = sum(steps(i) for i in insns if isinstance(i, Alu))
    assert gemm_uops > 0 and alu_uops > 0
    expects = run(design, "csr", [first], testcase="csr_registers_and_counters",
                  extra={"gemm_uops": gemm_uops, "alu_uops": alu_uops})
    check(expects[0])


def store_tail_program(cfg, rng):
    """Compute fills 200 out entries, hands them to a long strided STORE (several bursts, 4 KiB crossings), and
    FINISH carries no token, so only the "done waits for store to drain" rule makes the STORE complete before
    done; a STORE after FINISH must not run."""
    from vta.isa import Alu, AluOp, Finish, Load, MemId, Store, Uop, encode_program, encode_uops
    n = 200
    INSN, UOP, ACC, OUT, OUT2, SIZE = 0x0000, 0x1000, 0x2000, 0x10000, 0x1C000, 0x20000
    dram = np.zeros(SIZE, dtype=np.uint8)
    dram[UOP:UOP + 4] = encode_uops(cfg, [Uop(0, 0, 0)])
    acc = rng.integers(-(1 << 31), 1 << 31, (n, *cfg.acc_shape)).astype("<i4")
    dram[ACC:ACC + acc.nbytes] = acc.view(np.uint8).ravel()
    ob = cfg.out_elem_bytes
    insns = [
        Load(memory_type=MemId.UOP, sram_base=0, dram_base=UOP // 4, y_size=1, x_size=1, x_stride=1),
        Load(memory_type=MemId.ACC, sram_base=0, dram_base=ACC // cfg.acc_elem_bytes, y_size=1, x_size=n,
             x_stride=n),
        Alu(alu_opcode=AluOp.ADD, use_imm=True, imm=3, uop_bgn=0, uop_end=1, iter_out=n, iter_in=1,
            dst_factor_out=1, src_factor_out=1, push_next_dep=True),
        Store(sram_base=0, dram_base=(OUT - 40) // ob, y_size=4, x_size=n // 4, x_stride=n // 4 + 300,
              pop_prev_dep=True),
        Finish(),
        Store(sram_base=0, dram_base=OUT2 // ob, y_size=1, x_size=8, x_stride=8),   # after FINISH: not run
    ]
    prog = encode_program(cfg, insns)
    dram[INSN:INSN + prog.size] = prog
    regions = {"insn": (INSN, UOP), "uop": (UOP, ACC), "acc": (ACC, OUT - 40), "out": (OUT - 40, OUT2),
               "out-after-finish": (OUT2, SIZE)}
    return ("store tail", dram, INSN, len(insns), regions)


def test_core_done_waits_for_store_and_ignores_after_finish(design):
    run(design, "store-tail", [store_tail_program(CFG, np.random.default_rng(5))], stall=0.5, latency=6, seed=5)


def test_core_deadlock_wait_register(design):
    design.run("tb_core", "deadlock_shows_in_wait_register", env={"VTA_TB_CONFIG": "small"}, tag="deadlock")


def random_runs(cfg, seeds, size):
    from vta.sim.randprog import generate
    runs = []
    for s in seeds:
        p = generate(cfg, seed=s, size=size)
        runs.append((f"randprog seed={s} size={size}", p.fresh_dram(), p.insn_addr, p.insn_count,
                     {k: list(v) for k, v in p.regions.items()}))
    return runs


@pytest.mark.parametrize("size,stall,latency,seeds", [("small", 0.0, 2, (0, 1, 2)), ("medium", 0.3, 7, range(10, 18))],
                         ids=["small-no-stall", "medium-stall30"])
def test_core_random_programs(design, size, stall, latency, seeds):
    run(design, f"random-{size}-{stall}", random_runs(CFG, seeds, size), stall=stall, latency=latency,
        seed=seeds[0])


@pytest.mark.slow
@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_core_random_sweep(design, stall):
    """100 medium random programs per stall setting (about a minute each)."""
    run(design, f"random-sweep-{stall}", random_runs(CFG, range(100, 200), "medium"), stall=stall, latency=5,
        seed=100)


def other_config(name):
    if name == "small_bus128":   # 128-bit bus: inp/out elements are narrower than a beat
        return dataclasses.replace(CFG, log_bus_width=7, name=name)
    return load_config(name)


@pytest.fixture(scope="module", params=["default", "small_bus128"])
def other_design(request):
    from vta.hw.core import VTACore
    cfg = other_config(request.param)
    return cfg, CocotbDesign(f"vta_core_{cfg.name}", VTACore(cfg))


@pytest.mark.slow
def test_core_other_configs(other_design):
    """The upstream-sized core (1×16×16) and the small core on a 128-bit bus: demo matmul and random programs."""
    cfg, design = other_design
    runs = [demo_run(cfg, np.random.default_rng(1))[0]] + random_runs(cfg, range(20, 30), "medium")
    run(design, f"config-{cfg.name}", runs, cfg=cfg, stall=0.2, latency=4)
