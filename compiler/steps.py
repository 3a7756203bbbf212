"""The steps of a quantized program, one dataclass per kind, each with its two meanings:

- `Step.compute`: the bit-exact numpy semantics (`vta.compiler.arith`) — what the quantization search scores and
  what the device must reproduce;
- `Step.lower`: the same step on a device, through the runtime JIT (`VTAStep`s only; host steps compute on the
  host either way).

Numbers: an int8 tensor ``q`` with exponent ``e`` stands for ``q · 2^e``. Tensor keys in the environment:
``"name"`` is the float tensor, ``"name@q"`` its int8 form (`qkey`). The steps are built by `vta.quant.build`
from a quantization plan and run by `vta.compiler.program.run_program`.
"""

import dataclasses
from typing import ClassVar

import numpy as np

from .arith import (
    add_int8,
    affine_clip_int8,
    channel_mul_int8,
    conv_int8,
    dense_int8,
    global_avg_pool_int8,
    hard_swish_int8,
    leaky_relu_int8,
    matmul_column_bias,
    matmul_int8,
    maxpool_int8,
    prelu_int8,
)
from .dilation import PhaseSplit
from .ir import CompileError
from .ops import run_node

__all__ = ["qkey", "Step", "VTAStep", "Quantize", "Dequantize", "Layout", "Concat", "HostFloat", "Gemm", "Conv",
           "Dense", "MatMul", "Add", "Relu", "MaxPool", "IntGemm", "AffineClip", "LeakyRelu", "HardSwish",
           "GlobalAvgPool", "DilatedConv", "ChannelMul", "PRelu"]


def qkey(t):
    """The environment key of tensor ``t``'s int8 form."""
    return t + "@q"


def _contig(a):
    return np.ascontiguousarray(a)


@dataclasses.dataclass(kw_only=True)
class Step:
    """One step: reads ``inputs``, writes ``outputs`` (environment keys). ``node`` is the graph node it comes from
    (``None`` for conversions), ``order`` that node's index (the search resumes simulation from there), ``reason``
    the placement's explanation for the report."""
    inputs: list
    outputs: list
    node: object = None
    reason: str = ""
    order: int = 0

    on_vta: ClassVar[bool] = False

    @property
    def device(self):
        """"vta" or "host": where `lower` runs the step."""
        return "vta" if self.on_vta else "host"

    def compute(self, env, consts):
        """Run the step in numpy: read ``env`` (and constants), write its outputs into ``env``."""
        raise NotImplementedError

    def lower(self, ex, env, consts):
        """Run the step with a `vta.compiler.lower.VTAExecutor`; a host step computes on the host."""
        self.compute(env, consts)

    def _get(self, env, consts, k):
        return consts[k] if k in consts else (env[k] if k else None)


@dataclasses.dataclass(kw_only=True)
class Quantize(Step):
    """float32 → int8 at scale ``2^exp`` (round to nearest, saturate). ``offset``: the int8 stands for
    ``(q + offset) · 2^exp`` — a one-sided tensor stored as ``round(x · 2^-exp) − offset`` (softmax probabilities
    with offset 128) uses all 256 codes, where the symmetric form leaves most of one half unused
    (`vta.quant.offsets`)."""
    exp: int
    offset: int = 0

    def compute(self, env, consts):
        x = env[self.inputs[0]]
        env[self.outputs[0]] = np.clip(np.rint(x * (2.0 ** -self.exp)) - self.offset, -128, 127).astype(np.int8)


@dataclasses.dataclass(kw_only=True)
class Dequantize(Step):
    """int8 at scale ``2^exp`` (plus ``offset``, as `Quantize`) → float32."""
    exp: int
    offset: int = 0

    def compute(self, env, consts):
        q = env[self.inputs[0]].astype(np.float32)
        env[self.outputs[0]] = (q + np.float32(self.offset) if self.offset else q) * np.float32(2.0 ** self.exp)


def _run_on_host(step, env, consts):
    """Run ``step``'s ONNX node with the numpy executor and bind its (non-empty) outputs."""
    outs = run_node(step.node, [step._get(env, consts, k) for k in step.inputs])
    for o, v in zip(step.outputs, outs):
        if o:
            env[o] = v


@dataclasses.dataclass(kw_only=True)
class Layout(Step):
    """A data-movement node (Flatten, Reshape, Transpose, Split, …) applied to int8 data on the host (Reshape,
    Transpose and Squeeze are numpy views: no copy)."""

    def compute(self, env, consts):
        _run_on_host(self, env, consts)


