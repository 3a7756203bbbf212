"""HAGO-style greedy search over per-layer quantization choices, scored by exact simulated quantization.

Decision points, in topological order: for each VTA-capable Conv/Dense its weight scale granularity (per tensor
or per output channel), weight scale rounding (ceil or nearest), placement (VTA or float32 on the CPU) and, with
``refine``, empirical bias correction and weight rounding fitted to the layer's output (`vta.quant.refine`, fitted
on the calibration set with the layer's int8 input as the plan so far produces it); for each activation that can
be smoothed exactly (a LayerNorm's output read by VTA layers, `vta.quant.smooth`), the SmoothQuant α (none or
`vta.quant.smooth.ALPHAS`), decided where the activation is computed, before its layers; for
each tensor that gets its own int8 scale (outputs of VTA conv/dense/matmul/add/concat, graph inputs, and operands
of VTA layers quantized from a float host result such as a LayerNorm or softmax output), the exponent produced
by a calibration method (max, average range, percentile, KL, MSE) and rounding (ceil, nearest) — distinct
exponents only. Each candidate is scored by running
the bit-exact numpy simulation of the whole quantized program on the calibration set (resuming from the cached
prefix the choice cannot affect): accuracy against labels (or agreement with the FP32 model's top-1 when no
labels are given), ties broken by the output's mean squared error against FP32. Costlier choices must pay off:
a choice never lowers top-1; a top-1 gain below two calibration samples counts as noise, and then only a lower
error (≥ 1 %, ≥ 10 % for per-channel scales, which split a layer into one GEMM call per distinct shift) is
accepted; the CPU only for a top-1 gain of at least ``host_gain`` (and four calibration samples).
Deterministic: no randomness beyond the fixed sampling seed of calibration.
"""

import dataclasses

import numpy as np

from ..compiler.ir import CompileError
from ..compiler.ops import run_graph
from ..compiler.partition import LAYOUT_OPS
from ..compiler.program import run_program
from ..compiler.steps import Conv, Gemm
from .build import build_program, smoothed
from .calibrate import METHODS, ROUNDINGS, exponent
from .offsets import act_exponent, offset_candidates
from .plan import LayerChoice, Plan
from .refine import MAX_FIT_WORK, LayerData, fit_layer
from .smooth import ALPHAS, find_groups

__all__ = ["Scorer", "greedy_search", "score_outputs", "fit_plan"]


def score_outputs(out, ref, labels=None, weights=None):
    """(top-1 accuracy or FP32 agreement, −relative MSE) of output batch ``out`` against FP32 ``ref``.
    ``weights``: per-sample weights of the accuracy term (0 leaves a sample out, e.g. a calibration sample whose
    label looks wrong, `vta.quant.cscore`); the error term needs no label and uses every sample."""
    out, ref = np.asarray(out, np.float64), np.asarray(ref, np.float64)
    mse = float(np.mean((out - ref) ** 2) / max(np.mean(ref ** 2), 1e-30))
    if out.ndim == 2 and out.shape[1] > 1:
        target = labels if labels is not None else ref.argmax(1)
        hit = out.argmax(1) == target
        acc = float(np.mean(hit)) if weights is None else float(np.sum(weights * hit) / max(np.sum(weights), 1e-30))
    else:
        acc = 0.0
    return acc, -mse


# ops whose result for a stack of samples is the stack of their per-sample results (with these attributes)
_PER_SAMPLE = {"Conv", "Dense", "Relu", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Add", "Sub",
               "Mul", "Div", "BatchNormalization", "Clip", "Sigmoid", "Tanh", "LeakyRelu", "Identity", "Dropout"}
MERGE_SAMPLES = 256     # calibration samples simulated together (numpy's per-call overhead paid once per batch)


