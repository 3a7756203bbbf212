"""The quantized program: a graph lowered to a list of integer (and host float) steps with every scale, shift and
int8 weight decided, plus its bit-exact numpy simulation.

Numbers: an int8 tensor ``q`` with exponent ``e`` stands for ``q · 2^e``. A VTA conv/dense computes
``clip((Σ q_x·q_w + bias) >> shift, 0 | -128, 127)`` with ``shift = e_y − e_x − e_w`` and the bias quantized at
``2^(e_x+e_w)`` plus ``2^(shift−1)`` (so the floor shift rounds half up). An add aligns its operands with shifts
(negative = left) and shifts the sum. The numpy simulation here reproduces the device arithmetic exactly, so the
quantization search scores exactly what VTA will compute, and tests can demand bit equality with the simulator.

Tensor keys: ``"name"`` is the float tensor, ``"name@q"`` its int8 form.
"""

import dataclasses

import numpy as np

from ..compiler.ir import CompileError
from ..compiler.ops import conv_nchw, conv_params, pool_params, run_node
from ..compiler.partition import LAYOUT_OPS
from .calibrate import exponent

__all__ = ["Step", "Program", "LayerChoice", "Plan", "build_program", "run_program", "quantize_weights"]


def qkey(t):
    return t + "@q"


@dataclasses.dataclass
class Step:
    kind: str             # quantize, dequantize, conv, dense, add, relu, maxpool, layout, concat, float, intgemm
    node: object          # the graph Node (None for conversions)
    inputs: list
    outputs: list
    device: str           # "vta" or "host"
    reason: str = ""
    params: dict = dataclasses.field(default_factory=dict)
    order: int = 0        # index of the graph node that created it (for incremental simulation)


@dataclasses.dataclass(frozen=True)
class LayerChoice:
    """Per-layer quantization choices: placement, weight scale granularity and rounding, and the calibration-data
    refinements of `vta.quant.refine` (their fitted integers live in `Plan.fits`)."""
    place: str = "vta"            # "vta" or "host" (float32 on the CPU)
    w_gran: str = "tensor"        # "tensor" or "channel"
    w_round: str = "ceil"         # "ceil" or "nearest" (of the weight scale's exponent)
    w_fit: bool = False           # int8 weights rounded floor/ceil to minimise the layer's output error
    bias_corr: bool = False       # int32 bias corrected by the mean output error (empirical bias correction)


@dataclasses.dataclass
class Plan:
    """Activation exponents by tensor name (or calibration (method, rounding) per tensor) and layer choices."""
    act: dict = dataclasses.field(default_factory=dict)          # tensor → (method, rounding)
    layers: dict = dataclasses.field(default_factory=dict)       # node name → LayerChoice
    default_act: tuple = ("max", "ceil")
    first_layer_host: bool = False                               # upstream relay.quantize's skip_conv_layers=[0]
    offload_all: bool = False     # also quantize float inputs of ReLU/MaxPool to run them on VTA
    fits: dict = dataclasses.field(default_factory=dict)         # node name → refine.LayerFit (w_fit, bias_corr)

    def copy(self):
        return Plan(dict(self.act), dict(self.layers), self.default_act, self.first_layer_host, self.offload_all,
                    dict(self.fits))

    def needs_fit(self, name):
        c = self.layers.get(name)
        return c is not None and c.place == "vta" and (c.w_fit or c.bias_corr)


@dataclasses.dataclass
class Program:
    steps: list
    exps: dict            # tensor → exponent of its int8 form
    outputs: list         # float keys of the graph outputs
    inputs: list
    n_nodes: int


def quantize_weights(w, gran, rounding, wmax=127):
    """int8 weights and exponent(s): ``w ≈ q · 2^e`` per tensor (scalar e) or per output channel (array)."""
    axes = tuple(range(1, w.ndim))
    m = np.abs(w).max(axis=axes) if gran == "channel" else np.array([np.abs(w).max()])
    with np.errstate(divide="ignore"):
        r = np.log2(np.maximum(m, 1e-30) / wmax)
    e = np.ceil(r - 1e-9) if rounding == "ceil" else np.rint(r)
    e = np.where(m > 0, e, 0).astype(np.int64)
    if gran != "channel":
        e = e[0]
    return _wq(w, e, wmax), e


