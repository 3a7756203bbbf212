"""Schedules: how an operator is cut into tiles that fit VTA's buffers, checked before any code is emitted.

A schedule is explicit data (a tiling search will later choose it); each operator also has a default heuristic.
`check_*` functions return the per-buffer needs of a schedule or raise `ScheduleError` with the reason, e.g.
"schedule needs 3072 inp elements, inp buffer holds 2048".

Conv2d tiles count *blocks* along batch (BATCH images), input and output channels (BLOCK_IN / BLOCK_OUT
channels) and plain output rows/columns along height and width. ``n_vthreads`` = 2 splits every buffer into two
halves used alternately (double buffering), so the load, compute and store stages overlap.
"""

import dataclasses
import functools

from ..errors import VTAError
from ..isa.layouts import PAD_BITS, SIZE_BITS
from .kernels import MAX_ITER
from .layout import ceil_div

__all__ = ["ScheduleError", "ConvGeometry", "Conv2dSchedule", "check_conv2d", "default_conv2d_schedule",
           "ElementwiseSchedule", "check_elementwise", "default_elementwise_schedule", "PoolGeometry",
           "PoolSchedule", "check_pool", "default_pool_schedule"]

MAX_PAD = (1 << PAD_BITS) - 1
MAX_SIZE = (1 << SIZE_BITS) - 1


class ScheduleError(VTAError, ValueError):
    """A schedule that cannot run: a bad value, or tiles that do not fit a buffer (names both sizes)."""


def _pair(v, what):
    if isinstance(v, int) and not isinstance(v, bool):
        return (v, v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(e, int) and not isinstance(e, bool)
                                                            for e in v):
        return tuple(v)
    raise VTAError(f"{what} must be an int or a pair of ints, not {v!r}")


def _need(what, needed, have, why=""):
    """``what`` is "<buffer> elements" or "uop entries"; the buffer name is its first word."""
    if needed > have:
        raise ScheduleError(f"schedule needs {needed} {what}, {what.split()[0]} buffer holds {have}{why}")


def _positive(sched, fields):
    for f in fields:
        v = getattr(sched, f)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ScheduleError(f"{f} must be a positive integer, not {v!r}")
    if sched.n_vthreads not in (1, 2):
        raise ScheduleError(f"n_vthreads must be 1 or 2, not {sched.n_vthreads!r}")