@dataclasses.dataclass(kw_only=True)
class Concat(Step):
    """Concatenation of int8 tensors at exponents ``exps``, each rescaled to the output's ``exp`` on the host."""
    exps: list
    exp: int
    axis: int

    def compute(self, env, consts):
        parts = [np.clip(np.rint(env[k].astype(np.float64) * 2.0 ** (e - self.exp)), -128, 127)
                 for k, e in zip(self.inputs, self.exps)]
        env[self.outputs[0]] = np.concatenate(parts, axis=self.axis).astype(np.int8)


@dataclasses.dataclass(kw_only=True)
class HostFloat(Step):
    """A node run in float32 on the host (VTA cannot run it, or the plan keeps it there)."""

    def compute(self, env, consts):
        _run_on_host(self, env, consts)


@dataclasses.dataclass(kw_only=True)
class VTAStep(Step):
    """A step that runs on VTA when the program runs on a device."""
    on_vta: ClassVar[bool] = True

    def lower(self, ex, env, consts):
        raise NotImplementedError


@dataclasses.dataclass(kw_only=True)
class Gemm(VTAStep):
    """An int8 GEMM layer: ``clip(((Σ x·w + bias) · mult) >> shift, 0 | -128, 127)``. ``shift = e_y − e_x − e_w``
    (one per output channel with per-channel weight scales) with ``mult`` 1; with a weight scale that is not a
    power of two (``w_round`` "exact", ``e_w`` then a float), ``mult / 2^shift ≈ 2^(e_x + e_w − e_y)``
    (`vta.quant.build`); the rest records the plan's choices for the report.
    ``x_offset``: the input is stored as ``q − x_offset`` (`vta.quant.offsets`); the bias already holds
    ``x_offset · Σ w`` per output channel, so nothing here depends on it."""
    w: np.ndarray
    bias: np.ndarray
    shift: object
    relu: bool
    e_x: int
    e_w: object
    e_y: int
    bias_clipped: int = 0
    gran: str = "tensor"
    w_round: str = "ceil"
    w_fit: bool = False
    bias_corr: bool = False
    x_offset: int = 0
    mult: int = 1

    def _per_shift(self, ex, x, call):
        """Call ``call(x, w, bias, shift)`` once per distinct shift (the JIT takes one shift per call); scatter the
        outputs back by channel. Each call's stats are recorded on this step's node."""
        o = self.w.shape[0]
        shift = np.broadcast_to(np.asarray(self.shift), (o,))
        out = None
        for s in np.unique(shift):
            idx = np.flatnonzero(shift == s)
            y = ex.record(self, call(x, _contig(self.w[idx]), _contig(self.bias[idx]), int(s)))
            if len(idx) == o:
                return y
            if out is None:
                out = np.empty(y.shape[:1] + (o,) + y.shape[2:], np.int8)
            out[:, idx] = y
        return out


@dataclasses.dataclass(kw_only=True)
class Conv(Gemm):
    """A 2-D convolution; ``geom`` (`ConvGeom`) says how it is padded, strided and grouped."""
    geom: object

    def compute(self, env, consts):
        g = self.geom
        env[self.outputs[0]] = conv_int8(g.host_pad(env[self.inputs[0]]), self.w, self.bias, self.shift, self.relu,
                                         g.strides, g.device_pads, g.groups, mult=self.mult)

    def lower(self, ex, env, consts):
        g = self.geom
        x = g.host_pad(env[self.inputs[0]])
        if g.groups == 1:
            env[self.outputs[0]] = self._conv(ex, _contig(x), self)
            return
        env[self.outputs[0]] = self._group_conv(ex, x)

    def _group_conv(self, ex, x):
        """A grouped convolution as block-diagonally packed device convolutions (`Runtime.group_conv2d`), one per
        distinct shift: each call runs every group that has a channel at that shift and keeps those channels."""
        g = self.geom
        o = self.w.shape[0]
        cg, og = x.shape[1] // g.groups, o // g.groups
        shift = np.broadcast_to(np.asarray(self.shift), (o,))
        out = None
        for s in np.unique(shift):
            sel = np.flatnonzero((shift == s).reshape(g.groups, og).any(axis=1))
            ch_out = (sel[:, None] * og + np.arange(og)).ravel()
            ch_in = (sel[:, None] * cg + np.arange(cg)).ravel()
            y = ex.record(self, ex.rt.group_conv2d(
                _contig(x[:, ch_in]), _contig(self.w[ch_out]), _contig(self.bias[ch_out]), groups=len(sel),
                stride=g.strides, padding=g.device_padding, shift=int(s), relu=self.relu, mult=self.mult))
            if len(ch_out) == o and np.all(shift == s):
                return y
            if out is None:
                out = np.empty(y.shape[:1] + (o,) + y.shape[2:], np.int8)
            keep = shift[ch_out] == s
            out[:, ch_out[keep]] = y[:, keep]
        return out

    def _conv(self, ex, x, part):
        g = self.geom
        return part._per_shift(ex, x, lambda xg, w, b, s: ex.rt.conv2d(
            xg, w, b, stride=g.strides, padding=g.device_padding, shift=s, relu=self.relu, mult=self.mult))


