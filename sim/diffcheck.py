"""Differential checking of the RTL (`VerilatorSim`) against the functional golden model (`FunctionalSim`).

Each random program (`vta.sim.randprog`) runs on both; the whole final DRAM images must be identical. A mismatch
is reported with the first differing bytes (address, region, expected vs got) and the program is minimised —
smaller generator knobs with the same seed, then instructions replaced by token-preserving no-ops and dropped,
loop extents cut — re-checking every candidate on both simulators, keeping only candidates that are still valid
(the functional result must not depend on the initial SRAM contents or on the stage interleaving) and still fail.

``main(argv)`` is ``vta verify``: one built model reused for every program (builds are slow, runs are fast).
"""

import argparse
import dataclasses
import os
import sys
import time

import numpy as np

from ..config import load_config
from ..errors import ProgramError, VTAError
from ..isa.insn import Alu, Finish, Gemm, Load, Store, decode_uops
from ..isa.layouts import DEP_FLAGS
from ..isa.opcodes import MemId
from ..isa.stages import QUEUE_FLAGS, QUEUE_STAGES, UOP_BYTES
from .randprog import SIZES, find_hazard, generate, interleave, noop_like, stage_of

__all__ = ["Mismatch", "compare", "check_program", "is_valid", "minimise", "format_program", "main"]


@dataclasses.dataclass
class Mismatch:
    """How a program's Verilator result differs from the functional one."""
    program: object
    expected: np.ndarray | None   # functional DRAM image (None if the functional run raised)
    got: np.ndarray | None        # Verilator DRAM image (None if the Verilator run raised)
    error: str | None = None      # an exception from one side

    @property
    def addresses(self):
        if self.expected is None or self.got is None:
            return np.zeros(0, np.int64)
        return np.flatnonzero(self.expected != self.got)

    def report(self, limit=8):
        p = self.program
        if self.error:
            return f"{p.describe()}\n  {self.error}"
        diff = self.addresses
        lines = [f"{p.describe()}", f"  {diff.size} DRAM bytes differ; first ones (address, region, expected, got):"]
        for a in diff[:limit]:
            region = p.region_of(int(a))
            start = p.regions.get(region, (0, 0))[0]
            lines.append(f"    {int(a):#08x}  {region}+{int(a) - start:#x}  expected {int(self.expected[a]):#04x}  "
                         f"got {int(self.got[a]):#04x}")
        return "\n".join(lines)


def _fresh_fsim(cfg, sram_fill=None):
    from .fsim import FunctionalSim
    sim = FunctionalSim(cfg)
    if sram_fill is not None:
        for buf in ("uop", "inp", "wgt", "acc", "out"):
            arr = getattr(sim, buf)
            arr.view(np.uint8)[...] = sram_fill.integers(0, 256, arr.nbytes, dtype=np.uint8).reshape(
                arr.view(np.uint8).shape)
    return sim


def expected_image(program, fsim=None):
    """The functional simulator's final DRAM image of ``program``."""
    dram = program.fresh_dram()
    (fsim or _fresh_fsim(program.cfg)).run(dram, program.insn_addr, program.insn_count)
    return dram


def compare(program, vsim, fsim=None):
    """Run ``program`` on both simulators; None when the final DRAM images agree, else a `Mismatch`."""
    try:
        want = expected_image(program, fsim)
    except VTAError as e:
        return Mismatch(program, None, None, f"the functional simulator rejects the program: {e}")
    got = program.fresh_dram()
    try:
        vsim.run(got, program.insn_addr, program.insn_count)
    except VTAError as e:
        return Mismatch(program, want, None, f"Verilator run failed: {type(e).__name__}: {e}")
    if np.array_equal(want, got):
        return None
    return Mismatch(program, want, got)


check_program = compare