class _Window:
    """What a convolution and a pooling share: a ``kh``×``kw`` window sliding by ``stride`` over an ``h``×``w``
    input with symmetric ``padding``, on ``n`` images in blocks of ``batch``."""

    oh = property(lambda s: (s.h + 2 * s.padding[0] - s.kh) // s.stride[0] + 1)
    ow = property(lambda s: (s.w + 2 * s.padding[1] - s.kw) // s.stride[1] + 1)
    nb = property(lambda s: ceil_div(s.n, s.batch))

    def _fitting(self, window):
        """``self``, or a `VTAError` when the ``window`` (e.g. "kernel") leaves no output pixel."""
        if self.oh < 1 or self.ow < 1:
            raise VTAError(f"a {self.kh}×{self.kw} {window} does not fit the {self.h}×{self.w} input with padding "
                           f"{self.padding}")
        return self


# -- conv2d / dense ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ConvGeometry(_Window):
    """A convolution problem in block units of ``cfg``: images ``n``, channels ``c`` → ``o``, input ``h``×``w``,
    kernel ``kh``×``kw``, ``stride`` and symmetric ``padding`` (pairs, per axis).

    ``groups`` > 1 is a block-grouped convolution: ``groups`` independent convolutions of ``c`` → ``o`` channels
    each, side by side in DRAM (group i's input channel blocks follow group i−1's); tiles never cross a group, so
    the schedule limits (``tile_ci`` ≤ `cb`, ``tile_co`` ≤ `ob`) are per group."""
    n: int
    c: int
    h: int
    w: int
    o: int
    kh: int
    kw: int
    stride: tuple
    padding: tuple
    batch: int
    block_in: int
    block_out: int
    groups: int = 1

    @classmethod
    def of(cls, cfg, n, c, h, w, o, kh, kw, stride=1, padding=0, groups=1):
        stride, padding = _pair(stride, "stride"), _pair(padding, "padding")
        if min(stride) < 1:
            raise VTAError(f"stride must be ≥ 1, not {stride}")
        if min(padding) < 0:
            raise VTAError(f"padding must be ≥ 0, not {padding}")
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise VTAError(f"groups must be a positive integer, not {groups!r}")
        return cls(n, c, h, w, o, kh, kw, stride, padding, cfg.batch, cfg.block_in, cfg.block_out,
                   groups)._fitting("kernel")

    cb = property(lambda s: ceil_div(s.c, s.block_in))
    ob = property(lambda s: ceil_div(s.o, s.block_out))

    @property
    def row_skip(self):
        """A 1-row kernel with a row stride: only every stride-th input row is used, so loads skip the others
        (the DRAM row stride becomes stride·W) and the SRAM window holds one row per output row."""
        return self.kh == 1 and self.stride[0] > 1

    def in_rows(self, th):
        """Input rows in the SRAM window of ``th`` output rows."""
        return th if self.row_skip else (th - 1) * self.stride[0] + self.kh

    def in_cols(self, tw):
        return (tw - 1) * self.stride[1] + self.kw

    @property
    def macs(self):
        """Multiply-accumulates of the unpadded problem (all groups)."""
        return self.groups * self.n * self.o * self.c * self.kh * self.kw * self.oh * self.ow


@dataclasses.dataclass(frozen=True)
class Conv2dSchedule:
    """Tile sizes: ``tile_b`` batch blocks, ``tile_h``×``tile_w`` output pixels, ``tile_ci``/``tile_co`` channel
    blocks; ``n_vthreads`` 1 (serial) or 2 (double-buffered: load, compute and store overlap)."""
    tile_b: int = 1
    tile_h: int = 1
    tile_w: int = 1
    tile_ci: int = 1
    tile_co: int = 1
    n_vthreads: int = 1


def conv2d_needs(g, s):
    """Elements of each buffer and micro-ops a schedule uses (no checks)."""
    S = s.n_vthreads
    ih, iw = g.in_rows(s.tile_h), g.in_cols(s.tile_w)
    return {
        "inp": S * s.tile_b * s.tile_ci * ih * iw,
        "wgt": S * s.tile_co * s.tile_ci * g.kh * g.kw,
        "acc": S * s.tile_b * s.tile_co * s.tile_h * s.tile_w + s.tile_co,
        # GEMM kernel + bias kernel per slot, plus the one-uop reset kernel (the epilogue needs no other)
        "uop": S * (s.tile_b * g.kh * g.kw * s.tile_h * s.tile_w + s.tile_b * s.tile_co + 1),
    }


def check_conv2d(cfg, g, s):
    """Raise `ScheduleError` unless ``s`` can run ``g`` on ``cfg``; return the needs of `conv2d_needs`."""
    if not isinstance(s, Conv2dSchedule):
        raise ScheduleError(f"a conv2d schedule must be a Conv2dSchedule, not {type(s).__name__}")
    _positive(s, ("tile_b", "tile_h", "tile_w", "tile_ci", "tile_co"))
    for f, limit, what in (("tile_b", g.nb, f"{g.nb} batch blocks of {cfg.batch}"),
                           ("tile_h", g.oh, f"output height {g.oh}"), ("tile_w", g.ow, f"output width {g.ow}"),
                           ("tile_ci", g.cb, f"{g.cb} input-channel blocks of {cfg.block_in}"),
                           ("tile_co", g.ob, f"{g.ob} output-channel blocks of {cfg.block_out}")):
        if getattr(s, f) > limit:
            raise ScheduleError(f"{f}={getattr(s, f)} exceeds the {what}")
    if max(g.padding) > MAX_PAD:
        raise ScheduleError(f"padding {max(g.padding)} exceeds {MAX_PAD}, the most a LOAD can pad (4-bit field)")
    if g.w > MAX_SIZE or g.ow > MAX_SIZE:
        raise ScheduleError(f"width {max(g.w, g.ow)} exceeds the 16-bit LOAD/STORE stride field ({MAX_SIZE})")
    if s.tile_co > MAX_ITER or s.tile_ci > MAX_ITER:
        raise ScheduleError(f"tile_ci/tile_co must be ≤ {MAX_ITER} (14-bit loop extent)")
    needs = conv2d_needs(g, s)
    for buf in ("inp", "wgt", "acc", "uop"):
        _need(f"{buf} elements" if buf != "uop" else "uop entries", needs[buf], cfg.depths[buf],
              f" (with {s.n_vthreads} virtual thread{'s' if s.n_vthreads > 1 else ''})")
    return needs


def _tile_sizes(extent):
    """Distinct useful tile sizes for an axis: the smallest size giving each tile count."""
    return sorted({ceil_div(extent, k) for k in range(1, extent + 1)})


@dataclasses.dataclass(frozen=True)
class TileCounts:
    """How schedule ``s`` cuts a conv: tiles per axis, output tiles, input-channel chunks, and the load stage's
    estimated cycles (DMA bytes over the bus plus a per-row cost): the part every cost estimate shares."""
    th_n: int
    tw_n: int
    ci_n: int
    co_n: int
    b_n: int
    tiles: int
    chunks: int
    load: float

    @classmethod
    def of(cls, cfg, g, s):
        th_n, tw_n = ceil_div(g.oh, s.tile_h), ceil_div(g.ow, s.tile_w)
        ci_n, co_n, b_n = ceil_div(g.cb, s.tile_ci), ceil_div(g.ob, s.tile_co), ceil_div(g.nb, s.tile_b)
        tiles = th_n * tw_n * co_n * b_n
        chunks = tiles * ci_n
        ih, iw = g.in_rows(s.tile_h), g.in_cols(s.tile_w)
        inp_bytes = chunks * s.tile_b * s.tile_ci * ih * iw * cfg.inp_elem_bytes
        wgt_loads = s.n_vthreads if (co_n == 1 and ci_n == 1) else chunks    # weights stay resident or not
        wgt_bytes = wgt_loads * s.tile_co * s.tile_ci * g.kh * g.kw * cfg.wgt_elem_bytes
        load_rows = chunks * s.tile_b * s.tile_ci * ih + wgt_loads * s.tile_co
        load = (inp_bytes + wgt_bytes) / cfg.bus_bytes + 8 * load_rows
        return cls(th_n, tw_n, ci_n, co_n, b_n, tiles, chunks, load)


def conv2d_cost(cfg, g, s):
    """A rough cycle estimate used to rank schedules: DMA bytes and rows, GEMM uop-iterations, instructions."""
    t = TileCounts.of(cfg, g, s)
    tiles, chunks, load = t.tiles, t.chunks, t.load
    compute = g.nb * g.ob * g.cb * g.oh * g.ow * g.kh * g.kw + 8 * g.nb * g.ob * g.oh * g.ow
    store = g.nb * g.ob * g.oh * g.ow * cfg.out_elem_bytes / cfg.bus_bytes + 8 * tiles * s.tile_b * s.tile_co * s.tile_h
    insns = chunks * (s.tile_b * s.tile_ci + 3) + tiles * (3 + s.tile_b * s.tile_co)
    if s.n_vthreads == 2:
        return max(load, compute, store) + 4 * insns
    return load + compute + store + 4 * insns


@functools.lru_cache(maxsize=256)
def _default_conv2d(cfg, g):
    """Exhaustive over tile sizes, pruned: every check of `check_conv2d` fails for a tile at least as often as for
    a smaller one (buffer needs grow with ``tile_h``/``tile_w``; the other checks do not depend on them), so once a
    ``tile_w`` fails the larger ones are skipped, and once ``tile_w`` = 1 fails the larger ``tile_h`` too. Same
    visiting order as the full enumeration, hence the same (first cheapest) schedule, at a fraction of the checks."""
    best = None
    for S in (2, 1):
        for tb in _tile_sizes(g.nb):
            for tco in _tile_sizes(g.ob):
                for tci in _tile_sizes(g.cb):
                    for th in _tile_sizes(g.oh):
                        fitted = False
                        for tw in _tile_sizes(g.ow):
                            s = Conv2dSchedule(tb, th, tw, tci, tco, S)
                            try:
                                check_conv2d(cfg, g, s)
                            except ScheduleError:
                                break
                            fitted = True
                            cost = conv2d_cost(cfg, g, s)
                            if best is None or cost < best[0]:
                                best = (cost, s)
                        if not fitted:
                            break
    if best is None:
        raise ScheduleError(f"no schedule fits a {g.kh}×{g.kw} convolution on config {cfg.name}: even one output "
                            f"pixel needs more buffer space than the config has")
    return best[1]


def default_conv2d_schedule(cfg, g):
    """The cheapest fitting schedule under `conv2d_cost` (prefers 2 virtual threads when they fit)."""
    return _default_conv2d(cfg, g)


# -- element-wise --------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ElementwiseSchedule:
    """``tile`` acc elements (of BATCH·BLOCK_OUT lanes) per step, ``n_vthreads`` 1 or 2."""
    tile: int = 1
    n_vthreads: int = 1


def check_elementwise(cfg, n_elems, n_inputs, s):
    if not isinstance(s, ElementwiseSchedule):
        raise ScheduleError(f"an element-wise schedule must be an ElementwiseSchedule, not {type(s).__name__}")
    _positive(s, ("tile",))
    if s.tile > n_elems:
        raise ScheduleError(f"tile={s.tile} exceeds the {n_elems} elements of the tensor")
    needs = {"acc": s.n_vthreads * n_inputs * s.tile}
    _need("acc elements", needs["acc"], cfg.acc_depth,
          f" ({n_inputs} input{'s' if n_inputs > 1 else ''} × {s.n_vthreads} virtual thread(s) × tile {s.tile})")
    return needs


def default_elementwise_schedule(cfg, n_elems, n_inputs):
    S = 2 if n_elems > 1 else 1
    return ElementwiseSchedule(min(n_elems, cfg.acc_depth // (S * n_inputs)), S)


# -- pooling --------------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PoolGeometry(_Window):
    n: int
    c: int
    h: int
    w: int
    kh: int
    kw: int
    stride: tuple
    padding: tuple
    batch: int
    block: int

    @classmethod
    def of(cls, cfg, n, c, h, w, kernel, stride, padding):
        (kh, kw), stride, padding = _pair(kernel, "kernel_size"), _pair(stride, "stride"), _pair(padding, "padding")
        if min(kh, kw) < 1 or min(stride) < 1 or min(padding) < 0:
            raise VTAError(f"max_pool2d needs kernel ≥ 1, stride ≥ 1, padding ≥ 0, not {(kh, kw)}, {stride}, "
                           f"{padding}")
        if padding[0] >= kh or padding[1] >= kw:
            raise VTAError(f"max_pool2d padding {padding} must be smaller than the kernel {(kh, kw)} "
                           f"(a window of padding only has no maximum)")
        return cls(n, c, h, w, kh, kw, stride, padding, cfg.batch, cfg.block_out)._fitting("pool window")

    cb = property(lambda s: ceil_div(s.c, s.block))


@dataclasses.dataclass(frozen=True)
class PoolSchedule:
    """``tile_h``×``tile_w`` output pixels of one (batch block, channel block) per step; ``n_vthreads`` 1 or 2."""
    tile_h: int = 1
    tile_w: int = 1
    n_vthreads: int = 1


def pool_needs(g, s):
    S = s.n_vthreads
    ih = min(g.h, (s.tile_h - 1) * g.stride[0] + g.kh)
    iw = min(g.w, (s.tile_w - 1) * g.stride[1] + g.kw)
    return {"acc": S * (ih * iw + s.tile_h * s.tile_w), "uop": S * (s.tile_h * s.tile_w * g.kh * g.kw + 2)}


def check_pool(cfg, g, s):
    if not isinstance(s, PoolSchedule):
        raise ScheduleError(f"a pool schedule must be a PoolSchedule, not {type(s).__name__}")
    _positive(s, ("tile_h", "tile_w"))
    if s.tile_h > g.oh or s.tile_w > g.ow:
        raise ScheduleError(f"tile {s.tile_h}×{s.tile_w} exceeds the {g.oh}×{g.ow} output")
    if g.w > MAX_SIZE:
        raise ScheduleError(f"width {g.w} exceeds the 16-bit LOAD/STORE stride field ({MAX_SIZE})")
    needs = pool_needs(g, s)
    _need("acc elements", needs["acc"], cfg.acc_depth, f" (with {s.n_vthreads} virtual thread(s))")
    _need("uop entries", needs["uop"], cfg.uop_depth, f" (with {s.n_vthreads} virtual thread(s))")
    return needs


@functools.lru_cache(maxsize=64)
def _default_pool(cfg, g):
    best = None
    for S in (2, 1):
        for th in _tile_sizes(g.oh):
            for tw in _tile_sizes(g.ow):
                s = PoolSchedule(th, tw, S)
                try:
                    check_pool(cfg, g, s)
                except ScheduleError:
                    continue
                tiles = ceil_div(g.oh, th) * ceil_div(g.ow, tw)
                ih, iw = min(g.h, (th - 1) * g.stride[0] + g.kh), min(g.w, (tw - 1) * g.stride[1] + g.kw)
                cost = tiles * (ih * iw + 20 * ih + 40) / S
                if best is None or cost < best[0]:
                    best = (cost, s)
    if best is None:
        raise ScheduleError(f"no pool schedule fits config {cfg.name}")
    return best[1]


def default_pool_schedule(cfg, g):
    return _default_pool(cfg, g)
