"""The host side of a compiled model: every float node VTA does not run executes in onnxruntime.

Why onnxruntime and not numpy: a model from the wild uses whatever ONNX ops its exporter chose (Resize, Split,
Slice, HardSigmoid, LSTM, …); onnxruntime implements all of them, for every opset, so an op VTA cannot run never
stops a compile. The compiler's internal nodes are translated back to ONNX first (`onnx_nodes`: ``Dense`` →
``Gemm``, a fused ``_act="relu"`` → a following ``Relu``).

- `HostSubgraph` is one program step holding a run of consecutive host nodes as one onnxruntime session (built
  from the sub-graph: the nodes, the constants they read, the cut tensors as inputs and outputs), so a host
  region costs one session call, not one per op. The quantization search and every device run execute the same
  sessions, so a device run stays bit-exact with the numpy golden path.
- `fuse_host_steps` turns a built program's `HostFloat` steps into such subgraphs, after `group_host_steps` has
  reordered the steps (within the dataflow) so that host nodes of parallel branches sit together.
- `run_graph_float` runs a whole graph as one session (the FP32 reference the calibration and the search use).
- `run_onnx_node` evaluates one node at compile time (constant folding, shape inference of ops the numpy
  executor in `vta.compiler.ops` does not know).

An op onnxruntime cannot run (or a node it rejects) is a `CompileError` naming the node and carrying
onnxruntime's own message.
"""

import dataclasses
import heapq

import numpy as np

from .ir import CompileError
from .steps import Dequantize, HostFloat, Step

__all__ = ["onnx_nodes", "subgraph_model", "HostSubgraph", "group_host_steps", "fuse_host_steps", "run_graph_float",
           "run_onnx_node", "host_subgraphs"]

# onnxruntime's exception types (its pybind module raises these, none of them a common base besides Exception)
_ORT_ERRORS = None


def _ort_errors():
    global _ORT_ERRORS
    if _ORT_ERRORS is None:
        from onnxruntime.capi import onnxruntime_pybind11_state as s
        _ORT_ERRORS = tuple(getattr(s, n) for n in ("Fail", "InvalidArgument", "InvalidGraph", "NotImplemented",
                                                    "RuntimeException", "EPFail", "NotFound", "NoModel",
                                                    "InvalidProtobuf") if hasattr(s, n))
    return _ORT_ERRORS


# -- IR node → ONNX ---------------------------------------------------------------------------------------------

def _attribute(key, v):
    from onnx import AttributeProto, helper, numpy_helper
    if isinstance(v, np.ndarray):
        return helper.make_attribute(key, numpy_helper.from_array(v))
    if isinstance(v, (list, tuple)) and not v:
        return helper.make_attribute(key, [], attr_type=AttributeProto.INTS)
    if isinstance(v, (list, tuple)):
        v = [e.item() if isinstance(e, np.generic) else e for e in v]
    elif isinstance(v, np.generic):
        v = v.item()
    return helper.make_attribute(key, v)


def onnx_nodes(node):
    """ONNX NodeProtos computing IR ``node``: its own op (internal attributes, which start with ``_``, dropped),
    ``Dense`` as ``Gemm(transB=1)``, and a fused ReLU as a separate ``Relu`` node."""
    from onnx import NodeProto
    op, attrs = node.op, {k: v for k, v in node.attrs.items() if not k.startswith("_")}
    if op == "Dense":
        op, attrs = "Gemm", {"transB": 1}
    outputs = list(node.outputs)
    relu = node.attr("_act") == "relu"
    if relu:
        outputs[0] = node.outputs[0] + "__pre_relu"
    p = NodeProto()
    p.op_type, p.name = op, node.name
    p.input.extend(node.inputs)
    p.output.extend(outputs)
    p.domain = getattr(node, "domain", "") or ""
    p.attribute.extend(_attribute(k, v) for k, v in attrs.items())
    out = [p]
    if relu:
        r = NodeProto()
        r.op_type, r.name = "Relu", node.name + "__relu"
        r.input.append(outputs[0])
        r.output.append(node.outputs[0])
        out.append(r)
    return out


