"""VTA/CPU partitioning: for every node, can VTA run it (through the JIT's operators), and if not, why.

The answer depends only on the op, its attributes and static shapes; the quantizer may still keep a VTA-capable
layer on the host (a HAGO-style choice), which the report shows separately. Ops that only move data (Flatten,
Reshape, Transpose, Squeeze, Unsqueeze, Concat) run on the host on int8 data without arithmetic.
"""

import dataclasses

import numpy as np

from ..errors import VTAError
from ..jit.ops.group_conv2d import GroupPacking
from ..jit.ops.matmul import MatmulShape, matmul_geometry
from ..jit.ops.reduce import MAX_POSITIONS as MAX_POOL_POSITIONS
from ..jit.schedule import ConvGeometry, default_conv2d_schedule
from .dilation import PhaseSplit
from .geometry import ConvGeom
from .ir import UnsupportedOpError
from .ops import pool_params

__all__ = ["Capability", "partition", "LAYOUT_OPS", "ACTIVATION_OPS", "channel_mul_operands",
           "prelu_slopes"]

ACTIVATION_OPS = ("Clip", "LeakyRelu", "HardSigmoid", "HardSwish")
LAYOUT_OPS = {"Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Split"}


@dataclasses.dataclass
class Capability:
    vta: bool
    reason: str
    geom: object = None      # a convolution's `ConvGeom` (asymmetric padding done on the host first, groups)


def _conv(node, g, cfg):
    xs, ws = g.shapes[node.inputs[0]], g.shapes[node.inputs[1]]
    if node.inputs[1] not in g.consts:
        return Capability(False, "weights are not constant (VTA needs them quantized ahead of time)")
    if len(node.inputs) > 2 and node.inputs[2] and node.inputs[2] not in g.consts:
        return Capability(False, "bias is not constant")
    geom = ConvGeom.of(node, xs, ws)
    group = geom.groups
    cg, og = xs[1] // group, ws[0] // group
    if max(geom.dilations) > 1:
        return _dilated_conv(node, g, cfg, geom, xs, ws)
    try:
        h, w = geom.device_in_hw
        if group > 1:
            packing = GroupPacking.of(cfg, xs[1], ws[0], group)
            jit_geom = packing.geometry(cfg, 1, h, w, ws[2], ws[3], geom.strides, geom.device_padding)
        else:
            jit_geom = ConvGeometry.of(cfg, 1, cg, h, w, og, ws[2], ws[3], geom.strides, geom.device_padding)
        default_conv2d_schedule(cfg, jit_geom)
    except VTAError as e:  # a ScheduleError or geometry limit of the JIT, reported verbatim
        return Capability(False, f"the JIT cannot schedule it: {e}")
    big = _fits_dram(ws, xs, g.shapes[node.outputs[0]], "conv")
    if big:
        return big
    k = int(np.prod(ws[1:]))
    if k * 128 * 127 >= 1 << 31:
        return Capability(False, f"reduction of {k} int8 products could overflow the int32 accumulator")
    why = f"int8 conv2d on the GEMM core ({ws[0]}×{xs[1]}×{ws[2]}×{ws[3]})"
    if group > 1:
        why += (f" as {group} groups ({cg}→{og} channels each), {packing.k} per block-diagonal "
                f"{cfg.block_in}×{cfg.block_out} GEMM block ({100 * packing.utilisation:.0f} % of the products "
                f"useful)")
    if geom.prepad:
        why += f"; asymmetric padding {geom.prepad} applied on the host first"
    return Capability(True, why, geom)


MAX_OP_DRAM = 256 << 20   # the largest DRAM footprint of one operator the compiler will place on VTA


def _fits_dram(ws, xs, ys, what):
    need = int(np.prod(ws)) + int(np.prod(xs)) + 4 * int(np.prod(ys))
    if need > MAX_OP_DRAM:
        return Capability(False, f"its int8 {what} weights and activations ({need >> 20} MiB) exceed the "
                                 f"{MAX_OP_DRAM >> 20} MiB a VTA operator may occupy in DRAM")
    return None


def _dense(node, g, cfg):
    xs, ws = g.shapes[node.inputs[0]], g.shapes[node.inputs[1]]
    if len(xs) != 2:
        return Capability(False, f"dense input must be 2-D, not {xs}")
    big = _fits_dram(ws, xs, g.shapes[node.outputs[0]], "dense")
    if big:
        return big
    if ws[1] * 128 * 127 >= 1 << 31:
        return Capability(False, f"reduction of {ws[1]} int8 products could overflow the int32 accumulator")
    return Capability(True, f"int8 dense on the GEMM core ({ws[0]}×{ws[1]})")


