"""tf.distribute strategies by name, and the cross-replica gather for contrastive losses.

One config field picks where a run executes:

    "default"      one device (CPU or the first GPU)
    "mirrored"     every local GPU (or several logical CPUs), MirroredStrategy
    "multiworker"  several hosts, MultiWorkerMirroredStrategy (TF_CONFIG names them)
    "tpu"          a TPU, TPUStrategy (``tpu`` is the TPU name or address)

"multiworker" reads the TF_CONFIG environment variable, the same cluster on every
worker plus that worker's own task (``tf_config`` checks it and names TF_CONFIG in
every complaint):

    TF_CONFIG='{"cluster": {"worker": ["host1:2222", "host2:2222"]},
                "task": {"type": "worker", "index": 0}}'

Its start-up waits until every task of the cluster has greeted this one
(``tfmi.worker_startup``: a handshake that tells a tfmi worker of the same cluster
from another program on its port), at most ``start_timeout`` seconds; then it fails
naming the tasks that did not. SIGTERM and SIGINT stop the wait at once
(``StartupInterrupted``).

Without a GPU, ``configure_cpu_devices(n)`` splits the CPU into n logical devices
(before TensorFlow initialises its devices) so "mirrored" runs n replicas on one
host: the way to test multi-replica code on a laptop or in CI.
"""

import json
import os
import signal
import threading

import tensorflow as tf

from tfmi import reachability, worker_startup
from tfmi.worker_startup import StartupInterrupted

__all__ = [
    "STRATEGIES",
    "START_TIMEOUT",
    "StartupInterrupted",
    "make_strategy",
    "tf_config",
    "configure_cpu_devices",
    "distribute_global_batches",
    "gather_from_replicas",
    "num_replicas",
    "is_chief",
    "task_id",
]

STRATEGIES = ("default", "mirrored", "multiworker", "tpu")
START_TIMEOUT = 300.0  # seconds a multi-worker start-up waits for the other workers
MULTIWORKER_JOBS = ("chief", "worker")
TF_CONFIG_EXAMPLE = (
    '{"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker", "index": 0}}'
)


def make_strategy(name="default", tpu="", start_timeout=START_TIMEOUT):
    """Returns the ``tf.distribute.Strategy`` called ``name`` (one of ``STRATEGIES``).

    "multiworker": TF_CONFIG is checked first (``tf_config``); the start-up waits at
    most ``start_timeout`` seconds for the other workers (ValueError naming those that
    do not answer) and raises ``StartupInterrupted`` on SIGTERM / SIGINT.
    """
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
        return _start_multiworker(tf_config(), start_timeout)
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


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "true or false", type(None): "null"}


def tf_config(text=None):
    """The TF_CONFIG environment variable (or ``text``), parsed and checked:
    {"cluster": {job: ["host:port", ...]}, "task": {"type": job, "index": i}}.

    The jobs are "worker" and, optionally, "chief" (one address); every address is
    host:port and appears once; the task names a job of the cluster and an index
    within its list. Anything else raises one ValueError that names TF_CONFIG, the
    problem and an example.
    """
    text = os.environ.get("TF_CONFIG", "") if text is None else text

    def problem(message):
        return ValueError(
            f"TF_CONFIG {message}. Set TF_CONFIG on every worker to the same cluster and that "
            f"worker's own task, e.g. TF_CONFIG='{TF_CONFIG_EXAMPLE}'."
        )

    if not text.strip():
        raise problem("is not set; strategy 'multiworker' reads the workers and this worker's task from it")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise problem(f"is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})") from None
    if not isinstance(parsed, dict):
        raise problem(
            f'must be a JSON object with "cluster" and "task", got {_JSON_TYPES.get(type(parsed), "a value")}'
        )
    cluster, task = parsed.get("cluster"), parsed.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise problem('has no "cluster" object mapping "worker" (and optionally "chief") to lists of "host:port"')
    unknown = sorted(set(cluster) - set(MULTIWORKER_JOBS))
    if unknown:
        raise problem(f"names the jobs {unknown} in its cluster; multiworker takes only {list(MULTIWORKER_JOBS)}")
    seen = set()
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses:
            raise problem(
                f'cluster "{job}" must be a non-empty array of "host:port" strings, got {json.dumps(addresses)}'
            )
        if job == "chief" and len(addresses) > 1:
            raise problem(f'cluster "chief" must list one address, got {len(addresses)}')
        for address in addresses:
            try:
                reachability.split_address(address if isinstance(address, str) else repr(address))
            except ValueError as error:
                raise problem(f'cluster "{job}": {error}') from None
            if address in seen:
                raise problem(f'lists the address {address} twice; every task needs its own host:port')
            seen.add(address)
    if not isinstance(task, dict):
        raise problem('has no "task" object naming this worker, e.g. {"type": "worker", "index": 0}')
    task_type, index = task.get("type"), task.get("index")
    if task_type not in cluster:
        raise problem(f'task type {json.dumps(task_type)} is not a job of the cluster {sorted(cluster)}')
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[task_type]):
        raise problem(
            f'task index {json.dumps(index)} is not an index into cluster "{task_type}" '
            f"(0 to {len(cluster[task_type]) - 1})"
        )
    return {"cluster": cluster, "task": {"type": task_type, "index": index}}


def _start_multiworker(config, timeout):
    """MultiWorkerMirroredStrategy(), once every other task of ``config`` has greeted
    this one (``worker_startup.wait_for_workers``: TensorFlow's own wait has no bound
    and ignores signals). TensorFlow's start-up that follows is bounded by ``timeout``
    too: a worker that greeted and died before it would leave it waiting forever."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"start_timeout must be a positive number of seconds, got {timeout!r}.")
    worker_startup.wait_for_workers(config, timeout)
    in_main_thread = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM)
    message = (
        "error: multiworker start-up: every worker greeted this one, but TensorFlow's own "
        "start-up {status} (a worker stopped meanwhile?); this worker was ended. Start the "
        "same command again on every worker."
    )
    with worker_startup.kill_after(timeout, message):
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    if in_main_thread and sigterm is not None:
        signal.signal(signal.SIGTERM, sigterm)  # undo TensorFlow's: SIGTERM stops the run again
    return strategy


def task_id(strategy):
    """This worker's index within a multi-worker cluster (0 elsewhere)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is not None and resolver.task_id is not None:
        return resolver.task_id
    return tf_config()["task"]["index"] if os.environ.get("TF_CONFIG") else 0


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
