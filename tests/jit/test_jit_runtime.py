"""The Runtime object: any Device, config checks, statistics, kernel residency across runs, DRAM exhaustion."""

import jit_reference as ref
import numpy as np
import pytest
from jit_helpers import make_runtime, randint8

import vta
from vta.jit import OutOfDramError, Runtime


class Wrapped:
    """A Device that forwards to the functional simulator, counting runs; optionally resets SRAM first."""

    def __init__(self, cfg, reset_sram=False, fail=False):
        from vta.sim import FunctionalSim
        self.sim = FunctionalSim(cfg)
        self.cfg = self.sim.cfg
        self.runs = 0
        self.reset_sram = reset_sram
        self.fail = fail
        self.closed = False

    def run(self, dram, insn_addr, insn_count):
        self.runs += 1
        if self.fail:
            raise vta.ProgramError("device failure for the test")
        if self.reset_sram:
            self.sim.reset()
        return self.sim.run(dram, insn_addr, insn_count)

    def close(self):
        self.closed = True


def test_any_device_object():
    make_runtime("small")                         # skips if fsim is missing
    dev = Wrapped(vta.load_config("small"))
    rt = Runtime("small", dev)
    rng = np.random.default_rng(0)
    x, w = randint8(rng, (1, 8, 6, 6)), randint8(rng, (8, 8, 3, 3))
    y, st = rt.conv2d(x, w, padding=1, shift=7)
    np.testing.assert_array_equal(y, ref.conv2d(x, w, None, 1, 1, 7))
    assert dev.runs == 1
    assert st.insns == sum(st.insns_by_opcode.values()) and isinstance(st.program[-1], vta.isa.Finish)
    assert st.insns_by_opcode["FINISH"] == 1 and st.macs == st.run.macs == 8 * 8 * 9 * 36
    assert st.cycles is None and st.utilization is None       # the functional simulator has no cycles


def test_device_checks():
    with pytest.raises(vta.VTAError, match="unknown device 'tpu'"):
        Runtime("small", "tpu")
    with pytest.raises(vta.VTAError, match="must be 'fsim', 'verilator' or a Device"):
        Runtime("small", object())
    make_runtime("small")
    with pytest.raises(vta.VTAError, match="config default, the runtime for small"):
        Runtime("small", Wrapped(vta.load_config("default")))


def test_device_that_forgets_sram_needs_keep_uops_false():
    make_runtime("small")
    rng = np.random.default_rng(1)
    x, w = randint8(rng, (1, 8, 6, 6)), randint8(rng, (8, 8, 3, 3))
    expect = ref.conv2d(x, w, None, 1, 1, 7)
    rt = Runtime("small", Wrapped(vta.load_config("small"), reset_sram=True), keep_uops=False)
    for _ in range(2):
        y, st = rt.conv2d(x, w, padding=1, shift=7)
        np.testing.assert_array_equal(y, expect)
        assert st.uop_loads > 0                            # nothing assumed resident: kernels reloaded
    assert st.kernel_builds == 0                           # but recorded only once (they live in DRAM)


def test_failed_run_forgets_residency():
    make_runtime("small")
    dev = Wrapped(vta.load_config("small"))
    rt = Runtime("small", dev)
    x, w = np.ones((1, 8, 4, 4), np.int8), np.ones((8, 8, 1, 1), np.int8)
    rt.conv2d(x, w)
    assert rt.kernels.resident
    dev.fail = True
    with pytest.raises(vta.ProgramError, match="device failure"):
        rt.conv2d(x, w)
    assert rt.kernels.resident == {}
    dev.fail = False
    y, st = rt.conv2d(x, w)
    np.testing.assert_array_equal(y, np.full((1, 8, 4, 4), 8, np.int8))
    assert st.uop_loads > 0 and rt.alloc.in_use == sum(b.nbytes for _, b in rt.kernels._kernels.values())


def test_out_of_dram_names_sizes():
    make_runtime("small")
    rt = Runtime("small", Wrapped(vta.load_config("small")), dram_bytes=1 << 14)
    x, w = np.zeros((1, 8, 64, 64), np.int8), np.zeros((8, 8, 1, 1), np.int8)
    with pytest.raises(OutOfDramError, match=r"conv input needs 32768 bytes .* of 16384 bytes free"):
        rt.conv2d(x, w)
    assert rt.alloc.in_use == 0                            # nothing leaked by the failed call


def test_operators_return_output_and_their_own_stats():
    """Every operator returns ``(y, stats)``; the stats describe that call, not the runtime's latest one."""
    make_runtime("small")
    rt = Runtime("small", Wrapped(vta.load_config("small")))
    x, w = np.ones((1, 8, 4, 4), np.int8), np.ones((8, 8, 1, 1), np.int8)
    conv = rt.conv2d(x, w)
    relu = rt.relu(np.array([-3, 4], np.int8))
    assert conv.stats.op == "conv2d" and conv.stats.macs == 8 * 8 * 16
    assert relu.stats.op == "relu" and relu.stats.macs == 0
    np.testing.assert_array_equal(relu.y, [0, 4])
    assert not hasattr(rt, "last_stats")


def test_close_closes_only_devices_the_runtime_opened():
    make_runtime("small")
    dev = Wrapped(vta.load_config("small"))
    with Runtime("small", dev):
        pass
    assert not dev.closed                                  # the caller's device: the caller closes it
    rt = Runtime("small", "fsim")
    closed = []
    rt.device.close = lambda: closed.append(True)
    rt.close()
    assert closed == [True]                                # opened by name: the runtime's to close


def test_runtime_verifies_programs_against_the_resident_uops():
    """Every program the runtime runs is verified against the uop words its resident kernels loaded from DRAM:
    a GEMM whose loop walks past the acc buffer is refused before it reaches the device."""
    from vta.isa import Uop
    from vta.jit.kernels import Loop, UopKernel

    with Runtime("small") as rt:
        cfg = rt.cfg
        good = rt.stream()
        placed = rt.kernel(good, "ok", lambda: UopKernel("ok", (Uop(0, 0, 0),), (Loop(2, dst=1),)))
        good.gemm(placed, reset=True)
        rt.execute(good, "ok")
        bad = rt.stream()
        placed = rt.kernel(bad, "edge", lambda: UopKernel("edge", (Uop(cfg.acc_depth - 1, 0, 0),),
                                                          (Loop(2, dst=1),)))
        bad.gemm(placed, reset=True)
        with pytest.raises(vta.VTAError, match="internal error.*acc depth"):
            rt.execute(bad, "bad")
