"""The integer form of GlobalAveragePool on the tensor ALU: which shifts and 16-bit multiplier stand for
``2^(e_x − e_y) / (H·W)``, and how far the result can miss the exactly rounded mean.

The ALU program (`vta.jit.ops.reduce`) computes ``round_shift(round_shift(sum, pre) · scale, post)`` from the
exact int32 ``sum``. When H·W is a power of two times the exponent change, ``scale`` is 1 and one rounding shift
gives the exactly rounded mean. Otherwise ``scale / 2^(pre+post)`` approximates the reciprocal; the error bound
(in output steps, on top of the final rounding's half step) is ``|sum|max · |scale/2^(pre+post) − r|`` from the
approximation plus ``scale / 2^(post+1)`` from the first rounding, with ``|sum|max = 128·H·W``. The compiler
keeps the node on the host, saying so, when the best choice misses by more than `MAX_ERROR` steps.
"""

import math

__all__ = ["global_avg_pool_params", "MAX_ERROR", "MAX_SHIFT", "MAX_SCALE"]

MAX_ERROR = 0.5      # output steps: the result then differs from the exactly rounded mean by at most one step
MAX_SHIFT = 15       # a rounding shift adds 2^(shift−1) as a 16-bit immediate
MAX_SCALE = (1 << 15) - 1


def global_avg_pool_params(positions, e_x, e_y):
    """``(fields, error)`` for a mean over ``positions`` elements from exponent ``e_x`` to ``e_y``: ``fields`` the
    `vta.compiler.steps.GlobalAvgPool` numbers (``pre_shift``, ``scale``, ``shift``) of the smallest error bound,
    or ``None`` when no choice fits the ALU's immediates and int32 lanes (then ``error`` is ``inf``)."""
    if positions < 1:
        raise ValueError(f"positions must be ≥ 1, not {positions}")
    r = math.ldexp(1.0, e_x - e_y) / positions
    smax = 128 * positions
    best, best_key = None, None
    for pre in range(MAX_SHIFT + 1):
        v1 = -(-smax // (1 << pre)) + 1
        for post in range(MAX_SHIFT + 1):
            scale = round(math.ldexp(r, pre + post))
            if not 1 <= scale <= MAX_SCALE or v1 * scale + (1 << max(post - 1, 0)) >= 1 << 31:
                continue
            err = smax * abs(math.ldexp(scale, -(pre + post)) - r) + (scale / (1 << (post + 1)) if pre else 0.0)
            key = (err, scale != 1, pre + post)         # smallest error, then the fewest instructions
            if best_key is None or key < best_key:
                best, best_key = dict(pre_shift=pre, scale=scale, shift=post), key
    if best is None:
        return None, math.inf
    return best, best_key[0]