def _merge_batches(g, batches):
    """The calibration batches of a fixed-batch model (e.g. an export with batch 1) stacked into batches of up to
    `MERGE_SAMPLES` samples when every node computes per sample (`_PER_SAMPLE`, a Flatten from axis 1, a Concat or
    Softmax not on axis 0) and every input is batched; else as given. Scores are per sample, so they do not
    change; the simulation runs 16 images in one call instead of 16."""
    def per_sample(n):
        if n.op == "Flatten":
            return n.attr("axis", 1) == 1
        if n.op in ("Concat", "Softmax"):
            return n.attr("axis", 1) not in (0, -len(g.shapes[n.inputs[0]]))
        return n.op in _PER_SAMPLE
    if len(batches) < 2 or not all(per_sample(n) for n in g.nodes):
        return batches
    if any(len(g.shapes[t]) == 0 or len(b[t]) != g.shapes[t][0] for b in batches for t in g.inputs):
        return batches
    merged = []
    for b in batches:
        if merged and len(next(iter(merged[-1].values()))) + len(b[g.inputs[0]]) <= MERGE_SAMPLES:
            merged[-1] = {t: np.concatenate([merged[-1][t], b[t]]) for t in g.inputs}
        else:
            merged.append({t: b[t] for t in g.inputs})
    return merged


