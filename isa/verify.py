"""A static checker for VTA programs: finds, before a run, what `docs/semantics.md` makes an error.

`verify` walks the stream in program order (as the semantics define execution) and returns every `Problem` it
finds, each naming the instruction index; `check_program` raises `ProgramError` on the first error. Checks:

- every field fits its width under the config (instruction objects are re-encoded; byte images are decoded);
- LOAD: a loadable buffer (not OUT); no pads on UOP/WGT loads; the last SRAM element written < the buffer depth;
- STORE: ``memory_type`` OUT, no pads, the last out element read < the out depth;
- with ``dram_size``: every DRAM byte a LOAD reads or a STORE writes lies inside DRAM;
- ALU SETQ: ``use_imm`` 1, ``imm`` 0..63, ``requant`` 0 (`vta.isa.requant`; a SETQ touches no buffer, so only the
  uop depth applies to its loop nest);
- GEMM/ALU: ``reset_reg`` 0 on ALU; for a non-empty loop nest ``uop_end`` ≤ uop depth and, when the micro-op
  table is given, every index the nest reads or writes inside its buffer (GEMM: dst→acc, src→inp, wgt→wgt, but a
  reset GEMM only dst; ALU: dst→acc, and src→acc unless ``use_imm``) — the same rules as `vta.sim.fsim`;
- dependency flags only on queues the instruction's stage has; every pop finds a token pushed by an earlier
  instruction; no queue holds more than ``cfg.dep_queue_depth`` tokens; no token is left outstanding at FINISH;
- a FINISH exists; instructions after the first FINISH are never executed (a warning).

The micro-op table ``uops`` is the content of uop SRAM from index 0 (what `vta.isa.asm` builds from ``.uop``
lines); LOAD UOP instructions are not followed, so a program that reloads uop SRAM mid-stream should be checked
without ``uops``. Index checks count every (i, j, u) of a loop nest, like the semantics; a no-op LOAD/STORE
(``y_size`` or ``x_size`` 0) has no bounds or pad check (the semantics ignore its pads).
"""

import dataclasses

import numpy as np

from ..errors import ISAError, ProgramError
from . import insn as codec
from .insn import Alu, Finish, Gemm, Insn, Load, Store, Uop
from .layouts import DEP_FLAGS
from .requant import is_setq, setq_problem
from .stages import (
    INSN_BYTES,
    LOAD_TYPES,
    MEMORY_TYPES,
    POP_FLAGS,
    PUSH_FLAGS,
    QUEUE_STAGES,
    STAGE_QUEUES,
    STORE_TYPES,
    UOP_BYTES,
    stage_of,
)

__all__ = ["Problem", "verify", "check_program", "stage_of", "ERROR", "WARNING"]

_UOP_COLS = {"dst": 0, "src": 1, "wgt": 2}   # columns of the (n, 3) micro-op index table

ERROR = "error"
WARNING = "warning"


@dataclasses.dataclass(frozen=True)
class Problem:
    """One finding: ``index`` of the instruction (``None`` for the whole program), ``severity``, ``message``."""
    index: int | None
    severity: str
    message: str

    def __str__(self):
        where = "program" if self.index is None else f"instruction {self.index}"
        return f"{where}: {self.severity}: {self.message}"


