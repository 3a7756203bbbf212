"""Host nodes of parallel branches gather into one onnxruntime session (`vta.compiler.host.group_host_steps`):
the reordering keeps the dataflow (every step after the steps producing its inputs), keeps the search's resume
invariant (step orders never decrease), and a two-branch model needs one host session instead of two while its
device run stays bit-identical to its simulation."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_ref import ort_run

import vta
from vta.compiler.host import group_host_steps
from vta.compiler.steps import Add, Dequantize, HostFloat, Quantize

pytest.importorskip("onnxruntime", reason="the host subgraphs run in onnxruntime")


def _steps():
    """Two branches a and b, each: device add → dequantize → host op; then a host join. In graph order the host
    work of branch a sits between the two device adds."""
    mk = lambda cls, ins, outs, order, **kw: cls(inputs=ins, outputs=outs, order=order, **kw)
    return [mk(Quantize, ["x"], ["x@q"], 0, exp=0),
            mk(Add, ["x@q", "x@q"], ["a@q"], 0, a_shift=0, b_shift=0, shift=0, relu=False),
            mk(Dequantize, ["a@q"], ["a"], 1, exp=0),
            mk(HostFloat, ["a"], ["sa"], 1),
            mk(Add, ["x@q", "x@q"], ["b@q"], 2, a_shift=0, b_shift=0, shift=1, relu=False),
            mk(Dequantize, ["b@q"], ["b"], 3, exp=0),
            mk(HostFloat, ["b"], ["sb"], 3),
            mk(HostFloat, ["sa", "sb"], ["y"], 4)]


def test_grouping_keeps_dataflow_and_orders():
    steps = _steps()
    out = group_host_steps(steps)
    assert [s.outputs[0] for s in out] == ["x@q", "a@q", "b@q", "a", "sa", "b", "sb", "y"]
    made = {"x"}
    for s in out:
        assert all(k in made for k in s.inputs), s
        made.update(s.outputs)
    orders = [s.order for s in out]
    assert orders == sorted(orders)
    # the host run is contiguous: one switch from device work to host work
    kinds = [isinstance(s, (HostFloat, Dequantize)) for s in out]
    assert sum(a != b for a, b in zip(kinds, kinds[1:])) == 1


def _two_branch_model(seed=2):
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.normal(0, 0.5, (8, 3, 3, 3)).astype(np.float32), k) for k in ("wa", "wb")]
    nodes = [helper.make_node("Conv", ["x", "wa"], ["ca"], name="conv_a", pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["ca"], ["sa"], name="sig_a"),
             helper.make_node("Conv", ["x", "wb"], ["cb"], name="conv_b", pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["cb"], ["sb"], name="sig_b"),
             helper.make_node("Concat", ["sa", "sb"], ["y"], name="join", axis=1)]
    g = helper.make_graph(nodes, "branches", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 16, 8, 8])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def test_parallel_branches_share_one_session(fsim_runtime):
    m = _two_branch_model()
    rng = np.random.default_rng(0)
    calib = rng.normal(0, 1, (4, 3, 8, 8)).astype(np.float32)
    x = rng.normal(0, 1, (2, 3, 8, 8)).astype(np.float32)
    cm = vta.compile(m, calibration=calib, search=False, runtime=fsim_runtime)
    subs = cm.report().summary["host_subgraphs"]
    assert len(subs) == 1 and sorted(subs[0]["ops"]) == ["Concat", "Sigmoid", "Sigmoid"]
    got = cm.run(x)[0]
    np.testing.assert_array_equal(got, cm.simulate(x)[0])
    want = ort_run(m, {"x": x})
    assert np.max(np.abs(got - want)) < 0.05
