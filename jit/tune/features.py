"""Features of a (config, task, point) for the cost model, and the analytic estimate used as its prior.

Everything is config-relative (block counts, buffer fill fractions) plus the config itself, so a model trained on
one config ranks schedules on another (transfer). The analytic estimate extends `conv2d_cost` by what it leaves
out: the ALU epilogue (one pass: the MOV that starts a tile's acc at its bias, about one cycle per acc element
plus the uop loop overheads — the shift and clips are the last GEMM's requantizing out write, free; GEMM and ALU
share the compute pipeline, `vta.jit.ops.conv2d`), which weighs on 1×1 layers, and the partial tiles at the edges
of an axis that a size not dividing it leaves.

`feature_table` computes the same rows for a whole column set of schedules (`vta.jit.tune.space.Tiles`) at once in
numpy — scoring a new layer shape featurises ~10⁴ candidates, which one at a time cost seconds of a cold first
run. It is bit-identical to stacking `features` (the same integer arithmetic, the same float operations in the
same order, and ``math.log2`` itself on each distinct value), so the model ranks and picks exactly as before;
tests/jit/test_tune_choose.py holds it to that.
"""

import math

import numpy as np

from ..schedule import TileCounts, conv2d_cost, conv2d_needs

__all__ = ["features", "estimate", "feature_table", "FEATURE_NAMES", "EPILOGUE_PASSES"]

EPILOGUE_PASSES = 1   # ALU passes over a tile's acc per conv tile (the bias MOV); 4 before requantizing writes

FEATURE_NAMES = (
    "tile_b", "tile_h", "tile_w", "tile_ci", "tile_co", "vthreads", "fold",
    "n_b", "n_h", "n_w", "n_ci", "n_co", "tiles", "chunks",
    "fill_inp", "fill_wgt", "fill_acc", "fill_uop", "edge_waste",
    "est_load", "est_compute", "est_store", "est_alu", "est_insns", "est_total", "cost_heuristic",
    "cb", "ob", "nb", "oh", "ow", "kh", "kw", "stride_h", "stride_w", "row_skip",
    "log_batch", "log_block_in", "log_block_out", "log_inp", "log_wgt", "log_acc", "log_uop", "log_bus",
)


def _l2(v):
    return math.log2(max(v, 1e-9))


def _terms(cfg, g, s):
    t = TileCounts.of(cfg, g, s)
    th_n, tw_n, ci_n, co_n, b_n = t.th_n, t.tw_n, t.ci_n, t.co_n, t.b_n
    tiles, chunks, load = t.tiles, t.chunks, t.load
    compute = g.nb * g.ob * g.cb * g.oh * g.ow * g.kh * g.kw + 8 * chunks * s.tile_co * s.tile_ci
    acc = g.nb * g.ob * g.oh * g.ow
    alu = EPILOGUE_PASSES * acc + 30 * tiles * s.tile_b * s.tile_co
    store_rows = tiles * s.tile_b * s.tile_co * (1 if s.tile_w == g.ow else s.tile_h)
    store = acc * cfg.out_elem_bytes / cfg.bus_bytes + 8 * store_rows
    insns = chunks * (s.tile_b * s.tile_ci + 3) + tiles * (3 + s.tile_b * s.tile_co)
    if s.n_vthreads == 2:
        total = max(load, compute + alu, store) + 4 * insns
    else:
        total = load + compute + alu + store + 4 * insns
    edge = (th_n * s.tile_h * tw_n * s.tile_w) / (g.oh * g.ow)
    return dict(th_n=th_n, tw_n=tw_n, ci_n=ci_n, co_n=co_n, b_n=b_n, tiles=tiles, chunks=chunks, load=load,
                compute=compute, alu=alu, store=store, insns=insns, total=total, edge=edge)


def estimate(cfg, g, s):
    """Analytic cycles of schedule ``s`` for geometry ``g`` on ``cfg`` (the prior before any measurement)."""
    return _terms(cfg, g, s)["total"]


def features(cfg, g, point):
    """The feature vector (`FEATURE_NAMES`) of ``point`` (its geometry ``g``) on ``cfg``."""
    s = point.schedule
    t = _terms(cfg, g, s)
    needs = conv2d_needs(g, s)
    return np.array([
        _l2(s.tile_b), _l2(s.tile_h), _l2(s.tile_w), _l2(s.tile_ci), _l2(s.tile_co), s.n_vthreads,
        float(point.layout != "nchw"),
        _l2(t["b_n"]), _l2(t["th_n"]), _l2(t["tw_n"]), _l2(t["ci_n"]), _l2(t["co_n"]), _l2(t["tiles"]),
        _l2(t["chunks"]),
        needs["inp"] / cfg.inp_depth, needs["wgt"] / cfg.wgt_depth, needs["acc"] / cfg.acc_depth,
        needs["uop"] / cfg.uop_depth, t["edge"],
        _l2(t["load"]), _l2(t["compute"]), _l2(t["store"]), _l2(t["alu"]), _l2(t["insns"]), _l2(t["total"]),
        _l2(conv2d_cost(cfg, g, s)),
        _l2(g.cb), _l2(g.ob), _l2(g.nb), _l2(g.oh), _l2(g.ow), g.kh, g.kw, g.stride[0], g.stride[1],
        float(g.row_skip),
        cfg.log_batch, cfg.log_block_in, cfg.log_block_out, _l2(cfg.inp_depth), _l2(cfg.wgt_depth),
        _l2(cfg.acc_depth), _l2(cfg.uop_depth), cfg.log_bus_width,
    ], dtype=np.float32)


