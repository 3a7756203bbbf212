"""Zero-point offsets for one-sided int8 operands (`vta.quant.offsets`): which tensors qualify, the exponent and
offset rule, and a Dense reading a sigmoid output stored as q − 128 — the offset's share folded into the int32
bias, bit-exact between the numpy semantics and the functional simulator, with a lower error than the symmetric
form. (The softmax → P·V case is tested with the attention product in tests/compiler/test_transformer.py.)"""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the offset tests build ONNX models (pip install onnx)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import vta  # noqa: E402
from vta.compiler.program import run_program  # noqa: E402
from vta.compiler.steps import Dense, Quantize  # noqa: E402
from vta.quant import Plan  # noqa: E402
from vta.quant.calibrate import TensorStats  # noqa: E402
from vta.quant.hardware import HardwareDesc  # noqa: E402
from vta.quant.offsets import act_exponent  # noqa: E402


def _sigmoid_dense(k=48, m=20, seed=0, act="Sigmoid"):
    """x → Sigmoid (host, float) → x·W + b (a Dense on VTA), and a second reader of the sigmoid output when
    ``act`` names one (then the output is not only a Dense's input)."""
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (k, m)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.normal(0, 0.1, m).astype(np.float32), "b")]
    nodes = [helper.make_node("Sigmoid", ["x"], ["s"], name="sig"),
             helper.make_node("MatMul", ["s", "W"], ["mm"], name="proj"),
             helper.make_node("Add", ["mm", "b"], ["y"], name="bias")]
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if act == "Sigmoid+Tanh":
        nodes.append(helper.make_node("Tanh", ["s"], ["t"], name="tanh"))
        outs.append(helper.make_tensor_value_info("t", TensorProto.FLOAT, None))
    g = helper.make_graph(nodes, "sd", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", k])], outs,
                          inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


@pytest.fixture(scope="module")
def fsim_runtime():
    from vta.jit import Runtime
    rt = Runtime("default", device="fsim")
    yield rt
    rt.close()


def test_dense_input_offset_folds_into_the_bias(fsim_runtime):
    x = np.random.default_rng(1).normal(0, 2, (64, 48)).astype(np.float32)
    m, errs = _sigmoid_dense(), {}
    for offset in (True, False):
        plan = Plan(default_act=("max", "nearest"), act_offset=offset)
        with vta.compile(m, calibration=x, search=False, plan=plan, runtime=fsim_runtime) as cm:
            q = next(st for st in cm.program.steps if isinstance(st, Quantize) and st.inputs == ["s"])
            d = next(st for st in cm.program.steps if isinstance(st, Dense))
            if offset:
                assert (q.exp, q.offset, d.x_offset) == (-8, 128, 128) and cm.program.offsets == {"s": 128}
                env = run_program(cm.program, {"x": x}, cm.graph.consts)
                assert env[q.outputs[0]].min() < 0 < env[q.outputs[0]].max()      # both halves of the codes
                y = cm.run(x[:16])[0]
                np.testing.assert_array_equal(y, cm.simulate(x[:16])[0])
            else:
                assert (q.exp, q.offset, d.x_offset) == (-7, 0, 0)
            errs[offset] = (cm.errors["s"], cm.errors["y"])
    assert errs[True][0] < 0.6 * errs[False][0] and errs[True][1] < errs[False][1], errs


def test_a_tensor_with_another_reader_stays_symmetric():
    x = np.random.default_rng(2).normal(0, 2, (32, 48)).astype(np.float32)
    cm = vta.compile(_sigmoid_dense(act="Sigmoid+Tanh"), calibration=x, search=False,
                     plan=Plan(default_act=("max", "nearest")))
    assert cm.program.offsets == {}


def _stats(values):
    s = TensorStats()
    s.add(np.asarray(values, np.float32), np.random.default_rng(0))
    s.reduce()
    return s


@pytest.mark.parametrize("values,lo,want", [
    ([0.0, 0.3, 1.0], 0.0, (-8, 128)),            # softmax-like: one exponent finer, q − 128
    ([-0.17, 0.5, 4.5], None, (-5, 122)),         # GELU-like: −0.17 takes 6 codes (2^-5 = 1/32), z = 128 − 6
    ([-4.0, 0.5, 4.5], None, (-4, 0)),            # two-sided: the span needs the symmetric exponent, no offset
])
def test_offset_only_where_finer(values, lo, want):
    hw = HardwareDesc.from_config("default")
    assert act_exponent(_stats(values), "max", "ceil" if want[0] != -8 else "nearest", hw, lo) == want
