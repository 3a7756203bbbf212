"""Design-space exploration: which VTA config to build for a model on an FPGA, answered by measurement.

`run_dse` sweeps the configs `enumerate_configs` makes around the board's preset (GEMM block, batch, bus width,
buffer sizes), measures each with an evaluator (`vta.dse_eval.Evaluator`: Yosys cells, the model's cycles on
the Verilated RTL after a short schedule tuning, and place-and-route Fmax for the chosen few), extracts the
Pareto front of cycles against LUTs and writes ``pareto.csv`` and ``pareto.png``.

Why this shape:

- Synthesis gives exact cell counts in minutes, place and route takes 20–40 minutes per config, so every config
  is synthesised and only the chosen point (and ``pnr - 1`` more front points) are placed and routed.
- Every finished job (synth, cycles, pnr of one config) is written to ``DIR/cache/`` as it completes, keyed by
  the config and everything the result depends on (`Evaluator.fingerprint`): an interrupted sweep re-run with the
  same arguments measures only what is missing.
- Jobs run on a local process pool (``jobs`` workers) or a Ray cluster (``ray`` address); with one job they run
  inline (tests with a fake evaluator).
- The front is over (cycles, LUTs): the two numbers every config has after synthesis and one simulation; block
  RAM and DSP are in the table. Latency (cycles / Fmax) exists where place and route ran.
"""

import concurrent.futures
import concurrent.futures.process
import csv
import dataclasses
import itertools
import json
import os
import sys

from .config import VTAConfig
from .errors import ConfigError, VTAError

__all__ = ["DSEError", "Candidate", "DEFAULT_AXES", "enumerate_configs", "pareto_front", "choose", "run_dse",
           "config_label", "bram_lower_bound", "CSV_FIELDS", "Sweep"]

DEFAULT_AXES = {"block": (2, 3), "batch": (0,), "bus": (64, 128), "buffers": (-1, 0)}
BUFFERS = ("uop", "inp", "wgt", "acc")
CSV_FIELDS = ("config", "batch", "block_in", "block_out", "bus_bits", "uop_kib", "inp_kib", "wgt_kib", "acc_kib",
              "macs_per_cycle", "cycles", "lut", "lut_pct", "ff", "bram", "bram_pct", "dsp", "fmax_mhz",
              "latency_us", "pareto", "chosen", "preset", "exact", "note")


