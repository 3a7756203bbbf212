"""Data layouts a tuned convolution may choose besides plain NCHW: host-side unrolling of the kernel window into
the channel axis, for few-channel layers (the stem) whose channels fill few of BLOCK_IN lanes.

``fold_kw`` folds the kernel's columns: a stem with 3 input channels and a 7×7 kernel fills 3 of BLOCK_IN lanes in
each of 49 GEMM steps per pixel; folded it is a 7×1 convolution of 3·7 = 21 channels (2 blocks of 16: 14 GEMM
steps), the input being the width-unrolled copy ``x'[n, c·KW + j, h, ox] = x_padded[n, c, h, ox·SW + j]``.

``im2col`` folds the whole window: a 1×1 convolution of C·KH·KW channels over the output pixels,
``x'[n, (c·KH + i)·KW + j, oy, ox] = x_padded[n, c, oy·SH + i, ox·SW + j]`` (3·49 = 147 channels, 10 blocks of
16: 10 GEMM steps per pixel, 92 % of the lanes busy). The input grows by KH·KW / (SH·SW) (12× for the stem), which
DMA moves while the GEMMs run.

Both are bit-identical to the plain convolution (the same products, summed in another order of exact int32
additions). A layout pays only where the channels pad badly, so the space offers it only when it cuts the GEMM
steps per output pixel (`layout_pays`).
"""

import numpy as np

from ...errors import VTAError
from ..layout import ceil_div
from .task import Task

__all__ = ["LAYOUTS", "layout_pays", "layout_task", "apply_layout", "fold_pays", "folded_task", "fold_kw",
           "im2col"]

LAYOUTS = ("nchw", "fold_kw", "im2col")


def _out_size(task):
    return ((task.h + 2 * task.padding[0] - task.kh) // task.stride[0] + 1,
            (task.w + 2 * task.padding[1] - task.kw) // task.stride[1] + 1)


def _gemm_steps(cfg, task, layout):
    """GEMM steps per output pixel and output block under ``layout``."""
    if layout == "fold_kw":
        return task.kh * ceil_div(task.c * task.kw, cfg.block_in)
    if layout == "im2col":
        return ceil_div(task.c * task.kh * task.kw, cfg.block_in)
    return task.kh * task.kw * ceil_div(task.c, cfg.block_in)


def layout_pays(cfg, task, layout):
    """Whether ``layout`` cuts the GEMM steps per output pixel of a conv2d ``task`` (always true of "nchw")."""
    if layout == "nchw":
        return True
    if task.op != "conv2d" or (layout == "fold_kw" and task.kw == 1) or task.kh * task.kw == 1:
        return False
    return _gemm_steps(cfg, task, layout) < _gemm_steps(cfg, task, "nchw")


def fold_pays(cfg, task):
    """Whether folding the kernel columns into the channels cuts the GEMM steps per output pixel."""
    return layout_pays(cfg, task, "fold_kw")


def layout_task(task, layout):
    """The convolution ``layout`` runs in place of ``task``."""
    if layout == "nchw":
        return task
    oh, ow = _out_size(task)
    if layout == "fold_kw":
        return Task.conv2d(task.n, task.c * task.kw, task.h, ow, task.o, task.kh, 1, (task.stride[0], 1),
                           (task.padding[0], 0))
    if layout == "im2col":
        return Task.conv2d(task.n, task.c * task.kh * task.kw, oh, ow, task.o, 1, 1, 1, 0)
    raise VTAError(f"layout must be one of {LAYOUTS}, not {layout!r}")


def folded_task(task):
    """The convolution the ``fold_kw`` layout runs: KW·C channels, a KH×1 kernel, width = the output width."""
    return layout_task(task, "fold_kw")


def fold_kw(x, w, stride, padding):
    """``(x', w')`` for `folded_task`: x int8 NCHW, w int8 OIHW, ``stride``/``padding`` (h, w) pairs."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    sw, pw = stride[1], padding[1]
    ow = (wd + 2 * pw - kw) // sw + 1
    xw = np.pad(x, ((0, 0), (0, 0), (0, 0), (pw, pw))) if pw else x
    cols = np.arange(ow) * sw
    # (n, c, h, ow, kw) → (n, c, kw, h, ow) → (n, c·kw, h, ow)
    xf = xw[:, :, :, cols[:, None] + np.arange(kw)[None, :]]
    xf = np.ascontiguousarray(xf.transpose(0, 1, 4, 2, 3).reshape(n, c * kw, h, ow))
    wf = np.ascontiguousarray(w.transpose(0, 1, 3, 2).reshape(o, c * kw, kh, 1))
    return xf, wf


def im2col(x, w, stride, padding):
    """``(x', w')`` for the ``im2col`` layout: x int8 NCHW, w int8 OIHW, ``stride``/``padding`` (h, w) pairs;
    x' is ``(N, C·KH·KW, OH, OW)``, w' ``(O, C·KH·KW, 1, 1)``."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    rows = (np.arange(oh) * sh)[:, None] + np.arange(kh)[None, :]          # (oh, kh)
    cols = (np.arange(ow) * sw)[:, None] + np.arange(kw)[None, :]          # (ow, kw)
    # (n, c, oh, kh, ow, kw) → (n, c, kh, kw, oh, ow)
    xf = xp[:, :, rows[:, :, None, None], cols[None, None, :, :]]
    xf = np.ascontiguousarray(xf.transpose(0, 1, 3, 5, 2, 4).reshape(n, c * kh * kw, oh, ow))
    return xf, np.ascontiguousarray(w.reshape(o, c * kh * kw, 1, 1))


def apply_layout(layout, x, w, stride, padding):
    """``(x, w, stride, padding)`` of the convolution ``layout`` runs (stride/padding as (h, w) pairs)."""
    if layout == "nchw":
        return x, w, stride, padding
    if layout == "fold_kw":
        x, w = fold_kw(x, w, stride, padding)
        return x, w, (stride[0], 1), (padding[0], 0)
    if layout == "im2col":
        x, w = im2col(x, w, stride, padding)
        return x, w, (1, 1), (0, 0)
    raise VTAError(f"layout must be one of {LAYOUTS}, not {layout!r}")
