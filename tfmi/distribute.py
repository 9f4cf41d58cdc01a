"""tf.distribute strategies by name, and the cross-replica gather for contrastive losses.

One config field picks where a run executes:

    "default"      one device (CPU or the first GPU)
    "mirrored"     every local GPU (or several logical CPUs), MirroredStrategy
    "multiworker"  several hosts, MultiWorkerMirroredStrategy (TF_CONFIG names them)
    "tpu"          a TPU, TPUStrategy (``tpu`` is the TPU name or address)

Without a GPU, ``configure_cpu_devices(n)`` splits the CPU into n logical devices
(before TensorFlow initialises its devices) so "mirrored" runs n replicas on one
host: the way to test multi-replica code on a laptop or in CI.
"""

import json
import os

import tensorflow as tf

__all__ = [
    "STRATEGIES",
    "make_strategy",
    "configure_cpu_devices",
    "distribute_global_batches",
    "gather_from_replicas",
    "num_replicas",
    "is_chief",
    "task_id",
]

STRATEGIES = ("default", "mirrored", "multiworker", "tpu")


def make_strategy(name="default", tpu=""):
    """Returns the ``tf.distribute.Strategy`` called ``name`` (one of ``STRATEGIES``)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # MirroredStrategy() takes every GPU, or only CPU:0 when there is none; name the
        # logical CPUs explicitly so a split CPU (configure_cpu_devices) gives replicas.
        if not tf.config.list_logical_devices("GPU"):
            cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
            if len(cpus) > 1:
                return tf.distribute.MirroredStrategy(cpus)
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "strategy 'multiworker' needs the TF_CONFIG environment variable that lists "
                "the workers and this process's task, e.g. "
                '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
                '"task": {"type": "worker", "index": 0}}.'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown strategy {name!r}; choose one of {list(STRATEGIES)}.")


def configure_cpu_devices(count):
    """Splits the first physical CPU into ``count`` logical devices (count <= 1: no-op).

    Must run before TensorFlow initialises its devices (before the first op or device
    query); asking again for the split already in place is fine. Raises RuntimeError
    when the devices were initialised with another configuration.
    """
    if count is None or count <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError:
        current = tf.config.get_logical_device_configuration(cpu) or []
        if len(current) != count:
            raise RuntimeError(
                f"cannot split the CPU into {count} logical devices: TensorFlow has already "
                f"initialised its devices ({max(len(current), 1)} logical CPU(s)). Split it "
                "at the start of a fresh process, before any TensorFlow op runs."
            ) from None


def num_replicas():
    """Number of replicas that train in sync under the current strategy (1 without one)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def gather_from_replicas(tensor):
    """Concatenates ``tensor`` [b, ...] from every replica along axis 0: [b * R, ...].

    Called in replica context (inside ``strategy.run``); the result is identical on all
    replicas and ordered by replica id, so the global batch is the one a single device
    would see. Gradients flow back to each replica's own slice. Without a strategy, or
    with one replica, it returns ``tensor`` unchanged.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return tensor
    # all_gather sends to the input's device; a tensor straight from the input pipeline
    # (no encoder) carries none under MultiWorkerMirroredStrategy ("destinations can not
    # be empty"). tf.identity places a copy on this replica's device.
    return context.all_gather(tf.identity(tensor), axis=0)


def _tf_config():
    return json.loads(os.environ.get("TF_CONFIG", "{}"))


def task_id(strategy):
    """This worker's index within a multi-worker cluster (0 elsewhere)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is not None and resolver.task_id is not None:
        return resolver.task_id
    return _tf_config().get("task", {}).get("index", 0)


def is_chief(strategy):
    """True on the one worker that writes summaries, the config and the export."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type = resolver.task_type
    if task_type in (None, "chief"):
        return True
    cluster = resolver.cluster_spec().as_dict()
    return task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster


def distribute_global_batches(strategy, make_dataset):
    """Distributes a dataset of global batches so replica r of step t gets slice r of
    global batch t: exactly the split one device would see, on any strategy.

    ``make_dataset()`` returns a ``tf.data.Dataset`` whose elements are global batches
    (nested tensors with the batch on axis 0). Each input pipeline (one per worker)
    builds the same stream and keeps only the slices of its own replicas.
    """
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return strategy.experimental_distribute_dataset(make_dataset())

    def dataset_fn(context):
        per_pipeline = context.num_replicas_in_sync // context.num_input_pipelines
        first = context.input_pipeline_id * per_pipeline

        def split(batch):
            def per_replica(tensor):
                global_batch = tf.shape(tensor)[0]
                tf.debugging.assert_equal(
                    global_batch % replicas,
                    0,
                    message=f"the global batch must be divisible by the {replicas} replicas",
                )
                local = tensor.shape[0] // replicas if tensor.shape[0] else global_batch // replicas
                shaped = tf.reshape(tensor, [replicas, local, *tensor.shape[1:]])
                return shaped[first : first + per_pipeline]

            return tf.data.Dataset.from_tensor_slices(tf.nest.map_structure(per_replica, batch))

        return make_dataset().flat_map(split)

    return strategy.distribute_datasets_from_function(dataset_fn)