def _decode_all(cfg, insns, problems):
    """Instruction objects from objects or a byte image; undecodable words become problems (and ``None``)."""
    if isinstance(insns, (bytes, bytearray, memoryview, np.ndarray)):
        raw = np.asarray(insns, dtype=np.uint8).tobytes() if isinstance(insns, np.ndarray) else bytes(insns)
        size = INSN_BYTES
        if len(raw) % size:
            problems.append(Problem(None, ERROR, f"an instruction image must be a multiple of {size} bytes, "
                                                 f"not {len(raw)}"))
            raw = raw[:len(raw) - len(raw) % size]
        out = []
        for k in range(0, len(raw), size):
            try:
                out.append(codec.decode(cfg, int.from_bytes(raw[k:k + size], "little")))
            except ISAError as e:
                problems.append(Problem(k // size, ERROR, str(e)))
                out.append(None)
        return out
    out = []
    for k, insn in enumerate(insns):
        try:
            codec.encode(cfg, insn)
        except ISAError as e:
            problems.append(Problem(k, ERROR, str(e)))
            out.append(None)
        else:
            out.append(insn)
    return out


def _mem_problems(cfg, insn, dram_size):
    """Bounds and pad problems of one LOAD or STORE (a list of messages)."""
    out = []
    load = isinstance(insn, Load)
    pads = (insn.y_pad_0, insn.y_pad_1, insn.x_pad_0, insn.x_pad_1)
    mtype = MEMORY_TYPES[insn.memory_type]
    if load:
        if not mtype.loadable:
            return [f"LOAD cannot fill the {insn.memory_type.name} buffer (loadable: "
                    f"{', '.join(m.name for m in LOAD_TYPES)})"]
    else:
        if not mtype.storable:
            out.append(f"STORE memory_type must be {' or '.join(m.name for m in STORE_TYPES)}, "
                       f"not {insn.memory_type.name}")
            mtype = MEMORY_TYPES[STORE_TYPES[0]]
        if any(pads):
            out.append(f"STORE cannot pad (pads y {insn.y_pad_0},{insn.y_pad_1} x {insn.x_pad_0},{insn.x_pad_1}); "
                       f"all pads must be 0")
    buffer = mtype.buffer
    if insn.y_size == 0 or insn.x_size == 0:
        return out  # a no-op carrying tokens
    if load and not mtype.paddable and any(pads):
        out.append(f"LOAD {insn.memory_type.name} cannot pad (pads y {insn.y_pad_0},{insn.y_pad_1} "
                   f"x {insn.x_pad_0},{insn.x_pad_1}); only "
                   f"{_names(m for m in LOAD_TYPES if MEMORY_TYPES[m].paddable)} loads are padded")
    if load:
        pitch = insn.x_pad_0 + insn.x_size + insn.x_pad_1
        rows = insn.y_pad_0 + insn.y_size + insn.y_pad_1
        last = insn.sram_base + rows * pitch - 1
    else:
        last = insn.sram_base + insn.y_size * insn.x_size - 1
    depth = cfg.depths[buffer]
    if last >= depth:
        out.append(f"{'LOAD' if load else 'STORE'} {'writes' if load else 'reads'} {buffer} SRAM elements "
                   f"{insn.sram_base}..{last}, beyond the {buffer} depth {depth} (last valid index {depth - 1})")
    if dram_size is not None:
        elem = mtype.dram_elem_bytes(cfg)
        last_elem = insn.dram_base + (insn.y_size - 1) * insn.x_stride + insn.x_size - 1
        end = (last_elem + 1) * elem
        if end > dram_size:
            out.append(f"{'LOAD' if load else 'STORE'} {'reads' if load else 'writes'} DRAM bytes "
                       f"{insn.dram_base * elem}..{end - 1}, beyond the {dram_size}-byte DRAM")
    return out


def _names(mems):
    """"A, B and C" of memory types."""
    names = [m.name for m in mems]
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0]


def _compute_problems(cfg, insn, uops):
    out = []
    setq = isinstance(insn, Alu) and is_setq(insn.alu_opcode)
    if setq:
        problem = setq_problem(insn.alu_opcode, insn.use_imm, insn.imm, insn.requant)
        if problem is not None:
            out.append(problem)
    if isinstance(insn, Alu) and insn.reset_reg:
        out.append("reset_reg must be 0 on ALU (only GEMM resets the accumulator)")
    if insn.uop_bgn >= insn.uop_end or insn.iter_out == 0 or insn.iter_in == 0:
        return out  # an empty loop nest reads no uop and touches no buffer
    if insn.uop_end > cfg.uop_depth:
        out.append(f"uop range {insn.uop_bgn}:{insn.uop_end} goes beyond the uop depth {cfg.uop_depth} "
                   f"(uop_end must be ≤ {cfg.uop_depth})")
        return out
    if uops is None or setq:   # SETQ reads no micro-op and touches no buffer
        return out
    if insn.uop_end > len(uops):
        out.append(f"uop range {insn.uop_bgn}:{insn.uop_end} goes beyond the given uop table "
                   f"({len(uops)} entries)")
        return out
    used = uops[insn.uop_bgn:insn.uop_end]   # (n, 3) int64: dst_idx, src_idx, wgt_idx
    gemm = isinstance(insn, Gemm)
    # indices that are read: a reset GEMM reads neither inp nor wgt; an ALU with an immediate reads no src
    targets = [("dst", "acc")]
    if gemm and not insn.reset_reg:
        targets += [("src", "inp"), ("wgt", "wgt")]
    elif not gemm and not insn.use_imm:
        targets.append(("src", "acc"))
    tops = used.max(axis=0).tolist()
    for key, buffer in targets:
        # factors are unsigned, so the largest index is the largest base plus the last iteration's offsets
        col = _UOP_COLS[key]
        base = tops[col]
        f_out, f_in = getattr(insn, f"{key}_factor_out"), getattr(insn, f"{key}_factor_in")
        last = base + (insn.iter_out - 1) * f_out + (insn.iter_in - 1) * f_in
        depth = cfg.depths[buffer]
        if last >= depth:
            worst = int(np.argmax(used[:, col]))
            out.append(f"{type(insn).__name__.upper()} {key} index reaches {last} (uop {insn.uop_bgn + worst} "
                       f"{key}_idx {base} + {insn.iter_out - 1}·{f_out} + {insn.iter_in - 1}·{f_in}), beyond the "
                       f"{buffer} depth {depth}")
    return out


class _Limits:
    """The config numbers the per-instruction checks read, computed once per `verify` (``cfg.depths`` and
    ``cfg.elem_bytes`` build a dict on every access)."""

    def __init__(self, cfg):
        self.depths = cfg.depths
        self.elem_bytes = cfg.elem_bytes
        self.uop_depth = cfg.uop_depth
        self.dep_queue_depth = cfg.dep_queue_depth


def verify(cfg, insns, uops=None, *, dram_size=None, hazards=False, encoded=False):
    """Every `Problem` of a program (objects or a byte image), in stream order; an empty list means clean.

    ``uops`` (objects or a byte image) enables the loop-nest index checks; ``dram_size`` (bytes) the DRAM bounds;
    ``hazards`` the cross-stage race check (`vta.isa.hazard.find_races`; SRAM races need ``uops``).
    ``encoded=True`` says the caller has just encoded these instruction objects under ``cfg`` without error
    (`encode_program`), so the field check is not repeated; every other check runs.
    """
    if isinstance(insns, Insn) or not hasattr(insns, "__iter__"):
        raise ProgramError(f"insns must be a list of instructions or a byte image, not {type(insns).__name__}")
    if dram_size is not None and (isinstance(dram_size, bool) or not isinstance(dram_size, (int, np.integer))
                                  or dram_size < 0):
        raise ProgramError(f"dram_size must be a byte count ≥ 0, not {dram_size!r}")
    problems = []
    if encoded and not isinstance(insns, (bytes, bytearray, memoryview, np.ndarray)):
        insns = list(insns)
    else:
        insns = _decode_all(cfg, insns, problems)
    uop_list = None
    if uops is not None:
        if isinstance(uops, (bytes, bytearray, memoryview, np.ndarray)):
            try:
                raw = np.frombuffer(bytes(uops), dtype=np.uint8)
                if raw.size % UOP_BYTES:
                    codec.decode_uops(cfg, raw)   # raises its error naming the length
                uops = codec.uop_fields(cfg, raw.view(f"<u{UOP_BYTES}"))
            except ISAError as e:
                problems.append(Problem(None, ERROR, f"uop table: {e}"))
                uops = None
        else:
            uop_list = list(uops)
            try:
                uops = codec.uop_fields(cfg, codec.encode_uop_words(cfg, uop_list))
            except ISAError:
                for k, u in enumerate(uop_list):   # name the first micro-op that does not encode
                    try:
                        codec.encode_uop(cfg, u)
                    except ISAError as e:
                        problems.append(Problem(None, ERROR, f"uop {k}: {e}"))
                        break
                uops = uop_list = None
    tokens = dict.fromkeys(QUEUE_STAGES, 0)
    finish = None
    limits = _Limits(cfg)
    for k, insn in enumerate(insns):
        if insn is None:
            continue  # already reported as undecodable
        stage = stage_of(insn)
        queues = {f: q for f, q in STAGE_QUEUES[stage].items() if q is not None}
        bad = [f for f in DEP_FLAGS if getattr(insn, f) and f not in queues]
        for flag in bad:
            problems.append(Problem(k, ERROR, f"{type(insn).__name__.upper()} runs in the {stage} stage, which has "
                                              f"no {flag} queue; {flag} must be 0"))
        for flag in POP_FLAGS:
            if getattr(insn, flag) and flag in queues:
                q = queues[flag]
                if tokens[q]:
                    tokens[q] -= 1
                else:
                    problems.append(Problem(k, ERROR, f"{flag} pops the {q} queue but no earlier instruction "
                                                      f"pushed a token there (deadlock)"))
        if isinstance(insn, (Load, Store)):
            problems += [Problem(k, ERROR, m) for m in _mem_problems(limits, insn, dram_size)]
        elif isinstance(insn, (Gemm, Alu)):
            problems += [Problem(k, ERROR, m) for m in _compute_problems(limits, insn, uops)]
        for flag in PUSH_FLAGS:
            if getattr(insn, flag) and flag in queues:
                q = queues[flag]
                if tokens[q] >= limits.dep_queue_depth:
                    problems.append(Problem(k, ERROR, f"{flag} pushes a token into the {q} queue, which already "
                                                      f"holds {cfg.dep_queue_depth} (the queue depth)"))
                else:
                    tokens[q] += 1
        if isinstance(insn, Finish):
            finish = k
            left = {q: n for q, n in tokens.items() if n}
            if left:
                problems.append(Problem(k, ERROR, "tokens left outstanding at FINISH: " + ", ".join(
                    f"{n} in {q}" for q, n in left.items())))
            break
    if finish is None:
        problems.append(Problem(None, ERROR, f"the stream of {len(insns)} instructions has no FINISH"))
    elif finish + 1 < len(insns):
        n = len(insns) - finish - 1
        problems.append(Problem(finish + 1, WARNING, f"{n} instruction{'s' * (n != 1)} after the FINISH at "
                                                     f"{finish} will never run"))
    if hazards:  # races of the decodable prefix; a stream with undecodable words is already an error
        from .hazard import find_races
        known = insns[:insns.index(None)] if None in insns else insns
        if uops is not None and uop_list is None:
            uop_list = [Uop(*map(int, row)) for row in uops]
        problems += [Problem(k, ERROR, m) for k, m in find_races(cfg, known, uop_list)]
    problems.sort(key=lambda p: (p.index is None, -1 if p.index is None else p.index))
    return problems


def check_program(cfg, insns, uops=None, *, dram_size=None, hazards=False):
    """Raise `ProgramError` (naming the instruction) on the first error `verify` finds; return the warnings."""
    problems = verify(cfg, insns, uops, dram_size=dram_size, hazards=hazards)
    errors = [p for p in problems if p.severity == ERROR]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more error{'s' * (len(errors) != 2)})" if len(errors) > 1 else ""
        raise ProgramError(first.message + more, index=first.index)
    return problems
