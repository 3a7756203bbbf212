"""Per-instruction timelines of Verilator runs, as Chrome/Perfetto trace JSON (ui.perfetto.dev, chrome://tracing).

Why: cycle counts say *that* a layer is slow; a timeline says *why* — which module works, which waits on which
token queue, which waits on DRAM. The Verilator harness records every change of the core's ``probe`` port (each
stage's `vta.hw.regs.MODULE_STATES` state and held instruction, fetch busy) and of the AXI beat flags while
tracing is on (`VerilatorSim.record_timelines`); `RunTimeline` turns those records into spans:

- one track per module — fetch, load, compute, store — with a span per instruction (its opcode, fields and stream
  index) and, nested in it, a span per stretch it waited: ``wait <queue>`` (for a token to pop, or for room to push)
  or ``DRAM`` (a LOAD/STORE whose data did not move);
- one track each for DMA reads and writes: a span per run of back-to-back R (W) beats;
- for a compiled model, one span per layer on a ``layers`` track (`chrome_trace` of timelines with labels).

Time: the trace's microsecond is one clock cycle (Chrome trace timestamps are in µs); runs follow each other.
Per stage, the spans add up exactly to the core's state counters (`span_totals` reads them back from the JSON).
The functional simulator has no cycles, hence no timeline.
"""

import dataclasses
import json

import numpy as np

from ..hw.regs import MODULE_STATES
from ..isa.stages import QUEUE_STAGES, STAGE_POPS, STAGES
from .harness_abi import PROBE_WORDS, TRACE_FLAGS, TraceRecord

__all__ = ["RunTimeline", "Span", "chrome_trace", "write_chrome_trace", "span_totals", "write_trace_files",
           "TRACKS", "RECORD_DTYPE"]

RECORD_DTYPE = np.dtype(TraceRecord)     # the harness's records, read without a copy
TRACKS = ("layers", "fetch", *STAGES, "DMA read", "DMA write")


@dataclasses.dataclass(frozen=True)
class Span:
    """One "X" event: ``track`` (a `TRACKS` name), ``name``, ``start``/``end`` in cycles, ``args`` (shown on
    click), ``cat`` ("insn", "wait", "dram", "dma", "fetch", "layer")."""
    track: str
    name: str
    start: int
    end: int
    cat: str
    args: dict = dataclasses.field(default_factory=dict)


def _probe_fields():
    """name → (bit offset, width) of the `vta.hw.perf.PROBE` layout."""
    from ..hw.perf import PROBE
    return {name: (field.offset, field.width) for name, field in PROBE}


def _extract(lo, hi, offset, width):
    """Field ``offset``/``width`` of 128-bit values given as two uint64 arrays (low, high words)."""
    mask = np.uint64((1 << width) - 1)
    if offset + width <= 64:
        return (lo >> np.uint64(offset)) & mask
    if offset >= 64:
        return (hi >> np.uint64(offset - 64)) & mask
    return ((lo >> np.uint64(offset)) | (hi << np.uint64(64 - offset))) & mask


