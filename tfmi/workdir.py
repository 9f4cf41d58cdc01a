r"""The run directory (workdir) of a trainer run: the one module that reads and writes it.

    WORKDIR/
      config.json            the resolved config of the run
      metrics.jsonl          one JSON record per logged step, in step order
      events.out.tfevents.*  TensorBoard scalars and histograms
      checkpoints/           ckpt-N.index, ckpt-N.data-* (N = the step) and the
                             `checkpoint` index of tf.train.CheckpointManager
      export/<endpoint>/     one SavedModel per endpoint, written whole or not at all
      eval_curve.json        evaluation over training (tfmi.evaluation.checkpoints)
      linear_eval*.json      linear evaluation of the export (tools/linear_eval.py)
      lock                   pid and host of the run that writes here
      .worker_<id>/          scratch of a non-chief worker, deleted right after use

Guarantees: one writer at a time (``Workdir.lock``, an ``fcntl.flock`` that the kernel
releases when its process dies, so a killed run's lock is taken over); a workdir belongs
to one experiment (``Workdir.claim``); config.json, metrics.jsonl and the export are
replaced whole (write to a temporary name, then rename); a resumed run's logs hold one
history (``Workdir.truncate_logs``); leftovers of a killed run are removed on start.

Every problem with a workdir raises ``WorkdirError`` (a ValueError) whose message names
the problem and the fix.
"""

import contextlib
import errno
import fcntl
import json
import os
import re
import socket
import time

import tensorflow as tf
from absl import logging

from tfmi.errors import InputError
from tfmi.jsonio import read_metrics

__all__ = [
    "CONFIG",
    "METRICS",
    "CHECKPOINTS",
    "EXPORT",
    "EVAL_CURVE",
    "LOCK",
    "IDENTITY_FIELDS",
    "CheckpointStore",
    "MetricWriter",
    "Workdir",
    "WorkdirError",
    "find_workdirs",
    "restore_model",
]

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINTS = "checkpoints"
CHECKPOINT_INDEX = "checkpoint"  # tf.train.CheckpointManager's index file
EXPORT = "export"
EVAL_CURVE = "eval_curve.json"
LOCK = "lock"
EVENTS = "events.out.tfevents."

# The config sections that define what is being trained: a workdir whose config.json
# has other values belongs to another experiment.
IDENTITY_FIELDS = ("experiment", "model", "data", "batch_size", "seed")
# Data fields that say where the data is or whether to fetch it, not what it is: a run may
# resume with another value (an older config.json may lack them).
DATA_LOCATION_FIELDS = ("download", "data_dir", "manual_dir")

_CHECKPOINT_FILE = re.compile(r"^ckpt-(\d+)\.index$")
# Left by a run killed while it wrote: the sharded save's ckpt-N_temp/ folder, the
# manager's checkpoint.tmp<hex> index and our own *.tmp files and export folders.
_LEFTOVER = re.compile(r"^(ckpt-\d+_temp|checkpoint\.tmp\w*)$")
_EXPORT_TMP = ".export.tmp"


class WorkdirError(InputError):
    """A workdir that cannot be used as asked; the message names the problem and the fix."""


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