def _wq(w, e, wmax):
    s = np.exp2(np.asarray(e, np.float64)).reshape((-1,) + (1,) * (w.ndim - 1)) if np.ndim(e) else 2.0 ** int(e)
    return np.clip(np.rint(w / s), -wmax, wmax).astype(np.int8)


def _shift(v, k):
    """ALU SHR semantics on int64 data: k ≥ 0 arithmetic right shift, k < 0 left shift."""
    return v >> k if k >= 0 else v << (-k)


class _Builder:
    def __init__(self, g, caps, plan, stats, hw):
        self.g, self.caps, self.plan, self.stats, self.hw = g, caps, plan, stats, hw
        self.steps, self.exps = [], {}
        self.avail = set(g.inputs)        # keys available
        self.primary = {t: "f" for t in g.inputs}
        self.order = 0

    def act_exp(self, t):
        method, rounding = self.plan.act.get(t, self.plan.default_act)
        if t not in self.stats:
            raise CompileError(f"no calibration statistics for tensor {t!r}")
        return exponent(self.stats[t], method, rounding, self.hw.qmax)

    def add(self, kind, node, inputs, outputs, device, reason="", **params):
        self.steps.append(Step(kind, node, inputs, outputs, device, reason, params, self.order))
        self.avail.update(outputs)

    def need_q(self, t):
        if qkey(t) not in self.avail:
            e = self.act_exp(t)
            self.exps[t] = e
            self.add("quantize", None, [self.need_f(t)], [qkey(t)], "host", "float32 → int8 (scale 2^%d)" % e, exp=e)
        return qkey(t)

    def need_f(self, t):
        if t in self.g.consts:
            return t
        if t not in self.avail:
            if qkey(t) not in self.avail:
                raise CompileError(f"internal error: tensor {t!r} is not available")
            self.add("dequantize", None, [qkey(t)], [t], "host", "int8 → float32", exp=self.exps[t])
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
            elif n.op in ("Relu", "MaxPool") and cap.vta and (x_is_q or self.plan.offload_all):
                self.need_q(x)
                self.exps[n.outputs[0]] = self.exps[x]
                params = {}
                if n.op == "MaxPool":
                    kernel, strides, pads, _, _ = pool_params(n, g.shapes[x])
                    params = dict(kernel=tuple(kernel), stride=tuple(strides), padding=(pads[0], pads[1]))
                self.add(n.op.lower(), n, [qkey(x)], [qkey(n.outputs[0])], "vta", cap.reason, **params)
                self.primary[n.outputs[0]] = "q"
            elif n.op in LAYOUT_OPS and x_is_q:
                self.exps[n.outputs[0]] = self.exps[x]
                self.add("layout", n, [qkey(x)] + n.inputs[1:], [qkey(n.outputs[0])], "host", cap.reason)
                self.primary[n.outputs[0]] = "q"
            elif n.op == "Concat" and all(self.primary.get(i) == "q" for i in n.inputs):
                y = n.outputs[0]
                ey = self.act_exp(y)
                self.exps[y] = ey
                self.add("concat", n, [qkey(i) for i in n.inputs], [qkey(y)], "host", cap.reason,
                         exps=[self.exps[i] for i in n.inputs], exp=ey, axis=int(n.attr("axis")))
                self.primary[y] = "q"
            elif n.op in ("ConvInteger", "MatMulInteger") and cap.vta:
                self.add("intgemm", n, [self.need_f(i) if i else "" for i in n.inputs], list(n.outputs), "vta",
                         cap.reason)
                self.primary[n.outputs[0]] = "f"
            else:
                reason = cap.reason if not cap.vta else "kept on the CPU in float32 by the quantization plan"
                self.add("float", n, [self.need_f(i) if i else "" for i in n.inputs], [o for o in n.outputs],
                         "host", reason)
                for o in n.outputs:
                    self.primary[o] = "f"
        self.order = len(g.nodes)
        outs = [self.need_f(o) for o in g.outputs]
        return Program(self.steps, self.exps, outs, list(g.inputs), len(g.nodes))

    def gemm(self, n, cap, ch):
        g, hw = self.g, self.hw
        x, y = n.inputs[0], n.outputs[0]
        xk = self.need_q(x)
        ex = self.exps[x]
        w = g.consts[n.inputs[1]].astype(np.float64)
        b = g.consts[n.inputs[2]].astype(np.float64) if len(n.inputs) > 2 and n.inputs[2] else np.zeros(w.shape[0])
        wq, ew = quantize_weights(w, ch.w_gran, ch.w_round, hw.wmax)
        ey = max(self.act_exp(y), int(np.max(ex + ew)))
        # shifts must stay ≤ 31: coarsen weights of channels that would need more
        lo = ey - ex - hw.shift_range[1]
        if np.min(ew) < lo:
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
        shift = ey - ex - ew
        acc_e = ex + ew
        bq = np.rint(b / np.exp2(acc_e)) + np.where(shift > 0, np.exp2(np.maximum(shift, 1) - 1), 0)
        k = int(np.prod(w.shape[1:]))
        limit = hw.acc_max - k * 128 * hw.wmax
        clipped = int(np.sum(np.abs(bq) > limit))
        bq = np.clip(bq, -limit, limit).astype(np.int32)
        self.exps[y] = ey
        relu = n.attr("_act") == "relu"
        params = dict(w=wq, bias=bq, shift=(shift if np.ndim(shift) else int(shift)), relu=relu, e_w=ew, e_x=ex,
                      e_y=ey, bias_clipped=clipped, gran=ch.w_gran, w_round=ch.w_round,
                      w_fit=ch.w_fit, bias_corr=ch.bias_corr)
        if n.op == "Conv":
            strides, pads, _, _ = conv_params(n, g.shapes[x], w.shape)
            params.update(stride=tuple(strides), pads=tuple(pads), prepad=cap.prepad, groups=cap.groups)
        self.add(n.op.lower(), n, [xk], [qkey(y)], "vta", cap.reason, **params)
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
        self.add("add", n, [ak, bk], [qkey(y)], "vta", cap.reason, a_shift=ec - ea, b_shift=ec - eb,
                 shift=ey - ec, relu=n.attr("_act") == "relu")
        self.primary[y] = "q"


