"""The command-stream builder: instructions in program order, with dependency tokens placed for the caller.

Operators describe *what* to do (2-D loads/stores, GEMM/ALU over a uop kernel) and *which stage waits for
which* (``push(from, to)`` / ``pop(from, to)``); the builder turns that into flags on instructions, as upstream's
runtime did with ``DepPush``/``DepPop``:

- ``push(src, dst)`` sets the push flag on the last instruction already emitted in stage ``src`` — all of that
  stage's emitted work is then complete when the token appears. If that instruction already carries the flag (or
  the stage has emitted nothing, or has a pending pop that must come first) a no-op of that stage carries it.
- ``pop(src, dst)`` is recorded as pending and absorbed by the next instruction emitted in stage ``dst`` (or a
  no-op when a second pop of the same queue arrives first).
- ``finish()`` balances the stream — every outstanding token is popped, load and store signal compute, compute
  waits for both — then appends FINISH. The result is causal (every pop finds a token pushed earlier in program
  order) and balanced (no token left at FINISH), as docs/semantics.md requires.

No-ops are zero-sized LOAD INP (load stage), LOAD UOP (compute stage) and STORE (store stage) instructions.

Requantizing out writes (docs/semantics.md): ``setq(shift, relu)`` emits the ALU SETQ word that sets the compute
stage's requantization register; a GEMM or ALU emitted with ``requant=True`` then writes
``clamp(result >> shift, 0 if relu else −128, 127)`` into out (acc keeps the full result) — a whole shift-and-clip
epilogue at no cycle cost. The register is (0, no relu) at the start of every run, so a stream that uses it sets
it first (operators emit one SETQ per stream, before their first ``requant`` word).
"""

import enum

from ..errors import ISAError, ProgramError
from ..isa.insn import Alu, Finish, Gemm, Load, Store
from ..isa.opcodes import AluOp, MemId, Opcode
from ..isa.requant import setq_imm
from ..isa.stages import QUEUE_FLAGS, QUEUE_STAGES, STAGES, queue_between, stage_of, stage_of_fields

__all__ = ["Stage", "CommandStream", "stage_of_mem"]


class Stage(enum.IntEnum):
    """Pipeline stages, numbered in `vta.isa.stages.STAGES` order (load → compute → store)."""
    LOAD = STAGES.index("load")
    COMPUTE = STAGES.index("compute")
    STORE = STAGES.index("store")

    @property
    def isa_name(self):
        """The stage's name in `vta.isa.stages` ("load", "compute", "store")."""
        return STAGES[self]


def stage_of_mem(memory_type):
    """The stage a LOAD of ``memory_type`` runs in (per `vta.isa.stages`: INP/WGT → load; the rest → compute)."""
    return Stage(STAGES.index(stage_of_fields(Opcode.LOAD, MemId(memory_type))))


def _queue(src, dst):
    """The queue name of a token from stage ``src`` to stage ``dst``, and the flag names on each side."""
    src, dst = Stage(src), Stage(dst)
    name = queue_between(src.isa_name, dst.isa_name)
    if name is None:
        raise ProgramError(f"no dependency queue between the {src.isa_name} and {dst.isa_name} stages "
                           f"(only neighbouring stages exchange tokens)")
    push_flag, pop_flag = QUEUE_FLAGS[name]
    return name, push_flag, pop_flag


def _noop(stage, **flags):
    if stage == Stage.LOAD:
        return Load(memory_type=MemId.INP, sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0, **flags)
    if stage == Stage.COMPUTE:
        return Load(memory_type=MemId.UOP, sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0, **flags)
    return Store(sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0, **flags)


