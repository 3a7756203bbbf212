"""`FunctionalSim`: the bit-exact golden model of VTA — docs/semantics.md as executable numpy.

Instructions run one at a time in program order (which, for a valid program, gives the same DRAM image as the
concurrent hardware), dependency tokens are four counters checked for causality, and each instruction's loop
nest is vectorized over the whole instruction (see `vta.sim.compute`). Everything the semantics forbids raises a
`ProgramError` naming the instruction index, the field and the limit; nothing ever wraps silently.

The SRAM buffers are public numpy arrays of shape ``(depth, *element_shape)``: ``uop`` (uint32 words), ``inp``
(int8, BATCH×BLOCK_IN), ``wgt`` (int8, BLOCK_OUT×BLOCK_IN), ``acc`` (int32, BATCH×BLOCK_OUT) and ``out`` (int8,
BATCH×BLOCK_OUT). Like hardware SRAM and token counters they persist across `run` calls; `reset` clears them.
"""

import time

import numpy as np

from ..config import load_config
from ..device import Closing
from ..errors import DeadlockError, ProgramError
from ..isa.opcodes import AluOp, MemId, Opcode
from ..isa.requant import out_bounds, setq_fields
from ..isa.stages import (
    LOAD_TYPES,
    MEMORY_TYPES,
    POP_FLAGS,
    PUSH_FLAGS,
    QUEUES,
    STAGE_QUEUES,
    STORE_TYPES,
    stage_of_fields,
)
from .compute import alu_run, gemm_accumulate, gemm_reset, iteration_chunks, nest_index
from .decode import INSN_BYTES, UopDecoder
from .dram import DramViews, check_dram, check_run_args
from .fsim_blas import one_blas_thread
from .fsim_program import ProgramCache
from .stats import count_insn, new_stats

__all__ = ["FunctionalSim"]


# The memory types by raw value (the per-instruction path gets ints from the decoder), and the subsets LOAD and
# STORE accept, all from `vta.isa.stages`.
MEM_TYPES = {m.value: t for m, t in MEMORY_TYPES.items()}
LOADABLE = {m.value for m in LOAD_TYPES}
STORABLE = {m.value for m in STORE_TYPES}
PADDED = [m.name for m in LOAD_TYPES if MEMORY_TYPES[m].paddable]
PADDED_NAMES = f"{', '.join(PADDED[:-1])} and {PADDED[-1]}"   # "INP, ACC and ACC_8BIT"
PADS = ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")
# Enum lookups by raw value (calling the amaranth enum classes is slow in the per-instruction path).
OPCODE_NAMES = {op.value: op.name for op in Opcode}
MEM_NAMES = {m.value: m.name for m in MemId}
ALU_OPS = {op.value: op for op in AluOp}

# Iterations per vectorized GEMM/ALU step; bounds the temporaries to a few tens of MB.
MAX_CHUNK_LANES = 1 << 21
# Loop-nest indices kept for reuse by later instructions with the same uops and loop fields (8 bytes each).
NEST_CACHE_ELEMS = 1 << 22


LOAD, STORE, GEMM, ALU, FINISH = (op.value for op in (Opcode.LOAD, Opcode.STORE, Opcode.GEMM, Opcode.ALU,
                                                       Opcode.FINISH))


def _block(view, base, y_size, x_size, x_stride, writeable=False):
    """Elements ``base + y·x_stride + x`` of ``view`` as a ``(y_size, x_size, …)`` strided view (no copy; the
    caller checked the block is inside ``view``). Writable only where rows do not overlap (``x_stride ≥ x_size``)."""
    if y_size == 1 or x_stride == x_size:
        return view[base:base + y_size * x_size].reshape(y_size, x_size, *view.shape[1:])
    if x_stride > x_size and base + y_size * x_stride <= len(view):   # whole rows of x_stride, then the first x_size
        return view[base:base + y_size * x_stride].reshape(y_size, x_stride, *view.shape[1:])[:, :x_size]
    if x_stride == 0 and not writeable:                                   # one row, repeated
        return np.broadcast_to(view[base:base + x_size], (y_size, x_size, *view.shape[1:]))
    sub = view[base:base + (y_size - 1) * x_stride + x_size]
    return np.lib.stride_tricks.as_strided(sub, (y_size, x_size, *sub.shape[1:]),
                                           (x_stride * sub.strides[0], *sub.strides), writeable=writeable)


