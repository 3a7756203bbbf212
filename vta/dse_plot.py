"""`plot_pareto`: the picture of a `vta dse` sweep — cycles against LUTs per config, the Pareto front as a step
line, the chosen point and the board preset marked, configs that do not fit greyed out at their synthesis LUTs.

Kept apart from `vta.dse` so the sweep itself never imports matplotlib (it loads in about a second).
"""

__all__ = ["plot_pareto"]


def plot_pareto(path, rows, title):
    """Write the PNG ``path`` from the sweep's ``rows`` (dicts with config, cycles, lut, pareto, chosen, preset,
    fits)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    measured = [r for r in rows if r.get("cycles") is not None and r.get("lut") is not None]
    unfit = [r for r in rows if r.get("lut") is not None and not r.get("fits")]
    ax.scatter([r["lut"] for r in measured], [r["cycles"] for r in measured], c="tab:blue", s=30,
               label="measured config", zorder=3)
    front = sorted((r for r in measured if r.get("pareto")), key=lambda r: r["lut"])
    if front:
        ax.step([r["lut"] for r in front], [r["cycles"] for r in front], where="post", c="tab:orange",
                lw=1.5, label="Pareto front (cycles vs LUTs)", zorder=2)
    offsets = [(6, 4), (6, -12), (-6, 14), (-6, -22), (6, 24), (6, -32)]   # near-equal points stay readable
    placed = []
    xspan = max((r["lut"] for r in measured), default=1) - min((r["lut"] for r in measured), default=0) or 1
    yspan = max((r["cycles"] for r in measured), default=1) - min((r["cycles"] for r in measured), default=0) or 1
    for r in sorted(measured, key=lambda r: (r["lut"], r["cycles"])):
        text = r["config"] + (f"\n{r['latency_us']:.0f} µs @ {r['fmax_mhz']:.1f} MHz" if r.get("latency_us") else "")
        near = sum(1 for x, y in placed if abs(x - r["lut"]) < 0.25 * xspan and abs(y - r["cycles"]) < 0.05 * yspan)
        dx, dy = offsets[near % len(offsets)]
        ax.annotate(text, (r["lut"], r["cycles"]), textcoords="offset points", xytext=(dx, dy), fontsize=6.5,
                    ha="left" if dx > 0 else "right")
        placed.append((r["lut"], r["cycles"]))
    for r in measured:
        if r.get("chosen"):
            ax.scatter([r["lut"]], [r["cycles"]], s=180, facecolors="none", edgecolors="tab:red", lw=2,
                       label="chosen", zorder=4)
        if r.get("preset"):
            ax.scatter([r["lut"]], [r["cycles"]], marker="*", s=160, c="tab:green", label="board preset", zorder=5)
    if unfit:
        top = max((r["cycles"] for r in measured), default=1)
        ax.scatter([r["lut"] for r in unfit], [top] * len(unfit), marker="x", c="grey",
                   label="does not fit (LUTs from synthesis)", zorder=3)
    lut_avail = next((r["lut"] * 100 / r["lut_pct"] for r in rows if r.get("lut_pct")), None)
    if lut_avail:
        ax.axvline(lut_avail, c="grey", ls="--", lw=1)
        ax.text(lut_avail, ax.get_ylim()[1], " device LUTs", fontsize=7, va="top", color="grey")
    ax.set_xlabel("LUTs after synthesis (nextpnr units)")
    ax.set_ylabel("cycles per inference (Verilated RTL)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    ax.legend(seen.values(), seen.keys(), fontsize=7, loc="center right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