def is_valid(program, seed=0, interleavings=1):
    """True when ``program`` is a valid differential test: the functional run succeeds, `find_hazard` finds no
    unordered cross-stage access and no read of unwritten SRAM, and — as an end-to-end check of that analysis —
    the functional result depends neither on the initial SRAM contents nor on a random legal stage interleaving.
    """
    cfg = program.cfg
    try:
        want = expected_image(program)
        if find_hazard(program) is not None:
            return False
        rng = np.random.default_rng(seed)
        if not np.array_equal(want, expected_image(program, _fresh_fsim(cfg, rng))):
            return False
        data = program.regions["insn"][0]  # the instruction bytes themselves differ; compare the data below them
        for _ in range(interleavings):
            other = program.with_insns(interleave(program.insns, rng))
            if not np.array_equal(want[:data], expected_image(other)[:data]):
                return False
        return True
    except (VTAError, ValueError):
        return False


def _shrunk_fields(insn):
    """Smaller variants of one instruction that keep its flags (and never read more than it did)."""
    out = []
    if isinstance(insn, (Gemm, Alu)) and insn.iter_out * insn.iter_in > 1:
        out.append(insn.replace(iter_out=1, iter_in=1))
        out.append(insn.replace(iter_in=1))
        out.append(insn.replace(iter_out=1))
    if isinstance(insn, (Gemm, Alu)) and insn.uop_end - insn.uop_bgn > 1:
        out.append(insn.replace(uop_end=insn.uop_bgn + 1))
    if isinstance(insn, Store) and insn.y_size * insn.x_size > 1:
        out.append(insn.replace(y_size=1, x_size=1))
    return out


def _is_noop(insn):
    if isinstance(insn, (Load, Store)):
        return insn.y_size == 0 or insn.x_size == 0
    if isinstance(insn, (Gemm, Alu)):
        return insn.uop_bgn >= insn.uop_end or insn.iter_out == 0 or insn.iter_in == 0
    return False


def _flagless(insn):
    return not any(getattr(insn, f) for f in DEP_FLAGS)


def minimise(program, vsim, *, max_checks=400, log=None):
    """A smaller program that still fails (`compare` is not None) and is still valid; ``program`` if none is found.

    Checks at most ``max_checks`` candidates on both simulators.
    """
    checks = 0

    def fails(candidate):
        nonlocal checks
        checks += 1
        return is_valid(candidate) and compare(candidate, vsim) is not None

    best = program
    # 1. the same seed with smaller generator knobs
    params = program.params
    while checks < max_checks:
        smaller = params.shrink()
        if smaller == params:
            break
        params = smaller
        candidate = generate(program.cfg, program.seed, params)
        if fails(candidate):
            best = candidate
    # 2. instruction by instruction: drop what runs after FINISH, no-op everything else, drop flagless no-ops
    insns = list(best.insns)
    fin = next(k for k, i in enumerate(insns) if isinstance(i, Finish))
    if fin + 1 < len(insns) and fails(best.with_insns(insns[:fin + 1])):
        insns = insns[:fin + 1]
        best = best.with_insns(insns)
    rng = np.random.default_rng(0)
    while checks < max_checks:  # rounds: removing token pairs frees no-ops, removing no-ops frees token pairs
        before = list(insns)
        insns, best = _reduce_insns(insns, best, fails, rng, lambda: checks < max_checks)
        insns, best = _drop_token_pairs(insns, best, fails, lambda: checks < max_checks)
        if insns == before:
            break
    if log:
        log(f"minimised {program.insn_count} → {best.insn_count} instructions in {checks} checks")
    return best