class DSEError(VTAError):
    """The sweep cannot give an answer: nothing legal to sweep, or no config fits the board."""


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One config of the sweep, or (``cfg`` None) a combination of axes that is not a legal config."""
    label: str
    cfg: VTAConfig = None
    reason: str = None     # why it is skipped (illegal, or cannot fit the board's block RAM)


def config_label(cfg):
    """A short unique name: ``b1x8x8-bus64-u13i13w15a15`` (batch × block_in × block_out, bus bits, log2 buffer
    bytes)."""
    return (f"b{cfg.batch}x{cfg.block_in}x{cfg.block_out}-bus{cfg.bus_width}-u{cfg.log_uop_buff_size}"
            f"i{cfg.log_inp_buff_size}w{cfg.log_wgt_buff_size}a{cfg.log_acc_buff_size}")


def bram_lower_bound(cfg, dram_bytes):
    """Bits of block RAM the design needs at least: the four buffers and the on-chip DRAM."""
    return 8 * (dram_bytes + sum(1 << getattr(cfg, f"log_{b}_buff_size") for b in BUFFERS))


def _axis(values, name, allowed=None):
    values = tuple(values)
    if not values:
        raise ConfigError(f"the {name} axis must list at least one value, not none")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{name} values must be integers, not {v!r}")
        if allowed is not None and v not in allowed:
            raise ConfigError(f"{name} values must be among {', '.join(map(str, allowed))}, not {v}")
    return tuple(dict.fromkeys(values))


def enumerate_configs(base, *, block=DEFAULT_AXES["block"], batch=DEFAULT_AXES["batch"],
                      bus=DEFAULT_AXES["bus"], buffers=DEFAULT_AXES["buffers"], bram_bits=None, dram_bytes=0):
    """The sweep around ``base`` (a `VTAConfig`, usually the board preset): every combination of

    - ``block``: log2 of the GEMM block (BLOCK_IN = BLOCK_OUT), ``batch``: log2 of BATCH,
    - ``bus``: AXI bus width in bits (32 … 512), ``buffers``: a log2 step added to all four buffer sizes of
      ``base`` (-1 halves them, 1 doubles them).

    Returns `Candidate`s in a fixed order (smallest MACs/cycle and buffers first): a legal config (validated by
    `VTAConfig`) has ``cfg``; an illegal combination, or one whose buffers and DRAM alone exceed ``bram_bits``,
    has ``reason`` instead.
    """
    block = _axis(block, "block (log2)")
    batch = _axis(batch, "batch (log2)")
    bus = _axis(bus, "bus width (bits)", allowed=tuple(1 << k for k in range(5, 10)))
    buffers = _axis(buffers, "buffer step (log2)")
    out = []
    for blk, bat, bw, step in itertools.product(block, batch, bus, buffers):
        keys = dict(log_block_in=blk, log_block_out=blk, log_batch=bat, log_bus_width=bw.bit_length() - 1)
        for b in BUFFERS:
            keys[f"log_{b}_buff_size"] = getattr(base, f"log_{b}_buff_size") + step
        fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
        fields.update(keys)
        label = (f"b{1 << bat}x{1 << blk}x{1 << blk}-bus{bw}-u{keys['log_uop_buff_size']}"
                 f"i{keys['log_inp_buff_size']}w{keys['log_wgt_buff_size']}a{keys['log_acc_buff_size']}")
        fields["name"] = label
        try:
            cfg = VTAConfig(**fields)
        except ConfigError as e:
            out.append(Candidate(label, None, f"not a legal config: {e}"))
            continue
        need = bram_lower_bound(cfg, dram_bytes)
        if bram_bits is not None and need > bram_bits:
            out.append(Candidate(label, None, f"buffers and {dram_bytes // 1024} KiB DRAM need ≥ {need // 8192} KiB "
                                              f"of block RAM, the board has {bram_bits // 8192} KiB"))
            continue
        out.append(Candidate(label, cfg))
    size = lambda c: (c.cfg is None, c.cfg.macs_per_cycle if c.cfg else 0,
                      bram_lower_bound(c.cfg, 0) if c.cfg else 0, c.cfg.bus_width if c.cfg else 0, c.label)
    return sorted(out, key=size)


def pareto_front(points, keys=("cycles", "lut")):
    """The points (dicts) no other point dominates on ``keys`` (all minimised; a point dominates another if it is
    no worse on every key and better on one). Points missing a key are left out. Sorted by the first key."""
    pts = [p for p in points if all(p.get(k) is not None for k in keys)]
    front = []
    for p in pts:
        dominated = any(all(q[k] <= p[k] for k in keys) and any(q[k] < p[k] for k in keys) for q in pts)
        if not dominated:
            front.append(p)
    return sorted(front, key=lambda p: tuple(p[k] for k in keys))


def choose(front, max_util=80.0):
    """The fastest front point using at most ``max_util`` percent of every resource (room for routing), else the
    one with the smallest utilisation."""
    roomy = [p for p in front if max(p["percent"].values()) <= max_util]
    if roomy:
        return min(roomy, key=lambda p: (p["cycles"], p["lut"]))
    return min(front, key=lambda p: max(p["percent"].values())) if front else None


# -- running jobs: inline, a process pool or Ray ----------------------------------------------------------------------

def _job(evaluator, kind, keys, name):
    """One measurement; a `VTAError` is the config's result (why it failed), other exceptions are not cached."""
    try:
        return {"ok": True, **getattr(evaluator, kind)(keys, name)}
    except VTAError as e:
        return {"ok": False, "error": f"{type(e).__name__}: {' '.join(str(e).split())[:400]}", "cache": True}
    except Exception as e:  # noqa: BLE001 — a crash in one config must not end the sweep; it is retried next run
        return {"ok": False, "error": f"{type(e).__name__}: {' '.join(str(e).split())[:400]}", "cache": False}


class _InlinePool:
    def submit(self, fn, *args):
        f = concurrent.futures.Future()
        f.set_result(fn(*args))
        return f

    def close(self):
        pass


class _ProcessPool:
    def __init__(self, jobs):
        import multiprocessing
        self.pool = concurrent.futures.ProcessPoolExecutor(max_workers=jobs,
                                                           mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn, *args):
        return self.pool.submit(fn, *args)

    def close(self):
        self.pool.shutdown(cancel_futures=True)


