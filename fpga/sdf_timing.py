"""Near-critical paths of a routed design, from the SDF file nextpnr writes (``--sdf``).

nextpnr's log and JSON report name only the single slowest path per clock. When a design is placement-bound at
the margin, fixing that path moves the failure to the next one, which the report did not show. The SDF holds every
routed arc (cell IOPATH delays, INTERCONNECT delays, SETUPHOLD checks), so a longest-path pass over it gives the
slack of every register input: `near_critical` lists the worst distinct paths (one per pair of start and end
signals), each with its delay, logic levels and the cells it runs through.

The analysis is single-clock (the designs here have one core clock; I/O pads are left out) with nextpnr's
worst-case (``max``) delays and no clock skew, like nextpnr's own report for these designs.
"""

import re
from collections import defaultdict

__all__ = ["parse_sdf", "near_critical", "signal_of"]

_TRIPLE = r"\(\s*(-?[\d.]*):(-?[\d.]*):(-?[\d.]*)\s*\)"
_CELLTYPE = re.compile(r'\(CELLTYPE\s+"([^"]*)"\)')
_INSTANCE = re.compile(r"\(INSTANCE\s*((?:[^\s()\\]|\\.)*)\s*\)")
_INTERCONNECT = re.compile(r"\(INTERCONNECT\s+((?:[^\s\\]|\\.)+)\s+((?:[^\s\\]|\\.)+)\s+" + _TRIPLE)
_IOPATH = re.compile(r"\(IOPATH\s+(\((?:posedge|negedge)\s+\w+\)|\w+)\s+(\w+)\s+" + _TRIPLE)
_SETUP = re.compile(r"\((SETUPHOLD|SETUP)\s+(\((?:posedge|negedge)\s+\w+\)|\w+)\s+"
                    r"(\((?:posedge|negedge)\s+\w+\)|\w+)\s+" + _TRIPLE)
_CLOCK_PORT = re.compile(r"^(CLK|WCK|CLKA|CLKB|CLKR|CLKW|CLKI)\w*$")


def _port(term):
    """``CLK`` from ``CLK`` or ``(posedge CLK)``."""
    return term.strip("()").split()[-1]


def _split_pin(pin):
    """``(instance, port)`` of an SDF pin ``inst/port`` (the divider is ``/``; an escaped ``\\/`` is part of the
    instance name)."""
    for i in range(len(pin) - 1, -1, -1):
        if pin[i] == "/" and (i == 0 or pin[i - 1] != "\\"):
            return pin[:i], pin[i + 1:]
    return "", pin


def _max(groups, first):
    """The ``max`` field of the first triple at ``first`` (picoseconds), as ns; empty fields count 0."""
    value = groups[first + 2] or groups[first + 1] or groups[first] or "0"
    return float(value) / 1000.0


def parse_sdf(text):
    """``(edges, starts, checks, celltypes)`` of an SDF text in picoseconds → ns:

    - ``edges``: ``[(from_pin, to_pin, ns, kind)]``, kind ``"logic"`` (a cell's IOPATH) or ``"routing"``;
    - ``starts``: ``{pin: ns}`` clock-to-output delay of every clocked output (an IOPATH from a port that is the
      clock of a setup check in a cell of that type, or is named like a clock);
    - ``checks``: ``{pin: ns}`` setup time of every clocked input;
    - ``celltypes``: ``{instance: cell type}``.
    Pins are ``"instance/port"`` with the SDF's escapes removed."""
    edges, iopaths, checks, celltypes = [], [], {}, {}
    clock_ports = defaultdict(set)      # cell type → ports that clock a setup check
    inst = celltype = None
    for line in text.splitlines():
        if "(INTERCONNECT" in line:
            mt = _INTERCONNECT.search(line)
            if mt:
                a, b = _unescape(mt.group(1)), _unescape(mt.group(2))
                edges.append((a, b, _max(mt.groups(), 2), "routing"))
            continue
        if "(IOPATH" in line or "(SETUP" in line:     # nextpnr writes one per line; others may not
            if inst is None:
                continue
            for mt in _IOPATH.finditer(line):
                iopaths.append((inst, celltype, _port(mt.group(1)), mt.group(2), _max(mt.groups(), 2)))
            for mt in _SETUP.finditer(line):
                key = f"{inst}/{_port(mt.group(2))}"
                checks[key] = max(checks.get(key, 0.0), _max(mt.groups(), 3))
                clock_ports[celltype].add(_port(mt.group(3)))
            continue
        mt = _CELLTYPE.search(line)
        if mt:
            celltype, inst = mt.group(1), None
            continue
        mt = _INSTANCE.search(line)
        if mt:
            inst = _unescape(mt.group(1))
            celltypes[inst] = celltype
    starts = {}
    for inst, ctype, src, dst, d in iopaths:
        if src in clock_ports[ctype] or _CLOCK_PORT.match(src):
            key = f"{inst}/{dst}"
            starts[key] = max(starts.get(key, 0.0), d)
        else:
            edges.append((f"{inst}/{src}", f"{inst}/{dst}", d, "logic"))
    return edges, starts, checks, celltypes