@dataclasses.dataclass(kw_only=True)
class Dense(Gemm):
    """A fully connected layer on (N, K) inputs."""

    def compute(self, env, consts):
        env[self.outputs[0]] = dense_int8(env[self.inputs[0]], self.w, self.bias, self.shift, self.relu, self.mult)

    def lower(self, ex, env, consts):
        env[self.outputs[0]] = self._per_shift(ex, _contig(env[self.inputs[0]]), lambda xg, w, b, s: ex.rt.dense(
            xg, w, b, shift=s, relu=self.relu, mult=self.mult))


@dataclasses.dataclass(kw_only=True)
class MatMul(VTAStep):
    """A product of two int8 activations (attention's Q·Kᵀ and P·V): ``clip((a' @ b + bias) >> shift)`` with
    ``shift = e_y − e_a − e_b`` and ``bias`` (M,) the rounding constant ``2^(shift−1)``, or ``None`` (a floor
    shift, no bias rows to load: before a Softmax, which ignores a constant offset of its row); leading axes
    broadcast (one product per head). ``a' = a + a_offset`` (softmax probabilities stored with an offset,
    `Quantize`): the offset's share, ``a_offset`` times each column sum of ``b``, joins the bias — one int32 per
    output column and head, summed on the host while the JIT packs ``b`` (K·M adds against N·K·M MACs on VTA).
    On a device the right operand goes through the weight buffer (`Runtime.matmul`)."""
    bias: object
    shift: int
    e_a: int
    e_b: int
    e_y: int
    relu: bool = False
    a_offset: int = 0

    def compute(self, env, consts):
        env[self.outputs[0]] = matmul_int8(env[self.inputs[0]], env[self.inputs[1]], self.bias, self.shift,
                                           self.relu, self.a_offset)

    def lower(self, ex, env, consts):
        a, b = env[self.inputs[0]], env[self.inputs[1]]
        lead = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a3 = np.broadcast_to(a, lead + a.shape[-2:]).reshape((-1,) + a.shape[-2:])
        b3 = np.broadcast_to(b, lead + b.shape[-2:]).reshape((-1,) + b.shape[-2:])
        bias = self.bias
        if self.a_offset:       # per product (head) and column: (G, M)
            col = matmul_column_bias(b3, self.a_offset)
            bias = (col if bias is None else col + np.asarray(bias, np.int64)).astype(np.int32)
        # views throughout (the head split, Kᵀ): the JIT's packing into its blocked DRAM layout is the one copy
        y = ex.record(self, ex.rt.matmul(a3, np.swapaxes(b3, 1, 2), bias, shift=self.shift, relu=self.relu,
                                         transpose_b=True))
        env[self.outputs[0]] = y.reshape(lead + y.shape[-2:])


@dataclasses.dataclass(kw_only=True)
class Add(VTAStep):
    """Element-wise add: operands aligned by ``a_shift``/``b_shift`` (negative = left), the sum shifted by
    ``shift`` to the output's exponent."""
    a_shift: int
    b_shift: int
    shift: int
    relu: bool

    def compute(self, env, consts):
        env[self.outputs[0]] = add_int8(env[self.inputs[0]], env[self.inputs[1]], self.a_shift, self.b_shift,
                                        self.shift, self.relu)

    def lower(self, ex, env, consts):
        env[self.outputs[0]] = ex.record(self, ex.rt.add(
            _contig(env[self.inputs[0]]), _contig(env[self.inputs[1]]), a_shift=self.a_shift, b_shift=self.b_shift,
            shift=self.shift, relu=self.relu))


@dataclasses.dataclass(kw_only=True)
class Relu(VTAStep):
    def compute(self, env, consts):
        env[self.outputs[0]] = np.maximum(env[self.inputs[0]], 0)

    def lower(self, ex, env, consts):
        env[self.outputs[0]] = ex.record(self, ex.rt.relu(_contig(env[self.inputs[0]])))


