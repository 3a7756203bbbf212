"""Reading the core's state counters: where the cycles went and what limits a run (or a layer of a model).

Why: the counters (`vta.hw.regs.STATE_COUNTERS`, in ``RunStats.states``) split every cycle of every stage into idle,
busy, DRAM wait and a wait per token queue; a person wants one line: "compute 46 % busy, 38 % waiting on l2g —
load-bound". The rule, kept simple so the line can be checked by hand against the numbers:

- the *limiting module* is the stage with the largest share of working cycles (busy + DRAM wait): the others wait
  on it; when its DRAM waits outnumber its busy cycles the run is called DRAM-bound (through that module);
- the *limiting queue* is the token queue the compute stage (the GEMM/ALU engine the accelerator exists for) waits
  on longest, with the module at its other end.
"""

from ..isa.stages import QUEUE_STAGES, STAGE_POPS, STAGES

__all__ = ["add_states", "attribute", "describe_states", "active_of"]


def active_of(stats):
    """The GEMM/ALU activity counts of a `RunStats` (``None`` when the device has none)."""
    busy = stats.busy or {}
    return {k: busy[k] for k in ("gemm", "alu")} if "gemm" in busy and "alu" in busy else None


def add_states(total, states):
    """Add ``states`` ({stage: {state: cycles}}) into ``total`` (same shape, created on first use); returns it."""
    total = {} if total is None else total
    for stage, row in states.items():
        into = total.setdefault(stage, {})
        for name, v in row.items():
            into[name] = into.get(name, 0) + int(v)
    return total


def attribute(states, cycles=None, active=None):
    """What limits the run whose counters are ``states``: a dict with ``bound`` (the limiting module), ``dram_bound``,
    ``queue`` (the token queue compute waits on longest, ``None`` if it never waits), ``waits_for`` (the module at
    that queue's other end), ``shares`` ({stage: {state: fraction of cycles}}) and ``text`` (one line).
    ``active``: the core's GEMM/ALU activity counts (``{"gemm": cycles, "alu": cycles}``, `RunStats.busy`), shown
    as the part of compute's busy cycles that did MACs or ALU work."""
    if cycles is None:
        cycles = sum(states[STAGES[0]].values())
    if not cycles:
        return {"bound": None, "dram_bound": False, "queue": None, "waits_for": None, "shares": {}, "text": "no cycles"}
    shares = {s: {k: v / cycles for k, v in row.items()} for s, row in states.items()}
    work = {s: row.get("busy", 0) + row.get("dram", 0) for s, row in shares.items()}
    bound = max(STAGES, key=lambda s: work.get(s, 0))
    dram_bound = shares[bound].get("dram", 0) > shares[bound].get("busy", 0)
    compute = shares.get("compute", {})
    waits = {k[len("wait_"):]: v for k, v in compute.items() if k.startswith("wait_") and v > 0}
    queue = max(waits, key=waits.get) if waits else None
    pops = set(STAGE_POPS["compute"].values())
    waits_for = None if queue is None else QUEUE_STAGES[queue][0 if queue in pops else 1]
    c = shares.get("compute", {})
    text = f"compute {100 * c.get('busy', 0):.0f}% busy"
    if active:
        text += f" (GEMM {100 * active.get('gemm', 0) / cycles:.0f}%, ALU {100 * active.get('alu', 0) / cycles:.0f}%)"
    text += f", {100 * c.get('dram', 0):.0f}% DRAM"
    if queue is not None:
        text += f", {100 * waits[queue]:.0f}% waiting on {queue} ({waits_for})"
    if dram_bound:
        text += f" — DRAM-bound ({bound}'s transfers wait on the bus {100 * shares[bound]['dram']:.0f}% of cycles)"
    else:
        text += f" — {bound}-bound"
    return {"bound": bound, "dram_bound": dram_bound, "queue": queue, "waits_for": waits_for, "shares": shares,
            "text": text}


def describe_states(states, cycles, active=None):
    """Lines: each stage's cycles by state in percent (they add up to 100 per stage), then `attribute`'s line."""
    lines = [f"module states over {cycles} cycles (core counters):"]
    for stage in STAGES:
        row = states.get(stage, {})
        parts = [f"{name.replace('_', ' ')} {100 * v / cycles:.1f}%" for name, v in row.items() if v] if cycles \
            else []
        lines.append(f"  {stage:8} " + ", ".join(parts))
    lines.append(f"  limit: {attribute(states, cycles, active)['text']}")
    return "\n".join(lines)
