"""Constrained-random *invalid* programs: a valid random program (`vta.sim.randprog`) with exactly one rule broken.

`mutate` picks one instruction (or one micro-op word) of a valid program and pushes one field out of range, or breaks
one rule of docs/semantics.md (a pad where none is allowed, a LOAD of OUT, a flag naming a queue the stage has not, a
dropped token push, ...). `check_fault` runs the result on the functional simulator — whose error is the reference —
and on the RTL device, which must raise the same error class for the same instruction index (never run silently),
and must not write one byte outside its DMA window: the RTL's DRAM is the program's image followed by canary pages,
the window covers the image only, and the canary must be intact afterwards (the reference run sees the image alone,
so an access past it is an error there too).

``verify_faults`` is ``vta verify --faults``.
"""

import dataclasses
import sys
import time

import numpy as np

from ..errors import ProgramError, VTAError
from ..isa.insn import Alu, Finish, Gemm, Load, Store
from ..isa.layouts import DEP_FLAGS, UOP_BITS
from ..isa.opcodes import AluOp, MemId
from ..isa.stages import MEMORY_TYPES, STAGE_QUEUES, STORE_TYPES, UOP_BYTES, stage_of
from .randprog import generate

__all__ = ["Fault", "MUTATIONS", "EXTENSION_MUTATIONS", "mutate", "check_fault", "verify_faults", "CANARY_BYTES"]

CANARY_BYTES = 8192
CANARY = 0xA5
PADS = ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")


@dataclasses.dataclass
class Fault:
    """One invalid program: the mutated program, what was changed and at which instruction."""
    program: object
    kind: str
    index: int
    what: str


def _nonempty(insn):
    return insn.y_size and insn.x_size


def _mem_limits(cfg, insn):
    t = MEMORY_TYPES[insn.memory_type]
    return cfg.depths[t.buffer], t.dram_elem_bytes(cfg)


# Each mutation: (applies to insn?, new insn) given (cfg, insn, rng, program); None when not applicable.

def _sram_base(cfg, insn, rng, prog):
    if not isinstance(insn, (Load, Store)) or not _nonempty(insn):
        return None
    depth, _ = _mem_limits(cfg, insn)
    rows = insn.y_pad_0 + insn.y_size + insn.y_pad_1
    pitch = insn.x_pad_0 + insn.x_size + insn.x_pad_1
    lo = max(0, depth - rows * pitch + 1)
    return insn.replace(sram_base=int(rng.integers(lo, min(lo + 64, 1 << 16))))