def _unescape(name):
    return re.sub(r"\\(.)", r"\1", name)


_CELL_SUFFIX = re.compile(r"(_(TRELLIS|LUT4|PFUMX|L6MUX|CCU2C|DPR16X4|MULT18|ALU54|DO[AB]?\d|SB_)|\$CCU2).*$")


def signal_of(instance):
    """The design signal a packed cell comes from: Yosys/nextpnr name cells after the net they drive plus suffixes
    (``top.core.g2l.count_TRELLIS_FF_Q_4`` → ``top.core.g2l.count``); a block RAM's ``.0.0`` tile index goes too
    (``top.core.compute.acc_mem.3.0`` → ``top.core.compute.acc_mem``)."""
    name = _CELL_SUFFIX.sub("", instance)
    return re.sub(r"(\.\d+)+$", "", name) or instance


def near_critical(text, period_ns, *, count=10, within_ns=None):
    """The worst register-to-register paths of the SDF ``text`` at clock period ``period_ns``: one per distinct
    (start signal, end signal) pair, worst first, at most ``count`` (and, with ``within_ns``, only those whose
    slack is below that). Each is ``{"slack_ns", "ns", "logic_levels", "from", "to", "through"}`` where ``ns`` is
    arrival plus setup and ``through`` the signals of the cells passed on the way (in path order)."""
    edges, starts, checks, celltypes = parse_sdf(text)
    ids = {}

    def node(pin):
        i = ids.get(pin)
        if i is None:
            i = ids[pin] = len(ids)
        return i

    succ = defaultdict(list)
    indeg = defaultdict(int)
    for a, b, d, kind in edges:
        ia, ib = node(a), node(b)
        succ[ia].append((ib, d, kind))
        indeg[ib] += 1
    for pin in starts:
        node(pin)
    n = len(ids)
    names = [None] * n
    for pin, i in ids.items():
        names[i] = pin
    arrival = [None] * n
    pred = [None] * n       # (previous node, delay, kind)
    for pin, d in starts.items():
        if not _is_pad(pin, celltypes):
            arrival[ids[pin]] = d
    # Longest path over the DAG (Kahn's order); arcs in combinational loops, if any, are never reached.
    stack = [i for i in range(n) if indeg[i] == 0]
    while stack:
        u = stack.pop()
        au = arrival[u]
        for v, d, kind in succ.get(u, ()):
            if au is not None and (arrival[v] is None or au + d > arrival[v]):
                arrival[v] = au + d
                pred[v] = (u, d, kind)
            indeg[v] -= 1
            if indeg[v] == 0:
                stack.append(v)
    ends = []
    for pin, setup in checks.items():
        i = ids.get(pin)
        if i is None or arrival[i] is None or _is_pad(pin, celltypes):
            continue
        ends.append((period_ns - arrival[i] - setup, i, setup))
    ends.sort()
    out, seen = [], set()
    for slack, i, setup in ends:
        if within_ns is not None and slack >= within_ns:
            break
        path = [i]
        levels = 0
        while pred[path[-1]] is not None:
            u, _, kind = pred[path[-1]]
            levels += kind == "logic"
            path.append(u)
        path.reverse()
        start_sig = signal_of(_split_pin(names[path[0]])[0])
        end_sig = signal_of(_split_pin(names[i])[0])
        if (start_sig, end_sig) in seen:
            continue
        seen.add((start_sig, end_sig))
        through = []
        for j in path[1:-1]:
            sig = signal_of(_split_pin(names[j])[0])
            if sig not in through and sig not in (start_sig, end_sig):
                through.append(sig)
        out.append({"slack_ns": round(slack, 2), "ns": round(arrival[i] + setup, 2), "logic_levels": levels,
                    "from": names[path[0]], "to": names[i], "through": through})
        if len(out) >= count:
            break
    return out


def _is_pad(pin, celltypes):
    return celltypes.get(_split_pin(pin)[0], "").endswith("_IO")
