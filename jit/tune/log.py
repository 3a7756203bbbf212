"""Tuning logs: one JSON object per line, one line per measurement, appended as the tuner goes.

A line: ``{"v": 2, "config": <digest>, "config_name", "config_keys" (upstream keys), "op", "task": {…},
"point": {…}, "cycles", "exact", "error", "versions": {"amaranth_vta", "verilator"}, "time"}``. Cycles are only
comparable on the same config and the same RTL/JIT, so `load_records` refuses (one-line `TuneError`) a log
made for another config or by another tool version — using it would silently pick schedules tuned for something
else. A line that does not parse is
skipped with a warning naming the file and line. `BestSchedules` turns the records into the lookup the runtime asks
(`Runtime(schedules=…)`); a shape the log lacks gets the heuristic, with a warning naming the shape.

The default location is the cache: ``~/.cache/amaranth-vta/tune/<config digest>.jsonl`` (`default_log_path`).
"""

import functools
import hashlib
import json
import os
import time
import warnings
from importlib import metadata

from .layout import apply_layout
from .measure import TuneError
from .space import Point
from .task import Task

__all__ = ["config_digest", "tool_versions", "make_record", "append_records", "load_records", "BestSchedules",
           "default_log_path", "LOG_VERSION"]

# 4: the one-pass epilogue (bias MOV, requantizing last GEMM: three ALU passes less); 3: the fused bias epilogue
# (one ALU pass less); 2: with a bias; 1: without (cheaper epilogue)
LOG_VERSION = 4
OLD_RANKING_FORMATS = (2, 3)   # their epilogue cost about the same per output element for every point of a task


class _OldRecord(ValueError):
    """A record of an older log format: its cycles were measured under an older JIT, so it is skipped."""


def config_digest(cfg):
    """First 16 hex digits of the SHA-256 of the config's upstream keys (the name does not count)."""
    return hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def tool_versions():
    """The versions a cycle count depends on: this package (RTL + JIT) and Verilator."""
    try:
        pkg = metadata.version("amaranth-vta")
    except metadata.PackageNotFoundError:
        pkg = "unknown"
    try:
        from ...toolchain import tool_versions as native
        verilator = native()["verilator"]
    except Exception as e:  # noqa: BLE001 — no Verilator here: say so in the record instead of failing
        verilator = f"unavailable ({type(e).__name__})"
    return {"amaranth_vta": pkg, "verilator": verilator}


def default_log_path(cfg):
    from ...toolchain import cache_base
    return os.path.join(cache_base(), "tune", f"{config_digest(cfg)}.jsonl")


def make_record(cfg, task, point, result):
    return {"v": LOG_VERSION, "config": config_digest(cfg), "config_name": cfg.name, "config_keys": cfg.to_dict(),
            "op": task.op,
            "task": task.to_json(), "point": point.to_json(), "cycles": result.get("cycles"),
            "exact": result.get("exact"), "error": result.get("error"), "versions": tool_versions(),
            "time": round(time.time(), 3)}


def append_records(path, records):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, sort_keys=True) + "\n")


def _parse(line, old_formats=False):
    r = json.loads(line)
    if not isinstance(r, dict):
        raise ValueError("not a JSON object")
    if old_formats and r.get("v") in OLD_RANKING_FORMATS:
        r["v"] = LOG_VERSION
    if isinstance(r.get("v"), int) and r["v"] < LOG_VERSION:
        raise _OldRecord(r["v"])
    if r.get("v") != LOG_VERSION:
        raise ValueError(f"log format version {r.get('v')!r}, this reader knows {LOG_VERSION}")
    for key in ("config", "task", "point", "versions"):
        if key not in r:
            raise ValueError(f"no {key!r}")
    r["task"] = Task.from_json(r["task"])
    r["point"] = Point.from_json(r["point"])
    c = r.get("cycles")
    if c is not None and (isinstance(c, bool) or not isinstance(c, int) or c < 1):
        raise ValueError(f"cycles {c!r} is not a positive integer")
    return r


