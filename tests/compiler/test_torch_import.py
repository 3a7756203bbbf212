"""PyTorch import: a small nn.Module compiles (through the TorchScript ONNX exporter) and runs on fsim."""

import numpy as np
import pytest

import vta
import vta.compiler as vc

torch = pytest.importorskip("torch", reason="PyTorch import needs torch (pip install torch)")


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.c2 = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = torch.nn.Linear(16 * 4 * 4, 5)

    def forward(self, x):
        x = torch.relu(self.bn(self.c1(x)))
        y = torch.relu(self.c2(x))
        y = torch.nn.functional.max_pool2d(y, 1) + y      # residual add on VTA
        return self.fc(torch.flatten(y, 1))


def test_torch_module_compiles_and_runs(fsim_runtime):
    torch.manual_seed(0)
    net = Net().eval()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-0.2, 0.2)
        net.bn.running_var.uniform_(0.5, 2)
    rng = np.random.default_rng(0)
    calib = rng.normal(size=(64, 3, 8, 8)).astype(np.float32)
    cm = vta.compile(net, calibration=calib, example_input=torch.from_numpy(calib[:1]), runtime=fsim_runtime)
    ops = [n.op for n in cm.graph.nodes]
    assert "BatchNormalization" not in ops        # folded into the first conv
    x = rng.normal(size=(6, 3, 8, 8)).astype(np.float32)
    got = cm.run(x)[0]
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    assert got.shape == want.shape == (6, 5)
    assert np.max(np.abs(got - want)) <= 0.05 * np.max(np.abs(want))
    placed = {r["op"].split("+")[0]: r["placement"] for r in cm.report().layers}
    assert placed["Conv"] == "VTA" and placed["Dense"] == "VTA" and placed["Add"] == "VTA"


def test_torch_module_needs_example_input():
    with pytest.raises(vc.CompileError, match="example input"):
        vta.compile(Net(), calibration=np.zeros((1, 3, 8, 8), np.float32))
