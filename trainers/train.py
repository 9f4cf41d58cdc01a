r"""The one training entry point for every tfmi experiment.

    python -m trainers.train --config configs/NAME.py[:ARG] --workdir DIR \
        [--config.a.b=value ...]

The workdir receives the resolved config (config.json), TensorBoard event files,
metrics.jsonl (one line per logged step), checkpoints (resumed automatically when the
workdir already holds some) and, at the end, a SavedModel export of the model's
encoders (or its critic) under export/. ``config.strategy`` picks where it runs:
default, mirrored, multiworker or tpu (see tfmi.distribute).
"""

import contextlib
import dataclasses
import logging as std_logging
import errno
import json
import math
import os
import signal
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from tfmi import distribute  # noqa: E402
from tfmi.data import build_dataset  # noqa: E402
from tfmi.models import build_model, export_model  # noqa: E402
from tfmi.optim import make_optimizer  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file, e.g. configs/gaussian_staircase.py:nwj."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and export.")

# The sections that define what is being trained: a workdir whose checkpoints were
# written with other values belongs to another experiment.
IDENTITY_FIELDS = ("experiment", "model", "data", "batch_size", "seed")
REQUIRED_FIELDS = (
    "experiment", "seed", "strategy", "data", "model", "optimizer", "batch_size",
    "total_steps", "steps_per_loop", "log_every", "checkpoint_every", "keep_checkpoints",
)


class UserError(Exception):
    """A problem with the config, the workdir or the environment, told without traceback."""


def validate_config(config):
    """Checks the fields every trainer run needs; raises UserError naming the problem."""
    missing = [field for field in REQUIRED_FIELDS if field not in config]
    if missing:
        raise UserError(f"the config lacks the fields {missing}.")
    for field in ("batch_size", "total_steps", "steps_per_loop", "log_every", "checkpoint_every", "keep_checkpoints"):
        value = config[field]
        if not isinstance(value, int) or value < 1:
            raise UserError(f"config.{field} must be a positive integer, got {value!r}.")
    if config.strategy not in distribute.STRATEGIES:
        raise UserError(
            f"config.strategy is {config.strategy!r}; choose one of {list(distribute.STRATEGIES)}."
        )


def _identity(config_dict):
    return {field: config_dict.get(field) for field in IDENTITY_FIELDS}


def _diff(old, new, prefix=""):
    """Dotted paths where two nested dicts differ."""
    paths = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            paths += _diff(a, b, f"{prefix}{key}.")
        elif a != b:
            paths.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return paths


def prepare_workdir(config, workdir, chief):
    """Creates ``workdir``; refuses one whose checkpoints belong to another experiment;
    writes the resolved config. Returns the checkpoint directory."""
    checkpoint_dir = os.path.join(workdir, "checkpoints")
    config_path = os.path.join(workdir, "config.json")
    resolved = json.loads(config.to_json_best_effort())
    if tf.train.latest_checkpoint(checkpoint_dir) and tf.io.gfile.exists(config_path):
        with tf.io.gfile.GFile(config_path) as f:
            previous = json.load(f)
        differences = _diff(_identity(previous), _identity(resolved))
        if differences:
            raise UserError(
                f"{workdir} holds checkpoints of another experiment; the config differs in "
                + "; ".join(differences)
                + ". Choose a new --workdir, or move that one away to start over."
            )
    if chief:
        tf.io.gfile.makedirs(workdir)
        with tf.io.gfile.GFile(config_path, "w") as f:
            json.dump(resolved, f, indent=2, sort_keys=True)
    return checkpoint_dir


@dataclasses.dataclass
class _Interval:
    every: int

    def due(self, step):
        return step % self.every == 0

    def next_after(self, step):
        return (step // self.every + 1) * self.every


class MetricWriter:
    """TensorBoard scalars/histograms plus a metrics.jsonl file (chief only)."""

    def __init__(self, workdir, enabled):
        self.enabled = enabled
        if enabled:
            self.summary = tf.summary.create_file_writer(workdir)
            self.jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")

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


class CheckpointStore:
    """Saves and restores model + optimizer; only the chief keeps what it writes.

    Under multi-worker training every worker must take part in saving; the workers
    other than the chief write to a private directory that is deleted afterwards.
    """

    def __init__(self, checkpoint, directory, keep, chief, worker_id):
        self.directory = directory
        self.chief = chief
        write_dir = directory if chief else os.path.join(directory, f".worker_{worker_id}")
        self.manager = tf.train.CheckpointManager(checkpoint, write_dir, max_to_keep=keep)
        self.checkpoint = checkpoint

    def restore_latest(self):
        """Restores the newest checkpoint; returns its path, or None when there is none."""
        path = tf.train.latest_checkpoint(self.directory)
        if path is None:
            return None
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except (tf.errors.OpError, ValueError, AssertionError) as error:
            raise UserError(
                f"cannot restore checkpoint {path}: {type(error).__name__}: "
                f"{str(error).splitlines()[0] if str(error) else ''}. It is corrupt or was "
                "written by a different model. Move its files (ckpt-N.*) away to resume "
                "from the previous checkpoint, or use a new --workdir."
            ) from None
        return path

    def save(self, step):
        try:
            path = self.manager.save(checkpoint_number=step)
        except (OSError, tf.errors.ResourceExhaustedError, tf.errors.UnknownError) as error:
            full = getattr(error, "errno", None) == errno.ENOSPC or "space" in str(error).lower()
            reason = "the disk is full" if full else f"{type(error).__name__}: {error}"
            raise UserError(
                f"could not write the checkpoint of step {step} to {self.directory}: {reason}. "
                "The previous checkpoints are intact; free space (or fix the directory) and "
                "run the same command again to resume."
            ) from None
        if not self.chief:
            tf.io.gfile.rmtree(self.manager.directory)
        return path


class _StopRequest:
    """Turns SIGTERM / SIGINT into a checkpoint-and-exit at the next loop boundary."""

    def __init__(self):
        self.requested = False

    @contextlib.contextmanager
    def installed(self):
        previous = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. inside a test runner thread)
                pass
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _handle(self, signum, frame):
        logging.warning("Received signal %d: saving a checkpoint and stopping.", signum)
        self.requested = True


