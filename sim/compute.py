"""The GEMM and ALU loop nests, vectorized over a whole instruction with numpy.

Both instructions run the same three-deep loop (``i < iter_out``, ``j < iter_in``, ``u`` over the uop range);
`iteration_chunks` and `nest_index` turn it into flat index arrays in program order (chunked to bound memory).

GEMM sums are order-independent modulo 2³², so a GEMM is: gather the input tiles, multiply them by their weight
tiles with BLAS (int8·int8 products summed over ≤ 64 lanes stay below 2²¹, exact in float32), add the
contributions of every iteration that targets the same acc entry (in float64, exact far beyond any chunk), and
wrap once into the int32 accumulator. That equals the sequential definition bit for bit. A conv-shaped GEMM —
every acc entry receives the same number k of contributions, from one of a few sequences of weight tiles
(`gemm_plan`) — folds that sum into the product instead: the k input tiles of an entry side by side (im2col)
times the k weight tiles stacked, one BLAS product per sequence, exact in float32 while k·BLOCK_IN ≤ 2¹⁰
(larger k: float32 products of ≤ 2¹⁰ lanes added in float64).

ALU iterations can depend on each other (an iteration reading or rewriting an entry an earlier iteration wrote),
so an ALU instruction is cut into maximal hazard-free runs (`hazard_free_starts`) and each run is applied in one
vectorized step; a kernel without hazards is a single step, an in-place chain degrades to exact sequential steps.
"""

import numpy as np

from ..isa.opcodes import AluOp
from . import fsim_blas

__all__ = ["iteration_chunks", "nest_index", "gemm_plan", "gemm_accumulate", "gemm_reset", "alu_apply", "alu_run",
           "hazard_free_starts", "out_value"]


