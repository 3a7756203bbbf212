"""Which int8 operands are stored with an offset: softmax probabilities read only as the left operand of VTA
matmuls (attention's P in P·V).

VTA's GEMM multiplies signed int8 by signed int8. A tensor in ``[0, 1]`` quantized symmetrically uses the codes
0..127 only (scale 2^-7): the sign bit is wasted, and a probability of 0.01 is one code wide. Stored as
``q' = round(P · 2^8) − 128`` it uses all 256 codes at twice the resolution, and the product stays exact in
integers: ``(q' + 128) · V = q'·V + 128 · 1ᵀV``, where ``128 · 1ᵀV`` — 128 times each column sum of the right
operand — is the same for every row of the product, i.e. one bias per output column and head, which the GEMM
epilogue's bias load adds at no extra pass (`vta.compiler.steps.MatMul`, ``a_offset``). The accumulator then
holds at most ``K · 2^15`` in magnitude (``K · 128 · 128`` from each term), so K must stay below 2^16.

Why only softmax outputs: an offset must be known to hold for every value the tensor can take (softmax is ≥ 0
by construction; a calibrated minimum is no guarantee), and only a matmul's *left* operand has a per-column
correction — a right operand's offset would need per-row sums, which the epilogue's bias cannot add.
"""

from ..compiler.partition import LAYOUT_OPS

__all__ = ["OFFSET", "offset_tensors", "qmax_of"]

OFFSET = 128
MAX_K = 1 << 16          # |q'·V| + 128·|ΣV| ≤ K · 2^15 must stay below 2^31


def offset_tensors(g, caps, plan):
    """``{tensor: OFFSET}`` for every tensor the program quantizes from a softmax output (directly or through
    layout ops) whose readers are all VTA MatMuls taking it as their left operand only; empty when
    ``plan.act_offset`` is off."""
    if not getattr(plan, "act_offset", True):
        return {}
    prod, users = g.producer(), g.consumers()
    out = {}
    for t, readers in users.items():
        if t in g.outputs or t in g.consts or not readers:
            continue
        p = prod.get(t)
        while p is not None and p.op in LAYOUT_OPS and p.inputs:
            p = prod.get(p.inputs[0])
        if p is None or p.op != "Softmax" or caps.get(p.name) is None or caps[p.name].vta:
            continue
        if all(u.op == "MatMul" and caps[u.name].vta and u.inputs[0] == t and t not in u.inputs[1:] and
               _place(plan, u) == "vta" and g.shapes[t][-1] < MAX_K for u in readers):
            out[t] = OFFSET
    return out


def qmax_of(hw, offset):
    """The largest code of a tensor: ``hw.qmax`` (127) symmetric, ``qmax − qmin`` (255) with an offset."""
    return hw.qmax - hw.qmin if offset else hw.qmax


def _place(plan, node):
    c = plan.layers.get(node.name)
    return "vta" if c is None else c.place
