"""What the benchmark scripts share besides printing their tables: the ``--json PATH`` writer and the cosine
similarity they compare outputs with."""

import json

import numpy as np

__all__ = ["write_json", "cosine"]


def cosine(a, b):
    """Cosine similarity of two outputs, flattened, in float64 (how the benchmarks compare VTA with onnxruntime)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30))


def write_json(path, data):
    """Write ``data`` as indented JSON to ``path``; nothing when no path was given."""
    if path:
        with open(path, "w") as f:
            json.dump(data, f, indent=2)
