"""`ConvGeom`: the geometry of one 2-D convolution node, normalised once.

ONNX describes a convolution by attributes (``pads``, ``auto_pad``, ``strides``, ``dilations``, ``group``) that
partitioning, quantization, the bit-exact simulation, the device lowering and the calibration refinements all need
in the same resolved form. VTA's conv2d pads symmetrically, so asymmetric padding is split into a host-side
pre-pad (``prepad``, applied to the int8 input first) followed by an unpadded device convolution. Computing that
split here, once per node, keeps every consumer agreeing on it.
"""

import dataclasses

import numpy as np

from .ops import conv_params

__all__ = ["ConvGeom"]


@dataclasses.dataclass(frozen=True)
class ConvGeom:
    """``strides`` (sh, sw), ``pads`` (t, l, b, r) as the node declares them, ``dilations``, ``groups``,
    ``in_hw``/``kernel``/``out_hw`` sizes; ``prepad`` is ``pads`` when they are asymmetric (done on the host
    before the device convolution, which then pads nothing), else ``None``."""
    strides: tuple
    pads: tuple
    dilations: tuple
    groups: int
    in_hw: tuple
    kernel: tuple
    out_hw: tuple
    prepad: tuple = None

    @classmethod
    def of(cls, node, x_shape, w_shape):
        strides, pads, dil, group = conv_params(node, x_shape, w_shape)
        t, l, b, r = pads
        kh, kw = int(w_shape[2]), int(w_shape[3])
        h, w = int(x_shape[2]), int(x_shape[3])
        oh = (h + t + b - ((kh - 1) * dil[0] + 1)) // strides[0] + 1
        ow = (w + l + r - ((kw - 1) * dil[1] + 1)) // strides[1] + 1
        prepad = (t, l, b, r) if (t, l) != (b, r) else None
        return cls(tuple(strides), (t, l, b, r), tuple(dil), group, (h, w), (kh, kw), (oh, ow), prepad)

    @property
    def device_padding(self):
        """The symmetric (h, w) padding the device convolution applies (after `host_pad`)."""
        return (0, 0) if self.prepad else (self.pads[0], self.pads[1])

    @property
    def device_pads(self):
        """`device_padding` as (t, l, b, r), for numpy convolutions of the host-padded input."""
        ph, pw = self.device_padding
        return (ph, pw, ph, pw)

    @property
    def device_in_hw(self):
        """The input size the device convolution sees (grown by `prepad`)."""
        t, l, b, r = self.prepad or (0, 0, 0, 0)
        return (self.in_hw[0] + t + b, self.in_hw[1] + l + r)

    def host_pad(self, x):
        """``x`` (NCHW) with the asymmetric pre-pad applied (zeros), or ``x`` itself when there is none."""
        if not self.prepad:
            return x
        t, l, b, r = self.prepad
        return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
