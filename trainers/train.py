r"""The one training entry point for every tfmi experiment.

    python -m trainers.train --config configs/NAME.py[:ARG] --workdir DIR \
        [--config.a.b=value ...]

The workdir receives the resolved config (config.json), TensorBoard event files,
metrics.jsonl (one line per logged step), checkpoints (resumed automatically when the
workdir already holds some) and, at the end, a SavedModel export of the model's
encoders (or its critic) under export/. ``config.strategy`` picks where it runs:
default, mirrored, multiworker or tpu (see tfmi.distribute).

The workdir's files are read and written through tfmi.workdir. One run at a time
writes a workdir (a second one exits 2 at once, naming the holder). Running the same
command again resumes from the newest checkpoint (a finished run exports again if its
export is missing, else just exits); a workdir holding another experiment's run is
refused. Exit status: 0 done; 2 bad input (config, workdir, checkpoint, a full disk),
told in one "error: ..." line on stderr; 3 the loss became NaN or infinite (the last
good checkpoint is kept); 130 / 143 stopped by SIGINT / SIGTERM after saving a
checkpoint (the message gives the command that resumes).

Several replicas without a GPU: ``config.cpu_devices = N`` (N > 1) splits the CPU
into N logical devices before TensorFlow initialises them, and ``strategy=mirrored``
then runs one replica on each, e.g. (for a config that defines the field)

    python -m trainers.train --config configs/NAME.py:runlocal --workdir DIR \
        --config.strategy=mirrored --config.cpu_devices=2

Large runs: ``config.mixed_precision`` ("" = float32, "mixed_float16" with dynamic loss
scaling, "mixed_bfloat16") and ``config.jit_compile`` (XLA on each replica's step; with
several replicas it needs GPUs or a TPU) are optional fields of any config.

Under ``multiworker`` start the same command once per worker with TF_CONFIG set
(same --workdir on a shared filesystem); only the chief writes the config, the
summaries, metrics.jsonl, the checkpoints and the export that stay; the other
workers write theirs into WORKDIR/.worker_<id>, deleted right after. Each worker first
waits until every other one has greeted it (``tfmi.worker_startup``), at most
``config.start_timeout`` seconds (default 300), then exits 2 naming the addresses that
did not and why; SIGTERM / SIGINT end that wait at once (143 / 130).
"""

import contextlib
import dataclasses
import logging as std_logging
import errno
import json
import math
import os
import re
import shlex
import signal
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfmi.console import fail, run_reporting_errors

try:  # Ctrl-C while TensorFlow loads (seconds): one line, not a traceback
    import keras
    import tensorflow as tf
    from absl import app, flags, logging
    from ml_collections import config_flags

    from tfmi import distribute
    from tfmi.errors import InputError
    from tfmi.models import export_model
    from tfmi.models.run import build_run
    from tfmi.workdir import Workdir
except KeyboardInterrupt:
    fail("stopped by SIGINT while starting; nothing was written.", 130)

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file, e.g. configs/gaussian_staircase.py:nwj."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and export.")

REQUIRED_FIELDS = (
    "experiment", "seed", "strategy", "data", "model", "optimizer", "batch_size",
    "total_steps", "steps_per_loop", "log_every", "checkpoint_every", "keep_checkpoints",
)

# config.mixed_precision: "" (float32), or a Keras dtype policy; float16 gets dynamic loss
# scaling (keras.optimizers.LossScaleOptimizer), losses stay float32 in the models.
MIXED_PRECISION = ("", "mixed_float16", "mixed_bfloat16")


class UserError(InputError):
    """A problem with the config, the workdir or the environment, told without traceback."""

    exit_status = 2


