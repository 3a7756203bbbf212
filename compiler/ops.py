"""The host executor: what every supported operator computes, in numpy float (ONNX semantics), plus its output
shapes. It is the FP32 reference the quantizer calibrates against, the CPU fallback for ops VTA cannot run, and
the evaluator of constant folding. An op missing here is evaluated by onnxruntime (`vta.compiler.host`): at run
time every float host node runs there anyway (this module stays the executor of constant folding, of shape
inference and of the int8 data movement the program does on the host).
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .ir import CompileError, UnsupportedOpError, as_int_list

__all__ = ["OPS", "run_graph", "run_node", "infer_node", "check_node", "conv_nchw", "conv_params", "pool_params"]


# -- shared geometry --------------------------------------------------------------------------------------------

def _auto_pads(node, in_hw, kernel, strides, dilations):
    ap = node.attr("auto_pad", "NOTSET")
    if isinstance(ap, bytes):
        ap = ap.decode()
    nd = len(in_hw)
    if ap in ("NOTSET", ""):
        pads = as_int_list(node.attr("pads", [0] * (2 * nd)))
        return pads
    if ap == "VALID":
        return [0] * (2 * nd)
    if ap in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for i in range(nd):
            out = -(-in_hw[i] // strides[i])
            total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - in_hw[i])
            small, big = total // 2, total - total // 2
            b, e = (small, big) if ap == "SAME_UPPER" else (big, small)
            begin.append(b)
            end.append(e)
        return begin + end
    raise UnsupportedOpError(f"{node}: auto_pad {ap!r} is not supported")


def conv_params(node, x_shape, w_shape):
    """(strides, pads [t, l, b, r], dilations, group) of a 2-D Conv/ConvInteger, validated."""
    if len(x_shape) != 4:
        raise UnsupportedOpError(f"{node}: only 2-D convolutions (NCHW input) are supported, not input shape "
                                 f"{tuple(x_shape)}")
    kernel = as_int_list(node.attr("kernel_shape", w_shape[2:]))
    strides = as_int_list(node.attr("strides", [1, 1]))
    dil = as_int_list(node.attr("dilations", [1, 1]))
    pads = _auto_pads(node, x_shape[2:], kernel, strides, dil)
    return strides, pads, dil, int(node.attr("group", 1))


def pool_params(node, x_shape):
    if len(x_shape) != 4:
        raise UnsupportedOpError(f"{node}: only 2-D pooling (NCHW input) is supported, not shape {tuple(x_shape)}")
    kernel = as_int_list(node.attr("kernel_shape"))
    strides = as_int_list(node.attr("strides", [1, 1]))
    dil = as_int_list(node.attr("dilations", [1, 1]))
    pads = _auto_pads(node, x_shape[2:], kernel, strides, dil)
    return kernel, strides, pads, dil, int(node.attr("ceil_mode", 0))


def _pool_out(n, k, s, p0, p1, d, ceil_mode):
    span = n + p0 + p1 - ((k - 1) * d + 1)
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p0:   # the last window must start inside the input or left padding
        out -= 1
    return out


CONV_CHUNK = 1 << 23      # elements of one im2col block (a few images at a time; 64 MB in float64)


def conv_nchw(x, w, strides, pads, dil=(1, 1), group=1, dtype=np.float32):
    """2-D cross-correlation, NCHW × OIHW, computed in ``dtype`` (float64 is exact for int8 operands).

    im2col, a few images at a time (at most `CONV_CHUNK` elements), and one BLAS product per block batched over
    groups: (G, O/G, C/G·KH·KW) × (G, C/G·KH·KW, n·OH·OW). (``np.einsum`` without ``optimize`` never reaches
    BLAS: per-tap einsums were the compiler's hot spot.) Sums of int8 products are exact in any order while they
    stay within the dtype's integer range."""
    x = np.asarray(x)                   # converted to ``dtype`` while copied into the im2col block
    w = np.asarray(w, dtype)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    t, l, b, r = pads
    xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r))) if any(pads) else x
    sh, sw = strides
    oh = (h + t + b - ((kh - 1) * dil[0] + 1)) // sh + 1
    ow = (wd + l + r - ((kw - 1) * dil[1] + 1)) // sw + 1
    og, k = o // group, cg * kh * kw
    wg = w.reshape(group, og, k)
    y = np.empty((n, o, oh, ow), dtype)
    step = max(1, CONV_CHUNK // max(c * kh * kw * oh * ow, 1))
    for n0 in range(0, n, step):
        xb = xp[n0:n0 + step]
        nb = len(xb)
        cols = np.empty((group, cg, kh, kw, nb, oh, ow), dtype)
        xg = xb.transpose(1, 0, 2, 3).reshape(group, cg, nb, xb.shape[2], xb.shape[3])   # a view
        for i in range(kh):
            for j in range(kw):
                r0, c0 = i * dil[0], j * dil[1]
                cols[:, :, i, j] = xg[:, :, :, r0:r0 + sh * (oh - 1) + 1:sh, c0:c0 + sw * (ow - 1) + 1:sw]
        yb = np.matmul(wg, cols.reshape(group, k, -1))                  # (G, O/G, nb·OH·OW)
        y[n0:n0 + nb] = yb.reshape(o, nb, oh, ow).transpose(1, 0, 2, 3)
    return y


def _conv_out_shape(node, xs, ws):
    strides, pads, dil, group = conv_params(node, xs, ws)
    oh = (xs[2] + pads[0] + pads[2] - ((ws[2] - 1) * dil[0] + 1)) // strides[0] + 1
    ow = (xs[3] + pads[1] + pads[3] - ((ws[3] - 1) * dil[1] + 1)) // strides[1] + 1
    return (xs[0], ws[0], oh, ow)


# -- float implementations --------------------------------------------------------------------------------------

def _act(node, y):
    """The activation fused into a Conv/Dense by `vta.compiler.passes.fuse_activations` (``_act``)."""
    return np.maximum(y, 0) if node.attr("_act") == "relu" else y


def _conv(node, x, w, b=None):
    strides, pads, dil, group = conv_params(node, x.shape, w.shape)
    y = conv_nchw(x, w, strides, pads, dil, group)
    if b is not None:
        y = y + np.asarray(b, np.float32).reshape(1, -1, 1, 1)
    return [_act(node, y.astype(np.float32))]


def _dense(node, x, w, b=None):
    """Internal op: ``x (N, K) · w (M, K)ᵀ + b``, made from Gemm/MatMul by the passes."""
    y = x.astype(np.float32) @ w.astype(np.float32).T
    if b is not None:
        y = y + b
    return [_act(node, y.astype(np.float32))]


def _conv_integer(node, x, w, xz=None, wz=None):
    strides, pads, dil, group = conv_params(node, x.shape, w.shape)
    xi = x.astype(np.int64) - (0 if xz is None else np.asarray(xz, np.int64).reshape(-1)[0])
    if wz is None:
        wz = 0
    elif np.size(wz) > 1:
        wz = np.asarray(wz, np.int64).reshape(-1, 1, 1, 1)
    else:
        wz = int(np.asarray(wz).reshape(-1)[0])
    wi = w.astype(np.int64) - wz
    # padding of ConvInteger pads with the zero point, i.e. 0 after subtraction
    y = conv_nchw(xi, wi, strides, pads, dil, group, dtype=np.float64)
    return [np.rint(y).astype(np.int32)]


def _matmul_integer(node, a, b, az=None, bz=None):
    ai = a.astype(np.int64) - (0 if az is None else np.asarray(az, np.int64))
    bi = b.astype(np.int64) - (0 if bz is None else np.asarray(bz, np.int64))
    return [np.matmul(ai, bi).astype(np.int32)]


def _gemm(node, a, b, c=None):
    if node.attr("transA", 0):
        a = a.T
    if node.attr("transB", 0):
        b = b.T
    y = float(node.attr("alpha", 1.0)) * (a.astype(np.float32) @ b.astype(np.float32))
    if c is not None:
        y = y + float(node.attr("beta", 1.0)) * c
    return [y.astype(np.float32)]


def _pool(node, x, kind):
    kernel, strides, pads, dil, ceil_mode = pool_params(node, x.shape)
    if kind == "avg" and max(dil) > 1:
        raise UnsupportedOpError(f"{node}: dilated AveragePool is not supported")
    n, c, h, w = x.shape
    oh = _pool_out(h, kernel[0], strides[0], pads[0], pads[2], dil[0], ceil_mode)
    ow = _pool_out(w, kernel[1], strides[1], pads[1], pads[3], dil[1], ceil_mode)
    eh, ew = (kernel[0] - 1) * dil[0] + 1, (kernel[1] - 1) * dil[1] + 1
    # pad enough on the bottom/right for ceil_mode windows
    pb = max(pads[2], (oh - 1) * strides[0] + eh - h - pads[0])
    pr = max(pads[3], (ow - 1) * strides[1] + ew - w - pads[1])
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x.astype(np.float32), ((0, 0), (0, 0), (pads[0], pb), (pads[1], pr)), constant_values=fill)
    acc = None
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            r0, c0 = i * dil[0], j * dil[1]
            v = xp[:, :, r0:r0 + strides[0] * (oh - 1) + 1:strides[0], c0:c0 + strides[1] * (ow - 1) + 1:strides[1]]
            acc = v.copy() if acc is None else (np.maximum(acc, v) if kind == "max" else acc + v)
    if kind == "max":
        return [acc.astype(x.dtype)]
    s = acc
    if node.attr("count_include_pad", 0):
        # padding counts, but not the extra ceil_mode overhang beyond the declared pads
        ones = np.ones((h + pads[0] + pads[2], w + pads[1] + pads[3]), np.float32)
    else:
        ones = np.ones((h, w), np.float32)
        ones = np.pad(ones, ((pads[0], 0), (pads[1], 0)))
    ones = np.pad(ones, ((0, xp.shape[2] - ones.shape[0]), (0, xp.shape[3] - ones.shape[1])))
    cnt = sliding_window_view(ones, (eh, ew))[::strides[0], ::strides[1]][:oh, :ow].sum(axis=(2, 3))
    return [(s / cnt).astype(np.float32)]