def _l2v(v):
    """`_l2` of every element (float64): ``math.log2`` on each distinct value, so not one bit differs from it."""
    v = np.maximum(np.asarray(v, np.float64), 1e-9)
    u, inv = np.unique(v, return_inverse=True)
    return np.array([math.log2(x) for x in u.tolist()], np.float64)[inv.reshape(v.shape)]


def _terms_table(cfg, g, s):
    """`TileCounts.of`, `_terms` and `conv2d_cost` over the columns ``s``: int64 where the scalar code has ints,
    float64 where it has floats, each float operation in the scalar code's order."""
    oh, ow, nb, cb, ob, kh, kw = g.oh, g.ow, g.nb, g.cb, g.ob, g.kh, g.kw
    S = s.n_vthreads
    th_n, tw_n = -(-oh // s.tile_h), -(-ow // s.tile_w)
    ci_n, co_n, b_n = -(-cb // s.tile_ci), -(-ob // s.tile_co), -(-nb // s.tile_b)
    tiles = th_n * tw_n * co_n * b_n
    chunks = tiles * ci_n
    ih, iw = g.in_rows(s.tile_h), g.in_cols(s.tile_w)
    inp_bytes = chunks * s.tile_b * s.tile_ci * ih * iw * cfg.inp_elem_bytes
    wgt_loads = np.where((co_n == 1) & (ci_n == 1), S, chunks)
    wgt_bytes = wgt_loads * s.tile_co * s.tile_ci * kh * kw * cfg.wgt_elem_bytes
    load_rows = chunks * s.tile_b * s.tile_ci * ih + wgt_loads * s.tile_co
    load = (inp_bytes + wgt_bytes) / cfg.bus_bytes + 8 * load_rows
    compute = nb * ob * cb * oh * ow * kh * kw + 8 * chunks * s.tile_co * s.tile_ci
    acc = nb * ob * oh * ow
    alu = EPILOGUE_PASSES * acc + 30 * tiles * s.tile_b * s.tile_co
    store_rows = tiles * s.tile_b * s.tile_co * np.where(s.tile_w == ow, 1, s.tile_h)
    store = acc * cfg.out_elem_bytes / cfg.bus_bytes + 8 * store_rows
    insns = chunks * (s.tile_b * s.tile_ci + 3) + tiles * (3 + s.tile_b * s.tile_co)
    two = S == 2
    total = np.where(two, np.maximum(np.maximum(load, (compute + alu).astype(np.float64)), store),
                     load + compute + alu + store) + 4 * insns
    # conv2d_cost: its own compute and store terms, the same load and instruction counts
    h_compute = nb * ob * cb * oh * ow * kh * kw + 8 * nb * ob * oh * ow
    h_store = nb * ob * oh * ow * cfg.out_elem_bytes / cfg.bus_bytes + 8 * tiles * s.tile_b * s.tile_co * s.tile_h
    heuristic = np.where(two, np.maximum(np.maximum(load, float(h_compute)), h_store),
                         load + h_compute + h_store) + 4 * insns
    edge = (th_n * s.tile_h * tw_n * s.tile_w) / (oh * ow)
    return dict(th_n=th_n, tw_n=tw_n, ci_n=ci_n, co_n=co_n, b_n=b_n, tiles=tiles, chunks=chunks, load=load,
                compute=compute, alu=alu, store=store, insns=insns, total=total, edge=edge, heuristic=heuristic)


def feature_table(cfg, g, s, fold):
    """(X, estimates): the `features` rows (float32, one per schedule of the `Tiles` ``s`` on geometry ``g``;
    ``fold``: the layout is not "nchw") and `estimate` of each (float64)."""
    n = len(s)
    t = _terms_table(cfg, g, s)
    needs = conv2d_needs(g, s)

    def col(v):
        return np.broadcast_to(np.asarray(v, np.float64), (n,))

    cols = [
        _l2v(s.tile_b), _l2v(s.tile_h), _l2v(s.tile_w), _l2v(s.tile_ci), _l2v(s.tile_co), col(s.n_vthreads),
        col(float(fold)),
        _l2v(t["b_n"]), _l2v(t["th_n"]), _l2v(t["tw_n"]), _l2v(t["ci_n"]), _l2v(t["co_n"]), _l2v(t["tiles"]),
        _l2v(t["chunks"]),
        col(needs["inp"] / cfg.inp_depth), col(needs["wgt"] / cfg.wgt_depth), col(needs["acc"] / cfg.acc_depth),
        col(needs["uop"] / cfg.uop_depth), col(t["edge"]),
        _l2v(t["load"]), _l2v(t["compute"]), _l2v(t["store"]), _l2v(t["alu"]), _l2v(t["insns"]),
        _l2v(t["total"]), _l2v(t["heuristic"]),
    ]
    const = [_l2(g.cb), _l2(g.ob), _l2(g.nb), _l2(g.oh), _l2(g.ow), g.kh, g.kw, g.stride[0], g.stride[1],
             float(g.row_skip), cfg.log_batch, cfg.log_block_in, cfg.log_block_out, _l2(cfg.inp_depth),
             _l2(cfg.wgt_depth), _l2(cfg.acc_depth), _l2(cfg.uop_depth), cfg.log_bus_width]
    X = np.empty((n, len(FEATURE_NAMES)), np.float32)
    X[:, :len(cols)] = np.stack(cols, 1) if n else np.empty((0, len(cols)))
    X[:, len(cols):] = np.array(const, np.float32)
    return X, np.asarray(t["total"], np.float64)