class _Consts:
    """The config numbers the per-instruction path reads, computed once (`VTAConfig` derives them on every
    access); also what `count_insn` reads of a config."""

    def __init__(self, cfg):
        self.depths = cfg.depths
        self.elem_bytes = cfg.elem_bytes
        self.uop_depth = cfg.uop_depth
        self.dep_queue_depth = cfg.dep_queue_depth
        self.macs_per_cycle = cfg.macs_per_cycle
        self.batch, self.block_out = cfg.batch, cfg.block_out
        self.gemm_lanes = cfg.batch * max(cfg.block_in, cfg.block_out)
        self.alu_lanes = cfg.batch * cfg.block_out
        # as int32 scalars: np.clip on an int32 array is faster with bounds of its own type
        self.out_bounds = {relu: tuple(map(np.int32, out_bounds(cfg.out_width, relu))) for relu in (False, True)}


class FunctionalSim(Closing):
    """A VTA `Device` that executes programs functionally, bit-exact to docs/semantics.md.

    ``cfg`` is a `VTAConfig` or anything `vta.load_config` accepts (a preset name, a JSON path, a dict).
    """

    def __init__(self, cfg="default"):
        self.cfg = load_config(cfg)
        self._uop_fields = UopDecoder(self.cfg)
        self._k = _Consts(self.cfg)
        self._nests = {}         # loop-nest key -> [(index arrays, memo)] per chunk (see `_nest_chunks`)
        self._programs = ProgramCache()   # decoded programs by their bytes (see `vta.sim.fsim_program`)
        self._nest_elems = 0
        self.reset()

    # -- state --------------------------------------------------------------------------------------------------

    def reset(self):
        """Zero every SRAM buffer and empty the four dependency-token queues (the state at power-up)."""
        cfg = self.cfg
        self.uop = np.zeros(cfg.uop_depth, dtype=np.uint32)
        self.inp = np.zeros((cfg.inp_depth, *cfg.inp_shape), dtype=np.int8)
        self.wgt = np.zeros((cfg.wgt_depth, *cfg.wgt_shape), dtype=np.int8)
        self.acc = np.zeros((cfg.acc_depth, *cfg.acc_shape), dtype=np.int32)
        self.out = np.zeros((cfg.out_depth, *cfg.out_shape), dtype=np.int8)
        self._tokens = dict.fromkeys(QUEUES, 0)
        self._q = (0, False)

    @property
    def q(self):
        """The requantization register ``(shift, relu)`` the last SETQ set ((0, False) at the start of a run)."""
        return self._q

    @property
    def tokens(self):
        """Outstanding tokens per queue (``l2g``, ``g2l``, ``g2s``, ``s2g``); a copy."""
        return dict(self._tokens)

    def __repr__(self):
        return f"FunctionalSim({self.cfg.name!r})"

    def close(self):
        """Nothing to release (numpy arrays only): here so every `Device` can be closed alike."""

    # -- the run loop --------------------------------------------------------------------------------------------

    def run(self, dram, insn_addr, insn_count):
        """Execute the ``insn_count`` instructions at byte ``insn_addr`` of ``dram`` up to the first FINISH.

        ``dram`` (1-D ``np.uint8``) is updated in place by STOREs. Returns `RunStats` (no cycle counts).
        Raises `ProgramError` (or `DeadlockError`) naming the offending instruction; the instructions before it
        have taken effect.
        """
        start = time.perf_counter()
        dram = check_dram(dram)
        image = check_run_args(dram, insn_addr, insn_count, INSN_BYTES)
        prog = self._programs.get(self.cfg, image, dram.size)
        views = DramViews(self.cfg, dram)
        stats = new_stats() if prog.stats is None else None   # counted once per program (`vta.sim.fsim_program`)
        self._q = (0, False)   # every launch starts with Q = (0, 0)
        with one_blas_thread():
            self._execute(prog, views, stats, insn_addr)
        if stats is None:
            stats = prog.recount()
        else:
            prog.counted(stats)
        stats.wall_seconds = time.perf_counter() - start
        return stats

    def _execute(self, prog, views, stats, insn_addr):
        """The instructions of ``prog`` in order up to FINISH (counted into ``stats`` unless it is None)."""
        tokens, depth, steps, moves = self._tokens, self._k.dep_queue_depth, prog.steps, prog.moves
        for k in range(prog.count):
            step = steps[k]
            if step is None:
                step = steps[k] = self._prepare(prog.stream, k)
            opcode, f, name, pops, pushes = step
            # Every token check comes first and the counters change only after the instruction ran, so an
            # instruction that fails has no effect at all (a stage's four flags name four different queues).
            for flag, queue in pops:
                if tokens[queue] == 0:
                    self._check_pop(queue, flag, name, k)
            for flag, queue in pushes:
                if tokens[queue] >= depth:
                    self._check_push(queue, flag, name, k)
            if opcode == GEMM:
                self._gemm(k, f, views)
            elif opcode == ALU:
                self._alu(k, f, views)
            elif opcode != FINISH:   # LOAD, STORE: checked at the first run, then only the data moves
                move = moves[k]
                if move is None:
                    move = moves[k] = (self._load if opcode == LOAD else self._store)(k, f, views)
                if move:
                    (self._move_load if opcode == LOAD else self._move_store)(views, *move)
            for _, queue in pushes:
                tokens[queue] += 1
            for _, queue in pops:
                tokens[queue] -= 1
            if stats is not None:
                count_insn(stats, self._k, opcode, f)
            if opcode == FINISH:
                break
        else:
            raise ProgramError(f"no FINISH among the {prog.count} instructions at insn_addr={insn_addr} "
                               f"(a run must end with FINISH)")

    def _prepare(self, stream, k):
        """What instruction ``k`` of ``stream`` needs on every run, once its static checks passed: ``(opcode,
        fields, name, pops, pushes)`` — ``pops``/``pushes`` the (flag, queue) pairs it sets. Plain values only (no
        closures or bound methods), which the garbage collector need not follow in a kept program."""
        stream.check(k)
        opcode = stream.opcode[k]
        f = stream.fields(k)
        name = OPCODE_NAMES[opcode]
        stage = self._stage(opcode, f, name, k)
        queues = self._queues(stage, f, name, k)
        pops = tuple((flag, queues[flag]) for flag in POP_FLAGS if f[flag])
        pushes = tuple((flag, queues[flag]) for flag in PUSH_FLAGS if f[flag])
        return opcode, f, name, pops, pushes

    # -- dependency tokens ---------------------------------------------------------------------------------------

    @staticmethod
    def _stage(opcode, f, name, k):
        """The stage that executes the instruction (`vta.isa.stages`); a LOAD of a type LOAD cannot fill is an error."""
        if opcode == Opcode.LOAD.value:
            mt = f["memory_type"]
            if mt not in LOADABLE:
                raise ProgramError(f"LOAD memory_type={MEM_NAMES[mt]} is not loadable (LOAD takes "
                                   f"{', '.join(m.name for m in LOAD_TYPES[:-1])} or {LOAD_TYPES[-1].name})", index=k)
            return MEM_TYPES[mt].load_stage
        return stage_of_fields(opcode)

    @staticmethod
    def _queues(stage, f, name, k):
        queues = STAGE_QUEUES[stage]
        for flag, queue in queues.items():
            if queue is None and f[flag]:
                raise ProgramError(f"{name} runs in the {stage} stage, which has no {flag.split('_')[1]} queue "
                                   f"for {flag}; {flag} must be 0, not 1", index=k)
        return queues

    def _check_pop(self, queue, flag, name, k):
        if self._tokens[queue] == 0:
            raise DeadlockError(f"{name} {flag} pops the {queue} ({QUEUES[queue]}) queue, which is empty: no "
                                f"earlier instruction pushed a token to it (deadlock)", index=k)

    def _check_push(self, queue, flag, name, k):
        depth = self._k.dep_queue_depth
        if self._tokens[queue] >= depth:
            raise ProgramError(f"{name} {flag} pushes a token to the {queue} ({QUEUES[queue]}) queue, which "
                               f"already holds {depth} tokens (dep_queue_depth={depth})", index=k)

    # -- LOAD / STORE --------------------------------------------------------------------------------------------

    def _load(self, k, f, views):
        """LOAD: a 2-D strided DRAM block into SRAM, zero-padded on all four sides (INP, ACC, ACC_8BIT only)::

            if y_size == 0 or x_size == 0: return
            pitch = x_pad_0 + x_size + x_pad_1
            for y in range(y_pad_0 + y_size + y_pad_1):
              for x in range(pitch):
                sram[sram_base + y*pitch + x] = 0 if padding else \\
                    dram_elem[dram_base + (y - y_pad_0)*x_stride + (x - x_pad_0)]

        ACC_8BIT reads out-sized int8 elements and sign-extends them into acc; ACC loads never touch out.

        Checks the instruction and moves its data; returns what `_move_load` needs to move it again on a later run
        of the same program (the checks hold for it: same fields, same DRAM size), ``()`` for a zero-size LOAD.
        """
        mt = f["memory_type"]
        mtype = MEM_TYPES[mt]
        buf, kind = mtype.buffer, mtype.dram_elem
        what = f"LOAD {MEM_NAMES[mt]}"
        y_size, x_size = f["y_size"], f["x_size"]
        if y_size == 0 or x_size == 0:
            return ()
        if not mtype.paddable:
            for pad in PADS:
                if f[pad]:
                    raise ProgramError(f"{what}: {pad} must be 0 (padding is allowed for {PADDED_NAMES} only), "
                                       f"not {f[pad]}", index=k)
        y0, y1, x0, x1 = (f[p] for p in PADS)
        rows, pitch = y0 + y_size + y1, x0 + x_size + x1
        base, depth = f["sram_base"], self._k.depths[buf]
        end = base + rows * pitch
        if end > depth:
            raise ProgramError(f"{what}: sram_base={base} + {rows} rows × pitch {pitch} writes {buf} elements up "
                               f"to {end - 1}, past the {buf} buffer depth {depth}", index=k)
        views.check_block(kind, f["dram_base"], y_size, x_size, f["x_stride"], what, k)
        move = (kind, buf, base, end, rows, pitch, y0, x0, y_size, x_size, f["dram_base"], f["x_stride"])
        self._move_load(views, *move)
        return move

    def _move_load(self, views, kind, buf, base, end, rows, pitch, y0, x0, y_size, x_size, dram_base, x_stride):
        """A checked LOAD's data movement (the DRAM block into the padded SRAM region)."""
        data = _block(views(kind), dram_base, y_size, x_size, x_stride)
        sram = getattr(self, buf)
        region = sram[base:end].reshape(rows, pitch, *sram.shape[1:])
        if rows != y_size or pitch != x_size:
            region[...] = 0
        region[y0:y0 + y_size, x0:x0 + x_size] = data

    def _store(self, k, f, views):
        """STORE: out buffer rows to a 2-D strided DRAM block (memory_type OUT, no padding)::

            for y in range(y_size):
              for x in range(x_size):
                dram_out_elem[dram_base + y*x_stride + x] = out[sram_base + y*x_size + x]

        Checks and moves, returning what `_move_store` needs, like `_load`.
        """
        if f["memory_type"] not in STORABLE:
            raise ProgramError(f"STORE memory_type must be {' or '.join(m.name for m in STORE_TYPES)}, "
                               f"not {MEM_NAMES[f['memory_type']]}", index=k)
        for pad in PADS:
            if f[pad]:
                raise ProgramError(f"STORE: {pad} must be 0 (STORE has no padding), not {f[pad]}", index=k)
        y_size, x_size, x_stride = f["y_size"], f["x_size"], f["x_stride"]
        if y_size == 0 or x_size == 0:
            return ()
        base, depth = f["sram_base"], self._k.depths["out"]
        end = base + y_size * x_size
        if end > depth:
            raise ProgramError(f"STORE: sram_base={base} + y_size {y_size} × x_size {x_size} reads out elements "
                               f"up to {end - 1}, past the out buffer depth {depth}", index=k)
        views.check_block("out", f["dram_base"], y_size, x_size, x_stride, "STORE", k)
        move = (base, end, y_size, x_size, f["dram_base"], x_stride)
        self._move_store(views, *move)
        return move

    def _move_store(self, views, base, end, y_size, x_size, dram_base, x_stride):
        """A checked STORE's data movement (out rows into the DRAM block)."""
        src = self.out[base:end].reshape(y_size, x_size, *self.out.shape[1:])
        if x_stride >= x_size or y_size == 1:
            _block(views("out"), dram_base, y_size, x_size, x_stride, writeable=True)[...] = src
        else:  # rows overlap in DRAM: later rows overwrite earlier ones, as in program order
            dst = views("out")
            for y in range(y_size):
                dst[dram_base + y * x_stride:dram_base + y * x_stride + x_size] = src[y]

    # -- GEMM / ALU ----------------------------------------------------------------------------------------------

    def _loop_nest(self, k, f, what, targets):
        """Decode the uop range and check every index the nest will touch; None for an empty nest.

        ``targets`` maps a uop field to (its factor field prefix, the buffer it indexes).
        """
        bgn, end, iter_out, iter_in = f["uop_bgn"], f["uop_end"], f["iter_out"], f["iter_in"]
        if bgn >= end or iter_out == 0 or iter_in == 0:
            return None
        if end > self._k.uop_depth:
            raise ProgramError(f"{what}: uop_end={end} is past the uop buffer depth {self._k.uop_depth}", index=k)
        uops = self._uop_fields(self.uop[bgn:end], bgn, k, what)
        nest = {}
        for field, (prefix, buf) in targets.items():
            base = uops[field]
            fo, fi = f[f"{prefix}_factor_out"], f[f"{prefix}_factor_in"]
            top = int(base.max()) + (iter_out - 1) * fo + (iter_in - 1) * fi
            depth = self._k.depths[buf]
            if top >= depth:
                u = bgn + int(np.argmax(base))
                raise ProgramError(
                    f"{what}: {buf} index reaches {top} (max uop {field} {int(base.max())} at uop[{u}] + "
                    f"(iter_out-1)·{prefix}_factor_out {(iter_out - 1) * fo} + (iter_in-1)·{prefix}_factor_in "
                    f"{(iter_in - 1) * fi}), past the {buf} buffer depth {depth}", index=k)
            nest[field] = (base, fo, fi)
        return nest

    def _chunks(self, f, nest, lanes):
        """Flat index arrays for each field of ``nest``, chunk by chunk in program order."""
        n_uops = f["uop_end"] - f["uop_bgn"]
        for i, j in iteration_chunks(f["iter_out"], f["iter_in"], n_uops, max(1, MAX_CHUNK_LANES // lanes)):
            yield {field: nest_index(base, fo, fi, i, j) for field, (base, fo, fi) in nest.items()}

    def _nest_chunks(self, k, f, what, targets, lanes):
        """`_loop_nest` + `_chunks` as a list of (index arrays, memo dict) per chunk; None for an empty nest.

        The index arrays are a pure function of the uop words in range, the loop fields that build them and the
        chunking, so they are kept under exactly that key (the words themselves are part of it) and reused —
        read-only — by every later instruction with the same key; the bounds were checked when they were built
        and would give the same answer. The memo holds what `gemm_accumulate`/`alu_run` derive from the arrays.
        At most ``NEST_CACHE_ELEMS`` indices are kept (oldest dropped first).
        """
        bgn, end, iter_out, iter_in = f["uop_bgn"], f["uop_end"], f["iter_out"], f["iter_in"]
        if bgn >= end or iter_out == 0 or iter_in == 0:
            return None
        if end > self._k.uop_depth:
            raise ProgramError(f"{what}: uop_end={end} is past the uop buffer depth {self._k.uop_depth}", index=k)
        key = (tuple(targets.items()), bgn, iter_out, iter_in, lanes, MAX_CHUNK_LANES,
               tuple(f[f"{prefix}_factor_{side}"] for prefix, _ in targets.values() for side in ("out", "in")),
               self.uop[bgn:end].tobytes())
        chunks = self._nests.pop(key, None)
        if chunks is None:
            nest = self._loop_nest(k, f, what, targets)
            chunks = []
            for idx in self._chunks(f, nest, lanes):
                for a in idx.values():
                    a.flags.writeable = False
                chunks.append((idx, {}))
            size = len(targets) * iter_out * iter_in * (end - bgn)
            if size <= NEST_CACHE_ELEMS:
                self._nest_elems += size
                while self._nest_elems > NEST_CACHE_ELEMS:
                    old = self._nests.pop(next(iter(self._nests)))
                    self._nest_elems -= sum(a.size for idx, _ in old for a in idx.values())
        if len(targets) * iter_out * iter_in * (end - bgn) <= NEST_CACHE_ELEMS:
            self._nests[key] = chunks   # most recently used last
        return chunks

    def _gemm(self, k, f, views):
        """GEMM: matrix multiply-accumulate (or reset) over a uop range in two nested loops::

            for i in range(iter_out):
              for j in range(iter_in):
                for u in range(uop_bgn, uop_end):
                  d = uop[u].dst_idx + i*dst_factor_out + j*dst_factor_in      # acc index
                  s = uop[u].src_idx + i*src_factor_out + j*src_factor_in      # inp index
                  w = uop[u].wgt_idx + i*wgt_factor_out + j*wgt_factor_in      # wgt index
                  acc[d] = 0 if reset_reg else wrap32(acc[d] + inp[s] @ wgt[w].T)
                  out[d] = requantize(acc[d]) if requant else low 8 bits of acc[d]

        ``requantize(x) = clip(x >> Q.shift, 0 if Q.relu else -128, 127)`` with the SETQ register Q.
        """
        targets = {"dst_idx": ("dst", "acc")}
        if not f["reset_reg"]:  # a reset reads neither inp nor wgt, so only its acc indices must be in range
            targets.update(src_idx=("src", "inp"), wgt_idx=("wgt", "wgt"))
        chunks = self._nest_chunks(k, f, "GEMM", targets, self._k.gemm_lanes)
        if chunks is None:
            return
        q = self._requant() if f["requant"] else None
        for idx, memo in chunks:
            if f["reset_reg"]:
                gemm_reset(self.acc, self.out, idx["dst_idx"])   # out 0: a requantized 0 is 0 too
            else:
                gemm_accumulate(self.acc, self.out, self.inp, self.wgt, idx["dst_idx"], idx["src_idx"],
                                idx["wgt_idx"], memo, q)

    def _requant(self):
        """``(shift, lo, hi)`` of a requant word's out writes, from the SETQ register."""
        shift, relu = self._q
        return (shift, *self._k.out_bounds[relu])

    def _alu(self, k, f, views):
        """ALU: element-wise int32 op on acc over a uop range in two nested loops::

            for i, j, u as GEMM:
              d = uop[u].dst_idx + i*dst_factor_out + j*dst_factor_in      # acc index
              s = uop[u].src_idx + i*src_factor_out + j*src_factor_in      # acc index
              b = sext16(imm) if use_imm else acc[s]                       # read at this point of the sequence
              acc[d] = op(acc[d], b)        # MIN, MAX (signed), ADD, MUL (wrap32), SHR (see alu_apply), MOV: b
              out[d] = requantize(acc[d]) if requant else low 8 bits of acc[d]     # requantize: see _gemm

        SETQ (well formed: the decoder rejected any other) runs no loop: Q = (imm[4:0], imm[5]). Only the checks
        of the word itself apply to it (reset_reg 0; for a non-empty nest uop_end ≤ the uop depth); it reads no
        micro-op, so neither their reserved bits nor the indices they would reach are checked.
        """
        if f["reset_reg"]:
            raise ProgramError("ALU: reset_reg must be 0 (only GEMM resets the accumulator), not 1", index=k)
        op = ALU_OPS[f["alu_opcode"]]
        if op is AluOp.SETQ:
            bgn, end = f["uop_bgn"], f["uop_end"]
            if bgn < end and f["iter_out"] and f["iter_in"] and end > self._k.uop_depth:
                raise ProgramError(f"ALU SETQ: uop_end={end} is past the uop buffer depth {self._k.uop_depth}",
                                   index=k)
            self._q = setq_fields(f["imm"])
            return
        targets = {"dst_idx": ("dst", "acc")}
        if not f["use_imm"]:  # with an immediate operand the src index is never read
            targets["src_idx"] = ("src", "acc")
        chunks = self._nest_chunks(k, f, f"ALU {op.name}", targets, self._k.alu_lanes)
        if chunks is None:
            return
        q = self._requant() if f["requant"] else None
        for idx, memo in chunks:
            alu_run(self.acc, self.out, op, idx["dst_idx"], idx.get("src_idx"), f["imm"], memo, q)
