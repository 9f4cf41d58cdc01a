"""The ``Workdir`` class: the files of one run by name, and the one way to read and write
them. Its single-writer lock, checkpoints and logs are implemented in ``locking``,
``checkpoints`` and ``metrics``; config.json (and whose experiment the workdir holds), the
export and the leftovers of a killed run are handled here."""

import json
import os
import re

import tensorflow as tf

from tfmi.json_files import read_metrics
from tfmi.workdir import checkpoints, locking, metrics
from tfmi.workdir.layout import (
    CHECKPOINTS,
    CONFIG,
    EVAL_CURVE,
    EVENTS,
    EXPORT,
    LOCK,
    METRICS,
    WorkdirError,
    _is_local,
)

# The config sections that define what is being trained: a workdir whose config.json
# has other values belongs to another experiment.
IDENTITY_FIELDS = ("experiment", "model", "data", "batch_size", "seed")
# Data fields that say where the data is or whether to fetch it, not what it is: a run may
# resume with another value (an older config.json may lack them).
DATA_LOCATION_FIELDS = ("download", "data_dir", "manual_dir")

# Left by a run killed while it wrote: the sharded save's ckpt-N_temp/ folder, the
# manager's checkpoint.tmp<hex> index and our own *.tmp files and export folders.
_LEFTOVER = re.compile(r"^(ckpt-\d+_temp|checkpoint\.tmp\w*)$")
_EXPORT_TMP = ".export.tmp"


def _diff(old, new, prefix=""):
    """Dotted paths where two nested dicts differ, as "path: old -> new"."""
    paths = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            paths += _diff(a, b, f"{prefix}{key}.")
        elif a != b:
            paths.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return paths


def _identity(config_dict, identity_fields):
    """The fields of ``config_dict`` that name its experiment (data locations left out)."""
    identity = {field: config_dict.get(field) for field in identity_fields}
    if isinstance(identity.get("data"), dict):
        identity["data"] = {
            key: value for key, value in identity["data"].items() if key not in DATA_LOCATION_FIELDS
        }
    return identity