def build_program(g, caps, plan, stats, hw):
    """Lower graph ``g`` (optimized, partitioned by ``caps``) to a `Program` under quantization ``plan``."""
    return _Builder(g, caps, plan, stats, hw).build()


# -- execution -------------------------------------------------------------------------------------------------

def _clip8(v, relu):
    return np.clip(v, 0 if relu else -128, 127).astype(np.int8)


def _exact_dtype(k):
    """float32 sums of ≤ k int8 products are exact while k·128·128 < 2^24; float64 beyond (exact to 2^53)."""
    return np.float32 if k * 128 * 128 < (1 << 24) else np.float64


def np_conv(x, p):
    pads = p["pads"]
    k = int(np.prod(p["w"].shape[1:]))
    acc = np.rint(conv_nchw(x, p["w"], p["stride"], pads, group=p.get("groups", 1),
                            dtype=_exact_dtype(k))).astype(np.int64)
    acc += p["bias"].astype(np.int64).reshape(1, -1, 1, 1)
    sh = p["shift"]
    sh = np.asarray(sh).reshape(1, -1, 1, 1) if np.ndim(sh) else int(sh)
    return _clip8(acc >> sh, p["relu"])


def np_dense(x, p):
    dt = _exact_dtype(p["w"].shape[1])
    acc = np.rint(x.astype(dt) @ p["w"].astype(dt).T).astype(np.int64)
    acc += p["bias"].astype(np.int64)
    sh = p["shift"]
    sh = np.asarray(sh).reshape(1, -1) if np.ndim(sh) else int(sh)
    return _clip8(acc >> sh, p["relu"])


