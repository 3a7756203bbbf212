"""Packing numpy tensors into VTA's blocked DRAM layouts, and back.

Every DRAM tensor is an array of buffer elements (docs/semantics.md, "Element layout"):

- activations NCHW → ``(N/BATCH, C/BLOCK_IN, H, W, BATCH, BLOCK_IN)`` int8: element ``[n', c', h, w]`` is one inp
  element; output activations likewise with BLOCK_OUT (out elements, also what LOAD ACC_8BIT reads);
- weights OIHW → ``(O/BLOCK_OUT, I/BLOCK_IN, KH, KW, BLOCK_OUT, BLOCK_IN)`` int8 (wgt elements);
- bias (O,) int32 → ``(O/BLOCK_OUT, BATCH, BLOCK_OUT)`` int32 acc elements, the channel values repeated on every
  batch row;
- flat tensors for element-wise operators → ``(ceil(size / (BATCH·BLOCK_OUT)), BATCH, BLOCK_OUT)``.

Channel and batch counts are padded up to whole blocks with zeros (zero channels add nothing to a GEMM).
"""

import numpy as np

__all__ = ["ceil_div", "pack_nchw", "unpack_nchw", "pack_oihw", "pack_bias", "pack_flat", "unpack_flat"]


def ceil_div(a, b):
    return -(-a // b)


def pack_nchw(x, batch, block):
    """NCHW → ``(N', C', H, W, batch, block)``, zero-padded to whole blocks (any integer dtype kept)."""
    n, c, h, w = x.shape
    nb, cb = ceil_div(n, batch), ceil_div(c, block)
    padded = np.zeros((nb * batch, cb * block, h, w), dtype=x.dtype)
    padded[:n, :c] = x
    return np.ascontiguousarray(padded.reshape(nb, batch, cb, block, h, w).transpose(0, 2, 4, 5, 1, 3))


def unpack_nchw(packed, n, c):
    """``(N', C', H, W, batch, block)`` → NCHW, dropping padding beyond ``n`` images and ``c`` channels."""
    nb, cb, h, w, batch, block = packed.shape
    full = packed.transpose(0, 4, 1, 5, 2, 3).reshape(nb * batch, cb * block, h, w)
    return np.ascontiguousarray(full[:n, :c])


def pack_oihw(w, block_out, block_in):
    """OIHW → ``(O', I', KH, KW, block_out, block_in)``, zero-padded to whole blocks: the activation layout with
    output channels in the place of images (a wgt element is a block_out × block_in tile, as an inp element is a
    batch × block_in one)."""
    return pack_nchw(w, block_out, block_in)


def pack_bias(bias, batch, block_out):
    """(O,) int32 → ``(O', batch, block_out)`` acc elements, each channel value on every batch row."""
    o = bias.shape[0]
    ob = ceil_div(o, block_out)
    padded = np.zeros(ob * block_out, dtype=np.int32)
    padded[:o] = bias
    return np.ascontiguousarray(np.broadcast_to(padded.reshape(ob, 1, block_out), (ob, batch, block_out)))


def pack_flat(x, lanes):
    """Any-shape tensor → ``(ceil(size / lanes), lanes)`` zero-padded (element-wise operators)."""
    flat = np.ravel(x)
    rows = max(1, ceil_div(flat.size, lanes))
    out = np.zeros(rows * lanes, dtype=x.dtype)
    out[:flat.size] = flat
    return out.reshape(rows, lanes)


def unpack_flat(packed, shape):
    size = int(np.prod(shape, dtype=np.int64))
    return np.ascontiguousarray(packed.reshape(-1)[:size].reshape(shape))
