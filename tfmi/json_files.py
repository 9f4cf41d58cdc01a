"""JSON files that tools and the trainer write (standard JSON, written atomically) and
the metrics.jsonl logs they read."""

import json
import math
import os

import numpy as np

__all__ = ["json_safe", "read_metrics", "write_json"]


def json_safe(value):
    """``value`` as standard JSON: non-finite floats become None, NumPy scalars and
    arrays Python numbers and lists, dict keys strings."""
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_safe(item) for item in value]
    return value


def write_json(value, path, indent=1):
    """Writes ``json_safe(value)`` to ``path`` through a temporary file and a rename, so
    a reader, or a writer killed half-way, never leaves half a file."""
    temporary = f"{path}.tmp"
    with open(temporary, "w") as handle:
        json.dump(json_safe(value), handle, indent=indent, allow_nan=False)
    os.replace(temporary, path)


def read_metrics(path):
    """The records of a trainer's metrics.jsonl, one per step in step order; [] if the
    file is absent. A line torn by a killed run is skipped; a step logged twice (by a
    run resumed before its last log) keeps its last record."""
    if not os.path.exists(path):
        return []
    records = {}
    with open(path) as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "step" in record:
                records[record["step"]] = record
    return [records[step] for step in sorted(records)]
