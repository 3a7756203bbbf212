"""The shipped cost model's choices kept on disk, so a new process does not score a layer shape it scored before.

Scoring a shape means enumerating and featurising ~10⁴ candidate schedules and (for the first shape of a
process) importing xgboost: ~0.1–0.3 s a layer, most of a cold first image. A choice depends only on the model,
the config, the code that enumerates and featurises the candidates, xgboost, and the task, so an entry is keyed on
all of them: the model file's digest, the config digest, a digest of those source files, the xgboost version and
the task. One small JSON file per entry under ``<cache>/tophub/`` (`vta.toolchain.cache_base`; ``$VTA_CACHE_DIR``
moves it), written whole (a temporary file renamed), so parallel processes never see half an entry.

An entry is used only if it is whole and names exactly the key asked for (its own key and a checksum over key and
choice are stored in it), and its point still passes the JIT's buffer check; anything else — unreadable, truncated,
another key, a checksum that does not match — counts as a miss: the model scores the shape again and the entry is
rewritten. A cache that cannot be written (read-only, full) is only slower.
"""

import functools
import hashlib
import json
import os
import tempfile
from importlib import metadata

from ...errors import VTAError
from ..schedule import ScheduleError, check_conv2d
from .layout import LAYOUTS, layout_pays, layout_task
from .space import Point

__all__ = ["ChoiceCache", "file_digest", "code_digest"]

# the modules a choice depends on besides the model and the config: candidate enumeration and buffer checks,
# features and estimates, layouts, tasks, the scoring itself
_CODE = ("vta.jit.schedule", "vta.jit.layout", "vta.jit.kernels", "vta.config", "vta.isa.layouts",
         "vta.jit.tune.space", "vta.jit.tune.features", "vta.jit.tune.layout", "vta.jit.tune.task",
         "vta.jit.tune.cost_model", "vta.jit.tune.tophub", "vta.jit.tune.choice_cache")


def file_digest(path):
    """SHA-256 (hex) of the file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def code_digest():
    """SHA-256 of the source of every module in ``_CODE`` (an edited checkout invalidates its entries) and the
    versions of xgboost and this package."""
    import importlib
    h = hashlib.sha256()
    for name in _CODE:
        path = importlib.import_module(name).__file__
        h.update(name.encode() + b"\0")
        try:
            h.update(file_digest(path).encode())
        except (OSError, TypeError):
            h.update(b"?")
    for dist in ("xgboost", "amaranth-vta"):
        try:
            h.update(f"{dist}={metadata.version(dist)}".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{dist}=none".encode())
    return h.hexdigest()


def _check(key, point):
    return hashlib.sha256(json.dumps([key, point], sort_keys=True).encode()).hexdigest()


class ChoiceCache:
    """Entries for one model file on one config, under ``root`` (default ``<cache>/tophub``). ``hits`` and
    ``ignored`` (entries found but not used: stale or corrupt) count what `get` saw."""

    def __init__(self, cfg, model_digest, cfg_digest, root=None):
        if root is None:
            from ...toolchain import cache_base
            root = os.path.join(cache_base(), "tophub")
        self.cfg, self.root = cfg, root
        self.base = {"model": model_digest, "config": cfg_digest, "code": code_digest()}
        self.hits = 0
        self.ignored = 0

    def key(self, task):
        return {**self.base, "task": task.to_json()}

    def path(self, task):
        name = hashlib.sha256(json.dumps(self.key(task), sort_keys=True).encode()).hexdigest()[:32]
        return os.path.join(self.root, f"{name}.json")

    def get(self, task):
        """The cached `Point` for ``task``, or None (no entry, or one that is not whole and exactly this key's)."""
        path = self.path(task)
        try:
            with open(path, encoding="utf-8") as f:
                entry = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            self.ignored += 1
            return None
        point = self._valid(task, entry)
        if point is None:
            self.ignored += 1
        else:
            self.hits += 1
        return point

    def _valid(self, task, entry):
        key = self.key(task)
        if not isinstance(entry, dict) or entry.get("key") != key or not isinstance(entry.get("point"), dict):
            return None
        if entry.get("check") != _check(key, entry["point"]):
            return None
        try:
            point = Point.from_json(entry["point"])
            if point.layout not in LAYOUTS or not layout_pays(self.cfg, task, point.layout):
                return None
            check_conv2d(self.cfg, layout_task(task, point.layout).geometry(self.cfg), point.schedule)
        except (TypeError, ValueError, VTAError, ScheduleError):
            return None
        return point

    def put(self, task, point):
        """Write the entry (whole or not at all); a cache that cannot be written is ignored."""
        key, pj = self.key(task), point.to_json()
        text = json.dumps({"key": key, "point": pj, "check": _check(key, pj)}, sort_keys=True)
        try:
            os.makedirs(self.root, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".entry-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(text)
                os.replace(tmp, self.path(task))
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            pass
