"""Multi-replica training equals one-device training on the same global batch.

Each check runs in a fresh subprocess: splitting the CPU into logical devices (the only
way to get several replicas without GPUs) must happen before TensorFlow initialises its
devices, which the pytest process has long done.
"""

import json
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tfmi.workdir import Workdir

# Runs in a subprocess with 2 logical CPUs. For each bound: one model under the default
# strategy and one under MirroredStrategy(cpu:0, cpu:1) with the same weights; the same
# global batches are fed through tfmi.distribute.distribute_global_batches; prints JSON.
# The weights are compared after SGD steps: Adam divides by sqrt(v), so a reduction-order
# difference of 1e-7 in a near-zero gradient (kernels differ between CPUs) becomes a
# visible difference in its update, whereas SGD's update is the gradient times lr.
EQUIVALENCE_SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import keras
    import ml_collections
    import numpy as np

    from tfmi import critics, distribute
    from tfmi.data import build_dataset
    from tfmi.models import Bound, InfoMaxModel

    DIM, BATCH = 4, 8
    DATA = ml_collections.ConfigDict(
        dict(name="gaussian_staircase", dim=DIM, mi_values=(2.0, 4.0), steps_per_stage=2, cubic=False)
    )

    def dataset():
        return build_dataset(DATA, BATCH, seed=3)

    def encoder(name):
        # An encoder per view, so gradients flow back through the cross-replica gather.
        return keras.Sequential(
            [keras.Input((DIM,)), keras.layers.Dense(6, activation="tanh")], name=name
        )

    # Each stateful bound's own settings: a small baseline MLP, a fast MINE average.
    OWN_SETTINGS = {
        "tuba": dict(baseline="mlp", baseline_hidden=(8,)),
        "interpolated": dict(baseline="mlp", baseline_hidden=(8,)),
        "mine": dict(momentum=0.5),
    }

    def build(strategy, bound):
        first = next(iter(dataset()))
        with strategy.scope():
            keras.utils.set_random_seed(1)
            model = InfoMaxModel(
                critics.get("separable", hidden_units=(16,), embed_dim=8, activation="relu"),
                Bound(bound, **OWN_SETTINGS.get(bound, {})),
                encoder_x=encoder("gx"),
                encoder_y=encoder("gy"),
            )
            optimizer = keras.optimizers.SGD(0.05, momentum=0.9)
            model.compile(optimizer=optimizer)
            model.build_from_batch(first)
            optimizer.build(model.trainable_variables)
        return model

    def run(strategy, model):
        replicas = strategy.num_replicas_in_sync
        iterator = iter(distribute.distribute_global_batches(strategy, dataset))

        @tf.function
        def loss_and_gradients(batch):
            def replica_fn(local_batch):
                with tf.GradientTape() as tape:
                    loss = model.forward(local_batch, training=True)["loss"]
                    scaled = loss / replicas  # what train_step differentiates
                return loss, tape.gradient(scaled, model.trainable_variables)

            loss, gradients = strategy.run(replica_fn, args=(batch,))
            summed = [strategy.reduce("SUM", g, axis=None) for g in gradients]
            return strategy.experimental_local_results(loss), summed

        @tf.function
        def train_step(batch):
            strategy.run(model.train_step, args=(batch,))

        losses, gradients = loss_and_gradients(next(iterator))
        before = model.get_weights()
        for _ in range(2):
            train_step(next(iterator))
        return {
            "losses": [float(l) for l in losses],
            "gradients": [g.numpy() for g in gradients],
            "before": before,
            "after": model.get_weights(),
            "names": [v.path for v in model.trainable_variables],
        }

    def max_abs(a, b):
        return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))

    single = tf.distribute.get_strategy()
    # One MirroredStrategy for all bounds: two instances on the same devices in one
    # process would reuse collective instance keys.
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    results = {"replicas": mirrored.num_replicas_in_sync}
    for bound in sys.argv[1:]:
        one = build(single, bound)
        two = build(mirrored, bound)
        two.set_weights(one.get_weights())
        a, b = run(single, one), run(mirrored, two)
        results[bound] = {
            "loss_one": a["losses"],
            "loss_two": b["losses"],
            "names_one": a["names"],
            "names_two": b["names"],
            "grad_diff": max_abs(a["gradients"], b["gradients"]),
            "grad_min_norm": min(float(np.linalg.norm(g)) for g in a["gradients"]),
            "grad_scale": max(float(np.max(np.abs(g))) for g in a["gradients"]),
            "weight_diff": max_abs(a["after"], b["after"]),
            "weights_moved": max_abs(a["after"], a["before"]),
            "start_diff": max_abs(a["before"], b["before"]),
        }

    # The trainer refuses a global batch that the replicas cannot split evenly.
    from trainers import train as trainer
    import os
    import tempfile

    from tfmi.config_utils import load_config

    config = load_config(os.environ["STAIRCASE_CONFIG"] + ":nwj,runlocal")
    config.strategy = "mirrored"
    config.cpu_devices = 2
    config.batch_size = 63
    workdir = tempfile.mkdtemp()
    try:
        trainer.train(config, workdir)
        results["indivisible"] = None
    except trainer.UserError as error:
        results["indivisible"] = str(error)
    results["indivisible_workdir"] = sorted(os.listdir(workdir))
    print("RESULT " + json.dumps(results))
    """
)

BOUNDS = ("infonce", "tuba", "mine")


@pytest.fixture(scope="module")
def equivalence(tmp_path_factory, helpers):
    script = tmp_path_factory.mktemp("equivalence") / "equivalence.py"
    script.write_text(EQUIVALENCE_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), *BOUNDS],
        cwd=helpers.REPO_ROOT,
        env=helpers.trainer_env(STAIRCASE_CONFIG=str(helpers.STAIRCASE)),
        capture_output=True,
        text=True,
        timeout=400,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-5000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.mark.parametrize("bound", BOUNDS)
def test_mirrored_two_replicas_match_one_device(equivalence, bound):
    """Loss, summed per-replica gradients of loss/R, and weights after two train_steps
    under MirroredStrategy on 2 CPUs equal those of one device on the same batch."""
    assert equivalence["replicas"] == 2
    r = equivalence[bound]
    assert r["start_diff"] == 0.0
    # Every replica computes the loss of the global batch (embeddings are gathered).
    assert len(r["loss_two"]) == 2
    for loss in r["loss_two"]:
        assert loss == pytest.approx(r["loss_one"][0], rel=1e-6, abs=1e-6)
    # Same variables, encoders (whose gradients pass through all_gather) included.
    def unnumbered(names):  # Keras numbers the layers of the second model: dense_6
        return [re.sub(r"_\d+(?=/|$)", "", name) for name in names]

    assert unnumbered(r["names_one"]) == unnumbered(r["names_two"])
    assert any(name.startswith("gx") for name in r["names_one"])
    assert r["grad_min_norm"] > 0.0, "a variable got no gradient: the test would be vacuous"
    # Tolerances relative to the size of the gradient and of the update, so that they hold
    # whatever order the kernels of this CPU sum in (float32: ~1e-7 relative per sum).
    assert r["grad_diff"] <= 1e-5 * max(r["grad_scale"], 1.0)
    assert r["weights_moved"] > 1e-3
    assert r["weight_diff"] <= 1e-4 * r["weights_moved"]


def test_batch_not_divisible_by_replicas_is_refused(equivalence):
    message = equivalence["indivisible"]
    assert message is not None, "batch_size=63 on 2 replicas was accepted"
    assert "batch_size=63" in message and "2 replicas" in message
    assert equivalence["indivisible_workdir"] == [], "the refused run wrote to its workdir"


# --- the trainer end to end on several replicas ---------------------------------------

# Steps 20 and 40 of every multi-replica run are compared with a one-device run; step 60
# with a one-device run resumed from the multi-worker checkpoint of step 40.
REFERENCE_STEPS = 60


@pytest.fixture(scope="module")
def one_device_run(tmp_path_factory, helpers):
    """metrics.jsonl of a one-device run of the short staircase config (in-process)."""
    from trainers import train as trainer

    workdir = tmp_path_factory.mktemp("one_device")
    config = helpers.load_staircase_config(
        "nwj,runlocal", **{**helpers.REPLICA_RUN, "total_steps": REFERENCE_STEPS}
    )
    config.export = False
    trainer.train(config, str(workdir))
    records = helpers.read_metrics(workdir)
    assert [r["step"] for r in records] == [20, 40, 60]
    return records


def test_trainer_mirrored_on_two_cpus_matches_one_device(tmp_path, helpers, one_device_run):
    workdir = tmp_path / "mirrored"
    result = helpers.run_trainer(
        f"{helpers.STAIRCASE}:nwj,runlocal",
        workdir,
        {**helpers.REPLICA_RUN, "strategy": "mirrored", "cpu_devices": 2},
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    assert "Traceback" not in result.stderr
    run = Workdir(workdir)
    config = json.loads(Path(run.config_path).read_text())
    assert config["strategy"] == "mirrored" and config["cpu_devices"] == 2
    records = helpers.read_metrics(workdir)
    assert [r["step"] for r in records] == [20, 40]
    helpers.assert_metrics_close(records, one_device_run, rtol=1e-4)
    assert (Path(run.export_dir) / "critic" / "saved_model.pb").exists()


def _worker_dirs(workdir):
    scratch = Path(Workdir(workdir).scratch("*")).name
    return [p for p in Path(workdir).rglob(scratch)]


def test_trainer_multiworker_two_local_workers(tmp_path, helpers, one_device_run):
    """Two MultiWorkerMirroredStrategy workers on 127.0.0.1 share one workdir: they
    finish, leave one checkpoint set and one export, match one device, and a one-device
    run resumes from their checkpoint."""
    from trainers import train as trainer

    workdir = tmp_path / "multiworker"
    cluster = helpers.local_cluster(2)
    processes, logs = [], []
    try:
        for index in range(2):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            logs.append(tmp_path / f"worker{index}.log")
            processes.append(
                helpers.start_trainer(
                    f"{helpers.STAIRCASE}:nwj,runlocal",
                    workdir,
                    {**helpers.REPLICA_RUN, "strategy": "multiworker"},
                    env=helpers.trainer_env(TF_CONFIG=tf_config),
                    log_path=logs[-1],
                )
            )
        deadline = time.time() + 400
        for process in processes:
            process.wait(timeout=max(deadline - time.time(), 1))
    except subprocess.TimeoutExpired:
        pytest.fail("the multi-worker run did not finish in time:\n" + logs[0].read_text()[-3000:])
    finally:
        for process in processes:
            helpers.stop(process)
    for process, log in zip(processes, logs):
        assert process.returncode == 0, log.read_text()[-5000:]

    assert helpers.latest_checkpoint_step(workdir) == 40
    assert helpers.checkpoint_steps(workdir) == [20, 40]
    assert _worker_dirs(workdir) == [], "a non-chief worker left its scratch directory"
    run = Workdir(workdir)
    assert (Path(run.export_dir) / "critic" / "saved_model.pb").exists()
    assert Path(run.config_path).exists()
    records = helpers.read_metrics(workdir)
    assert [r["step"] for r in records] == [20, 40], "only the chief writes metrics.jsonl"
    helpers.assert_metrics_close(records, one_device_run, rtol=1e-4)

    # The checkpoint of the two workers restores on one device and training continues
    # exactly as an uninterrupted one-device run.
    config = helpers.load_staircase_config(
        "nwj,runlocal", **{**helpers.REPLICA_RUN, "total_steps": REFERENCE_STEPS}
    )
    config.export = False
    trainer.train(config, str(workdir))
    records = helpers.read_metrics(workdir)
    assert [r["step"] for r in records] == [20, 40, 60]
    helpers.assert_metrics_close(records, one_device_run, rtol=1e-4, steps={60})
    assert helpers.latest_checkpoint_step(workdir) == 60