def load_records(path, cfg=None, versions=True, old_formats=False):
    """The records of ``path`` (parsed: ``task``/``point`` as objects). With ``cfg``: a `TuneError` if any record
    is for another config; with ``versions``: one if any was measured by other tool versions. Corrupt lines are
    skipped with a warning naming ``path`` and the line number; records of an older format too (one warning),
    unless ``old_formats``: formats 2 and 3 (the plain and the fused bias epilogues, four or three ALU passes more
    per output element — about the same for every point of a task, so their *ranking* still teaches a cost
    model) are then read as well."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except OSError as e:
        raise TuneError(f"cannot read tuning log {path}: {e.strerror or e}") from None
    out = []
    digest = None if cfg is None else config_digest(cfg)
    mine = tool_versions() if versions else None
    old = 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = _parse(line, old_formats)
        except _OldRecord:
            old += 1
            continue
        except Exception as e:  # noqa: BLE001 — any bad line is skipped, by name
            warnings.warn(f"tuning log {path} line {n}: skipped, not a valid record ({e})", stacklevel=2)
            continue
        if digest is not None and r["config"] != digest:
            raise TuneError(f"tuning log {path} line {n} is for config {r.get('config_name')!r} (digest "
                            f"{r['config']}), not {cfg.name!r} ({digest}): tune this config (vta tune --config "
                            f"{cfg.name}) or pass its own log")
        if mine is not None and r["versions"] != mine:
            diff = sorted(k for k in set(mine) | set(r["versions"]) if mine.get(k) != r["versions"].get(k))
            k = diff[0]
            raise TuneError(f"tuning log {path} line {n} was measured with {k} {r['versions'].get(k)!r}, this is "
                            f"{mine.get(k)!r}: its cycles may not hold; re-tune")
        out.append(r)
    if old:
        warnings.warn(f"tuning log {path}: {old} record(s) of an older format skipped (measured before the JIT "
                      f"changes of log format v{LOG_VERSION}; re-tune)", stacklevel=2)
    return out


class BestSchedules:
    """The fastest measured point per task, as the `vta.jit.Runtime` asks for it (``Runtime(schedules=…)``).

    ``conv2d_choice`` / ``dense_choice`` return the schedule (and, for a folded layout, the refolded operands) or
    leave the call to the heuristic — warning once per shape that the log has no entry for it, so a partial log
    never passes for a tuned model. ``hits``/``misses`` count lookups for the report."""

    def __init__(self, cfg, records, source="tuning log"):
        self.cfg, self.source = cfg, source
        self.best = {}
        for r in records:
            if r["cycles"] is None or r.get("exact") is False:
                continue
            key = r["task"]
            if key not in self.best or r["cycles"] < self.best[key][1]:
                self.best[key] = (r["point"], r["cycles"])
        self.hits, self.misses = 0, set()

    @classmethod
    def load(cls, path, cfg):
        return cls(cfg, load_records(path, cfg), source=path)

    def __len__(self):
        return len(self.best)

    def lookup(self, task):
        got = self.best.get(task)
        if got is None:
            if task not in self.misses:
                self.misses.add(task)
                warnings.warn(f"{self.source} has no tuned schedule for {task}: the heuristic schedule is used",
                              stacklevel=3)
            return None
        self.hits += 1
        return got[0]

    def conv2d_choice(self, cfg, x, w, stride, padding):
        """``(x, w, stride, padding, schedule)`` for a conv2d call: the log's best (operands refolded for a
        folded layout), or the inputs unchanged with schedule None (the heuristic)."""
        self._same(cfg)
        n, c, h, wd = x.shape
        o, _, kh, kw = w.shape
        task = Task.conv2d(n, c, h, wd, o, kh, kw, stride, padding)
        p = self.lookup(task)
        if p is None:
            return x, w, stride, padding, None
        x, w, stride, padding = apply_layout(p.layout, x, w, task.stride, task.padding)
        return x, w, stride, padding, p.schedule

    def dense_choice(self, cfg, n, k, m):
        self._same(cfg)
        p = self.lookup(Task.dense(n, k, m))
        return None if p is None else p.schedule

    def _same(self, cfg):
        if cfg != self.cfg:
            raise TuneError(f"the schedules of {self.source} are for config {self.cfg.name}, the runtime runs "
                            f"{cfg.name}")