def iteration_chunks(iter_out, iter_in, n_uops, max_iters):
    """``(i, j)`` int64 arrays covering ``range(iter_out) × range(iter_in)`` in loop order, in pieces such that
    ``len(i)·len(j)·n_uops ≤ max_iters`` whenever possible (a single ``(i, j)`` pair is never split)."""
    per_i = iter_in * n_uops
    if per_i <= max_iters:
        step = max(1, max_iters // per_i)
        j = np.arange(iter_in, dtype=np.int64)
        for i0 in range(0, iter_out, step):
            yield np.arange(i0, min(iter_out, i0 + step), dtype=np.int64), j
    else:
        step = max(1, max_iters // n_uops)
        for i in range(iter_out):
            for j0 in range(0, iter_in, step):
                yield np.array([i], dtype=np.int64), np.arange(j0, min(iter_in, j0 + step), dtype=np.int64)


def nest_index(base, factor_out, factor_in, i, j):
    """``base[u] + i·factor_out + j·factor_in`` flattened in (i, j, u) loop order."""
    return (base[None, None, :] + (i * factor_out)[:, None, None] + (j * factor_in)[None, :, None]).ravel()


def out_value(values, q=None):
    """What an instruction writes to out for the int32 results ``values``: their low 8 bits, or — a ``requant``
    word, ``q = (shift, lo, hi)`` from the SETQ register — ``clip(values >> shift, lo, hi)`` (arithmetic shift),
    one vectorized shift and clip."""
    if q is None:
        return values.astype(np.int8)
    shift, lo, hi = q
    v = values >> shift
    np.clip(v, lo, hi, out=v)
    return v.astype(np.int8)


def _write_back(acc, out, idx, values, q=None):
    """``acc[idx] = values`` (int32) and ``out[idx] = out_value(values, q)``; ``idx`` has no duplicates."""
    acc[idx] = values
    out[idx] = out_value(values, q)


def _span(index):
    """``(lo, hi)`` when ``index`` is ``lo, lo+1, …, hi−1`` in order (a slice can replace it), else False."""
    lo = int(index[0])
    hi = lo + index.size
    return (lo, hi) if int(index[-1]) == hi - 1 and np.array_equal(index, np.arange(lo, hi)) else False


def gemm_reset(acc, out, d):
    """``acc[d] = 0; out[d] = 0`` for every iteration (a requantized 0 is 0 too, whatever the SETQ register)."""
    acc[d] = 0
    out[d] = 0


def _group_bounds(sorted_keys):
    """Start offsets of the runs of equal values in a sorted 1-D array."""
    cuts = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    return np.concatenate(([0], cuts))


# Exact float32 reductions: every int8·int8 product has magnitude ≤ 2^14, so a sum of at most 2^10 of them (and
# every partial sum, in any order) is an integer of magnitude ≤ 2^24, which float32 represents exactly.
EXACT_F32_LANES = 1 << 10
_ROW_HASH = np.random.default_rng(0x5EED).integers(1, 1 << 62, size=4096, dtype=np.int64)


# OpenBLAS runs a product on several threads once M·N·K passes 2^18 (its GEMM_MULTITHREAD_THRESHOLD × 65536); on a
# shared machine that costs milliseconds of thread hand-off for a sub-millisecond product. `_matmul` keeps each
# BLAS call below it by stacking row blocks (numpy's matmul calls BLAS once per stacked matrix).
_BLAS_SINGLE_THREAD_MNK = 1 << 18


def _matmul(x, w):
    """``x @ w`` for 2-D float32 ``x`` (M, K) and ``w`` (K, N), as single-threaded BLAS calls: one call when
    `vta.sim.fsim_blas` has limited BLAS to one thread, else stacked row blocks below the threading threshold."""
    if fsim_blas.active:
        return x @ w
    m, kk = x.shape
    n = w.shape[1]
    rows = max(1, _BLAS_SINGLE_THREAD_MNK // max(1, kk * n))
    if m <= rows:
        return x @ w
    y = np.empty((m, n), dtype=np.float32)
    full = m - m % rows
    np.matmul(x[:full].reshape(-1, rows, kk), w, out=y[:full].reshape(-1, rows, n))
    if full < m:
        np.matmul(x[full:], w, out=y[full:])
    return y


def _gather_rows(a, index):
    """``a[index]`` for a C-contiguous ``a`` of shape (rows, ...): rows moved as single opaque items, which numpy
    copies several times faster than fancy indexing with trailing dimensions."""
    if not a.flags.c_contiguous or a.ndim < 2:
        return a[index]
    items = a.reshape(a.shape[0], -1).view(f"V{a[0].nbytes}").reshape(a.shape[0])
    return np.take(items, index).view(a.dtype).reshape(*index.shape, *a.shape[1:])


def gemm_plan(d, s, w):
    """What `gemm_accumulate` needs to know of the index arrays alone (a pure function of them, so a caller may
    keep it for identical arrays): for a GEMM whose targets all receive the same number ``k`` of contributions
    and fall into a few *patterns* (the same weight tiles in the same order) ``(targets, src, heads, ends)`` —
    targets grouped by pattern, pattern p the rows up to ``ends[p]`` with weight tiles ``heads[p]`` — else None.
    ``src`` is ``(t, k)``, the input rows of each target; or, when every pattern reads the same rows in the same
    order, ``(t / patterns, k)``: those rows once (`_gemm_patterns` then makes one product for all patterns)."""
    n = d.size
    counts = np.bincount(d)
    targets = np.flatnonzero(counts)
    t = targets.size
    k = n // t
    if k < 2 or k * t != n or counts[targets].min() != k or k > _ROW_HASH.size:
        return None
    order = np.argsort(d, kind="stable")
    ws = w[order].reshape(t, k)
    if (ws == ws[0]).all():
        pattern = np.zeros(t, dtype=np.int64)
        heads = ws[:1]
    else:
        keys = ws @ _ROW_HASH[:k]                    # wraps; equal rows → equal keys (checked exactly below)
        _, first, pattern = np.unique(keys, return_index=True, return_inverse=True)
        # number the patterns in the order of their first target, so that targets grouped by pattern stay in
        # ascending order where they can (a conv tile's output-channel blocks: one acc range, `_span`)
        rank = np.argsort(first)
        relabel = np.empty_like(rank)
        relabel[rank] = np.arange(rank.size)
        pattern, first = relabel[pattern.ravel()], first[rank]
        heads = ws[first]
        if len(first) * 4 > t or not (ws == heads[pattern]).all():
            return None
    group = np.argsort(pattern, kind="stable")       # targets of one pattern made contiguous
    sizes = np.bincount(pattern)
    ends = np.cumsum(sizes).tolist()
    src = s[order].reshape(t, k)[group]
    p, m = len(ends), int(sizes[0])
    if p > 1 and (sizes == m).all() and (src.reshape(p, m, k) == src[:m]).all():
        # every pattern reads the same input rows in the same order (a conv tile's output-channel blocks): one
        # product of those rows with the patterns' weights side by side does them all
        return targets[group], src[:m], heads, ends
    return targets[group], src, heads, ends


def _gemm_patterns(inp, wgt, plan):
    """The per-target sums of a GEMM with a `gemm_plan`: per pattern one BLAS product
    ``(targets·BATCH, k·BLOCK_IN) @ (k·BLOCK_IN, BLOCK_OUT)`` does the reduction over the k contributions (im2col).
    Returns ``(targets, sums (targets, BATCH·BLOCK_OUT))`` — float32/float64 holding exact integers."""
    targets, src, heads, ends = plan
    t, k = src.shape
    batch, block_in = inp.shape[1:]
    block_out = wgt.shape[1]
    x = _gather_rows(inp, src)                         # (t, k, BATCH, BLOCK_IN): im2col rows
    if batch > 1:
        x = x.transpose(0, 2, 1, 3)
    x = x.reshape(t * batch, k * block_in).astype(np.float32)
    step = max(1, EXACT_F32_LANES // block_in)        # contributions per exact float32 product
    if t < len(targets):                               # shared rows: (t·BATCH, k·BLOCK_IN) @ (k·BLOCK_IN, P·BLOCK_OUT)
        p = len(heads)
        wt = wgt[heads].transpose(1, 3, 0, 2).astype(np.float32).reshape(k * block_in, p * block_out)
        sums = None
        for c0 in range(0, k, step):
            c1 = min(k, c0 + step)
            part = _matmul(x[:, c0 * block_in:c1 * block_in], wt[c0 * block_in:c1 * block_in])
            sums = part if sums is None else sums + part.astype(np.float64)   # float64: exact up to 2^53
        # rows (pixel, batch) × columns (pattern, lane) → targets grouped by pattern, each in the rows' order
        sums = sums.reshape(t, batch, p, block_out).transpose(2, 0, 1, 3)
        return targets, sums.reshape(p * t, batch * block_out)
    sums = np.empty((t * batch, block_out), dtype=np.float32 if k <= step else np.float64)
    start = 0
    for head, end in zip(heads, ends):                # pattern p (= heads[p]) is the p-th block
        rows = slice(start * batch, end * batch)
        wt = wgt[head].transpose(0, 2, 1).astype(np.float32)   # (k, BLOCK_IN, BLOCK_OUT)
        for c0 in range(0, k, step):
            c1 = min(k, c0 + step)
            part = _matmul(x[rows, c0 * block_in:c1 * block_in], wt[c0:c1].reshape((c1 - c0) * block_in, block_out))
            if c0:
                sums[rows] += part     # float64: exact up to 2^53
            else:
                sums[rows] = part
        start = end
    return targets, sums.reshape(t, batch * block_out)


def gemm_accumulate(acc, out, inp, wgt, d, s, w, memo=None, q=None):
    """For each iteration n in order: ``acc[d[n]] = wrap32(acc[d[n]] + inp[s[n]] @ wgt[w[n]].T)``, then
    ``out[d] = out_value(acc[d], q)`` (low 8 bits, or requantized when ``q`` is given) — computed as one wrapped
    sum per distinct ``d`` (addition mod 2³² is associative, and the last write of each entry carries the final
    sum). ``memo`` (a dict kept by the caller for these very index arrays) holds the `gemm_plan` between calls."""
    n = d.size
    batch, block_out = inp.shape[1], wgt.shape[1]
    if memo is not None and "gemm" in memo:
        plan = memo["gemm"]
    else:
        plan = gemm_plan(d, s, w)
        if memo is not None:
            memo["gemm"] = plan
    if plan is not None:
        targets, sums = _gemm_patterns(inp, wgt, plan)
        # exact integers: float32 ones below 2^24 convert straight to int32; float64 ones wrap through int64
        add = sums.astype(np.int32) if sums.dtype == np.float32 else sums.astype(np.int64).astype(np.int32)
        span = memo.get("span") if memo is not None else None
        if span is None:
            span = _span(targets)
            if memo is not None:
                memo["span"] = span
        if span:   # the targets are acc[lo:hi] in order (a conv tile): add in place, int32 wraps like the acc
            lo, hi = span
            a = acc[lo:hi]
            a += add.reshape(a.shape)
            out[lo:hi] = out_value(a, q)
        else:
            new = acc[targets].reshape(len(targets), -1) + add
            _write_back(acc, out, targets, new.reshape(len(targets), batch, block_out), q)
        return
    batch, block_in = inp.shape[1:]
    block_out = wgt.shape[1]
    counts = np.bincount(w)
    weights = np.flatnonzero(counts)
    if weights.size == 1:
        # One weight tile: a single (n·BATCH, BLOCK_IN) × (BLOCK_IN, BLOCK_OUT) product.
        x = inp[s].reshape(n * batch, block_in).astype(np.float32)
        prod = x @ wgt[weights[0]].T.astype(np.float32)
        dd = d
    elif n >= 8 * weights.size:
        # Few weight tiles reused by many iterations: one product per weight tile (iterations sorted by tile).
        order = np.argsort(w, kind="stable")
        dd = d[order]
        x = inp[s[order]].reshape(n * batch, block_in).astype(np.float32)
        wt = wgt[weights].astype(np.float32).transpose(0, 2, 1)
        prod = np.empty((n * batch, block_out), dtype=np.float32)
        ends = (np.cumsum(counts[weights]) * batch).tolist()
        start = 0
        for g, end in enumerate(ends):  # 2-D products: one BLAS call each
            np.matmul(x[start:end], wt[g], out=prod[start:end])
            start = end
    else:
        # Mostly distinct weight tiles: a batched product of tiny matrices.
        x = inp[s].astype(np.float32)
        prod = np.matmul(x, wgt[w].astype(np.float32).transpose(0, 2, 1))
        dd = d
    prod = prod.reshape(n, batch * block_out)
    if np.bincount(dd).max() == 1:
        targets, sums = dd, prod.astype(np.int64)
    else:
        order = np.argsort(dd, kind="stable")
        dd = dd[order]
        starts = _group_bounds(dd)
        targets = dd[starts]
        sums = np.add.reduceat(prod[order], starts, axis=0, dtype=np.float64).astype(np.int64)
    new = (acc[targets].reshape(len(targets), -1).astype(np.int64) + sums).astype(np.int32)
    _write_back(acc, out, targets, new.reshape(len(targets), batch, block_out), q)


def _shr(a, b):
    if np.ndim(b) == 0:   # an immediate: one shift for every lane (>> on int32 is arithmetic)
        amount = ((int(b) & 63) ^ 32) - 32
        return a >> amount if amount >= 0 else (a.astype(np.int64) << -amount).astype(np.int32)
    amount = ((np.asarray(b, dtype=np.int64) & 63) ^ 32) - 32
    wide = a.astype(np.int64)
    return np.where(amount >= 0, wide >> np.maximum(amount, 0), wide << np.maximum(-amount, 0)).astype(np.int32)


_ALU_FUNCS = {
    AluOp.MIN: np.minimum,
    AluOp.MAX: np.maximum,
    AluOp.ADD: lambda a, b: (a.astype(np.int64) + b).astype(np.int32),
    AluOp.MUL: lambda a, b: (a.astype(np.int64) * b).astype(np.int32),
    AluOp.SHR: _shr,
    AluOp.MOV: lambda a, b: np.broadcast_to(np.asarray(b, dtype=np.int32), a.shape).copy(),
}


def alu_apply(op, a, b):
    """``op(a, b)`` on int32 lanes with 32-bit wrap-around; ``b`` is an int32 array or scalar.

    MIN/MAX signed; ADD wraps; MUL keeps the low 32 bits of the product. SHR: amount = low 6 bits of b as a
    signed number in [-32, 31]; ≥ 0 shifts right (arithmetic), < 0 shifts left by -amount and wraps (so -32
    gives 0). MOV: b (an extension; ``a`` only gives the shape). SETQ accesses no lanes and is not an ``op``.
    """
    return _ALU_FUNCS[op](a, b)


def hazard_free_starts(d, s):
    """Start offsets of maximal runs of iterations that can be applied at once (read all, then write all).

    Iteration n (writes ``d[n]``, reads ``d[n]`` and ``s[n]`` if ``s`` is given) conflicts with an earlier
    iteration m of its run when ``d[m] == d[n]`` (write after write) or ``d[m] == s[n]`` (read after write).
    A later iteration writing what n reads is harmless: the run reads before it writes.
    """
    n = d.size
    if n == 1 or (s is None and np.bincount(d).max() == 1):
        return [0]
    order = np.argsort(d, kind="stable")
    sd = d[order]
    same = sd[1:] == sd[:-1]
    conflict = np.full(n, -1, dtype=np.int64)
    conflict[order[1:][same]] = order[:-1][same]  # latest earlier write of the same dst
    if s is not None:
        keys = sd * n + order  # ascending: sorted by dst, then position
        pos = np.searchsorted(keys, s * n + np.arange(n), side="left") - 1
        hit = pos >= 0
        hit[hit] = sd[pos[hit]] == s[hit]
        conflict = np.maximum(conflict, np.where(hit, order[np.maximum(pos, 0)], -1))
    candidates = np.flatnonzero(conflict >= 0)
    starts = [0]
    begin = 0
    for pos, prev in zip(candidates.tolist(), conflict[candidates].tolist()):
        if prev >= begin:
            starts.append(pos)
            begin = pos
    return starts


def alu_run(acc, out, op, d, s, imm, memo=None, q=None):
    """For each iteration n in order: ``acc[d[n]] = op(acc[d[n]], imm if s is None else acc[s[n]])`` and
    ``out[d[n]] = out_value(acc[d[n]], q)`` (low 8 bits, or requantized when ``q`` is given); the operand is read
    at that point of the sequence. ``memo`` (a dict kept by the caller for these very index arrays) holds the
    hazard-free runs between calls."""
    if memo is not None and "starts" in memo:
        starts = memo["starts"]
    else:
        starts = hazard_free_starts(d, s)
        if memo is not None:
            memo["starts"] = starts
    bounds = starts + [d.size]
    b = np.int32(imm) if s is None else None
    if len(starts) == 1:   # one hazard-free run: over slices where the indices are ranges (flat kernels)
        if memo is not None and "spans" in memo:
            dspan, sspan = memo["spans"]
        else:
            dspan, sspan = _span(d), (None if s is None else _span(s))
            if memo is not None:
                memo["spans"] = (dspan, sspan)
        if dspan and sspan is not False:
            rhs = b if s is None else acc[sspan[0]:sspan[1]]
            new = alu_apply(op, acc[dspan[0]:dspan[1]], rhs)    # read all, then write all
            acc[dspan[0]:dspan[1]] = new
            out[dspan[0]:dspan[1]] = out_value(new, q)
            return
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        dd = d[lo:hi]
        rhs = b if s is None else acc[s[lo:hi]]
        _write_back(acc, out, dd, alu_apply(op, acc[dd], rhs), q)
