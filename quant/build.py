"""Lowering a partitioned graph to a quantized program (`vta.compiler.program.Program`) under a `Plan`.

Every activation scale is a power of two: an int8 tensor ``q`` with exponent ``e`` stands for ``q · 2^e``. A VTA
conv/dense computes ``clip((Σ q_x·q_w + bias) >> shift, 0 | -128, 127)`` with ``shift = e_y − e_x − e_w`` and the
bias quantized at ``2^(e_x+e_w)`` plus ``2^(shift−1)`` (so the floor shift rounds half up). With the weight
rounding "exact" a layer's weight scale is its range over 127, not a power of two (``e_w`` a float). If the
layer's input is quantized on the host, that quantization takes the fraction (`_Builder.need_q_at`: ``e_x`` a
float too, ``e_x + e_w`` an integer) and nothing else changes; otherwise the sums are multiplied by an integer
before the shift, ``mult / 2^shift ≈ 2^(e_x + e_w − e_y)`` (`requant_multiplier`; one more ALU pass per tile on
VTA), with the rounding constant ``2^(shift−1) / mult`` in the bias. An add aligns its operands with shifts
(negative = left) and shifts the sum. The builder decides these numbers; the steps it emits
(`vta.compiler.steps`) carry the arithmetic, so the simulation the search scores is exactly what VTA computes.
"""

import dataclasses

import numpy as np

from ..compiler.host import fuse_host_steps
from ..compiler.ir import CompileError
from ..compiler.ops import pool_params
from ..compiler.partition import ACTIVATION_OPS, LAYOUT_OPS, _clip_bounds, channel_mul_operands, prelu_slopes
from ..compiler.program import Program
from ..compiler.steps import (
    Add,
    AffineClip,
    ChannelMul,
    Concat,
    Conv,
    Dense,
    Dequantize,
    DilatedConv,
    GlobalAvgPool,
    HardSwish,
    HostFloat,
    IntGemm,
    Layout,
    LeakyRelu,
    MatMul,
    MaxPool,
    PRelu,
    Quantize,
    Relu,
    qkey,
)
from ..isa.requant import SHIFT_MAX
from ..jit.ops.common import MULT_MAX, acc_bound
from . import activations, smooth
from .calibrate import exponent, threshold
from .offsets import act_exponent, offset_candidates
from .plan import LayerChoice
from .reduce import MAX_ERROR as GAP_MAX_ERROR
from .reduce import global_avg_pool_params

__all__ = ["build_program", "quantize_weights", "requant_multiplier", "smoothed"]

# PReLU slopes as int32 at 2^-15 (2^-(15-k) when the output is k bits coarser): |x| ≤ 128 misses the float slope
# by at most 128 · 2^-(16-k) output steps (k ≤ 8: < 0.5)
PRELU_SHIFT = 15


def quantize_weights(w, gran, rounding, wmax=127):
    """int8 weights and exponent(s): ``w ≈ q · 2^e`` per tensor (scalar e) or per output channel (array); ``e``
    rounded up ("ceil") or to nearest ("nearest") to an integer, or kept as the float ``log2(max|w| / wmax)``
    ("exact": per tensor only, for a requantization multiplier)."""
    if rounding == "exact" and gran != "tensor":
        raise CompileError(f"an exact weight scale is per tensor (one requantization multiplier per GEMM call), "
                           f"not per {gran!r}")
    axes = tuple(range(1, w.ndim))
    m = np.abs(w).max(axis=axes) if gran == "channel" else np.array([np.abs(w).max()])
    with np.errstate(divide="ignore"):
        r = np.log2(np.maximum(m, 1e-30) / wmax)
    if rounding == "exact":
        e = np.where(m > 0, r, 0.0)
    else:
        e = np.ceil(r - 1e-9) if rounding == "ceil" else np.rint(r)
        e = np.where(m > 0, e, 0).astype(np.int64)
    if gran != "channel":
        e = e[0]
    return _wq(w, e, wmax), e


