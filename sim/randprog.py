"""Seeded constrained-random VTA programs that are *valid* by construction (docs/semantics.md), for differential
testing of the RTL against the functional simulator.

Valid means: every field in range, every index inside its buffer, every DRAM access inside DRAM, tokens causal and
balanced (each pop finds a token pushed earlier; none left at FINISH), FINISH last, and no data race between the
concurrently running load, compute and store stages — so every legal hardware schedule gives the program-order
result. Races are excluded by tracking, per SRAM element, the last instruction that wrote and read it:

- inp/wgt (written by load, read by GEMM): a GEMM pops an l2g token pushed at or after the last LOAD that wrote what
  it reads; a LOAD pops a g2l token pushed at or after the last GEMM that read what it overwrites;
- out (written by GEMM/ALU, read by STORE): likewise with g2s and s2g;
- DRAM: STOREs write a region no LOAD reads; instructions are never overwritten;
- nothing reads an SRAM element no instruction of the program wrote (SRAM persists between runs).

Tokens are counting semaphores, so "after instruction A" means popping the k-th token of the queue where the k-th
push is by A or a later instruction of A's stage; the generator adds push flags to earlier instructions and empty
"no-op" instructions carrying pops where needed. On top of that it covers, with random weights: every opcode, every
LOAD memory type, padding on each side, strided and overlapping rows, GEMM reset, every ALU op with tensor and
immediate operands (negative immediates, shift amounts in [-33, 33] and arbitrary 16-bit ones), accumulator
overflow, consecutive uops on one acc entry, empty instructions carrying tokens, high buffer addresses, reused uop
kernels, and (sometimes) instructions after FINISH that must not run.

With ``GenParams(extension=True)`` it also covers this project's one-pass-epilogue extension (docs/semantics.md):
ALU MOV (tensor and immediate) among the ALU ops, SETQ words (random shift 0..31 and relu; half of them over random
uop ranges, loops and factors, which a SETQ must ignore) and the requant bit on about a third of the GEMM and ALU
words. Malformed SETQ words are invalid programs: `vta.sim.faults` makes them.
"""

import dataclasses

import numpy as np

from ..config import load_config
from ..isa.hazard import find_races
from ..isa.insn import Alu, Finish, Gemm, Load, Store, Uop, encode_program, encode_uops
from ..isa.layouts import DEP_FLAGS
from ..isa.opcodes import AluOp, MemId
from ..isa.requant import SHIFT_MAX, is_setq, setq_imm
from ..isa.stages import MEMORY_TYPES, QUEUE_STAGES, STAGE_POPS, STAGE_PUSHES, STAGES, stage_of

__all__ = ["GenParams", "SIZES", "RandomProgram", "generate", "noop_like", "stage_of", "interleave", "find_hazard"]

PAGE = 4096
# The ALU ops with lanes, drawn uniformly: upstream's five, and MOV with the extension (SETQ is its own action).
UPSTREAM_OPS = [AluOp.MIN, AluOp.MAX, AluOp.ADD, AluOp.SHR, AluOp.MUL]
LANE_OPS = [*UPSTREAM_OPS, AluOp.MOV]
REQUANT_SHARE = 1 / 3     # GEMM and ALU words with the requant bit