def subgraph_model(nodes, inputs, outputs, consts, dtypes, opset=13, name="host"):
    """A ModelProto of IR ``nodes``: ``inputs`` (tensor name → numpy dtype) are its graph inputs, the constants
    the nodes read are initializers, ``outputs`` its graph outputs (typed from ``dtypes`` where known)."""
    from onnx import helper, numpy_helper
    protos = [p for n in nodes for p in onnx_nodes(n)]
    read = {i for n in nodes for i in n.inputs if i}
    inits = [numpy_helper.from_array(np.asarray(consts[t]), t) for t in sorted(read) if t in consts
             and t not in inputs]
    ins = [helper.make_tensor_value_info(t, helper.np_dtype_to_tensor_dtype(np.dtype(dt)), None)
           for t, dt in inputs.items()]
    # an output without a type is inferred by onnxruntime (an UNDEFINED element type would be rejected)
    outs = [helper.make_tensor_value_info(t, helper.np_dtype_to_tensor_dtype(np.dtype(dtypes[t])), None)
            if dtypes.get(t) is not None else helper.make_empty_tensor_value_info(t) for t in outputs]
    graph = helper.make_graph(protos, name, ins, outs, inits)
    domains = {p.domain for p in protos} - {"", "ai.onnx"}
    imports = [helper.make_opsetid("", max(int(opset), 7))] + [helper.make_opsetid(d, 1) for d in sorted(domains)]
    model = helper.make_model(graph, opset_imports=imports, producer_name="vta.compiler.host")
    model.ir_version = min(model.ir_version, 10)   # the newest IR version every supported onnxruntime loads
    return model


def _session(model):
    import onnxruntime as ort
    so = ort.SessionOptions()
    # one thread: the host share of a model is small, the machine is shared, and results stay deterministic
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _run_options():
    """Errors come back as exceptions (attributed to the node by the caller), not also as log lines."""
    import onnxruntime as ort
    ro = ort.RunOptions()
    ro.log_severity_level = 3
    return ro


def _describe(nodes):
    if len(nodes) == 1:
        return str(nodes[0])
    ops = sorted({n.op for n in nodes})
    return f"host subgraph of {len(nodes)} nodes ({nodes[0].name!r} … {nodes[-1].name!r}; ops {', '.join(ops)})"


def _culprit(nodes, inputs, consts, dtypes, opset, err):
    """The node of ``nodes`` onnxruntime rejects on its own (to attribute ``err``), else the whole group."""
    if len(nodes) > 1:
        avail = dict(inputs)
        for n in nodes:
            ins = {i: avail.get(i, dtypes.get(i, np.float32)) for i in n.inputs if i and i not in consts}
            try:
                _session(subgraph_model([n], ins, [o for o in n.outputs if o], consts, {}, opset))
            except _ort_errors() as e:
                return CompileError(f"{n}: onnxruntime cannot run it: {_first_line(e)}")
            for o in n.outputs:
                avail.setdefault(o, dtypes.get(o, np.float32))
    return CompileError(f"{_describe(nodes)}: onnxruntime cannot run it: {_first_line(err)}")


def _first_line(e):
    text = str(e).strip()
    return text if len(text) < 2000 else text[:2000] + " …"


class _Sessions:
    """onnxruntime sessions of one sub-graph, one per combination of input dtypes (built on first use)."""

    def __init__(self, nodes, inputs, outputs, consts, opset, dtypes=None):
        self.nodes, self.inputs, self.outputs, self.consts, self.opset = nodes, inputs, outputs, consts, opset
        self.dtypes = dtypes or {}
        self._by_dtype = {}

    def run(self, feeds):
        key = tuple(np.asarray(feeds[t]).dtype.str for t in self.inputs)
        sess = self._by_dtype.get(key)
        if sess is None:
            ins = {t: np.asarray(feeds[t]).dtype for t in self.inputs}
            model = subgraph_model(self.nodes, ins, self.outputs, self.consts, self.dtypes, self.opset)
            try:
                sess = _session(model)
            except _ort_errors() as e:
                raise _culprit(self.nodes, ins, self.consts, self.dtypes, self.opset, e) from None
            self._by_dtype[key] = sess
        try:
            return sess.run(self.outputs, {t: np.asarray(feeds[t]) for t in self.inputs}, _run_options())
        except _ort_errors() as e:
            shapes = {t: tuple(np.shape(feeds[t])) for t in self.inputs}
            raise CompileError(f"{_describe(self.nodes)}: onnxruntime failed on inputs {shapes}: "
                               f"{_first_line(e)}") from None