def _is_local(path):
    return "://" not in path


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
        if not _is_local(self.path):
            return
        path = os.path.abspath(self.path)
        if os.path.exists(path) and not os.path.isdir(path):
            raise WorkdirError(f"the workdir {self.path} is a file, not a directory; choose another --workdir.")
        parent = os.path.dirname(path)
        while parent and not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if parent and not os.path.isdir(parent):
            raise WorkdirError(
                f"the workdir {self.path} lies below {parent}, which is a file; choose another --workdir."
            )

    @contextlib.contextmanager
    def lock(self):
        """Holds the workdir's single-writer lock while the block runs.

        The lock is an ``fcntl.flock`` on WORKDIR/lock, which holds the pid and host of
        its holder. A second process is refused at once (WorkdirError naming the holder);
        a lock whose holder died is released by the kernel and taken over. Creates the
        workdir, and removes it again when the block leaves it empty (a refused run).
        Non-local paths (gs://...) are not locked.
        """
        if not _is_local(self.path):
            yield
            return
        self.check_usable()
        created = not os.path.exists(self.path)
        try:
            os.makedirs(self.path, exist_ok=True)
            descriptor = self._acquire()
        except OSError as error:
            raise self._os_error("cannot write to", error) from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.unlink(self.lock_path)  # before the unlock: a waiting opener then retries
            os.close(descriptor)
            if created:
                with contextlib.suppress(OSError):
                    os.rmdir(self.path)  # only when empty

    def _acquire(self):
        while True:
            descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(descriptor, 200).decode(errors="replace").strip() or "a process that is starting"
                os.close(descriptor)
                raise WorkdirError(
                    f"the workdir {self.path} is in use by another run ({holder}; lock file "
                    f"{self.lock_path}). Wait for that run to end or stop it, or choose another "
                    "--workdir."
                ) from None
            try:
                same = os.stat(self.lock_path).st_ino == os.fstat(descriptor).st_ino
            except FileNotFoundError:
                same = False  # its holder removed it between our open and our lock
            if same:
                break
            os.close(descriptor)
        previous = os.read(descriptor, 200).decode(errors="replace").strip()
        if previous:
            logging.info("Took over the lock of %s left by a run that ended (%s).", self.path, previous)
        os.ftruncate(descriptor, 0)
        os.lseek(descriptor, 0, os.SEEK_SET)
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        os.write(descriptor, f"pid {os.getpid()} on host {socket.gethostname()}, since {started}\n".encode())
        return descriptor

    def _os_error(self, doing, error):
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            reason = "it is read-only" if error.errno == errno.EROFS else "permission denied"
            return WorkdirError(
                f"{doing} the workdir {self.path}: {reason} ({error.filename or self.path}). Make it "
                "writable, or choose another --workdir (a read-only run can be read by the "
                "evaluation tools)."
            )
        if error.errno == errno.ENOSPC:
            return WorkdirError(f"{doing} the workdir {self.path}: the disk is full. Free space and run again.")
        return WorkdirError(f"{doing} the workdir {self.path}: {error.strerror or error} ({error.filename or self.path}).")

    def check_writable(self):
        """Raises WorkdirError when the workdir or its checkpoint folder cannot be written."""
        if not _is_local(self.path):
            return
        for path in (self.path, self.checkpoint_dir):
            if os.path.isdir(path) and not os.access(path, os.W_OK):
                raise self._os_error("cannot write to", PermissionError(errno.EACCES, "permission denied", path))

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
        leftovers += [path for path in (f"{self.config_path}.tmp", f"{self.metrics_path}.tmp") if tf.io.gfile.exists(path)]
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
        """The complete checkpoints (index and data files): a sorted list of (step, prefix).

        Found from the files rather than the manager's index, so a checkpoint moved away
        is not listed and one left out of the index (a garbled one) is.
        """
        if not tf.io.gfile.isdir(self.checkpoint_dir):
            return []
        names = set(name.rstrip("/") for name in tf.io.gfile.listdir(self.checkpoint_dir))
        found = []
        for name in names:
            match = _CHECKPOINT_FILE.match(name)
            if match and any(other.startswith(f"ckpt-{match.group(1)}.data-") for other in names):
                found.append((int(match.group(1)), os.path.join(self.checkpoint_dir, f"ckpt-{match.group(1)}")))
        return sorted(found)

    def newest_checkpoint(self):
        """The path prefix of the newest complete checkpoint, or None."""
        steps = self.checkpoint_steps()
        return steps[-1][1] if steps else None

    def repair_checkpoint_index(self):
        """Rewrites the manager's index when it does not list the checkpoints on disk
        (garbled by a kill, or naming checkpoints moved away), so that retention
        (``keep_checkpoints``) goes on counting them all. Returns whether it rewrote it."""
        steps = self.checkpoint_steps()
        if not steps:
            return False
        state = tf.train.get_checkpoint_state(self.checkpoint_dir)
        wanted = [os.path.basename(prefix) for _, prefix in steps]
        if state is not None:
            listed = [os.path.basename(path) for path in state.all_model_checkpoint_paths]
            if listed == wanted and os.path.basename(state.model_checkpoint_path) == wanted[-1]:
                return False
        # The manager deletes only checkpoints written after last_preserved_timestamp.
        written = [tf.io.gfile.stat(f"{prefix}.index").mtime_nsec / 1e9 for _, prefix in steps]
        tf.compat.v1.train.update_checkpoint_state(
            self.checkpoint_dir, wanted[-1], all_model_checkpoint_paths=wanted,
            all_model_checkpoint_timestamps=written, last_preserved_timestamp=min(written) - 1,
        )
        return True

    def checkpoint_store(self, checkpoint, keep, scratch=None):
        """A CheckpointStore of ``checkpoint`` in this workdir (``scratch``: a non-chief
        worker's folder, whose saves are deleted at once)."""
        return CheckpointStore(checkpoint, self, keep, scratch)

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
        """Drops what was logged after ``resume_step`` (by a run killed before its next
        checkpoint) from metrics.jsonl and the TensorBoard event files, so a resumed run
        adds no second point at any step. ``resume_step=None``: a run that starts from
        scratch, every record goes."""
        keep = (lambda step: False) if resume_step is None else (lambda step: step <= resume_step)
        if tf.io.gfile.exists(self.metrics_path):
            records = [record for record in self.read_metrics() if keep(record["step"])]
            with tf.io.gfile.GFile(f"{self.metrics_path}.tmp", "w") as handle:
                handle.write("".join(json.dumps(record) + "\n" for record in records))
            tf.io.gfile.rename(f"{self.metrics_path}.tmp", self.metrics_path, overwrite=True)
        for path in self.event_files():
            events, torn = _read_events(path)
            kept = [raw for step, is_summary, raw in events if not is_summary or keep(step)]
            if len(kept) == len(events) and not torn:
                continue
            if not any(is_summary and keep(step) for step, is_summary, _ in events):
                tf.io.gfile.remove(path)
                continue
            with tf.io.TFRecordWriter(f"{path}.tmp") as writer:
                for raw in kept:
                    writer.write(raw)
            tf.io.gfile.rename(f"{path}.tmp", path, overwrite=True)

    def metric_writer(self, enabled=True):
        """A MetricWriter appending to this workdir's metrics.jsonl and event files
        (``enabled=False``: one that writes nothing, for a non-chief worker)."""
        return MetricWriter(self, enabled)

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


