"""A quantization plan: the per-tensor and per-layer choices the search makes, as plain values.

`LayerChoice` holds one conv/dense layer's choices, `Plan` every choice of a model (activation calibration per
tensor, layer choices, the integers fitted by `vta.quant.refine`, the SmoothQuant α per smoothable activation,
`vta.quant.smooth`, and whether softmax probabilities are stored with an offset, `vta.quant.offsets`).
`vta.quant.build_program` turns a plan into a program; the search copies and varies plans.
"""

import dataclasses

__all__ = ["LayerChoice", "Plan"]


@dataclasses.dataclass(frozen=True)
class LayerChoice:
    """Per-layer quantization choices: placement, weight scale granularity and rounding, and the calibration-data
    refinements of `vta.quant.refine` (their fitted integers live in `Plan.fits`)."""
    place: str = "vta"            # "vta" or "host" (float32 on the CPU)
    w_gran: str = "tensor"        # "tensor" or "channel"
    w_round: str = "ceil"         # "ceil" or "nearest" (of the weight scale's exponent), or "exact": the scale
                                  # max|w| / 127, per tensor, requantized with a multiplier (vta.quant.build)
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
    smooth: dict = dataclasses.field(default_factory=dict)       # activation tensor → SmoothQuant α (quant.smooth)
    act_offset: bool = True       # softmax probabilities read by VTA matmuls stored with an offset (quant.offsets)

    def copy(self):
        return Plan(dict(self.act), dict(self.layers), self.default_act, self.first_layer_host, self.offload_all,
                    dict(self.fits), dict(self.smooth), self.act_offset)

    def needs_fit(self, name):
        c = self.layers.get(name)
        return c is not None and c.place == "vta" and (c.w_fit or c.bias_corr)
