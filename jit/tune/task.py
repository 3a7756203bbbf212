"""`Task`: one operator shape to tune — what a tuning-log line is keyed by and what a measurement runs.

A task is config-free (shapes in channels and pixels, not blocks), so the same task can be tuned on any config and
a model trained on one config can rank schedules for another. ``op`` is "conv2d" or "dense"; a dense (N, K) × (M,
K)ᵀ is the 1×1 convolution of N 1×1 images, so both share one geometry (`ConvGeometry`) and one space.
"""

import dataclasses

from ...errors import VTAError
from ..schedule import ConvGeometry, _pair

__all__ = ["Task", "OPS"]

OPS = ("conv2d", "dense")


@dataclasses.dataclass(frozen=True)
class Task:
    """``n`` images of ``c`` channels, ``h``×``w`` → ``o`` channels with a ``kh``×``kw`` kernel, ``stride`` and
    symmetric ``padding`` (pairs). For "dense": c = K, o = M, everything spatial 1."""
    op: str
    n: int
    c: int
    h: int
    w: int
    o: int
    kh: int = 1
    kw: int = 1
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)

    def __post_init__(self):
        if self.op not in OPS:
            raise VTAError(f"a tuning task's op must be one of {OPS}, not {self.op!r}")
        object.__setattr__(self, "stride", _pair(tuple(self.stride) if isinstance(self.stride, list)
                                                 else self.stride, "stride"))
        object.__setattr__(self, "padding", _pair(tuple(self.padding) if isinstance(self.padding, list)
                                                  else self.padding, "padding"))
        for f in ("n", "c", "h", "w", "o", "kh", "kw"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise VTAError(f"a tuning task's {f} must be a positive integer, not {v!r}")

    @classmethod
    def conv2d(cls, n, c, h, w, o, kh, kw, stride=1, padding=0):
        return cls("conv2d", n, c, h, w, o, kh, kw, stride, padding)

    @classmethod
    def dense(cls, n, k, m):
        return cls("dense", n, k, 1, 1, m)

    def geometry(self, cfg):
        """The `ConvGeometry` of this task on ``cfg`` (block counts depend on the config)."""
        return ConvGeometry.of(cfg, self.n, self.c, self.h, self.w, self.o, self.kh, self.kw, self.stride,
                               self.padding)

    @property
    def macs(self):
        oh = (self.h + 2 * self.padding[0] - self.kh) // self.stride[0] + 1
        ow = (self.w + 2 * self.padding[1] - self.kw) // self.stride[1] + 1
        return self.n * self.o * self.c * self.kh * self.kw * oh * ow

    def to_json(self):
        d = dataclasses.asdict(self)
        d["stride"], d["padding"] = list(self.stride), list(self.padding)
        return d

    @classmethod
    def from_json(cls, d):
        if not isinstance(d, dict):
            raise VTAError(f"a tuning task must be a JSON object, not {d!r}")
        try:
            return cls(**d)
        except TypeError as e:
            raise VTAError(f"not a tuning task {d!r}: {e}") from None

    def __str__(self):
        if self.op == "dense":
            return f"dense {self.n}x{self.c} -> {self.o}"
        return (f"conv2d {self.n}x{self.c}x{self.h}x{self.w} -> {self.o} k{self.kh}x{self.kw} "
                f"s{self.stride[0]},{self.stride[1]} p{self.padding[0]},{self.padding[1]}")