@dataclasses.dataclass
class RunTimeline:
    """What the core did in one run, cycle by cycle, from the harness's change records.

    ``records``: a `RECORD_DTYPE` array (the first at cycle 0; each state holds until the next record);
    ``cycles``: the run's length (``Reg.CYCLES``); ``insns``: the decoded instructions of the stream (for span
    names); ``label``: what the run was (a compiled model's layer), shown as a span on the ``layers`` track.
    """
    records: np.ndarray
    cycles: int
    insns: list
    label: str | None = None

    def __post_init__(self):
        r = self.records
        if len(r) == 0 or int(r["cycle"][0]) != 0:
            raise ValueError("a run timeline needs a first record at cycle 0")
        words = [r[f"probe{k}"].astype(np.uint64) for k in range(PROBE_WORDS)]
        lo = words[0] | (words[1] << np.uint64(32))
        hi = words[2] | (words[3] << np.uint64(32))
        self.fields = {name: _extract(lo, hi, off, width).astype(np.int64)
                       for name, (off, width) in _probe_fields().items()}
        start = r["cycle"].astype(np.int64)
        self.start = start
        self.end = np.append(start[1:], self.cycles)
        if (self.end < start).any():
            raise ValueError(f"trace records past the run's {self.cycles} cycles")

    def state_cycles(self):
        """{stage: {state: cycles}}: how long each stage spent in each state (what the core's counters count)."""
        dur = self.end - self.start
        out = {}
        for stage in STAGES:
            names = MODULE_STATES[stage]
            counts = np.bincount(self.fields[f"{stage}_state"], weights=dur, minlength=len(names))
            out[stage] = {name: int(counts[i]) for i, name in enumerate(names)}
        return out

    def spans(self):
        """Every `Span` of the run (cycles from 0)."""
        out = []
        for stage in STAGES:
            out += self._stage_spans(stage)
        out += self._flag_spans(self.fields["fetch_busy"] != 0, "fetch", "fetch", "fetch")
        for track, flag in (("DMA read", "r_beat"), ("DMA write", "w_beat")):
            out += self._flag_spans((self.records["flags"] & TRACE_FLAGS[flag]) != 0, track, "dma", flag)
        return out

    def _runs(self, keys):
        """(start, end, first record) of each stretch of records with equal ``keys`` (a tuple of arrays)."""
        diff = np.zeros(len(self.start), bool)
        diff[0] = True
        for k in keys:
            diff[1:] |= k[1:] != k[:-1]
        first = np.flatnonzero(diff)
        ends = np.append(self.start[first[1:]], self.cycles)
        return zip(self.start[first].tolist(), ends.tolist(), first.tolist())

    def _stage_spans(self, stage):
        names = MODULE_STATES[stage]
        state, held = self.fields[f"{stage}_state"], self.fields[f"{stage}_held"]
        idle, busy = names.index("idle"), names.index("busy")
        pops = set(STAGE_POPS[stage].values())
        out = []
        insn_span = None    # [start, end, index] of the instruction being built
        for start, end, k in self._runs((state, held)):
            s, h = int(state[k]), int(held[k])
            if insn_span is not None and (s == idle or h != insn_span[2]):
                out.append(self._insn_span(stage, *insn_span))
                insn_span = None
            if s == idle:
                continue
            if insn_span is None:
                insn_span = [start, end, h]
            insn_span[1] = end
            if s != busy:
                name = names[s]
                if name == "dram":
                    out.append(Span(stage, "DRAM", start, end, "dram", {"index": h}))
                else:
                    q = name[len("wait_"):]
                    kind = "token" if q in pops else "room"
                    other = QUEUE_STAGES[q][0 if kind == "token" else 1]
                    out.append(Span(stage, f"wait {q}", start, end, "wait",
                                    {"queue": q, "waits for": f"a {q} token from {other}" if kind == "token"
                                     else f"room in {q} ({other} has not popped)", "index": h}))
        if insn_span is not None:
            out.append(self._insn_span(stage, *insn_span))
        return out

    def _insn_span(self, stage, start, end, index):
        from ..isa.asm import format_insn
        insn = self.insns[index] if 0 <= index < len(self.insns) else None
        if insn is None:
            return Span(stage, f"insn {index}", start, end, "insn", {"index": index})
        text = format_insn(insn)
        words = text.split()
        name = " ".join(w.upper() for w in words[:2 if words[0] in ("load", "store", "alu") else 1])
        return Span(stage, name, start, end, "insn", {"index": index, "insn": text})

    def _flag_spans(self, on, track, cat, what):
        out = []
        for start, end, k in self._runs((on,)):
            if on[k]:
                label = {"r_beat": f"read {end - start} beats", "w_beat": f"write {end - start} beats"}.get(
                    what, what)
                out.append(Span(track, label, start, end, cat))
        return out


