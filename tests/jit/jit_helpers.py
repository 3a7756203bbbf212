"""Shared fixtures for the vta.jit tests: configs, a runtime on the functional simulator, random tensors."""

import numpy as np
import pytest


def make_runtime(cfg, **kw):
    """A runtime on the functional simulator (skips, saying why, if the simulator is not importable)."""
    try:
        from vta.sim import FunctionalSim  # noqa: F401  (only checks that it imports)
    except ImportError as e:
        pytest.skip(f"the functional simulator vta.sim.FunctionalSim is not available: {e}")
    from vta.jit import Runtime
    return Runtime(cfg, "fsim", **kw)


def randint8(rng, shape):
    return rng.integers(-128, 128, shape, dtype=np.int8)


CONFIGS = ["small", "default"]

