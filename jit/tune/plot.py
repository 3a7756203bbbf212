"""The tuning curve: best cycles found vs trials, one line per search (the tuner, random search, …)."""

__all__ = ["plot_curves"]


def plot_curves(path, curves, title, reference=None):
    """``curves``: {label: [best cycles after trial i]}; ``reference``: {label: cycles} drawn as horizontal
    lines (e.g. the exhaustive best, the heuristic). Needs matplotlib (the plot or tune extra)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, ys in curves.items():
        xs = [i + 1 for i, y in enumerate(ys) if y is not None]
        ax.plot(xs, [y for y in ys if y is not None], label=label)
    for label, y in (reference or {}).items():
        if y:
            ax.axhline(y, linestyle="--", linewidth=0.8, color="gray")
            ax.annotate(label, (1, y), fontsize=7, xytext=(2, 2), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("measured trials")
    ax.set_ylabel("best cycles so far (Verilator)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