def chrome_trace(timelines, *, title="VTA"):
    """The Chrome trace (a JSON-ready dict with ``traceEvents``) of ``timelines`` (`RunTimeline`s), one after the
    other; timelines with a ``label`` get a span per run of equal labels on the ``layers`` track."""
    timelines = list(timelines)
    tids = {track: i for i, track in enumerate(TRACKS)}
    events = [{"name": "process_name", "ph": "M", "pid": 1, "tid": 0, "args": {"name": title}}]
    used = set()
    spans = []
    offset = 0
    layer = None   # [label, start, end, runs]
    for t in timelines:
        for s in t.spans():
            spans.append(dataclasses.replace(s, start=s.start + offset, end=s.end + offset))
        if t.label is not None:
            if layer is not None and layer[0] == t.label:
                layer[2] = offset + t.cycles
                layer[3] += 1
            else:
                if layer is not None:
                    spans.append(Span("layers", layer[0], layer[1], layer[2], "layer", {"runs": layer[3]}))
                layer = [t.label, offset, offset + t.cycles, 1]
        offset += t.cycles
    if layer is not None:
        spans.append(Span("layers", layer[0], layer[1], layer[2], "layer", {"runs": layer[3]}))
    spans.sort(key=lambda s: (tids[s.track], s.start, -(s.end - s.start)))
    for s in spans:
        used.add(s.track)
        events.append({"name": s.name, "cat": s.cat, "ph": "X", "ts": s.start, "dur": s.end - s.start, "pid": 1,
                       "tid": tids[s.track], "args": s.args})
    for track in TRACKS:
        if track in used or track in STAGES:
            tid = tids[track]
            events.append({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": track}})
            events.append({"name": "thread_sort_index", "ph": "M", "pid": 1, "tid": tid, "args": {"sort_index": tid}})
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"time unit": "1 µs of trace time = 1 clock cycle", "cycles": offset,
                          "runs": len(timelines)}}


def write_chrome_trace(path, timelines, **kw):
    """Write `chrome_trace` of ``timelines`` to ``path``; returns the dict."""
    trace = chrome_trace(timelines, **kw)
    with open(path, "w") as f:
        json.dump(trace, f, separators=(",", ":"))
    return trace


def write_trace_files(timelines, json_path=None, png_path=None, *, title="VTA"):
    """Write the Chrome trace JSON and/or the PNG Gantt chart (`vta.sim.gantt`) of ``timelines``; returns the lines
    to tell the user what was written."""
    trace = chrome_trace(timelines, title=title)
    lines = []
    if json_path:
        with open(json_path, "w") as f:
            json.dump(trace, f, separators=(",", ":"))
        spans = sum(1 for e in trace["traceEvents"] if e["ph"] == "X")
        lines.append(f"wrote {json_path}: {spans} spans over {trace['otherData']['cycles']} cycles "
                     f"(open in ui.perfetto.dev or chrome://tracing; 1 µs there = 1 cycle)")
    if png_path:
        from .gantt import write_gantt_png
        write_gantt_png(trace, png_path, title=title)
        lines.append(f"wrote {png_path} (Gantt chart)")
    return lines


def span_totals(trace):
    """From a Chrome trace dict (as `chrome_trace` writes it, or read back from its file): per stage track, the
    cycles of its instruction spans (``insns``: their count), of each kind of wait span (``wait_<queue>``,
    ``dram``), and ``busy`` = instruction cycles not inside a wait span; plus ``cycles``, the timeline's length —
    what the core's state counters must equal (idle = cycles − instruction cycles)."""
    names = {e["tid"]: e["args"]["name"] for e in trace["traceEvents"] if e.get("name") == "thread_name"}
    out = {stage: {"insn_cycles": 0, "insns": 0, "dram": 0, **{n: 0 for n in MODULE_STATES[stage]
                                                                  if n.startswith("wait_")}} for stage in STAGES}
    for e in trace["traceEvents"]:
        if e.get("ph") != "X" or names.get(e["tid"]) not in out:
            continue
        row = out[names[e["tid"]]]
        if e["cat"] == "insn":
            row["insn_cycles"] += e["dur"]
            row["insns"] += 1
        elif e["cat"] == "dram":
            row["dram"] += e["dur"]
        elif e["cat"] == "wait":
            row[f"wait_{e['args']['queue']}"] += e["dur"]
    cycles = trace["otherData"]["cycles"]
    for row in out.values():
        row["busy"] = row["insn_cycles"] - sum(v for k, v in row.items() if k == "dram" or k.startswith("wait_"))
        row["idle"] = cycles - row["insn_cycles"]
    return {"cycles": cycles, "stages": out}
