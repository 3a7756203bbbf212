"""Which int8 operands are stored with an offset (a zero point), and at which exponent.

VTA's GEMM multiplies signed int8 by signed int8. A one-sided tensor quantized symmetrically wastes codes:
softmax probabilities ``P ∈ [0, 1]`` use 0..127 only (scale 2^-7; a probability of 0.01 is one code wide), a GELU
output ``≥ −0.17`` uses hardly any negative code. Stored as ``q' = round(x · 2^-e) − z`` with an integer offset
``z`` (``z = 128`` for P: ``q' = round(P · 2^8) − 128``) it uses all 256 codes, one exponent finer, and the layer
reading it stays exact in integers, because ``(q' + z)·w = q'·w + z·w``:

- a VTA **Dense** (constant weights ``wq``): ``z · Σ_k wq[o, k]`` is a constant per output channel, folded into
  the int32 bias at compile time — free;
- a VTA **MatMul**'s *left* operand (attention's P in P·V): ``z · Σ_k V[k, m]``, z times each column sum of the
  right operand, is the same for every row — one bias per output column and head, summed on the host while the
  JIT packs V and added by the GEMM epilogue's bias load (`vta.compiler.steps.MatMul`, ``a_offset``), no extra
  pass. The accumulator holds at most ``K · 2^15`` in magnitude, so K stays below 2^16.

Not eligible: a MatMul's right operand (its offset would need per-row sums, which the epilogue's bias cannot add),
a Conv input (zero padding would no longer mean zero), tensors read by anything else, graph inputs and outputs.
The covered range is ``[lo, top]``: ``lo`` is 0 for a softmax output (by construction), else the calibrated signed
minimum (clipped below like the calibrated maximum above); the exponent comes from the same calibration method as
the symmetric one, applied to the span ``top − lo`` over 255 codes. The offset form is used only where it is
finer than the symmetric form; otherwise the tensor stays symmetric (``z = 0``).
"""

import math

from ..compiler.partition import LAYOUT_OPS
from .calibrate import _mse_exponent, exponent, threshold

__all__ = ["offset_candidates", "act_exponent", "MAX_K"]

MAX_K = 1 << 16          # |q'·V| + |z·ΣV| ≤ K · 2^15 must stay below 2^31
CALIBRATED = None        # lower bound taken from the calibration statistics


def offset_candidates(g, caps, plan):
    """``{tensor: lower bound}`` of the tensors that may be stored with an offset: quantized from a float host
    result (directly or through layout ops) and read only by VTA Dense layers as their input or by VTA MatMuls
    as their left operand. The bound is 0.0 for softmax outputs, `CALIBRATED` otherwise. Empty when
    ``plan.act_offset`` is off."""
    if not getattr(plan, "act_offset", True):
        return {}
    prod, users = g.producer(), g.consumers()
    out = {}
    for t, readers in users.items():
        if t in g.outputs or t in g.consts or t in g.inputs or not readers:
            continue
        p = prod.get(t)
        while p is not None and p.op in LAYOUT_OPS and p.inputs:
            p = prod.get(p.inputs[0])
        if p is None or caps.get(p.name) is None or caps[p.name].vta:
            continue
        if all(_reads_with_offset(g, caps, plan, u, t) for u in readers):
            out[t] = 0.0 if p.op == "Softmax" else CALIBRATED
    return out


def _reads_with_offset(g, caps, plan, u, t):
    if not caps[u.name].vta or u.inputs[0] != t or t in u.inputs[1:]:
        return False
    c = plan.layers.get(u.name)
    if c is not None and c.place != "vta":
        return False
    return u.op == "Dense" or (u.op == "MatMul" and g.shapes[t][-1] < MAX_K)


def act_exponent(stats, method, rounding, hw, lo):
    """``(exponent, offset)`` of a candidate tensor (``lo`` from `offset_candidates`): the offset form when it is
    finer than the symmetric one by the same ``method``/``rounding``, else ``(symmetric exponent, 0)``."""
    e_sym = exponent(stats, method, rounding, hw.qmax)
    lo = min(float(stats.minimum), 0.0) if lo is CALIBRATED else float(lo)
    codes = hw.qmax - hw.qmin
    if method == "mse":
        e = _mse_exponent(stats.values() + (-lo), codes)
    else:
        span = threshold(stats, method) - lo
        if not span > 0 or not math.isfinite(span):
            return e_sym, 0
        r = math.log2(span / codes)
        e = math.ceil(r - 1e-9) if rounding == "ceil" else int(round(r))
    if e >= e_sym:
        return e_sym, 0
    lo = max(lo, -hw.qmax * 2.0 ** e_sym)        # never below what the symmetric form covers
    return e, max(-hw.qmin + math.floor(lo / 2.0 ** e), 0)
