"""Features of a (config, task, point) for the cost model, and the analytic estimate used as its prior.

Everything is config-relative (block counts, buffer fill fractions) plus the config itself, so a model trained on
one config ranks schedules on another (transfer). The analytic estimate extends `conv2d_cost` by what it leaves
out: the ALU epilogue (the bias start, shift, two clips — `vta.jit.ops.conv2d`'s fused bias epilogue: about one
cycle per acc element each, plus the uop loop overheads; GEMM and ALU share the compute pipeline) which dominates
1×1 layers, and the partial tiles at the edges of an axis that a size not dividing it leaves.
"""

import math

import numpy as np

from ..schedule import TileCounts, conv2d_cost, conv2d_needs

__all__ = ["features", "estimate", "FEATURE_NAMES"]

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
    alu = 4 * acc + 30 * tiles * (3 + s.tile_b * s.tile_co)
    store_rows = tiles * s.tile_b * s.tile_co * (1 if s.tile_w == g.ow else s.tile_h)
    store = acc * cfg.out_elem_bytes / cfg.bus_bytes + 8 * store_rows
    insns = chunks * (s.tile_b * s.tile_ci + 3) + tiles * (6 + s.tile_b * s.tile_co)
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