class _RayPool:
    def __init__(self, address):
        from .jit.tune.measure import connect_ray
        self.ray = connect_ray(address, DSEError)
        self.remote = self.ray.remote(_job)

    def submit(self, fn, *args):
        return self.remote.remote(*args).future()

    def close(self):
        self.ray.shutdown()


def make_pool(jobs=None, ray=None):
    """Where jobs run: Ray at address ``ray``, inline for ``jobs`` = 1, else a local pool of ``jobs`` processes."""
    if ray:
        return _RayPool(ray)
    if jobs == 1:
        return _InlinePool()
    return _ProcessPool(jobs)


# -- the sweep --------------------------------------------------------------------------------------------------------

class Sweep:
    """The jobs of one sweep and their cache (``DIR/cache/<kind>-<label>-<digest>.json``)."""

    def __init__(self, evaluator, out_dir, pool, progress=True, log=None):
        self.evaluator, self.pool, self.progress, self.log = evaluator, pool, progress, log
        self.cache = os.path.join(out_dir, "cache")
        os.makedirs(self.cache, exist_ok=True)
        self.reused = 0

    def _path(self, kind, cand):
        from .toolchain import content_key
        key = content_key(kind, cand.cfg.to_dict(), self.evaluator.fingerprint(kind))[:16]
        return os.path.join(self.cache, f"{kind}-{cand.label}-{key}.json")

    def cached(self, kind, cand):
        try:
            with open(self._path(kind, cand)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def store(self, kind, cand, result):
        if result.get("ok") or result.get("cache"):
            path = self._path(kind, cand)
            with open(path + ".tmp", "w") as f:
                json.dump(result, f, indent=1)
            os.replace(path + ".tmp", path)

    def run(self, jobs, desc, on_result=None):
        """Run ``jobs`` [(kind, Candidate)], cached ones from the cache; ``on_result(kind, cand, result)`` may return
        more jobs (run in the same pass) or raise to stop. Returns {(kind, label): result}."""
        from tqdm import tqdm
        results, pending = {}, {}
        bar = tqdm(total=0, desc=desc, unit="job", disable=not self.progress, file=sys.stderr)

        def add(new):
            for kind, cand in new:
                bar.total += 1
                bar.refresh()
                hit = self.cached(kind, cand)
                if hit is not None:
                    self.reused += 1
                    finish(kind, cand, hit)
                else:
                    fut = self.pool.submit(_job, self.evaluator, kind, cand.cfg.to_dict(), cand.label)
                    pending[fut] = (kind, cand)
                    # stored the moment it finishes, so an interruption keeps every finished job
                    fut.add_done_callback(lambda f, kind=kind, cand=cand: f.cancelled() or f.exception() or
                                          self.store(kind, cand, f.result()))

        def finish(kind, cand, result):
            results[(kind, cand.label)] = result
            bar.update(1)
            bar.set_postfix_str(f"{kind} {cand.label}")
            if self.log is not None and not self.progress:   # no bar (not a terminal): one line per job
                what = "error: " + result["error"] if not result.get("ok") else ", ".join(
                    f"{k} {result[k]}" for k in ("lut", "bram", "fits", "cycles", "exact", "fmax_mhz") if k in result)
                self.log(f"[{len(results)}/{bar.total}] {kind} {cand.label}: {what}")
            if on_result is not None:
                add(on_result(kind, cand, result) or ())

        try:
            add(jobs)
            while pending:
                done, _ = concurrent.futures.wait(list(pending), return_when=concurrent.futures.FIRST_COMPLETED)
                for fut in [f for f in pending if f in done]:     # in submission order: deterministic
                    kind, cand = pending.pop(fut)
                    try:
                        result = fut.result()
                    except concurrent.futures.process.BrokenProcessPool:
                        raise DSEError(f"a worker process died during {kind} of {cand.label} (killed, or out of "
                                       f"memory); every finished job is kept in {self.cache}: run the same command "
                                       f"again to resume") from None
                    finish(kind, cand, result)
        finally:
            for fut in pending:
                fut.cancel()
            bar.close()
        return results


def _no_fit_message(board, cand, synth):
    pct = synth["percent"]
    used = ", ".join(f"{k.upper()} {synth[k]} ({pct[k]:.0f} %)" for k in ("lut", "ff", "bram", "dsp") if k in pct)
    return (f"no config fits {board.name}: the smallest one swept, {cand.label} ({cand.cfg.macs_per_cycle} "
            f"MACs/cycle), needs {used} of the device after synthesis")


def run_dse(model, board, out_dir, *, evaluator=None, axes=None, trials=8, jobs=None, ray=None, pnr=1,
            max_util=80.0, calib=None, max_cycles=10 ** 8, progress=True, log=print):
    """Sweep, measure, write ``out_dir/pareto.csv``, ``pareto.png`` and ``dse.json``; returns the rows (dicts).

    ``evaluator``: an object with ``synth``/``cycles``/``pnr(keys, name)`` and ``fingerprint(kind)`` (default: the
    real `vta.dse_eval.Evaluator`). ``axes``: overrides of `DEFAULT_AXES`. ``pnr``: how many chosen front
    points are placed and routed (the chosen one first, then the board preset, the reference, then the front
    by cycles). Raises `DSEError` when no config can be swept or none fits.
    """
    from .fpga.boards import get_board
    from .fpga.presets import board_config
    board = get_board(board)
    if isinstance(pnr, bool) or not isinstance(pnr, int) or pnr < 0:
        raise ConfigError(f"pnr must be a whole number ≥ 0, not {pnr!r}")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 0:
        raise ConfigError(f"trials must be a whole number ≥ 0, not {trials!r}")
    preset, dram_bytes = board_config(board.preset)
    axes = {**DEFAULT_AXES, **(axes or {})}
    unknown = set(axes) - set(DEFAULT_AXES)
    if unknown:
        raise ConfigError(f"unknown axis {sorted(unknown)[0]!r}; the axes are {', '.join(DEFAULT_AXES)}")
    cands = enumerate_configs(preset, **axes, bram_bits=board.bram_bits, dram_bytes=dram_bytes)
    legal = [c for c in cands if c.cfg is not None]
    if not legal:
        reasons = "; ".join(f"{c.label}: {c.reason}" for c in cands[:3])
        raise DSEError(f"no config of the sweep can be built for {board.name}: {reasons}")
    os.makedirs(out_dir, exist_ok=True)
    if evaluator is None:
        from .dse_eval import Evaluator, resolve_model
        resolve_model(model)              # a bad model name fails before any work
        evaluator = Evaluator(model, board.name, os.path.abspath(out_dir), trials=trials, calib=calib,
                              max_cycles=max_cycles, dram_bytes=dram_bytes)
    preset_label = next((c.label for c in legal if c.cfg == preset), None)
    log(f"vta dse: {model} on {board.name}: {len(legal)} configs to measure ({len(cands) - len(legal)} skipped), "
        f"results in {out_dir}")
    pool = make_pool(jobs, ray)
    sweep = Sweep(evaluator, out_dir, pool, progress, log)
    smallest = legal[0]

    def after(kind, cand, result):
        if kind == "synth":
            if cand is smallest and result.get("ok") and not result["fits"]:
                raise DSEError(_no_fit_message(board, cand, result))
            if result.get("ok") and result["fits"]:
                return [("cycles", cand)]
        return ()

    try:
        res = sweep.run([("synth", c) for c in legal], "dse: synthesis and cycles", after)
        rows = _rows(cands, res, preset_label)
        fitting = [r for r in rows if r.get("fits")]
        if not fitting:
            first = next((r for r in rows if r.get("percent")), None)
            if first is not None:
                raise DSEError(_no_fit_message(board, next(c for c in legal if c.label == first["config"]),
                                               first))
            raise DSEError(f"no config could be synthesised for {board.name}: {rows[0]['note']}")
        front = pareto_front([r for r in fitting if r.get("cycles") is not None])
        chosen = choose(front, max_util)
        for r in front:
            r["pareto"] = True
        if chosen is not None:
            chosen["chosen"] = True
        order = ([chosen] if chosen else []) + [r for r in fitting if r["config"] == preset_label] \
            + [r for r in front if r is not chosen and r["config"] != preset_label]   # the preset: the reference
        picks = list(dict.fromkeys(r["config"] for r in order))[:pnr]
        by_label = {c.label: c for c in legal}
        if picks:
            res.update(sweep.run([("pnr", by_label[p]) for p in picks], "dse: place and route"))
            _add_pnr(rows, res)
    finally:
        pool.close()
    _write_outputs(out_dir, rows, board, model, preset_label)
    log(format_table(rows))
    log(f"wrote {os.path.join(out_dir, 'pareto.csv')} and {os.path.join(out_dir, 'pareto.png')} "
        f"({sweep.reused} results reused from {sweep.cache})")
    return rows


def _rows(cands, res, preset_label):
    rows = []
    for c in cands:
        row = {"config": c.label, "pareto": False, "chosen": False, "preset": c.label == preset_label,
               "note": c.reason or ""}
        if c.cfg is not None:
            cfg = c.cfg
            row.update(batch=cfg.batch, block_in=cfg.block_in, block_out=cfg.block_out, bus_bits=cfg.bus_width,
                       macs_per_cycle=cfg.macs_per_cycle,
                       **{f"{b}_kib": (1 << getattr(cfg, f"log_{b}_buff_size")) / 1024 for b in BUFFERS})
            s = res.get(("synth", c.label))
            if s is not None and s.get("ok"):
                row.update({k: s[k] for k in ("lut", "ff", "bram", "dsp", "percent", "fits")})
                row["lut_pct"], row["bram_pct"] = s["percent"]["lut"], s["percent"]["bram"]
                if not s["fits"]:
                    over = [k.upper() for k, v in s["percent"].items() if v > 100]
                    row["note"] = f"does not fit: {', '.join(over)} over 100 %"
            elif s is not None:
                row["note"] = f"synthesis failed: {s['error']}"
            y = res.get(("cycles", c.label))
            if y is not None and y.get("ok"):
                row["cycles"], row["exact"] = y["cycles"], y["exact"]
                if not y["exact"]:
                    row["note"] = "Verilator output DIFFERS from the bit-exact simulation"
            elif y is not None:
                row["note"] = f"cycles not measured: {y['error']}"
        rows.append(row)
    return rows


def _add_pnr(rows, res):
    for r in rows:
        p = res.get(("pnr", r["config"]))
        if p is None:
            continue
        if p.get("ok"):
            r["fmax_mhz"] = p["fmax_mhz"]
            if r.get("cycles") is not None:
                r["latency_us"] = round(r["cycles"] / p["fmax_mhz"], 2)
        else:
            r["note"] = (r["note"] + "; " if r["note"] else "") + f"place and route failed: {p['error']}"


def _write_outputs(out_dir, rows, board, model, preset_label):
    path = os.path.join(out_dir, "pareto.csv")
    with open(path + ".tmp", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r[k]) for k in CSV_FIELDS})
    os.replace(path + ".tmp", path)
    with open(os.path.join(out_dir, "dse.json"), "w") as f:
        json.dump({"model": str(model), "board": board.name, "preset": preset_label, "rows": rows}, f, indent=1)
    from .dse_plot import plot_pareto
    plot_pareto(os.path.join(out_dir, "pareto.png"), rows, f"vta dse: {os.path.basename(str(model))} on "
                f"{board.name}")