@dataclasses.dataclass(kw_only=True)
class MaxPool(VTAStep):
    """Max pooling with symmetric ``padding`` (h, w); ``kernel`` and ``stride`` are (h, w) pairs."""
    kernel: tuple
    stride: tuple
    padding: tuple

    def compute(self, env, consts):
        env[self.outputs[0]] = maxpool_int8(env[self.inputs[0]], self.kernel, self.stride, self.padding)

    def lower(self, ex, env, consts):
        env[self.outputs[0]] = ex.record(self, ex.rt.max_pool2d(
            _contig(env[self.inputs[0]]), self.kernel, stride=self.stride, padding=self.padding))


@dataclasses.dataclass(kw_only=True)
class IntGemm(VTAStep):
    """An ONNX ConvInteger / MatMulInteger (int32 output, zero points) — exact on VTA while ``x − x_zp`` and
    ``w − w_zp`` fit int8 and no output saturates the int8 result; otherwise computed exactly on the host (counted
    as a host fallback with the reason). ``geom`` is the convolution's `ConvGeom` (``None`` for MatMulInteger)."""
    geom: object = None

    def compute(self, env, consts):
        env[self.outputs[0]] = run_node(self.node, [self._get(env, consts, k) for k in self.inputs])[0]

    def lower(self, ex, env, consts):
        n = self.node
        vals = [self._get(env, consts, k) for k in self.inputs] + [None] * (4 - len(self.inputs))
        x, w, xz, wz = vals[:4]
        xi = x.astype(np.int64) - (0 if xz is None else int(np.asarray(xz).reshape(-1)[0]))
        wz_ = 0 if wz is None else np.asarray(wz, np.int64)
        if self.geom is not None:
            wi = w.astype(np.int64) - (wz_.reshape(-1, 1, 1, 1) if np.size(wz_) > 1 else wz_)
        else:
            wi = w.astype(np.int64) - (wz_.reshape(1, -1) if np.size(wz_) > 1 else wz_)
        fits = lambda a: a.size and a.min() >= -128 and a.max() <= 127
        if not (fits(xi) and fits(wi)):
            ex.host_fallback(self, "operands do not fit int8 after zero-point subtraction: computed on the host")
            self.compute(env, consts)
            return
        if self.geom is not None:
            g = self.geom
            if g.groups > 1:
                res = ex.rt.group_conv2d(_contig(g.host_pad(xi.astype(np.int8))), _contig(wi.astype(np.int8)), None,
                                         groups=g.groups, stride=g.strides, padding=g.device_padding, shift=0)
            else:
                res = ex.rt.conv2d(_contig(g.host_pad(xi.astype(np.int8))), _contig(wi.astype(np.int8)), None,
                                   stride=g.strides, padding=g.device_padding, shift=0, relu=False)
        else:
            if xi.ndim != 2:
                raise CompileError(f"{n}: MatMulInteger on VTA needs a 2-D input, not {xi.shape}")
            res = ex.rt.dense(_contig(xi.astype(np.int8)), _contig(wi.T.astype(np.int8)), None, shift=0,
                              relu=False)
        y = ex.record(self, res)
        if np.any(y == 127) or np.any(y == -128):
            # a saturated int8 result may hide a larger int32 value: recompute exactly on the host
            ex.host_fallback(self, "an int8 result reached the clip limit (the int32 value may be larger): "
                                   "recomputed on the host")
            self.compute(env, consts)
            return
        env[self.outputs[0]] = y.astype(np.int32)


@dataclasses.dataclass(kw_only=True)
class AffineClip(VTAStep):
    """Clip / ReLU6 (``scale`` 1, no shift: MAX ``lo``, MIN ``hi``) and HardSigmoid (the affine part first):
    ``clip((x·scale + offset) >> shift, lo, hi)`` on int8, on the tensor ALU."""
    scale: int = 1
    offset: int = 0
    shift: int = 0
    lo: int = -128
    hi: int = 127

    def compute(self, env, consts):
        env[self.outputs[0]] = affine_clip_int8(env[self.inputs[0]], self.scale, self.offset, self.shift, self.lo,
                                                self.hi)

    def lower(self, ex, env, consts):
        env[self.outputs[0]] = ex.record(self, ex.rt.clip(_contig(env[self.inputs[0]]), self.lo, self.hi,
                                                          self.scale, self.offset, self.shift))


@dataclasses.dataclass(kw_only=True)
class LeakyRelu(VTAStep):
    """LeakyReLU with slope ``scale / 2^shift`` on the negative side (`arith.leaky_relu_int8`), same exponent in
    and out."""
    scale: int
    shift: int

    def compute(self, env, consts):
        env[self.outputs[0]] = leaky_relu_int8(env[self.inputs[0]], self.scale, self.shift)

    def lower(self, ex, env, consts):
        env[self.outputs[0]] = ex.record(self, ex.rt.leaky_relu(_contig(env[self.inputs[0]]), self.scale,
                                                                self.shift))


