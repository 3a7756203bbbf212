"""Post-training refinement of one quantized conv/dense layer from calibration data: weight rounding chosen to
minimise the layer's output error (AdaRound's objective, solved greedily) and empirical bias correction
(Nagel et al., "Data-Free Quantization", §4.2, empirical variant).

Both work on what the device computes. The layer's input is its int8 calibration input under the current plan
(``xq``, exponent ``e_x``, i.e. with every upstream quantization error included); the target is the FP32 model's
pre-activation on the FP32 input (``conv(x, W)`` without the bias). Results are integers the hardware runs as is:

- **Rounding** (`fit_rounding`): each int8 weight stays at ``floor`` or ``ceil`` of ``w / 2^e_w`` (AdaRound's
  constraint, so the weight error stays below one step), chosen per output channel by coordinate descent on
  ``‖Xq·v − t‖²`` (``t`` the target in accumulator units) from round-to-nearest: a weight flips when that lowers
  the error, until no flip helps (or ``passes`` sweeps). Only the layer's second-moment statistics
  ``XqᵀXq`` and ``Xqᵀt`` are kept, accumulated batch by batch. With ``centered`` the means are removed first
  (the mean error is then left to bias correction).
- **Bias correction** (`bias_delta`): the mean per output channel of ``conv(xq·2^e_x, wq·2^e_w) − conv(x, W)``
  over the calibration set (batch, rows, columns) is subtracted from the float bias before it is quantized at
  ``2^(e_x+e_w)`` — the int32 bias VTA adds absorbs the expected error of the weights and of the inputs.

Deterministic: fixed sweep order, no randomness.
"""

import dataclasses

import numpy as np

from ..compiler.ops import conv_nchw

__all__ = ["LayerFit", "LayerData", "fit_layer", "fit_rounding", "bias_delta", "ELEMENTS", "MAX_FIT_WORK"]


@dataclasses.dataclass(eq=False)
class LayerFit:
    """Fitted data of one layer: int8 weights chosen for exponent(s) ``e_w`` (or None) and the float bias
    correction per output channel (or None)."""
    wq: object = None          # int8 array shaped like the weights, valid for exponent(s) e_w
    e_w: object = None         # int or int array per output channel
    bias_delta: object = None  # float64 per output channel, subtracted from the float bias

    def __eq__(self, other):
        if not isinstance(other, LayerFit):
            return NotImplemented
        same = lambda a, b: (a is None and b is None) or (a is not None and b is not None and
                                                          np.array_equal(np.asarray(a), np.asarray(b)))
        return same(self.wq, other.wq) and same(self.e_w, other.e_w) and same(self.bias_delta, other.bias_delta)

    def matches(self, e_w):
        return self.e_w is not None and np.array_equal(np.asarray(self.e_w), np.asarray(e_w))


@dataclasses.dataclass
class LayerData:
    """One conv/dense layer's calibration data as pairs (int8 input batch, FP32 input batch), and geometry."""
    op: str                    # "Conv" or "Dense"
    w: np.ndarray              # FP32 weights (O, C, KH, KW) or (O, K)
    batches: list              # [(xq int8, x float32)]
    e_x: float                 # an int, but for an exact weight scale's input quantized to match it
    geom: object = None        # a conv's `vta.compiler.geometry.ConvGeom` (None for dense)


def _q_preact(d, xq, wq, e_w):
    """What the device accumulates (without bias), in float64: exact for int8 operands, scaled to real units."""
    ws = wq.astype(np.float64) * _scale(e_w, wq.ndim)
    if d.op == "Dense":
        return (xq.astype(np.float64) @ ws.T) * 2.0 ** d.e_x
    g = d.geom
    return conv_nchw(g.host_pad(xq), ws, g.strides, g.device_pads, group=g.groups, dtype=np.float64) * 2.0 ** d.e_x


def _f_preact(d, x):
    if d.op == "Dense":
        return x.astype(np.float64) @ d.w.astype(np.float64).T
    g = d.geom
    return conv_nchw(x, d.w, g.strides, g.pads, g.dilations, g.groups, dtype=np.float64)


def _scale(e_w, ndim):
    e = np.asarray(e_w, np.float64)
    return np.exp2(e).reshape((-1,) + (1,) * (ndim - 1)) if e.ndim else float(np.exp2(e))


ELEMENTS = 1 << 22     # per-chunk budget (float64 elements) of the im2col rows and the convolution outputs
MAX_FIT_WORK = 2e9     # K·K·O of one coordinate-descent sweep: larger layers are not offered the rounding fit


