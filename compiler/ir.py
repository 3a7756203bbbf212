"""The compiler's intermediate representation: a flat dataflow graph of named tensors and operator nodes.

Kept deliberately small. A `Graph` holds nodes in topological order, the names of its runtime inputs and outputs,
constant tensors (weights, folded values) and a static shape per tensor. Node ops use ONNX names and ONNX
attribute semantics (``Conv`` with ``pads``/``strides``/``group``…), so importers only translate, and the float
host executor (`vta.compiler.ops`) is the single definition of what every op computes. Passes rewrite the graph
in place and keep it topologically sorted.
"""

import dataclasses

import numpy as np

from ..errors import VTAError

__all__ = ["Node", "Graph", "CompileError", "UnsupportedOpError"]


class CompileError(VTAError):
    """A model the compiler cannot handle; the message names the node and the reason."""


class UnsupportedOpError(CompileError):
    """An operator (or an attribute value of one) that neither VTA nor the host executor implements."""


@dataclasses.dataclass
class Node:
    """One operator: ``op`` (ONNX op type), ``name`` (unique), input/output tensor names ("" = absent optional
    input), ``attrs`` (python values: ints, floats, lists, strings, numpy arrays)."""
    op: str
    name: str
    inputs: list
    outputs: list
    attrs: dict = dataclasses.field(default_factory=dict)
    opset: int = 13
    domain: str = ""          # "" = the default ONNX domain; others (e.g. com.microsoft) run in onnxruntime

    def attr(self, key, default=None):
        return self.attrs.get(key, default)

    def __str__(self):
        return f"{self.op} node {self.name!r}"


@dataclasses.dataclass
class Graph:
    nodes: list
    inputs: list                                   # runtime (non-constant) input tensor names
    outputs: list
    consts: dict = dataclasses.field(default_factory=dict)    # name → np.ndarray
    shapes: dict = dataclasses.field(default_factory=dict)    # name → tuple of ints (static)
    dtypes: dict = dataclasses.field(default_factory=dict)    # name → np.dtype of runtime inputs/outputs
    name: str = "model"

    # -- queries -------------------------------------------------------------------------------------------------

    def producer(self):
        """tensor name → node that writes it."""
        return {o: n for n in self.nodes for o in n.outputs if o}

    def consumers(self):
        """tensor name → list of nodes that read it."""
        out = {}
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    out.setdefault(i, []).append(n)
        return out

    def is_const(self, name):
        return name in self.consts

    def node(self, name):
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    # -- edits ---------------------------------------------------------------------------------------------------

    def rename_tensor(self, old, new):
        """Make every reader of ``old`` read ``new`` instead (outputs keep their name: the graph's own outputs
        are redirected by the caller, see `bypass`)."""
        for n in self.nodes:
            n.inputs = [new if i == old else i for i in n.inputs]

    def bypass(self, node, src, dst):
        """Remove ``node`` whose output ``dst`` equals its input ``src``: readers of ``dst`` read ``src``. When
        ``dst`` is a graph output, the node's input producer is renamed instead so the output name survives."""
        self.nodes.remove(node)
        if dst in self.outputs:
            if src in self.inputs or src in self.consts or src in self.outputs:
                # keep an Identity so the output name stays
                self.nodes.append(Node("Identity", node.name, [src], [dst]))
                self.toposort()
                return
            prod = self.producer().get(src)
            prod.outputs = [dst if o == src else o for o in prod.outputs]
            self.rename_tensor(src, dst)
            if src in self.shapes:
                self.shapes[dst] = self.shapes[src]
        else:
            self.rename_tensor(dst, src)

    def prune(self):
        """Drop nodes whose outputs nobody needs and constants nobody reads."""
        needed = set(self.outputs)
        keep = []
        for n in reversed(self.nodes):
            if any(o in needed for o in n.outputs if o):
                keep.append(n)
                needed.update(i for i in n.inputs if i)
        self.nodes = keep[::-1]
        self.consts = {k: v for k, v in self.consts.items() if k in needed}

    def toposort(self):
        avail = set(self.inputs) | set(self.consts) | {""}
        order, pending = [], list(self.nodes)
        while pending:
            progress = False
            rest = []
            for n in pending:
                if all(i in avail for i in n.inputs):
                    order.append(n)
                    avail.update(n.outputs)
                    progress = True
                else:
                    rest.append(n)
            if not progress:
                missing = sorted({i for n in rest for i in n.inputs if i not in avail})
                raise CompileError(f"{rest[0]} reads tensor(s) {missing[:3]} that no node, input or constant "
                                   f"provides (or the graph has a cycle)")
            pending = rest
        self.nodes = order

    def fresh(self, base):
        """A tensor/node name not used yet."""
        used = set(self.consts) | set(self.inputs) | {o for n in self.nodes for o in n.outputs} | \
            {n.name for n in self.nodes}
        name, k = base, 0
        while name in used:
            k += 1
            name = f"{base}_{k}"
        return name

    def summary(self):
        counts = {}
        for n in self.nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return ", ".join(f"{k}×{v}" for k, v in sorted(counts.items()))


def as_int_list(v):
    return [int(e) for e in np.asarray(v).reshape(-1)]
