"""The hardware description HAGO-style quantization searches against, derived from a `VTAConfig`.

What VTA computes, and therefore what a quantized layer may be: int8 activations and weights (symmetric, zero
point 0), int32 accumulation in the GEMM core, and requantization on the tensor ALU with one arithmetic shift
right (SHR by an immediate) followed by MAX/MIN clipping — so every scale is a power of two, every rescale is a
shift, and rounding is floor unless a ``2^(shift-1)`` is folded into the bias. The JIT's conv2d/dense apply one
shift per call; per-output-channel scales are served by splitting a layer's output channels into groups with
the same shift (one GEMM call per group), which costs padding of each group to BLOCK_OUT channels.

Per-channel weight scales, as decided for transformer projections (issue 17): power-of-two scales per output
channel, realized exactly as that split (``per_channel_shift = "split"``). Alternatives weighed: the ALU can
shift by a tensor operand (SHR with ``use_imm = 0`` reads the shift amounts from the accumulator buffer), which
would make it one GEMM call with a per-channel shift row, but the JIT's GEMM epilogue has only the immediate
form; and float per-channel rescaling folded into the next layer is exact only where that consumer is linear in
the channel (Q·Kᵀ, P·V→output projection), not across GELU or the residual adds, so it is not a general
answer. The search takes per-channel scales only for ≥ 10 % lower output error (the extra calls cost); the
input side of a projection gets SmoothQuant's per-input-channel factors instead (`vta.quant.smooth`), which fold
into the weights and the producing LayerNorm exactly and cost nothing at run time.

Weight scales that are not powers of two (``LayerChoice(w_round="exact")``: max|w| / 127, per tensor; issue 17's
last step, what float scales buy onnxruntime): activations keep power-of-two scales, so every activation ×
activation product and every VTA→host seam is unchanged. A GEMM whose input is quantized on the host (a graph
input, a LayerNorm or GELU output) takes the weight scale's fraction into that quantization — the host scales by
any float — so input × weight scale is again a power of two: free. A GEMM whose input comes from VTA multiplies
its int32 sums by an integer before the shift (``mult / 2^shift``; an ALU MUL by a 16-bit immediate, as precise
as int32 room allows), one more ALU pass per tile (one MUL uop per cycle on the RTL) — so the search gives every
layer the free form in one trial and the multiplier form only at ≥ 10 % lower output error.
"""

import dataclasses

from ..config import load_config

__all__ = ["HardwareDesc"]


@dataclasses.dataclass(frozen=True)
class HardwareDesc:
    """Bit widths and requantization rules of one VTA configuration (see the module docstring)."""
    name: str
    input_bits: int
    weight_bits: int
    acc_bits: int
    out_bits: int
    block_in: int
    block_out: int
    batch: int
    shift_range: tuple = (0, 31)       # the conv/dense epilogue's SHR immediate (JIT: 0..31)
    add_shift_range: tuple = (-31, 31)  # element-wise add: negative amounts shift left (ALU SHR semantics)
    imm_bits: int = 16
    power_of_two_scales: bool = True
    per_channel_shift: str = "split"    # per-channel shifts → one GEMM call per distinct shift
    # op → where it can run and in which number format (HAGO's "which op runs at which bit width")
    ops: tuple = (
        ("Conv", "vta", "int8×int8→int32, shift, clip"),
        ("Dense", "vta", "int8×int8→int32, shift, clip"),
        ("Add", "vta", "int8+int8 (shifts align scales)→int32, shift, clip"),
        ("Relu", "vta", "int8 max with 0"),
        ("MaxPool", "vta", "int8 max over window"),
        ("ConvInteger", "vta", "exact when operands and result fit int8"),
        ("MatMulInteger", "vta", "exact when operands and result fit int8"),
        ("Flatten/Reshape/Transpose/Concat", "host", "int8 data movement, no arithmetic (Concat: shifts)"),
        ("*", "host", "float32 (dequantize → op → quantize)"),
    )

    @classmethod
    def from_config(cls, cfg="default"):
        cfg = load_config(cfg)
        return cls(name=cfg.name, input_bits=cfg.inp_width, weight_bits=cfg.wgt_width, acc_bits=cfg.acc_width,
                   out_bits=cfg.out_width, block_in=cfg.block_in, block_out=cfg.block_out, batch=cfg.batch)

    @property
    def qmin(self):
        return -(1 << (self.input_bits - 1))

    @property
    def qmax(self):
        return (1 << (self.input_bits - 1)) - 1

    @property
    def wmax(self):
        """Symmetric weight range ±wmax (−128 is not used so that negation stays representable)."""
        return (1 << (self.weight_bits - 1)) - 1

    @property
    def acc_max(self):
        return (1 << (self.acc_bits - 1)) - 1

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["ops"] = [list(o) for o in self.ops]
        return d
