"""`ReadArbiter` on its own: several clients' requests interleaved onto one AXI read port, every R beat routed to
the client whose burst it belongs to.

One testbench process plays both sides (so no two processes race over a handshake): an in-order AXI slave with a
fixed latency and random stalls, and the clients, each with its own list of requests and its own ``data.ready``
pattern. Every DRAM word holds its own byte address, so each client's received beats must be exactly the addresses
of its requests in order; the slave's own record of AR order names the owner of every beat independently of the
arbiter (the clients read disjoint address ranges).
"""

import random
from collections import deque

import pytest
from amaranth.sim import Simulator

from vta.hw.axi_arbiter import ReadArbiter

BUS = 64
BB = BUS // 8
REGION = 1 << 20        # client c reads only inside [c·REGION, (c+1)·REGION)


def owner_of(addr):
    return addr // REGION


def run_arbiter(requests, *, ready_p=None, latency=5, stall=0.2, max_outstanding=16, max_beats=None, urgent=(),
                start_at=None, seed=0, budget=5000):
    """Run ``requests[c]`` (lists of (byte address, beats)) of every client through a `ReadArbiter`.

    ``ready_p[c]``: probability that client c takes a beat in a cycle; ``start_at[c]``: the cycle its first request
    is raised. Returns a dict with the beats each client got, the AR log (cycle, owner, addr, beats), the peak bursts
    and beats in flight, and the cycle each client's first request rose; fails if ``budget`` cycles do not suffice.
    """
    n = len(requests)
    ready_p = ready_p or [1.0] * n
    start_at = start_at or [0] * n
    rng = random.Random(seed)
    dut = ReadArbiter(n, BUS, max_outstanding=max_outstanding, max_beats=max_beats, urgent=urgent)
    clients = [getattr(dut, f"client{c}") for c in range(n)]
    want = [[a + BB * k for a, beats in reqs for k in range(beats)] for reqs in requests]
    out = {"got": [[] for _ in range(n)], "ars": [], "peak_bursts": 0, "peak_beats": 0, "beats_at_ar": [],
           "raised": [None] * n}

    async def bench(ctx):
        todo = [deque(reqs) for reqs in requests]
        pending = deque()       # the slave's bursts: [due cycle, owner, next addr, beats left]
        bursts = beats = 0      # in flight, as the slave sees them
        for cycle in range(budget):
            if all(len(out["got"][c]) == len(want[c]) for c in range(n)) and not pending:
                break
            # -- slave side
            r_valid = bool(pending) and pending[0][0] <= cycle and rng.random() >= stall
            ctx.set(dut.r.valid, r_valid)
            if r_valid:
                ctx.set(dut.r.data, pending[0][2])
                ctx.set(dut.r.last, pending[0][3] == 1)
            ctx.set(dut.ar.ready, rng.random() >= stall)
            # -- clients
            for c in range(n):
                has = bool(todo[c]) and cycle >= start_at[c]
                ctx.set(clients[c].req.valid, has)
                if has:
                    if out["raised"][c] is None:
                        out["raised"][c] = cycle
                    ctx.set(clients[c].req.payload.addr, todo[c][0][0])
                    ctx.set(clients[c].req.payload.beats, todo[c][0][1])
                ctx.set(clients[c].data.ready, rng.random() < ready_p[c])
            # -- this cycle's transfers (settled)
            for c in range(n):
                if ctx.get(clients[c].req.valid) and ctx.get(clients[c].req.ready):
                    todo[c].popleft()
            if ctx.get(dut.ar.valid) and ctx.get(dut.ar.ready):
                addr, length = ctx.get(dut.ar.addr), ctx.get(dut.ar.len)
                assert ctx.get(dut.ar.burst) == 1 and 1 << ctx.get(dut.ar.size) == BB
                assert addr % BB == 0 and addr // 4096 == (addr + (length + 1) * BB - 1) // 4096, \
                    f"burst at {addr:#x} × {length + 1} crosses 4 KiB"
                out["beats_at_ar"].append(beats)
                out["ars"].append((cycle, owner_of(addr), addr, length + 1))
                pending.append([cycle + latency, owner_of(addr), addr, length + 1])
                bursts += 1
                beats += length + 1
            takers = [c for c in range(n) if ctx.get(clients[c].data.valid)]
            if r_valid:
                head_owner = pending[0][1]
                assert takers == [head_owner], f"cycle {cycle}: beat of client {head_owner} offered to {takers}"
                if ctx.get(dut.r.ready) != ctx.get(clients[head_owner].data.ready):
                    raise AssertionError(f"cycle {cycle}: R ready does not follow client {head_owner}'s ready")
                if ctx.get(dut.r.ready):
                    out["got"][head_owner].append(ctx.get(clients[head_owner].data.payload))
                    pending[0][2] += BB
                    pending[0][3] -= 1
                    beats -= 1
                    if pending[0][3] == 0:
                        pending.popleft()
                        bursts -= 1
            else:
                assert takers == [], f"cycle {cycle}: no beat on R but clients {takers} see one"
            out["peak_bursts"] = max(out["peak_bursts"], bursts)
            out["peak_beats"] = max(out["peak_beats"], beats)
            await ctx.tick()
        else:
            raise AssertionError(f"not done within {budget} cycles: got {[len(g) for g in out['got']]} of "
                                 f"{[len(w) for w in want]} beats")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    for c in range(n):
        assert out["got"][c] == want[c], f"client {c}: beats out of order, lost or someone else's"
    return out


def rows(client, count, beats, stride=None, offset=0):
    """``count`` requests of ``beats`` beats in client ``client``'s region, ``stride`` bytes apart."""
    stride = stride or beats * BB
    return [(client * REGION + offset + i * stride, beats) for i in range(count)]