@dataclasses.dataclass(kw_only=True)
class HardSwish(VTAStep):
    """HardSwish ``x · hsig(x)`` (`arith.hard_swish_int8`): hsig at ``one`` = 1.0, the product shifted by
    ``out_shift`` to the output exponent."""
    scale: int
    offset: int
    shift: int
    one: int
    out_shift: int

    def compute(self, env, consts):
        env[self.outputs[0]] = hard_swish_int8(env[self.inputs[0]], self.scale, self.offset, self.shift, self.one,
                                               self.out_shift)

    def lower(self, ex, env, consts):
        env[self.outputs[0]] = ex.record(self, ex.rt.hard_swish(_contig(env[self.inputs[0]]), self.scale,
                                                                self.offset, self.shift, self.one, self.out_shift))


@dataclasses.dataclass(kw_only=True)
class GlobalAvgPool(VTAStep):
    """GlobalAveragePool on the tensor ALU (`arith.global_avg_pool_int8`): the sum over H×W, then
    ``round_shift(round_shift(sum, pre_shift) · scale, shift)`` ≈ ``sum · 2^(e_x − e_y) / (H·W)``; ``error`` is
    the chooser's bound on how far that misses the exactly rounded mean, in output steps (0: exact)."""
    pre_shift: int
    scale: int
    shift: int
    error: float = 0.0

    def compute(self, env, consts):
        env[self.outputs[0]] = global_avg_pool_int8(env[self.inputs[0]], self.pre_shift, self.scale, self.shift)

    def lower(self, ex, env, consts):
        env[self.outputs[0]] = ex.record(self, ex.rt.global_avg_pool(_contig(env[self.inputs[0]]), self.pre_shift,
                                                                     self.scale, self.shift))


@dataclasses.dataclass(kw_only=True)
class DilatedConv(Conv):
    """A stride-1, ungrouped convolution with dilations: the numpy semantics convolve with the dilated kernel;
    on a device the input is split into its phase images (`vta.compiler.dilation.PhaseSplit`), which one
    undilated device conv2d runs as a batch, and the outputs interleave back."""

    def compute(self, env, consts):
        g = self.geom
        env[self.outputs[0]] = conv_int8(env[self.inputs[0]], self.w, self.bias, self.shift, self.relu, g.strides,
                                         g.pads, 1, g.dilations, mult=self.mult)

    def lower(self, ex, env, consts):
        g = self.geom
        x = env[self.inputs[0]]
        ps = PhaseSplit(g.in_hw, g.kernel, (g.pads[0], g.pads[1]), g.dilations)
        y = self._per_shift(ex, ps.split(x), lambda xg, w, b, s: ex.rt.conv2d(
            xg, w, b, stride=1, padding=0, shift=s, relu=self.relu, mult=self.mult))
        env[self.outputs[0]] = ps.merge(y, x.shape[0])


@dataclasses.dataclass(kw_only=True)
class ChannelMul(VTAStep):
    """``x · s`` with ``s`` one factor per image and channel (N, C, 1, 1) broadcast over H×W — a squeeze-and-
    excitation gate — as the ALU's lane MUL and a rounding ``shift`` (`arith.channel_mul_int8`). ``inputs`` are
    (x, s) whatever their order in the node."""
    shift: int

    def compute(self, env, consts):
        env[self.outputs[0]] = channel_mul_int8(env[self.inputs[0]], env[self.inputs[1]], self.shift)

    def lower(self, ex, env, consts):
        env[self.outputs[0]] = ex.record(self, ex.rt.channel_scale(_contig(env[self.inputs[0]]),
                                                                   _contig(env[self.inputs[1]]), self.shift))


@dataclasses.dataclass(kw_only=True)
class PRelu(VTAStep):
    """PReLU with one slope per channel, ``a / 2^shift`` (`arith.prelu_int8`); the output exponent is the
    input's plus ``pos_shift`` (room for slopes above 1). An (N, C) input (after a dense layer) runs as
    (N, C, 1, 1)."""
    a: np.ndarray
    shift: int
    pos_shift: int = 0

    def compute(self, env, consts):
        env[self.outputs[0]] = prelu_int8(env[self.inputs[0]], self.a, self.shift, self.pos_shift)

    def lower(self, ex, env, consts):
        x = env[self.inputs[0]]
        x4 = x.reshape(x.shape + (1,) * (4 - x.ndim))
        y = ex.record(self, ex.rt.prelu(_contig(x4), _contig(self.a.astype(np.int32)), self.shift, self.pos_shift))
        env[self.outputs[0]] = y.reshape(x.shape)
