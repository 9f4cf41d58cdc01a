"""The names of a workdir's files (the tree in ``tfmi.workdir``) and ``WorkdirError``, which
every problem with a workdir raises."""

import re

from tfmi.errors import InputError

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINTS = "checkpoints"
CHECKPOINT_INDEX = "checkpoint"  # tf.train.CheckpointManager's index file
EXPORT = "export"
EVAL_CURVE = "eval_curve.json"
LOCK = "lock"
EVENTS = "events.out.tfevents."


class WorkdirError(InputError):
    """A workdir that cannot be used as asked; the message names the problem and the fix."""


def _is_local(path):
    return "://" not in path


def _first_line(error):
    """ "Type: first line" of ``error``, without TensorFlow's op decorations
    ("{{function_node ...}}", "[Op:RestoreV2]")."""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\]", "", str(error)).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__
