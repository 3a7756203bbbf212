"""MobileNet-v2 (width 1.0, the torchvision layer plan, BatchNorm folded into seeded random weights) built with
onnx.helper, compiled onto VTA and compared with onnxruntime FP32.

    python benchmarks/mobilenet_v2.py [--res 224] [--device fsim] [--no-run]

Prints the share of MACs on VTA, and what it would be with grouped/depthwise convolutions on the host (the rule
before block-diagonal packing), the host layers with their reasons, and the cosine similarity of the logits with
onnxruntime's. Weights are He-initialised (seed 0) so activations stay in range through 52 layers; the input is
one uniform-random image, also the calibration image.
"""

import argparse
import sys
import time

import numpy as np
from results import cosine

# (expansion t, output channels c, repeats n, first stride s): torchvision's inverted-residual settings
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def build(res=224, seed=0, classes=1000):
    """The MobileNet-v2 ONNX model (opset 13) at input ``res``×``res``."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    count = [0]

    def conv(x, cin, cout, k, stride, group=1, act=True):
        i = count[0] = count[0] + 1
        w = rng.normal(0, np.sqrt(2.0 / (k * k * cin // group)), (cout, cin // group, k, k)).astype(np.float32)
        b = rng.normal(0, 0.05, cout).astype(np.float32)
        inits.extend([numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")])
        y = f"conv{i}"
        nodes.append(helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [y], name=y, group=group, strides=[stride] * 2,
                                      pads=[k // 2] * 4))
        if act:
            nodes.append(helper.make_node("Clip", [y, "zero", "six"], [y + "_relu6"], name=y + "_relu6"))
            y += "_relu6"
        return y

    inits += [numpy_helper.from_array(np.array(0, np.float32), "zero"),
              numpy_helper.from_array(np.array(6, np.float32), "six")]
    x, c = conv("input", 3, 32, 3, 2), 32
    for t, cout, n, s in SETTINGS:
        for r in range(n):
            stride = s if r == 0 else 1
            h = conv(x, c, c * t, 1, 1) if t != 1 else x
            h = conv(h, c * t, c * t, 3, stride, group=c * t)
            h = conv(h, c * t, cout, 1, 1, act=False)
            if stride == 1 and c == cout:
                nodes.append(helper.make_node("Add", [x, h], [h + "_res"], name=h + "_res"))
                h += "_res"
            x, c = h, cout
    x = conv(x, c, 1280, 1, 1)
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"], name="pool"))
    nodes.append(helper.make_node("Flatten", ["pool"], ["flat"], name="flat"))
    wf = rng.normal(0, np.sqrt(1.0 / 1280), (1280, classes)).astype(np.float32)
    inits.append(numpy_helper.from_array(wf, "fc_w"))
    nodes.append(helper.make_node("MatMul", ["flat", "fc_w"], ["logits"], name="fc"))
    g = helper.make_graph(nodes, "mobilenet_v2", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                                  [1, 3, res, res])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--res", type=int, default=224)
    p.add_argument("--device", default="fsim")
    p.add_argument("--no-run", action="store_true", help="compile only (placement and MAC shares)")
    a = p.parse_args(argv)
    import onnxruntime as ort

    import vta
    m = build(a.res)
    x = np.random.default_rng(1).uniform(0, 1, (1, 3, a.res, a.res)).astype(np.float32)
    t = time.perf_counter()
    cm = vta.compile(m, calibration=x, search=False, device=a.device)
    rep = cm.report()
    total = rep.summary["total_macs"]
    grouped = sum(r["macs"] for r in rep.layers if r["placement"] == "VTA" and "groups (" in r["reason"])
    print(f"MobileNet-v2 {a.res}×{a.res}: {total / 1e6:.1f} M MACs, compiled in {time.perf_counter() - t:.1f} s")
    print(f"on VTA: {100 * rep.summary['vta_mac_fraction']:.1f} % of MACs "
          f"(with grouped/depthwise convs on the host: {100 * (rep.summary['vta_macs'] - grouped) / total:.1f} %)")
    host = [r for r in rep.layers if r["placement"] != "VTA"]
    print(f"host layers: {len(host)} of {len(rep.layers)}")
    for reason in sorted({f"{r['op']}: {r['reason']}" for r in host}):
        print("  ", reason)
    if not a.no_run:
        so = ort.SessionOptions()
        so.log_severity_level = 3
        ref = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(
            None, {"input": x})[0].ravel()
        t = time.perf_counter()
        out = cm.run(x)[0].ravel()
        cos = cosine(out, ref)
        print(f"run {time.perf_counter() - t:.1f} s on {a.device}; cosine with onnxruntime FP32 {cos:.4f}; "
              f"top-1 {'agrees' if out.argmax() == ref.argmax() else 'differs'}")
    cm.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