class Scorer:
    """Runs a plan's program on the calibration batches with prefix caching.

    Every run records the environment before each node's first step (shallow copies: arrays are shared), so an
    accepted candidate becomes the cached reference without being simulated again (`accept`); a candidate that
    changes node ``k`` resumes from the reference's snapshot at ``k``. Programs are built with one cache of
    quantized weights and activation exponents (`build_program`'s ``cache``)."""

    def __init__(self, g, caps, stats, hw, batches, ref, labels=None, weights=None, incremental=True):
        self.g, self.caps, self.stats, self.hw = g, caps, stats, hw
        self.incremental = incremental   # False: every run simulates the whole program (tests compare)
        self.batches, self.ref, self.labels = _merge_batches(g, batches), ref, labels
        self.weights = weights     # per-sample weights of the accuracy term (None: all 1)
        self.snapshots = None     # per batch: {step index: env before the first step of that node}
        self.best_prog = None
        self.evals = 0
        self.build_cache = {}
        self._last = None         # (program, snapshots) of the last run
        self._float_in = None     # FP32 inputs of every conv/dense, per batch (for refine)

    def build(self, plan):
        return build_program(self.g, self.caps, plan, self.stats, self.hw, self.build_cache)

    def run(self, plan, start_order=0, commit=False):
        """Score ``plan``; steps of nodes before ``start_order`` are taken from the committed run's snapshots.
        ``commit`` makes this run the cached reference (as `accept` afterwards does)."""
        prog = self.build(plan)
        self.evals += 1
        start = next((i for i, s in enumerate(prog.steps) if s.order >= start_order), len(prog.steps))
        cached = self.incremental and self.snapshots is not None and self._same_prefix(prog, start)
        outs, snaps_all = [], []
        for bi, feeds in enumerate(self.batches):
            snaps = {}
            if cached and start in self.snapshots[bi]:
                env, s0 = dict(self.snapshots[bi][start]), start
                snaps.update({i: v for i, v in self.snapshots[bi].items() if i < start})
            else:
                env, s0 = dict(feeds), 0
            env = run_program(prog, None, self.g.consts, start=s0, env=env, snapshots=snaps)
            outs.append(env[prog.outputs[0]])
            snaps_all.append(snaps)
        self._last = (prog, snaps_all)
        if commit:
            self.accept()
        return score_outputs(np.concatenate(outs), self.ref, self.labels, self.weights), prog

    def accept(self):
        """Make the last run the cached reference."""
        self.best_prog, self.snapshots = self._last

    def float_inputs(self, tensor):
        """The FP32 model's ``tensor`` on every calibration batch (inputs of conv/dense layers are kept)."""
        if self._float_in is None:
            keep = {n.inputs[0] for n in self.g.nodes if n.op in ("Conv", "Dense")}
            self._float_in = []
            for feeds in self.batches:
                env = run_graph(self.g, feeds)
                self._float_in.append({t: env[t] for t in keep if t in env})
        return [f[tensor] for f in self._float_in]

    def layer_data(self, plan, node, k):
        """`LayerData` of conv/dense ``node`` (graph index ``k``) under ``plan`` — its int8 calibration input, as
        the program computes it, beside the FP32 input — and that plan's int8 weights and exponents for it with
        round-to-nearest and no refinement."""
        base = plan.copy()
        base.layers[node.name] = base.layers.get(node.name, LayerChoice())
        for name, c in base.layers.items():     # this layer, and layers still to be fitted (they come later)
            if name == node.name or (base.needs_fit(name) and name not in base.fits):
                base.layers[name] = dataclasses.replace(c, w_fit=False, bias_corr=False)
        prog = self.build(base)
        j = next((i for i, s in enumerate(prog.steps) if s.node is not None and s.node.name == node.name and
                  isinstance(s, Gemm)), None)
        if j is None:
            raise CompileError(f"layer {node.name!r} does not run on VTA under this plan: nothing to refine")
        st = prog.steps[j]
        start = next(i for i, s in enumerate(prog.steps) if s.order >= k)
        cached = self.snapshots is not None and self._same_prefix(prog, start)
        head = dataclasses.replace(prog, steps=prog.steps[:j])
        xqs = []
        for bi, feeds in enumerate(self.batches):
            if cached and start in self.snapshots[bi]:
                env, s0 = dict(self.snapshots[bi][start]), start
            else:
                env, s0 = dict(feeds), 0
            env = run_program(head, None, self.g.consts, start=s0, env=env)
            xq = env[st.inputs[0]]
            xqs.append(xq + np.int16(st.x_offset) if st.x_offset else xq)    # the values q + offset stand for
        w, xf = self.g.consts[node.inputs[1]], self.float_inputs(node.inputs[0])
        if base.smooth:        # the smoothed layer: its weights and FP32 input with the factors folded in
            sm = smoothed(self.g, base, self.stats, self.build_cache)
            w = sm.graph.consts[st.node.inputs[1]]
            if node.inputs[0] in sm.scales:
                xf = [x / sm.scales[node.inputs[0]].astype(np.float32) for x in xf]
        d = LayerData(node.op, w, list(zip(xqs, xf)), st.e_x, st.geom if isinstance(st, Conv) else None)
        return d, st.w, st.e_w

    def fit(self, plan, node, k):
        """The `refine.LayerFit` for ``node``'s choice in ``plan``."""
        ch = plan.layers[node.name]
        d, wq, ew = self.layer_data(plan, node, k)
        if ch.w_fit and node.op == "Conv" and d.geom.groups != 1:
            raise CompileError(f"layer {node.name!r}: weight rounding fit supports ungrouped convolutions only")
        try:
            return fit_layer(d, wq, ew, ch.w_fit, ch.bias_corr, self.hw.wmax)
        except ValueError as e:
            raise CompileError(f"layer {node.name!r}: {e}") from None

    def _same_prefix(self, prog, start):
        if self.best_prog is None or len(self.best_prog.steps) < start:
            return False
        return all(type(a) is type(b) and a.outputs == b.outputs for a, b in zip(prog.steps[:start],
                                                                                 self.best_prog.steps[:start]))


def _better(new, best, extra_cost, host_gain, acc_tol):
    """Accept a candidate: never for lower top-1; for a top-1 gain ≥ ``acc_tol`` (the CPU needs ≥ ``host_gain``);
    otherwise (gain below the noise level of the calibration set) for a ≥ 1 % lower output error (10 % for
    per-channel scales, which cost extra GEMM calls, and exact weight scales, which cost an ALU pass)."""
    (a1, m1), (a0, m0) = new, best
    if a1 < a0:
        return False
    if extra_cost == "host":
        return a1 - a0 >= max(host_gain, 2 * acc_tol)
    if a1 - a0 >= acc_tol:
        return True
    return (-m1) < (0.9 if extra_cost == "channel" else 0.99) * (-m0)


