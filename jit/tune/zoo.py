"""Named task lists `vta tune` accepts instead of an ONNX file.

``resnet18``: every convolution of ResNet-18 at 224×224 is one of upstream VTA's benchmark shapes C1–C11 (the
stem, the 3×3 layers, the strided 3×3 and 1×1 downsample layers of each stage), plus the 512 → 1000 classifier.
"""

from .task import Task

__all__ = ["RESNET18_LAYERS", "resnet18_tasks", "NAMED"]

# name: (H, W, Cin, Cout, kernel, pad, stride) — as in benchmarks/resnet18_layers.py
RESNET18_LAYERS = {"C1": (224, 224, 3, 64, 7, 3, 2), "C2": (56, 56, 64, 64, 3, 1, 1),
                   "C3": (56, 56, 64, 128, 3, 1, 2), "C4": (56, 56, 64, 128, 1, 0, 2),
                   "C5": (28, 28, 128, 128, 3, 1, 1), "C6": (28, 28, 128, 256, 3, 1, 2),
                   "C7": (28, 28, 128, 256, 1, 0, 2), "C8": (14, 14, 256, 256, 3, 1, 1),
                   "C9": (14, 14, 256, 512, 3, 1, 2), "C10": (14, 14, 256, 512, 1, 0, 2),
                   "C11": (7, 7, 512, 512, 3, 1, 1)}


def resnet18_tasks(batch=1, rows=None, dense=True):
    """{name: Task}; ``rows`` cuts each layer to the input rows its first ``rows`` output rows need."""
    out = {}
    for name, (h, w, ci, co, k, pad, stride) in RESNET18_LAYERS.items():
        if rows:
            h = min(h, (rows - 1) * stride + k - pad)
        out[name] = Task.conv2d(batch, ci, h, w, co, k, k, stride, pad)
    if dense:
        out["FC"] = Task.dense(batch, 512, 1000)
    return out


NAMED = {"resnet18": resnet18_tasks}
