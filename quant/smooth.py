"""SmoothQuant-style activation smoothing: per-channel factors migrated from an activation into the weights of the
layers that read it, exact in float.

Why: a transformer's LayerNorm outputs have a few channels of much larger range than the rest. One int8 scale per
tensor (all VTA has: one shift per GEMM) must cover the largest channel, so the small channels keep few levels.
Dividing channel ``j`` of the activation ``X`` by ``s_j`` and multiplying input channel ``j`` of every weight
that reads it by ``s_j`` leaves every product — and so the float model — unchanged, and moves range from the
activation into the weights, which have scales to spare (Xiao et al., "SmoothQuant", 2023):

    s_j = max|X_j|^α / max|W_j|^(1−α)      (α = 0: nothing moves; α = 1: the activation becomes flat)

with ``max|W_j|`` over every reading layer's input channel ``j``. The division must be folded into whatever
produces ``X``, exactly: here a LayerNormalization's scale and bias (opset ≥ 17), or the ``Mul`` by the scale
and ``Add`` of the bias that end a LayerNorm written out in elementary ops (older opsets) — any per-last-channel
affine ``X = z·γ (+ β)`` with constant ``γ``, ``β``. ``X`` may reach its layers through ops that keep the last
axis as the channel axis unchanged (Reshape/Flatten keeping the last dimension, ReduceMean over other axes: the
mean over tokens before a classifier head); every reader must end in a Dense (``x · Wᵀ``) or a MatMul by a
constant matrix (a Shape reader is ignored: it sees no values), else the group is not smoothed (a non-linear
reader would change the model).

`find_groups` lists the groups of a graph; `apply` returns the graph with smoothing factors folded in (new
constants, new node objects for the rewritten nodes, the rest shared) and the calibration statistics of the
changed tensors derived exactly (`vta.quant.calibrate.TensorStats.scaled`). The quantization plan holds α per
group (`Plan.smooth`), the search tries `ALPHAS` per group scored on calibration data like every other choice.
"""

import copy
import dataclasses

import numpy as np

from ..compiler.ir import CompileError

__all__ = ["SmoothGroup", "Smoothed", "find_groups", "factors", "apply", "ALPHAS"]

ALPHAS = (0.25, 0.5, 0.75)        # tried by the search besides 0 (no smoothing)
_KEEP_LAST = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"}


@dataclasses.dataclass(frozen=True)
class SmoothGroup:
    """Activation ``tensor`` (``channels`` along its last axis), the node computing it (``fold_node``), the
    constants divided by the factors as (node name, constant name) pairs (``fold``), the tensors on the way to
    the layers (``path``, ``tensor`` first) and the reading layers (``layers``: Dense or MatMul by a constant)."""
    tensor: str
    channels: int
    fold_node: str
    fold: tuple
    path: tuple
    layers: tuple


@dataclasses.dataclass
class Smoothed:
    """A graph with smoothing applied: ``graph``, ``stats`` (those of the changed tensors replaced) and the
    per-channel factor dividing each changed tensor (``scales``: tensor → s)."""
    graph: object
    stats: dict
    scales: dict


def _per_last(g, name, c):
    """Whether constant ``name`` broadcasts along the last axis only (shape (c,) or (1, …, 1, c))."""
    if name not in g.consts:
        return False
    shp = np.shape(g.consts[name])
    return len(shp) >= 1 and shp[-1] == c and int(np.prod(shp)) == c


def _fold_site(g, n, cons, prod):
    """(X, ((node, constant to divide), …)) when ``n`` computes ``X`` as a per-last-channel affine of constants,
    else None."""
    y = n.outputs[0] if n.outputs else None
    shp = g.shapes.get(y) if y else None
    if not shp:
        return None
    c = shp[-1]
    if n.op == "LayerNormalization":
        axis = n.attr("axis", -1)
        if axis not in (-1, len(shp) - 1) or any(o and cons.get(o) for o in n.outputs[1:]):
            return None
        ks = [k for k in n.inputs[1:3] if k]
        return (y, tuple((n.name, k) for k in ks)) if all(_per_last(g, k, c) for k in ks) else None
    if n.op not in ("Add", "Mul") or len(n.inputs) != 2:
        return None
    consts = [k for k in n.inputs if k in g.consts]
    if len(consts) != 1 or not _per_last(g, consts[0], c):
        return None
    other = n.inputs[1] if n.inputs[0] == consts[0] else n.inputs[0]
    if g.shapes.get(other) != shp:
        return None
    if n.op == "Mul":
        users = cons.get(y, [])
        if len(users) == 1 and _fold_site(g, users[0], cons, prod) is not None:
            return None       # the Add after it is the site (it folds this Mul's γ too)
        return y, ((n.name, consts[0]),)
    m = prod.get(other)       # Add: the bias of z·γ + β; the Mul must feed only this Add
    if m is None or m.op != "Mul" or len(cons.get(other, [])) != 1:
        return None
    mc = [k for k in m.inputs if k in g.consts]
    if len(mc) != 1 or not _per_last(g, mc[0], c) or g.shapes.get(next(k for k in m.inputs if k != mc[0])) != shp:
        return None
    return y, ((m.name, mc[0]), (n.name, consts[0]))


