"""Test helpers for the functional simulator: a DRAM-image builder and a slow loop reference of the semantics.

`RefVTA` is written straight from docs/semantics.md with explicit Python loops over iterations and elements
(int64 arithmetic, wrap-around done by hand); it shares no code with `vta.sim` so it can catch its mistakes.
"""

import numpy as np
from sram_state import zero_buffers

from vta.isa import Alu, AluOp, Finish, Gemm, Load, MemId, Store, Uop, encode_program, encode_uops

LE_DTYPES = {"uop": "<u4", "inp": "<i1", "wgt": "<i1", "acc": "<i4", "out": "<i1"}


def elem_shape(cfg, kind):
    return {"uop": (), "inp": cfg.inp_shape, "wgt": cfg.wgt_shape, "acc": cfg.acc_shape, "out": cfg.out_shape}[kind]


class Image:
    """A DRAM image under construction: instructions, uops and tensors placed at aligned byte addresses.

    ``insns`` returns ``(insn_addr, insn_count)``; ``uops``/``data``/``reserve`` return element indices
    (what ``dram_base`` takes) for the buffer kind. ``build`` returns the ``np.uint8`` array.
    """

    def __init__(self, cfg, start=0):
        self.cfg = cfg
        self.chunks = []
        self.size = start

    def _place(self, raw, align):
        addr = -(-self.size // align) * align
        self.chunks.append((addr, np.asarray(raw, dtype=np.uint8)))
        self.size = addr + len(raw)
        return addr

    def insns(self, insns):
        insns = list(insns)
        return self._place(encode_program(self.cfg, insns), 16), len(insns)

    def uops(self, uops):
        return self._place(encode_uops(self.cfg, list(uops)), 4) // 4

    def data(self, kind, array):
        """Place ``array`` (shape ``(n, *elem_shape)``) as little-endian ``kind`` elements."""
        nbytes = self.cfg.elem_bytes[kind]
        arr = np.asarray(array)
        assert arr.shape[1:] == elem_shape(self.cfg, kind), (arr.shape, kind)
        raw = np.ascontiguousarray(arr.astype(LE_DTYPES[kind])).view(np.uint8).ravel()
        return self._place(raw, nbytes) // nbytes

    def reserve(self, kind, count, fill=0):
        nbytes = self.cfg.elem_bytes[kind]
        return self._place(np.full(count * nbytes, fill, dtype=np.uint8), nbytes) // nbytes

    def build(self, extra=0):
        dram = np.zeros(self.size + extra, dtype=np.uint8)
        for addr, raw in self.chunks:
            dram[addr:addr + len(raw)] = raw
        return dram


def read_elems(cfg, dram, kind, index, count):
    """``count`` elements of ``kind`` at element ``index`` of ``dram``, as an int64 array."""
    nbytes = cfg.elem_bytes[kind]
    raw = dram[index * nbytes:(index + count) * nbytes]
    return raw.view(LE_DTYPES[kind]).reshape(count, *elem_shape(cfg, kind)).astype(np.int64)


def wrap(x, bits):
    """Two's-complement wrap of integer (array) ``x`` to ``bits`` bits."""
    half = 1 << (bits - 1)
    if np.ndim(x) == 0:
        return (int(x) + half) % (1 << bits) - half
    return np.asarray((np.asarray(x, dtype=object) + half) % (1 << bits) - half, dtype=object).astype(np.int64)


def shr_lane(a, b):
    """SHR of one int32 lane ``a`` by the low 6 bits of ``b`` read as signed (negative = left shift, wrapped)."""
    amount = b & 63
    if amount >= 32:
        amount -= 64
    if amount >= 0:
        return a >> amount
    return int(wrap(a << -amount, 32))


class RefVTA:
    """The semantics as slow explicit loops, over instruction objects (tokens are not modelled)."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.uop = [Uop(0, 0, 0)] * cfg.uop_depth
        self.inp, self.wgt, self.acc, self.out = zero_buffers(cfg).values()
        self.q = (0, False)

    def run(self, dram, insns):
        self.q = (0, False)   # the requantization register starts at (0, 0) on every run
        for insn in insns:
            if isinstance(insn, Finish):
                return
            getattr(self, type(insn).__name__.lower())(dram, insn)
        raise AssertionError("no FINISH")

    def _elem(self, dram, kind, e):
        return read_elems(self.cfg, dram, kind, e, 1)[0]

    def load(self, dram, ins):
        if ins.y_size == 0 or ins.x_size == 0:
            return
        if ins.memory_type == MemId.UOP:
            for x in range(ins.x_size):
                for y in range(ins.y_size):
                    word = int(self._elem(dram, "uop", ins.dram_base + y * ins.x_stride + x))
                    f = {fl.name: (word >> fl.offset) & fl.mask for fl in self.cfg.isa.fields["uop"]}
                    self.uop[ins.sram_base + y * ins.x_size + x] = Uop(**f)
            return
        buf, kind = {MemId.INP: ("inp", "inp"), MemId.WGT: ("wgt", "wgt"), MemId.ACC: ("acc", "acc"),
                     MemId.ACC_8BIT: ("acc", "out")}[ins.memory_type]
        sram = getattr(self, buf)
        pitch = ins.x_pad_0 + ins.x_size + ins.x_pad_1
        for y in range(ins.y_pad_0 + ins.y_size + ins.y_pad_1):
            for x in range(pitch):
                yy, xx = y - ins.y_pad_0, x - ins.x_pad_0
                if 0 <= yy < ins.y_size and 0 <= xx < ins.x_size:
                    sram[ins.sram_base + y * pitch + x] = self._elem(dram, kind, ins.dram_base + yy * ins.x_stride + xx)
                else:
                    sram[ins.sram_base + y * pitch + x] = 0

    def store(self, dram, ins):
        nbytes = self.cfg.out_elem_bytes
        for y in range(ins.y_size):
            for x in range(ins.x_size):
                e = ins.dram_base + y * ins.x_stride + x
                tile = self.out[ins.sram_base + y * ins.x_size + x].astype("<i1")
                dram[e * nbytes:(e + 1) * nbytes] = tile.view(np.uint8).ravel()

    def _nest(self, ins):
        for i in range(ins.iter_out):
            for j in range(ins.iter_in):
                for u in range(ins.uop_bgn, ins.uop_end):
                    yield i, j, self.uop[u]

    def gemm(self, dram, ins):
        for i, j, uop in self._nest(ins):
            d = uop.dst_idx + i * ins.dst_factor_out + j * ins.dst_factor_in
            s = uop.src_idx + i * ins.src_factor_out + j * ins.src_factor_in
            w = uop.wgt_idx + i * ins.wgt_factor_out + j * ins.wgt_factor_in
            if ins.reset_reg:
                self.acc[d] = 0
            else:
                self.acc[d] = wrap(self.acc[d] + self.inp[s] @ self.wgt[w].T, 32)
            self._write_out(ins, d)

    def _write_out(self, ins, d):
        """out[d] from acc[d]: its low 8 bits, or with the requant bit clamp(acc >> shift, 0 or -128, 127)."""
        if not ins.requant:
            self.out[d] = wrap(self.acc[d], 8)
            return
        shift, relu = self.q
        lo = 0 if relu else -128
        for idx in np.ndindex(self.acc[d].shape):
            self.out[d][idx] = min(127, max(lo, int(self.acc[d][idx]) >> shift))

    def alu(self, dram, ins):
        if ins.alu_opcode == AluOp.SETQ:   # no loop: Q = (imm bits 4..0, imm bit 5)
            self.q = (ins.imm % 32, bool(ins.imm // 32 % 2))
            return
        for i, j, uop in self._nest(ins):
            d = uop.dst_idx + i * ins.dst_factor_out + j * ins.dst_factor_in
            s = uop.src_idx + i * ins.src_factor_out + j * ins.src_factor_in
            a = self.acc[d].copy()
            b = np.full_like(a, ins.imm) if ins.use_imm else self.acc[s].copy()
            r = np.empty_like(a)
            for idx in np.ndindex(a.shape):
                x, y = int(a[idx]), int(b[idx])
                r[idx] = {AluOp.MIN: lambda x, y: min(x, y), AluOp.MAX: lambda x, y: max(x, y),
                          AluOp.ADD: lambda x, y: int(wrap(x + y, 32)), AluOp.MUL: lambda x, y: int(wrap(x * y, 32)),
                          AluOp.SHR: shr_lane, AluOp.MOV: lambda x, y: y}[ins.alu_opcode](x, y)
            self.acc[d] = r
            self._write_out(ins, d)


def run_both(cfg, sim, dram, addr, count, insns, ref=None):
    """Run the program on ``sim`` and on a reference (fresh or given); return (stats, ref, dram_ref)."""
    ref = ref or RefVTA(cfg)
    dram_ref = dram.copy()
    ref.run(dram_ref, insns)
    stats = sim.run(dram, addr, count)
    return stats, ref, dram_ref


__all__ = ["Image", "RefVTA", "read_elems", "wrap", "shr_lane", "run_both", "Load", "Store", "Gemm", "Alu",
           "Finish", "Uop", "MemId", "AluOp"]


CONFIG_NAMES = ("default", "small", "rect")


def config_named(name):
    """A preset, or "rect": BATCH 2, BLOCK_IN 8, BLOCK_OUT 4 with small buffers (catches transposed shapes)."""
    from vta import VTAConfig, load_config
    if name == "rect":
        return VTAConfig(log_batch=1, log_block_in=3, log_block_out=2, log_uop_buff_size=12, log_inp_buff_size=13,
                         log_wgt_buff_size=13, log_acc_buff_size=14, name="rect")
    return load_config(name)


def execute(cfg, img, insns, *, sim=None, ref=None, finish=True):
    """Place ``insns`` (+ FINISH) in ``img``, build DRAM, run it on ``sim`` (a fresh FunctionalSim by default)
    and on the loop reference. Returns ``(sim, stats, dram, ref, dram_ref)``."""
    from vta.sim import FunctionalSim
    insns = list(insns) + ([Finish()] if finish else [])
    addr, count = img.insns(insns)
    dram = img.build()
    sim = sim or FunctionalSim(cfg)
    ref = ref or RefVTA(cfg)
    dram_ref = dram.copy()
    ref.run(dram_ref, insns)
    stats = sim.run(dram, addr, count)
    return sim, stats, dram, ref, dram_ref


def assert_same_state(sim, ref, dram=None, dram_ref=None):
    """Every SRAM buffer (and DRAM, if given) of the simulator equals the reference's."""
    for buf in ("inp", "wgt", "acc", "out"):
        np.testing.assert_array_equal(getattr(sim, buf), getattr(ref, buf), err_msg=f"{buf} buffer differs")
    if dram is not None:
        np.testing.assert_array_equal(dram, dram_ref, err_msg="DRAM differs")


def load_uops(cfg, img, uops, sram_base=0):
    """A LOAD UOP instruction for ``uops`` placed in ``img``."""
    uops = list(uops)
    base = img.uops(uops)
    return Load(memory_type=MemId.UOP, sram_base=sram_base, dram_base=base, y_size=1, x_size=len(uops),
                x_stride=len(uops))


def load_tiles(cfg, img, kind, array, sram_base=0):
    """A LOAD of ``array`` (``(n, *elem_shape)``) as one row into buffer ``kind`` (inp, wgt or acc)."""
    base = img.data(kind, array)
    mt = {"inp": MemId.INP, "wgt": MemId.WGT, "acc": MemId.ACC}[kind]
    return Load(memory_type=mt, sram_base=sram_base, dram_base=base, y_size=1, x_size=len(array),
                x_stride=len(array))


def rand_tiles(cfg, rng, kind, n, lo=None, hi=None):
    shape = elem_shape(cfg, kind)
    if lo is None:
        lo, hi = (-(1 << 31), 1 << 31) if kind == "acc" else (-128, 128)
    return rng.integers(lo, hi, (n, *shape), dtype=np.int64)


__all__ += ["CONFIG_NAMES", "config_named", "execute", "assert_same_state", "load_uops", "load_tiles", "rand_tiles",
            "elem_shape"]