def _wq(w, e, wmax):
    s = np.exp2(np.asarray(e, np.float64)).reshape((-1,) + (1,) * (w.ndim - 1)) if np.ndim(e) else \
        float(np.exp2(float(e)))
    return np.clip(np.rint(w / s), -wmax, wmax).astype(np.int8)


def requant_multiplier(r, w_rows, bias_max):
    """``(mult, shift, rounding)`` with ``mult / 2^shift ≈ r`` (``0 < r < 2``, the ratio of the accumulator's scale
    to the output's) as precise as the ALU allows: the largest shift ≤ `SHIFT_MAX` whose ``mult`` fits the ALU
    immediate (`MULT_MAX`) and whose product with every sum the GEMM can reach (`acc_bound` of the int8 weights
    ``w_rows`` and biases up to ``bias_max``, plus the ``rounding`` constant ``2^(shift−1) / mult`` that joins the
    bias) stays in int32, as the JIT requires (`vta.jit.ops.common.check_mult`)."""
    bound = acc_bound(w_rows, bias_max)
    for shift in range(SHIFT_MAX, -1, -1):
        mult = int(np.rint(r * 2.0 ** shift))
        if not 1 <= mult <= MULT_MAX:
            continue
        rounding = int(np.rint((1 << shift >> 1) / mult))
        if (bound + rounding) * mult < 1 << 31:
            return mult, shift, rounding
    raise CompileError(f"no requantization multiplier for scale ratio {r:g}: sums up to {bound} leave no room in "
                       f"int32 for a multiplier")


