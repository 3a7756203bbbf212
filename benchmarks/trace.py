"""Timelines and state counters on real ResNet-18 layers (Verilator): what limits each layer, and checks.

For each layer (default C4 — ResNet-18's first 1×1 stride-2 conv — and C8, a 3×3 conv; shapes from
`resnet18_layers.py`), the layer runs twice through `vta.jit.Runtime` on the Verilated core with the default
schedule: once with timelines off, once on. Printed per layer:

- cycles, and whether both runs gave the same cycles and the numpy reference's result (a first, discarded run
  builds the uop kernels, so both measured runs execute the same program);
- each module's cycles by state from the core's counters (percent of the run), and the limiting module and queue
  (`vta.sim.bottleneck.attribute`);
- the checks of the acceptance criteria, each PASS/FAIL: the trace file is valid Chrome trace JSON (``traceEvents``
  of complete "X" events), it has ≥ 3 module tracks with instruction spans and token-wait spans, and for every
  module the span totals read back from the file equal the counters (busy, DRAM and every queue's wait; idle =
  cycles − instruction spans) and the counters add up to the total cycles (busy + DRAM + waits + idle = cycles);
  the instruction spans per module equal its instruction counter;
- simulation speed with timelines off and on (cycles per wall-clock second and per CPU second).

Writes ``<out-dir>/<layer>.json`` (open in ui.perfetto.dev) and ``<layer>.png`` (Gantt chart).

``--model`` instead compiles the whole ResNet-18 (`resnet18_model.py`, seeded weights, no search), runs one image
on the Verilated core with ``CompiledModel.run(trace=...)`` and prints the compile report's per-layer limits (C4
and C8 marked by their shapes) with the checks: one span per VTA layer on the layers track, in order, each as long
as the report's cycles of that layer, and every layer's module states adding up to its cycles.

Usage: python benchmarks/trace.py [--config default] [--layers C4,C8] [--rows R] [--out-dir traces] [--model]
"""

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resnet18_layers import LAYERS, reference

from vta import load_config
from vta.isa.stages import STAGES
from vta.jit import ConvGeometry, Runtime, default_conv2d_schedule
from vta.sim.bottleneck import active_of, add_states, attribute
from vta.sim.trace import span_totals, write_trace_files
from vta.sim.verilator import VerilatorSim


def run_layer(rt, name, rows, sim):
    h, w, ci, co, k, pad, stride = LAYERS[name]
    if rows:
        h = min(h, (rows - 1) * stride + k - pad)
    rng = np.random.default_rng(int(name[1:]))
    x = rng.integers(-128, 128, (1, ci, h, w), dtype=np.int8)
    wt = rng.integers(-128, 128, (co, ci, k, k), dtype=np.int8)
    g = ConvGeometry.of(rt.cfg, 1, ci, h, w, co, k, k, stride, pad)
    sched = default_conv2d_schedule(rt.cfg, g)
    out = {}
    for tracing in (False, False, True):    # a first run builds the uop kernels: compare the warm runs
        log = sim.record_timelines(tracing)
        t0, c0 = time.perf_counter(), time.process_time()
        y, stats = rt.conv2d(x, wt, None, stride=stride, padding=pad, shift=12, relu=True,
                             schedule=dataclasses.replace(sched))
        out[tracing] = (y, stats, time.perf_counter() - t0, time.process_time() - c0, log)
    sim.record_timelines(False)
    ok = all(np.array_equal(o[0], reference(x, wt, stride, pad, 12)) for o in out.values())
    return f"{ci}x{h}x{w} -> {co} k{k} s{stride} p{pad}", ok, out