def _maxpool(node, x):
    if len(node.outputs) > 1 and node.outputs[1]:
        raise UnsupportedOpError(f"{node}: the Indices output of MaxPool is not supported")
    return _pool(node, x, "max")


def _bn(node, x, scale, b, mean, var):
    if node.attr("training_mode", 0):
        raise UnsupportedOpError(f"{node}: BatchNormalization in training mode is not supported")
    shp = (1, -1) + (1,) * (x.ndim - 2)
    eps = float(node.attr("epsilon", 1e-5))
    y = (x - mean.reshape(shp)) / np.sqrt(var.reshape(shp) + eps) * scale.reshape(shp) + b.reshape(shp)
    return [y.astype(np.float32)]


def _reshape(node, x, shape=None):
    if shape is None:
        shape = node.attr("shape")
    shape = as_int_list(shape)
    if not node.attr("allowzero", 0):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return [x.reshape(shape)]


def _flatten(node, x):
    axis = int(node.attr("axis", 1))
    axis = axis + x.ndim if axis < 0 else axis
    return [x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)), -1)]


def _softmax(node, x, log=False):
    axis = int(node.attr("axis", 1 if node.opset < 13 else -1))
    axis = axis + x.ndim if axis < 0 else axis
    if node.opset < 13:   # coerced to 2-D at axis
        shp = x.shape
        x2 = x.reshape(int(np.prod(shp[:axis], dtype=np.int64)), -1)
        e = np.exp(x2 - x2.max(axis=1, keepdims=True))
        y = e / e.sum(axis=1, keepdims=True)
        return [(np.log(y) if log else y).reshape(shp).astype(np.float32)]
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    y = e / e.sum(axis=axis, keepdims=True)
    return [(np.log(y) if log else y).astype(np.float32)]