def np_add(a, b, p):
    s = _shift(a.astype(np.int64), p["a_shift"]) + _shift(b.astype(np.int64), p["b_shift"])
    return _clip8(_shift(s, p["shift"]), p["relu"])


def np_maxpool(x, p):
    (kh, kw), (sh, sw), (ph, pw) = p["kernel"], p["stride"], p["padding"]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-128) if ph or pw else x
    oh = (x.shape[2] + 2 * ph - kh) // sh + 1
    ow = (x.shape[3] + 2 * pw - kw) // sw + 1
    out = None
    for i in range(kh):
        for j in range(kw):
            v = xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            out = v.copy() if out is None else np.maximum(out, v)
    return out.astype(np.int8)


def run_host_step(st, env, consts):
    """Steps that always run on the host (conversions, layout, concat, float ops)."""
    p = st.params
    get = lambda k: consts[k] if k in consts else (env[k] if k else None)
    if st.kind == "quantize":
        x = env[st.inputs[0]]
        env[st.outputs[0]] = np.clip(np.rint(x * (2.0 ** -p["exp"])), -128, 127).astype(np.int8)
    elif st.kind == "dequantize":
        env[st.outputs[0]] = env[st.inputs[0]].astype(np.float32) * np.float32(2.0 ** p["exp"])
    elif st.kind == "layout":
        env[st.outputs[0]] = run_node(st.node, [get(k) for k in st.inputs])[0]
    elif st.kind == "concat":
        parts = [np.clip(np.rint(env[k].astype(np.float64) * 2.0 ** (e - p["exp"])), -128, 127)
                 for k, e in zip(st.inputs, p["exps"])]
        env[st.outputs[0]] = np.concatenate(parts, axis=p["axis"]).astype(np.int8)
    elif st.kind == "float":
        outs = run_node(st.node, [get(k) for k in st.inputs])
        for o, v in zip(st.outputs, outs):
            if o:
                env[o] = v
    else:
        return False
    return True


def run_program(prog, feeds, consts, vta=None, start=0, env=None, on_step=None, snapshots=None):
    """Execute ``prog``; ``vta`` runs the "vta" steps (a `vta.compiler.lower.VTAExecutor`) or None for the exact
    numpy simulation. Returns the environment (all keys). ``start``/``env`` resume from a cached prefix;
    ``snapshots`` (a dict) receives a shallow copy of the environment before each node's first step, by index."""
    env = dict(feeds) if env is None else env
    last = None
    for i in range(start, len(prog.steps)):
        st = prog.steps[i]
        if snapshots is not None and st.order != last:
            snapshots[i] = dict(env)
            last = st.order
        if run_host_step(st, env, consts):
            pass
        elif vta is not None:
            vta.run(st, env, consts)
        elif st.kind == "conv":
            x = env[st.inputs[0]]
            p = st.params
            if p["prepad"]:
                t, l, b, r = p["prepad"]
                x = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
                p = dict(p, pads=(0, 0, 0, 0))
            env[st.outputs[0]] = np_conv(x, p)
        elif st.kind == "dense":
            env[st.outputs[0]] = np_dense(env[st.inputs[0]], st.params)
        elif st.kind == "add":
            env[st.outputs[0]] = np_add(env[st.inputs[0]], env[st.inputs[1]], st.params)
        elif st.kind == "relu":
            env[st.outputs[0]] = np.maximum(env[st.inputs[0]], 0)
        elif st.kind == "maxpool":
            env[st.outputs[0]] = np_maxpool(env[st.inputs[0]], st.params)
        elif st.kind == "intgemm":
            get = lambda k: consts[k] if k in consts else (env[k] if k else None)
            env[st.outputs[0]] = run_node(st.node, [get(k) for k in st.inputs])[0]
        else:
            raise CompileError(f"internal error: unknown step kind {st.kind!r}")
        if on_step is not None:
            on_step(st)
    return env
