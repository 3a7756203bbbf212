"""Data layouts a tuned convolution may choose besides plain NCHW.

``fold_kw`` folds the kernel's columns into the channel axis on the host: a stem with 3 input channels and a 7×7
kernel fills 3 of BLOCK_IN lanes in each of 49 GEMM steps per pixel; folded it is a 7×1 convolution of 3·7 = 21
channels (2 blocks of 16: 14 GEMM steps), the input being the width-unrolled copy
``x'[n, c·KW + j, h, ox] = x_padded[n, c, h, ox·SW + j]``. The result is bit-identical (the same products, summed
in another order of exact int32 additions). It pays only where the channels pad badly, so the space offers it only
when it cuts the GEMM steps (`fold_pays`).
"""

import numpy as np

from ..layout import ceil_div
from .task import Task

__all__ = ["LAYOUTS", "fold_pays", "folded_task", "fold_kw"]

LAYOUTS = ("nchw", "fold_kw")


def fold_pays(cfg, task):
    """Whether folding the kernel columns into the channels cuts the GEMM steps per output pixel."""
    if task.op != "conv2d" or task.kw == 1:
        return False
    return ceil_div(task.c * task.kw, cfg.block_in) < task.kw * ceil_div(task.c, cfg.block_in)


def folded_task(task):
    """The convolution the folded layout runs: KW·C channels, a KH×1 kernel, width = the output width."""
    ow = (task.w + 2 * task.padding[1] - task.kw) // task.stride[1] + 1
    return Task.conv2d(task.n, task.c * task.kw, task.h, ow, task.o, task.kh, 1, (task.stride[0], 1),
                       (task.padding[0], 0))


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