class _Builder:
    def __init__(self, g, caps, plan, stats, hw, cache=None):
        self.g, self.caps, self.plan, self.stats, self.hw = g, caps, plan, stats, hw
        self.cache = {} if cache is None else cache     # pure functions of (graph, stats, choice): see build_program
        self.steps, self.exps = [], {}
        self.offset_lo = offset_candidates(g, caps, plan)    # tensors that may be stored with an offset
        self.offsets = {}                                     # ... and those that are: tensor → offset
        self.avail = set(g.inputs)        # keys available
        self.primary = {t: "f" for t in g.inputs}
        self.order = 0

    def act_exp(self, t):
        method, rounding = self.plan.act.get(t, self.plan.default_act)
        if t not in self.stats:
            raise CompileError(f"no calibration statistics for tensor {t!r}")
        key = ("act", t, method, rounding, id(self.stats[t]), t in self.offset_lo)   # smoothing: new statistics
        if key not in self.cache:
            self.cache[key] = act_exponent(self.stats[t], method, rounding, self.hw, self.offset_lo[t]) \
                if t in self.offset_lo else (exponent(self.stats[t], method, rounding, self.hw.qmax), 0)
        e, off = self.cache[key]
        if off:
            self.offsets[t] = off
        return e

    def add(self, cls, node, inputs, outputs, reason="", **fields):
        self.steps.append(cls(node=node, inputs=inputs, outputs=outputs, reason=reason, order=self.order, **fields))
        self.avail.update(outputs)

    def need_q(self, t):
        if qkey(t) not in self.avail:
            e, off = self.act_exp(t), self.offsets.get(t, 0)
            self.exps[t] = e
            what = "float32 → int8 (scale 2^%d%s)" % (e, ", offset %d" % off if off else "")
            self.add(Quantize, None, [self.need_f(t)], [qkey(t)], what, exp=e, offset=off)
        return qkey(t)

    def need_q_at(self, t, e_w):
        """The int8 form of host tensor ``t`` for a GEMM whose weight scale is ``2^e_w`` with a fractional
        exponent: quantized on the host (as at every host→VTA seam) at its calibrated scale ``2^e`` moved by less
        than a factor of two — finer when that still covers what ``2^e`` covers of the calibrated range (with its
        offset, `vta.quant.offsets`, when it has one), else coarser — so that input scale × weight scale is a power
        of two and the GEMM needs no multiplier. Returns (key, input exponent, accumulator exponent, offset); the
        key is shared by GEMMs that need the same scale."""
        e = self.act_exp(t)
        z = self.offsets.get(t, 0)
        method, _ = self.plan.act.get(t, self.plan.default_act)
        hw = self.hw
        top = (hw.qmax + z) * 2.0 ** e
        if method != "mse":
            key = ("threshold", t, method, id(self.stats[t]))   # percentile/KL over the samples: once per search
            if key not in self.cache:
                self.cache[key] = threshold(self.stats[t], method)
            top = min(self.cache[key], top)
        low = (hw.qmin + z) * 2.0 ** e if z else -top        # the covered range [low, top] of the 2^e form
        codes = hw.qmax - hw.qmin - 1 if z else 2 * hw.qmax   # (one code of slack for the offset's floor)
        acc_e = int(np.floor(e + float(e_w)))                 # the finer side, unless it clips what 2^e would not
        if codes * 2.0 ** (acc_e - float(e_w)) < top - low:
            acc_e += 1
        ex = acc_e - float(e_w)
        off = max(-hw.qmin + int(np.floor(low / 2.0 ** ex)), 0) if z else 0
        k = f"{qkey(t)}*2^{ex:.9f}" + (f"-{off}" if off else "")
        if k not in self.avail:
            self.add(Quantize, None, [self.need_f(t)], [k], "float32 → int8 (scale 2^%.3f%s, for an exact weight "
                     "scale)" % (ex, ", offset %d" % off if off else ""), exp=ex, offset=off)
        return k, ex, acc_e, off

    def need_f(self, t):
        if t in self.g.consts:
            return t
        if t not in self.avail:
            if qkey(t) not in self.avail:
                raise CompileError(f"internal error: tensor {t!r} is not available")
            self.add(Dequantize, None, [qkey(t)], [t], "int8 → float32", exp=self.exps[t],
                     offset=self.offsets.get(t, 0))
        return t

    def choice(self, node):
        c = self.plan.layers.get(node.name, LayerChoice())
        if self.plan.first_layer_host and node.op in ("Conv", "Dense") and node.name == self.first_compute:
            c = dataclasses.replace(c, place="host")
        return c

    def build(self):
        g = self.g
        computes = [n.name for n in g.nodes if n.op in ("Conv", "Dense")]
        self.first_compute = computes[0] if computes else None
        for k, n in enumerate(g.nodes):
            self.order = k
            cap = self.caps[n.name]
            ch = self.choice(n)
            x = n.inputs[0] if n.inputs else None
            x_is_q = x is not None and self.primary.get(x) == "q"
            if n.op in ("Conv", "Dense") and cap.vta and ch.place == "vta":
                self.gemm(n, cap, ch)
            elif n.op == "Add" and cap.vta and ch.place == "vta":
                self.add_op(n, cap)
            elif n.op == "MatMul" and cap.vta and ch.place == "vta":
                self.matmul(n, cap)
            elif n.op in ("Relu", "MaxPool") and cap.vta and (x_is_q or self.plan.offload_all):
                self.need_q(x)
                self.exps[n.outputs[0]] = self.exps[x]
                if n.op == "MaxPool":
                    kernel, strides, pads, _, _ = pool_params(n, g.shapes[x])
                    self.add(MaxPool, n, [qkey(x)], [qkey(n.outputs[0])], cap.reason, kernel=tuple(kernel),
                             stride=tuple(strides), padding=(pads[0], pads[1]))
                else:
                    self.add(Relu, n, [qkey(x)], [qkey(n.outputs[0])], cap.reason)
                self.primary[n.outputs[0]] = "q"
            elif n.op in ACTIVATION_OPS and cap.vta and (x_is_q or self.plan.offload_all):
                self.activation(n, cap)
            elif n.op == "GlobalAveragePool" and cap.vta and (x_is_q or self.plan.offload_all):
                self.global_avg_pool(n, cap)
            elif n.op == "Mul" and cap.vta and all(self.primary.get(i) == "q" for i in n.inputs):
                self.channel_mul(n, cap)
            elif n.op == "PRelu" and cap.vta and (x_is_q or self.plan.offload_all):
                self.prelu(n, cap)
            elif n.op in LAYOUT_OPS and x_is_q:
                outs = [o for o in n.outputs if o]
                for o in outs:
                    self.exps[o] = self.exps[x]
                    self.primary[o] = "q"
                self.add(Layout, n, [qkey(x)] + n.inputs[1:], [qkey(o) if o else "" for o in n.outputs], cap.reason)
            elif n.op == "Concat" and all(self.primary.get(i) == "q" for i in n.inputs):
                y = n.outputs[0]
                ey = self.act_exp(y)
                self.exps[y] = ey
                self.add(Concat, n, [qkey(i) for i in n.inputs], [qkey(y)], cap.reason,
                         exps=[self.exps[i] for i in n.inputs], exp=ey, axis=int(n.attr("axis")))
                self.primary[y] = "q"
            elif n.op in ("ConvInteger", "MatMulInteger") and cap.vta:
                self.add(IntGemm, n, [self.need_f(i) if i else "" for i in n.inputs], list(n.outputs), cap.reason,
                         geom=cap.geom)
                self.primary[n.outputs[0]] = "f"
            else:
                reason = cap.reason if not cap.vta else "kept on the CPU in float32 by the quantization plan"
                self.add(HostFloat, n, [self.need_f(i) if i else "" for i in n.inputs], list(n.outputs), reason)
                for o in n.outputs:
                    self.primary[o] = "f"
        self.order = len(g.nodes)
        outs = [self.need_f(o) for o in g.outputs]
        offsets = {t: o for t, o in self.offsets.items() if qkey(t) in self.avail}
        return Program(self.steps, self.exps, outs, list(g.inputs), len(g.nodes), offsets)

    def gemm(self, n, cap, ch):
        g, hw = self.g, self.hw
        x, y = n.inputs[0], n.outputs[0]
        key = ("w", n.name, n.inputs[1], ch.w_gran, ch.w_round)     # smoothed weights are new constants
        if key not in self.cache:
            w = g.consts[n.inputs[1]].astype(np.float64)
            self.cache[key] = (w, quantize_weights(w, ch.w_gran, ch.w_round, hw.wmax))
        w, (wq, ew) = self.cache[key]
        exact = ch.w_round == "exact"
        seam = exact and self.primary.get(x) == "f" and x not in g.consts
        if seam:        # the input's scale absorbs the weight scale's fraction: a power-of-two accumulator
            xk, ex, seam_acc_e, seam_off = self.need_q_at(x, ew)
        else:
            xk = self.need_q(x)
            ex = self.exps[x]
        b = g.consts[n.inputs[2]].astype(np.float64) if len(n.inputs) > 2 and n.inputs[2] else np.zeros(w.shape[0])
        if seam:
            ey = max(self.act_exp(y), seam_acc_e)
        elif exact:     # mult / 2^shift ≈ 2^(e_x + e_w − e_y) < 2: the output no finer than half the acc's step
            ey = max(self.act_exp(y), int(np.floor(ex + ew)))
        else:
            ey = max(self.act_exp(y), int(np.max(ex + ew)))
        # shifts must stay ≤ 31: coarsen weights of channels that would need more
        lo = ey - ex - hw.shift_range[1]
        if not exact and np.min(ew) < lo:
            ew = np.maximum(ew, lo)
            wq = _wq(w, ew, hw.wmax)
        if ch.w_fit or ch.bias_corr:
            fit = self.plan.fits.get(n.name)
            if fit is None or not fit.matches(ew) or (ch.w_fit and fit.wq is None) or \
                    (ch.bias_corr and fit.bias_delta is None):
                raise CompileError(f"layer {n.name!r}: its plan asks for weight rounding fit / bias correction but "
                                   f"has no fitted data for weight exponent(s) {np.asarray(ew).tolist()}; compile "
                                   f"with calibration data so they are fitted")
            if ch.w_fit:
                wq = fit.wq
            if ch.bias_corr:
                b = b - fit.bias_delta
        acc_e = seam_acc_e if seam else ex + ew
        k = int(np.prod(w.shape[1:]))
        limit = hw.acc_max - k * 128 * hw.wmax
        zx = seam_off if seam else self.offsets.get(x, 0)   # input stored as q − zx (vta.quant.offsets): zx · Σ_k wq
                                                             # joins the bias
        bq = np.rint(b / np.exp2(acc_e))
        if zx:
            bq = bq + zx * wq.reshape(wq.shape[0], -1).sum(axis=1, dtype=np.int64)
        mult = 1
        if exact and not seam:
            bmax = float(np.abs(np.clip(bq, -limit, limit)).max(initial=0))
            mult, shift, rounding = requant_multiplier(float(np.exp2(acc_e - ey)), wq, bmax)
            bq = bq + rounding
        else:           # a power-of-two accumulator (per channel with per-channel weight scales)
            shift = ey - acc_e
            if seam and shift > SHIFT_MAX:    # others: weights were coarsened above to keep it in range
                raise CompileError(f"layer {n.name!r}: output scale 2^{ey} is {shift} bits above its accumulator's "
                                   f"(at most {SHIFT_MAX})")
            bq = bq + np.where(shift > 0, np.exp2(np.maximum(shift, 1) - 1), 0)
        clipped = int(np.sum(np.abs(bq) > limit))
        bq = np.clip(bq, -limit, limit).astype(np.int32)
        self.exps[y] = ey
        relu = n.attr("_act") == "relu"
        fields = dict(w=wq, bias=bq, shift=(shift if np.ndim(shift) else int(shift)), relu=relu, e_w=ew, e_x=ex,
                      e_y=ey, bias_clipped=clipped, gran=ch.w_gran, w_round=ch.w_round,
                      w_fit=ch.w_fit, bias_corr=ch.bias_corr, x_offset=zx, mult=mult)
        if n.op == "Conv":
            cls = DilatedConv if max(cap.geom.dilations) > 1 else Conv
            self.add(cls, n, [xk], [qkey(y)], cap.reason, geom=cap.geom, **fields)
        else:
            self.add(Dense, n, [xk], [qkey(y)], cap.reason, **fields)
        self.primary[y] = "q"

    def activation(self, n, cap):
        """Clip / LeakyRelu / HardSigmoid / HardSwish as an ALU step when its integer form is within one output
        step of the float function (`vta.quant.activations`); otherwise float32 on the host, saying how far off."""
        x, y = n.inputs[0], n.outputs[0]
        xk = self.need_q(x)
        ex = ey = self.exps[x]
        if n.op == "Clip":
            cls = AffineClip
            fields, err = activations.clip_params(*_clip_bounds(n, self.g), ex)
        elif n.op == "LeakyRelu":
            cls = LeakyRelu
            fields, err = activations.leaky_params(float(n.attr("alpha", 0.01)), ex)
        elif n.op == "HardSigmoid":
            cls, ey = AffineClip, self.act_exp(y)
            fields, err = activations.hard_sigmoid_params(float(n.attr("alpha", 0.2)), float(n.attr("beta", 0.5)),
                                                          ex, ey)
        else:
            cls = HardSwish
            fields, err, ey = activations.hard_swish_params(ex, self.act_exp(y))
        self._unary_or_host(n, cls, xk, ey, cap, fields, err, activations.MAX_STEPS_ERROR,
                            f"{n.op} at input scale 2^{ex}: its integer form misses the float function by {err:g} "
                            f"output steps (> {activations.MAX_STEPS_ERROR}): float32 on the host")

    def _unary_or_host(self, n, cls, xk, ey, cap, fields, err, limit, why, **extra):
        """Step ``cls`` for the one-input node ``n`` on VTA (int8 ``xk`` → output at 2^``ey``, ``fields`` and
        ``extra`` as its parameters) when its integer form exists and misses by at most ``limit`` output steps;
        else ``n`` in float32 on the host, with ``why`` as the report's reason."""
        x, y = n.inputs[0], n.outputs[0]
        if fields is None or err > limit:
            self.add(HostFloat, n, [self.need_f(x)], [y], why)
            self.primary[y] = "f"
            return
        self.exps[y] = ey
        self.add(cls, n, [xk], [qkey(y)], cap.reason, **extra, **fields)
        self.primary[y] = "q"

    def matmul(self, n, cap):
        """Product of two int8 activations: ``shift = e_y − e_a − e_b`` (≥ 0, ≤ the shift range), rounded half up
        by a constant bias of ``2^(shift−1)``; a left operand stored with an offset (`vta.quant.offsets`) adds
        its column-sum term to that bias on the device."""
        a, b = n.inputs[:2]
        ak, bk = self.need_q(a), self.need_q(b)
        ea, eb = self.exps[a], self.exps[b]
        y = n.outputs[0]
        ey = min(max(self.act_exp(y), ea + eb), ea + eb + self.hw.shift_range[1])
        shift = ey - ea - eb
        m = self.g.shapes[y][-1]
        bias = None if shift == 0 or self._softmax_logits(y) else np.full(m, 1 << (shift - 1), np.int32)
        self.exps[y] = ey
        self.add(MatMul, n, [ak, bk], [qkey(y)], cap.reason, bias=bias, shift=int(shift), e_a=int(ea), e_b=int(eb),
                 e_y=int(ey), a_offset=self.offsets.get(a, 0))
        self.primary[y] = "q"

    def _softmax_logits(self, t):
        """Whether ``t`` only feeds a Softmax over its last axis (perhaps through a Mul/Div by a positive scalar
        constant): attention scores. Rounding them is then worth nothing — a floor shift's error is a rounding
        error minus a constant ½ step, and Softmax ignores a constant offset of its row — so the rounding bias
        is left out (no bias rows to load into the accumulator buffer; a tile then starts from a reset GEMM
        instead of a MOV from its bias, the same one pass)."""
        g = self.g
        users = g.consumers().get(t, [])
        if t in g.outputs or len(users) != 1:
            return False
        u = users[0]
        if u.op in ("Mul", "Div"):
            other = u.inputs[1] if u.inputs[0] == t else u.inputs[0] if u.op == "Mul" else None
            if other not in g.consts:
                return False
            c = np.asarray(g.consts[other])
            if c.size != 1 or not float(c.reshape(-1)[0]) > 0:
                return False
            return self._softmax_logits(u.outputs[0])
        rank = len(g.shapes[t])
        return u.op == "Softmax" and int(u.attr("axis", -1 if u.opset >= 13 else 1)) in (-1, rank - 1)

    def global_avg_pool(self, n, cap):
        """GlobalAveragePool as ADDs and a rescale on the ALU (`vta.quant.reduce`), at the calibrated output
        exponent but no finer than the sum's resolution; float32 on the host when the rescale misses the rounded
        mean by more than `GAP_MAX_ERROR` steps."""
        x, y = n.inputs[0], n.outputs[0]
        xk = self.need_q(x)
        ex = self.exps[x]
        hw = int(np.prod(self.g.shapes[x][2:]))
        ey = max(self.act_exp(y), ex - (hw - 1).bit_length())      # finer than 2^ex / H·W carries no information
        fields, err = global_avg_pool_params(hw, ex, ey)
        self._unary_or_host(n, GlobalAvgPool, xk, ey, cap, fields, err, GAP_MAX_ERROR,
                            f"GlobalAveragePool over {hw} positions from scale 2^{ex} to 2^{ey}: the ALU's "
                            f"reciprocal misses the rounded mean by up to {err:g} output steps (> {GAP_MAX_ERROR}): "
                            f"float32 on the host", error=err)

    def prelu(self, n, cap):
        """PReLU on the ALU at the input's exponent, or up to ⌈log2 max|slope|⌉ coarser when the calibrated output
        needs the room (slopes above 1); slopes at 2^-(15 − that), so |x| ≤ 128 misses by < 0.5 output steps."""
        x, y = n.inputs[0], n.outputs[0]
        self.need_q(x)
        ex = self.exps[x]
        slopes = prelu_slopes(n, self.g)
        room = max(0, int(np.ceil(np.log2(max(float(np.abs(slopes).max()), 1.0)))))
        k = min(max(self.act_exp(y) - ex, 0), room)
        a = np.rint(slopes * (1 << (PRELU_SHIFT - k))).astype(np.int32)
        self.exps[y] = ex + k
        self.add(PRelu, n, [qkey(x)], [qkey(y)], cap.reason, a=a, shift=PRELU_SHIFT, pos_shift=k)
        self.primary[y] = "q"

    def channel_mul(self, n, cap):
        """A squeeze-and-excitation gate ``x · s`` on the ALU: the product has exponent ``e_x + e_s``; a rounding
        shift of 0..15 brings it to the calibrated output exponent (never finer than the product)."""
        x, s = channel_mul_operands(n, self.g)
        xk, sk = self.need_q(x), self.need_q(s)
        ep = self.exps[x] + self.exps[s]
        y = n.outputs[0]
        shift = min(max(self.act_exp(y) - ep, 0), 15)
        self.exps[y] = ep + shift
        self.add(ChannelMul, n, [xk, sk], [qkey(y)], cap.reason, shift=shift)
        self.primary[y] = "q"

    def add_op(self, n, cap):
        a, b = n.inputs[:2]
        ak, bk = self.need_q(a), self.need_q(b)
        ea, eb = self.exps[a], self.exps[b]
        ec = max(min(ea, eb), max(ea, eb) - 20)      # common exponent; left shifts stay ≤ 20 bits
        y = n.outputs[0]
        ey = max(self.act_exp(y), ec)
        ey = min(ey, ec + self.hw.add_shift_range[1])
        self.exps[y] = ey
        self.add(Add, n, [ak, bk], [qkey(y)], cap.reason, a_shift=ec - ea, b_shift=ec - eb,
                 shift=ey - ec, relu=n.attr("_act") == "relu")
        self.primary[y] = "q"


