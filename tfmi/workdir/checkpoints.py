"""A workdir's checkpoints: the complete ones on disk, the manager's index kept listing
them, saving and restoring the training state (``CheckpointStore``) and restoring a model
alone (``restore_model``)."""

import errno
import os
import re

import tensorflow as tf

from tfmi.workdir.layout import CHECKPOINTS, CONFIG, WorkdirError, _first_line

_CHECKPOINT_FILE = re.compile(r"^ckpt-(\d+)\.index$")


def checkpoint_steps(workdir):
    """The complete checkpoints (index and data files): a sorted list of (step, prefix).

    Found from the files rather than the manager's index, so a checkpoint moved away
    is not listed and one left out of the index (a garbled one) is.
    """
    if not tf.io.gfile.isdir(workdir.checkpoint_dir):
        return []
    names = set(name.rstrip("/") for name in tf.io.gfile.listdir(workdir.checkpoint_dir))
    found = []
    for name in names:
        match = _CHECKPOINT_FILE.match(name)
        if match and any(other.startswith(f"ckpt-{match.group(1)}.data-") for other in names):
            found.append((int(match.group(1)), os.path.join(workdir.checkpoint_dir, f"ckpt-{match.group(1)}")))
    return sorted(found)


def repair_checkpoint_index(workdir):
    """Rewrites the manager's index when it does not list the checkpoints on disk
    (garbled by a kill, or naming checkpoints moved away), so that retention
    (``keep_checkpoints``) goes on counting them all. Returns whether it rewrote it."""
    steps = workdir.checkpoint_steps()
    if not steps:
        return False
    state = tf.train.get_checkpoint_state(workdir.checkpoint_dir)
    wanted = [os.path.basename(prefix) for _, prefix in steps]
    if state is not None:
        listed = [os.path.basename(path) for path in state.all_model_checkpoint_paths]
        if listed == wanted and os.path.basename(state.model_checkpoint_path) == wanted[-1]:
            return False
    # The manager deletes only checkpoints written after last_preserved_timestamp.
    written = [tf.io.gfile.stat(f"{prefix}.index").mtime_nsec / 1e9 for _, prefix in steps]
    tf.compat.v1.train.update_checkpoint_state(
        workdir.checkpoint_dir, wanted[-1], all_model_checkpoint_paths=wanted,
        all_model_checkpoint_timestamps=written, last_preserved_timestamp=min(written) - 1,
    )
    return True


class CheckpointStore:
    """Saves and restores a tf.train.Checkpoint in WORKDIR/checkpoints
    (tf.train.CheckpointManager, keeping the newest ``keep``).

    Under multi-worker training every worker must take part in saving (reading
    sync-on-read variables is a collective op); the workers other than the chief write
    to a private directory (``scratch``) that is deleted right afterwards.
    """

    def __init__(self, checkpoint, workdir, keep, scratch=None):
        self.workdir = workdir
        self.directory = workdir.checkpoint_dir
        self.scratch = scratch
        write_dir = self.directory if scratch is None else os.path.join(scratch, CHECKPOINTS)
        self.manager = tf.train.CheckpointManager(checkpoint, write_dir, max_to_keep=keep)
        self.checkpoint = checkpoint

    def restore_latest(self):
        """Restores the newest checkpoint; returns its path, or None when there is none."""
        path = self.workdir.newest_checkpoint()
        if path is None:
            return None
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except Exception as error:  # noqa: BLE001  (OpError, ValueError, IndexError, ...)
            files = sorted(tf.io.gfile.glob(f"{path}.*"))
            names = ", ".join(os.path.basename(name) for name in files) or f"{path}.*"
            raise WorkdirError(
                f"cannot restore the checkpoint {path} ({names} in "
                f"{os.path.dirname(path)}): {_first_line(error)}. It is corrupt "
                "or was written by a different model; nothing was deleted. Move those "
                "files away to resume from the previous checkpoint, or use a new --workdir."
            ) from None
        return path

    def save(self, step):
        """Saves the checkpoint of ``step``; returns its path prefix."""
        try:
            path = self.manager.save(checkpoint_number=step)
        except (OSError, tf.errors.ResourceExhaustedError, tf.errors.UnknownError,
                tf.errors.PermissionDeniedError) as error:
            full = getattr(error, "errno", None) == errno.ENOSPC or "space" in str(error).lower()
            reason = "the disk is full" if full else _first_line(error)
            raise WorkdirError(
                f"could not write the checkpoint of step {step} to {self.directory}: {reason}. "
                "The previous checkpoints are intact; free space (or fix the directory) and "
                "run the same command again to resume."
            ) from None
        if self.scratch is not None:
            tf.io.gfile.rmtree(self.manager.directory)
        return path


def restore_model(model, path):
    """Restores ``model``'s variables from the trainer checkpoint ``path`` (a prefix such
    as WORKDIR/checkpoints/ckpt-N), skipping the optimizer's; WorkdirError when it fails."""
    checkpoint = tf.train.Checkpoint(model=model)
    try:
        status = checkpoint.restore(path)
        status.expect_partial()
        status.assert_existing_objects_matched()
    except Exception as error:  # noqa: BLE001  (OpError, AssertionError, ValueError, ...)
        raise WorkdirError(
            f"cannot restore the checkpoint {path}: {_first_line(error)}. It is "
            f"corrupt, or {CONFIG} does not describe the model that wrote it."
        ) from None