def _with_layer(scorer, plan, node, k, choice):
    """``plan`` with ``choice`` for ``node``, its refinement data fitted when the choice asks for it."""
    trial = plan.copy()
    trial.layers[node.name] = choice
    trial.fits.pop(node.name, None)
    if trial.needs_fit(node.name):
        trial.fits[node.name] = scorer.fit(trial, node, k)
    return trial


def _free_exact(g, caps, plan, scorer, order):
    """``plan`` with an exact weight scale for every per-tensor VTA conv/dense layer that gets it for free — its
    input quantized on the host at a matching scale (`vta.quant.build`), no multiplier pass — or None when there
    is none. Tried once, before the per-layer choices: each layer's weight error is a small part of the model's,
    so the per-layer rule would rarely take one alone; together they are worth a trial."""
    trial, names = plan.copy(), []
    for n in g.nodes:
        c = trial.layers.get(n.name, LayerChoice())
        if n.op in ("Conv", "Dense") and caps[n.name].vta and c.place == "vta" and c.w_gran == "tensor" \
                and c.w_round != "exact":
            trial.layers[n.name] = dataclasses.replace(c, w_round="exact")
            names.append(n.name)
    if not names:
        return None
    probe = trial.copy()          # which layers get it free: a build without the refinements (fitted later)
    for name in names:
        probe.layers[name] = dataclasses.replace(probe.layers[name], w_fit=False, bias_corr=False)
    try:
        prog = scorer.build(probe)
    except CompileError:
        return None
    free = {st.node.name for st in prog.steps if isinstance(st, Gemm) and st.mult == 1 and st.node is not None}
    keep = [name for name in names if name in free]
    if not keep:
        return None
    out = plan.copy()
    for name in keep:
        out = _with_layer(scorer, out, g.node(name), order[name], trial.layers[name])
    return out


def fit_plan(g, caps, stats, hw, batches, plan):
    """Fit (in topological order) the refinement data of every layer whose choice asks for it; returns a plan."""
    plan = plan.copy()
    scorer = Scorer(g, caps, stats, hw, batches, None)
    for k, n in enumerate(g.nodes):
        if plan.needs_fit(n.name):
            plan = _with_layer(scorer, plan, n, k, plan.layers[n.name])
    return plan


def act_candidates(stats, qmax, exp_of=None):
    """Distinct exponents over calibration methods × roundings, each with the first (method, rounding) giving it.
    ``exp_of(method, rounding)``: the exponent rule when not the symmetric one (`vta.quant.offsets`)."""
    seen = {}
    for m in METHODS:
        for r in (ROUNDINGS if m != "mse" else ("ceil",)):
            e = exp_of(m, r) if exp_of is not None else exponent(stats, m, r, qmax)
            seen.setdefault(e, (m, r))
    return seen


def _exponent_rule(g, caps, plan, hw, st, t):
    """``(method, rounding) → exponent`` of tensor ``t`` with statistics ``st``: symmetric, or for a tensor that
    may be stored with an offset the rule of `vta.quant.offsets.act_exponent` (the builder uses the same)."""
    lows = offset_candidates(g, caps, plan)
    if t in lows:
        return lambda m, r: act_exponent(st, m, r, hw, lows[t])[0]
    return lambda m, r: exponent(st, m, r, hw.qmax)


def _act_order(exps, cur, patience):
    """Runs of candidate exponents: with ``patience``, nearest the current one first, below (descending) and
    above (ascending); without, one ascending run of them all."""
    if patience is None:
        return [[e for e in sorted(exps) if e != cur]]
    return [e for e in sorted(exps, reverse=True) if e < cur], [e for e in sorted(exps) if e > cur]


