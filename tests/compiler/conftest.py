"""Shared fixtures for the compiler tests: one VTA runtime on the functional simulator (kernels and DRAM are
reused across tests, which keeps the suite fast) and the ONNX node test cases, built once."""

import warnings

import pytest

onnx = pytest.importorskip("onnx", reason="the compiler tests need onnx (pip install onnx)")


@pytest.fixture(scope="session")
def fsim_runtime():
    from vta.jit import Runtime
    return Runtime("default", device="fsim")


@pytest.fixture(scope="session")
def node_cases():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the case generators warn about their own overflow tests
        from onnx.backend.test.loader import load_model_tests
        return {c.name: c for c in load_model_tests(kind="node")}
