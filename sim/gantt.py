"""A PNG Gantt chart of a Chrome trace from `vta.sim.trace`: a quick look without opening Perfetto.

One row per track (layers, fetch, load, compute, store, DMA read, DMA write). An instruction is a blue bar; the
stretches it waited are drawn over it — red for a token queue (the legend names the queue), orange for DRAM — so a
module that is mostly red or orange is limited by the one it waits on. Needs matplotlib (``pip install
'amaranth-vta[plot]'`` or any matplotlib).
"""

from ..errors import VTAError

__all__ = ["write_gantt_png"]

COLORS = {"insn": "#4c78a8", "dram": "#f58518", "fetch": "#9d9d9d", "dma": "#54a24b"}
LAYER_COLORS = ("#b279a2", "#d4a6c8")
WAIT_COLORS = {"l2g": "#e45756", "g2l": "#ff9da6", "g2s": "#9e3a3a", "s2g": "#d67195"}


def write_gantt_png(trace, path, *, title=None):
    """Draw ``trace`` (a `vta.sim.trace.chrome_trace` dict) into the PNG ``path``."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError:
        raise VTAError("--trace-png needs matplotlib (pip install matplotlib)") from None
    names = {e["tid"]: e["args"]["name"] for e in trace["traceEvents"] if e.get("name") == "thread_name"}
    order = sorted(names)
    rows = {tid: len(order) - 1 - i for i, tid in enumerate(order)}
    bars = {}     # (row, color, layer) → [(start, dur)]
    layers = 0
    labels = []
    for e in trace["traceEvents"]:
        if e.get("ph") != "X" or e["tid"] not in rows:
            continue
        color = WAIT_COLORS.get(e["args"].get("queue"), "#e45756") if e["cat"] == "wait" else \
            COLORS.get(e["cat"])
        if e["cat"] == "layer":     # neighbouring layers in two shades, named where there is room
            color = LAYER_COLORS[layers % 2]
            layers += 1
            labels.append((e["ts"] + e["dur"] / 2, rows[e["tid"]], e["name"], e["dur"]))
        layer = 0 if e["cat"] in ("insn", "layer") else 1
        bars.setdefault((rows[e["tid"]], color, layer), []).append((e["ts"], max(e["dur"], 0.5)))
    cycles = trace.get("otherData", {}).get("cycles", 0)
    fig, ax = plt.subplots(figsize=(12, 0.5 * len(rows) + 1.5))
    for (row, color, _layer), spans in sorted(bars.items(), key=lambda kv: kv[0][2]):
        ax.broken_barh(spans, (row - 0.4, 0.8), facecolors=color, linewidth=0)
    for x, row, text, dur in labels:
        if dur >= 0.06 * max(cycles, 1):
            ax.text(x, row, text, ha="center", va="center", fontsize=7, clip_on=True)
    ax.set_yticks([rows[t] for t in order], [names[t] for t in order])
    ax.set_xlim(0, max(cycles, 1))
    ax.set_xlabel("cycles")
    ax.set_title(title or f"VTA timeline ({cycles} cycles)")
    used_waits = sorted({q for e in trace["traceEvents"] if e.get("cat") == "wait"
                         for q in [e["args"].get("queue")]})
    legend = [Patch(color=COLORS["insn"], label="instruction (busy)"), Patch(color=COLORS["dram"], label="DRAM wait")]
    legend += [Patch(color=WAIT_COLORS.get(q, "#e45756"), label=f"wait {q}") for q in used_waits]
    ax.legend(handles=legend, loc="upper right", fontsize=8, ncol=len(legend))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