def format_table(rows):
    """The rows as a fixed-width text table (what the CLI prints)."""
    head = (f"{'config':30} {'MAC/c':>5} {'cycles':>9} {'LUT':>7} {'LUT%':>5} {'FF':>6} {'BRAM':>4} {'DSP':>3} "
            f"{'Fmax':>6} {'lat us':>8}  mark  note")
    lines = [head, "-" * len(head)]
    num = lambda v, fmt: format(v, fmt) if v is not None else "-".rjust(int(fmt.split(".")[0].rstrip("df")))
    for r in rows:
        mark = ("P" if r["pareto"] else " ") + ("*" if r["chosen"] else " ") + ("p" if r["preset"] else " ")
        lines.append(f"{r['config']:30} {num(r.get('macs_per_cycle'), '5d')} {num(r.get('cycles'), '9d')} "
                     f"{num(r.get('lut'), '7d')} {num(r.get('lut_pct'), '5.1f')} {num(r.get('ff'), '6d')} "
                     f"{num(r.get('bram'), '4d')} {num(r.get('dsp'), '3d')} {num(r.get('fmax_mhz'), '6.1f')} "
                     f"{num(r.get('latency_us'), '8.1f')}  {mark}   {r['note']}")
    lines.append("marks: P on the Pareto front (cycles vs LUTs), * chosen (fastest front point with room for "
                 "routing), p the board preset")
    return "\n".join(lines)
