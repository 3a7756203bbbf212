"""vta.compiler: the compiler's half of compiling ONNX / PyTorch models onto VTA.

Import (`onnx_import`) → graph passes (`passes`: shape inference, constant folding, BatchNorm folding, dense
canonicalisation, bias+ReLU fusion) → VTA/CPU partitioning (`partition`, with each convolution's geometry
normalised once in `geometry`). The quantized program is made of the typed steps in `steps` (each with its
bit-exact numpy arithmetic from `arith` and its device lowering) and run by the one interpreter in `program`,
on numpy or on a device through `lower`. `vta.quant` builds such programs from a quantization plan; `vta.compile`
(in `vta.api`) ties the two together. This package imports neither.
"""

from .ir import CompileError, Graph, Node, UnsupportedOpError

__all__ = ["CompileError", "UnsupportedOpError", "Graph", "Node"]
