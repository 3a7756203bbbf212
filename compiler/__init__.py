"""vta.compiler: compile ONNX / PyTorch models onto VTA.

Import (`onnx_import`) → graph passes (`passes`: shape inference, constant folding, BatchNorm folding, dense
canonicalisation, bias+ReLU fusion) → VTA/CPU partitioning (`partition`) → HAGO-style int8 quantization with
power-of-two scales (`vta.quant`) → lowering onto the runtime JIT (`lower`). Entry point: `compile`.
"""

from .api import CompiledModel, compile
from .ir import CompileError, Graph, Node, UnsupportedOpError

__all__ = ["compile", "CompiledModel", "CompileError", "UnsupportedOpError", "Graph", "Node"]