class Workdir:
    """The files of one run, by name; ``path`` need not exist yet."""

    def __init__(self, path):
        self.path = os.fspath(path)

    def __repr__(self):
        return f"Workdir({self.path!r})"

    def file(self, name):
        return os.path.join(self.path, name)

    @property
    def config_path(self):
        return self.file(CONFIG)

    @property
    def metrics_path(self):
        return self.file(METRICS)

    @property
    def checkpoint_dir(self):
        return self.file(CHECKPOINTS)

    @property
    def export_dir(self):
        return self.file(EXPORT)

    @property
    def eval_curve_path(self):
        return self.file(EVAL_CURVE)

    @property
    def lock_path(self):
        return self.file(LOCK)

    @property
    def summary_dir(self):
        """Where the TensorBoard event files go (the workdir itself)."""
        return self.path

    def linear_eval_path(self, dataset=None):
        """The results of tools/linear_eval.py (per transfer dataset when one is named)."""
        return self.file(f"linear_eval_{dataset}.json" if dataset else "linear_eval.json")

    def scratch(self, worker_id):
        """Where a non-chief worker writes what it must write but nobody keeps."""
        return self.file(f".worker_{worker_id}")

    def is_run(self):
        """Whether this is a trainer workdir (it holds a config.json or checkpoints)."""
        return tf.io.gfile.exists(self.config_path) or tf.io.gfile.exists(self.checkpoint_dir)

    # --- the single writer ---------------------------------------------------------------

    def check_usable(self):
        """Raises WorkdirError when the path is a file or lies below one."""
        locking.check_usable(self)

    def lock(self):
        """Holds the workdir's single-writer lock while the block runs (``with workdir.lock():``;
        see ``locking.lock``)."""
        return locking.lock(self)

    def check_writable(self):
        """Raises WorkdirError when the workdir or its checkpoint folder cannot be written."""
        locking.check_writable(self)

    def remove_leftovers(self):
        """Deletes what a run killed while writing leaves behind: the temporary folder of
        a sharded checkpoint save (ckpt-N_temp), the manager's checkpoint.tmp* index, a
        half-written export folder and the temporary copies of config.json and
        metrics.jsonl. Returns the removed paths."""
        leftovers = [
            path for path in tf.io.gfile.glob(os.path.join(self.checkpoint_dir, "*"))
            if _LEFTOVER.match(os.path.basename(path.rstrip("/")))
        ]
        leftovers += tf.io.gfile.glob(self.file(f"{_EXPORT_TMP}*"))
        leftovers += [path for path in (f"{self.config_path}.tmp", f"{self.metrics_path}.tmp")
                      if tf.io.gfile.exists(path)]
        for path in leftovers:
            if tf.io.gfile.isdir(path):
                tf.io.gfile.rmtree(path)
            else:
                tf.io.gfile.remove(path)
        return leftovers

    # --- config.json ---------------------------------------------------------------------

    def read_config(self):
        """The dict of config.json, or None when there is none."""
        if not tf.io.gfile.exists(self.config_path):
            return None
        with tf.io.gfile.GFile(self.config_path) as handle:
            text = handle.read()
        try:
            return json.loads(text)
        except ValueError as error:
            raise WorkdirError(f"{self.config_path} is not valid JSON ({error}); the workdir is damaged.") from None

    def load_config(self):
        """config.json as an ml_collections.ConfigDict; WorkdirError when this is no run."""
        import ml_collections

        if _is_local(self.path) and not os.path.isdir(self.path):
            raise WorkdirError(f"{self.path} is not a directory: pass a trainer workdir (WORKDIR/{CONFIG}).")
        config = self.read_config()
        if config is None:
            raise WorkdirError(
                f"{self.path} has no {CONFIG}: it is not a trainer workdir (python -m trainers.train writes one)."
            )
        return ml_collections.ConfigDict(config)

    def write_config(self, config_dict):
        """Writes the resolved config (a dict) to config.json, when it changed."""
        text = json.dumps(config_dict, indent=2, sort_keys=True)
        if tf.io.gfile.exists(self.config_path):
            with tf.io.gfile.GFile(self.config_path) as handle:
                if handle.read() == text:
                    return
        tf.io.gfile.makedirs(self.path)
        temporary = f"{self.config_path}.tmp"
        with tf.io.gfile.GFile(temporary, "w") as handle:
            handle.write(text)
        tf.io.gfile.rename(temporary, self.config_path, overwrite=True)

    def claim(self, config_dict, identity_fields=IDENTITY_FIELDS):
        """Refuses (WorkdirError) a workdir that holds another experiment's run.

        Another experiment: a config.json that differs in ``identity_fields``, with or
        without checkpoints; or logs, checkpoints or an export without a config.json.
        """
        previous = self.read_config()
        if previous is None:
            present = {
                METRICS: bool(self.read_metrics()),
                CHECKPOINTS: bool(self.checkpoint_steps()),
                EXPORT: tf.io.gfile.exists(self.export_dir),
            }
            found = [name for name, there in present.items() if there]
            if found:
                raise WorkdirError(
                    f"{self.path} holds {', '.join(found)} of a run without {CONFIG}, so it "
                    "cannot be told to be this experiment's. Choose a new --workdir, or move "
                    "that one away to start over."
                )
            return
        differences = _diff(_identity(previous, identity_fields), _identity(config_dict, identity_fields))
        if differences:
            held = "checkpoints" if self.checkpoint_steps() else f"the {CONFIG} and logs"
            raise WorkdirError(
                f"{self.path} holds {held} of another experiment; the config differs in "
                + "; ".join(differences)
                + ". Choose a new --workdir, or move that one away to start over."
            )

    # --- checkpoints ---------------------------------------------------------------------

    def checkpoint_steps(self):
        """The complete checkpoints (index and data files): a sorted list of (step, prefix)
        (``checkpoints.checkpoint_steps``)."""
        return checkpoints.checkpoint_steps(self)

    def newest_checkpoint(self):
        """The path prefix of the newest complete checkpoint, or None."""
        steps = self.checkpoint_steps()
        return steps[-1][1] if steps else None

    def repair_checkpoint_index(self):
        """Rewrites the manager's index when it does not list the checkpoints on disk
        (``checkpoints.repair_checkpoint_index``). Returns whether it rewrote it."""
        return checkpoints.repair_checkpoint_index(self)

    def checkpoint_store(self, checkpoint, keep, scratch=None):
        """A CheckpointStore of ``checkpoint`` in this workdir (``scratch``: a non-chief
        worker's folder, whose saves are deleted at once)."""
        return checkpoints.CheckpointStore(checkpoint, self, keep, scratch)

    # --- metrics.jsonl and TensorBoard ---------------------------------------------------

    def read_metrics(self, exact=False):
        """The records of metrics.jsonl in step order ([] when there is none).

        ``exact=True``: every line as written, in file order, without dropping a torn
        line or a step logged twice (what checks of the one-history guarantee read).
        """
        if not exact:
            return read_metrics(self.metrics_path)
        if not tf.io.gfile.exists(self.metrics_path):
            return []
        with tf.io.gfile.GFile(self.metrics_path) as handle:
            return [json.loads(line) for line in handle.read().splitlines() if line.strip()]

    def event_files(self):
        return sorted(tf.io.gfile.glob(os.path.join(self.summary_dir, f"{EVENTS}*")))

    def truncate_logs(self, resume_step):
        """Drops what was logged after ``resume_step`` from metrics.jsonl and the TensorBoard
        event files (``metrics.truncate_logs``)."""
        metrics.truncate_logs(self, resume_step)

    def metric_writer(self, enabled=True):
        """A MetricWriter appending to this workdir's metrics.jsonl and event files
        (``enabled=False``: one that writes nothing, for a non-chief worker)."""
        return metrics.MetricWriter(self, enabled)

    # --- export --------------------------------------------------------------------------

    def export_complete(self, endpoints):
        """Whether export/ holds a SavedModel for each of ``endpoints``."""
        return all(
            tf.io.gfile.exists(os.path.join(self.export_dir, name, "saved_model.pb")) for name in endpoints
        )

    def export(self, write, scratch=None):
        """Runs ``write(directory)`` into a temporary folder, then renames it to export/,
        so export/ is complete or absent. ``scratch``: a non-chief worker's folder, where
        the export is written and deleted. Returns the export folder."""
        if scratch is not None:
            directory = os.path.join(scratch, EXPORT)
            write(directory)
            tf.io.gfile.rmtree(directory)
            return directory
        temporary = self.file(f"{_EXPORT_TMP}{os.getpid()}")
        if tf.io.gfile.exists(temporary):
            tf.io.gfile.rmtree(temporary)
        write(temporary)
        if tf.io.gfile.exists(self.export_dir):
            tf.io.gfile.rmtree(self.export_dir)  # incomplete (a complete one is not redone)
        tf.io.gfile.rename(temporary, self.export_dir)
        return self.export_dir


def find_workdirs(paths):
    """Every trainer workdir (a folder holding config.json) at or below ``paths``,
    sorted, without duplicates; WorkdirError for a path that does not exist."""
    found = []
    for path in paths:
        path = os.fspath(path)
        if not os.path.exists(path):
            raise WorkdirError(f"{path} does not exist.")
        if os.path.isfile(os.path.join(path, CONFIG)):
            found.append(os.path.normpath(path))
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in (CHECKPOINTS, EXPORT) and not d.startswith("."))
            if CONFIG in files:
                found.append(os.path.normpath(root))
                dirs[:] = []
    return sorted(set(found))
