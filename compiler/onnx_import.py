"""ONNX → `vta.compiler.ir.Graph` (and PyTorch → ONNX → Graph).

Initializers (and ONNX < IR 4 graph inputs that have an initializer) become constants; the remaining graph inputs
are the runtime inputs. A symbolic (dynamic) batch dimension is recorded as ``graph.dynamic_batch`` and given
size 1 for static shape inference; other symbolic dimensions (an image's height and width) are specialised to the
sizes given in ``input_shapes`` (from the calibration data, by `vta.compile`), since VTA's schedules are built for
one shape. Every op is accepted: what neither VTA nor the numpy executor runs goes to onnxruntime on the host.
"""

import os

import numpy as np

from .ir import CompileError, Graph, Node, UnsupportedOpError

__all__ = ["load_onnx", "from_onnx", "from_torch"]


def load_onnx(model):
    """A ModelProto from a path, bytes or a ModelProto; an empty or graph-less model is an error."""
    import onnx
    if isinstance(model, onnx.ModelProto):
        proto, what = model, "the ModelProto"
    elif isinstance(model, (bytes, bytearray)):
        proto, what = onnx.load_from_string(bytes(model)), f"the {len(model)}-byte model"
    elif isinstance(model, (str, os.PathLike)):
        if not os.path.exists(model):
            raise CompileError(f"model file {str(model)!r} does not exist")
        what = repr(str(model))
        try:
            proto = onnx.load(str(model))
        except Exception as e:  # noqa: BLE001  (protobuf raises its own DecodeError type, not exported)
            raise CompileError(f"{what} is not a readable ONNX model: {e}") from None
    else:
        raise CompileError(f"model must be an ONNX path, bytes, ModelProto or torch.nn.Module, "
                           f"not {type(model).__name__}")
    if not proto.graph.node or not proto.graph.output:
        raise CompileError(f"{what} holds no ONNX graph ({len(proto.graph.node)} nodes, {len(proto.graph.input)} "
                           f"inputs, {len(proto.graph.output)} outputs): is the file empty or truncated?")
    return proto


def _attr_value(a):
    from onnx import AttributeProto, helper, numpy_helper
    if a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS):
        return _SUBGRAPH
    if a.type == AttributeProto.TENSOR:
        return numpy_helper.to_array(a.t)
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list) and v and isinstance(v[0], bytes):
        return [e.decode() for e in v]
    return v


_SUBGRAPH = object()


def _specialise(vi, i, d, input_shapes):
    """The size of symbolic dimension ``i`` (named ``d.dim_param``) of graph input ``vi`` from ``input_shapes``."""
    shape = (input_shapes or {}).get(vi.name)
    label = d.dim_param or "?"
    if shape is None:
        raise CompileError(f"graph input {vi.name!r} has a symbolic dimension {i} ({label!r}); pass calibration "
                           f"data (its shape fixes it) or input_shapes={{{vi.name!r}: (N, ...)}} to compile it for "
                           f"one shape")
    shape = tuple(shape)
    if len(shape) != len(vi.type.tensor_type.shape.dim):
        raise CompileError(f"input_shapes gives {vi.name!r} the shape {shape}, but the model's input has "
                           f"{len(vi.type.tensor_type.shape.dim)} dimensions")
    if int(shape[i]) < 1:
        raise CompileError(f"input_shapes gives {vi.name!r} size {shape[i]} in dimension {i}; sizes must be ≥ 1")
    return int(shape[i])


def from_onnx(model, input_shapes=None):
    """Import an ONNX model (path, bytes or ModelProto) as a `Graph`. ``input_shapes`` ({input name: shape})
    fixes symbolic non-batch dimensions."""
    from onnx import helper, numpy_helper
    m = load_onnx(model)
    opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 13)
    g = m.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for t in getattr(g, "sparse_initializer", []):
        raise UnsupportedOpError(f"sparse initializer {t.values.name!r} is not supported")
    inputs, shapes, dtypes, dynamic, specialised = [], {}, {}, False, {}
    for vi in g.input:
        if vi.name in consts:
            continue
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            raise CompileError(f"graph input {vi.name!r} is not a tensor")
        dims = []
        for i, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value"):
                dims.append(int(d.dim_value))   # data of another size is refused with the model's shape later
            elif i == 0:
                dims.append(1)
                dynamic = True
            else:
                dims.append(_specialise(vi, i, d, input_shapes))
                specialised[vi.name] = True
        inputs.append(vi.name)
        shapes[vi.name] = tuple(dims)
        dtypes[vi.name] = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type))
    nodes, names = [], set()
    for k, n in enumerate(g.node):
        name = n.name or f"{n.op_type}_{k}"
        while name in names:
            name += "_"
        names.add(name)
        domain = "" if n.domain in ("", "ai.onnx") else n.domain
        node = Node(n.op_type, name, list(n.input), list(n.output), {}, opset, domain)
        for a in n.attribute:
            v = _attr_value(a)
            if v is _SUBGRAPH:
                raise UnsupportedOpError(f"{node}: control flow (subgraph attribute {a.name!r}) is not supported")
            node.attrs[a.name] = v
        nodes.append(node)
    graph = Graph(nodes, inputs, [o.name for o in g.output], consts, shapes, dtypes, g.name or "model")
    graph.dynamic_batch = dynamic
    graph.opset = opset
    graph.specialised = sorted(specialised)     # inputs whose symbolic dims were fixed from data / input_shapes
    graph.toposort()
    return graph


def from_torch(module, example_input, *, opset=17, input_shapes=None):
    """Export a ``torch.nn.Module`` with ``example_input`` to ONNX (batch axis dynamic) and import it.

    Uses the TorchScript exporter (``dynamo=False``): it needs no extra packages. Returns (Graph, ModelProto)."""
    import io
    import warnings
    try:
        import torch
    except ImportError:
        raise CompileError("compiling a PyTorch module needs torch (pip install torch)") from None
    import onnx
    if not isinstance(module, torch.nn.Module):
        raise CompileError(f"model must be a torch.nn.Module here, not {type(module).__name__}")
    if example_input is None:
        raise CompileError("compiling a PyTorch module needs an example input (example_input=…) to trace it")
    x = example_input if isinstance(example_input, torch.Tensor) else torch.from_numpy(np.asarray(example_input))
    module = module.eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's own deprecation notices are not the user's problem
        kwargs = dict(input_names=["input"], output_names=["output"], opset_version=opset,
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        try:
            torch.onnx.export(module, (x,), buf, dynamo=False, **kwargs)
        except TypeError:   # older torch without the dynamo keyword
            torch.onnx.export(module, (x,), buf, **kwargs)
    proto = onnx.load_from_string(buf.getvalue())
    return from_onnx(proto, input_shapes), proto
