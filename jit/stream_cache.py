"""Instruction streams kept across operator calls, so that running a model again re-emits, re-encodes and
re-verifies nothing.

An operator's stream is a pure function of

- the operator's *key*: everything the operator's emitter reads — the geometry, the schedule, the immediates
  (shifts, clip bounds, the SETQ register value) and the DRAM addresses of its operands and output (the operator
  builds the key; `Runtime.run_stream` adds the operator name, the config being the runtime's own);
- the runtime state it touches while emitting: which uop kernels are resident where, and where their words sit
  in DRAM (`vta.jit.kernels.UopRecord`, checked by `KernelCache.replay`), and the shared zero page (its
  `DramBuffer`, compared whole).

A `CachedStream` holds the finished program (its encoded image and the per-opcode counts for the stats) with
the `UopRecord` and zero page it was built against. `Runtime.run_stream` looks the key up, replays the entry
when the runtime state still matches, and otherwise builds (and stores) the stream afresh — a stale entry is
rebuilt, never run. A LOAD UOP of the cached stream whose kernel is already resident where it would load it
(the stream ran before and nothing evicted the kernel) becomes a zero-size LOAD UOP with the same dependency
flags — the builder's own no-op — so a replayed stream loads no more uops than a fresh build would
(`CachedStream.variant`). The data (input, weights, bias values) is not part of the stream: the operators
upload it on every call.
"""

import collections
import collections.abc
import dataclasses

import numpy as np

from ..isa.insn import INSN_BYTES, decode_program, encode_program

__all__ = ["CachedStream", "EncodedProgram", "StreamCache"]


class EncodedProgram(collections.abc.Sequence):
    """The instructions of an encoded stream as a read-only sequence, decoded on first access: what the stats of
    a replayed call hold as their ``program`` (the cache keeps the 16-byte words, not instruction objects, so a
    large cache costs memory only, not garbage-collector time)."""

    def __init__(self, cfg, image):
        self._cfg, self._image, self._insns = cfg, image, None

    def __len__(self):
        return self._image.size // INSN_BYTES

    def __getitem__(self, i):
        if self._insns is None:
            self._insns = tuple(decode_program(self._cfg, self._image))
        return self._insns[i]


@dataclasses.dataclass(frozen=True, eq=False)
class CachedStream:
    """One finished stream: ``image`` (its encoding, read-only), ``uops`` (`UopRecord`), ``zeros`` (the zero-page
    `DramBuffer` its loads read, or None), ``by_op`` and ``noops`` (for `OpStats`), ``verified`` (checked with
    `vta.isa.verify` when built)."""
    image: np.ndarray
    uops: object
    zeros: object
    by_op: dict
    noops: int
    verified: bool
    _variants: dict = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, insns, image, uops, zeros, verified):
        by_op = {}
        for i in insns:
            name = type(i).__name__.upper()
            by_op[name] = by_op.get(name, 0) + 1
        noops = sum(1 for i in insns if getattr(i, "x_size", 1) == 0)
        image = np.array(image, dtype=np.uint8)
        image.flags.writeable = False
        return cls(image, uops, zeros, by_op, noops, verified)

    @property
    def count(self):
        """Instructions in the stream."""
        return self.image.size // INSN_BYTES

    def variant(self, cfg, elided):
        """``(program, image, noops)`` of the stream with the LOAD UOPs at positions ``elided`` of ``uops.loads``
        made zero-size (flags kept) — ``program`` an `EncodedProgram` —; the stream itself when ``elided`` is
        empty. Kept per ``elided``."""
        if not elided:
            return EncodedProgram(cfg, self.image), self.image, self.noops
        got = self._variants.get(elided)
        if got is None:
            image = self.image.copy()
            rows = image.reshape(-1, INSN_BYTES)
            for k in elided:
                i = self.uops.loads[k][4]
                load = decode_program(cfg, rows[i])[0]
                rows[i] = encode_program(cfg, [load.replace(sram_base=0, dram_base=0, y_size=0, x_size=0,
                                                            x_stride=0)])
            image.flags.writeable = False
            got = (image, self.noops + len(elided))
            if len(self._variants) >= 8:
                self._variants.clear()
            self._variants[elided] = got
        return EncodedProgram(cfg, got[0]), got[0], got[1]


class StreamCache:
    """`CachedStream`s by key, the most recently used ones up to ``max_entries`` streams and ``max_insns``
    instructions in all (16 bytes each, plus a few variants: the default keeps about 16 MB of streams, many
    times a ResNet-18's, while a tuner's thousands of one-off streams cannot pile up). ``hits``/``misses`` count
    look-ups that found a usable entry vs built the stream (a stale entry counts as a miss and is replaced)."""

    def __init__(self, max_entries=1024, max_insns=1 << 20):
        self.max_entries = max_entries
        self.max_insns = max_insns
        self._entries = collections.OrderedDict()
        self._insns = 0
        self.hits = self.misses = 0

    def get(self, key):
        """The entry stored under ``key`` (made most recently used), or None."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key, entry):
        """Store ``entry`` under ``key`` (replacing any), dropping the least recently used beyond the bounds; a
        stream longer than ``max_insns`` alone is not kept."""
        old = self._entries.pop(key, None)
        if old is not None:
            self._insns -= old.count
        if entry.count > self.max_insns:
            return
        self._entries[key] = entry
        self._insns += entry.count
        while len(self._entries) > self.max_entries or self._insns > self.max_insns:
            _, dropped = self._entries.popitem(last=False)
            self._insns -= dropped.count

    def clear(self):
        self._entries.clear()
        self._insns = 0

    @property
    def insns(self):
        """Instructions held in all."""
        return self._insns

    def __len__(self):
        return len(self._entries)
