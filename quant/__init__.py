"""vta.quant: hardware-aware int8 quantization for VTA (HAGO-style).

`HardwareDesc` (what VTA computes at which bit width, from a VTAConfig), calibration (`calibrate`: max, average
range, percentile, KL, MSE → power-of-two exponents), plans (`plan`: the per-tensor and per-layer choices), the
builder of the quantized program from a plan (`build`; the program, its steps and their bit-exact arithmetic live
in `vta.compiler`), calibration-data refinements of one layer (`refine`: weight rounding fitted to the layer's
output, empirical bias correction) and the greedy per-layer search (`search`).
"""

from .build import build_program, quantize_weights, requant_multiplier
from .calibrate import METHODS, ROUNDINGS, TensorStats, collect, exponent, threshold
from .hardware import HardwareDesc
from .plan import LayerChoice, Plan
from .refine import LayerFit, fit_layer
from .search import fit_plan, greedy_search, score_outputs

__all__ = ["HardwareDesc", "TensorStats", "collect", "exponent", "threshold", "METHODS", "ROUNDINGS",
           "LayerChoice", "Plan", "build_program", "quantize_weights", "requant_multiplier",
           "greedy_search", "score_outputs", "LayerFit",
           "fit_layer", "fit_plan"]
