"""A torchvision-architecture ResNet-18 (conv1 7×7/2 → max-pool → 4 stages of 2 BasicBlocks → global average pool
→ fc) as an ONNX graph with seeded weights, built with ``onnx.helper`` (no torch or torchvision needed).

Weights are He-normal, BatchNorm statistics and affine parameters random but well conditioned, so activations
stay in a realistic range through the 20 layers; the model is not trained (its outputs are not class scores
anyone should trust), which is enough to measure compile/search/simulation speed and the quantization error
against onnxruntime FP32. ``images`` gives smooth seeded pseudo-images (random low-frequency patterns) that
calibrate like natural images better than white noise.
"""

import numpy as np

__all__ = ["resnet18_onnx", "images"]


def resnet18_onnx(seed=0, num_classes=1000, size=224, stages=(64, 128, 256, 512), blocks=(2, 2, 2, 2)):
    """The ONNX ``ModelProto`` of ResNet-18 (``stages``/``blocks`` shrink it for tests), input (1, 3, size,
    size) named ``input``."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    count = [0]

    def name(p):
        count[0] += 1
        return f"{p}{count[0]}"

    def const(p, a):
        n = name(p)
        inits.append(numpy_helper.from_array(np.asarray(a, np.float32), n))
        return n

    def conv_bn(x, cin, cout, k, stride, relu):
        w = rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))
        y = name("conv")
        nodes.append(helper.make_node("Conv", [x, const("w", w)], [y], kernel_shape=[k, k],
                                      strides=[stride, stride], pads=[k // 2] * 4))
        z = name("bn")
        nodes.append(helper.make_node("BatchNormalization", [y, const("g", rng.uniform(0.5, 1.0, cout)),
                                                             const("b", rng.normal(0, 0.1, cout)),
                                                             const("m", rng.normal(0, 0.1, cout)),
                                                             const("v", rng.uniform(0.8, 1.5, cout))], [z]))
        if not relu:
            return z
        r = name("relu")
        nodes.append(helper.make_node("Relu", [z], [r]))
        return r

    x = conv_bn("input", 3, stages[0], 7, 2, True)
    p = name("pool")
    nodes.append(helper.make_node("MaxPool", [x], [p], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    x, cin = p, stages[0]
    for si, (cout, nb) in enumerate(zip(stages, blocks)):
        for bi in range(nb):
            stride = 2 if si > 0 and bi == 0 else 1
            h = conv_bn(x, cin, cout, 3, stride, True)
            h = conv_bn(h, cout, cout, 3, 1, False)
            sc = conv_bn(x, cin, cout, 1, stride, False) if stride != 1 or cin != cout else x
            s, r = name("add"), name("relu")
            nodes.append(helper.make_node("Add", [h, sc], [s]))
            nodes.append(helper.make_node("Relu", [s], [r]))
            x, cin = r, cout
    gp, fl = name("gap"), name("flat")
    nodes.append(helper.make_node("GlobalAveragePool", [x], [gp]))
    nodes.append(helper.make_node("Flatten", [gp], [fl], axis=1))
    fw = rng.standard_normal((num_classes, cin)) * np.sqrt(1.0 / cin)
    nodes.append(helper.make_node("Gemm", [fl, const("fcw", fw), const("fcb", rng.normal(0, 0.01, num_classes))],
                                  ["logits"], transB=1))
    graph = helper.make_graph(nodes, "resnet18", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                                [1, 3, size, size])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, num_classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def images(n, size=224, seed=1):
    """``n`` seeded smooth pseudo-images (N, 3, size, size), ImageNet-normalised range: a sum of a few random
    low-frequency cosines per channel plus a little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    out = np.empty((n, 3, size, size), np.float32)
    for i in range(n):
        for c in range(3):
            img = np.zeros((size, size))
            for _ in range(4):
                fy, fx, ph = rng.uniform(0, 6), rng.uniform(0, 6), rng.uniform(0, 2 * np.pi)
                img += rng.uniform(0.3, 1.0) * np.cos(2 * np.pi * (fy * yy + fx * xx) + ph)
            out[i, c] = img / 2 + rng.normal(0, 0.1, (size, size))
    return out