def _reduce_insns(insns, best, fails, rng, budget):
    """One pass from the end: no-op each instruction (keeping its flags), drop flagless no-ops, shrink extents."""
    for k in reversed(range(len(insns))):
        if not budget():
            break
        if k >= len(insns):
            continue
        insn = insns[k]
        if isinstance(insn, Finish):
            continue
        if _is_noop(insn) and _flagless(insn):
            trial = insns[:k] + insns[k + 1:]
        elif not _is_noop(insn):
            trial = insns[:k] + [noop_like(insn, rng)] + insns[k + 1:]
        else:
            continue
        candidate = best.with_insns(trial)
        if fails(candidate):
            insns, best = trial, candidate
            continue
        for smaller in _shrunk_fields(insn):
            trial = insns[:k] + [smaller] + insns[k + 1:]
            candidate = best.with_insns(trial)
            if fails(candidate):
                insns, best = trial, candidate
                break
    return insns, best


def _token_pairs(insns):
    """(pusher index, push flag, popper index, pop flag) of every token: the k-th push of a queue feeds its k-th
    pop. Removing both flags of one pair leaves every other pairing unchanged."""
    pairs = []
    for q, (src, dst) in QUEUE_STAGES.items():
        push_flag, pop_flag = QUEUE_FLAGS[q]
        pushes = [k for k, i in enumerate(insns) if stage_of(i) == src and getattr(i, push_flag)]
        pops = [k for k, i in enumerate(insns) if stage_of(i) == dst and getattr(i, pop_flag)]
        pairs += [(a, push_flag, b, pop_flag) for a, b in zip(pushes, pops)]
    return pairs


def _drop_token_pairs(insns, best, fails, budget):
    for a, fa, b, fb in reversed(_token_pairs(insns)):
        if not budget():
            break
        trial = list(insns)
        trial[a] = trial[a].replace(**{fa: False})
        trial[b] = trial[b].replace(**{fb: False})
        candidate = best.with_insns(trial)
        if fails(candidate):
            insns, best = trial, candidate
            # indices of the remaining pairs are unchanged (no instruction moved)
    return insns, best


def format_program(program):
    """Disassembly of a program, with the micro-ops each LOAD UOP brings in."""
    cfg = program.cfg
    try:
        from ..isa.asm import disassemble, format_uop
    except ImportError:  # the assembler is optional here
        disassemble = format_uop = None
    lines = []
    for k, insn in enumerate(program.insns):
        text = disassemble(cfg, [insn]).strip() if disassemble else repr(insn)
        lines.append(f"{k:4d}  {text}")
        if isinstance(insn, Load) and insn.memory_type == MemId.UOP and insn.y_size and insn.x_size:
            for y in range(insn.y_size):
                start = (insn.dram_base + y * insn.x_stride) * UOP_BYTES
                uops = decode_uops(cfg, program.dram[start:start + UOP_BYTES * insn.x_size])
                for x, u in enumerate(uops):
                    slot = insn.sram_base + y * insn.x_size + x
                    text = format_uop(u) if format_uop else repr(u)
                    lines.append(f"        ; uop[{slot}] = {text}")
    return "\n".join(lines)


def write_waveform(program, cfg, path, **sim_kwargs):
    """Re-run ``program`` on a tracing Verilator model, writing an FST waveform to ``path``; returns ``path``."""
    from .verilator import VerilatorSim
    with VerilatorSim(cfg, trace=path, **sim_kwargs) as sim:
        try:
            sim.run(program.fresh_dram(), program.insn_addr, program.insn_count)
        except ProgramError:
            pass  # the waveform up to the error is what is wanted
    return path


# -- the command line ------------------------------------------------------------------------------------------

_WORKER = {}


def _worker_init(cfg, size):
    from .verilator import VerilatorSim
    _WORKER["vsim"] = VerilatorSim(cfg)
    _WORKER["cfg"] = cfg
    _WORKER["size"] = size


def _worker_check(seed):
    program = generate(_WORKER["cfg"], seed, _WORKER["size"])
    mismatch = compare(program, _WORKER["vsim"])
    return seed, None if mismatch is None else mismatch.report()