def _y_size(cfg, insn, rng, prog):
    if not isinstance(insn, (Load, Store)) or not _nonempty(insn):
        return None
    depth, _ = _mem_limits(cfg, insn)
    pitch = insn.x_pad_0 + insn.x_size + insn.x_pad_1
    y = -(-(depth - insn.sram_base) // pitch) + int(rng.integers(0, 3))
    return insn.replace(y_size=min(y, (1 << 16) - 1), y_pad_0=0, y_pad_1=0) if y < (1 << 16) else None


def _dram_base(cfg, insn, rng, prog):
    if not isinstance(insn, (Load, Store)) or not _nonempty(insn):
        return None
    _, eb = _mem_limits(cfg, insn)
    elems = prog.dram.size // eb
    if rng.random() < 0.5:   # past the end of DRAM
        base = int(rng.integers(elems - insn.x_size + 1, elems + 4096))
    else:                    # past 4 GiB: wraps to a small address modulo 2^32 if the core does not check
        base = (1 << 32) // eb + int(rng.integers(0, 64))
    return insn.replace(dram_base=min(base, (1 << 32) - 1))


def _x_stride(cfg, insn, rng, prog):
    if not isinstance(insn, (Load, Store)) or not _nonempty(insn) or insn.y_size < 2:
        return None
    _, eb = _mem_limits(cfg, insn)
    need = -(-(prog.dram.size // eb - insn.dram_base) // (insn.y_size - 1))
    return insn.replace(x_stride=int(rng.integers(need, 1 << 16))) if need < (1 << 16) else None


def _bad_pad(cfg, insn, rng, prog):
    if isinstance(insn, Store) or (isinstance(insn, Load) and _nonempty(insn)
                                   and not MEMORY_TYPES[insn.memory_type].paddable):
        return insn.replace(**{PADS[int(rng.integers(4))]: int(rng.integers(1, 16))})
    return None


def _load_out(cfg, insn, rng, prog):
    return insn.replace(memory_type=MemId.OUT) if isinstance(insn, Load) else None


def _store_type(cfg, insn, rng, prog):
    if not isinstance(insn, Store):
        return None
    others = [m for m in MemId if m not in STORE_TYPES]
    return insn.replace(memory_type=others[int(rng.integers(len(others)))])


def _bad_flag(cfg, insn, rng, prog):
    missing = [f for f, q in STAGE_QUEUES[stage_of(insn)].items() if q is None]
    return insn.replace(**{missing[int(rng.integers(len(missing)))]: True}) if missing else None


def _nest(insn):
    return isinstance(insn, (Gemm, Alu)) and insn.uop_bgn < insn.uop_end and insn.iter_out and insn.iter_in


def _uop_end(cfg, insn, rng, prog):
    if not _nest(insn):
        return None
    top = (1 << (cfg.log_uop_depth + 1)) - 1
    return insn.replace(uop_end=int(rng.integers(cfg.uop_depth + 1, top + 1)))


def _factor(cfg, insn, rng, prog):
    if not _nest(insn):
        return None
    names = ["dst"]
    if not insn.reset_reg and not (isinstance(insn, Alu) and insn.use_imm):
        names.append("src")
    if isinstance(insn, Gemm) and not insn.reset_reg:
        names.append("wgt")
    name = names[int(rng.integers(len(names)))]
    loops = [loop for loop, n in (("out", insn.iter_out), ("in", insn.iter_in)) if n > 1]
    if not loops:
        return None
    loop = loops[int(rng.integers(len(loops)))]
    n = insn.iter_out if loop == "out" else insn.iter_in
    buf = {"dst": "acc", "src": "acc" if isinstance(insn, Alu) else "inp", "wgt": "wgt"}[name]
    width = {"acc": cfg.log_acc_depth, "inp": cfg.log_inp_depth, "wgt": cfg.log_wgt_depth}[buf]
    if isinstance(insn, Alu) and name == "src":
        width = cfg.log_acc_depth
    lo = -(-cfg.depths[buf] // (n - 1))
    if lo >= (1 << width):
        return None
    return insn.replace(**{f"{name}_factor_{loop}": int(rng.integers(lo, 1 << width))})


def _alu_reset(cfg, insn, rng, prog):
    return insn.replace(reset_reg=True) if isinstance(insn, Alu) else None


def _drop_push(cfg, insn, rng, prog):
    flags = [f for f in DEP_FLAGS if f.startswith("push") and getattr(insn, f)]
    return insn.replace(**{flags[int(rng.integers(len(flags)))]: False}) if flags else None


def _setq_malformed(cfg, insn, rng, prog):
    """A compute-stage instruction replaced by a malformed SETQ with its dependency flags (the extension's rules,
    `vta.isa.requant`): no immediate, a stray immediate bit (imm outside 0..63) or the requant bit."""
    if stage_of(insn) != "compute" or isinstance(insn, (Load, Finish)):
        return None
    flags = {f: getattr(insn, f) for f in DEP_FLAGS}
    how = int(rng.integers(3))
    imm = int(rng.integers(0, 64))
    if how == 1:
        imm = int(rng.integers(64, 1 << 15)) if rng.random() < 0.5 else int(rng.integers(-(1 << 15), 0))
    return Alu(alu_opcode=AluOp.SETQ, uop_bgn=0, uop_end=0, use_imm=how != 0, imm=imm, requant=how == 2, **flags)


MUTATIONS = {"sram_base": _sram_base, "y_size": _y_size, "dram_base": _dram_base, "x_stride": _x_stride,
             "pad": _bad_pad, "load_out": _load_out, "store_type": _store_type, "flag": _bad_flag,
             "uop_end": _uop_end, "factor": _factor, "alu_reset": _alu_reset, "drop_push": _drop_push}


def _uop_reserved(program, rng):
    """A reserved bit set in one micro-op word of the uop region (None if the layout has no reserved bit)."""
    cfg = program.cfg
    reserved = ~cfg.isa.used_mask["uop"] & ((1 << UOP_BITS) - 1)
    lo, hi = program.regions["uop"]
    if not reserved or hi <= lo:
        return None
    dram = program.fresh_dram()
    words = dram[lo:hi].view(f"<u{UOP_BYTES}")
    bits = [b for b in range(UOP_BITS) if reserved >> b & 1]
    words[int(rng.integers(words.size))] |= np.uint32(1 << bits[int(rng.integers(len(bits)))])
    return dataclasses.replace(program, dram=dram)


# Mutations of the one-pass-epilogue extension, used on programs generated with it (`GenParams.extension`).
EXTENSION_MUTATIONS = {"setq_malformed": _setq_malformed}


def mutate(program, rng):
    """One invalid variant of ``program``: a `Fault`, or None if the chosen mutation did not apply."""
    end = next((k for k, i in enumerate(program.insns) if isinstance(i, Finish)), len(program.insns) - 1)
    mutations = {**MUTATIONS, **EXTENSION_MUTATIONS} if program.params.extension else MUTATIONS
    kinds = [*MUTATIONS, "uop_reserved", *(m for m in mutations if m not in MUTATIONS)]
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind == "uop_reserved":
        changed = _uop_reserved(program, rng)
        return None if changed is None else Fault(changed, kind, -1, "a reserved bit set in a uop word in DRAM")
    k = int(rng.integers(end + 1))
    insn = program.insns[k]
    new = mutations[kind](program.cfg, insn, rng, program)
    if new is None or new == insn:
        return None
    insns = list(program.insns)
    insns[k] = new
    changed = program.with_insns(insns)
    return Fault(changed, kind, k, f"instruction {k}: {insn!r} → {new!r}")


def _reference(program):
    """The functional simulator's error on ``program`` (None if it runs)."""
    from .fsim import FunctionalSim
    try:
        FunctionalSim(program.cfg).run(program.fresh_dram(), program.insn_addr, program.insn_count)
    except ProgramError as e:
        return e
    return None


def check_fault(fault, vsim, want=None):
    """Run ``fault`` on both devices: None when the RTL raises ``want`` (default: the functional simulator's error)'s
    class for the same instruction index and leaves the canary intact; else a message saying what differs."""
    program = fault.program
    if want is None:
        want = _reference(program)
    if want is None:
        return "the functional simulator accepts it"
    size = program.dram.size
    dram = np.full(size + CANARY_BYTES, CANARY, np.uint8)
    dram[:size] = program.dram
    try:
        vsim.run(dram, program.insn_addr, program.insn_count, dma_window=(0, size - 1))
        got = None
    except VTAError as e:
        got = e
    problems = []
    if got is None:
        problems.append("the RTL ran it silently")
    elif type(got) is not type(want) or getattr(got, "index", None) != want.index:
        problems.append(f"the RTL raised {type(got).__name__} at index {getattr(got, 'index', None)}: {got}")
    touched = np.flatnonzero(dram[size:] != CANARY)
    if touched.size:
        problems.append(f"the RTL wrote {touched.size} bytes outside its DMA window, first at {size + touched[0]}")
    if not problems:
        return None
    return (f"{fault.kind} fault ({fault.what}) on {program.describe()}\n  functional: {type(want).__name__}: "
            f"{want}\n  " + "\n  ".join(problems))


def fault_programs(cfg, count, seed=0, size="small"):
    """``count`` `Fault`s with their reference error, from seeds ``seed`` … (deterministic)."""
    rng = np.random.default_rng(seed)
    made = 0
    s = seed
    while made < count:
        program = generate(cfg, s, size)
        s += 1
        for _ in range(20):
            fault = mutate(program, rng)
            if fault is None:
                continue
            want = _reference(fault.program)
            if want is not None:
                yield fault, want
                made += 1
                break


def verify_faults(cfg, count, seed=0, size="small", vsim=None, log=print):
    """``vta verify --faults``: ``count`` invalid programs on both devices; returns (agreeing, failures, per-kind
    counts)."""
    from tqdm import tqdm

    from .verilator import VerilatorSim
    vsim = vsim or VerilatorSim(cfg)
    t0 = time.monotonic()
    failures, kinds, classes = [], {}, {}
    bar = tqdm(total=count, desc=f"faults {cfg.name}", unit="prog", file=sys.stderr)
    for fault, want in fault_programs(cfg, count, seed, size):
        kinds[fault.kind] = kinds.get(fault.kind, 0) + 1
        classes[type(want).__name__] = classes.get(type(want).__name__, 0) + 1
        problem = check_fault(fault, vsim, want)
        if problem is not None:
            failures.append(problem)
        bar.update()
    bar.close()
    elapsed = time.monotonic() - t0
    log(f"{count - len(failures)}/{count} invalid programs rejected alike (same error class and instruction "
        f"index, canary intact; functional vs Verilator, {cfg.name}, seed {seed}) in {elapsed:.1f} s")
    log("  mutations: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    log("  functional errors: " + ", ".join(f"{k} {v}" for k, v in sorted(classes.items())))
    for problem in failures[:5]:
        log(problem)
    return count - len(failures), failures, kinds
