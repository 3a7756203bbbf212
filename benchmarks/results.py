"""What every benchmark script does with its results besides printing the table: ``--json PATH`` writes them."""

import json

__all__ = ["write_json"]


def write_json(path, data):
    """Write ``data`` as indented JSON to ``path``; nothing when no path was given."""
    if path:
        with open(path, "w") as f:
            json.dump(data, f, indent=2)