class Diverged(UserError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""

    exit_status = 3


class Stopped(Exception):
    """SIGTERM or SIGINT stopped the run after it saved the checkpoint of ``step``."""

    def __init__(self, signum, step, checkpoint_dir):
        self.signum, self.step = signum, step
        self.exit_status = 128 + signum  # as shells report a death by that signal
        super().__init__(
            f"stopped by {signal.Signals(signum).name} at step {step}; the checkpoint of step "
            f"{step} is saved in {checkpoint_dir}."
        )


def validate_config(config):
    """Checks the fields every trainer run needs; raises UserError naming the problem."""
    missing = [field for field in REQUIRED_FIELDS if field not in config]
    if missing:
        raise UserError(f"the config lacks the fields {missing}.")
    for field in ("batch_size", "total_steps", "steps_per_loop", "log_every", "checkpoint_every", "keep_checkpoints"):
        value = config[field]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UserError(f"config.{field} must be a positive integer, got {value!r}.")
    cpu_devices = config.get("cpu_devices", 0)
    if not isinstance(cpu_devices, int) or isinstance(cpu_devices, bool) or cpu_devices < 0:
        raise UserError(f"config.cpu_devices must be an integer >= 0, got {cpu_devices!r}.")
    if config.strategy not in distribute.STRATEGIES:
        raise UserError(
            f"config.strategy is {config.strategy!r}; choose one of {list(distribute.STRATEGIES)}."
        )
    if config.get("mixed_precision", "") not in MIXED_PRECISION:
        raise UserError(
            f"config.mixed_precision is {config.get('mixed_precision')!r}; choose one of "
            f"{list(MIXED_PRECISION)} (\"\" = float32)."
        )
    if not isinstance(config.get("jit_compile", False), bool):
        raise UserError(f"config.jit_compile must be true or false, got {config.get('jit_compile')!r}.")


@dataclasses.dataclass
class _Interval:
    every: int

    def due(self, step):
        return step % self.every == 0

    def next_after(self, step):
        return (step // self.every + 1) * self.every


class _StopRequest:
    """Turns SIGTERM / SIGINT into a checkpoint-and-exit at the next loop boundary."""

    def __init__(self):
        self.signum = None

    @property
    def requested(self):
        return self.signum is not None

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
        logging.warning("Received %s: saving a checkpoint and stopping.", signal.Signals(signum).name)
        self.signum = signum


def _format_eta(seconds):
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _value(variable):
    """A Python float of a (possibly distributed, sync-on-read) variable or tensor.

    float(variable) fails on a sync-on-read variable; converting to a tensor in
    cross-replica context sums it over the replicas first.
    """
    return float(tf.convert_to_tensor(variable))


def _read_metrics(model):
    """Cross-replica means of the model's trackers since their last reset."""
    values = {}
    for tracker in model.metrics:
        if _value(tracker.count) > 0:
            values[tracker.name] = float(tracker.result())
        tracker.reset_state()
    return values


def _check_finite(loss, step, last_checkpoint):
    """Raises Diverged for a non-finite loss; ``last_checkpoint``: (step, path) or None."""
    if math.isfinite(loss):
        return
    if last_checkpoint is None:
        kept = (
            "No checkpoint was saved before it; lower the learning rate or check the data, "
            "then rerun (it starts from scratch)."
        )
    else:
        saved_step, path = last_checkpoint
        kept = (
            f"The last good checkpoint (step {saved_step}) is kept in {os.path.dirname(path)} "
            f"({os.path.basename(path)}.*); lower the learning rate or check the data, then "
            "rerun (it resumes from there)."
        )
    raise Diverged(f"the loss became {loss} in the steps up to step {step}; stopping. {kept}")


def _current_loss(model):
    """The running mean of the loss since the last log (NaN/inf once any step's was)."""
    tracker = model.trackers["loss"]
    if _value(tracker.count) == 0:
        return 0.0
    return float(tracker.result())


def _export(model, run, scratch):
    """Exports on every worker (saving may need all of them); only the chief's stays."""
    directory = run.export(lambda directory: export_model(model, directory), scratch)
    if scratch is None:
        logging.info("Exported %s.", ", ".join(os.path.join(directory, name) for name in model.export_endpoints()))


def train(config, workdir):
    """Trains ``config`` in ``workdir`` (resuming if possible); returns the last metrics."""
    validate_config(config)
    try:
        distribute.configure_cpu_devices(config.get("cpu_devices", 0))
    except RuntimeError as error:
        raise UserError(f"config.cpu_devices={config.get('cpu_devices')}: {error}") from None
    try:
        strategy = distribute.make_strategy(
            config.strategy, config.get("tpu", ""), config.get("start_timeout", distribute.START_TIMEOUT)
        )
    except ValueError as error:  # TF_CONFIG, workers that never started, start_timeout
        raise UserError(f"{error}") from None
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise UserError(
            f"config.batch_size={config.batch_size} is not divisible by the {replicas} "
            "replicas of this strategy; choose a multiple of the replica count."
        )
    if config.get("jit_compile", False) and replicas > 1 and not tf.config.list_logical_devices("GPU") \
            and config.strategy != "tpu":
        # XLA cannot compile the optimizer's cross-replica merge on logical CPU devices
        # ("Trying to access resource .../replica_1 ... from device CPU:0").
        raise UserError(
            "config.jit_compile=True with several replicas needs GPUs or a TPU; on split "
            "CPU devices set --config.jit_compile=false (XLA on one CPU device works)."
        )
    chief = distribute.is_chief(strategy)
    run = Workdir(workdir)
    # One writer per workdir; under multiworker the chief holds the lock for all workers.
    with run.lock() if chief else contextlib.nullcontext():
        return _train(config, run, strategy, chief)


def _train(config, run, strategy, chief):
    """The body of ``train``, run while the chief holds the workdir's lock."""
    scratch = None if chief else run.scratch(distribute.task_id(strategy))
    if scratch and tf.io.gfile.exists(scratch):
        tf.io.gfile.rmtree(scratch)  # left over by a killed run
    # Build everything the config names before touching the workdir, so a bad config
    # fails without leaving a config.json behind.
    built = build_run(config, strategy)
    model, optimizer = built.model, built.optimizer
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    resolved = json.loads(config.to_json_best_effort())
    run.claim(resolved)
    if chief:
        _tidy_workdir(run)
    store = run.checkpoint_store(checkpoint, config.keep_checkpoints, scratch)
    restored, step = _resume(config, run, optimizer, store, resolved, chief)

    export = config.get("export", True)
    if restored and step >= config.total_steps:
        return _already_trained(config, run, model, step, export, scratch)

    start = step
    iterator = iter(distribute.distribute_global_batches(strategy, lambda: built.dataset(start)))
    if chief:
        # What a killed run logged after its last checkpoint is dropped: one history.
        run.truncate_logs(step if restored else None)
    metrics = _train_steps(config, run, model, optimizer, store, _train_loop(config, model, strategy), iterator,
                           step, restored, chief)
    if export:
        _export(model, run, scratch)
    if scratch and tf.io.gfile.exists(scratch):
        tf.io.gfile.rmtree(scratch)
    return metrics


def _tidy_workdir(run):
    """The chief's repairs before a run: what a killed run left half-written goes."""
    run.check_writable()
    for path in run.remove_leftovers():
        logging.info("Removed %s, left by a run that was killed while writing it.", path)
    if run.repair_checkpoint_index():
        logging.info("Rewrote the checkpoint index of %s from the checkpoints it holds.", run.checkpoint_dir)


def _resume(config, run, optimizer, store, resolved, chief):
    """Restores the latest checkpoint, if any, then writes the config (chief); returns
    (the restored checkpoint's path or None, the step to start from)."""
    # A constant learning rate is an optimizer variable, so the checkpoint would bring
    # back the old value: the config's value wins (it may be changed on resume).
    constant_lr = isinstance(optimizer.learning_rate, keras.Variable)
    configured_lr = _value(optimizer.learning_rate) if constant_lr else None
    restored = store.restore_latest()
    step = int(optimizer.iterations.numpy())
    if chief:  # only now: a refused or failed resume leaves the workdir untouched
        run.write_config(resolved)
    if restored:
        logging.info("Resumed from %s at step %d.", restored, step)
        if constant_lr and _value(optimizer.learning_rate) != configured_lr:
            logging.info(
                "Learning rate %g from the config replaces %g from the checkpoint.",
                configured_lr, _value(optimizer.learning_rate),
            )
            optimizer.learning_rate = configured_lr
    else:
        logging.info("Starting %s from scratch in %s.", config.experiment, run.path)
    return restored, step


def _already_trained(config, run, model, step, export, scratch):
    """A run that reached total_steps: completes a missing export; returns its last
    logged training metrics."""
    logging.info(
        "The run in %s has already reached step %d (total_steps=%d); nothing to train.",
        run.path, step, config.total_steps,
    )
    if export and not run.export_complete(model.export_endpoints()):
        logging.info("Its export is missing or incomplete: exporting again.")
        _export(model, run, scratch)
    logged = run.read_metrics()
    last = logged[-1] if logged else {}
    return {k[len("train/") :]: v for k, v in last.items() if k.startswith("train/")}


def _train_loop(config, model, strategy):
    """A tf.function (iterator, num_steps) that runs ``num_steps`` training steps."""
    # config.jit_compile: XLA-compile each replica's step (as Keras's jit_compile does).
    step_fn = tf.function(model.train_step, jit_compile=True) if config.get("jit_compile", False) else model.train_step

    @tf.function
    def train_loop(iterator, num_steps):
        for _ in tf.range(num_steps):
            strategy.run(step_fn, args=(next(iterator),))

    return train_loop


def _train_steps(config, run, model, optimizer, store, train_loop, iterator, step, restored, chief):
    """Trains from ``step`` to config.total_steps, logging, checkpointing and stopping
    on a signal at the loop boundaries; returns the last logged metrics."""
    writer = run.metric_writer(enabled=chief)
    # Scalars a model computes outside its training step (e.g. Jacobian conditioning),
    # due when it says so; a fresh run logs their values at initialisation too.
    if step == 0:
        initial = model.periodic_metrics(0)
        if initial:
            writer.scalars(0, initial)
    log_interval = _Interval(config.log_every)
    checkpoint_interval = _Interval(config.checkpoint_every)
    histogram_interval = _Interval(config.get("histogram_every", config.checkpoint_every))
    metrics, stop = {}, _StopRequest()
    last_checkpoint = (step, restored) if restored else None
    start_step, start_time = step, time.time()
    window_step, window_time = step, time.time()
    try:
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
                # Checked at every boundary, so a non-finite state is never checkpointed.
                _check_finite(_current_loss(model), step, last_checkpoint)
                if log_interval.due(step) or step == config.total_steps:
                    metrics = _read_metrics(model)
                    now = time.time()
                    steps_per_sec = (step - window_step) / max(now - window_time, 1e-9)
                    window_step, window_time = step, now
                    rate = (step - start_step) / max(now - start_time, 1e-9)
                    _log_metrics(config, writer, model, optimizer, step, metrics, steps_per_sec, rate)
                if histogram_interval.due(step):
                    writer.histograms(step, model.trainable_variables)
                if checkpoint_interval.due(step) or step == config.total_steps or stop.requested:
                    last_checkpoint = (step, store.save(step))
                if stop.requested:
                    # not input: a signal stopped the run after its checkpoint
                    raise Stopped(stop.signum, step, run.checkpoint_dir)
    finally:
        writer.close()
    return metrics


def _log_metrics(config, writer, model, optimizer, step, metrics, steps_per_sec, rate):
    """Writes the scalars of ``step`` and logs a progress line with the ETA (``rate``:
    steps/s since the start)."""
    learning_rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    writer.scalars(
        step,
        {
            **{f"train/{name}": value for name, value in metrics.items()},
            "train/learning_rate": learning_rate,
            "train/steps_per_sec": steps_per_sec,
            **model.periodic_metrics(step),
        },
    )
    shown = " | ".join(f"{k} {v:.4g}" for k, v in metrics.items() if not k.startswith("bound_"))
    logging.info(
        "step %d/%d (%d%%) | %s | %.1f steps/s | ETA %s",
        step, config.total_steps, 100 * step // config.total_steps, shown,
        steps_per_sec, _format_eta((config.total_steps - step) / max(rate, 1e-9)),
    )


def _config_file_error(error):
    """One line for a config file that cannot be loaded (ml_collections' "Failed loading
    config file" report), does not parse (SyntaxError: file, line, code) or fails as
    its top-level code runs (the file and line)."""
    if isinstance(error, SyntaxError):
        code = f" in `{error.text.strip()}`" if error.text and error.text.strip() else ""
        return (
            f"error: the config file {error.filename} has a syntax error at line {error.lineno}: "
            f"{error.msg}{code}. Fix that line (Python syntax) and run the same command again."
        )
    if not isinstance(error, OSError):  # raised by the config file's own code as it ran
        where = error.__traceback__
        while where.tb_next is not None:
            where = where.tb_next
        return (
            f"error: the config file {where.tb_frame.f_code.co_filename} raised "
            f"{type(error).__name__} at line {where.tb_lineno}: {error}. Fix the config file and "
            "run the same command again."
        )
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return (
        f"error: cannot load the config file ({lines[-1] if lines else error}). Pass "
        "--config configs/NAME.py[:ARG] naming an existing config file."
    )


def _expand_home(argv):
    """``~`` expanded in the values of --workdir and --config (bash leaves it alone after
    "=", so --workdir=~/runs/x would otherwise create a directory named "~")."""
    expanded = []
    for arg in argv:
        name, equals, value = arg.partition("=")
        if equals and name.lstrip("-") in ("workdir", "config") and value.startswith("~"):
            arg = f"{name}={os.path.expanduser(value)}"
        expanded.append(arg)
    return expanded


def _parse_flags(argv):
    """absl flag parsing, with the config's own mistakes told in one line, not a traceback."""
    argv = _expand_home(argv)
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        message = str(error)
        if "Traceback (most recent call last)" in message:
            # ml_collections embeds the traceback of an error inside get_config(ARG).
            head = message.split("Error whilst parsing config file", 1)[0].rstrip()
            message = f"{head} {message.rstrip().splitlines()[-1]}"
        fail(f"error: {message} (python -m trainers.train --helpshort lists the flags)")
    except (AttributeError, KeyError) as error:
        # ml_collections raises these for an override of a field the config lacks.
        text = str(error)
        names = re.findall(r"'([^'\\]+)", text)
        field = names[0] if names else text
        suggestion = re.search(r'Did you mean "([^"]+)"', text)
        overrides = [
            arg.split("=", 1)[0].lstrip("-") for arg in argv[1:] if re.match(r"--?config\.", arg)
        ]
        culprit = next(
            (o for o in overrides if field in o.split(".")[1:]), ", ".join(overrides) or "--config"
        )
        fail(
            f"error: --{culprit}: the config has no field {field!r}"
            + (f" (did you mean {suggestion.group(1)!r}?)" if suggestion else "")
            + ". Overrides can only set fields that the config file defines."
        )
    except Exception as error:  # noqa: BLE001  (the config file failed to load, parse or run)
        fail(_config_file_error(error))


def _error_message(error):
    """What follows "error: " for a ValueError or OSError of a run: a full disk says how
    to resume; a ValueError that is not an InputError adds the TFMI_DEBUG hint."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return (f"the disk is full ({error}). Free space and run the same command again to resume from the last "
                "checkpoint.")
    hint = "" if isinstance(error, InputError) else "\n(set TFMI_DEBUG=1 to see the traceback)"
    return f"{error}{hint}"


def main(argv):
    std_logging.getLogger("tensorflow").setLevel(std_logging.WARNING)
    if len(argv) > 1:
        fail(f"error: unexpected arguments {argv[1:]}; flags are --config, --workdir and --config.FIELD=VALUE.")
    config = _CONFIG.value
    if config is None:
        fail("error: --config is required, e.g. --config configs/gaussian_staircase.py")
    try:
        config.keys()  # a config file that failed to load raises here
    except OSError as error:
        fail(_config_file_error(error))
    if not _WORKDIR.value:
        fail("error: --workdir is required: where checkpoints, logs and the export go, e.g. --workdir runs/NAME")
    try:
        # Ctrl-C before the training loop handles signals, or after it
        run_reporting_errors(train, config, os.path.expanduser(_WORKDIR.value), describe=_error_message,
                             stopped="stopped by SIGINT outside the training loop. Run the same command again: "
                                     "it resumes from the last checkpoint.")
    except distribute.StartupInterrupted as interrupted:  # a signal before the first step
        fail(str(interrupted), interrupted.exit_status)
    except Stopped as stopped:
        resume = shlex.join(["python", "-m", "trainers.train", *sys.argv[1:]])
        fail(f"{stopped} Resume with:\n  {resume}", stopped.exit_status)


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_flags)
