"""Dilated convolutions as ordinary ones: the polyphase (space-to-batch) split VTA's conv2d can run.

With dilation (dh, dw) and stride 1, output row ``h = dh·h' + r`` reads only padded-input rows ``dh·(h' + i) + r``
(i over the kernel): the rows of one *phase* r. So the padded input splits into dh·dw phase images (every dh-th
row, every dw-th column), each an ordinary undilated, unpadded convolution with the same kernel, and the outputs
interleave back. The phases ride in the batch dimension of one device call. Only int8 data moves on the host (no
arithmetic), so the result equals the dilated convolution exactly; `vta.compiler.arith.conv_int8` with ``dil``
is the golden model it is tested against.
"""

import numpy as np

__all__ = ["PhaseSplit"]


class PhaseSplit:
    """The split of an NCHW input of ``in_hw`` for a stride-1 convolution with ``kernel``, symmetric ``padding``
    (h, w) and ``dilations`` (h, w) into phase images of ``phase_hw`` (every phase padded to the same size with
    zeros, which only feed outputs that are cropped)."""

    def __init__(self, in_hw, kernel, padding, dilations):
        (h, w), (kh, kw), (ph, pw), (dh, dw) = in_hw, kernel, padding, dilations
        self.dil, self.pad, self.kernel = (dh, dw), (ph, pw), (kh, kw)
        hp, wp = h + 2 * ph, w + 2 * pw
        self.out_hw = (hp - (kh - 1) * dh, wp - (kw - 1) * dw)
        # phase rows q: enough for the last output row of phase 0 (q ≥ kh + ⌊(oh−1)/dh⌋) and the whole input
        qh = max(kh + (self.out_hw[0] - 1) // dh, -(-hp // dh))
        qw = max(kw + (self.out_hw[1] - 1) // dw, -(-wp // dw))
        self.phase_hw = (qh, qw)
        self._grow = (qh * dh - hp, qw * dw - wp)

    def split(self, x):
        """(N, C, H, W) → (N·dh·dw, C, qh, qw): image n's phase (rh, rw) at batch index (n·dh + rh)·dw + rw."""
        (ph, pw), (dh, dw), (qh, qw), (gh, gw) = self.pad, self.dil, self.phase_hw, self._grow
        n, c = x.shape[:2]
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph + gh), (pw, pw + gw)))
        ph6 = xp.reshape(n, c, qh, dh, qw, dw).transpose(0, 3, 5, 1, 2, 4)
        return np.ascontiguousarray(ph6.reshape(n * dh * dw, c, qh, qw))

    def merge(self, y, n):
        """The phase outputs (N·dh·dw, O, qh−kh+1, qw−kw+1) interleaved back and cropped to (N, O, OH, OW)."""
        (dh, dw), (oh, ow) = self.dil, self.out_hw
        o, yh, yw = y.shape[1:]
        full = y.reshape(n, dh, dw, o, yh, yw).transpose(0, 3, 4, 1, 5, 2).reshape(n, o, yh * dh, yw * dw)
        return np.ascontiguousarray(full[:, :, :oh, :ow])