def _matmul(node, g, cfg):
    """A MatMul left after `vta.compiler.passes.flatten_matmul` (constant 2-D right operands became Dense): the
    product of two activations — attention's Q·Kᵀ and P·V, one per head — on the GEMM core with the right operand
    loaded at run time into the weight buffer (`vta.jit.ops.matmul`)."""
    a, b = node.inputs[:2]
    xa, xb = g.shapes[a], g.shapes[b]
    if b in g.consts or a in g.consts:
        which = "right" if b in g.consts else "left"
        return Capability(False, f"MatMul with a constant {len(g.shapes[b if b in g.consts else a])}-D {which} "
                                 f"operand (only 2-D constant right operands become VTA dense layers): float32 on "
                                 f"the host")
    if len(xa) < 2 or len(xb) < 2:
        return Capability(False, f"MatMul of a 1-D operand ({xa} · {xb}) is a matrix-vector product: float32 on "
                                 f"the host")
    try:
        lead = np.broadcast_shapes(xa[:-2], xb[:-2])
    except ValueError:
        return Capability(False, f"MatMul operands {xa} and {xb} do not broadcast")
    if xa[-1] != xb[-2]:
        return Capability(False, f"MatMul inner dimensions differ ({xa} · {xb})")
    shape = MatmulShape(int(np.prod(lead, dtype=np.int64)), xa[-2], xa[-1], xb[-1])
    if shape.k * 128 * 127 >= 1 << 31:
        return Capability(False, f"reduction of {shape.k} int8 products could overflow the int32 accumulator")
    try:
        default_conv2d_schedule(cfg, matmul_geometry(cfg, shape))
    except VTAError as e:
        return Capability(False, f"the JIT cannot schedule it: {e}")
    big = _fits_dram((shape.g, shape.k, shape.m), (shape.g, shape.n, shape.k), g.shapes[node.outputs[0]], "matmul")
    if big:
        return big
    heads = f"{shape.g} × " if shape.g > 1 else ""
    return Capability(True, f"int8 matmul of two activations on the GEMM core ({heads}{shape.n}×{shape.k} · "
                            f"{shape.k}×{shape.m}; right operand through the weight buffer)")


def _maxpool(node, g, cfg):
    xs = g.shapes[node.inputs[0]]
    kernel, strides, pads, dil, ceil_mode = pool_params(node, xs)
    if max(dil) > 1:
        return Capability(False, f"dilated max pooling (dilations={dil}) is not supported by the VTA max_pool2d")
    if (pads[0], pads[1]) != (pads[2], pads[3]):
        return Capability(False, f"asymmetric pooling pads {pads} are not supported by the VTA max_pool2d")
    oh = (xs[2] + 2 * pads[0] - kernel[0]) // strides[0] + 1
    ow = (xs[3] + 2 * pads[1] - kernel[1]) // strides[1] + 1
    if ceil_mode and g.shapes[node.outputs[0]][2:] != (oh, ow):
        return Capability(False, "ceil_mode pooling with a partial last window is not supported by VTA max_pool2d")
    if pads[0] >= kernel[0] or pads[1] >= kernel[1]:
        return Capability(False, f"padding {pads} not smaller than the kernel {kernel}")
    return Capability(True, "int8 max pooling on the tensor ALU")


def _add(node, g, cfg):
    a, b = node.inputs[:2]
    if a in g.consts or b in g.consts:
        return Capability(False, "adding a constant is a float op on the host (no int8 constant operand path)")
    if g.shapes[a] != g.shapes[b]:
        return Capability(False, f"broadcasting add {g.shapes[a]} + {g.shapes[b]} is not supported on VTA")
    return Capability(True, "int8 element-wise add on the tensor ALU")


def _clip_bounds(node, g):
    """(lo, hi) of a Clip (``None`` for an absent bound), or ``None`` when a bound is not a constant."""
    if node.opset < 11:
        return node.attr("min"), node.attr("max")
    bounds = []
    for name in (node.inputs[1:] + ["", ""])[:2]:
        if name and name not in g.consts:
            return None
        bounds.append(float(np.asarray(g.consts[name])) if name else None)
    return tuple(bounds)


def _activation(node, g, cfg):
    """Clip / LeakyRelu / HardSigmoid / HardSwish on the tensor ALU (the quantizer still keeps one on the host,
    saying so, when its integer form would miss the float function by more than one output step)."""
    if node.op == "Clip":
        if _clip_bounds(node, g) is None:
            return Capability(False, "Clip bounds are not constant (VTA needs them as immediates)")
        return Capability(True, "int8 clip on the tensor ALU (MAX/MIN with immediates at the input's scale)")
    if node.op == "LeakyRelu":
        a = float(node.attr("alpha", 0.01))
        if not 0.0 <= a <= 1.0:
            return Capability(False, f"LeakyRelu slope {a} outside 0..1 (the negative side would need another "
                                     f"output scale): float32 on the host")
        return Capability(True, f"int8 LeakyRelu on the tensor ALU (negative side: MUL + rounding SHR ≈ {a})")
    what = "clip of an affine function" if node.op == "HardSigmoid" else "x · hard-sigmoid(x), MUL of two lanes"
    return Capability(True, f"int8 {node.op} on the tensor ALU ({what})")