@dataclasses.dataclass(frozen=True)
class GenParams:
    """Size knobs of a random program."""
    actions: int = 24        # random actions (each emits one or more instructions)
    max_rows: int = 3        # y_size of LOAD/STORE
    max_cols: int = 4        # x_size of LOAD/STORE
    max_pad: int = 2         # per-side padding (4-bit field; up to 15)
    max_iter: int = 3        # iter_out, iter_in
    max_uops: int = 4        # uops per GEMM/ALU
    max_factor: int = 3      # loop factors
    window: int = 48         # SRAM elements used per buffer (at the bottom or the top of the buffer)
    dram_elems: int = 48     # DRAM elements per data region
    # MOV, SETQ and requant words (the one-pass-epilogue extension); False: upstream's ISA only, exactly the
    # programs (for each seed) the generator made before the extension existed
    extension: bool = True

    def shrink(self):
        """A smaller version (for the minimiser): halve every knob, keep each ≥ 1 (window ≥ 16)."""
        return GenParams(actions=max(1, self.actions // 2), max_rows=max(1, self.max_rows // 2),
                         max_cols=max(1, self.max_cols // 2), max_pad=self.max_pad // 2,
                         max_iter=max(1, self.max_iter // 2), max_uops=max(1, self.max_uops // 2),
                         max_factor=self.max_factor // 2, window=max(16, self.window // 2),
                         dram_elems=max(16, self.dram_elems // 2), extension=self.extension)


SIZES = {
    "tiny": GenParams(actions=8, max_rows=2, max_cols=3, max_pad=1, max_iter=2, max_uops=3, window=24, dram_elems=24),
    "small": GenParams(),
    "medium": GenParams(actions=60, max_rows=4, max_cols=6, max_pad=3, max_iter=4, max_uops=6, window=96,
                        dram_elems=96),
}

# The flag by which a stage pops / pushes a queue, keyed (stage, queue), and each queue's (producer, consumer);
# views of `vta.isa.stages` in the shape the generator looks them up. `stage_of` is re-exported from there.
POP_FLAG = {(stage, q): flag for stage, flags in STAGE_POPS.items() for flag, q in flags.items()}
PUSH_FLAG = {(stage, q): flag for stage, flags in STAGE_PUSHES.items() for flag, q in flags.items()}
QUEUE_ENDS = QUEUE_STAGES

# The memory type whose DRAM elements fill each data region of a generated program.
REGION_TYPES = {"uop": MemId.UOP, "inp": MemId.INP, "wgt": MemId.WGT, "acc": MemId.ACC, "acc8": MemId.ACC_8BIT,
                "out": MemId.OUT}


def noop_like(insn, rng=None):
    """An instruction of ``insn``'s stage that does nothing but carries the same dependency flags."""
    flags = {f: getattr(insn, f) for f in DEP_FLAGS}
    stage = stage_of(insn)
    if stage == "load":
        return Load(memory_type=getattr(insn, "memory_type", MemId.INP), sram_base=0, dram_base=0, y_size=0,
                    x_size=0, x_stride=0, **flags)
    if stage == "store":
        return Store(sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0, **flags)
    if isinstance(insn, Finish):
        return insn
    kind = 0 if rng is None else int(rng.integers(4))
    if kind == 0:
        return Gemm(uop_bgn=0, uop_end=0, **flags)
    if kind == 1:
        return Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=1, iter_out=0, **flags)
    if kind == 2:
        return Load(memory_type=MemId.UOP, sram_base=0, dram_base=0, y_size=0, x_size=3, x_stride=3, **flags)
    return Load(memory_type=MemId.ACC, sram_base=0, dram_base=0, y_size=1, x_size=0, x_stride=0,
                y_pad_0=1, x_pad_1=2, **flags)  # pads are ignored on an empty load


@dataclasses.dataclass
class RandomProgram:
    """A generated program: the initial DRAM image with data and instructions, and how it was made.

    ``regions`` maps a region name ("uop", "inp", "wgt", "acc", "acc8", "out", "insn") to its byte range
    ``(start, end)`` in DRAM; ``coverage`` counts what the program exercises (for generator tests).
    """
    cfg: object
    seed: int
    params: GenParams
    insns: list
    dram: np.ndarray
    insn_addr: int
    regions: dict
    coverage: dict

    @property
    def insn_count(self):
        return len(self.insns)

    def fresh_dram(self):
        """A copy of the initial DRAM image (a run mutates its DRAM)."""
        return self.dram.copy()

    def with_insns(self, insns):
        """The same data with another instruction list (at the same address; DRAM grows if needed)."""
        image = encode_program(self.cfg, insns)
        end = self.insn_addr + image.size
        size = max(self.regions["insn"][0] + PAGE, -(-end // PAGE) * PAGE)
        dram = np.zeros(size, dtype=np.uint8)
        data_end = self.regions["insn"][0]
        dram[:data_end] = self.dram[:data_end]
        dram[self.insn_addr:end] = image
        regions = dict(self.regions, insn=(self.insn_addr, end))
        return dataclasses.replace(self, insns=list(insns), dram=dram, regions=regions)

    def region_of(self, addr):
        """The name of the region holding byte ``addr`` (or "unused")."""
        for name, (start, end) in self.regions.items():
            if start <= addr < end:
                return name
        return "unused"

    def describe(self):
        counts = {}
        for insn in self.insns:
            key = type(insn).__name__.upper()
            if isinstance(insn, Load):
                key += " " + insn.memory_type.name
            counts[key] = counts.get(key, 0) + 1
        regions = ", ".join(f"{k} [{a:#x}, {b:#x})" for k, (a, b) in self.regions.items())
        return (f"random program seed={self.seed} on {self.cfg.name}: {self.insn_count} instructions "
                f"({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}); DRAM {self.dram.size} bytes: "
                f"{regions}")


class _Gen:
    def __init__(self, cfg, seed, p):
        self.cfg = cfg
        self.seed = seed
        self.p = p
        self.rng = np.random.default_rng(seed)
        rng = self.rng
        self.insns = []
        self.stage = []
        self.cov = {}
        depth = cfg.depths
        self.win = {}
        for buf in ("inp", "wgt", "acc", "uop"):
            w = min(depth[buf], p.window)
            base = 0 if rng.random() < 0.6 else depth[buf] - w  # sometimes the top of the buffer
            self.win[buf] = (base, base + w)
        self.win["out"] = self.win["acc"]
        # last writer / reader (instruction index, -1 = never) per SRAM element
        self.w = {b: np.full(depth[b], -1, np.int64) for b in ("inp", "wgt", "out")}
        self.r = {b: np.full(depth[b], -1, np.int64) for b in ("inp", "wgt", "out")}
        self.acc_init = np.zeros(depth["acc"], bool)
        self.uop = [None] * depth["uop"]
        self.pushers = {q: [] for q in QUEUE_ENDS}
        self.pops = dict.fromkeys(QUEUE_ENDS, 0)
        self.last_of_stage = dict.fromkeys(STAGES, -1)
        # DRAM data regions (element counts)
        n = p.dram_elems
        self.n_elems = {"inp": n, "wgt": n, "acc": n, "acc8": n, "out": n, "uop": max(64, p.actions * p.max_uops)}
        self.uop_dram = []      # uop words written to the uop DRAM region, in order

    # -- bookkeeping ---------------------------------------------------------------------------------------------

    def count(self, key, n=1):
        self.cov[key] = self.cov.get(key, 0) + n

    def emit(self, insn, pops=()):
        """Append ``insn`` with pop flags for ``pops`` (queues); update token state. Returns its index."""
        stage = stage_of(insn)
        flags = {}
        for q in pops:
            flags[POP_FLAG[(stage, q)]] = True
            self.pops[q] += 1
        if flags:
            insn = insn.replace(**flags)
        k = len(self.insns)
        self.insns.append(insn)
        self.stage.append(stage)
        self.last_of_stage[stage] = k
        for (st, q), flag in PUSH_FLAG.items():
            if st == stage and getattr(insn, flag):
                self.pushers[q].append(k)
        self.count(type(insn).__name__.upper())
        for f in DEP_FLAGS:
            if getattr(insn, f):
                self.count(f"{stage}.{f}")
        return k

    def order_after(self, q, a):
        """Make the next instruction of queue ``q``'s consumer stage run after instruction ``a`` of its producer.

        Returns True when that instruction must pop ``q`` (no-op pops are emitted first when needed).
        """
        if a < 0:
            return False
        src, dst = QUEUE_ENDS[q]
        pushers = self.pushers[q]
        k = next((i + 1 for i, pk in enumerate(pushers) if pk >= a), None)
        if k is None:
            last = self.last_of_stage[src]
            assert last >= a
            flag = PUSH_FLAG[(src, q)]
            self.insns[last] = self.insns[last].replace(**{flag: True})
            self.count(f"{src}.{flag}")
            pushers.append(last)
            k = len(pushers)
        if self.pops[q] >= k:
            return False
        while self.pops[q] + 1 < k:
            self.count("noop_pop")
            self.emit(self.noop(dst), pops=(q,))
        return True

    def noop(self, stage):
        if stage == "load":
            return noop_like(Load(memory_type=MemId.INP if self.rng.random() < 0.5 else MemId.WGT, sram_base=0,
                                  dram_base=0, y_size=0, x_size=0, x_stride=0))
        if stage == "store":
            return noop_like(Store(sram_base=0, dram_base=0, y_size=0, x_size=0, x_stride=0))
        return noop_like(Gemm(uop_bgn=0, uop_end=0), self.rng)

    def randint(self, lo, hi):
        """Uniform integer in [lo, hi]."""
        return int(self.rng.integers(lo, hi + 1))

    # -- memory instructions -------------------------------------------------------------------------------------

    def _block(self, buf, kind, pads_ok, max_rows=None, max_cols=None):
        """Random LOAD geometry for a buffer; None when it does not fit."""
        p = self.p
        ys = self.randint(1, max_rows or p.max_rows)
        xs = self.randint(1, max_cols or p.max_cols)
        pads = [0, 0, 0, 0]
        if pads_ok and self.rng.random() < 0.6:
            pads = [self.randint(0, p.max_pad) if self.rng.random() < 0.5 else 0 for _ in range(4)]
        y0, y1, x0, x1 = pads
        rows, pitch = y0 + ys + y1, x0 + xs + x1
        lo, hi = self.win[buf]
        if rows * pitch > hi - lo:
            return None
        sram = self.randint(lo, hi - rows * pitch)
        r = self.rng.random()
        stride = xs if r < 0.5 else xs + self.randint(1, 3) if r < 0.85 else self.randint(0, xs)
        n = self.n_elems[kind]
        span = (ys - 1) * stride + xs
        if span > n:
            stride, span = xs, ys * xs
            if span > n:
                return None
        dram = self.randint(0, n - span) + self.base_elem(kind)
        for side, v in zip(("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1"), pads):
            if v:
                self.count(f"pad.{side}")
        if stride < xs:
            self.count("stride<x")
        elif stride > xs:
            self.count("stride>x")
        if sram + rows * pitch > self.cfg.depths[buf] - 8:
            self.count(f"high.{buf}")
        return dict(sram_base=sram, dram_base=dram, y_size=ys, x_size=xs, x_stride=stride, y_pad_0=y0, y_pad_1=y1,
                    x_pad_0=x0, x_pad_1=x1), rows * pitch

    def base_elem(self, kind):
        """The first DRAM element index of a data region (regions are page aligned)."""
        return self.region_start[kind] // self.elem_bytes(kind)

    def elem_bytes(self, kind):
        return MEMORY_TYPES[REGION_TYPES[kind]].dram_elem_bytes(self.cfg)

    def act_load_inp_wgt(self, buf):
        got = self._block(buf, buf, pads_ok=(buf == "inp"))
        if got is None:
            return
        geo, n = got
        elems = np.arange(geo["sram_base"], geo["sram_base"] + n)
        pops = [q for q in ("g2l",) if self.order_after(q, int(self.r[buf][elems].max()))]
        k = self.emit(Load(memory_type=MemId[buf.upper()], **geo), pops)
        self.w[buf][elems] = k
        self.count(f"LOAD.{buf.upper()}")

    def act_load_acc(self, eight_bit):
        got = self._block("acc", "acc8" if eight_bit else "acc", pads_ok=True)
        if got is None:
            return
        geo, n = got
        self.emit(Load(memory_type=MemId.ACC_8BIT if eight_bit else MemId.ACC, **geo))
        self.acc_init[geo["sram_base"]:geo["sram_base"] + n] = True
        self.count("LOAD.ACC_8BIT" if eight_bit else "LOAD.ACC")

    def act_store(self):
        lo, hi = self.win["out"]
        written = (self.w["out"][lo:hi] >= 0).astype(np.int64)
        if not written.any():
            return
        ys, xs = self.randint(1, self.p.max_rows), self.randint(1, self.p.max_cols)
        n = ys * xs
        ok = np.flatnonzero(np.convolve(written, np.ones(n, int), "valid") == n) if n <= hi - lo else []
        if len(ok) == 0:
            ys, xs, n = 1, 1, 1
            ok = np.flatnonzero(written)
        sram = lo + int(self.rng.choice(ok))
        r = self.rng.random()
        stride = xs if r < 0.6 else xs + self.randint(1, 3) if r < 0.9 else self.randint(0, xs)
        span = (ys - 1) * stride + xs
        if span > self.n_elems["out"]:
            stride, span = xs, n
        dram = self.base_elem("out") + self.randint(0, self.n_elems["out"] - span)
        elems = np.arange(sram, sram + n)
        pops = [q for q in ("g2s",) if self.order_after(q, int(self.w["out"][elems].max()))]
        k = self.emit(Store(sram_base=sram, dram_base=dram, y_size=ys, x_size=xs, x_stride=stride), pops)
        self.r["out"][elems] = k
        if stride < xs:
            self.count("store.stride<x")

    # -- compute instructions ------------------------------------------------------------------------------------

    def _bases(self, ok, offsets, lo, hi):
        """Base indices b in [lo, hi) with every b + offset in [lo, hi) and ok[b + offset]."""
        top = int(offsets.max())
        if top >= hi - lo:
            return np.zeros(0, np.int64)
        cand = np.arange(lo, hi - top)
        good = np.ones(cand.size, bool)
        for off in np.unique(offsets):
            good &= ok[cand + off]
        return cand[good]

    def _offsets(self, io, ii, fo, fi):
        i, j = np.meshgrid(np.arange(io), np.arange(ii), indexing="ij")
        return (i * fo + j * fi).ravel()

    def _kernel(self, gemm, reset):
        """Choose loop extents, factors and uops for a GEMM/ALU; emits a LOAD UOP when it makes new uops.

        Returns (insn fields, acc dst indices written, [(buf, indices read)]) or None.
        """
        p, rng = self.p, self.rng
        io, ii = self.randint(1, p.max_iter), self.randint(1, p.max_iter)
        nu = self.randint(1, p.max_uops)

        def factor():
            return 0 if rng.random() < 0.4 else self.randint(0, p.max_factor)

        fac = {k: (factor(), factor()) for k in ("dst", "src", "wgt")}
        if rng.random() < 0.2 and ii > 1:  # same acc entry on consecutive iterations: a forwarding hazard
            fac["dst"] = (fac["dst"][0], 0)
            self.count("hazard.dst_factor_in_0")
        acc_ok = np.ones(self.cfg.acc_depth, bool) if reset else self.acc_init
        if gemm:
            src_buf, src_ok = "inp", self.w["inp"] >= 0
        else:
            src_buf, src_ok = "acc", self.acc_init
        need = [("dst", "acc", acc_ok)]
        use_imm = False
        if gemm and not reset:
            need += [("src", src_buf, src_ok), ("wgt", "wgt", self.w["wgt"] >= 0)]
        elif not gemm:
            use_imm = rng.random() < 0.5
            if not use_imm:
                need.append(("src", "acc", src_ok))
        bases = {}
        for name, buf, ok in need:
            offs = self._offsets(io, ii, *fac[name])
            b = self._bases(ok, offs, *self.win[buf])
            if b.size == 0:
                fac[name] = (0, 0)
                offs = self._offsets(io, ii, 0, 0)
                b = self._bases(ok, offs, *self.win[buf])
                if b.size == 0:
                    return None
            bases[name] = b
        # reuse uops already in SRAM when they fit, otherwise load new ones
        seg = self._reuse(nu, bases) if rng.random() < 0.3 else None
        if seg is None:
            uops = []
            for _u in range(nu):
                pick = {name: int(rng.choice(b)) for name, b in bases.items()}
                if uops and rng.random() < 0.3:  # consecutive uops on the same acc entry
                    pick["dst"] = uops[-1].dst_idx
                    self.count("hazard.same_dst")
                # operands the instruction never reads still get in-range indices (the hardware must ignore them)
                src = pick.get("src")
                if src is None:
                    src = self.randint(self.win[src_buf][0], self.win[src_buf][1] - 1)
                wgt = pick.get("wgt")
                if wgt is None:
                    wgt = self.randint(self.win["wgt"][0], self.win["wgt"][1] - 1) if gemm else 0
                uops.append(Uop(pick["dst"], src, wgt))
            seg = self._load_uops(uops)
            if seg is None:
                return None
        else:
            self.count("uop_reuse")
        bgn, end = seg
        uops = self.uop[bgn:end]
        fields = dict(uop_bgn=bgn, uop_end=end, iter_out=io, iter_in=ii, dst_factor_out=fac["dst"][0],
                      dst_factor_in=fac["dst"][1], src_factor_out=fac["src"][0], src_factor_in=fac["src"][1])
        if gemm:
            fields.update(wgt_factor_out=fac["wgt"][0], wgt_factor_in=fac["wgt"][1])
        idx = {}
        for name, attr in (("dst", "dst_idx"), ("src", "src_idx"), ("wgt", "wgt_idx")):
            base = np.array([getattr(u, attr) for u in uops], np.int64)
            offs = self._offsets(io, ii, *fac[name])
            idx[name] = (offs[:, None] + base[None, :]).ravel()
        reads = []
        if gemm and not reset:
            reads = [("inp", idx["src"]), ("wgt", idx["wgt"])]
        return fields, idx["dst"], reads, use_imm, idx["src"]

    def _reuse(self, nu, bases):
        """A range of nu uops already in uop SRAM whose indices all fall in ``bases``; None if there is none."""
        lo, hi = self.win["uop"]
        sets = {name: set(b.tolist()) for name, b in bases.items()}
        attr = {"dst": "dst_idx", "src": "src_idx", "wgt": "wgt_idx"}
        starts = list(range(lo, hi - nu + 1))
        self.rng.shuffle(starts)
        for s in starts[:64]:
            seg = self.uop[s:s + nu]
            if all(u is not None and all(getattr(u, attr[n]) in sets[n] for n in sets) for u in seg):
                return s, s + nu
        return None

    def _load_uops(self, uops):
        """Emit a LOAD UOP putting ``uops`` into uop SRAM; the (bgn, end) range, or None if out of room."""
        lo, hi = self.win["uop"]
        nu = len(uops)
        if len(self.uop_dram) + nu > self.n_elems["uop"] or nu > hi - lo:
            return None
        bgn = self.randint(lo, hi - nu)
        dram = len(self.uop_dram)
        self.uop_dram += uops
        rows = 2 if nu % 2 == 0 and self.rng.random() < 0.25 else 1
        self.emit(Load(memory_type=MemId.UOP, sram_base=bgn, dram_base=self.base_elem("uop") + dram, y_size=rows,
                       x_size=nu // rows, x_stride=nu // rows))
        self.uop[bgn:bgn + nu] = uops
        self.count("LOAD.UOP")
        return bgn, bgn + nu

    def act_gemm(self):
        reset = self.rng.random() < 0.2
        got = self._kernel(True, reset)
        if got is None:
            return
        fields, dst, reads, _, _ = got
        pops = []
        a_l = max([int(self.w[b][i].max()) for b, i in reads], default=-1)
        if self.order_after("l2g", a_l):
            pops.append("l2g")
        if self.order_after("s2g", int(self.r["out"][dst].max())):
            pops.append("s2g")
        requant = self.p.extension and bool(self.rng.random() < REQUANT_SHARE)
        k = self.emit(Gemm(reset_reg=reset, requant=requant, **fields), pops)
        for b, i in reads:
            self.r[b][i] = k
        self.w["out"][dst] = k
        self.acc_init[dst] = True
        self.count("GEMM.reset" if reset else "GEMM.acc")
        if requant:
            self.count("GEMM.requant")

    def act_alu(self):
        got = self._kernel(False, False)
        if got is None:
            return
        fields, dst, _, use_imm, _ = got
        ops = LANE_OPS if self.p.extension else UPSTREAM_OPS
        op = ops[int(self.rng.integers(len(ops)))]
        imm = 0
        if use_imm:
            imm_f = self.cfg.isa.field("alu", "imm")
            r = self.rng.random()
            if op == AluOp.SHR:
                imm = self.randint(-33, 33) if r < 0.7 else self.randint(imm_f.min, imm_f.max)
            else:
                imm = self.randint(-40, 40) if r < 0.5 else self.randint(imm_f.min, imm_f.max)
            if imm < 0:
                self.count("alu.neg_imm")
        pops = ["s2g"] if self.order_after("s2g", int(self.r["out"][dst].max())) else []
        requant = self.p.extension and bool(self.rng.random() < REQUANT_SHARE)
        k = self.emit(Alu(alu_opcode=op, use_imm=use_imm, imm=imm, requant=requant, **fields), pops)
        self.w["out"][dst] = k
        self.count(f"ALU.{op.name}.{'imm' if use_imm else 'tensor'}")
        if requant:
            self.count("ALU.requant")

    def act_setq(self):
        """SETQ: a random requantization register (shift 0..31, relu or not). Half the time its uop range, loop
        counts and factors are random too — a SETQ reads no uop and touches no buffer, so they must not matter."""
        rng = self.rng
        shift, relu = self.randint(0, SHIFT_MAX), bool(rng.random() < 0.5)
        fields = dict(uop_bgn=0, uop_end=0)
        if rng.random() < 0.5:
            depth = self.cfg.uop_depth
            bgn = self.randint(0, depth - 1)
            fields = dict(uop_bgn=bgn, uop_end=self.randint(bgn, depth), iter_out=self.randint(0, 100),
                          iter_in=self.randint(0, 100))
            for name in ("dst_factor_out", "dst_factor_in", "src_factor_out", "src_factor_in"):
                fields[name] = self.randint(0, self.cfg.isa.field("alu", name).max)
            self.count("SETQ.fields")
        self.emit(Alu(alu_opcode=AluOp.SETQ, use_imm=True, imm=setq_imm(shift, relu), **fields))
        self.count("SETQ.relu" if relu else "SETQ")

    def act_token_noise(self):
        """An empty instruction pushing a token someone may pop later (tokens without data)."""
        q = str(self.rng.choice(list(QUEUE_ENDS)))
        src, _ = QUEUE_ENDS[q]
        insn = self.noop(src).replace(**{PUSH_FLAG[(src, q)]: True})
        self.emit(insn)
        self.count("noop_push")

    def act_barrier(self):
        """Order everything: the next compute instruction after all loads and stores so far, and vice versa."""
        pops = [q for q, a in (("l2g", self.last_of_stage["load"]), ("s2g", self.last_of_stage["store"]))
                if self.order_after(q, a)]
        self.emit(self.noop("compute"), pops)
        self.count("barrier")

    # -- the program ---------------------------------------------------------------------------------------------

    def layout(self):
        self.region_start = {}
        self.region_end = {}
        addr = 0
        for kind in ("uop", "inp", "wgt", "acc", "acc8", "out"):
            self.region_start[kind] = addr
            self.region_end[kind] = addr + self.n_elems[kind] * self.elem_bytes(kind)
            addr = -(-self.region_end[kind] // PAGE) * PAGE
        self.insn_start = addr

    def run(self):
        p, rng = self.p, self.rng
        self.layout()
        # always start with some data so compute has operands
        self.act_load_inp_wgt("inp")
        self.act_load_inp_wgt("wgt")
        self.act_load_acc(False)
        actions = [(self.act_load_inp_wgt, ("inp",), 3), (self.act_load_inp_wgt, ("wgt",), 3),
                   (self.act_load_acc, (False,), 2), (self.act_load_acc, (True,), 1), (self.act_gemm, (), 4),
                   (self.act_alu, (), 4), (self.act_store, (), 3), (self.act_token_noise, (), 1),
                   (self.act_barrier, (), 0.5)]
        if p.extension:
            actions.append((self.act_setq, (), 1.5))
        weights = np.array([w for _, _, w in actions], float)
        weights /= weights.sum()
        for _ in range(p.actions):
            fn, args, _ = actions[int(rng.choice(len(actions), p=weights))]
            fn(*args)
        # make sure something reaches DRAM
        if not any(isinstance(i, Store) for i in self.insns):
            self.act_gemm()
            self.act_store()
        self.drain()
        trailing = []
        if rng.random() < 0.25:  # never executed: they would change DRAM if they ran
            lo = self.win["out"][0]
            trailing = [Store(sram_base=lo, dram_base=self.base_elem("out"), y_size=1, x_size=2, x_stride=2),
                        Load(memory_type=MemId.INP, sram_base=self.win["inp"][0], dram_base=self.base_elem("inp"),
                             y_size=1, x_size=1, x_stride=1)]
            self.count("after_finish")
        return self.finish(trailing)

    def drain(self):
        """Pop every outstanding token so the program ends balanced; the last pops ride on FINISH."""
        for q in ("g2l", "g2s"):
            _, dst = QUEUE_ENDS[q]
            while len(self.pushers[q]) > self.pops[q]:
                self.emit(self.noop(dst), pops=(q,))
        while True:
            left = [q for q in ("l2g", "s2g") if len(self.pushers[q]) > self.pops[q]]
            if not left:
                break
            if all(len(self.pushers[q]) - self.pops[q] == 1 for q in left) and self.rng.random() < 0.7:
                self.emit(Finish(), pops=left)
                return
            self.emit(self.noop("compute"), pops=left)
        self.emit(Finish())

    def finish(self, trailing):
        cfg, rng = self.cfg, self.rng
        insns = self.insns + trailing
        image = encode_program(cfg, insns)
        size = -(-(self.insn_start + image.size) // PAGE) * PAGE
        dram = rng.integers(0, 256, size, dtype=np.uint8)  # garbage everywhere, data regions overwritten below
        acc = dram[self.region_start["acc"]:self.region_end["acc"]].view("<i4")
        small = rng.random(acc.size) < 0.5
        acc[small] = rng.integers(-300, 300, int(small.sum()))
        if self.uop_dram:
            words = encode_uops(cfg, self.uop_dram)
            dram[self.region_start["uop"]:self.region_start["uop"] + words.size] = words
        dram[self.insn_start:self.insn_start + image.size] = image
        regions = {k: (self.region_start[k], self.region_end[k]) for k in self.region_start}
        regions["insn"] = (self.insn_start, self.insn_start + image.size)
        return RandomProgram(cfg, self.seed, self.p, insns, dram, self.insn_start, regions, self.cov)


def generate(cfg="small", seed=0, size="small"):
    """A valid random program for ``cfg`` from ``seed``; ``size`` is a `SIZES` name or a `GenParams`."""
    cfg = load_config(cfg)
    params = SIZES.get(size) if isinstance(size, str) else size
    if not isinstance(params, GenParams):
        raise ValueError(f"size must be one of {', '.join(SIZES)} or a GenParams, not {size!r}")
    return _Gen(cfg, int(seed), params).run()


def interleave(insns, rng):
    """Another legal serial order of ``insns`` (up to the first FINISH): the three stages' instruction sequences
    merged in a random order in which every pop comes after its token's push, and FINISH last (the hardware
    drains load and store before done). For a race-free program every such order gives the same DRAM image as
    program order — a check of the generator's race freedom that does not trust its bookkeeping.
    """
    end = next((k for k, i in enumerate(insns) if isinstance(i, Finish)), len(insns) - 1)
    queues = {stage: [] for stage in STAGES}
    for insn in insns[:end]:
        queues[stage_of(insn)].append(insn)
    head = dict.fromkeys(queues, 0)
    tokens = dict.fromkeys(QUEUE_ENDS, 0)
    out = []
    while True:
        ready = []
        for stage, q in queues.items():
            if head[stage] < len(q):
                insn = q[head[stage]]
                if all(tokens[queue] > 0 for (st, queue), flag in POP_FLAG.items()
                       if st == stage and getattr(insn, flag)):
                    ready.append(stage)
        if not ready:
            break
        stage = ready[int(rng.integers(len(ready)))]
        insn = queues[stage][head[stage]]
        head[stage] += 1
        for (st, queue), flag in POP_FLAG.items():
            if st == stage and getattr(insn, flag):
                tokens[queue] -= 1
        for (st, queue), flag in PUSH_FLAG.items():
            if st == stage and getattr(insn, flag):
                tokens[queue] += 1
        out.append(insn)
    if any(head[s] < len(q) for s, q in queues.items()):
        stuck = {s: head[s] for s, q in queues.items() if head[s] < len(q)}
        raise ValueError(f"the program deadlocks: stages stuck at their instructions {stuck}")
    return out + [insns[end]] if end < len(insns) else out


def find_hazard(program):
    """Why ``program`` is not a valid differential test, or None: a token popped before any push, a read of SRAM the
    program never wrote, or a cross-stage race (`vta.isa.hazard.find_races`: two instructions of different stages
    touching the same SRAM element or DRAM byte, one writing, with no token chain ordering them — including a STORE
    over the instruction stream). Computed from the instructions alone; it does not trust the generator's
    bookkeeping.
    """
    insns = program.insns
    end = next((k for k, i in enumerate(insns) if isinstance(i, Finish)), len(insns) - 1)
    insns = insns[:end + 1]
    why = _early_pop(insns) or _uninitialised_read(program, insns)
    if why:
        return why
    races = find_races(program.cfg, insns, dram=program.dram, insn_addr=program.insn_addr)
    return races[0][1] if races else None


def _early_pop(insns):
    """The first pop of a token queue with no earlier push into it (a deadlock), as a message, or None."""
    pushed = dict.fromkeys(QUEUE_ENDS, 0)
    for k, insn in enumerate(insns):
        st = stage_of(insn)
        for (s, q), flag in POP_FLAG.items():
            if s == st and getattr(insn, flag):
                if pushed[q] == 0:
                    return f"instruction {k} pops {q} before any matching push"
                pushed[q] -= 1
        for (s, q), flag in PUSH_FLAG.items():
            if s == st and getattr(insn, flag):
                pushed[q] += 1
    return None


def _uninitialised_read(program, insns):
    """The first read of an SRAM element (uop, inp, wgt, acc, out) no earlier instruction wrote, as a message."""
    from ..isa.insn import decode_uops
    cfg = program.cfg
    init = {b: np.zeros(cfg.depths[b], bool) for b in ("uop", "inp", "wgt", "acc", "out")}
    uop = [None] * cfg.uop_depth

    def need_init(buf, idx, k):
        bad = np.flatnonzero(~init[buf][np.asarray(idx)])
        if bad.size:
            return f"instruction {k} ({type(insns[k]).__name__}) reads {buf}[{int(np.asarray(idx)[bad[0]])}], " \
                   f"which no earlier instruction wrote"
        return None

    for k, insn in enumerate(insns):
        if isinstance(insn, (Load, Store)):
            if insn.y_size == 0 or insn.x_size == 0:
                continue
            mtype = MEMORY_TYPES[insn.memory_type]
            if isinstance(insn, Store):
                why = need_init("out", np.arange(insn.sram_base, insn.sram_base + insn.y_size * insn.x_size), k)
                if why:
                    return why
                continue
            n = (insn.y_pad_0 + insn.y_size + insn.y_pad_1) * (insn.x_pad_0 + insn.x_size + insn.x_pad_1)
            init[mtype.buffer][insn.sram_base:insn.sram_base + n] = True
            if mtype.buffer == "uop":
                eb = mtype.dram_elem_bytes(cfg)
                for y in range(insn.y_size):
                    a = (insn.dram_base + y * insn.x_stride) * eb
                    for x, u in enumerate(decode_uops(cfg, program.dram[a:a + insn.x_size * eb])):
                        uop[insn.sram_base + y * insn.x_size + x] = u
            continue
        if not isinstance(insn, (Gemm, Alu)) or insn.uop_bgn >= insn.uop_end or not insn.iter_out \
                or not insn.iter_in or (isinstance(insn, Alu) and is_setq(insn.alu_opcode)):
            continue   # (a SETQ reads no uop and touches no buffer)
        why = need_init("uop", np.arange(insn.uop_bgn, insn.uop_end), k)
        if why:
            return why
        us = uop[insn.uop_bgn:insn.uop_end]
        i, j = np.meshgrid(np.arange(insn.iter_out), np.arange(insn.iter_in), indexing="ij")
        i, j = i.ravel()[:, None], j.ravel()[:, None]
        d = (np.array([u.dst_idx for u in us])[None, :] + i * insn.dst_factor_out + j * insn.dst_factor_in).ravel()
        s = (np.array([u.src_idx for u in us])[None, :] + i * insn.src_factor_out + j * insn.src_factor_in).ravel()
        if isinstance(insn, Gemm) and not insn.reset_reg:
            w = (np.array([u.wgt_idx for u in us])[None, :] + i * insn.wgt_factor_out
                 + j * insn.wgt_factor_in).ravel()
            for why in (need_init("acc", d, k), need_init("inp", s, k), need_init("wgt", w, k)):
                if why:
                    return why
        elif isinstance(insn, Alu):
            for why in (need_init("acc", d, k), None if insn.use_imm else need_init("acc", s, k)):
                if why:
                    return why
        init["acc"][d] = True
        init["out"][d] = True
    return None