def greedy_search(g, caps, stats, hw, batches, ref, labels=None, plan=None, host_gain=0.01, log=None,
                  progress=None, acc_tol=None, refine=True, weights=None, patience=1, incremental=True):
    """Improve ``plan`` greedily; returns (plan, history, evaluations). ``history`` lists accepted changes.
    ``acc_tol`` (default: 2 samples of the calibration set) is the top-1 gain that counts without error gain.
    ``refine``: also decide, per VTA layer, empirical bias correction and the fitted weight rounding.
    ``weights``: per-sample weights of the accuracy term (`score_outputs`).

    Early stopping (``patience``): a tensor's candidate scales are tried nearest the current exponent first, in
    each direction (coarser, finer), and a direction is abandoned after ``patience`` consecutive candidates that
    are not accepted — moving a power-of-two scale further the same way only clips more (coarser) or saturates
    more (finer) once one step did not help. ``patience=None`` tries every candidate, in ascending order.
    ``incremental=False`` simulates every candidate from the start (same result, slower: for tests). Skipped without a
    simulation, as they could never be accepted: the CPU placement when the required top-1 gain exceeds what is
    left to gain, and a weight rounding fit of a layer too large for it (`vta.quant.refine.MAX_FIT_WORK`)."""
    plan = Plan() if plan is None else plan.copy()
    scorer = Scorer(g, caps, stats, hw, batches, ref, labels, weights, incremental)
    if any(plan.needs_fit(n.name) and n.name not in plan.fits for n in g.nodes):
        plan = fit_plan(g, caps, stats, hw, batches, plan)
    counted = len(ref) if weights is None else float(np.sum(weights))
    acc_tol = 2.0 / max(counted, 1) if acc_tol is None else acc_tol
    best, _ = scorer.run(plan, 0, commit=True)
    history = [dict(change="start", score=best)]
    order = {n.name: k for k, n in enumerate(g.nodes)}
    trial = _free_exact(g, caps, plan, scorer, order)
    if trial is not None:
        try:
            s, _ = scorer.run(trial, 0)
        except CompileError:
            s = None
        if s is not None and _better(s, best, None, host_gain, acc_tol):
            plan, best = trial, s
            scorer.accept()
            history.append(dict(change="VTA layers with a host input: w_round=exact", score=s))
    consumers = g.consumers()
    points = []
    groups = smooth_points(g, caps, scorer.build_cache)
    fresh = _fresh_inputs(g, caps, stats)
    seen = set()
    for k, n in enumerate(g.nodes):
        if n.name in groups:
            points.append(("smooth", groups[n.name], k))
        for t in n.inputs[:2] if caps[n.name].vta else ():
            if t in fresh and t not in seen:
                seen.add(t)
                points.append(("act", t, k))
        if n.op in ("Conv", "Dense") and caps[n.name].vta:
            points.append(("layer", n, k))
        if (n.op in ("Conv", "Dense", "Add", "Concat") or (n.op == "MatMul" and caps[n.name].vta)) and \
                n.outputs[0] in stats:
            points.append(("act", n.outputs[0], k))
    for t in g.inputs:
        users = consumers.get(t, [])
        if users and t in stats:
            points.insert(0, ("act", t, min(order[u.name] for u in users)))
    for kind, what, k in (points if progress is None else progress(points)):
        if kind == "layer":
            cur = plan.layers.get(what.name, LayerChoice())
            fields = [("w_gran", ("tensor", "channel")), ("w_round", ("ceil", "nearest", "exact")),
                      ("place", ("vta", "host"))]
            if refine:
                fields += [("bias_corr", (False, True)), ("w_fit", (False, True))]
            for field, values in fields:
                for v in values:
                    if getattr(cur, field) == v or (field in ("bias_corr", "w_fit") and cur.place != "vta"):
                        continue
                    if v == "host" and best[0] + max(host_gain, 2 * acc_tol) > 1 + 1e-12:
                        continue                  # the CPU could not gain the top-1 it must pay for
                    if field == "w_fit" and v and not _fit_size_ok(g, what):
                        continue
                    cand = dataclasses.replace(cur, **{field: v})
                    try:
                        trial = _with_layer(scorer, plan, what, k, cand)
                        s, _ = scorer.run(trial, k)
                    except CompileError:      # e.g. a refinement this layer cannot have
                        continue
                    cost = "host" if v == "host" else "channel" if v in ("channel", "exact") else None
                    if _better(s, best, cost, host_gain, acc_tol):
                        plan, best, cur = trial, s, cand
                        scorer.accept()
                        history.append(dict(change=f"{what.name}: {field}={v}", score=s))
        elif kind == "smooth":
            for alpha in ALPHAS:
                trial = plan.copy()
                trial.smooth[what.tensor] = alpha
                try:
                    for name in what.layers:     # fitted refinements of its layers belong to the old weights
                        trial.fits.pop(name, None)
                        if trial.needs_fit(name):
                            trial = _with_layer(scorer, trial, g.node(name), order[name], trial.layers[name])
                    # the fold node may sit in a host subgraph that starts earlier: resume before that step
                    k0 = min((st.order for st in scorer.build(trial).steps if what.fold_node in
                              [m.name for m in (getattr(st, "members", None) or [st.node]) if m is not None]),
                             default=0)
                    s, _ = scorer.run(trial, min(k, k0))
                except CompileError:
                    continue
                if _better(s, best, None, host_gain, acc_tol):
                    plan, best = trial, s
                    scorer.accept()
                    history.append(dict(change=f"{what.tensor}: smoothing alpha={alpha}", score=s))
        else:
            st = smoothed(g, plan, stats, scorer.build_cache).stats[what] if plan.smooth else stats[what]
            exp_of = _exponent_rule(g, caps, plan, hw, st, what)
            cands = act_candidates(st, hw.qmax, exp_of)
            cur = exp_of(*plan.act.get(what, plan.default_act))
            for run in _act_order(cands, cur, patience):
                misses = 0
                for e in run:
                    if patience is not None and misses >= patience:
                        break
                    choice = cands[e]
                    trial = plan.copy()
                    trial.act[what] = choice
                    try:
                        s, _ = scorer.run(trial, k)
                    except CompileError:          # a fitted layer's weight exponents would have to change
                        misses += 1
                        continue
                    if _better(s, best, None, host_gain, acc_tol):
                        plan, best, cur, misses = trial, s, e, 0
                        scorer.accept()
                        history.append(dict(change=f"{what}: scale 2^{e} ({choice[0]}, {choice[1]})", score=s))
                    else:
                        misses += 1
        if log:
            log(f"{kind} {getattr(what, 'name', getattr(what, 'tensor', what))}: best {best}")
    return plan, history, scorer.evals