def test_two_clients_interleave_by_request():
    """A client with many short rows and one with long rows: the AR stream switches between them request by
    request instead of serving one client's whole list first."""
    out = run_arbiter([rows(0, 8, 5), rows(1, 4, 40, stride=512)], seed=1)
    owners = [o for _, o, _, _ in out["ars"]]
    last0 = max(i for i, o in enumerate(owners) if o == 0)
    first1 = owners.index(1)
    assert first1 < last0, f"client 1's first burst waited for all of client 0's: {owners}"
    switches = sum(a != b for a, b in zip(owners, owners[1:]))
    assert switches >= 6, f"AR owners {owners}"


def test_three_clients_back_pressure_and_split_bursts():
    """Three clients with different burst counts per request (a 4 KiB crossing, a request longer than 256 beats,
    one-beat rows) while client 1 takes a beat only 30 % of the time: nobody's beats are lost or misrouted."""
    reqs = [
        [(0 * REGION + 4096 - 3 * BB, 7), (0 * REGION + 8192, 2)],         # the first crosses 4 KiB: 2 bursts
        [(1 * REGION + 64, 300), (1 * REGION + 8192 + 8, 3)],               # 300 beats: 2 bursts (≤ 256)
        rows(2, 12, 1, stride=24),                                          # one-beat rows
    ]
    out = run_arbiter(reqs, ready_p=[0.9, 0.3, 1.0], seed=2, budget=4000)
    per_owner = [sum(1 for _, o, _, _ in out["ars"] if o == c) for c in range(3)]
    assert per_owner == [3, 3, 12]


@pytest.mark.parametrize("seed", range(4))
def test_random_mix(seed):
    """Random request lists, readiness and stalls for three clients, with a tight burst limit."""
    rng = random.Random(seed)
    reqs = [[(c * REGION + rng.randrange(0, 1 << 14) * BB, rng.randint(1, 70)) for _ in range(rng.randint(1, 8))]
            for c in range(3)]
    out = run_arbiter(reqs, ready_p=[rng.uniform(0.3, 1) for _ in range(3)], max_outstanding=3,
                      latency=rng.randint(1, 9), stall=0.3, seed=seed, budget=8000)
    assert out["peak_bursts"] <= 3


def test_one_cycle_slave_switches_owner_every_beat():
    """A slave answering the cycle after AR, one-beat rows of three clients: consecutive beats belong to different
    clients (each burst's owner is recorded the cycle its beat may already be due)."""
    out = run_arbiter([rows(c, 10, 1, stride=16) for c in range(3)], latency=1, stall=0.0, seed=7)
    owners = [o for _, o, _, _ in out["ars"]]
    assert sum(a != b for a, b in zip(owners, owners[1:])) >= 20, owners


def test_max_outstanding_is_reached_and_respected():
    """With a slow slave, one-beat rows fill the burst limit (3) exactly, never more."""
    out = run_arbiter([rows(0, 20, 1, stride=40), rows(1, 20, 1, stride=40)], latency=12, stall=0.0,
                      max_outstanding=3, seed=3)
    assert out["peak_bursts"] == 3


def test_beat_budget_holds_back_new_bursts():
    """With ``max_beats`` 12, a burst is issued only while fewer than 12 beats are in flight (so at most 12 − 1
    plus one burst); without it the same traffic runs far deeper."""
    traffic = [rows(0, 10, 8, stride=128), rows(1, 10, 8, stride=128)]
    limited = run_arbiter(traffic, latency=10, stall=0.0, max_beats=12, seed=4)
    assert max(limited["beats_at_ar"]) < 12
    assert limited["peak_beats"] <= 11 + 8
    free = run_arbiter(traffic, latency=10, stall=0.0, seed=4)
    assert free["peak_beats"] > 2 * 12


def test_urgent_client_overtakes_queued_rows():
    """Two clients with long lists of rows keep the splitter busy; a third, urgent client's one request raised
    mid-way is issued next: at most the one burst already in the splitter goes before it (the bus is full, so
    the wait is for room, not for the other clients' lists)."""
    reqs = [rows(0, 30, 4), rows(1, 30, 4), rows(2, 1, 2)]
    out = run_arbiter(reqs, stall=0.0, urgent=(2,), start_at=[0, 0, 25], seed=5)
    raised = out["raised"][2]
    urgent_ar = next(cyc for cyc, o, _, _ in out["ars"] if o == 2)
    others_between = [o for cyc, o, _, _ in out["ars"] if raised <= cyc < urgent_ar]
    assert len(others_between) <= 1, (raised, urgent_ar, others_between)
    assert out["peak_bursts"] == 16     # the bus really was busy


def test_round_robin_serves_every_client():
    """Without urgent clients, each of three busy clients gets a burst at least every third AR."""
    out = run_arbiter([rows(0, 12, 3), rows(1, 12, 3), rows(2, 12, 3)], stall=0.0, seed=6)
    owners = [o for _, o, _, _ in out["ars"]][:30]
    for i in range(len(owners) - 2):
        assert len(set(owners[i:i + 3])) == 3, f"AR owners {owners}"


@pytest.mark.parametrize("kw,message", [
    (dict(n_clients=0), "n_clients must be a positive integer, not 0"),
    (dict(max_outstanding=0), "max_outstanding must be a positive integer, not 0"),
    (dict(max_beats=-1), "max_beats must be a positive integer, not -1"),
    (dict(urgent=(3,)), "urgent clients must be indices in 0..2, not 3"),
    (dict(urgent=(1, 1)), "urgent clients must not repeat, not (1, 1)"),
])
def test_bad_parameters_are_named(kw, message):
    args = dict(n_clients=3, bus_width=BUS) | kw
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ReadArbiter(**args)