def _cache(g):
    """Sessions cached on the graph: the search builds many programs whose host subgraphs repeat."""
    c = getattr(g, "_host_sessions", None)
    if c is None:
        c = g._host_sessions = {}
    return c


def _sessions_for(g, nodes, inputs, outputs):
    key = (tuple(n.name for n in nodes), tuple(inputs), tuple(outputs),
           tuple((n.op, tuple(n.inputs), tuple(n.outputs)) for n in nodes))
    c = _cache(g)
    s = c.get(key)
    if s is None:
        s = c[key] = _Sessions(nodes, list(inputs), list(outputs), g.consts, getattr(g, "opset", 13),
                               getattr(g, "vtypes", {}))
    return s


# -- program steps ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(kw_only=True, eq=False)
class HostSubgraph(Step):
    """Consecutive host nodes run in float as one onnxruntime session. ``members`` are the graph nodes (in
    order), ``reasons`` why each is on the host; ``inputs`` are the cut tensors read, ``outputs`` those needed
    after it."""
    members: list
    reasons: dict
    sessions: object = None

    def compute(self, env, consts):
        outs = self.sessions.run({t: env[t] for t in self.inputs})
        for o, v in zip(self.outputs, outs):
            env[o] = v

    @property
    def ops(self):
        return [n.op for n in self.members]

    def reason_of(self, node):
        return self.reasons.get(node.name, self.reason)


def _hostish(step):
    return isinstance(step, (HostFloat, Dequantize))


def group_host_steps(steps):
    """``steps`` reordered so that host work forms fewer, longer runs, as far as the dataflow allows.

    A list scheduling over the steps' dataflow (a step is ready once every step producing one of its inputs has
    run): it keeps running ready steps of the current kind — host (`HostFloat` and the `Dequantize` feeding it)
    or not — lowest original index first, and switches kind only when none is ready. Device work therefore runs
    as early as it can, and the host nodes of parallel branches (a detector head's box and class branches) gather
    into one run, i.e. one onnxruntime session instead of one per branch.

    The result stays a topological order, so the program computes the same values. Step ``order`` (the graph node
    index the quantization search resumes from) becomes the running maximum, so every step before the first one
    at order ≥ k still belongs to nodes before k, as the search's resume assumes."""
    producer = {}
    for i, s in enumerate(steps):
        for o in s.outputs:
            if o:
                producer[o] = i
    waiting = [0] * len(steps)
    users = [[] for _ in steps]
    for i, s in enumerate(steps):
        for p in {producer[k] for k in s.inputs if k and producer.get(k, i) < i}:
            waiting[i] += 1
            users[p].append(i)
    ready = {True: [], False: []}
    for i, s in enumerate(steps):
        if not waiting[i]:
            heapq.heappush(ready[_hostish(s)], i)
    out, kind = [], _hostish(steps[0]) if steps else False
    while ready[True] or ready[False]:
        if not ready[kind]:
            kind = not kind
        i = heapq.heappop(ready[kind])
        out.append(steps[i])
        for u in users[i]:
            waiting[u] -= 1
            if not waiting[u]:
                heapq.heappush(ready[_hostish(steps[u])], u)
    if len(out) != len(steps):
        raise CompileError("internal error: the program's steps are not in dataflow order")
    top, fixed = -1, []
    for s in out:
        top = max(top, s.order)
        fixed.append(s if s.order == top else dataclasses.replace(s, order=top))
    return fixed


