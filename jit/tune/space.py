"""The search space of a task: every (layout, `Conv2dSchedule`) that `check_conv2d` accepts on a config.

Knobs: tile_b, tile_h, tile_w, tile_ci, tile_co (the distinct useful tile sizes of each axis: the smallest size
giving each tile count — a larger one with the same count only wastes buffer space), n_vthreads (1 or 2), and the
layout (`vta.jit.tune.layout`; ``fold_kw`` and ``im2col`` only where they pay). Points that do not fit the buffers
are pruned by the same check the JIT applies before emitting code, so every point of a space can run.

`candidates` is the same enumeration as numpy arrays (one row per point, in the order of `Space.points`): scoring
a new layer shape (`vta.jit.tune.tophub`) needs the knob values, not ~10⁴ `Point` objects, and the buffer checks
of `check_conv2d` vectorise — `conv2d_needs` itself runs on the arrays.
"""

import dataclasses

import numpy as np

from ..kernels import MAX_ITER
from ..schedule import Conv2dSchedule, ScheduleError, _tile_sizes, check_conv2d, conv2d_needs, default_conv2d_schedule
from .layout import LAYOUTS, layout_pays, layout_task

__all__ = ["Point", "Space", "KNOBS", "Tiles", "candidates"]

KNOBS = ("layout", "tile_b", "tile_h", "tile_w", "tile_ci", "tile_co", "n_vthreads")
SCHEDULE_KNOBS = KNOBS[1:]


class Tiles:
    """Schedules as columns: ``tile_b`` … ``n_vthreads`` are int64 arrays of one length (a `Conv2dSchedule`'s
    fields, so `conv2d_needs` and the cost terms take it in place of one schedule)."""

    def __init__(self, **cols):
        for k in SCHEDULE_KNOBS:
            setattr(self, k, np.asarray(cols[k], np.int64))

    def __len__(self):
        return len(self.tile_b)

    def take(self, keep):
        return Tiles(**{k: getattr(self, k)[keep] for k in SCHEDULE_KNOBS})

    def schedule(self, i):
        return Conv2dSchedule(*(int(getattr(self, k)[i]) for k in SCHEDULE_KNOBS))

    def schedules(self):
        return [Conv2dSchedule(*row) for row in np.stack([getattr(self, k) for k in SCHEDULE_KNOBS], 1).tolist()]


def _fitting(cfg, g, axes):
    """The `Tiles` of every combination of ``axes`` (knob → values, product order: the last knob fastest) that
    `check_conv2d` accepts. Its per-schedule checks are the tile limits (the values come from `_tile_sizes`, never
    above the extent), the loop-extent limit and the buffer needs; its other checks (padding, width) do not depend
    on the tiles, so the smallest schedule decides them for all (it also needs the least of every buffer)."""
    try:
        check_conv2d(cfg, g, Conv2dSchedule())
    except ScheduleError:
        return Tiles(**{k: [] for k in SCHEDULE_KNOBS})
    grid = np.meshgrid(*(np.asarray(v, np.int64) for v in axes.values()), indexing="ij")
    t = Tiles(**{k: a.ravel() for k, a in zip(axes, grid)})
    keep = (t.tile_co <= MAX_ITER) & (t.tile_ci <= MAX_ITER)
    needs = conv2d_needs(g, t)
    for buf in ("inp", "wgt", "acc", "uop"):
        keep &= needs[buf] <= cfg.depths[buf]
    return t.take(keep)


def _axes(g):
    return {"tile_b": _tile_sizes(g.nb), "tile_h": _tile_sizes(g.oh), "tile_w": _tile_sizes(g.ow),
            "tile_ci": _tile_sizes(g.cb), "tile_co": _tile_sizes(g.ob), "n_vthreads": [1, 2]}


def candidates(cfg, task):
    """[(layout, geometry, `Tiles`)] of ``task`` on ``cfg``: every layout that pays, its points in `Space`
    order (a layout may have none)."""
    out = []
    for lay in LAYOUTS:
        if layout_pays(cfg, task, lay):
            g = layout_task(task, lay).geometry(cfg)
            out.append((lay, g, _fitting(cfg, g, _axes(g))))
    return out


@dataclasses.dataclass(frozen=True)
class Point:
    """One candidate: a layout and a schedule for the task as that layout sees it."""
    schedule: Conv2dSchedule
    layout: str = "nchw"

    def to_json(self):
        return {"layout": self.layout, **dataclasses.asdict(self.schedule)}

    @classmethod
    def from_json(cls, d):
        d = dict(d)
        layout = d.pop("layout", "nchw")
        return cls(Conv2dSchedule(**d), layout)

    def __str__(self):
        s = self.schedule
        lay = "" if self.layout == "nchw" else f" {self.layout}"
        return f"b{s.tile_b} h{s.tile_h} w{s.tile_w} ci{s.tile_ci} co{s.tile_co} vt{s.n_vthreads}{lay}"


class Space:
    """All valid points of ``task`` on ``cfg``, with per-knob value lists (for neighbourhood moves)."""

    def __init__(self, cfg, task):
        self.cfg, self.task = cfg, task
        self.tasks = {lay: layout_task(task, lay) for lay in LAYOUTS if layout_pays(cfg, task, lay)}
        self.geoms = {lay: t.geometry(cfg) for lay, t in self.tasks.items()}
        self.points = []
        self.values = {}   # (layout, knob) → sorted candidate values
        for lay, g, tiles in candidates(cfg, task):
            for k, v in _axes(g).items():
                self.values[(lay, k)] = v
            self.points += [Point(s, lay) for s in tiles.schedules()]
        if not self.points:
            raise ScheduleError(f"no schedule of {task} fits config {cfg.name}")
        self.index = {p: i for i, p in enumerate(self.points)}

    def __len__(self):
        return len(self.points)

    def geometry(self, point):
        return self.geoms[point.layout]

    def default(self):
        """The heuristic's point (`default_conv2d_schedule` on the plain layout): the baseline to beat."""
        return Point(default_conv2d_schedule(self.cfg, self.geoms["nchw"]), "nchw")

    def neighbours(self, point):
        """Valid points one knob step away (a tile size to its next smaller/larger value, the other vthread
        count, or the same tiles in the other layout when they fit)."""
        out = []
        s = point.schedule
        for knob in KNOBS[1:]:
            vals = self.values[(point.layout, knob)]
            cur = getattr(s, knob)
            i = vals.index(cur) if cur in vals else 0
            for j in (i - 1, i + 1):
                if 0 <= j < len(vals):
                    q = Point(dataclasses.replace(s, **{knob: vals[j]}), point.layout)
                    if q in self.index:
                        out.append(q)
        for lay in self.tasks:
            if lay != point.layout:
                q = Point(s, lay)
                if q in self.index:
                    out.append(q)
        return out