def _dilated_conv(node, g, cfg, geom, xs, ws):
    """A dilated convolution runs as its phase images batched through one undilated conv2d
    (`vta.compiler.dilation`): stride 1, one group and symmetric padding only."""
    dil = list(geom.dilations)
    if geom.groups != 1 or tuple(geom.strides) != (1, 1) or geom.prepad:
        return Capability(False, f"dilated convolution (dilations={dil}) with groups, strides or asymmetric "
                                 f"padding is not supported on VTA (only stride 1, one group, symmetric pads)")
    ps = PhaseSplit(geom.in_hw, geom.kernel, (geom.pads[0], geom.pads[1]), geom.dilations)
    qh, qw = ps.phase_hw
    try:
        default_conv2d_schedule(cfg, ConvGeometry.of(cfg, 1, xs[1], qh, qw, ws[0], ws[2], ws[3], (1, 1), (0, 0)))
    except VTAError as e:
        return Capability(False, f"the JIT cannot schedule the phase convolution of a dilated conv: {e}")
    big = _fits_dram(ws, (xs[0] * ps.dil[0] * ps.dil[1], xs[1], qh, qw), g.shapes[node.outputs[0]], "conv")
    if big:
        return big
    if int(np.prod(ws[1:])) * 128 * 127 >= 1 << 31:
        return Capability(False, f"reduction of {int(np.prod(ws[1:]))} int8 products could overflow the int32 "
                                 f"accumulator")
    return Capability(True, f"int8 dilated conv2d on the GEMM core ({ws[0]}×{xs[1]}×{ws[2]}×{ws[3]}, dilations "
                            f"{dil}) as {ps.dil[0] * ps.dil[1]} phase images of {qh}×{qw} in one batch", geom)


def channel_mul_operands(node, g):
    """``(x, s)`` when Mul ``node`` scales an NCHW tensor by one factor per image and channel (N, C, 1, 1), in
    whichever operand order, else ``None``."""
    if len(node.inputs) != 2:
        return None
    a, b = node.inputs
    for x, s in ((a, b), (b, a)):
        xs, ss = g.shapes.get(x), g.shapes.get(s)
        if xs is not None and ss is not None and len(xs) == 4 and tuple(ss) == (xs[0], xs[1], 1, 1):
            return x, s
    return None


def _channel_mul(node, g, cfg):
    """A squeeze-and-excitation gate ``x · s`` (s: N×C×1×1) as lane MULs on the tensor ALU; other products
    (element-wise, constants, other broadcasts) stay on the host."""
    ops = channel_mul_operands(node, g)
    if ops is None:
        shapes = [g.shapes.get(i) for i in node.inputs]
        return Capability(False, f"VTA multiplies only an NCHW tensor by one factor per image and channel "
                                 f"(N×C×1×1), not {' × '.join(str(s) for s in shapes)}: float32 on the host")
    if any(i in g.consts for i in ops):
        return Capability(False, "multiplying by a constant is a float op on the host (no int8 constant operand "
                                 "path)")
    return Capability(True, "int8 per-channel gate (x · s, s one factor per image and channel) on the tensor ALU "
                            "(lane MUL, rounding shift)")


PRELU_MAX_SLOPE = 256


def prelu_slopes(node, g):
    """The (C,) float slopes of PRelu ``node`` when they are constant and one per channel (or one for all) of an
    (N, C) or (N, C, H, W) input, else ``None``."""
    x, a = node.inputs[:2]
    xs = g.shapes.get(x)
    if a not in g.consts or xs is None or len(xs) not in (2, 4):
        return None
    v = np.asarray(g.consts[a], np.float64)
    c = int(xs[1])
    if v.size == 1:
        return np.full(c, float(v.ravel()[0]))
    # ONNX broadcasts from the right: the slopes lie on the channel axis as (C,) for an (N, C) input and as
    # (C, 1, 1) or (1, C, 1, 1) for NCHW; (C,) against NCHW would be per column
    per_channel = {(c,), (1, c)} if len(xs) == 2 else {(c, 1, 1), (1, c, 1, 1)}
    return v.reshape(-1) if tuple(v.shape) in per_channel else None


