"""Grouped and depthwise conv2d on the GEMM core by block-diagonal packing.

A grouped convolution with ``cg`` input and ``og`` output channels per group would waste most of a
BLOCK_IN×BLOCK_OUT weight block if each group ran alone (a depthwise group fills 1 of 256 products). Upstream
VTA's ``group_conv2d`` packs several groups into one block instead; so does this operator:

- ``k = min(BLOCK_IN // cg, BLOCK_OUT // og)`` groups (at least 1) form a *super-group*; its ``k·cg`` input and
  ``k·og`` output channels are padded to whole blocks, and its weight blocks hold each group's ``og × cg`` weights
  on the diagonal with zeros elsewhere (zeros add nothing, so the result is exact);
- the super-groups run as one block-grouped convolution (`ConvGeometry.groups`): an output block reads only its
  own super-group's input blocks, so a depthwise convolution of C channels costs ``ceil(C / BLOCK)`` GEMM blocks
  per kernel tap, not ``ceil(C / BLOCK)²``.

The GEMM core still multiplies the zeros: for depthwise on 16×16 blocks the useful fraction of its MACs is 1/16
(``GroupPacking.utilisation``); the stats count only the useful MACs.
"""

import dataclasses

import numpy as np

from ...errors import VTAError
from ..layout import ceil_div, pack_nchw, pack_oihw, unpack_nchw
from ..results import OpResult
from ..schedule import ConvGeometry
from .common import check_array
from .conv2d import run_conv

__all__ = ["GroupPacking", "group_conv2d"]


@dataclasses.dataclass(frozen=True)
class GroupPacking:
    """How ``groups`` groups of ``cg`` → ``og`` channels are packed: ``k`` groups per super-group, ``supers``
    super-groups of ``cpad`` input / ``opad`` output channels (whole blocks)."""
    groups: int
    cg: int
    og: int
    k: int
    supers: int
    cpad: int
    opad: int

    @classmethod
    def of(cls, cfg, c, o, groups):
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
            raise VTAError(f"groups must be a positive integer, not {groups!r}")
        groups = int(groups)
        if c % groups or o % groups:
            raise VTAError(f"groups={groups} must divide both the {c} input and the {o} output channels")
        cg, og = c // groups, o // groups
        k = max(1, min(cfg.block_in // cg, cfg.block_out // og, groups))
        return cls(groups, cg, og, k, ceil_div(groups, k), ceil_div(k * cg, cfg.block_in) * cfg.block_in,
                   ceil_div(k * og, cfg.block_out) * cfg.block_out)

    def geometry(self, cfg, n, h, w, kh, kw, stride=1, padding=0):
        """The block-grouped `ConvGeometry` the device runs."""
        return ConvGeometry.of(cfg, n, self.cpad, h, w, self.opad, kh, kw, stride, padding, groups=self.supers)

    @property
    def utilisation(self):
        """Useful fraction of the GEMM core's products: real weights over the packed weight blocks."""
        return (self.groups * self.cg * self.og) / (self.supers * self.cpad * self.opad)

    def _index(self, per_group, pad):
        """Packed position of each original channel (``per_group`` channels per group, ``pad`` per super-group)."""
        ch = np.arange(self.groups * per_group)
        gi, r = ch // per_group, ch % per_group
        return (gi // self.k) * pad + (gi % self.k) * per_group + r

    @property
    def in_index(self):
        return self._index(self.cg, self.cpad)

    @property
    def out_index(self):
        return self._index(self.og, self.opad)

    def pack_weights(self, w):
        """OIHW grouped weights ``(groups·og, cg, KH, KW)`` → block-diagonal ``(supers·opad, cpad, KH, KW)``."""
        out = np.zeros((self.supers * self.opad, self.cpad) + w.shape[2:], dtype=w.dtype)
        rows = self.out_index
        cols = (np.arange(self.groups) % self.k)[:, None] * self.cg + np.arange(self.cg)[None, :]   # (groups, cg)
        cols = np.repeat(cols, self.og, axis=0)                                                      # (O, cg)
        out[rows[:, None], cols] = w
        return out


def group_conv2d(rt, x, w, bias, groups, stride, padding, shift, relu, schedule, mult=1):
    check_array(x, "x", np.int8, 4)
    check_array(w, "w", np.int8, 4)
    cfg = rt.cfg
    n, c, h, wd = x.shape
    o, cw, kh, kw = w.shape
    p = GroupPacking.of(cfg, c, o, groups)
    if cw != p.cg:
        raise VTAError(f"w has {cw} input channels per group (shape {w.shape}), x has {c} channels in {groups} "
                       f"groups = {p.cg} per group")
    g = p.geometry(cfg, n, h, wd, kh, kw, stride, padding)
    xs = np.zeros((n, p.supers * p.cpad, h, wd), np.int8)
    xs[:, p.in_index] = x
    bs = None
    if bias is not None:
        check_array(bias, "bias", np.int32, 1)
        if bias.shape[0] != o:
            raise VTAError(f"bias must have {o} entries (one per output channel), not {bias.shape[0]}")
        bs = np.zeros(p.supers * p.opad, np.int32)
        bs[p.out_index] = bias
    useful = n * o * p.cg * kh * kw * g.oh * g.ow
    packed, stats = run_conv(rt, g, pack_nchw(xs, cfg.batch, cfg.block_in),
                             pack_oihw(p.pack_weights(w), cfg.block_out, cfg.block_in), bs, shift, relu, schedule,
                             "group_conv2d", useful_macs=useful, mult=mult)
    y = unpack_nchw(packed, n, p.supers * p.opad)[:, p.out_index]
    return OpResult(np.ascontiguousarray(y), stats)
