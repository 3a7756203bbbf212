"""The compile report: for every layer, where it ran and why, its MACs, the scales and shifts chosen, the
quantization error against FP32 on the calibration set and (after a Verilator run) cycles — summed over every
sample run on the device so far (``summary["samples_run"]``) — with the core's state counters per layer
(``states``) and what limits it (``limit``, `vta.sim.bottleneck.attribute`: e.g. "compute 46% busy, … — load-bound")."""

import dataclasses
import json

import numpy as np

from ..sim.bottleneck import attribute
from .host import host_subgraphs
from .ops import macs_of
from .steps import Add, Concat, Gemm, Layout

__all__ = ["Report", "build_report"]


@dataclasses.dataclass
class Report:
    model: str
    config: str
    device: str
    layers: list
    summary: dict
    sections: dict = dataclasses.field(default_factory=dict)   # name → object with str() and to_dict()

    def to_dict(self):
        d = {"model": self.model, "config": self.config, "device": self.device, "summary": self.summary,
             "layers": self.layers}
        d.update({k: v.to_dict() for k, v in self.sections.items()})
        return d

    def to_json(self, path=None):
        text = json.dumps(self.to_dict(), indent=2, default=_jsonable)
        if path:
            with open(path, "w") as f:
                f.write(text + "\n")
        return text

    @property
    def cpu_layers(self):
        return [l for l in self.layers if l["placement"] != "VTA"]

    def __str__(self):
        head = f"{'layer':<28} {'op':<12} {'where':<9} {'MACs':>10} {'scales (x,w→y)':<18} {'shift':<9} " \
               f"{'err':>7} {'cycles':>9}  why"
        lines = [f"{self.model} on VTA config {self.config} ({self.device})", head, "-" * len(head)]
        for l in self.layers:
            sc = l.get("scales", "")
            err = "" if l.get("rel_error") is None else f"{100 * l['rel_error']:.2f}%"
            cyc = "" if l.get("cycles") is None else str(l["cycles"])
            lines.append(f"{l['name'][:28]:<28} {l['op'][:12]:<12} {l['placement']:<9} {l['macs']:>10} "
                         f"{sc:<18} {str(l.get('shift', ''))[:9]:<9} {err:>7} {cyc:>9}  {l['reason']}")
        s = self.summary
        lines.append("-" * len(head))
        lines.append(f"MACs on VTA {s['vta_macs']} of {s['total_macs']} ({100 * s['vta_mac_fraction']:.1f}%); "
                     f"{s['vta_layers']} layer(s) on VTA, {s['cpu_layers']} on the host; "
                     f"compile {s['compile_seconds']:.2f} s, search evaluated {s['search_evals']} plan(s)")
        subs = s.get("host_subgraphs", [])
        if subs:
            lines.append(f"{len(subs)} host subgraph(s), each one onnxruntime session (float32):")
            for h in subs:
                nodes = h["nodes"]
                shown = ", ".join(nodes[:4]) + (f", … ({len(nodes)} nodes)" if len(nodes) > 4 else "")
                lines.append(f"  {h['name']}: {shown} — {'; '.join(h['why'])}")
        if s.get("host_seconds") is not None:
            parts = ", ".join(f"{k} {v:.3f} s" for k, v in s["seconds_by_kind"].items() if k != "VTA")
            lines.append(f"wall time over the {s.get('samples_run')} sample(s) run so far: host "
                         f"{s['host_seconds']:.3f} s ({100 * s['host_fraction']:.0f}%: {parts}); VTA steps "
                         f"{s['seconds_by_kind'].get('VTA', 0.0):.3f} s (device calls with their packing)")
        if s.get("cycles") is not None:
            per = f", {s['cycles'] / s['samples_run']:.0f} per sample" if s.get("samples_run") else ""
            lines.append(f"VTA cycles over the {s.get('samples_run')} sample(s) run so far: {s['cycles']}{per}")
        limits = [l for l in self.layers if l.get("limit")]
        if limits:
            lines.append("what limits each VTA layer (the core's state counters, summed over its calls):")
            lines += [f"  {l['name'][:28]:<28} {l['limit']['text']}" for l in limits]
        lines += [str(v) for v in self.sections.values()]
        return "\n".join(lines)


def _jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


def _exp_value(e):
    """A scalar exponent for the JSON report: an int, or a float where an exact weight scale made it one."""
    return int(e) if float(e).is_integer() else round(float(e), 6)