def _readers(g, t, c, cons, path, layers):
    """Follow ``t`` to the layers reading it; False if some reader is not linear per last-axis channel."""
    users = cons.get(t, [])
    if not users or t in g.outputs:
        return False
    for u in users:
        if u.op == "Shape":       # reads the shape only (a dynamic-batch export's reshape targets)
            continue
        if u.inputs[0] != t or t in u.inputs[1:]:
            return False
        out = u.outputs[0]
        if u.op == "Dense" and u.inputs[1] in g.consts and np.shape(g.consts[u.inputs[1]])[1:] == (c,):
            layers.append(u.name)
        elif u.op == "MatMul" and u.inputs[1] in g.consts and np.ndim(g.consts[u.inputs[1]]) == 2 and \
                np.shape(g.consts[u.inputs[1]])[0] == c:
            layers.append(u.name)
        elif u.op in _KEEP_LAST and g.shapes.get(out, (None,))[-1] == c:
            path.append(out)
            if not _readers(g, out, c, cons, path, layers):
                return False
        elif u.op == "ReduceMean" and g.shapes.get(out, (None,))[-1] == c and _keeps_last(g, u, t):
            path.append(out)
            if not _readers(g, out, c, cons, path, layers):
                return False
        else:
            return False
    return True


def _keeps_last(g, n, t):
    nd = len(g.shapes[t])
    axes = n.attr("axes")
    if axes is None and len(n.inputs) > 1 and n.inputs[1]:
        axes = g.consts.get(n.inputs[1])
    if axes is None:
        return False
    return all(int(a) % nd != nd - 1 for a in np.reshape(axes, -1))


def find_groups(g):
    """``{activation tensor: SmoothGroup}`` of every activation of ``g`` that can be smoothed exactly."""
    cons, prod = g.consumers(), g.producer()
    out = {}
    for n in g.nodes:
        site = _fold_site(g, n, cons, prod)
        if site is None:
            continue
        x, fold = site
        path, layers = [x], []
        if _readers(g, x, g.shapes[x][-1], cons, path, layers) and layers:
            out[x] = SmoothGroup(x, int(g.shapes[x][-1]), n.name, fold, tuple(path), tuple(layers))
    return out


def _w_in(g, node):
    """A reading layer's weights with input channels on the last axis (a view: Dense W is (M, K), MatMul B (K, M))."""
    w = g.consts[node.inputs[1]]
    return w if node.op == "Dense" else w.T


def factors(xmax, wmax, alpha):
    """SmoothQuant's per-channel factors ``s = xmax^α / wmax^(1−α)``; 1 where a channel is all zero (in the
    activation or the weights), bounded to 2^±16 so no channel is pushed out of float range."""
    xmax, wmax = np.asarray(xmax, np.float64), np.asarray(wmax, np.float64)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"smoothing alpha must be in [0, 1], not {alpha}")
    ok = (xmax > 0) & (wmax > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(ok, np.power(np.where(ok, xmax, 1.0), alpha) / np.power(np.where(ok, wmax, 1.0), 1 - alpha),
                     1.0)
    return np.clip(s, 2.0 ** -16, 2.0 ** 16)


def apply(g, smooth, stats, groups=None):
    """``g`` with the factors of ``smooth`` ({tensor: α}; α 0 is no change) folded in, as a `Smoothed`."""
    groups = find_groups(g) if groups is None else groups
    if not any(a for a in smooth.values()):
        return Smoothed(g, stats, {})
    g2 = copy.copy(g)
    g2.consts, g2.shapes, g2.nodes = dict(g.consts), dict(g.shapes), list(g.nodes)
    stats2, scales = dict(stats), {}
    index = {n.name: k for k, n in enumerate(g2.nodes)}
    for x, alpha in sorted(smooth.items()):
        if not alpha:
            continue
        grp = groups.get(x)
        if grp is None:
            raise CompileError(f"tensor {x!r} cannot be smoothed: it is not a per-channel affine output read only "
                               f"by Dense/MatMul layers")
        st = stats.get(x)
        if st is None or st.channels != grp.channels:
            raise CompileError(f"smoothing {x!r} needs its per-channel calibration statistics")
        wmax = np.max([np.abs(_w_in(g, g.node(name))).reshape(-1, grp.channels).max(axis=0)
                       for name in grp.layers], axis=0)
        s = factors(st.chan_absmax, wmax, alpha)
        tag = f"@smooth{alpha:g}"
        for name, k in grp.fold:
            v = g.consts[k].astype(np.float64)
            g2.consts[k + tag] = (v / s.reshape(v.shape)).astype(g.consts[k].dtype)
            g2.shapes[k + tag] = np.shape(v)
            n = g2.nodes[index[name]]
            g2.nodes[index[name]] = dataclasses.replace(n, inputs=[k + tag if i == k else i for i in n.inputs])
        for name in grp.layers:
            n = g2.nodes[index[name]]
            w = g.consts[n.inputs[1]].astype(np.float64)
            w = w * s if n.op == "Dense" else w * s[:, None]
            wk = n.inputs[1] + tag
            g2.consts[wk], g2.shapes[wk] = w.astype(g.consts[n.inputs[1]].dtype), np.shape(w)
            g2.nodes[index[name]] = dataclasses.replace(n, inputs=[n.inputs[0], wk] + list(n.inputs[2:]))
        for t in grp.path:
            scales[t] = s
            if t in stats:
                stats2[t] = stats[t].scaled(1.0 / s)
    return Smoothed(g2, stats2, scales)