def smoothed(g, plan, stats, cache=None):
    """``g`` and ``stats`` with ``plan.smooth`` applied (`vta.quant.smooth.apply`), cached per α assignment in
    ``cache`` (so the statistics objects, which key the cached exponents, stay the same across builds)."""
    cache = {} if cache is None else cache
    if "smooth groups" not in cache:
        cache["smooth groups"] = smooth.find_groups(g)
    key = ("smooth", tuple(sorted((t, a) for t, a in plan.smooth.items() if a)))
    if key not in cache:
        cache[key] = smooth.apply(g, plan.smooth, stats, cache["smooth groups"])
    return cache[key]


def build_program(g, caps, plan, stats, hw, cache=None):
    """Lower graph ``g`` (optimized, partitioned by ``caps``) to a `Program` under quantization ``plan``; runs of
    consecutive float host nodes become one onnxruntime session each (`vta.compiler.host.fuse_host_steps`).
    With ``plan.smooth``, the graph lowered is ``g`` with those smoothing factors folded in (`smoothed`).
    ``cache``: a dict kept across builds of the same graph, statistics and hardware (the search builds hundreds
    of plans): activation exponents and quantized weights per choice are computed once (never mutated)."""
    cache = {} if cache is None else cache
    if plan.smooth:
        sm = smoothed(g, plan, stats, cache)
        g, stats = sm.graph, sm.stats
    return fuse_host_steps(_Builder(g, caps, plan, stats, hw, cache).build(), g)
