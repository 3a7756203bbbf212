"""Lowering the quantized program's VTA steps onto the runtime JIT (`vta.jit.Runtime`).

Each "vta" step becomes one (or, for per-channel shifts, one per distinct shift) JIT operator call; the JIT packs
layouts, tiles, builds the command stream and runs it on the device. Per node this records what ran where, the
MACs, instructions and — on Verilator — cycles, for the report.
"""

import dataclasses

import numpy as np

from ..errors import VTAError
from .ir import CompileError

__all__ = ["VTAExecutor", "NodeStats"]


@dataclasses.dataclass
class NodeStats:
    calls: int = 0
    macs: int = 0
    useful_macs: int = 0
    insns: int = 0
    cycles: int = 0
    cycles_known: bool = True
    wall_seconds: float = 0.0
    host_fallbacks: int = 0
    note: str = ""


class VTAExecutor:
    """Runs "vta" steps of a `vta.quant.program.Program` with a `vta.jit.Runtime`; accumulates `NodeStats`."""

    def __init__(self, runtime):
        self.rt = runtime
        self.stats = {}

    def _record(self, st, result):
        """Add the `OpStats` of one JIT call to step ``st``'s node; return the call's output."""
        y, ls = result
        s = self.stats.setdefault(st.node.name, NodeStats())
        s.calls += 1
        s.macs += ls.macs
        s.useful_macs += ls.useful_macs
        s.insns += ls.insns
        s.wall_seconds += ls.wall_seconds or 0.0
        if ls.cycles is None:
            s.cycles_known = False
        else:
            s.cycles += ls.cycles
        return y

    def _gemm_groups(self, st, call, x=None):
        """Call ``call(x, w, bias, shift)`` once per conv group and distinct shift; returns the outputs scattered
        back by channel. ``x`` is split by channel groups for grouped convolutions."""
        p = st.params
        groups = p.get("groups", 1)
        o = p["w"].shape[0]
        og = o // groups
        shift = np.broadcast_to(np.asarray(p["shift"]), (o,))
        out = None
        for gi in range(groups):
            xg = x if groups == 1 else np.ascontiguousarray(x[:, gi * (x.shape[1] // groups):
                                                                (gi + 1) * (x.shape[1] // groups)])
            rows = np.arange(gi * og, (gi + 1) * og)
            for s in np.unique(shift[rows]):
                idx = rows[shift[rows] == s]
                y = self._record(st, call(xg, np.ascontiguousarray(p["w"][idx]),
                                          np.ascontiguousarray(p["bias"][idx]), int(s)))
                if groups == 1 and len(idx) == o:
                    return y
                if out is None:
                    out = np.empty(y.shape[:1] + (o,) + y.shape[2:], np.int8)
                out[:, idx] = y
        return out

    def run(self, st, env, consts):
        rt, p = self.rt, st.params
        x = env[st.inputs[0]] if st.inputs and st.inputs[0] in env else None
        if st.kind == "conv":
            if p["prepad"]:
                t, l, b, r = p["prepad"]
                x = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
                pad = (0, 0)
            else:
                pad = (p["pads"][0], p["pads"][1])
            y = self._gemm_groups(st, lambda xg, w, b, s: rt.conv2d(xg, w, b, stride=tuple(p["stride"]),
                                                                    padding=pad, shift=s, relu=p["relu"]),
                                  np.ascontiguousarray(x))
        elif st.kind == "dense":
            y = self._gemm_groups(st, lambda xg, w, b, s: rt.dense(xg, w, b, shift=s, relu=p["relu"]),
                                  np.ascontiguousarray(x))
        elif st.kind == "add":
            y = self._record(st, rt.add(np.ascontiguousarray(x), np.ascontiguousarray(env[st.inputs[1]]),
                                        a_shift=p["a_shift"], b_shift=p["b_shift"], shift=p["shift"], relu=p["relu"]))
        elif st.kind == "relu":
            y = self._record(st, rt.relu(np.ascontiguousarray(x)))
        elif st.kind == "maxpool":
            y = self._record(st, rt.max_pool2d(np.ascontiguousarray(x), tuple(p["kernel"]), stride=tuple(p["stride"]),
                                               padding=tuple(p["padding"])))
        elif st.kind == "intgemm":
            y = self._integer(st, env, consts)
        else:
            raise CompileError(f"internal error: step {st.kind!r} cannot run on VTA")
        env[st.outputs[0]] = y

    def _integer(self, st, env, consts):
        """ConvInteger / MatMulInteger: exact on VTA when x − x_zp and w − w_zp fit int8 and no output saturates
        the int8 result; otherwise computed exactly on the host (counted as a host fallback with the reason)."""
        from .ops import conv_params, run_node
        n = st.node
        get = lambda k: consts[k] if k in consts else (env[k] if k else None)
        vals = [get(k) for k in st.inputs] + [None] * (4 - len(st.inputs))
        x, w, xz, wz = vals[:4]
        xi = x.astype(np.int64) - (0 if xz is None else int(np.asarray(xz).reshape(-1)[0]))
        wz_ = 0 if wz is None else np.asarray(wz, np.int64)
        if n.op == "ConvInteger":
            wi = w.astype(np.int64) - (wz_.reshape(-1, 1, 1, 1) if np.size(wz_) > 1 else wz_)
        else:
            wi = w.astype(np.int64) - (wz_.reshape(1, -1) if np.size(wz_) > 1 else wz_)
        s = self.stats.setdefault(n.name, NodeStats())
        fits = lambda a: a.size and a.min() >= -128 and a.max() <= 127
        if not (fits(xi) and fits(wi)):
            s.host_fallbacks += 1
            s.note = "operands do not fit int8 after zero-point subtraction: computed on the host"
            return run_node(n, vals[:len(st.inputs)])[0]
        if n.op == "ConvInteger":
            strides, pads, dil, group = conv_params(n, x.shape, w.shape)
            t, l, b, r = pads
            xp = xi.astype(np.int8)
            if (t, l) != (b, r):
                xp = np.pad(xp, ((0, 0), (0, 0), (t, b), (l, r)))
                t = l = 0
            res = self.rt.conv2d(np.ascontiguousarray(xp), np.ascontiguousarray(wi.astype(np.int8)), None,
                                 stride=tuple(strides), padding=(t, l), shift=0, relu=False)
        else:
            if xi.ndim != 2:
                raise VTAError(f"{n}: MatMulInteger on VTA needs a 2-D input, not {xi.shape}")
            res = self.rt.dense(np.ascontiguousarray(xi.astype(np.int8)),
                                np.ascontiguousarray(wi.T.astype(np.int8)), None, shift=0, relu=False)
        y = self._record(st, res)
        if np.any(y == 127) or np.any(y == -128):
            # a saturated int8 result may hide a larger int32 value: recompute exactly on the host
            s.host_fallbacks += 1
            s.note = "an int8 result reached the clip limit (the int32 value may be larger): recomputed on the host"
            return run_node(n, vals[:len(st.inputs)])[0]
        return y.astype(np.int32)