def _prelu(node, g, cfg):
    """PReLU with constant per-channel slopes within ±2^8 on the tensor ALU (MAX/MIN halves, lane MUL by the
    int32 slope, rounding shifts, ADD; slopes above 1 coarsen the output exponent)."""
    slopes = prelu_slopes(node, g)
    if slopes is None:
        return Capability(False, "PRelu slopes that are not constant and per channel: float32 on the host")
    if np.abs(slopes).max() > PRELU_MAX_SLOPE:
        return Capability(False, f"PRelu slope {float(np.abs(slopes).max()):g} beyond ±{PRELU_MAX_SLOPE} (its "
                                 f"int32 form would lose the slope's precision): float32 on the host")
    return Capability(True, "int8 PReLU on the tensor ALU (per-channel slope as an int32 lane MUL, rounding shift)")


def _global_avg_pool(node, g, cfg):
    """A mean over H×W of NCHW data: ADDs on the tensor ALU, then a rounding shift (a power-of-two H·W) or a
    multiply by the reciprocal (the quantizer keeps it on the host when that misses by more than half a step)."""
    xs = g.shapes[node.inputs[0]]
    if len(xs) != 4:
        return Capability(False, f"GlobalAveragePool of a {len(xs)}-D tensor (VTA pools NCHW): float32 on the host")
    hw = int(xs[2]) * int(xs[3])
    if hw > MAX_POOL_POSITIONS:
        return Capability(False, f"GlobalAveragePool over {hw} positions (the int32 sum is exact for at most "
                                 f"{MAX_POOL_POSITIONS}): float32 on the host")
    how = "a rounding shift" if hw & (hw - 1) == 0 else "a multiply by the reciprocal and rounding shifts"
    return Capability(True, f"int8 mean over {xs[2]}×{xs[3]} on the tensor ALU (ADDs, then {how})")


def partition(g, cfg):
    """``{node name: Capability}`` for every node of ``g`` (shapes inferred)."""
    out = {}
    for n in g.nodes:
        check = _CHECKS.get(n.op)
        if check is not None:
            c = check(n, g, cfg)
        elif n.op == "Relu":
            c = Capability(True, "int8 max with 0 on the tensor ALU")
        elif n.op in ACTIVATION_OPS:
            c = _activation(n, g, cfg)
        elif n.op in ("ConvInteger", "MatMulInteger"):
            c = Capability(True, "exact integer GEMM on VTA while operands and results fit int8")
            if n.op == "ConvInteger":
                ci = _conv(n, g, cfg) if n.inputs[1] in g.consts else Capability(False, "weights are not constant")
                c = ci if not ci.vta else dataclasses.replace(c, geom=ci.geom)
            elif n.inputs[1] not in g.consts or len(g.shapes[n.inputs[0]]) != 2 or len(g.shapes[n.inputs[1]]) != 2:
                c = Capability(False, "MatMulInteger needs a 2-D input and constant 2-D weights on VTA")
        elif n.op in LAYOUT_OPS:
            c = Capability(False, "data movement only: runs on the host (no arithmetic)")
        elif n.op == "Concat":
            c = Capability(False, "data movement (with per-input shifts to a common scale) on the host")
        else:
            c = Capability(False, f"VTA has no {n.op} operator: float32 on the host")
        out[n.name] = c
    return out


def _host_when_unsupported(check):
    """``check`` with the numpy executor's "unsupported variant" (1-D or 3-D pooling/convolution, …) answered
    as a host placement: onnxruntime runs every such variant on the host."""
    def wrapped(node, g, cfg):
        try:
            return check(node, g, cfg)
        except UnsupportedOpError as e:
            return Capability(False, f"{e.args[0].split(': ', 1)[-1]}: float32 on the host (onnxruntime)")
    return wrapped


_conv, _maxpool = _host_when_unsupported(_conv), _host_when_unsupported(_maxpool)


def _data_operands(check):
    """``check`` for an element-wise op, refusing operands computed only from constants and shapes (a
    detector's anchor grid): with a dynamic batch they stay batch 1 and broadcast, which VTA's add cannot."""
    def wrapped(node, g, cfg):
        data = getattr(g, "data_tensors", None)
        const_like = [i for i in node.inputs[:2] if data is not None and i not in data and i not in g.consts]
        if const_like:
            return Capability(False, f"operand {const_like[0]!r} is computed from shapes/constants only (it "
                                     f"broadcasts over the batch): float32 on the host")
        return check(node, g, cfg)
    return wrapped


_add = _data_operands(_add)
_matmul = _data_operands(_matmul)
_channel_mul = _data_operands(_channel_mul)

# op → its placement check (the wrapped versions above); ops with no entry are decided in `partition` itself
_CHECKS = {"Conv": _conv, "Dense": _dense, "MatMul": _matmul, "MaxPool": _maxpool, "Add": _add,
           "GlobalAveragePool": _global_avg_pool, "Mul": _channel_mul, "PRelu": _prelu}