def _format_eta(seconds):
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _read_metrics(model):
    """Cross-replica means of the model's trackers since their last reset."""
    values = {}
    for tracker in model.metrics:
        if float(tracker.count) > 0:
            values[tracker.name] = float(tracker.result())
        tracker.reset_state()
    return values


def train(config, workdir):
    """Trains ``config`` in ``workdir`` (resuming if possible); returns the last metrics."""
    validate_config(config)
    strategy = distribute.make_strategy(config.strategy, config.get("tpu", ""))
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise UserError(
            f"config.batch_size={config.batch_size} is not divisible by the {replicas} "
            "replicas of this strategy; choose a multiple of the replica count."
        )
    chief = distribute.is_chief(strategy)
    checkpoint_dir = prepare_workdir(config, workdir, chief)
    keras.utils.set_random_seed(config.seed)

    def global_dataset(start_step):
        return build_dataset(config.data, config.batch_size, config.seed, start_step)

    first_batch = next(iter(global_dataset(0)))
    with strategy.scope():
        model = build_model(config.model)
        optimizer = make_optimizer(config.optimizer, config.total_steps)
        model.compile(optimizer=optimizer)
        model.build_from_batch(first_batch)
        optimizer.build(model.trainable_variables)
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    store = CheckpointStore(
        checkpoint, checkpoint_dir, config.keep_checkpoints, chief, distribute.task_id(strategy)
    )
    restored = store.restore_latest()
    step = int(optimizer.iterations.numpy())
    if restored:
        logging.info("Resumed from %s at step %d.", restored, step)
    else:
        logging.info("Starting %s from scratch in %s.", config.experiment, workdir)

    iterator = iter(distribute.distribute_global_batches(strategy, lambda: global_dataset(step)))

    @tf.function
    def train_loop(iterator, num_steps):
        for _ in tf.range(num_steps):
            strategy.run(model.train_step, args=(next(iterator),))

    writer = MetricWriter(workdir, chief)
    log_interval = _Interval(config.log_every)
    checkpoint_interval = _Interval(config.checkpoint_every)
    histogram_interval = _Interval(config.get("histogram_every", config.checkpoint_every))
    metrics, last_checkpoint, stop = {}, step, _StopRequest()
    start_step, start_time = step, time.time()
    window_step, window_time = step, time.time()
    with stop.installed():
        while step < config.total_steps:
            boundary = min(
                step + config.steps_per_loop,
                log_interval.next_after(step),
                checkpoint_interval.next_after(step),
                histogram_interval.next_after(step),
                config.total_steps,
            )
            train_loop(iterator, tf.constant(boundary - step))
            step = boundary
            if log_interval.due(step) or step == config.total_steps:
                metrics = _read_metrics(model)
                if not math.isfinite(metrics.get("loss", 0.0)):
                    raise UserError(
                        f"the loss became {metrics['loss']} in the steps up to {step}. "
                        f"The last good checkpoint (step {last_checkpoint}) is kept in "
                        f"{checkpoint_dir}; lower the learning rate or check the data."
                    )
                now = time.time()
                steps_per_sec = (step - window_step) / max(now - window_time, 1e-9)
                window_step, window_time = step, now
                learning_rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
                writer.scalars(
                    step,
                    {
                        **{f"train/{name}": value for name, value in metrics.items()},
                        "train/learning_rate": learning_rate,
                        "train/steps_per_sec": steps_per_sec,
                    },
                )
                rate = (step - start_step) / max(now - start_time, 1e-9)
                shown = " | ".join(f"{k} {v:.4g}" for k, v in metrics.items() if not k.startswith("bound_"))
                logging.info(
                    "step %d/%d (%d%%) | %s | %.1f steps/s | ETA %s",
                    step, config.total_steps, 100 * step // config.total_steps, shown,
                    steps_per_sec, _format_eta((config.total_steps - step) / max(rate, 1e-9)),
                )
            if histogram_interval.due(step):
                writer.histograms(step, model.trainable_variables)
            if checkpoint_interval.due(step) or step == config.total_steps or stop.requested:
                store.save(step)
                last_checkpoint = step
            if stop.requested:
                writer.close()
                raise UserError(f"stopped by a signal at step {step}; the checkpoint is saved.")
    writer.close()
    if step > last_checkpoint:
        store.save(step)
    if chief and config.get("export", True):
        paths = export_model(model, os.path.join(workdir, "export"))
        logging.info("Exported %s.", ", ".join(paths))
    return metrics


def main(argv):
    std_logging.getLogger("tensorflow").setLevel(std_logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    config = _CONFIG.value
    if config is None:
        raise app.UsageError("--config is required, e.g. --config configs/gaussian_staircase.py")
    if not _WORKDIR.value:
        raise app.UsageError("--workdir is required: where checkpoints, logs and the export go.")
    try:
        train(config, _WORKDIR.value)
    except (UserError, ValueError) as error:
        if os.environ.get("TFMI_DEBUG"):
            raise
        print(f"error: {error}", file=sys.stderr)
        if not isinstance(error, UserError):
            print("(set TFMI_DEBUG=1 to see the traceback)", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    app.run(main)
