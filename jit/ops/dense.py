"""dense (fully connected) on VTA: ``(N, K) × (M, K)ᵀ`` as a 1×1 convolution of N 1×1 images.

Images go to the batch axis (BATCH rows per inp element), K to input-channel blocks and M to output-channel
blocks; the conv2d machinery then does the tiling, double buffering and epilogue. A `DenseSchedule` names the
three tile sizes; it maps to a `Conv2dSchedule` with 1×1 spatial tiles.
"""

import dataclasses

import numpy as np

from ...errors import VTAError
from ..layout import pack_nchw, pack_oihw, unpack_nchw
from ..results import OpResult
from ..schedule import Conv2dSchedule, ConvGeometry, ScheduleError
from .common import check_array
from .conv2d import run_conv

__all__ = ["DenseSchedule", "dense"]


@dataclasses.dataclass(frozen=True)
class DenseSchedule:
    """``tile_b`` batch blocks (of BATCH rows), ``tile_ci``/``tile_co`` blocks of K/M; ``n_vthreads`` 1 or 2."""
    tile_b: int = 1
    tile_ci: int = 1
    tile_co: int = 1
    n_vthreads: int = 1

    def as_conv(self):
        return Conv2dSchedule(self.tile_b, 1, 1, self.tile_ci, self.tile_co, self.n_vthreads)


def dense(rt, x, w, bias, shift, relu, schedule, mult=1):
    check_array(x, "x", np.int8, 2)
    check_array(w, "w", np.int8, 2)
    n, k = x.shape
    m, kw = w.shape
    if kw != k:
        raise VTAError(f"w has {kw} columns (shape {w.shape}), x has {k} (shape {x.shape}); "
                       f"dense needs (N, K) × (M, K)")
    if schedule is None and rt.schedules is not None:   # a tuning log's best
        schedule = rt.schedules.dense_choice(rt.cfg, n, k, m)
    if schedule is not None:
        if isinstance(schedule, DenseSchedule):
            schedule = schedule.as_conv()
        elif not isinstance(schedule, Conv2dSchedule) or schedule.tile_h != 1 or schedule.tile_w != 1:
            raise ScheduleError(f"a dense schedule must be a DenseSchedule, not {schedule!r}")
    cfg = rt.cfg
    g = ConvGeometry.of(cfg, n, k, 1, 1, m, 1, 1)
    xp = pack_nchw(x.reshape(n, k, 1, 1), cfg.batch, cfg.block_in)
    wp = pack_oihw(w.reshape(m, k, 1, 1), cfg.block_out, cfg.block_in)
    packed, stats = run_conv(rt, g, xp, wp, bias, shift, relu, schedule, "dense", mult=mult)
    return OpResult(unpack_nchw(packed, n, m).reshape(n, m), stats)
