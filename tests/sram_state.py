"""The on-chip buffers of a reference model as zeroed int64 arrays (wide enough to hold any lane before it is
wrapped), shaped by the config: shared by the fsim loop reference (tests/sim) and the cocotb compute model."""

import numpy as np

__all__ = ["zero_buffers"]


def zero_buffers(cfg, names=("inp", "wgt", "acc", "out")):
    """{name: int64 zeros of shape (depth, *element shape)} for each buffer in ``names``."""
    return {n: np.zeros((getattr(cfg, f"{n}_depth"), *getattr(cfg, f"{n}_shape")), dtype=np.int64) for n in names}