def _read_events(path):
    """([(step, is_summary, raw record)] of a TensorBoard event file, whether its last
    record was torn by a kill)."""
    from tensorflow.core.util import event_pb2

    events = []
    try:
        for raw in tf.data.TFRecordDataset(path):
            raw = raw.numpy()
            event = event_pb2.Event.FromString(raw)
            events.append((event.step, event.HasField("summary"), raw))
    except tf.errors.DataLossError:
        return events, True
    return events, False


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


def _first_line(error):
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


class MetricWriter:
    """TensorBoard scalars and histograms plus the metrics.jsonl record of each step
    (chief only: ``enabled=False`` writes nothing)."""

    def __init__(self, workdir, enabled=True):
        self.enabled = enabled
        if enabled:
            self.summary = tf.summary.create_file_writer(workdir.summary_dir)
            self.jsonl = tf.io.gfile.GFile(workdir.metrics_path, "a")

    def scalars(self, step, values):
        if not self.enabled:
            return
        with self.summary.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, value)
        self.jsonl.write(json.dumps({"step": step, **values}) + "\n")
        self.jsonl.flush()

    def histograms(self, step, variables):
        if not self.enabled:
            return
        with self.summary.as_default(step=step):
            for variable in variables:
                tf.summary.histogram(variable.path, variable)

    def close(self):
        if self.enabled:
            self.summary.flush()
            self.jsonl.close()


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