def smooth_points(g, caps, cache):
    """``{fold node name: SmoothGroup}`` of the activations worth smoothing: read by at least one VTA layer."""
    if "smooth groups" not in cache:
        cache["smooth groups"] = find_groups(g)
    return {grp.fold_node: grp for grp in cache["smooth groups"].values()
            if any(caps[name].vta for name in grp.layers)}


def _fresh_inputs(g, caps, stats):
    """Operands of VTA conv/dense/matmul layers that the program quantizes from a float host result (a
    LayerNorm's or a softmax's output, possibly reshaped in float): their scale is a choice of its own. (Outputs
    of VTA layers and graph inputs are points already; ReLU, pooling and layout ops of int8 data keep their
    input's scale.)"""
    prod = g.producer()

    def source(t):           # the first producer above ``t`` that is not a layout op
        p = prod.get(t)
        while p is not None and p.op in LAYOUT_OPS and p.inputs:
            p = prod.get(p.inputs[0])
        return p
    out = set()
    for n in g.nodes:
        if n.op not in ("Conv", "Dense", "MatMul") or not caps[n.name].vta:
            continue
        for t in n.inputs[:1] if n.op != "MatMul" else n.inputs[:2]:
            p = source(t)
            if p is not None and t in stats and not caps[p.name].vta and \
                    p.op not in ("Conv", "Dense", "Add", "Concat", "MatMul", "Relu", "MaxPool"):
                out.add(t)
    return out


def _fit_size_ok(g, node):
    """Whether `vta.quant.refine.fit_rounding` accepts ``node``'s weights (its sweep cost K·K·O is bounded)."""
    w = g.consts[node.inputs[1]]
    k = int(np.prod(w.shape[1:]))
    return float(k) * k * w.shape[0] <= MAX_FIT_WORK
