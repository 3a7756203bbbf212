"""vta.quant.refine: the fitted weight rounding (AdaRound's objective, greedy) and empirical bias correction, checked
against independent numpy computations of the layer error — and that they reach the program as the integers VTA
runs."""

import itertools

import numpy as np
import pytest

from vta.compiler.ir import CompileError
from vta.quant.refine import LayerData, LayerFit, bias_delta, fit_layer, fit_rounding


def _dense_case(seed, n=400, k=24, o=3, ex=-5, ew=-6, orthogonal=False):
    rng = np.random.default_rng(seed)
    if orthogonal:       # columns of ±1 patterns that are exactly orthogonal: the objective separates per weight
        h = np.array([[1]])
        while len(h) < n:
            h = np.block([[h, h], [h, -h]])
        xq = (h[:n, 1:k + 1] * 40).astype(np.int8)
    else:                # correlated, mostly positive inputs (like post-ReLU activations): rounding errors add up
        xq = np.clip(rng.integers(0, 60, (n, 1)) + rng.integers(-30, 30, (n, k)), -128, 127).astype(np.int8)
    x = xq.astype(np.float32) * 2.0 ** ex + rng.normal(0, 0.01, (n, k)).astype(np.float32)  # float input ≈ int8
    w = rng.normal(0, 0.3, (o, k))
    wq = np.clip(np.rint(w / 2.0 ** ew), -127, 127).astype(np.int8)
    return LayerData("Dense", w, [(xq[:n // 2], x[:n // 2]), (xq[n // 2:], x[n // 2:])], ex), wq, ew, xq, x, w


def _err(xq, x, w, v, ex, ew):
    """Sum of squared pre-activation errors per output channel (independent of the code under test)."""
    d = (xq.astype(np.float64) * 2.0 ** ex) @ (v.astype(np.float64) * 2.0 ** ew).T - x.astype(np.float64) @ w.T
    return np.sum(d * d, axis=0)


def test_rounding_fit_stays_within_floor_ceil_and_lowers_the_error():
    d, wq, ew, xq, x, w = _dense_case(1)
    v = fit_rounding(d, wq, ew)
    u = w / 2.0 ** ew
    assert v.dtype == np.int8 and v.shape == wq.shape
    assert np.all((v == np.floor(u)) | (v == np.ceil(u)))
    before, after = _err(xq, x, w, wq, -5, ew), _err(xq, x, w, v, -5, ew)
    assert np.all(after <= before + 1e-9) and after.sum() < before.sum()
    # a local optimum: no single weight moved to its other rounding lowers its channel's error
    for c, i in itertools.product(range(v.shape[0]), range(v.shape[1])):
        alt = v.copy()
        alt[c, i] = np.ceil(u[c, i]) if v[c, i] == np.floor(u[c, i]) else np.floor(u[c, i])
        assert _err(xq, x, w, alt, -5, ew)[c] >= after[c] - 1e-9


def test_rounding_fit_is_the_global_optimum_when_inputs_are_orthogonal():
    d, wq, ew, xq, x, w = _dense_case(2, n=64, k=5, orthogonal=True)
    v = fit_rounding(d, wq, ew)
    u = w / 2.0 ** ew
    for c in range(w.shape[0]):
        best = min(_err(xq, x, w[c:c + 1], np.array([cand]), -5, ew)[0]
                   for cand in itertools.product(*[(np.floor(t), np.ceil(t)) for t in u[c]]))
        assert _err(xq, x, w[c:c + 1], v[c:c + 1], -5, ew)[0] == pytest.approx(best, rel=1e-12, abs=1e-12)


def test_bias_delta_is_the_mean_output_error():
    d, wq, ew, xq, x, w = _dense_case(3)
    got = bias_delta(d, wq, ew)
    want = np.mean((xq.astype(np.float64) * 2.0 ** -5) @ (wq * 2.0 ** ew).T - x.astype(np.float64) @ w.T, axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    # subtracting it leaves no mean error
    fit = fit_layer(d, wq, ew, w_fit=False, bias_corr=True)
    resid = (xq * 2.0 ** -5) @ (wq * 2.0 ** ew).T - fit.bias_delta - x.astype(np.float64) @ w.T
    assert np.all(np.abs(resid.mean(0)) < 1e-9)


@pytest.mark.parametrize("pads", [(1, 1, 1, 1), (0, 1, 2, 0)])
def test_bias_delta_of_a_conv_matches_a_direct_convolution(pads):
    """Symmetric padding, and asymmetric padding (a host pre-pad before the device convolution): the refinement
    measures the error of exactly the convolution the node declares."""
    from vta.compiler.geometry import ConvGeom
    from vta.compiler.ir import Node
    rng = np.random.default_rng(4)
    xq = rng.integers(-60, 60, (3, 2, 6, 5)).astype(np.int8)
    x = xq * 2.0 ** -4 + rng.normal(0, 0.02, xq.shape)
    w = rng.normal(0, 0.2, (4, 2, 3, 3))
    wq = np.clip(np.rint(w / 2.0 ** -7), -127, 127).astype(np.int8)
    geom = ConvGeom.of(Node("Conv", "c", ["x", "w"], ["y"], dict(pads=list(pads))), xq.shape, w.shape)
    assert (geom.prepad is None) == (pads == (1, 1, 1, 1))
    d = LayerData("Conv", w, [(xq, x)], -4, geom)

    def conv(a, k):        # direct loops, zero padding (t, l, b, r), stride 1
        t, l, b, r = pads
        n, c, h, wd = a.shape
        ap = np.pad(a, ((0, 0), (0, 0), (t, b), (l, r)))
        oh, ow = h + t + b - 2, wd + l + r - 2
        y = np.zeros((n, k.shape[0], oh, ow))
        for i in range(oh):
            for j in range(ow):
                y[:, :, i, j] = np.einsum("ncuv,ocuv->no", ap[:, :, i:i + 3, j:j + 3], k)
        return y
    want = (conv(xq * 2.0 ** -4, wq * 2.0 ** -7) - conv(x, w)).mean(axis=(0, 2, 3))
    np.testing.assert_allclose(bias_delta(d, wq, -7), want, rtol=1e-9, atol=1e-12)
    v = fit_rounding(d, wq, -7)            # the conv path (im2col rows) lowers the same error measure
    assert np.sum((conv(xq * 2.0 ** -4, v * 2.0 ** -7) - conv(x, w)) ** 2) <= \
        np.sum((conv(xq * 2.0 ** -4, wq * 2.0 ** -7) - conv(x, w)) ** 2)


def test_layer_fit_equality_compares_values():
    a = LayerFit(np.ones((2, 2), np.int8), np.array([1, 2]), np.array([0.5, 0.25]))
    b = LayerFit(np.ones((2, 2), np.int8), np.array([1, 2]), np.array([0.5, 0.25]))
    assert a == b and a != LayerFit(None, np.array([1, 2]), np.array([0.5, 0.25]))
    assert a.matches(np.array([1, 2])) and not a.matches(np.array([1, 3]))


def test_plan_asking_for_a_fit_without_data_is_a_clear_error():
    onnx = pytest.importorskip("onnx", reason="the program is built from an ONNX graph")
    from onnx import TensorProto, helper, numpy_helper

    from vta.compiler.onnx_import import from_onnx
    from vta.compiler.ops import run_graph
    from vta.compiler.partition import partition
    from vta.compiler.passes import optimize
    from vta.quant import HardwareDesc, LayerChoice, Plan, build_program, collect
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(0, 0.1, (16, 32)).astype(np.float32), "w")
    node = helper.make_node("Gemm", ["x", "w"], ["y"], transB=1, name="fc")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 16])], [w])
    g = from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    optimize(g)
    caps = partition(g, "default")
    x = rng.normal(0, 1, (4, 32)).astype(np.float32)
    stats = collect(lambda b: run_graph(g, b), [{"x": x}], [t for t in g.shapes if t not in g.consts])
    name = next(n.name for n in g.nodes if n.op == "Dense")
    plan = Plan(layers={name: LayerChoice(bias_corr=True)})
    with pytest.raises(CompileError, match=f"layer '{name}'.*no fitted data"):
        build_program(g, caps, plan, stats, HardwareDesc.from_config("default"))
    del onnx


def test_working_arrays_are_chunked_without_changing_results(monkeypatch):
    import vta.quant.refine as refine
    d, wq, ew, *_ = _dense_case(5)
    full_b, full_v = bias_delta(d, wq, ew), fit_rounding(d, wq, ew)
    monkeypatch.setattr(refine, "ELEMENTS", 7 * d.w.shape[0])        # 7 images per chunk
    np.testing.assert_allclose(bias_delta(d, wq, ew), full_b, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(fit_rounding(d, wq, ew), full_v)
    monkeypatch.setattr(refine, "MAX_FIT_WORK", 10)
    with pytest.raises(ValueError, match="rounding fit of a 3×24 layer"):
        fit_rounding(d, wq, ew)