def main(argv=None):
    """``vta verify``: N random programs, bit-exact functional vs Verilator; exit status 0 if all agree."""
    parser = argparse.ArgumentParser(prog="vta verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="small", help="preset name or JSON config (default: small)")
    parser.add_argument("--programs", type=int, default=100, help="random programs to check (default: 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first program (default: 0)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel worker processes (default: 1)")
    parser.add_argument("--size", default="small", choices=sorted(SIZES), help="program size (default: small)")
    parser.add_argument("--waves", default=os.path.join("build", "waves"),
                        help="folder for the waveform of a minimised failure (default: build/waves)")
    parser.add_argument("--no-minimise", action="store_true", help="report the first failure as generated")
    parser.add_argument("--extension", action=argparse.BooleanOptionalAction, default=None,
                        help="include (or not) the one-pass-epilogue extension's MOV, SETQ and requant words "
                             "(and malformed SETQs with --faults); default: the size's own setting")
    parser.add_argument("--faults", action="store_true", help="invalid programs instead (one rule broken each, "
                        "vta.sim.faults): both simulators must reject each alike")
    args = parser.parse_args(argv)
    if args.programs < 1:
        parser.error(f"--programs must be ≥ 1, not {args.programs}")
    if args.jobs < 1:
        parser.error(f"--jobs must be ≥ 1, not {args.jobs}")
    if args.seed < 0:  # numpy's generators take only non-negative seeds
        parser.error(f"--seed must be ≥ 0, not {args.seed}")
    try:
        cfg = load_config(args.config)
    except VTAError as e:
        print(f"vta verify: {e}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    from .verilator import VerilatorSim

    params = SIZES[args.size]
    if args.extension is not None:
        params = dataclasses.replace(params, extension=args.extension)
    if args.faults:
        from .faults import verify_faults
        agree, _, _ = verify_faults(cfg, args.programs, args.seed, params)
        return 0 if agree == args.programs else 1
    t0 = time.monotonic()
    vsim = VerilatorSim(cfg)
    if not vsim.model.cached:
        print(f"built the Verilator model of {cfg.name} in {vsim.build_seconds:.1f} s")
    seeds = range(args.seed, args.seed + args.programs)
    failures = []
    bar = tqdm(total=args.programs, desc=f"verify {cfg.name}", unit="prog", file=sys.stderr)
    if args.jobs == 1:
        for seed in seeds:
            program = generate(cfg, seed, params)
            mismatch = compare(program, vsim)
            if mismatch is not None:
                failures.append((seed, mismatch.report()))
            bar.update()
    else:
        import multiprocessing
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(args.jobs, initializer=_worker_init, initargs=(cfg, params)) as pool:
            for seed, report in pool.imap_unordered(_worker_check, seeds):
                if report is not None:
                    failures.append((seed, report))
                bar.update()
    bar.close()
    elapsed = time.monotonic() - t0
    passed = args.programs - len(failures)
    print(f"{passed}/{args.programs} programs agree (functional vs Verilator, {cfg.name}, size {args.size}"
          f"{' with the extension' if params.extension else ''}, "
          f"seeds {args.seed}..{args.seed + args.programs - 1}) in {elapsed:.1f} s")
    if not failures:
        return 0
    failures.sort()
    seed, report = failures[0]
    print(f"{len(failures)} failing seeds: {', '.join(str(s) for s, _ in failures[:20])}"
          f"{' …' if len(failures) > 20 else ''}")
    print(f"first failure:\n{report}")
    program = generate(cfg, seed, params)
    if not args.no_minimise:
        program = minimise(program, vsim, log=print)
        mismatch = compare(program, vsim)
        if mismatch is not None:
            print(f"minimised:\n{mismatch.report()}")
    print(format_program(program))
    path = os.path.join(args.waves, f"verify-{cfg.name}-seed{seed}.fst")
    try:
        write_waveform(program, cfg, path)
        print(f"waveform: {os.path.abspath(path)}")
    except VTAError as e:
        print(f"(no waveform: {e})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