class CommandStream:
    """One program under construction for ``cfg``.

    ``insns`` holds the instruction objects in program order; ``tokens`` the outstanding tokens per queue as
    the program stands. Emitters return the index of the instruction they appended (or ``None`` for no-ops that
    were skipped because their size was zero and they carried no token).
    """

    def __init__(self, cfg):
        self.cfg = cfg
        self.insns = []
        self._stage = []                              # stage of each instruction
        self._last = {s: None for s in Stage}          # index of the last instruction of each stage
        self._pending = {s: set() for s in Stage}      # pop flags waiting for the next instruction of a stage
        self.tokens = dict.fromkeys(QUEUE_STAGES, 0)
        self.max_tokens = dict(self.tokens)
        self.finished = False

    # -- raw emission ---------------------------------------------------------------------------------------------

    def emit(self, insn, stage):
        """Append ``insn`` (any flags already on it are kept) in ``stage``, absorbing that stage's pending pops."""
        if self.finished:
            raise ProgramError("the stream already ends with FINISH; nothing can be appended")
        stage = Stage(stage)
        if stage_of(insn) != stage.isa_name:  # builder misuse: its tokens would be counted on the wrong stage
            raise ProgramError(f"{type(insn).__name__.upper()} runs in the {stage_of(insn)} stage, not the "
                               f"{stage.isa_name} stage it was emitted in")
        flags = {f: True for f in self._pending[stage]}
        for f in flags:
            if getattr(insn, f):
                raise ProgramError(f"instruction already pops with {f}")  # builder misuse
        if flags:
            insn = insn.replace(**flags)
        self._pending[stage].clear()
        self.insns.append(insn)
        self._stage.append(stage)
        self._last[stage] = len(self.insns) - 1
        return len(self.insns) - 1

    def __len__(self):
        return len(self.insns)

    # -- memory ---------------------------------------------------------------------------------------------------

    def load(self, memory_type, sram_base, dram_base, y_size, x_size, x_stride, pads=(0, 0, 0, 0)):
        """LOAD ``y_size`` rows of ``x_size`` elements (row stride ``x_stride``) with zero padding
        ``pads = (y_pad_0, y_pad_1, x_pad_0, x_pad_1)``; runs in the stage implied by ``memory_type``."""
        memory_type = MemId(memory_type)
        y0, y1, x0, x1 = pads
        insn = Load(memory_type=memory_type, sram_base=sram_base, dram_base=dram_base, y_size=y_size,
                    x_size=x_size, x_stride=x_stride, y_pad_0=y0, y_pad_1=y1, x_pad_0=x0, x_pad_1=x1)
        return self.emit(insn, stage_of_mem(memory_type))

    def store(self, sram_base, dram_base, y_size, x_size, x_stride):
        """STORE ``y_size`` rows of ``x_size`` out elements to DRAM rows ``x_stride`` elements apart."""
        insn = Store(sram_base=sram_base, dram_base=dram_base, y_size=y_size, x_size=x_size, x_stride=x_stride)
        return self.emit(insn, Stage.STORE)

    # -- compute --------------------------------------------------------------------------------------------------

    def gemm(self, placed, reset=False, requant=False):
        """GEMM over the resident kernel ``placed`` (a `vta.jit.kernels.Placement`); ``reset`` zeroes instead;
        ``requant``: its out writes are requantized by the register `setq` set."""
        k = placed.kernel
        return self.emit(Gemm(reset_reg=bool(reset), uop_bgn=placed.bgn, uop_end=placed.end, requant=bool(requant),
                              **k.loop_fields("gemm")), Stage.COMPUTE)

    def alu(self, placed, op, imm=None, requant=False):
        """ALU ``op`` over the resident kernel ``placed``; with ``imm`` the second operand is that immediate;
        ``requant``: its out writes are requantized by the register `setq` set."""
        k = placed.kernel
        fields = k.loop_fields("alu")
        if imm is not None:
            fields.update(use_imm=True, imm=int(imm))
        return self.emit(Alu(alu_opcode=op, uop_bgn=placed.bgn, uop_end=placed.end, requant=bool(requant), **fields),
                         Stage.COMPUTE)

    def setq(self, shift, relu):
        """ALU SETQ: later ``requant`` words write ``clamp(result >> shift, 0 if relu else −128, 127)`` to out.
        It touches no buffer, so its uop range is empty."""
        try:
            imm = setq_imm(shift, relu)
        except ISAError as e:
            raise ProgramError(str(e)) from None
        return self.emit(Alu(alu_opcode=AluOp.SETQ, uop_bgn=0, uop_end=0, use_imm=True, imm=imm), Stage.COMPUTE)

    # -- dependency tokens ----------------------------------------------------------------------------------------

    def push(self, src, dst):
        """Give a token from stage ``src`` to stage ``dst`` once everything ``src`` has emitted so far is done."""
        src, dst = Stage(src), Stage(dst)
        name, push_flag, _ = _queue(src, dst)
        last = self._last[src]
        if self._pending[src] or last is None or getattr(self.insns[last], push_flag):
            last = self.emit(_noop(src), src)
        self.insns[last] = self.insns[last].replace(**{push_flag: True})
        self.tokens[name] += 1
        self.max_tokens[name] = max(self.max_tokens[name], self.tokens[name])
        if self.tokens[name] > self.cfg.dep_queue_depth:
            raise ProgramError(f"more than {self.cfg.dep_queue_depth} tokens outstanding in queue {name}")

    def pop(self, src, dst):
        """Make the next instruction of stage ``dst`` wait for a token from stage ``src``."""
        src, dst = Stage(src), Stage(dst)
        name, _, pop_flag = _queue(src, dst)
        if self.tokens[name] <= 0:
            raise ProgramError(f"pop from queue {name} with no token pushed before it (the program would deadlock)")
        if pop_flag in self._pending[dst]:
            self._commit(dst)
        self._pending[dst].add(pop_flag)
        self.tokens[name] -= 1

    def _commit(self, stage):
        """Emit a no-op in ``stage`` to carry its pending pops now."""
        if self._pending[stage]:
            self.emit(_noop(stage), stage)

    # -- end ------------------------------------------------------------------------------------------------------

    def finish(self):
        """Balance every queue, make compute wait for load and store to drain, and append FINISH."""
        # Tokens nobody will consume: the receiving stage pops them (one no-op each).
        for (src, dst) in ((Stage.COMPUTE, Stage.LOAD), (Stage.COMPUTE, Stage.STORE),
                           (Stage.LOAD, Stage.COMPUTE), (Stage.STORE, Stage.COMPUTE)):
            name, _, _ = _queue(src, dst)
            while self.tokens[name]:
                self.pop(src, dst)
        for s in Stage:
            self._commit(s)
        # FINISH waits until load and store have done everything before it (upstream's Synchronize).
        for src in (Stage.LOAD, Stage.STORE):
            if self._last[src] is not None:
                self.push(src, Stage.COMPUTE)
                self.pop(src, Stage.COMPUTE)
        self._commit(Stage.COMPUTE)
        self.emit(Finish(), Stage.COMPUTE)
        self.finished = True
        assert not any(self.tokens.values()), self.tokens
        return self.insns

    # -- inspection -----------------------------------------------------------------------------------------------

    def stage_counts(self):
        """Instructions per stage (no-ops included)."""
        out = dict.fromkeys(STAGES, 0)
        for s in self._stage:
            out[Stage(s).isa_name] += 1
        return out
