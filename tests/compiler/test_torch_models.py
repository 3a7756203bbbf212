"""The PyTorch frontend on ResNet- and MobileNet-style modules defined here (torchvision's wheel does not import
next to this torch): each compiles from the ``torch.nn.Module``, runs on fsim, and agrees with onnxruntime's FP32
run of the same exported graph. MobileNet's depthwise convolutions and hard-swish/hard-sigmoid gates have no VTA
operator: they run on the host in onnxruntime."""

import io
import warnings

import numpy as np
import pytest

import vta

torch = pytest.importorskip("torch", reason="the PyTorch frontend needs torch (the test extra pins it)")
ort = pytest.importorskip("onnxruntime")
nn = torch.nn


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = None if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class TinyResNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        self.layers = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2))
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        mid = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.body = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), nn.Hardswish(),
            nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.body(x)
        return x + y if self.use_res else y


class TinyMobileNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        self.blocks = nn.Sequential(InvertedResidual(16, 16, 1, 2), InvertedResidual(16, 24, 2, 2))
        self.gate = nn.Hardsigmoid()
        self.fc = nn.Linear(24, classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = x * self.gate(nn.functional.adaptive_avg_pool2d(x, 1))      # a squeeze-excite style gate
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def _seeded(net):
    torch.manual_seed(0)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2)
    return net.eval()


@pytest.mark.parametrize("make", [TinyResNet, TinyMobileNet])
def test_torch_module_matches_onnxruntime(make, fsim_runtime):
    net = _seeded(make())
    rng = np.random.default_rng(0)
    calib = rng.uniform(0, 1, (32, 3, 16, 16)).astype(np.float32)
    cm = vta.compile(net, calibration=calib, example_input=torch.from_numpy(calib[:1]), search=False,
                     runtime=fsim_runtime)
    x = rng.uniform(0, 1, (8, 3, 16, 16)).astype(np.float32)
    sess = ort.InferenceSession(cm.onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"input": x})[0]
    with torch.no_grad():
        np.testing.assert_allclose(want, net(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(cm.run_float(x)[0], want, rtol=1e-4, atol=1e-5)
    got = cm.run(x)[0]
    cos = float(np.sum(got * want) / np.linalg.norm(got) / np.linalg.norm(want))
    assert cos > 0.98, f"cosine similarity with onnxruntime FP32 {cos:.4f}"
    np.testing.assert_array_equal(got, cm.simulate(x)[0])      # fsim = the numpy golden path, host sessions too
    rep = cm.report()
    assert rep.summary["vta_mac_fraction"] > 0.5
    if make is TinyMobileNet:
        # the squeeze-excite gate — pool, HardSigmoid, the per-channel multiply — runs on the tensor ALU
        where = lambda op: [r["placement"] for r in rep.layers if r["op"] == op]
        assert where("GlobalAveragePool") == ["VTA", "VTA"] and where("HardSigmoid") == ["VTA"]
        assert where("Mul") == ["VTA"] and rep.summary["host_subgraphs"] == []


def test_symbolic_spatial_dims_are_specialised(fsim_runtime):
    """A graph input (N, 3, H, W) compiles for the calibration data's H×W; another size is refused by name."""
    net = _seeded(TinyResNet())
    rng = np.random.default_rng(1)
    calib = rng.uniform(0, 1, (16, 3, 16, 20)).astype(np.float32)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # the exporter's notice about its TorchScript path
        torch.onnx.export(net, (torch.from_numpy(calib[:1]),), buf, input_names=["input"], output_names=["out"],
                          dynamic_axes={"input": {0: "N", 2: "H", 3: "W"}}, dynamo=False)
    cm = vta.compile(buf.getvalue(), calibration=calib, search=False, runtime=fsim_runtime)
    assert cm.graph.shapes["input"][2:] == (16, 20)
    x = rng.uniform(0, 1, (2, 3, 16, 20)).astype(np.float32)
    want = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    got = cm.run(x)[0]
    assert float(np.sum(got * want) / np.linalg.norm(got) / np.linalg.norm(want)) > 0.98
    with pytest.raises(vta.compiler.CompileError, match=r"\(N, 3, 16, 20\).*compiled for that shape"):
        cm.run(rng.uniform(0, 1, (2, 3, 24, 24)).astype(np.float32))
    with pytest.raises(vta.compiler.CompileError, match=r"symbolic dimension 2 \('H'\).*input_shapes"):
        vta.compile(buf.getvalue(), calibration=None, search=False)
