"""A workdir's logs: metrics.jsonl and the TensorBoard event files, written by
``MetricWriter`` and cut back to one history when a run resumes (``truncate_logs``)."""

import json

import tensorflow as tf


def truncate_logs(workdir, resume_step):
    """Drops what was logged after ``resume_step`` (by a run killed before its next
    checkpoint) from metrics.jsonl and the TensorBoard event files, so a resumed run
    adds no second point at any step. ``resume_step=None``: a run that starts from
    scratch, every record goes."""
    keep = (lambda step: False) if resume_step is None else (lambda step: step <= resume_step)
    if tf.io.gfile.exists(workdir.metrics_path):
        records = [record for record in workdir.read_metrics() if keep(record["step"])]
        with tf.io.gfile.GFile(f"{workdir.metrics_path}.tmp", "w") as handle:
            handle.write("".join(json.dumps(record) + "\n" for record in records))
        tf.io.gfile.rename(f"{workdir.metrics_path}.tmp", workdir.metrics_path, overwrite=True)
    for path in workdir.event_files():
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