def _fmt_e(e):
    if np.ndim(e):
        lo, hi = int(np.min(e)), int(np.max(e))
        return f"2^[{lo}..{hi}]" if lo != hi else f"2^{lo}"
    return f"2^{int(e)}" if float(e).is_integer() else f"2^{float(e):.3f}"     # "exact" weight scales


def build_report(cm, run, device_name):
    g, prog = cm.graph, cm.program
    by_node = {}
    for st in prog.steps:
        for n in getattr(st, "members", None) or ([st.node] if st.node is not None else []):
            by_node.setdefault(n.name, []).append(st)
    ex = run.executor.stats if run is not None else {}
    layers, total, on_vta, cycles_all, cycles_known = [], 0, 0, 0, True
    for n in g.nodes:
        steps = by_node.get(n.name, [])
        main = steps[-1] if steps else None
        macs = macs_of(n, g.shapes)
        total += macs
        if main is not None and main.device == "vta":
            placement = "VTA"
            on_vta += macs
        elif isinstance(main, (Layout, Concat)):
            placement = "host-int8"
        else:
            placement = "CPU-fp32"
        row = {"name": n.name, "op": n.op + ("+relu" if n.attr("_act") == "relu" else ""), "placement": placement,
               "reason": (main.reason_of(n) if hasattr(main, "reason_of") else main.reason) if main is not None
               else "", "macs": macs,
               "output_shape": list(g.shapes.get(n.outputs[0], ())),
               "folded": n.attr("_folded", [])}
        if isinstance(main, Gemm):
            row["scales"] = f"{_fmt_e(main.e_x)},{_fmt_e(main.e_w)}→{_fmt_e(main.e_y)}"
            sh = main.shift
            row["shift"] = int(sh) if not np.ndim(sh) else sorted({int(v) for v in np.unique(sh)})
            row["weight_scales"] = main.gran
            row["weight_rounding"] = main.w_round
            row["weight_values"] = "fitted floor/ceil" if main.w_fit else "nearest"
            row["bias_corrected"] = bool(main.bias_corr)
            row["exp_in"], row["exp_out"] = _exp_value(main.e_x), int(main.e_y)
            row["exp_weight"] = main.e_w.tolist() if np.ndim(main.e_w) else _exp_value(main.e_w)
            if main.mult != 1:
                row["multiplier"] = int(main.mult)
            if main.bias_clipped:
                row["bias_clipped"] = int(main.bias_clipped)
        elif isinstance(main, Add):
            row["shift"] = f"{main.a_shift},{main.b_shift}→{main.shift}"
        if n.outputs[0] in prog.exps:
            row["exp_out"] = int(prog.exps[n.outputs[0]])
            row["scales"] = row.get("scales", f"→{_fmt_e(prog.exps[n.outputs[0]])}")
        row["rel_error"] = cm.errors.get(n.outputs[0])
        st = ex.get(n.name)
        if st is not None:
            row["vta_calls"] = st.calls
            row["insns"] = st.insns
            row["device_macs"] = st.macs
            row["cycles"] = st.cycles if st.cycles_known else None
            if st.busy:
                row["busy"] = dict(st.busy)
            if st.host_fallbacks:
                row["host_fallbacks"] = st.host_fallbacks
                row["reason"] += f" — {st.note}"
            if st.states and st.cycles_known and st.cycles:
                lim = attribute(st.states, st.cycles, st.active)
                row["states"] = st.states
                row["limit"] = {k: lim[k] for k in ("bound", "dram_bound", "queue", "waits_for", "text")}
            if st.cycles_known:
                cycles_all += st.cycles
            else:
                cycles_known = False
        layers.append(row)
    summary = {"total_macs": total, "vta_macs": on_vta, "vta_mac_fraction": on_vta / total if total else 0.0,
               "vta_layers": sum(1 for l in layers if l["placement"] == "VTA"),
               "cpu_layers": sum(1 for l in layers if l["placement"] != "VTA"),
               "compile_seconds": cm.compile_seconds, "search_evals": cm.search_evals,
               "search_changes": [h["change"] for h in cm.search_history[1:]],
               "cycles": cycles_all if (ex and cycles_known) else None,
               "samples_run": run.samples_run if run is not None else 0,
               "hardware": cm.hw.to_dict(), "host_subgraphs": host_subgraphs(prog)}
    secs = dict(getattr(run.executor, "seconds", {})) if run is not None else {}
    host = sum(v for k, v in secs.items() if k != "VTA")
    summary.update(seconds_by_kind=secs, host_seconds=host if secs else None,
                   host_fraction=host / sum(secs.values()) if secs and sum(secs.values()) > 0 else 0.0)
    return Report(g.name, cm.cfg.name, device_name, layers, summary)