def _clip(node, x, lo=None, hi=None):
    if node.opset < 11:
        lo, hi = node.attr("min", -np.inf), node.attr("max", np.inf)
    lo = -np.inf if lo is None else float(np.asarray(lo))
    hi = np.inf if hi is None else float(np.asarray(hi))
    return [np.clip(x, lo, hi).astype(x.dtype)]


def _lrn(node, x):
    size = int(node.attr("size"))
    alpha, beta, bias = float(node.attr("alpha", 1e-4)), float(node.attr("beta", 0.75)), float(node.attr("bias", 1.0))
    sq = np.pad(x.astype(np.float32) ** 2, ((0, 0), ((size - 1) // 2, size // 2), (0, 0), (0, 0)))
    s = sliding_window_view(sq, size, axis=1).sum(axis=-1)
    return [(x / (bias + alpha / size * s) ** beta).astype(np.float32)]


def _axes(node, axes):
    if axes is None:
        axes = node.attr("axes")
    return None if axes is None else as_int_list(axes)


def _unsqueeze(node, x, axes=None):
    axes = sorted(a + x.ndim + len(_axes(node, axes)) if a < 0 else a for a in _axes(node, axes))
    y = x
    for a in axes:
        y = np.expand_dims(y, a)
    return [y]


def _squeeze(node, x, axes=None):
    axes = _axes(node, axes)
    return [np.squeeze(x, axis=None if axes is None else tuple(axes))]


def _concat(node, *xs):
    return [np.concatenate(xs, axis=int(node.attr("axis")))]


def _transpose(node, x):
    perm = node.attr("perm")
    return [np.transpose(x, None if perm is None else as_int_list(perm))]


def _dropout(node, x, *rest):
    if len(node.outputs) > 1 and node.outputs[1]:
        return [x, np.ones(x.shape, bool)]
    return [x]


def _const_of_shape(node, shape):
    v = node.attr("value")
    v = np.zeros(1, np.float32) if v is None else np.asarray(v)
    return [np.full(as_int_list(shape), v.reshape(-1)[0], dtype=v.dtype)]


def _constant(node):
    for k in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if k in node.attrs:
            v = np.asarray(node.attrs[k])
            if k in ("value_float", "value_floats"):
                v = v.astype(np.float32)
            if k in ("value_int", "value_ints"):
                v = v.astype(np.int64)
            return [v]
    raise UnsupportedOpError(f"{node}: Constant without a value attribute is not supported")


def _split(node, x, split=None):
    """ONNX Split: sizes from the ``split`` input (opset ≥ 13) or attribute, else equal parts (``num_outputs``
    from opset 18, else one per output; a last smaller part as ONNX allows). The parts are numpy views."""
    axis = int(node.attr("axis", 0))
    axis = axis + x.ndim if axis < 0 else axis
    sizes = as_int_list(split) if split is not None else node.attr("split")
    n = len(node.outputs)
    if sizes is None:
        per = -(-x.shape[axis] // n)
        sizes = [min(per, x.shape[axis] - i * per) for i in range(n)]
    sizes = as_int_list(sizes)
    if len(sizes) != n or sum(sizes) != x.shape[axis] or min(sizes) < 0:
        raise UnsupportedOpError(f"{node}: split sizes {sizes} do not cut axis {axis} of size {x.shape[axis]} into "
                                 f"{n} parts")
    return np.split(x, np.cumsum(sizes)[:-1], axis=axis)


def _gather(node, x, idx):
    return [np.take(x, np.asarray(idx, np.int64), axis=int(node.attr("axis", 0)))]


def _cast(node, x):
    from onnx import helper  # the only op that needs onnx's type table
    return [x.astype(helper.tensor_dtype_to_np_dtype(int(node.attr("to"))))]


def _sum(node, *xs):
    y = xs[0]
    for v in xs[1:]:
        y = y + v
    return [y]


def _binary(fn):
    def run(node, a, b):
        y = fn(a, b)
        return [y.astype(np.result_type(a, b)) if np.issubdtype(np.result_type(a, b), np.floating) else y]
    return run


def _divide(a, b):
    """ONNX Div: true division for floats; for integers the quotient truncated toward zero (C semantics, as
    exporters use it for shape arithmetic such as ``channels // heads``), not numpy's float result."""
    if np.issubdtype(np.result_type(a, b), np.integer):
        a, b = np.asarray(a), np.asarray(b)
        q = np.abs(a) // np.abs(b)
        return np.where((a < 0) != (b < 0), -q, q).astype(np.result_type(a, b))
    return np.divide(a, b)


def _unary(fn):
    return lambda node, x: [fn(x).astype(x.dtype)]


def _leaky(node, x):
    a = float(node.attr("alpha", 0.01))
    return [np.where(x >= 0, x, a * x).astype(x.dtype)]


def _hard_sigmoid(node, x):
    a, b = float(node.attr("alpha", 0.2)), float(node.attr("beta", 0.5))
    return [np.clip(a * x + b, 0, 1).astype(x.dtype)]


def _hard_swish(node, x):
    return [(x * np.clip(x / 6 + 0.5, 0, 1)).astype(x.dtype)]


def _global_avg(node, x):
    return [x.mean(axis=tuple(range(2, x.ndim)), keepdims=True).astype(np.float32)]


def _global_max(node, x):
    return [x.max(axis=tuple(range(2, x.ndim)), keepdims=True)]


def _reduce_mean(node, x, axes=None):
    axes = _axes(node, axes)
    keep = bool(node.attr("keepdims", 1))
    return [x.mean(axis=None if axes is None else tuple(axes), keepdims=keep).astype(x.dtype)]


OPS = {
    "Conv": _conv, "Dense": _dense, "ConvInteger": _conv_integer, "MatMulInteger": _matmul_integer, "Gemm": _gemm,
    "MatMul": lambda n, a, b: [np.matmul(a, b)],
    "Relu": _unary(lambda x: np.maximum(x, 0)), "Clip": _clip, "LeakyRelu": _leaky,
    "Sigmoid": _unary(lambda x: 1 / (1 + np.exp(-x))), "Tanh": _unary(np.tanh),
    "Add": lambda n, a, b: [_act(n, _binary(np.add)(n, a, b)[0])], "Sub": _binary(np.subtract),
    "Mul": _binary(np.multiply), "Div": _binary(_divide),
    "Sum": _sum, "MaxPool": _maxpool, "AveragePool": lambda n, x: _pool(n, x, "avg"),
    "GlobalAveragePool": _global_avg, "GlobalMaxPool": _global_max, "ReduceMean": _reduce_mean,
    "BatchNormalization": _bn, "Flatten": _flatten, "Reshape": _reshape, "Concat": _concat,
    "Softmax": _softmax, "LogSoftmax": lambda n, x: _softmax(n, x, log=True), "Identity": lambda n, x: [x],
    "Dropout": _dropout, "Constant": _constant, "ConstantOfShape": _const_of_shape, "LRN": _lrn,
    "Unsqueeze": _unsqueeze, "Squeeze": _squeeze, "Transpose": _transpose,
    "Shape": lambda n, x: [np.array(x.shape, np.int64)[int(n.attr("start", 0)):(
        None if n.attr("end") is None else int(n.attr("end")))]], "Gather": _gather, "Cast": _cast,
    "HardSigmoid": _hard_sigmoid, "HardSwish": _hard_swish, "Split": _split,
}

# ops whose output shape equals their first input's
_SAME_SHAPE = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "BatchNormalization", "Softmax", "LogSoftmax",
               "Identity", "Dropout", "LRN", "Cast", "HardSigmoid", "HardSwish"}
_BROADCAST = {"Add", "Sub", "Mul", "Div", "Sum"}


def check_node(node):
    """Every op is accepted: those without a numpy implementation here run in onnxruntime, which names the node
    itself if it cannot run it either."""
    return node.op in OPS


def run_node(node, inputs):
    """Run ``node`` on numpy ``inputs`` (None for absent optional inputs); returns a list of outputs. Ops this
    module does not implement are evaluated by onnxruntime (`vta.compiler.host.run_onnx_node`)."""
    if node.op not in OPS or getattr(node, "domain", ""):
        from .host import run_onnx_node
        return run_onnx_node(node, inputs, node.opset)
    args = list(inputs)
    while args and args[-1] is None:
        args.pop()
    try:
        return OPS[node.op](node, *args)
    except UnsupportedOpError:
        # a variant the numpy executor does not implement (1-D/3-D pooling, …): onnxruntime evaluates it
        from .host import run_onnx_node
        return run_onnx_node(node, inputs, node.opset)
    except (ValueError, TypeError, IndexError) as e:
        shapes = [None if a is None else np.shape(a) for a in inputs]
        raise UnsupportedOpError(f"{node}: cannot evaluate with input shapes {shapes}: {e}") from None


def infer_node(node, shapes, consts, dtypes=None):
    """Output shapes of ``node`` from input ``shapes`` (None for absent) and constant input values (name→array).
    ``dtypes`` (tensor → numpy dtype) types the stand-in values of non-constant inputs (float32 if unknown)."""
    try:
        return _infer_node(node, shapes, consts, dtypes)
    except UnsupportedOpError:       # a variant the numpy shape rules do not cover: evaluate on stand-ins
        vals = [consts[i] if i in consts else (None if s is None else np.zeros(s, (dtypes or {}).get(i, np.float32)))
                for i, s in zip(node.inputs, shapes)]
        from .host import run_onnx_node
        return [None if v is None else np.shape(v) for v in run_onnx_node(node, vals, node.opset)]


def _infer_node(node, shapes, consts, dtypes):
    s = shapes
    op = node.op
    if op not in OPS or getattr(node, "domain", ""):
        op = None    # evaluated below (by onnxruntime) on stand-in values
    if op in _SAME_SHAPE:
        out = [s[0]]
        if op == "Dropout" and len(node.outputs) > 1:
            out.append(s[0])
        return out
    if op in _BROADCAST:
        return [tuple(np.broadcast_shapes(*[x for x in s if x is not None]))]
    if op in ("Conv", "ConvInteger"):
        return [_conv_out_shape(node, s[0], s[1])]
    if op in ("MaxPool", "AveragePool"):
        kernel, strides, pads, dil, ceil_mode = pool_params(node, s[0])
        return [(s[0][0], s[0][1], _pool_out(s[0][2], kernel[0], strides[0], pads[0], pads[2], dil[0], ceil_mode),
                 _pool_out(s[0][3], kernel[1], strides[1], pads[1], pads[3], dil[1], ceil_mode))]
    if op in ("GlobalAveragePool", "GlobalMaxPool"):
        return [tuple(s[0][:2]) + (1,) * (len(s[0]) - 2)]
    if op == "Dense":
        return [(s[0][0], s[1][0])]
    if op == "Gemm":
        m = s[0][1] if node.attr("transA", 0) else s[0][0]
        n = s[1][0] if node.attr("transB", 0) else s[1][1]
        return [(m, n)]
    if op in ("MatMul", "MatMulInteger"):
        a, b = s[0], s[1]
        if a[-1] != b[-2 if len(b) > 1 else 0]:
            raise CompileError(f"{node}: the inner dimensions of its operands must match, not {tuple(a)} · "
                               f"{tuple(b)} ({a[-1]} ≠ {b[-2 if len(b) > 1 else 0]})")
        if len(a) == 1 or len(b) == 1:
            return [np.matmul(np.zeros(a, np.int8), np.zeros(b, np.int8)).shape]
        return [tuple(np.broadcast_shapes(a[:-2], b[:-2])) + (a[-2], b[-1])]
    # shape-dependent ops: evaluate on zeros (cheap: these ops do no arithmetic worth mentioning)
    vals = []
    for name, shp in zip(node.inputs, s):
        if name in consts:
            vals.append(consts[name])
        elif shp is None:
            vals.append(None)
        else:
            vals.append(np.zeros(shp, (dtypes or {}).get(name, np.float32)))
    if op in ("Reshape", "Unsqueeze", "Squeeze", "ConstantOfShape", "Gather", "ReduceMean") and \
            any(n and n not in consts for n in node.inputs[1:]):
        raise UnsupportedOpError(f"{node}: its shape/axes input must be a constant (dynamic shapes are not "
                                 f"supported)")
    return [np.shape(v) for v in run_node(node, vals)]


def macs_of(node, shapes):
    """Multiply-accumulates of a Conv/Gemm/MatMul node (0 for other ops)."""
    if node.op in ("Conv", "ConvInteger"):
        out, w = shapes[node.outputs[0]], shapes[node.inputs[1]]
        return int(np.prod(out, dtype=np.int64) * np.prod(w[1:], dtype=np.int64))
    if node.op == "Dense":
        return int(np.prod(shapes[node.outputs[0]], dtype=np.int64) * shapes[node.inputs[1]][1])
    if node.op in ("Gemm", "MatMul", "MatMulInteger"):
        out = shapes[node.outputs[0]]
        a = shapes[node.inputs[0]]
        k = a[0] if node.op == "Gemm" and node.attr("transA", 0) else a[-1]
        return int(np.prod(out, dtype=np.int64) * k)
    return 0


def run_graph(g, feeds, keep=True):
    """Run graph ``g`` in float on the host (one onnxruntime session, `vta.compiler.host.run_graph_float`);
    returns every tensor (``keep``) or only the outputs, by name."""
    from .host import run_graph_float
    return run_graph_float(g, feeds, keep)


def run_graph_numpy(g, feeds, keep=True):
    """`run_graph` with this module's numpy ops (a cross-check of the numpy executor)."""
    env = dict(g.consts)
    env.update(feeds)
    for n in g.nodes:
        outs = run_node(n, [env[i] if i else None for i in n.inputs])
        for o, v in zip(n.outputs, outs):
            if o:
                env[o] = v
    if keep:
        return env
    return {o: env[o] for o in g.outputs}