def fuse_host_steps(prog, g):
    """Replace every maximal run of `HostFloat` steps (with the `Dequantize` steps feeding them, which move to the
    run's front) by one `HostSubgraph`, after `group_host_steps` has gathered host work into as few runs as the
    dataflow allows. Returns ``prog`` (modified)."""
    prog.steps = group_host_steps(prog.steps)
    steps, out, i = prog.steps, [], 0
    while i < len(steps):
        if not isinstance(steps[i], (HostFloat, Dequantize)):
            out.append(steps[i])
            i += 1
            continue
        j = i
        while j < len(steps) and isinstance(steps[j], (HostFloat, Dequantize)):
            j += 1
        run = steps[i:j]
        hosts = [s for s in run if isinstance(s, HostFloat)]
        if not hosts:
            out.extend(run)
            i = j
            continue
        order = run[0].order
        out.extend(dataclasses.replace(s, order=order) for s in run if isinstance(s, Dequantize))
        produced = {o for s in hosts for o in s.outputs if o}
        later = {k for s in steps[j:] for k in s.inputs if k} | set(prog.outputs)
        ins, seen = [], set()
        for s in hosts:
            for k in s.inputs:
                if k and k not in produced and k not in g.consts and k not in seen:
                    ins.append(k)
                    seen.add(k)
        outs = [o for s in hosts for o in s.outputs if o and o in later]
        members = [s.node for s in hosts]
        out.append(HostSubgraph(inputs=ins, outputs=outs, node=members[0], order=order,
                                reason=hosts[0].reason, members=members,
                                reasons={s.node.name: s.reason for s in hosts},
                                sessions=_sessions_for(g, members, ins, outs)))
        i = j
    prog.steps = out
    return prog


def host_subgraphs(prog):
    """The program's host subgraphs, for the report: nodes, op types and why each node is on the host."""
    out = []
    for k, s in enumerate(st for st in prog.steps if isinstance(st, HostSubgraph)):
        why = {}
        for n in s.members:
            why.setdefault(s.reasons[n.name], []).append(n.op)
        out.append({"name": f"host{k}", "nodes": [n.name for n in s.members], "ops": s.ops,
                    "inputs": list(s.inputs), "outputs": list(s.outputs),
                    "why": [f"{', '.join(sorted(set(ops)))}: {r}" for r, ops in why.items()]})
    return out


# -- whole graphs and single nodes ------------------------------------------------------------------------------

def run_graph_float(g, feeds, keep=True):
    """Run graph ``g`` in float as one onnxruntime session; every tensor by name (``keep``) or only the outputs.
    Constants come back too with ``keep`` (as the numpy executor did)."""
    if keep:
        wanted = [o for n in g.nodes for o in n.outputs if o]
    else:
        wanted = [o for o in g.outputs if o not in g.consts and o not in g.inputs]
    seen, outs = set(), []
    for o in wanted:
        if o not in seen:
            seen.add(o)
            outs.append(o)
    ins = [t for t in g.inputs]
    sess = _sessions_for(g, list(g.nodes), ins, outs)
    vals = sess.run({t: feeds[t] for t in ins}) if g.nodes else []
    env = dict(g.consts) if keep else {}
    env.update({t: feeds[t] for t in ins})
    env.update(zip(outs, vals))
    if keep:
        return env
    return {o: (env[o] if o in env else g.consts[o]) for o in g.outputs}


_NODE_SESSIONS = {}


def run_onnx_node(node, inputs, opset=13):
    """Evaluate one node on numpy ``inputs`` (``None`` = absent) in onnxruntime — compile-time only (constant
    folding, shape inference of ops the numpy executor lacks). Returns the list of outputs."""
    names = [i if (i and v is not None) else "" for i, v in zip(node.inputs, inputs)]
    feeds = {i: np.asarray(v) for i, v in zip(node.inputs, inputs) if i and v is not None}
    tmp = dataclasses.replace(node, inputs=names + list(node.inputs[len(names):]))
    outs = [o for o in node.outputs if o]
    ins = {t: v.dtype for t, v in feeds.items()}
    key = (node.op, repr(sorted((k, repr(v)) for k, v in node.attrs.items())), tuple(names), tuple(outs),
           tuple(v.dtype.str for v in feeds.values()), opset)
    sess = _NODE_SESSIONS.get(key)
    if sess is None:
        try:
            sess = _session(subgraph_model([tmp], ins, outs, {}, {}, opset))
        except _ort_errors() as e:
            raise CompileError(f"{node}: onnxruntime cannot run it: {_first_line(e)}") from None
        if len(_NODE_SESSIONS) > 512:
            _NODE_SESSIONS.clear()
        _NODE_SESSIONS[key] = sess
    try:
        vals = sess.run(outs, feeds, _run_options())
    except _ort_errors() as e:
        shapes = {t: v.shape for t, v in feeds.items()}
        raise CompileError(f"{node}: onnxruntime failed on inputs {shapes}: {_first_line(e)}") from None
    by = dict(zip(outs, vals))
    return [by.get(o) if o else None for o in node.outputs]