def checks(path, stats):
    """(name, passed, detail) of each acceptance check on the trace file at ``path``."""
    with open(path) as f:
        trace = json.load(f)
    events = trace.get("traceEvents")
    spans = [e for e in events if e.get("ph") == "X"] if isinstance(events, list) else []
    valid = bool(spans) and all(isinstance(e.get("ts"), (int, float)) and e.get("dur", -1) >= 0 and "name" in e
                                and "pid" in e and "tid" in e for e in spans)
    names = {e["tid"]: e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    module_tracks = {names[e["tid"]] for e in spans if e["cat"] == "insn"}
    waits = {e["args"]["queue"] for e in spans if e["cat"] == "wait"}
    totals = span_totals(trace)
    states = None
    for tl_stats in stats:
        states = add_states(states, tl_stats.states)
    cycles = sum(s.cycles for s in stats)
    insns = {st: sum(s.stage_insns[st] for s in stats) for st in STAGES}
    span_eq = all(totals["stages"][st][k] == v for st in STAGES for k, v in states[st].items())
    add_up = all(sum(states[st].values()) == cycles for st in STAGES) and totals["cycles"] == cycles
    insn_eq = all(totals["stages"][st]["insns"] == insns[st] for st in STAGES)
    return [("valid Chrome trace JSON (traceEvents, X events)", valid, f"{len(spans)} spans"),
            ("≥ 3 module tracks with instruction spans", len(module_tracks) >= 3, ", ".join(sorted(module_tracks))),
            ("token-wait spans present", bool(waits), "queues " + ", ".join(sorted(waits))),
            ("span totals = counters (every module, every state)", span_eq, ""),
            ("busy + DRAM + waits + idle = total cycles (every module)", add_up, f"{cycles} cycles"),
            ("instruction spans = instruction counters", insn_eq, str(insns))], states, cycles


def model_trace(cfg, out_dir):
    """The whole ResNet-18 on Verilator with a trace; returns the number of failed checks."""
    from resnet18_model import images, resnet18_onnx

    import vta
    t0 = time.perf_counter()
    cm = vta.compile(resnet18_onnx(), config=cfg, calibration=images(8), search=False)
    print(f"ResNet-18 compiled in {time.perf_counter() - t0:.0f} s")
    path, png = os.path.join(out_dir, "resnet18.json"), os.path.join(out_dir, "resnet18.png")
    t0 = time.perf_counter()
    with cm:
        cm.run(images(1, seed=5), device="verilator", trace=path, trace_png=png)
    print(f"one image on Verilator with the trace: {time.perf_counter() - t0:.0f} s wall; {path} "
          f"({os.path.getsize(path) / 1e6:.1f} MB), {png}")
    rep = cm.report(device="verilator")
    marks = {}     # (MACs, output channels, rows, columns) → layer name; the MACs tell the kernel size apart
    for name in ("C4", "C8"):
        h, w, ci, co, k, pad, stride = LAYERS[name]
        oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        marks[(co * oh * ow * ci * k * k, co, oh, ow)] = name
    layers = [row for row in rep.layers if row["placement"] == "VTA"]
    print(f"{'layer':24} {'op':10} {'cycles':>9}  limit")
    for row in layers:
        tag = marks.get((row["macs"], *row["output_shape"][1:]), "")
        print(f"{row['name'][:24]:24} {row['op'][:10]:10} {row['cycles']:9d}  {row['limit']['text']}"
              + (f"   <- {tag}" if tag else ""))
    with open(path) as f:
        trace = json.load(f)
    tracks = {e["tid"]: e["args"]["name"] for e in trace["traceEvents"] if e.get("name") == "thread_name"}
    spans = [e for e in trace["traceEvents"] if e.get("ph") == "X" and tracks[e["tid"]] == "layers"]
    results = [
        ("one span per VTA layer, in order", [e["name"] for e in spans] == [r["name"] for r in layers]),
        ("layer span = the report's cycles of the layer", [e["dur"] for e in spans] == [r["cycles"] for r in layers]),
        ("trace length = the report's total cycles", trace["otherData"]["cycles"] == rep.summary["cycles"]),
        ("every layer's module states add up to its cycles",
         all(sum(v.values()) == r["cycles"] for r in layers for v in r["states"].values())),
        ("span totals = summed counters (every module, every state)",
         all(span_totals(trace)["stages"][st][k] == sum(r["states"][st][k] for r in layers)
             for st in STAGES for k in layers[0]["states"][st])),
    ]
    print(f"total {rep.summary['cycles']} cycles")
    for check, passed in results:
        print(f"  [{'PASS' if passed else 'FAIL'}] {check}")
    return sum(not p for _, p in results)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="default")
    ap.add_argument("--layers", default="C4,C8")
    ap.add_argument("--rows", type=int, default=None, help="output rows per layer (reduced-height slice)")
    ap.add_argument("--out-dir", default="traces")
    ap.add_argument("--model", action="store_true", help="trace the whole compiled ResNet-18 instead (slow)")
    args = ap.parse_args()
    cfg = load_config(args.config)
    os.makedirs(args.out_dir, exist_ok=True)
    if args.model:
        failed = model_trace(cfg, args.out_dir)
        print(f"\n{'all checks passed' if not failed else f'{failed} check(s) FAILED'}")
        return 1 if failed else 0
    sim = VerilatorSim(cfg)
    rt = Runtime(cfg, sim, dram_bytes=256 << 20, verify=False)
    failed = 0
    print(f"ResNet-18 layers on the Verilated core, {cfg}; "
          f"{'full layers' if not args.rows else f'{args.rows} output rows'}")
    for name in args.layers.split(","):
        shape, ok, out = run_layer(rt, name, args.rows, sim)
        (_, s_off, wall_off, cpu_off, _), (_, s_on, wall_on, cpu_on, log) = out[False], out[True]
        runs = list(log)
        if len(runs) != 1:
            print(f"{name}: the layer took {len(runs)} device runs; this script expects one")
            return 1
        path = os.path.join(args.out_dir, f"{name}.json")
        png = os.path.join(args.out_dir, f"{name}.png")
        t0 = time.perf_counter()
        write_trace_files(runs, path, png, title=f"ResNet-18 {name} ({shape}) on VTA {cfg.name}")
        write_s = time.perf_counter() - t0
        results, states, cycles = checks(path, [s_on.run])
        same = s_off.cycles == s_on.cycles == cycles
        print(f"\n{name} {shape}: {cycles} cycles, {s_on.insns} instructions, result {'ok' if ok else 'WRONG'}, "
              f"cycles with/without timelines {'equal' if same else f'DIFFER ({s_off.cycles} vs {s_on.cycles})'}")
        print(f"  {'module':8} " + " ".join(f"{k:>9}" for k in ("busy", "dram", "idle")) + "  waits")
        for st in STAGES:
            row = states[st]
            w = ", ".join(f"{k[5:]} {100 * v / cycles:.1f}%" for k, v in row.items() if k.startswith("wait_") and v)
            print(f"  {st:8} " + " ".join(f"{100 * row[k] / cycles:8.1f}%" for k in ("busy", "dram", "idle"))
                  + f"  {w or '-'}")
        print(f"  limit: {attribute(states, cycles, active_of(s_on.run))['text']}")
        for check, passed, detail in results:
            failed += not passed
            print(f"  [{'PASS' if passed else 'FAIL'}] {check}{': ' + detail if detail else ''}")
        failed += not (ok and same)
        size = os.path.getsize(path)
        print(f"  trace {path} ({size / 1e6:.1f} MB, {len(runs[0].records)} probe records), Gantt {png}; "
              f"JSON+PNG written in {write_s:.1f} s")
        print(f"  speed: timelines off {s_off.cycles / wall_off:,.0f} cycles/s wall ({s_off.cycles / cpu_off:,.0f} "
              f"per CPU-s); on {s_on.cycles / wall_on:,.0f} cycles/s wall ({s_on.cycles / cpu_on:,.0f} per CPU-s)")
    rt.close()
    sim.close()
    print(f"\n{'all checks passed' if not failed else f'{failed} check(s) FAILED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