def _chunks(d, per_image):
    """The calibration batches split into runs of images whose working arrays stay within `ELEMENTS`."""
    m = max(1, ELEMENTS // max(per_image, 1))
    for xq, x in d.batches:
        for i in range(0, len(xq), m):
            yield xq[i:i + m], x[i:i + m]


def _out_elems(d):
    if d.op == "Dense":
        return d.w.shape[0]
    oh, ow = d.geom.out_hw
    return oh * ow * max(d.w.shape[0], int(np.prod(d.w.shape[1:])))


def bias_delta(d, wq, e_w):
    """Mean per output channel of (device pre-activation − FP32 pre-activation) over the calibration data."""
    tot, cnt = 0.0, 0
    for xq, x in _chunks(d, _out_elems(d)):
        diff = _q_preact(d, xq, wq, e_w) - _f_preact(d, x)
        axes = (0,) if diff.ndim == 2 else (0, 2, 3)
        tot = tot + diff.sum(axis=axes)
        cnt += diff.size // diff.shape[1]
    return np.asarray(tot, np.float64) / max(cnt, 1)


def _rows(d, xq, x):
    """(rows of int8 input patches, matching FP32 targets) for a dense or an ungrouped conv."""
    if d.op == "Dense":
        return xq.astype(np.float64), _f_preact(d, x)
    g = d.geom
    t, l, b, r = g.pads          # the device's padding: the pre-pad, or the symmetric pads (never both)
    xp = np.pad(xq, ((0, 0), (0, 0), (t, b), (l, r))).astype(np.float64)
    o, c, kh, kw = d.w.shape
    sh, sw = g.strides
    oh, ow = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    taps = [xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] for i in range(kh) for j in range(kw)]
    cols = np.stack(taps, axis=2)                                  # (N, C, KH·KW, OH, OW)
    cols = cols.transpose(0, 3, 4, 1, 2).reshape(-1, c * kh * kw)  # rows (n, oh, ow); columns (c, kh, kw)
    y = _f_preact(d, x).transpose(0, 2, 3, 1).reshape(-1, o)
    return cols, y


def fit_rounding(d, wq, e_w, wmax=127, centered=False, passes=8):
    """Per-weight floor/ceil choice minimising the layer's output error on the calibration data (see module
    docstring). Returns int8 weights shaped like ``wq``. Dense and ungrouped conv only."""
    o = d.w.shape[0]
    w2 = d.w.reshape(o, -1).astype(np.float64)
    k = w2.shape[1]
    if float(k) * k * o > MAX_FIT_WORK:
        raise ValueError(f"the rounding fit of a {o}×{k} layer needs {float(k) * k * o:.2g} operations per sweep, "
                         f"more than {MAX_FIT_WORK:.0g}")
    s = np.broadcast_to(np.asarray(_scale(e_w, 2), np.float64).reshape(-1), (o,)).copy()
    A, G, sx, st, n = 0.0, 0.0, 0.0, 0.0, 0
    for xq, x in _chunks(d, _out_elems(d)):
        X, Y = _rows(d, xq, x)
        T = Y / (2.0 ** d.e_x * s)                     # target in accumulator units of each output channel
        A = A + X.T @ X
        G = G + X.T @ T
        sx = sx + X.sum(0)
        st = st + T.sum(0)
        n += len(X)
    A, G = A / n, G / n
    if centered:
        mx, mt = sx / n, st / n
        A = A - np.outer(mx, mx)
        G = G - np.outer(mx, mt)
    V = wq.reshape(o, -1).T.astype(np.float64)         # (K, O) current integer weights
    u = (w2 / s[:, None]).T                            # (K, O) exact real-valued weights in steps
    lo, hi = np.floor(u), np.ceil(u)
    R = A @ V - G                                      # half the gradient of the objective
    diag = np.diag(A)
    for _ in range(passes):
        flips = 0
        for i in range(V.shape[0]):
            alt = np.where(V[i] == lo[i], hi[i], lo[i])
            d_i = np.where((alt != V[i]) & (np.abs(alt) <= wmax), alt - V[i], 0.0)
            gain = 2.0 * d_i * R[i] + diag[i] * d_i * d_i          # change of the objective
            take = (d_i != 0) & (gain < -1e-12 * (1.0 + diag[i]))
            if not take.any():
                continue
            step = np.where(take, d_i, 0.0)
            V[i] += step
            R += np.outer(A[:, i], step)
            flips += int(take.sum())
        if not flips:
            break
    return V.T.reshape(wq.shape).astype(np.int8)


def fit_layer(d, wq, e_w, w_fit, bias_corr, wmax=127):
    """The `LayerFit` for the choice (``w_fit`` rounding, ``bias_corr``) of a layer with nearest-rounded
    weights ``wq`` at exponent(s) ``e_w``."""
    fit = LayerFit(e_w=np.array(e_w, copy=True))
    if w_fit:
        wq = fit_rounding(d, wq, e_w, wmax, centered=bias_corr)
        fit.wq = wq
    if bias_corr:
        fit.bias_delta = bias_delta(d, wq, e_w)
    return fit
