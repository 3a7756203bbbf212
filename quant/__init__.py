"""vta.quant: hardware-aware int8 quantization for VTA (HAGO-style).

`HardwareDesc` (what VTA computes at which bit width, from a VTAConfig), calibration (`calibrate`: max, average
range, percentile, KL, MSE → power-of-two exponents), the quantized program and its bit-exact simulation
(`program`), calibration-data refinements of one layer (`refine`: weight rounding fitted to the layer's output,
empirical bias correction) and the greedy per-layer search (`search`).
"""

from .calibrate import METHODS, ROUNDINGS, TensorStats, collect, exponent, threshold
from .hardware import HardwareDesc
from .program import LayerChoice, Plan, Program, build_program, quantize_weights, run_program
from .refine import LayerFit, fit_layer
from .search import fit_plan, greedy_search, score_outputs

__all__ = ["HardwareDesc", "TensorStats", "collect", "exponent", "threshold", "METHODS", "ROUNDINGS",
           "LayerChoice", "Plan", "Program", "build_program", "run_program", "quantize_weights", "greedy_search",
           "score_outputs", "LayerFit", "fit_layer", "fit_plan"]
