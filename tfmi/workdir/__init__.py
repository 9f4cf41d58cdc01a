r"""The run directory (workdir) of a trainer run: the one package that reads and writes it.

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

Modules: ``layout`` (file names, ``WorkdirError``), ``locking`` (the single writer),
``checkpoints`` (``CheckpointStore``, ``restore_model``, the index repair), ``metrics``
(``MetricWriter``, the truncation of the logs on resume) and ``directory`` (``Workdir``);
``tfmi.workdir.NAME`` reaches every public name.
"""

from tfmi.workdir.checkpoints import CheckpointStore, restore_model
from tfmi.workdir.directory import IDENTITY_FIELDS, Workdir, find_workdirs
from tfmi.workdir.layout import CHECKPOINTS, CONFIG, EVAL_CURVE, EXPORT, LOCK, METRICS, WorkdirError
from tfmi.workdir.metrics import MetricWriter

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
